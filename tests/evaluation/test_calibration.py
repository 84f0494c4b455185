"""Calibration metrics against hand-computed cases; temperature scaling by scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.svm import LinearSVC

from hwr_eval.errors import HwrError
from hwr_eval.evaluation import (
    calibration_metrics,
    fit_temperature,
    reliability_bins,
    reliability_records,
    temperature_scale_proba,
)


def _two_class(confidences, right):
    """Probabilities over classes A, B whose top label has the given confidence and correctness."""
    conf = np.asarray(confidences, dtype=float)
    right = np.asarray(right, dtype=bool)
    proba = np.c_[conf, 1 - conf]
    y = np.where(right, "A", "B")
    return y, proba


def test_ece_and_mce_hand_computed():
    # Five images at 0.8 confidence (bin 12 of 15), three right: gap 0.2. Five at 0.95 (last bin), all right.
    y, proba = _two_class([0.8] * 5 + [0.95] * 5, [1, 1, 1, 0, 0] + [1] * 5)
    m = calibration_metrics(y, proba, ["A", "B"])
    assert m["ece"] == pytest.approx(0.5 * 0.2 + 0.5 * 0.05)
    assert m["mce"] == pytest.approx(0.2)
    bins = m["reliability"]
    assert len(bins["edges"]) == 16 and sum(bins["count"]) == 10
    assert bins["count"][12] == 5 and bins["accuracy"][12] == pytest.approx(0.6)
    assert bins["count"][14] == 5 and bins["confidence"][14] == pytest.approx(0.95)
    assert bins["accuracy"][0] is None  # empty bins are None, not 0
    assert m["brier"] == pytest.approx(brier_score_loss(y, proba, labels=["A", "B"]))
    assert m["log_loss"] == pytest.approx(log_loss(y, proba, labels=["A", "B"]))


def test_perfectly_calibrated_and_confidence_one():
    y, proba = _two_class([1.0] * 4, [1] * 4)
    m = calibration_metrics(y, proba, ["A", "B"])
    assert m["ece"] == 0 and m["mce"] == 0
    assert reliability_bins(y, proba, ["A", "B"])["count"][-1] == 4  # confidence 1 falls in the last bin


def test_bad_shapes_and_labels():
    with pytest.raises(HwrError, match="shape"):
        calibration_metrics(["A"], np.ones((2, 2)) / 2, ["A", "B"])
    with pytest.raises(HwrError, match="not among the classes"):
        calibration_metrics(["C"], np.ones((1, 2)) / 2, ["A", "B"])


@pytest.fixture(scope="module")
def overconfident_logreg():
    X, y = load_digits(return_X_y=True)
    y = y.astype(str)
    # Barely regularised on few images: confident and often wrong on new ones.
    model = LogisticRegression(C=100.0, max_iter=300).fit(X[:150], y[:150])
    return model, X[150:600], y[150:600], X[600:900], y[600:900]


def test_temperature_scaling_lowers_nll_and_keeps_accuracy(overconfident_logreg):
    model, X_val, y_val, X_test, y_test = overconfident_logreg
    calibrated, temperature = fit_temperature(model, X_val, y_val)
    assert temperature > 1  # softens an over-confident model
    before, after = model.predict_proba(X_val), calibrated.predict_proba(X_val)
    # Fitted by minimising this very NLL, so it cannot rise on the data it was fitted on.
    assert log_loss(y_val, after, labels=model.classes_) <= log_loss(y_val, before, labels=model.classes_) + 1e-9
    # A monotone rescaling of the logits: the top class, hence the accuracy, never changes.
    for X in (X_val, X_test):
        np.testing.assert_array_equal(calibrated.predict_proba(X).argmax(axis=1), model.predict_proba(X).argmax(axis=1))
    assert np.array_equal(calibrated.predict(X_test), model.predict(X_test))
    # The model itself is not refitted.
    assert calibrated.calibrated_classifiers_[0].estimator.estimator is model


def test_recorded_temperature_reproduces_scikit_learns_scaling(overconfident_logreg):
    from sklearn.neighbors import KNeighborsClassifier

    model, X_val, y_val, X_test, y_test = overconfident_logreg
    knn = KNeighborsClassifier(n_neighbors=3).fit(X_val[:200], y_val[:200])  # predict_proba only, with zeros
    for fitted, X_fit, y_fit in ((model, X_val, y_val), (knn, X_val[200:], y_val[200:])):
        calibrated, temperature = fit_temperature(fitted, X_fit, y_fit)
        np.testing.assert_allclose(temperature_scale_proba(fitted, X_test, temperature),
                                   calibrated.predict_proba(X_test), atol=1e-9)
    with pytest.raises(HwrError, match="positive"):
        temperature_scale_proba(model, X_test, 0.0)


def test_reliability_records_fit_on_validation(overconfident_logreg):
    model, X_val, y_val, X_test, y_test = overconfident_logreg
    classes = [str(c) for c in range(10)]
    proba = model.predict_proba(X_test)
    records, arrays = reliability_records(model, X_val, y_val, y_test, model.predict(X_test), proba, X_test,
                                          classes, target_risk=0.05)
    sel, cal = records["selective"], records["calibration"]
    _, temperature = fit_temperature(model, X_val, y_val)
    assert sel["calibrated"] and sel["temperature"] == pytest.approx(temperature)
    assert cal["validation_log_loss"]["after"] <= cal["validation_log_loss"]["before"]
    assert cal["after"]["accuracy"] == cal["before"]["accuracy"]
    assert arrays["calibrated_probabilities"].shape == proba.shape
    assert 0 < sel["validation"]["coverage"] <= 1 and sel["validation"]["risk"] <= 0.05
    assert records["context"]["groups"] == ["digits"]


def test_model_without_predict_proba_gets_a_note():
    X, y = load_digits(return_X_y=True)
    model = LinearSVC().fit(X[:200], y[:200].astype(str))
    with pytest.raises(HwrError, match="no predict_proba"):
        fit_temperature(model, X[200:300], y[200:300])
    records, arrays = reliability_records(model, X[200:300], y[200:300], y[300:400], model.predict(X[300:400]),
                                          None, X[300:400], [str(c) for c in range(10)])
    assert arrays == {}
    assert records["selective"]["available"] is False and "no predict_proba" in records["selective"]["note"]
    assert records["selective"]["threshold"] is None and records["calibration"]["available"] is False


@pytest.mark.parametrize("per_class", [1, 2, 4])
def test_few_validation_images_per_class_give_scikit_learns_temperature(overconfident_logreg, per_class):
    """With 1-4 validation images per class (``--per-class`` 6..16), scikit-learn's default 5 folds crash."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    model, X_val, y_val, _, _ = overconfident_logreg
    rows = np.concatenate([np.flatnonzero(y_val == c)[:per_class] for c in model.classes_])
    calibrated, temperature = fit_temperature(model, X_val[rows], y_val[rows])
    # Independent check: the temperature minimising the validation NLL of the model's logits.
    logits = model.decision_function(X_val[rows])
    target = np.searchsorted(model.classes_, y_val[rows])

    def nll(t):
        return -log_softmax(logits / t, axis=1)[np.arange(len(rows)), target].mean()

    best = minimize_scalar(nll, bounds=(0.01, 100), method="bounded", options={"xatol": 1e-8}).x
    assert nll(temperature) <= nll(best) + 1e-6
    np.testing.assert_allclose(calibrated.predict_proba(X_val[rows]),
                               temperature_scale_proba(model, X_val[rows], temperature), atol=1e-9)


def test_calibration_that_cannot_be_fitted_is_recorded_not_raised(overconfident_logreg):
    model, X_val, y_val, X_test, y_test = overconfident_logreg
    one_class = y_val == y_val[0]
    with pytest.raises(HwrError, match="at least two classes"):
        fit_temperature(model, X_val[one_class], y_val[one_class])
    records, arrays = reliability_records(model, X_val[one_class], y_val[one_class], y_test, model.predict(X_test),
                                          model.predict_proba(X_test), X_test, [str(c) for c in range(10)])
    assert records["calibration"]["temperature"] is None and records["calibration"]["after"] is None
    assert records["calibration"]["note"].startswith("not temperature-scaled: temperature scaling needs")
    assert records["selective"]["calibrated"] is False and arrays == {}
