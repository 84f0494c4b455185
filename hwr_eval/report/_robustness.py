"""The report's robustness section: corrupted examples, accuracy against severity and rotation, mCA ranking.

Drawn from the ``robustness`` key of ``results.json`` (written by ``hwr-eval robustness`` or
``compare --robustness``); the example strip corrupts one test image of the run folder on the spot with
the same corruptions, so nothing else needs to be stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..data._corruptions import CORRUPTIONS, corrupt, rotate
from ..runs import RunFolder
from ._html import _pct, esc, figure_html, html_table
from ._plots import legend_below


def _check_record(run: RunFolder) -> dict | None:
    """The ``robustness`` record (checked by the run reader), or None when the run has none."""
    return run.record.robustness


def plot_corruption_strip(image: np.ndarray, corruptions: Sequence[str], severities: Sequence[int],
                          angles: Sequence[float], seed: int = 0) -> Figure:
    """One test image under every corruption (rows) and severity (columns), then the rotation sweep."""
    image = np.asarray(image).reshape(1, -1)
    side = int(round(np.sqrt(image.shape[1])))
    columns = [0, *severities]
    n_cols = max(len(columns), len(angles))
    n_rows = len(corruptions) + (1 if angles else 0)
    fig = Figure(figsize=(0.62 * n_cols + 1.9, 0.62 * n_rows + 0.9), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():  # a thin frame: inverted (white) stripes stay inside the tile
            spine.set_color("0.6")
            spine.set_linewidth(0.5)
    for ax in axes[:-1, len(columns):].flat if angles else axes[:, len(columns):].flat:
        ax.set_visible(False)
    for r, kind in enumerate(corruptions):
        for c, severity in enumerate(columns):
            shown = corrupt(image, kind, int(severity), random_state=seed)[0]
            axes[r, c].imshow(shown.reshape(side, side), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            if r == 0:
                axes[r, c].set_title("clean" if severity == 0 else f"sev {severity}", fontsize=8, pad=2)
        axes[r, 0].set_ylabel(kind.replace("_", " "), rotation=0, ha="right", va="center", fontsize=8)
    if angles:
        for c, angle in enumerate(angles):
            ax = axes[-1, c]
            ax.imshow(rotate(image, angle)[0].reshape(side, side), cmap="gray", vmin=0, vmax=255,
                      interpolation="nearest")
            ax.set_xlabel(f"{angle:+.0f}°", fontsize=7, labelpad=1)
        axes[-1, 0].set_ylabel("rotation", rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("One test image under every corruption and severity", fontsize=11)
    return fig


def plot_severity_curves(record: dict) -> Figure:
    """Accuracy against severity, one panel per corruption, every model on each (severity 0 = clean)."""
    kinds = record["corruptions"]
    severities = [0, *record["severities"]]
    n_cols = min(5, max(1, len(kinds)))
    n_rows = -(-len(kinds) // n_cols)
    fig = Figure(figsize=(2.5 * n_cols + 0.4, 2.1 * n_rows + 0.8), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey=True)
    for k, ax in enumerate(axes.flat):
        if k >= len(kinds):
            ax.set_visible(False)
            continue
        for name, rec in record["models"].items():
            values = [rec["clean_accuracy"], *rec["per_corruption"][kinds[k]]]
            ax.plot(severities, [np.nan if v is None else v for v in values], marker="o", markersize=3, label=name)
        ax.set_title(kinds[k].replace("_", " "), fontsize=9)
        ax.set_xticks(severities)
        ax.tick_params(labelbottom=True, labelsize=8)  # also under panels with no panel below them
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("severity", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 6), fontsize=9)
    return fig


def plot_rotation_curve(record: dict) -> Figure:
    """Accuracy against rotation angle, one line per model."""
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    for name, rec in record["models"].items():
        ax.plot(record["angles"], [np.nan if v is None else v for v in rec["rotation"]], marker="o", markersize=3,
                label=name)
    ax.axvspan(-30, 30, color="0.92", zorder=0)
    ax.set_xlabel("rotation (degrees, counter-clockwise)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(record["angles"])
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("Accuracy against rotation")
    legend_below(fig, ax, fontsize=9)
    return fig


def mnist_c_part(run: RunFolder) -> str:
    """MNIST-C's headline (the mean over its 15 corruptions at the released settings) per model, and the table."""
    record = run.record.mnist_c
    if record is None:
        return ""
    models = record["models"]
    ranked = sorted(models, key=lambda n: -models[n]["mean"])
    corruptions = record["corruptions"]
    rows = [[esc(name), _pct(models[name]["clean"], 2), f"<b>{_pct(models[name]['mean'], 2)}</b>",
             *(_pct(models[name]["per_corruption"].get(c), 1) for c in corruptions)] for name in ranked]
    headers = ["model", "clean", "MNIST-C mean", *(c.replace("_", " ") for c in corruptions)]
    return ("<h3>MNIST-C as released</h3><p class=\"note wide\">The 15 corruptions of MNIST-C (Mu &amp; Gilmer, 2019) at the "
            f"settings its dataset was made with (seed {esc(str(record.get('seed')))}); the mean over them is the figure "
            "published MNIST-C results report (they use MNIST digits only; this run's classes are its own).</p>"
            + html_table(headers, rows, numeric=[False] + [True] * (len(headers) - 1),
                         caption="Test accuracy per corruption; models ranked by the MNIST-C mean"))


def robustness_section(run: RunFolder) -> str:
    """The ``<section id="robustness">`` of the report, or "" when the run has no robustness results."""
    record = _check_record(run)
    if record is None:
        mnist_c = mnist_c_part(run)
        return f'<section id="robustness"><h2>Robustness</h2>{mnist_c}</section>' if mnist_c else ""
    models = record["models"]
    ranked = sorted(models, key=lambda n: -1.0 if models[n]["mca"] is None else -models[n]["mca"])
    rows = [[esc(name), _pct(models[name]["clean_accuracy"], 2), _pct(models[name]["mca"], 2),
             _pct(models[name]["relative_drop"]), _pct(models[name]["rotation_30"], 2),
             esc(str(models[name].get("worst")).replace("_", " "))] for name in ranked]
    table = html_table(["model", "clean", "mCA", "relative drop", "±30° rotation", "worst corruption"], rows,
                       numeric=[False, True, True, True, True, False],
                       row_classes=["best"] + [""] * (len(rows) - 1),
                       caption="Models ranked by mean corruption accuracy (mCA)")
    kinds = [c for c in record["corruptions"] if c in CORRUPTIONS]
    parts = [
        '<section id="robustness"><h2>Robustness</h2>',
        mnist_c_part(run),
        "<h3>hwr-eval's severity sweep</h3>"
        '<p class="note wide">Test accuracy under hwr-eval\'s own sweep: the ideas of MNIST-C plus stroke width, '
        f'each at severities {esc(", ".join(map(str, record["severities"])))} (seed {esc(str(record.get("seed")))}), '
        "and under rotation. It is not MNIST-C (see its headline above): mCA is the mean accuracy over every "
        "corruption and severity of the sweep; the relative drop is (clean − mCA) / clean.</p>",
        table,
        figure_html(plot_rotation_curve(record), alt="Line chart of test accuracy against rotation angle per model.",
                    caption="The shaded band is ±30°."),
        figure_html(plot_severity_curves(record),
                    alt="Small multiples: test accuracy against severity for each corruption, one line per model."),
    ]
    if len(run.X_test) and kinds:
        strip = plot_corruption_strip(run.X_test[0], kinds, record["severities"], record["angles"],
                                      seed=int(record.get("seed") or 0))
        parts.append(figure_html(strip, alt="The first test image under every corruption and severity, and rotated.",
                                 caption="The first image of the test split under each corruption and severity "
                                         "(random draws differ from the scored copies, the settings do not)."))
    parts.append("</section>")
    return "".join(parts)
