"""The report's "Unknown input" section: how well each model rejects input of none of its classes.

Built from ``unknowns.csv`` (every detector x unknown set) and each model's ``unknowns/<name>.npz`` (the best
detector's scores and the unknown images it found most "known"), both written by ``compare --unknown``; to add
it to a report, put ``unknown_section(run)`` among the sections and a link to ``#``:data:`SECTION_ID` in the
table of contents.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from ..runs import RunFolder, read_unknown_scores
from ._html import _num, _pct, esc, figure_html, html_table
from ._plots import legend_below, plot_image_gallery

#: Anchor of the section (for the table of contents) and its heading.
SECTION_ID = "unknown-input"
SECTION_TITLE = "Unknown input"


def _sets(arrays: Mapping[str, np.ndarray], sets) -> dict[str, np.ndarray]:
    return {s: np.asarray(arrays[f"set_{s}"], dtype=float) for s in sets}


def plot_unknown_histograms(known: np.ndarray, unknown: Mapping[str, np.ndarray], threshold: float,
                            detector: str) -> Figure:
    """Score histograms, known test images against each unknown set, one panel per set, with the threshold."""
    names = list(unknown)
    n_cols = min(3, max(1, len(names)))
    n_rows = -(-len(names) // n_cols)
    fig = Figure(figsize=(2.9 * n_cols + 0.4, 2.0 * n_rows + 0.7), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    known = np.asarray(known, dtype=float)
    for k, ax in enumerate(axes.flat):
        if k >= len(names):
            ax.set_visible(False)
            continue
        values = unknown[names[k]]
        bins = np.histogram_bin_edges(np.r_[known, values], bins=30)
        ax.hist(known, bins=bins, density=True, alpha=0.55, color="C0", label="known (test)")
        ax.hist(values, bins=bins, density=True, alpha=0.55, color="C3", label="unknown")
        ax.axvline(threshold, color="0.2", linestyle="--", linewidth=1, label="threshold (validation)")
        ax.set_title(names[k].replace("_", " "), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=3, fontsize=8)
    fig.supxlabel(f"{detector} score (higher = more like the known classes)", fontsize=8)
    return fig


def plot_unknown_roc(known: np.ndarray, unknown: Mapping[str, np.ndarray], detector: str) -> Figure:
    """ROC curves of telling known test images (positives) from each unknown set, by the detector's score."""
    fig = Figure(figsize=(4.6, 4.0), layout="constrained")
    ax = fig.subplots()
    known = np.asarray(known, dtype=float)
    for name, values in unknown.items():
        y = np.r_[np.ones(known.size), np.zeros(values.size)]
        fpr, tpr, _ = roc_curve(y, np.r_[known, values])
        ax.plot(fpr, tpr, label=name.replace("_", " "))
    ax.plot([0, 1], [0, 1], color="0.7", linestyle=":", linewidth=1)
    ax.set_xlabel("unknown images accepted (FPR)")
    ax.set_ylabel("known images kept (TPR)")
    ax.set_title(f"ROC: {detector}", fontsize=10)
    ax.grid(alpha=0.3)
    legend_below(fig, ax, fontsize=8)
    return fig


def _table(rows: pd.DataFrame, best: str) -> str:
    """Detector x set: AUROC, FPR at 95% TPR, and the share rejected at the validation threshold."""
    sets = list(dict.fromkeys(rows["unknown_set"]))
    detectors = list(dict.fromkeys(rows["detector"]))
    cells = []
    for detector in detectors:
        mine = rows[rows["detector"] == detector].set_index("unknown_set")
        row = [esc(detector), _num(mine["auroc"].mean())]
        for s in sets:
            r = mine.loc[s]
            row.append(f"{_num(r['auroc'])}<br><small>FPR {_pct(r['fpr_at_95_tpr'], 0)} · rej. "
                       f"{_pct(r['unknown_rejected'], 0)}</small>")
        cells.append(row)
    return html_table(["detector", "mean AUROC", *(s.replace("_", " ") for s in sets)], cells,
                      numeric=[False] + [True] * (len(sets) + 1),
                      row_classes=["best" if d == best else "" for d in detectors],
                      caption="AUROC per unknown set; FPR: unknown images accepted where 95% of the known test images "
                              "are; rej.: unknown images rejected at the threshold chosen on the validation split")


def model_part(run: RunFolder, name: str) -> str:
    """One model's table, histograms, ROC curves and gallery; "" when it was not scored on unknown input."""
    record = run.record.models[name].unknowns
    if not record or run.unknowns is None:
        return ""
    rows = run.unknowns[run.unknowns["model"].astype(str) == name]
    best = record["best_detector"]
    parts = [f"<h3>{esc(name)}</h3>", _table(rows, best)]
    arrays = read_unknown_scores(run, name)
    unknown = _sets(arrays, record["sets"])
    threshold = float(arrays["threshold"])
    parts.append('<div class="cols">')
    parts.append(figure_html(plot_unknown_histograms(arrays["known"], unknown, threshold, best),
                             alt=f"Histograms of the {best} score of known test images and of each unknown set.",
                             caption=f"{best} (the best detector by mean AUROC): known test images against each "
                                     "unknown set; left of the dashed line is rejected as unknown."))
    parts.append(figure_html(plot_unknown_roc(arrays["known"], unknown, best),
                             alt=f"ROC curves of the {best} score, one per unknown set."))
    parts.append("</div>")
    if len(arrays["gallery_X"]):
        captions = [f"→ {p}  ({v:.3g})\n{s.replace('_', ' ')}" for p, s, v in
                    zip(arrays["gallery_pred"], arrays["gallery_set"], arrays["gallery_score"])]
        gallery = plot_image_gallery(arrays["gallery_X"], captions, n_cols=6, tile=1.2,
                                     title=f"Unknown images {name} finds most known")
        parts.append(figure_html(gallery, alt="The unknown images with the highest known-score, with the class given.",
                                 caption=f"The unknown images with the highest {best} score, each with the class "
                                         "the model answers, its set and its score: the most confident wrong "
                                         "answers to input of none of the classes."))
    return "".join(parts)


def unknown_section(run: RunFolder) -> str:
    """The ``<section id="unknown-input">`` of the report, or "" when the run did not score unknown input."""
    if run.unknowns is None:
        return ""
    sets = [str(s) for s in dict.fromkeys(run.unknowns["unknown_set"])]
    missing = "" if "lowercase" in sets else (" No lowercase letters (near unknowns) were scored: the run's data "
                                              "folder has none.")
    keep = next((r.unknowns.get("keep") for r in run.record.models.values() if r.unknowns), None)
    parts = [f'<section id="{SECTION_ID}"><h2>{SECTION_TITLE}</h2>',
             '<p class="note wide">How well each model tells input of none of its classes from the known test images; '
             f"unknown sets: {esc(', '.join(s.replace('_', ' ') for s in sets))}.{missing} Each detector gives every "
             f"image a known-score; an image scoring below the threshold that keeps {_pct(keep, 0)} of the known validation images "
             "is rejected as unknown. AUROC 1 separates them perfectly, 0.5 not at all.</p>"]
    parts += [model_part(run, name) for name in run.record.models]
    parts.append("</section>")
    return "".join(parts)


__all__ = ["SECTION_ID", "SECTION_TITLE", "model_part", "plot_unknown_histograms", "plot_unknown_roc",
           "unknown_section"]
