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
    n_rows = len(classes)
    fig = Figure(figsize=(per_class * 0.42 + 0.6, n_rows * 0.42 + 0.6), layout="constrained")
    axes = fig.subplots(n_rows, per_class, squeeze=False)
    for row, label in enumerate(classes):
        idx = np.flatnonzero(y == label)
        chosen = rng.choice(idx, size=min(per_class, idx.size), replace=False) if idx.size else []
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col < len(chosen):
                ax.imshow(images[chosen[col]], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        axes[row, 0].set_ylabel(str(label), rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title)
    return fig


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
