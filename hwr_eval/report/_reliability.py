"""The report's "Abstention, calibration and context" section and its figures.

Reads the ``selective``, ``calibration`` and ``context`` records of ``results.json`` (schema 2) and the
test probabilities; a version 1 run folder gets the section with a note that these figures are absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..evaluation._context import LOOKALIKE_PAIRS
from ..evaluation._selective import confidence_scores, risk_coverage_curve
from ..runs import RunFolder
from . import _plots as plots
from ._html import _int, _num, _pct, esc, figure_html, html_table
from ._plots import legend_below
from ._wording import is_cascade

#: Least-sure test images shown per model.
MAX_REJECTED = 20


def plot_risk_coverage(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], target_risk: float | None = None,
                       points: Mapping[str, tuple[float, float]] | None = None,
                       title: str = "Risk-coverage curves (test split)") -> Figure:
    """All models' risk-coverage curves on one plot.

    Parameters
    ----------
    curves : mapping of model name to (coverage, risk) arrays
    target_risk : float, optional
        Drawn as a dashed horizontal line.
    points : mapping of model name to (coverage, risk), optional
        Each model's operating point on test with the threshold chosen on validation (a marker).
    """
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for k, (name, (coverage, risk)) in enumerate(curves.items()):
        color = f"C{k % 10}"
        ax.step(np.r_[0.0, coverage], np.r_[risk[:1], risk], where="pre", color=color, label=str(name))
        if points and name in points and points[name][1] is not None:
            ax.plot(*points[name], "o", color=color, markersize=6, markeredgecolor="black")
    if target_risk is not None:
        ax.axhline(target_risk, color="#555", linestyle="--", linewidth=1, label=f"target risk {target_risk:g}")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("coverage (share of test images answered)")
    ax.set_ylabel("risk (error rate among answered)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    legend_below(fig, ax)
    return fig


def _draw_reliability(ax, bins: Mapping, label: str) -> None:
    edges = np.asarray(bins["edges"], dtype=float)
    accuracy = np.array([np.nan if a is None else a for a in bins["accuracy"]], dtype=float)
    confidence = np.array([np.nan if c is None else c for c in bins["confidence"]], dtype=float)
    width = np.diff(edges)
    filled = ~np.isnan(accuracy)
    ax.bar(edges[:-1][filled], accuracy[filled], width[filled], align="edge", color="#3b6ea8",
           edgecolor="white", label="accuracy")
    # The gap to the diagonal is what ECE averages: shown as a hatched bar from accuracy to confidence.
    ax.bar(edges[:-1][filled], (confidence - accuracy)[filled], width[filled], bottom=accuracy[filled],
           align="edge", color="none", edgecolor="#d9534f", hatch="//", linewidth=0.5, label="gap")
    ax.plot([0, 1], [0, 1], color="#555", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(label, fontsize=9)


def plot_reliability_diagrams(diagrams: Mapping[str, Sequence[tuple[str, Mapping]]],
                              title: str = "Reliability diagrams (top label, test split)") -> Figure:
    """One row per model, one panel per set of bins (e.g. before and after temperature scaling).

    ``diagrams`` maps a model name to ``[(panel title, reliability bins), ...]``; bins are the
    ``reliability`` records of ``results.json`` (``edges``, ``accuracy``, ``confidence``).
    """
    n_rows = max(1, len(diagrams))
    n_cols = max([len(panels) for panels in diagrams.values()] or [1])
    fig = Figure(figsize=(2.7 * n_cols + 0.8, 2.5 * n_rows + 0.6), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (name, panels) in enumerate(diagrams.items()):
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(panels):
                ax.set_visible(False)
                continue
            label, bins = panels[c]
            _draw_reliability(ax, bins, f"{name}: {label}")
            ax.set_xlabel("confidence" if r == n_rows - 1 else "")
            ax.set_ylabel("accuracy" if c == 0 else "")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8)
    fig.suptitle(title)
    return fig


def _scores_used(run: RunFolder, name: str, selective: Mapping) -> np.ndarray | None:
    """The test confidences the threshold applies to: calibrated when the run calibrated them."""
    proba = run.probabilities.get(name)
    if selective.get("calibrated") and name in run.calibrated_probabilities:
        proba = run.calibrated_probabilities[name]
    if proba is None:
        return None
    return confidence_scores(proba, selective.get("score") or "max_proba")


def _bound_text(test: Mapping) -> str:
    if not test or test.get("risk") is None:
        return "— (nothing accepted)"
    return f"{_pct(test['risk'], 2)} (≤ {_pct(test.get('risk_upper'), 2)})"


def reliability_section(run: RunFolder) -> str:
    """HTML of the "Abstention, calibration and context" section."""
    models = run.results["models"]
    head = '<section id="reliability"><h2>Abstention, calibration and context</h2>'
    records = {n: e.get("selective") for n, e in models.items()}
    if not models:
        return head + "<p>No model finished.</p></section>"
    if all(r is None for r in records.values()):
        version = run.results.get("schema_version")
        return (head + f"<p>Absent: this run folder (schema version {esc(str(version))}) was written before "
                "hwr-eval measured abstention, calibration and context. Run <code>hwr-eval compare</code> "
                "again to get them.</p></section>")
    parts = [head]
    settings = run.results.get("settings") or {}
    targets = {r.get("target_risk") for r in records.values() if r}
    target = settings.get("target_risk") if settings.get("target_risk") is not None else next(iter(targets), None)
    parts.append(
        f'<p class="note wide">Each model answers only when its confidence reaches a threshold chosen on the '
        f"<strong>validation</strong> split so that at most {_pct(target, 1)} of its answers there are wrong "
        "(after temperature scaling, also fitted on validation); the threshold is then applied to the "
        "untouched test split. The test risk is reported as it comes, with a one-sided 95% "
        "Clopper-Pearson upper bound.</p>")

    # Risk-coverage curves and the table.
    curves, points, rows, notes = {}, {}, [], []
    for name, sel in records.items():
        if not sel:
            notes.append(f"{esc(name)}: absent from this run folder.")
            continue
        if not sel.get("available", True):
            notes.append(f"{esc(name)}: {esc(str(sel.get('note', 'not available')))}")
            continue
        scores = _scores_used(run, name, sel)
        test = sel.get("test") or {}
        if scores is not None:
            right = run.predictions[name].to_numpy(dtype=str) == run.y_test
            curve = risk_coverage_curve(right, scores)
            curves[name] = (curve["coverage"], curve["risk"])
            points[name] = (test.get("coverage"), test.get("risk"))
        acc = sel.get("scores", {}).get(sel.get("score"), {}).get("selective_accuracy", {})
        rows.append([esc(name), _num(sel.get("aurc"), ".4f"), _num(sel.get("eaurc"), ".4f"),
                     _pct(sel.get("coverage_at_target_risk")), _num(sel.get("threshold"), ".4f"),
                     _pct((sel.get("validation") or {}).get("coverage")), _pct(test.get("coverage")),
                     _bound_text(test),
                     *(_pct((acc.get(k) or {}).get("accuracy"), 2) for k in ("0.9", "0.95", "0.99"))])
    if curves:
        parts.append(figure_html(
            plot_risk_coverage(curves, target, points),
            alt="Risk-coverage curves of all models on the test split, with the target risk as a dashed line.",
            caption="Lower is better. Dots: each model's test operating point with the threshold chosen on "
                    "validation; the dashed line is the target risk."))
    if rows:
        parts.append(html_table(
            ["model", "AURC", "E-AURC", "coverage at target (test, best possible)", "threshold (validation)",
             "validation coverage", "test coverage", "test risk (95% bound)", "accuracy at 90%",
             "at 95%", "at 99%"],
            rows, numeric=[False] + [True] * 10,
            caption="AURC: area under the risk-coverage curve (E-AURC: above the best possible ranking)."))
    for note in notes:
        parts.append(f'<p class="note wide">{note}</p>')

    parts.append(_calibration_part(models))
    parts.append(_context_part(models))
    parts.append(_rejected_part(run, records))
    parts.append('<p class="top"><a href="#top">back to top</a></p></section>')
    return "".join(parts)


def _calibration_part(models: Mapping) -> str:
    rows, diagrams = [], {}
    for name, entry in models.items():
        cal = entry.get("calibration")
        if not cal or not cal.get("available", True):
            continue
        before, after = cal.get("before") or {}, cal.get("after") or {}
        rows.append([esc(name), _num(cal.get("temperature"), ".3f"),
                     *(f"{_num(before.get(k), '.4f')} → {_num(after.get(k), '.4f')}"
                       for k in ("ece", "mce", "brier", "log_loss"))])
        panels = [("before", before["reliability"])] if before.get("reliability") else []
        if after.get("reliability"):
            panels.append((f"after (T = {_num(cal.get('temperature'), '.2f')})", after["reliability"]))
        if panels:
            diagrams[name] = panels
    if not rows:
        return ""
    table = html_table(["model", "temperature", "ECE", "MCE", "Brier", "log loss"], rows,
                       numeric=[False] + [True] * 5,
                       caption="Test split, before → after temperature scaling fitted on validation "
                               "(15 equal-width bins, top label).")
    figure = figure_html(plot_reliability_diagrams(diagrams),
                         alt="Reliability diagrams per model before and after temperature scaling.",
                         caption="Bars: accuracy per confidence bin; hatched: the gap to the confidence. "
                                 "A calibrated model follows the dotted diagonal.") if diagrams else ""
    return f"<h3>Calibration</h3>{table}{figure}"


def _context_part(models: Mapping) -> str:
    rows, restricted = [], []
    for name, entry in models.items():
        ctx = entry.get("context")
        if not ctx or not ctx.get("available", True):
            continue
        look = ctx.get("lookalikes") or {}
        rows.append([esc(name), _pct(ctx.get("accuracy"), 2), _pct(ctx.get("accuracy_with_context"), 2),
                     _int(ctx.get("errors")), _int(ctx.get("cross_group_errors")), _pct(ctx.get("cross_group_share")),
                     *(_int(look.get(f"{a}/{b}")) for a, b in LOOKALIKE_PAIRS)])
        if ctx.get("restricted"):
            r = ctx["restricted"]
            restricted.append([esc(name), esc(", ".join(r.get("allowed", []))), _int(r.get("n")),
                               _pct(r.get("accuracy"), 2), _pct(r.get("accuracy_with_context"), 2)])
    if not rows:
        return ""
    # Cascade-specific advice only when a cascade ran.
    cascade = any(is_cascade(entry.get("params") or {}) for entry in models.values())
    table = html_table(
        ["model", "accuracy", "with context", "errors", "digit/letter errors", "share",
         *(f"{a}/{b}" for a, b in LOOKALIKE_PAIRS)], rows, numeric=[False] + [True] * (5 + len(LOOKALIKE_PAIRS)),
        caption="With context: each test image predicted only among its own group (digits or letters). "
                "Digit/letter errors are the ones context removes"
                + ("; compare the cascade with a model that knows the context." if cascade else "."))
    extra = ""
    if restricted:
        extra = html_table(["model", "allowed classes", "images", "accuracy", "restricted"], restricted,
                           numeric=[False, False, True, True, True],
                           caption="Test images of the requested context classes, predictions restricted to them.")
    return f"<h3>Context: digits vs letters</h3>{table}{extra}"


def _rejected_part(run: RunFolder, records: Mapping) -> str:
    figures = []
    for name, sel in records.items():
        if not sel or not sel.get("available", True):
            continue
        scores = _scores_used(run, name, sel)
        if scores is None:
            continue
        y_pred = run.predictions[name].to_numpy(dtype=str)
        least = np.argsort(scores, kind="stable")[:MAX_REJECTED]
        threshold = sel.get("threshold")
        captions = [f"{run.y_test[k]} → {y_pred[k]}\n{scores[k]:.2f}" for k in least]
        n_rejected = int(np.sum(scores < threshold)) if threshold is not None else None
        figures.append(figure_html(
            plots.plot_image_gallery(run.X_test[least], captions, n_cols=10, title=f"Least sure ({name})"),
            alt=f"The {len(least)} test images {name} was least sure about, with true label, prediction and score.",
            caption=f"{name}: the {len(least)} least sure test images (true → predicted, score); "
                    f"{_int(n_rejected)} test images fall below the threshold and are rejected."))
    return f"<h3>Rejected test images</h3>{''.join(figures)}" if figures else ""
