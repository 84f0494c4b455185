"""Matplotlib figures (Agg backend) shared by ``hwr-eval data show`` and the HTML report.

Every function returns a :class:`matplotlib.figure.Figure` and never calls ``pyplot.show``; callers save
or embed it. Figures are created through :class:`~matplotlib.figure.Figure` directly, so no global
pyplot state (or display) is involved.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

IMAGE_SIDE = 28


def plot_sample_grid(
    X: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    per_class: int = 8,
    seed: int = 0,
    title: str = "Samples per class",
) -> Figure:
    """Grid of ``per_class`` random images for each class: one row per class (the study's Fig. 2).

    Parameters
    ----------
    X : ndarray of shape (n, 784) or (n, 28, 28)
        Images, white ink on black, 0-255.
    y : ndarray of shape (n,)
        Class labels (characters).
    classes : sequence of str
        Classes to show, one row each, in this order.
    """
    images = np.asarray(X).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    rows = []
    for label in classes:
        idx = np.flatnonzero(y == label)
        chosen = rng.choice(idx, size=min(per_class, idx.size), replace=False)
        rows.append((str(label), images[chosen]))
    return plot_image_rows(rows, n_cols=per_class, title=title)


def plot_class_counts(counts: pd.DataFrame, title: str = "Samples per class and split") -> Figure:
    """Stacked bar chart of a counts table: index = classes, one column per split (the study's Fig. 3)."""
    fig = Figure(figsize=(max(6.0, 0.28 * len(counts) + 2), 3.6), layout="constrained")
    ax = fig.subplots()
    bottom = np.zeros(len(counts))
    positions = np.arange(len(counts))
    for column in counts.columns:
        values = counts[column].to_numpy(dtype=float)
        ax.bar(positions, values, bottom=bottom, label=str(column), width=0.8)
        bottom += values
    ax.set_xticks(positions, [str(c) for c in counts.index], fontsize=8)
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend(title="split", fontsize=8)
    return fig


# --------------------------------------------------------------------------------------------------
# Figures for the HTML report (``hwr_eval/report.py``)
# --------------------------------------------------------------------------------------------------


def legend_below(fig: Figure, ax, fontsize: float = 8) -> None:
    """One figure legend of ``ax``'s labelled lines, below the plot area so that it never hides a curve.

    ``loc="outside ..."`` needs the constrained layout, which makes room for the legend.
    """
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize=fontsize)


def _bare_axes(ax) -> None:
    """Hide ticks and frame: image tiles need neither."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def plot_model_comparison(summary: pd.DataFrame, title: str = "Test accuracy with 95% interval") -> Figure:
    """Bar chart of test accuracy per model with its 95% confidence interval as error bars.

    Parameters
    ----------
    summary : DataFrame
        Index = model names (in display order); columns ``accuracy``, ``ci_low``, ``ci_high`` and,
        when present, ``f1_macro`` (drawn as a second, lighter bar).
    """
    models = [str(m) for m in summary.index]
    acc = summary["accuracy"].to_numpy(dtype=float)
    err = np.vstack([acc - summary["ci_low"].to_numpy(dtype=float), summary["ci_high"].to_numpy(dtype=float) - acc])
    err = np.clip(err, 0.0, None)  # a CI that excludes its own point estimate would give negative lengths
    fig = Figure(figsize=(max(4.5, 1.1 * len(models) + 2), 3.6), layout="constrained")
    ax = fig.subplots()
    positions = np.arange(len(models))
    has_f1 = "f1_macro" in summary
    width = 0.38 if has_f1 else 0.6
    offset = width / 2 if has_f1 else 0.0
    bars = ax.bar(positions - offset, acc, width, yerr=err, capsize=4, label="accuracy (95% CI)", color="#3b6ea8")
    ax.bar_label(bars, labels=[f"{a:.1%}" for a in acc], padding=2, fontsize=8, label_type="center", color="white")
    if has_f1:
        ax.bar(positions + offset, summary["f1_macro"].to_numpy(dtype=float), width, label="macro F1", color="#9cc0e3")
    ax.set_xticks(positions, models)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("model")
    ax.set_ylabel("score on the test set")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_mcnemar(models: Sequence[str], p_values, alpha: float = 0.05, title: str = "McNemar test p-values") -> Figure:
    """Heatmap of pairwise McNemar p-values (pass the Holm-adjusted ones); small p (the errors differ) is dark.

    Colour follows ``-log10(p)`` so that 0.05, 0.001 and 1e-10 remain distinguishable; every cell is
    annotated with its p-value, and cells below ``alpha`` are marked with an asterisk.
    """
    p = np.asarray(p_values, dtype=float)
    n = len(models)
    strength = -np.log10(np.clip(p, 1e-300, 1.0))
    fig = Figure(figsize=(max(3.8, 0.9 * n + 2.2), max(3.0, 0.7 * n + 1.6)), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(np.where(np.eye(n, dtype=bool), np.nan, strength), cmap="Purples", vmin=0,
                   vmax=max(3.0, float(np.nanmax(strength[~np.eye(n, dtype=bool)], initial=0.0))))
    for i in range(n):
        for j in range(n):
            if i == j:
                ax.text(j, i, "—", ha="center", va="center", fontsize=9, color="#888")
                continue
            text = f"{p[i, j]:.2g}" + ("*" if p[i, j] < alpha else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="white" if strength[i, j] > 0.6 * im.norm.vmax else "black")
    ax.set_xticks(range(n), [str(m) for m in models])
    ax.set_yticks(range(n), [str(m) for m in models])
    ax.set_xlabel("model")
    ax.set_ylabel("model")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="−log10(p)", shrink=0.85)
    return fig


def plot_training_curves(history: Sequence[dict], title: str = "Training curves") -> Figure:
    """Loss and accuracy per epoch, training vs validation (the study's Figs. 8, 9, 14-18).

    Parameters
    ----------
    history : sequence of dict
        One dict per epoch with keys ``epoch``, ``train_loss``, ``valid_loss``, ``train_acc``,
        ``valid_acc`` (missing or ``None`` values are left out). The epoch with the lowest validation
        loss, whose weights early stopping keeps, is marked.
    """
    frame = pd.DataFrame(list(history)).apply(pd.to_numeric, errors="coerce")
    epochs = frame["epoch"].to_numpy() if "epoch" in frame else np.arange(1, len(frame) + 1)
    fig = Figure(figsize=(9.0, 3.3), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, kind, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        for split, style in (("train", "-o"), ("valid", "-s")):
            column = f"{split}_{kind}"
            if column in frame and frame[column].notna().any():
                name = "training" if split == "train" else "validation"
                ax.plot(epochs, frame[column], style, markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label.capitalize())
        ax.grid(alpha=0.3)
    if "valid_loss" in frame and frame["valid_loss"].notna().any():
        best = epochs[int(np.nanargmin(frame["valid_loss"].to_numpy()))]
        for ax in (ax_loss, ax_acc):
            ax.axvline(best, color="#888", linestyle=":", linewidth=1, label=f"best epoch ({best:g})")
    # Both panels draw the same series: one shared legend below them.
    legend_below(fig, ax_loss if ax_loss.get_legend_handles_labels()[0] else ax_acc)
    fig.suptitle(title)
    return fig


def plot_confusion_matrix(cm, classes: Sequence[str], title: str = "Confusion matrix (normalised by true class)") -> Figure:
    """Row-normalised confusion matrix via :class:`sklearn.metrics.ConfusionMatrixDisplay`.

    Cells and the colour bar show the percentage of each true class; values below 1% are left blank so that the few
    real confusions stand out among 36 x 36 cells, and a square-root colour scale makes them visible.
    """
    from matplotlib.colors import PowerNorm
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = np.asarray(cm, dtype=float)
    totals = cm.sum(axis=1, keepdims=True)
    normalised = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    n = len(classes)
    side = max(4.5, 0.17 * n + 1.2)  # 36 classes: about 800 px wide, leaving room for a table beside it
    fig = Figure(figsize=(side + 0.6, side), layout="constrained")
    ax = fig.subplots()
    # Cells, colours and colour bar all in percent of the true class, so the bar reads like the cells.
    percent = 100 * normalised
    display = ConfusionMatrixDisplay(percent, display_labels=[str(c) for c in classes])
    display.plot(ax=ax, cmap="Blues", colorbar=False, values_format=".0f",
                 im_kw={"norm": PowerNorm(0.5, vmin=0.0, vmax=100.0)},
                 text_kw={"fontsize": 6 if n > 20 else 9})
    for (i, j), text in np.ndenumerate(display.text_):
        value = percent[i, j]
        text.set_text("" if value < 1 else f"{value:.0f}")
    ax.tick_params(labelsize=8 if n > 20 else 10)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(display.im_, ax=ax, label="% of the true class", shrink=0.6, pad=0.02)
    return fig


def _mosaic(images: np.ndarray, n_cols: int, gap: int, band: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Tile images into one array (NaN between tiles) and return it with each tile's top-left corner.

    One ``imshow`` of a mosaic draws in a fraction of the time of one axes per image.
    """
    n = len(images)
    n_rows = max(1, -(-n // n_cols))
    step_y, step_x = band + IMAGE_SIDE + gap, IMAGE_SIDE + gap
    canvas = np.full((n_rows * step_y - gap, n_cols * step_x - gap), np.nan)
    corners = []
    for k in range(n):
        r, c = divmod(k, n_cols)
        y0, x0 = r * step_y + band, c * step_x
        canvas[y0:y0 + IMAGE_SIDE, x0:x0 + IMAGE_SIDE] = images[k]
        corners.append((y0, x0))
    return canvas, corners


def _show_mosaic(ax, canvas: np.ndarray) -> None:
    import matplotlib

    cmap = matplotlib.colormaps["gray"].with_extremes(bad="white")
    ax.imshow(canvas, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
    _bare_axes(ax)


def plot_image_gallery(
    X: np.ndarray,
    captions: Sequence[str],
    n_cols: int = 10,
    title: str = "Images",
    tile: float = 0.85,
) -> Figure:
    """Images in a grid, each with a short caption above it (e.g. ``"O → 0\\n93%"``).

    Parameters
    ----------
    X : ndarray of shape (n, 784) or (n, 28, 28)
        Images, white ink on black, 0-255.
    captions : sequence of str
        One caption per image; may contain one newline.
    n_cols : int
        Images per row.
    tile : float
        Width of one image in inches.
    """
    images = np.asarray(X).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    n_cols = max(1, min(n_cols, len(images)))
    canvas, corners = _mosaic(images, n_cols, gap=4, band=16)
    width = canvas.shape[1] / IMAGE_SIDE * tile * 0.87
    fig = Figure(figsize=(width + 0.3, width * canvas.shape[0] / canvas.shape[1] + 0.5), layout="constrained")
    ax = fig.subplots()
    _show_mosaic(ax, canvas)
    for (y0, x0), caption in zip(corners, captions):
        ax.text(x0 + IMAGE_SIDE / 2, y0 - 1, caption, ha="center", va="bottom", fontsize=8, linespacing=1.1)
    ax.set_title(title)
    return fig


def plot_image_rows(rows: Sequence[tuple[str, np.ndarray]], n_cols: int = 8,
                    title: str = "Most confused pairs: example test images") -> Figure:
    """One labelled row of up to ``n_cols`` images per entry, e.g. a confused pair ``"O → 0 (12)"``."""
    n_rows = max(1, len(rows))
    n_cols = max(1, min(n_cols, max((len(images) for _, images in rows), default=1)))
    tiles = np.full((n_rows * n_cols, IMAGE_SIDE, IMAGE_SIDE), np.nan)
    for r, (_, images) in enumerate(rows):
        images = np.asarray(images, dtype=float).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)[:n_cols]
        tiles[r * n_cols:r * n_cols + len(images)] = images
    canvas, corners = _mosaic(tiles, n_cols, gap=4, band=0)
    fig = Figure(figsize=(n_cols * 0.62 + 1.6, n_rows * 0.62 + 0.6), layout="constrained")
    ax = fig.subplots()
    _show_mosaic(ax, canvas)
    ax.set_yticks([corners[r * n_cols][0] + IMAGE_SIDE / 2 for r in range(len(rows))],
                  [label for label, _ in rows], fontsize=9)
    ax.tick_params(length=0)
    ax.set_title(title)
    return fig


def plot_weight_maps(weights: np.ndarray, classes: Sequence[str], n_cols: int = 9,
                     title: str = "Weight maps per class") -> Figure:
    """Per-class weight images of a linear model (the study's Fig. 5): red pushes towards the class.

    The colour scale is symmetric around zero and shared by all maps, so strengths are comparable.
    """
    maps = np.asarray(weights, dtype=float).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    n = len(maps)
    n_cols = max(1, min(n_cols, n))
    n_rows = -(-n // n_cols)
    # A robust limit: a handful of extreme border pixels would otherwise wash out every map.
    limit = float(np.nanpercentile(np.abs(maps), 99.5)) or 1.0
    fig = Figure(figsize=(n_cols * 0.9 + 1.0, n_rows * 1.0 + 0.6), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    image = None
    for k, ax in enumerate(axes.flat):
        _bare_axes(ax)
        if k < n:
            image = ax.imshow(maps[k], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_title(str(classes[k]) if k < len(classes) else str(k), fontsize=9, pad=2)
        else:
            ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=axes, label="weight", shrink=0.7)
    fig.suptitle(title)
    return fig
