"""The robustness table: one row per model and condition, and the summary computed from it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from hwr_eval.data import make_synthetic
from hwr_eval.errors import HwrError
from hwr_eval.evaluation import evaluate_robustness, robustness_record, robustness_summary


@pytest.fixture(scope="module")
def table():
    data = make_synthetic(n_per_class=6, classes="0A8X1", seed=2)
    X, y = data.images.reshape(len(data.images), -1), data.labels
    # 1-NN on its own training images: perfect on clean images, so every loss is the corruption's.
    models = {"nn": KNeighborsClassifier(1).fit(X, y), "nn3": KNeighborsClassifier(3).fit(X, y)}
    calls = []
    frame = evaluate_robustness(models, X, y, corruptions=["fog", "rotate", "erode"], severities=[1, 3, 5],
                                angles=[-30, 0, 30], random_state=0, on_progress=lambda *a: calls.append(a))
    return frame, models, X, y, calls


def test_one_row_per_model_and_condition(table):
    frame, models, X, y, calls = table
    assert list(frame.columns) == ["model", "corruption", "severity", "angle", "accuracy", "n_images"]
    assert len(frame) == 2 * (1 + 3 * 3 + 3)
    assert (frame["n_images"] == len(y)).all()
    assert [c[0] for c in calls] == list(range(1, 14)) and calls[-1][1] == 13
    for name, model in models.items():
        rows = frame[frame["model"] == name]
        clean = rows.loc[rows["corruption"] == "clean", "accuracy"].item()
        assert clean == pytest.approx(model.score(X, y))
        assert rows.loc[rows["angle"] == 0, "accuracy"].item() == clean  # rotation by 0 changes nothing


def test_accuracy_falls_under_strong_corruption(table):
    frame = table[0]
    nn = frame[frame["model"] == "nn"].set_index(["corruption", "severity"])["accuracy"]
    assert nn[("clean", 0.0)] == 1.0
    assert nn[("fog", 5.0)] < nn[("clean", 0.0)] and nn[("rotate", 5.0)] < nn[("rotate", 1.0)] + 1e-9


def test_same_seed_same_table(table):
    frame, models, X, y, _ = table
    again = evaluate_robustness(models, X, y, corruptions=["fog", "rotate", "erode"], severities=[1, 3, 5],
                                angles=[-30, 0, 30], random_state=0)
    assert again.equals(frame)


def test_summary_and_record_follow_the_table(table):
    frame = table[0]
    summary = robustness_summary(frame)
    assert list(summary.columns) == ["clean_accuracy", "mca", "relative_drop", "rotation_30", "worst"]
    assert summary["mca"].is_monotonic_decreasing
    rows = frame[frame["model"] == "nn"]
    corrupted = rows[~rows["corruption"].isin(["clean", "rotation"])]
    assert summary.loc["nn", "mca"] == pytest.approx(corrupted["accuracy"].mean())
    clean = summary.loc["nn", "clean_accuracy"]
    assert summary.loc["nn", "relative_drop"] == pytest.approx((clean - summary.loc["nn", "mca"]) / clean)
    at30 = rows[rows["angle"].abs() == 30]["accuracy"].mean()
    assert summary.loc["nn", "rotation_30"] == pytest.approx(at30)
    record = robustness_record(frame, 0, "robustness.csv")
    assert record["corruptions"] == ["fog", "rotate", "erode"] and record["severities"] == [1, 3, 5]
    assert record["angles"] == [-30.0, 0.0, 30.0]
    fog = rows[rows["corruption"] == "fog"]["accuracy"].tolist()
    assert record["models"]["nn"]["per_corruption"]["fog"] == fog
    assert len(record["models"]["nn3"]["rotation"]) == 3


def test_bad_input_is_one_line_error(table):
    _, models, X, y, _ = table
    with pytest.raises(HwrError, match="unknown corruption"):
        evaluate_robustness(models, X, y, corruptions=["smudge"])
    with pytest.raises(HwrError, match="labels"):
        evaluate_robustness(models, X, y[:-1])
    with pytest.raises(HwrError, match="no models"):
        evaluate_robustness({}, X, y)
    assert not np.isnan(robustness_summary(evaluate_robustness(models, X, y, corruptions=["fog"], severities=[1],
                                                               angles=[])).loc["nn", "mca"])


class _Diverged(KNeighborsClassifier):
    """A fitted model whose probabilities are NaN, as a network's are after its training diverged."""

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), np.nan)


def test_what_would_make_a_nan_is_refused_before_the_suite(table):
    _, models, X, y, _ = table
    made = []
    progress = lambda *a: made.append(a)  # noqa: E731
    for bad_X, bad_y, fragment in ((X[:0], y[:0], "no test images"),
                                   (np.where(np.arange(X.shape[1]) == 5, np.nan, X.astype(float)), y, "NaN")):
        with pytest.raises(HwrError, match=fragment):
            evaluate_robustness(models, bad_X, bad_y, on_progress=progress)
    with pytest.raises(HwrError, match="severity 6 does not exist"):
        evaluate_robustness(models, X, y, severities=[1, 6], on_progress=progress)
    diverged = _Diverged(1).fit(X, y)
    with pytest.raises(HwrError, match="model 'diverged' gives NaN or infinite probabilities"):
        evaluate_robustness({**models, "diverged": diverged}, X, y, on_progress=progress)
    assert made == []  # nothing was corrupted or reported before the refusal


def test_record_has_no_nan_when_a_summary_value_does_not_apply(table):
    import json

    _, models, X, y, _ = table
    frame = evaluate_robustness(models, X, y, corruptions=["fog"], severities=[1], angles=[15])  # no +-30
    record = robustness_record(frame, random_state=0, file=None)
    assert record["models"]["nn"]["rotation_30"] is None
    assert record["models"]["nn"]["mca"] == pytest.approx(frame.query("model == 'nn' and corruption == 'fog'")
                                                          ["accuracy"].mean())
    json.dumps(record, allow_nan=False)  # what results.json is written with
