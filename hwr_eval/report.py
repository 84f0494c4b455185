"""One self-contained ``report.html`` from a run folder (``docs/results-schema.md``).

The report is built from the run folder alone: ``results.json`` plus the files it names. Figures are
matplotlib PNGs embedded as data URIs, CSS is inline and the only script is a tiny inline one that
records whether every image decoded and whether any error occurred, so the file works offline and makes
no network request. Every piece of text from the run folder is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import plots
from .errors import HwrError
from .io import atomic_write_text

#: A class is "weak" when its F1 is this far (or further) below the model's macro F1.
WEAK_F1_MARGIN = 0.10
#: Most confident misclassifications shown per model.
MAX_MISCLASSIFIED = 40
#: Confused pairs shown with example images per model.
MAX_PAIRS = 6
#: PNG resolution; images are displayed at 96 CSS px per inch, so 144 dpi stays sharp on HiDPI screens.
DPI = 144

REQUIRED_KEYS = ("kind", "status", "created", "command", "settings", "environment", "data", "models")
METRIC_KEYS = ("accuracy", "accuracy_ci95", "balanced_accuracy", "f1_macro")
PER_CLASS_COLUMNS = ("class", "precision", "recall", "f1", "support")


# --------------------------------------------------------------------------------------------------
# Reading and validating the run folder
# --------------------------------------------------------------------------------------------------


@dataclass
class RunFolder:
    """A validated run folder: ``results.json`` and the arrays and tables the report needs.

    ``probabilities`` has no entry for models without ``predict_proba`` (``files.probabilities: null``).
    """

    path: Path
    results: dict
    classes: list[str]
    X_test: np.ndarray
    y_test: np.ndarray
    predictions: pd.DataFrame
    probabilities: dict[str, np.ndarray] = field(default_factory=dict)
    per_class: dict[str, pd.DataFrame] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)


def _fail(where: Path | str, problem: str) -> HwrError:
    # One line, whatever the underlying exception printed.
    return HwrError(f"{where}: {' '.join(str(problem).split())}")


def _key(mapping: dict, key: str, kind: type | tuple, where: Path, context: str):
    if not isinstance(mapping, dict) or key not in mapping:
        raise _fail(where, f"missing key {context}{key!r} (see docs/results-schema.md)")
    value = mapping[key]
    if not isinstance(value, kind):
        raise _fail(where, f"key {context}{key!r} has the wrong type ({type(value).__name__})")
    return value


def _run_file(run_dir: Path, relative: str, what: str) -> Path:
    path = run_dir / relative
    if not path.is_file():
        raise _fail(path, f"missing {what} (named in results.json)")
    return path


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise _fail(path, f"not a readable .npy array ({exc})") from None


def load_run(run_dir: str | Path) -> RunFolder:
    """Read and check a run folder; raise :class:`HwrError` naming the first file or key at fault.

    Parameters
    ----------
    run_dir : str or Path
        Folder written by ``hwr-eval compare`` or ``hwr-eval grid``.

    Returns
    -------
    RunFolder
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise _fail(run_dir, "not a run folder (no such directory)")
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise _fail(results_path, "missing; is this a folder written by 'hwr-eval compare' or 'grid'?")
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(results_path, f"not valid JSON ({exc})") from None
    if not isinstance(results, dict):
        raise _fail(results_path, "expected a JSON object at the top level")
    # compare.py owns the schema; imported here so that importing this module stays free of torch.
    from .compare import SCHEMA_VERSION

    version = results.get("schema_version")
    if version != SCHEMA_VERSION:
        raise _fail(results_path, f"unsupported schema_version {version!r}; this hwr-eval reads version {SCHEMA_VERSION}")
    for key in REQUIRED_KEYS:
        _key(results, key, object, results_path, "")
    data = _key(results, "data", dict, results_path, "")
    classes = _key(data, "classes", list, results_path, "data.")
    if not classes or not all(isinstance(c, str) for c in classes):
        raise _fail(results_path, "data.classes must be a non-empty list of class names")
    _key(data, "counts", dict, results_path, "data.")
    models = _key(results, "models", dict, results_path, "")
    n_classes = len(classes)

    test_path = run_dir / "test_set.npz"
    if not test_path.is_file():
        raise _fail(test_path, "missing test set")
    try:
        with np.load(test_path, allow_pickle=False) as npz:
            X_test, y_test = npz["X"], npz["y"]
    except KeyError as exc:
        raise _fail(test_path, f"missing array {exc}") from None
    except (OSError, ValueError, EOFError) as exc:
        raise _fail(test_path, f"not a readable .npz file ({exc})") from None
    if X_test.ndim == 3:
        X_test = X_test.reshape(len(X_test), -1)
    if X_test.ndim != 2 or X_test.shape[1] != 784 or y_test.shape != (len(X_test),):
        raise _fail(test_path, f"expected X (n, 784) and y (n,), got X {X_test.shape} and y {y_test.shape}")
    y_test = y_test.astype(str)
    n_test = len(y_test)

    pred_path = run_dir / "predictions.csv"
    if not pred_path.is_file():
        raise _fail(pred_path, "missing predictions")
    try:
        # Labels are characters: keep them as strings and never turn e.g. "NA" into a missing value.
        predictions = pd.read_csv(pred_path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise _fail(pred_path, f"not a readable CSV file ({exc})") from None
    if len(predictions) != n_test:
        raise _fail(pred_path, f"has {len(predictions)} rows but the test set has {n_test} images")

    run = RunFolder(run_dir, results, list(classes), X_test, y_test, predictions)
    for name, entry in models.items():
        context = f"models.{name}."
        _key(entry, "confusion_matrix", list, results_path, context)
        metrics = _key(entry, "metrics", dict, results_path, context)
        for key in METRIC_KEYS:
            _key(metrics, key, (int, float, list), results_path, f"{context}metrics.")
        files = _key(entry, "files", dict, results_path, context)
        if name not in predictions.columns:
            raise _fail(pred_path, f"no column for model {name!r}")
        cm = np.asarray(entry["confusion_matrix"])
        if cm.shape != (n_classes, n_classes):
            raise _fail(results_path, f"{context}confusion_matrix has shape {cm.shape}, expected ({n_classes}, {n_classes})")

        # null for models without predict_proba (e.g. LinearSVC): the report then shows no confidences.
        proba_rel = _key(files, "probabilities", (str, type(None)), results_path, f"{context}files.")
        if proba_rel is not None:
            proba_path = _run_file(run_dir, proba_rel, "probabilities")
            proba = _load_npy(proba_path)
            if proba.shape != (n_test, n_classes):
                raise _fail(proba_path, f"shape {proba.shape}, expected ({n_test}, {n_classes})")
            run.probabilities[name] = proba

        table_path = _run_file(run_dir, _key(files, "per_class", str, results_path, f"{context}files."), "per-class table")
        try:
            table = pd.read_csv(table_path, dtype={"class": str}, keep_default_na=False)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise _fail(table_path, f"not a readable CSV file ({exc})") from None
        missing = [c for c in PER_CLASS_COLUMNS if c not in table.columns]
        if missing:
            raise _fail(table_path, f"missing columns {', '.join(missing)}")
        run.per_class[name] = table

        # Weight maps: named in results.json, or at the conventional place.
        weights_rel = files.get("weights") or (f"weights/{name}.npy" if (run_dir / "weights" / f"{name}.npy").is_file() else None)
        if weights_rel:
            weights_path = _run_file(run_dir, weights_rel, "weight maps")
            weights = _load_npy(weights_path)
            if weights.ndim != 3 or weights.shape[1:] != (28, 28):
                raise _fail(weights_path, f"shape {weights.shape}, expected (n_classes, 28, 28)")
            run.weights[name] = weights
    return run


# --------------------------------------------------------------------------------------------------
# HTML pieces
# --------------------------------------------------------------------------------------------------

esc = html.escape


def _png_size(png: bytes) -> tuple[int, int]:
    # The IHDR chunk always comes first: width and height are big-endian at bytes 16-24.
    return struct.unpack(">II", png[16:24])


def figure_html(fig: Figure, alt: str, caption: str | None = None) -> str:
    """Render ``fig`` to an embedded PNG ``<figure>`` with alt text and an optional caption."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    png = buffer.getvalue()
    width, height = _png_size(png)
    scale = 96 / DPI
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    shown = round(width * scale)
    # The caption wraps at the image's width instead of widening the figure beside other figures.
    cap = f'<figcaption style="max-width:{shown}px">{esc(caption)}</figcaption>' if caption else ""
    return (f'<figure><img src="{uri}" alt="{esc(alt)}" width="{shown}" '
            f'height="{round(height * scale)}">{cap}</figure>')


def html_table(header: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Sequence[str] | None = None,
               numeric: Sequence[bool] | None = None, caption: str | None = None) -> str:
    """A plain table; ``rows`` hold already-escaped cell HTML, ``header`` plain text."""
    numeric = list(numeric) if numeric else [False] * len(header)
    head = "".join(f'<th{" class=num" if num else ""}>{esc(h)}</th>' for h, num in zip(header, numeric))
    body = []
    for k, row in enumerate(rows):
        css = f' class="{esc(row_classes[k])}"' if row_classes and row_classes[k] else ""
        cells = "".join(f'<td{" class=num" if num else ""}>{cell}</td>' for cell, num in zip(row, numeric))
        body.append(f"<tr{css}>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _pct(value, digits: int = 1) -> str:
    try:
        return f"{100 * float(value):.{digits}f}%"
    except (TypeError, ValueError):
        return "—"


def _num(value, fmt: str = ".3f") -> str:
    try:
        return format(float(value), fmt)
    except (TypeError, ValueError):
        return "—"


def _seconds(value) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    if value >= 120:
        return f"{value / 60:.1f} min"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _int(value) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—"


def _text(value) -> str:
    """Escape any JSON value for display: strings as they are, the rest as compact JSON."""
    if value is None:
        return "—"
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return esc(", ".join(map(str, value)))
    return esc(value if isinstance(value, str) else json.dumps(value, sort_keys=True))


def _when(created) -> str:
    """ISO timestamp as "2026-11-25 10:00 UTC+00:00"; anything unparsable as it is."""
    from datetime import datetime

    try:
        stamp = datetime.fromisoformat(str(created))
    except ValueError:
        return str(created)
    zone = f" {stamp.tzname()}" if stamp.tzinfo else ""
    return stamp.strftime("%Y-%m-%d %H:%M") + zone


def _anchor(name: str, taken: set[str]) -> str:
    base = "model-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "x")
    anchor, k = base, 2
    while anchor in taken:
        anchor, k = f"{base}-{k}", k + 1
    taken.add(anchor)
    return anchor


def _dl(items: Iterable[tuple[str, str]]) -> str:
    """Definition list from (plain label, escaped value html)."""
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


# --------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------


def _banners(results: dict) -> str:
    out = []
    if results["data"].get("synthetic"):
        out.append('<div class="banner synthetic" role="alert"><strong>Synthetic data.</strong> No real dataset '
                   "was found, so these models were trained and tested on the generated demo set. The numbers "
                   "say nothing about handwriting; point <code>HWR_DATA</code> at real data or run "
                   "<code>hwr-eval data fetch</code>.</div>")
    if results.get("status") != "complete":
        out.append(f'<div class="banner incomplete" role="alert"><strong>Incomplete run '
                   f"(status: {esc(str(results.get('status')))}).</strong> The run was interrupted; only the models "
                   "that finished are reported.</div>")
    return "".join(out)


def _summary_section(results: dict) -> str:
    settings = results.get("settings") or {}
    env = results.get("environment") or {}
    device = settings.get("device")
    device_name = env.get("device_name")
    device_text = _text(device) + (f" ({_text(device_name)})" if device_name and device_name != device else "")
    items = [
        ("Created", esc(_when(results.get("created")))),
        ("Kind", _text(results.get("kind"))),
        ("Status", _text(results.get("status"))),
        ("Command", f"<code>{_text(results.get('command'))}</code>"),
        ("Seed", _text(settings.get("seed"))),
        ("Device", device_text),
        ("Python", _text(env.get("python"))),
        ("Platform", _text(env.get("platform"))),
    ]
    shown = {"seed", "device"}
    items += [(key.replace("_", " ").capitalize(), _text(value)) for key, value in settings.items() if key not in shown]
    packages = env.get("packages") or {}
    package_table = html_table(["package", "version"], [[esc(str(k)), _text(v)] for k, v in packages.items()])
    sources = results["data"].get("sources") or []
    source_rows = [[_text(s.get("name")), f"<code>{_text(s.get('path'))}</code>",
                    f'<code class="hash">{_text(s.get("sha256"))}</code>', _int(s.get("n_samples"))]
                   for s in sources if isinstance(s, dict)]
    source_table = (html_table(["source", "path", "SHA-256", "images"], source_rows, numeric=[False, False, False, True])
                    if source_rows else "<p>No data sources recorded.</p>")
    return (f'<section id="summary"><h2>Run summary</h2><div class="cols">{_dl(items)}'
            f"<div><h3>Package versions</h3>{package_table}</div></div>"
            f"<h3>Data sources</h3>{source_table}</section>")


def _data_section(run: RunFolder) -> str:
    counts = pd.DataFrame(run.results["data"]["counts"]).reindex(run.classes).fillna(0).astype(int)
    summary_rows = [[esc(str(split)), _int(col.sum()), _int(col.min()), esc(str(col.idxmin())), _int(col.max()),
                     esc(str(col.idxmax()))] for split, col in counts.items()]
    summary = html_table(["split", "images", "fewest", "class", "most", "class"], summary_rows,
                         numeric=[False, True, True, False, True, False], caption="Images per split")
    full_rows = [[esc(str(c))] + [_int(v) for v in counts.loc[c]] + [_int(counts.loc[c].sum())] for c in counts.index]
    full = html_table(["class", *map(str, counts.columns), "total"], full_rows,
                      numeric=[False] + [True] * (len(counts.columns) + 1))
    chart = figure_html(plots.plot_class_counts(counts, title="Images per class and split"),
                        alt="Stacked bar chart of the number of images per class in each split.")
    # One tall grid of 36 rows would scroll forever: split the classes into side-by-side blocks.
    n_blocks = -(-len(run.classes) // 13)
    size = -(-len(run.classes) // n_blocks)
    blocks = [run.classes[k:k + size] for k in range(0, len(run.classes), size)]
    grids = "".join(
        figure_html(plots.plot_sample_grid(run.X_test, run.y_test, block, per_class=8, seed=k,
                                           title=f"Classes {block[0]}–{block[-1]}" if len(block) > 1 else f"Class {block[0]}"),
                    alt=f"Random test images of classes {block[0]} to {block[-1]}, one row per class.")
        for k, block in enumerate(blocks))
    return (f'<section id="data"><h2>Data</h2>{chart}<div class="cols">{summary}'
            f"<details><summary>Images per class (table)</summary>{full}</details></div>"
            f'<h3>Sample images</h3><p class="note wide">Random images from the test split stored in this run '
            f'folder, up to eight per class.</p><div class="samples">{grids}</div></section>')


def _comparison_frame(models: dict) -> pd.DataFrame:
    rows = {}
    for name, entry in models.items():
        m = entry["metrics"]
        ci = m.get("accuracy_ci95") or [np.nan, np.nan]
        rows[name] = {"accuracy": m["accuracy"], "ci_low": ci[0], "ci_high": ci[1],
                      "balanced_accuracy": m["balanced_accuracy"], "f1_macro": m["f1_macro"],
                      "fit_time_s": entry.get("fit_time_s"), "predict_time_s": entry.get("predict_time_s"),
                      "n_parameters": entry.get("n_parameters")}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    return frame.sort_values("accuracy", ascending=False, kind="stable")


def _comparison_section(run: RunFolder, anchors: dict[str, str]) -> str:
    models = run.results["models"]
    if not models:
        return '<section id="comparison"><h2>Comparison</h2><p>No model finished, so there is nothing to compare.</p></section>'
    frame = _comparison_frame(models)
    best = frame["accuracy"].max()
    rows, css = [], []
    for name, r in frame.iterrows():
        rows.append([f'<a href="#{anchors[name]}">{esc(str(name))}</a>', _pct(r.accuracy, 2),
                     f"{_pct(r.ci_low)} – {_pct(r.ci_high)}", _pct(r.balanced_accuracy, 2), _num(r.f1_macro),
                     _seconds(r.fit_time_s), _seconds(r.predict_time_s), _int(r.n_parameters)])
        css.append("best" if r.accuracy == best else "")
    table = html_table(["model", "accuracy", "95% interval", "balanced accuracy", "macro F1", "fit time",
                        "predict time", "parameters"], rows, row_classes=css,
                       numeric=[False] + [True] * 7, caption=f"Test set: {len(run.y_test):,} images, best model first")
    chart = figure_html(plots.plot_model_comparison(frame),
                        alt="Bar chart of test accuracy per model with 95% interval error bars, and macro F1.")
    mcnemar = run.results.get("mcnemar")
    if mcnemar and len(mcnemar.get("models", [])) > 1:
        heat = figure_html(
            plots.plot_mcnemar(mcnemar["models"], mcnemar["p_value"]),
            alt="Heatmap of pairwise McNemar test p-values between models.",
            caption="McNemar's test on the paired test-set predictions: a small p-value (marked * below 0.05) "
                    "means the two models' errors differ by more than chance.")
    else:
        heat = "<p>McNemar's test needs at least two models.</p>"
    return (f'<section id="comparison"><h2>Comparison</h2>{table}<div class="cols">{chart}{heat}</div>'
            f"</section>")


def _grid_section(run: RunFolder) -> str:
    grid = run.results.get("grid")
    if not isinstance(grid, dict):
        return ""
    items = [("Model", _text(grid.get("model"))), ("Cross-validation folds", _text(grid.get("cv"))),
             ("Best score", _num(grid.get("best_score"), ".4f")), ("Best parameters", _text(grid.get("best_params"))),
             ("Parameter grid", _text(grid.get("param_grid")))]
    table = ""
    cv_path = run.path / "cv_results.csv"
    if cv_path.is_file():
        from .compare import cv_results_table  # the same ranked table `hwr-eval grid` prints

        try:
            ranked = cv_results_table(run.path)
        except KeyError as exc:
            raise _fail(cv_path, f"missing column {exc}") from None
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise _fail(cv_path, f"not a readable CSV file ({exc})") from None
        ranked = ranked.sort_values("rank", kind="stable").head(15)
        table = ranked.to_html(index=False, escape=True, float_format=lambda v: f"{v:.4f}", border=0)
        table = f"<h3>Best candidates</h3>{table}"
    return f'<section id="grid"><h2>Grid search</h2>{_dl(items)}{table}</section>'


def _model_section(run: RunFolder, name: str, anchor: str) -> str:
    entry = run.results["models"][name]
    m = entry["metrics"]
    classes = run.classes
    y_true = run.y_test
    y_pred = run.predictions[name].to_numpy(dtype=str)
    proba = run.probabilities.get(name)  # None: the model gives no probabilities
    index = {c: i for i, c in enumerate(classes)}
    ci = m.get("accuracy_ci95") or [None, None]
    parts = [f'<section id="{anchor}" class="model"><h2>Model: {esc(name)}</h2>',
             f'<p class="headline">accuracy <strong>{_pct(m["accuracy"], 2)}</strong> '
             f"(95% interval {_pct(ci[0])} – {_pct(ci[1])}) · balanced accuracy {_pct(m['balanced_accuracy'], 2)} · "
             f"macro F1 {_num(m['f1_macro'])} · {_int(entry.get('n_parameters'))} parameters · "
             f"fit {_seconds(entry.get('fit_time_s'))}, predict {_seconds(entry.get('predict_time_s'))}</p>"]
    params = entry.get("params") or {}
    if params:
        rows = [[esc(str(k)), f"<code>{_text(v)}</code>"] for k, v in params.items()]
        parts.append(f"<details><summary>Parameters</summary>{html_table(['parameter', 'value'], rows)}</details>")

    history = entry.get("history")
    parts.append("<h3>Training curves</h3>")
    if history:
        parts.append(figure_html(plots.plot_training_curves(history, title=f"{name}: loss and accuracy per epoch"),
                                 alt=f"Line charts of training and validation loss and accuracy per epoch for {name}."))
    else:
        parts.append("<p>This model has no training epochs, so there are no curves.</p>")

    # Confusion matrix beside the per-class table: both answer "which classes fail?".
    cm_fig = figure_html(plots.plot_confusion_matrix(entry["confusion_matrix"], classes,
                                                     title=f"{name}: confusion matrix (% of true class)"),
                         alt=f"Row-normalised confusion matrix of {name} over {len(classes)} classes.")
    table = run.per_class[name]
    macro = float(m["f1_macro"])
    threshold = macro - WEAK_F1_MARGIN
    weak = table["f1"].astype(float) < threshold
    rows = [[esc(str(r["class"])), _num(r["precision"]), _num(r["recall"]), _num(r["f1"]), _int(r["support"])]
            for _, r in table.iterrows()]
    weak_names = ", ".join(map(str, table.loc[weak, "class"]))
    per_class = html_table(["class", "precision", "recall", "F1", "support"], rows,
                           row_classes=["weak" if w else "" for w in weak], numeric=[False, True, True, True, True])
    note = (f'<p class="note">Highlighted: weak classes, F1 below {threshold:.3f} (macro F1 {macro:.3f} − '
            f"{WEAK_F1_MARGIN:.2f}): {esc(weak_names) if weak_names else 'none'}.</p>")
    parts.append(f'<h3>Confusion matrix and per-class scores</h3><div class="cols cm-cols">{cm_fig}'
                 f'<div class="per-class">{note}{per_class}</div></div>')

    # Most confused pairs, with the test images behind them (most confident mistakes first when the
    # model gives probabilities, else in test-set order).
    wrong = np.flatnonzero(y_true != y_pred)
    confidence = None
    if proba is not None:
        confidence = proba[np.arange(len(y_pred)), [index.get(p, 0) for p in y_pred]]
        wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    order = "most confident mistakes first" if confidence is not None else "in test-set order"
    pairs = entry.get("top_confusions") or []
    parts.append("<h3>Most confused pairs</h3>")
    if pairs:
        cm = np.asarray(entry["confusion_matrix"], dtype=float)
        rows = []
        for p in pairs:
            t = index.get(str(p.get("true")))
            share = p.get("count", 0) / cm[t].sum() if t is not None and cm[t].sum() else None
            rows.append([esc(str(p.get("true"))), esc(str(p.get("predicted"))), _int(p.get("count")), _pct(share)])
        pair_table = html_table(["true", "predicted as", "images", "share of true class"], rows,
                                numeric=[False, False, True, True])
        examples = []
        for p in pairs[:MAX_PAIRS]:
            t, q = str(p.get("true")), str(p.get("predicted"))
            idx = wrong[(y_true[wrong] == t) & (y_pred[wrong] == q)][:8]
            if idx.size:
                examples.append((f"{t} → {q} ({p.get('count')})", run.X_test[idx]))
        figure = (figure_html(plots.plot_image_rows(examples, title=f"{name}: most confused pairs"),
                              alt=f"Example test images for the most confused class pairs of {name}.",
                              caption="Each row: true class → predicted class (number of test images), "
                                      f"{order}.")
                  if examples else "")
        parts.append(f'<div class="cols">{pair_table}{figure}</div>')
    else:
        parts.append("<p>No confusions: every test image was classified correctly.</p>")

    parts.append("<h3>Misclassified test images</h3>")
    if wrong.size:
        shown = wrong[:MAX_MISCLASSIFIED]
        if confidence is not None:
            captions = [f"{y_true[k]} → {y_pred[k]}\n{100 * confidence[k]:.0f}%" for k in shown]
            what, note = "true → predicted, confidence", (
                "confidence is the predicted probability of the predicted class.")
        else:
            captions = [f"{y_true[k]} → {y_pred[k]}" for k in shown]
            what, note = "true → predicted", "this model gives no probabilities, so no confidence is shown."
        parts.append(figure_html(
            plots.plot_image_gallery(run.X_test[shown], captions, n_cols=10,
                                     title=f"{name}: misclassified test images ({what})"),
            alt=f"Gallery of misclassified test images of {name} with true label, prediction"
                f"{' and confidence' if confidence is not None else ''}.",
            caption=f"{len(shown)} of {wrong.size} misclassified test images, {order}; {note}"))
    else:
        parts.append("<p>None.</p>")

    if name in run.weights:
        parts.append("<h3>Weight maps</h3>")
        parts.append(figure_html(
            plots.plot_weight_maps(run.weights[name], classes, title=f"{name}: weight map per class"),
            alt=f"Per-class weight images of {name}; red pixels raise the class score, blue lower it.",
            caption="What the linear model looks for: red pixels raise the class score, blue pixels lower it."))
    parts.append('<p class="top"><a href="#top">back to top</a></p></section>')
    return "".join(parts)


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------

CSS = """
:root { --fg:#1d2430; --muted:#5b6675; --line:#dde2e8; --accent:#2f5f9e; --bg:#ffffff; --soft:#f5f7fa; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; color:var(--fg); background:var(--bg); }
.wrap, main { max-width:1240px; margin:0 auto; padding-left:32px; padding-right:32px; }
header { background:#1f3552; color:#fff; padding:18px 0; }
header h1 { margin:0; font-size:24px; }
header p { margin:4px 0 0; color:#c9d6e6; font-size:14px; word-break:break-word; }
header code { color:#fff; }
nav { position:sticky; top:0; z-index:2; background:var(--soft); border-bottom:1px solid var(--line); padding:8px 0; font-size:14px; }
nav a { margin-right:14px; white-space:nowrap; }
main { padding-top:8px; padding-bottom:48px; }
section { border-bottom:1px solid var(--line); padding:8px 0 20px; }
h2 { font-size:21px; margin:22px 0 10px; color:#1f3552; }
h3 { font-size:16px; margin:20px 0 8px; }
a { color:var(--accent); }
code { font:13px/1.4 ui-monospace,"DejaVu Sans Mono",monospace; word-break:break-all; }
.banner { margin:16px 0 0; padding:12px 16px; border-radius:6px; border:1px solid; font-size:15px; }
.banner.synthetic { background:#fff4d6; border-color:#e0b54a; color:#5c4300; }
.banner.incomplete { background:#fde3e1; border-color:#d9534f; color:#6b1a17; }
.cols { display:flex; flex-wrap:wrap; gap:24px; align-items:flex-start; }
.cols > * { min-width:0; }
figure { margin:8px 0; max-width:100%; }
figure img { max-width:100%; height:auto; display:block; }
figcaption { color:var(--muted); font-size:13px; margin-top:4px; }
table { border-collapse:collapse; margin:8px 0; font-size:13.5px; }
caption { text-align:left; color:var(--muted); font-size:13px; padding-bottom:4px; }
th, td { padding:3px 10px; border-bottom:1px solid var(--line); text-align:left; }
th { background:var(--soft); font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
tr.best td { font-weight:600; background:#eef5ff; }
tr.weak td { background:#fde3e1; color:#6b1a17; font-weight:600; }
dl { display:grid; grid-template-columns:max-content minmax(0,1fr); gap:3px 16px; margin:8px 0; max-width:720px; }
dt { color:var(--muted); }
dd { margin:0; word-break:break-word; }
details { margin:8px 0; }
summary { cursor:pointer; color:var(--accent); }
.headline { font-size:15px; background:var(--soft); padding:8px 12px; border-radius:6px; }
.note { color:var(--muted); font-size:13px; margin:4px 0; max-width:300px; }
.per-class { max-height:820px; overflow-y:auto; }
.per-class table { margin-top:0; font-size:12.5px; }
.per-class th, .per-class td { padding:1px 8px; line-height:1.35; }
.note.wide { max-width:none; }
.samples { display:grid; grid-template-columns:repeat(auto-fit, minmax(300px, 1fr)); gap:16px; }
.hash { font-size:12px; }
.top { text-align:right; font-size:13px; margin:0; }
"""

# Records, for humans and for the headless-browser test, that every image decoded and nothing failed.
SCRIPT = """
(function () {
  var root = document.documentElement, errors = 0;
  window.addEventListener("error", function () { root.dataset.errors = String(++errors); }, true);
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var ok = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
    root.dataset.imagesLoaded = ok + "/" + images.length;
  });
})();
"""


def render_report(run: RunFolder) -> str:
    """The complete HTML document for a loaded run folder."""
    results = run.results
    names = list(results["models"])
    taken: set[str] = set()
    anchors = {name: _anchor(name, taken) for name in names}
    toc = ['<a href="#summary">Summary</a>', '<a href="#data">Data</a>', '<a href="#comparison">Comparison</a>']
    if isinstance(results.get("grid"), dict):
        toc.append('<a href="#grid">Grid search</a>')
    toc += [f'<a href="#{anchors[n]}">{esc(n)}</a>' for n in names]
    title = f"hwr-eval {results.get('kind', 'run')} report — {_when(results.get('created'))}"
    body = [
        _summary_section(results),
        _data_section(run),
        _comparison_section(run, anchors),
        _grid_section(run),
        *(_model_section(run, name, anchors[name]) for name in names),
    ]
    if not names:
        body.append('<section id="models"><h2>Models</h2><p>No model finished.</p></section>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style><script>{SCRIPT}</script></head>"
        f'<body><header id="top"><div class="wrap"><h1>{esc(title)}</h1>'
        f'<p><code>{_text(results.get("command"))}</code></p></div></header>'
        f'<nav aria-label="Contents"><div class="wrap">{"".join(toc)}</div></nav>'
        f'<main>{_banners(results)}{"".join(body)}</main>'
        "</body></html>\n"
    )


def build_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Build the self-contained HTML report of a run folder and write it atomically.

    Parameters
    ----------
    run_dir : str or Path
        Folder written by ``hwr-eval compare`` or ``grid`` (see ``docs/results-schema.md``).
    out : str or Path, optional
        Where to write the report; default ``RUN_DIR/report.html``.

    Returns
    -------
    Path
        The written report.

    Raises
    ------
    HwrError
        When the folder, ``results.json`` or a file it names is missing or malformed; nothing is written.
    """
    run = load_run(run_dir)
    document = render_report(run)
    out = Path(out) if out is not None else run.path / "report.html"
    atomic_write_text(out, document)
    return out
