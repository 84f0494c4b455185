import numpy as np
import pandas as pd

from hwr_eval.plots import plot_class_counts, plot_sample_grid


def test_sample_grid_has_one_row_per_class_and_shows_only_that_class():
    X = np.zeros((6, 784), dtype=np.uint8)
    X[3:] = 255  # class "B" images are white, class "A" black
    y = np.array(["A"] * 3 + ["B"] * 3)
    fig = plot_sample_grid(X, y, ["A", "B"], per_class=3)
    axes = np.array(fig.axes).reshape(2, 3)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["A", "B"]
    assert all(ax.images[0].get_array().max() == 0 for ax in axes[0])
    assert all(ax.images[0].get_array().min() == 255 for ax in axes[1])


def test_class_counts_stacks_splits():
    counts = pd.DataFrame({"train": [5, 7], "test": [1, 2]}, index=["0", "1"])
    fig = plot_class_counts(counts)
    ax = fig.axes[0]
    heights = sorted(round(p.get_y() + p.get_height()) for p in ax.patches)
    assert heights == [5, 6, 7, 9]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]
