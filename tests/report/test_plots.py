import numpy as np
import pandas as pd

from hwr_eval.report import plot_class_counts, plot_sample_grid


def test_sample_grid_has_one_row_per_class_and_shows_only_that_class():
    X = np.zeros((6, 784), dtype=np.uint8)
    X[3:] = 255  # class "B" images are white, class "A" black
    y = np.array(["A"] * 3 + ["B"] * 3)
    fig = plot_sample_grid(X, y, ["A", "B"], per_class=3)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "B"]
    canvas = ax.images[0].get_array()
    rows = [canvas[int(tick) - 14:int(tick) + 14] for tick in ax.get_yticks()]
    assert np.nanmax(rows[0]) == 0 and np.nanmin(rows[1]) == 255
    assert int(np.isfinite(canvas).sum()) == 6 * 28 * 28  # every sample drawn once


def test_class_counts_stacks_splits():
    counts = pd.DataFrame({"train": [5, 7], "test": [1, 2]}, index=["0", "1"])
    fig = plot_class_counts(counts)
    ax = fig.axes[0]
    heights = sorted(round(p.get_y() + p.get_height()) for p in ax.patches)
    assert heights == [5, 6, 7, 9]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]
