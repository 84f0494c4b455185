"""The report's numbers are exactly those of ``results.json`` and the files it names, for a real run.

A compare run on a test split with uneven classes (so balanced accuracy differs from accuracy) is
reported; the figures' inputs are captured where the report hands them to the plotting functions.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from hwr_eval.data import Dataset
from hwr_eval.models import PixelScaler
from hwr_eval.report import _plots as plots
from hwr_eval.report import build_report
from hwr_eval.runs import open_run, read_record
from hwr_eval.workflows import run_compare


@pytest.fixture(scope="module")
def reported(small_synthetic, tmp_path_factory):
    """A two-model run whose test split keeps only one image of every other class."""
    d = small_synthetic
    classes = np.asarray(d.classes)
    first = np.zeros(len(d.y_test), bool)
    first[np.unique(d.y_test, return_index=True)[1]] = True
    keep = ~np.isin(d.y_test, classes[::2]) | first
    uneven = Dataset(d.X_train, d.y_train, d.X_val, d.y_val, d.X_test[keep], d.y_test[keep], list(d.classes),
                     dict(d.provenance))
    models = {"knn": KNeighborsClassifier(n_neighbors=5),
              "logreg": make_pipeline(PixelScaler(), LogisticRegression(max_iter=60, tol=1e-2))}
    run_dir = run_compare(models, uneven, tmp_path_factory.mktemp("numbers") / "run", n_resamples=200, report=False)
    calls = {"mcnemar": [], "gallery": {}}
    draw_mcnemar, draw_gallery = plots.plot_mcnemar, plots.plot_image_gallery

    def mcnemar_spy(models, p_values, *args, **kwargs):
        calls["mcnemar"].append((list(models), np.asarray(p_values, dtype=float)))
        return draw_mcnemar(models, p_values, *args, **kwargs)

    def gallery_spy(X, captions, *args, title="", **kwargs):
        calls["gallery"][title.split(":")[0]] = (np.asarray(X), list(captions))
        return draw_gallery(X, captions, *args, title=title, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "plot_mcnemar", mcnemar_spy)
        mp.setattr(plots, "plot_image_gallery", gallery_spy)
        text = build_report(run_dir).read_text(encoding="utf-8")
    results = read_record(run_dir).to_json()
    return run_dir, results, text, calls


def _pct(value, digits=1):
    return f"{100 * value:.{digits}f}%"


def _cells(text: str, model: str) -> list[str]:
    """Cells of the comparison table's row for ``model``."""
    table = text[text.index('<section id="comparison">'):]
    row = re.search(rf'<tr[^>]*><td[^>]*><a href="#[^"]*">{model}</a></td>(.*?)</tr>', table).group(1)
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]


def test_comparison_table_interval_is_low_to_high(reported):
    _, results, text, _ = reported
    for name, entry in results["models"].items():
        m = entry["metrics"]
        low, high = m["accuracy_ci95"]
        assert low < m["accuracy"] < high
        accuracy, interval, balanced = _cells(text, name)[:3]
        assert accuracy == _pct(m["accuracy"], 2)
        assert interval == f"{_pct(low)} – {_pct(high)}"
        assert balanced == _pct(m["balanced_accuracy"], 2)


def test_headline_shows_balanced_accuracy_not_accuracy(reported):
    _, results, text, _ = reported
    for name, entry in results["models"].items():
        m = entry["metrics"]
        assert _pct(m["balanced_accuracy"], 2) != _pct(m["accuracy"], 2), "the test split must be uneven"
        section = text[text.index(f'<section id="model-{name}"'):]
        headline = re.sub(r"<[^>]+>", "", re.search(r'<p class="headline">(.*?)</p>', section).group(1))
        low, high = m["accuracy_ci95"]
        assert headline.startswith(f"accuracy {_pct(m['accuracy'], 2)} (95% interval {_pct(low)} – {_pct(high)})")
        assert f"balanced accuracy {_pct(m['balanced_accuracy'], 2)} · macro F1 {m['f1_macro']:.3f}" in headline


def test_mcnemar_heatmap_is_drawn_from_the_p_values(reported):
    _, results, _, calls = reported
    ((models, p_values),) = calls["mcnemar"]
    recorded = results["mcnemar"]["models"]
    assert recorded == ["knn", "logreg"]
    # Drawn in the comparison table's order (best accuracy first), each cell from its own pair.
    assert models == sorted(recorded, key=lambda n: -results["models"][n]["metrics"]["accuracy"])
    idx = [recorded.index(m) for m in models]
    statistic = np.asarray(results["mcnemar"]["statistic"])[np.ix_(idx, idx)]
    assert not np.allclose(statistic, p_values)
    np.testing.assert_array_equal(p_values, np.asarray(results["mcnemar"]["p_value"])[np.ix_(idx, idx)])


def test_misclassified_gallery_shows_most_confident_mistakes_first(reported):
    run_dir, results, text, calls = reported
    test = np.load(run_dir / "test_set.npz")
    preds = open_run(run_dir).predictions.assign(y_true=open_run(run_dir).y_test)
    classes = results["data"]["classes"]
    for name, entry in results["models"].items():
        proba = np.load(run_dir / entry["files"]["probabilities"])
        y_pred = preds[name].to_numpy()
        confidence = proba[np.arange(len(y_pred)), [classes.index(p) for p in y_pred]]
        wrong = np.flatnonzero(y_pred != preds["y_true"].to_numpy())
        expected = wrong[np.argsort(-confidence[wrong], kind="stable")][:40]
        assert confidence[expected[0]] > confidence[expected[-1]], "confidences must differ to test the order"
        X, captions = calls["gallery"][name]
        np.testing.assert_array_equal(X, test["X"][expected])
        shown = [int(c.split("\n")[1].rstrip("%")) for c in captions]
        assert shown == [round(100 * c) for c in confidence[expected]] and shown == sorted(shown, reverse=True)
        assert f"{len(expected)} of {len(wrong)} misclassified test images, most confident mistakes first" in text
