"""One self-contained ``report.html`` from a run folder (``docs/results-schema.md``).

The report is built from the run folder alone: ``results.json`` plus the files it names. Figures are
matplotlib PNGs embedded as data URIs, CSS is inline and the only script is a tiny inline one that
records whether every image decoded and whether any error occurred, so the file works offline and makes
no network request. Every piece of text from the run folder is HTML-escaped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..runs import RunFolder, read_cv_results  # the ranked table `hwr-eval grid` prints
from . import _plots as plots
from ._html import _dl, _int, _num, _pct, _seconds, _text, _when, esc, figure_html, html_table
from ._wording import (
    device_text,
    epoch_limit_note,
    is_empty_setting,
    learned_parameters_text,
    source_images,
    stores_training_set,
)

#: A class is "weak" when its F1 is this far (or further) below the model's macro F1.
WEAK_F1_MARGIN = 0.10
#: Most confident misclassifications shown per model.
MAX_MISCLASSIFIED = 40
#: Confused pairs shown with example images per model.
MAX_PAIRS = 6


def _banners(results: dict) -> str:
    out = []
    if results["data"].get("synthetic"):
        out.append('<div class="banner synthetic" role="alert"><strong>Synthetic data.</strong> No real dataset '
                   "was found, so these models were trained and tested on the generated demo set. The numbers "
                   "say nothing about handwriting; point <code>HWR_DATA</code> at real data or run "
                   "<code>hwr-eval data fetch</code>.</div>")
    mixed = results["data"].get("mixed_case_letters")
    if isinstance(mixed, dict):
        source = esc(str(mixed.get("source")))
        if mixed.get("explicit"):
            out.append(f'<div class="banner mixed-case" role="note"><strong>Case-merged letters.</strong> As asked, '
                       f"the letters come from {source}, whose classes each hold both cases ('A' is A or a): "
                       "not comparable with uppercase-only results.</div>")
        else:
            out.append(f'<div class="banner mixed-case" role="alert"><strong>Mixed-case letters.</strong> No '
                       f"uppercase-only source was found, so the letters come from {source}, whose 'A'-'Z' "
                       "classes hold lowercase glyphs too: a different, harder task than uppercase letters. "
                       "Run <code>hwr-eval data fetch emnist</code> (EMNIST byclass) or <code>hwr-eval data "
                       "fetch kaggle</code> for uppercase-only letters.</div>")
    if results.get("status") != "complete":
        out.append(f'<div class="banner incomplete" role="alert"><strong>Incomplete run '
                   f"(status: {esc(str(results.get('status')))}).</strong> The run was interrupted; only the models "
                   "that finished are reported.</div>")
    return "".join(out)


def _summary_section(results: dict) -> str:
    settings = results.get("settings") or {}
    env = results.get("environment") or {}
    items = [
        ("Created", esc(_when(results.get("created")))),
        ("Kind", _text(results.get("kind"))),
        ("Status", _text(results.get("status"))),
        ("Command", f"<code>{_text(results.get('command'))}</code>"),
        ("Seed", _text(settings.get("seed"))),
        ("Device", esc(device_text(settings, env))),
        ("Python", _text(env.get("python"))),
        ("Platform", _text(env.get("platform"))),
    ]
    shown = {"seed", "device"}
    # A setting that says nothing ("overrides {}", "context None") is left out rather than shown raw.
    items += [(key.replace("_", " ").capitalize(), _text(value)) for key, value in settings.items()
              if key not in shown and not is_empty_setting(value)]
    packages = env.get("packages") or {}
    package_table = html_table(["package", "version"], [[esc(str(k)), _text(v)] for k, v in packages.items()])
    sources = source_images(results["data"].get("sources") or [])
    source_rows = [[_text(s["name"]),
                    "<br>".join(f"<code>{_text(f.get('path'))}</code>" for f in s["files"]),
                    "<br>".join(f'<code class="hash">{_text(f.get("sha256"))}</code>' for f in s["files"]),
                    _int(s["n_samples"])]
                   for s in sources]
    source_table = (html_table(["source", "files", "SHA-256", "images"], source_rows,
                               numeric=[False, False, False, True],
                               caption="Images each source gives (counted once per source, whatever its files)")
                    if source_rows else "<p>No data sources recorded.</p>")
    return (f'<section id="summary"><h2>Run summary</h2><div class="cols">{_dl(items)}'
            f"<div><h3>Package versions</h3>{package_table}</div></div>"
            f"<h3>Data sources</h3>{source_table}</section>")


def _source_choice_html(data: dict) -> str:
    """Which source gave each class group, why, and its images per class (``data.source_choice``)."""
    choices = data.get("source_choice")
    if not isinstance(choices, dict) or not choices:
        return ""
    rows = []
    for group, c in choices.items():
        if not isinstance(c, dict):
            continue
        used = c.get("per_class") or {}
        have = c.get("available_per_class") or {}
        rows.append([esc(str(group)), _text(c.get("source")), _text(c.get("why")),
                     f"{_int(have.get('min'))}–{_int(have.get('max'))}", f"{_int(used.get('min'))}–{_int(used.get('max'))}"])
    return html_table(["class group", "source", "why", "available per class", "used per class"], rows,
                      numeric=[False, False, False, True, True], caption="Source per class group")


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
    return (f'<section id="data"><h2>Data</h2>{chart}{_source_choice_html(run.results["data"])}'
            f'<div class="cols">{summary}'
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
                      "n_parameters": entry.get("n_parameters"),
                      "learned": learned_parameters_text(entry.get("params") or {}, entry.get("n_parameters"))}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    return frame.sort_values("accuracy", ascending=False, kind="stable")


def _in_table_order(models: list, matrix, order: list) -> tuple[list, np.ndarray]:
    """A pairwise matrix over ``models`` reordered to ``order`` (the comparison table's model order)."""
    where = {str(m): k for k, m in enumerate(models)}
    keep = [m for m in map(str, order) if m in where] + [str(m) for m in models if str(m) not in set(map(str, order))]
    idx = [where[m] for m in keep]
    return keep, np.asarray(matrix, dtype=float)[np.ix_(idx, idx)]


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
                     _seconds(r.fit_time_s), _seconds(r.predict_time_s), esc(r.learned)])
        css.append("best" if r.accuracy == best else "")
    table = html_table(["model", "accuracy", "95% interval", "balanced accuracy", "macro F1", "fit time",
                        "predict time", "learned parameters"], rows, row_classes=css,
                       numeric=[False] + [True] * 7, caption=f"Test set: {len(run.y_test):,} images, best model first")
    chart = figure_html(plots.plot_model_comparison(frame),
                        alt="Bar chart of test accuracy per model with 95% interval error bars, and macro F1.")
    mcnemar = run.results.get("mcnemar")
    if mcnemar and len(mcnemar.get("models", [])) > 1:
        # Stars and colours use the Holm-adjusted p-values (all pairs are tested at once); runs written
        # before they were recorded show the raw ones, and say so.
        holm = mcnemar.get("p_value_holm")
        order, p_values = _in_table_order(mcnemar["models"], holm if holm is not None else mcnemar["p_value"],
                                          list(frame.index))
        heat = figure_html(
            plots.plot_mcnemar(order, p_values,
                               title="McNemar p-values, Holm-adjusted" if holm is not None else "McNemar p-values"),
            alt="Heatmap of pairwise McNemar test p-values between models.",
            caption="McNemar's test on the paired test-set predictions: a small p-value (marked * below 0.05) "
                    "means the two models' errors differ by more than chance. "
                    + ("The p-values are Holm-adjusted over all pairs (raw ones in results.json)." if holm is not None
                       else "Raw p-values, not adjusted for the number of pairs (run predates the adjustment).")
                    + _same_right_sentence(mcnemar))
    else:
        heat = "<p>McNemar's test needs at least two models.</p>"
    return (f'<section id="comparison"><h2>Comparison</h2>{table}<div class="cols">{chart}{heat}</div>'
            f"</section>")


def _same_right_sentence(mcnemar: dict) -> str:
    """Pairs that got the very same test images right: no test on this split can tell them apart."""
    from ..evaluation import same_right_pairs

    pairs = [f"{a} and {b}" for a, b in same_right_pairs(mcnemar)]
    if not pairs:
        return ""
    return (f" {'; '.join(pairs)} got the very same test images right: this test set cannot tell "
            f"{'them' if len(pairs) == 1 else 'each pair'} apart.")


def _grid_section(run: RunFolder) -> str:
    grid = run.results.get("grid")
    if not isinstance(grid, dict):
        return ""
    items = [("Model", _text(grid.get("model"))), ("Cross-validation folds", _text(grid.get("cv"))),
             ("Best score", _num(grid.get("best_score"), ".4f")), ("Best parameters", _text(grid.get("best_params"))),
             ("Parameter grid", _text(grid.get("param_grid")))]
    table = ""
    if (run.path / "cv_results.csv").is_file():
        ranked = read_cv_results(run.path)
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
    learned = learned_parameters_text(entry.get("params") or {}, entry.get("n_parameters"))
    learned = (f"no learned parameters {learned[2:]}" if stores_training_set(entry.get("params") or {})
               else f"{learned} learned parameters")
    parts = [f'<section id="{anchor}" class="model"><h2>Model: {esc(name)}</h2>',
             f'<p class="headline">accuracy <strong>{_pct(m["accuracy"], 2)}</strong> '
             f"(95% interval {_pct(ci[0])} – {_pct(ci[1])}) · balanced accuracy {_pct(m['balanced_accuracy'], 2)} · "
             f"macro F1 {_num(m['f1_macro'])} · {esc(learned)} · "
             f"fit {_seconds(entry.get('fit_time_s'))}, predict {_seconds(entry.get('predict_time_s'))}</p>"]
    params = entry.get("params") or {}
    if params:
        rows = [[esc(str(k)), f"<code>{_text(v)}</code>"] for k, v in params.items()]
        parts.append(f"<details><summary>Parameters</summary>{html_table(['parameter', 'value'], rows)}</details>")

    history = entry.get("history")
    parts.append("<h3>Training curves</h3>")
    if history:
        limit = params.get("max_epochs", (run.results.get("settings") or {}).get("max_epochs"))
        warning = epoch_limit_note(history, limit if isinstance(limit, int) else None)
        if warning:
            parts.append(f'<p class="note wide epoch-limit"><strong>{esc(warning)}</strong></p>')
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

