"""Context restriction, the per-group context figures, and the two meta-estimators."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from hwr_eval.errors import HwrError
from hwr_eval.evaluation import ContextClassifier, SelectiveClassifier, context_metrics, restrict_proba

CLASSES = ["0", "1", "A", "O"]


def test_restrict_proba_renormalises_over_allowed_classes():
    proba = np.array([[0.5, 0.3, 0.1, 0.1], [0.0, 0.0, 0.4, 0.6]])
    np.testing.assert_allclose(restrict_proba(proba, CLASSES, "digits"), [[0.625, 0.375, 0, 0], [0.5, 0.5, 0, 0]])
    np.testing.assert_allclose(restrict_proba(proba, CLASSES, "letters"), [[0, 0, 0.5, 0.5], [0, 0, 0.4, 0.6]])
    np.testing.assert_allclose(restrict_proba(proba, CLASSES, ["O", "1"]), [[0, 0.75, 0, 0.25], [0, 0, 0, 1]])
    np.testing.assert_allclose(restrict_proba(proba, CLASSES, "A,O")[0], [0, 0, 0.5, 0.5])  # CLI form
    # A per-image mask; the row with no mass on its allowed classes becomes uniform over them.
    mask = np.array([[False, False, True, True], [True, True, False, False]])
    np.testing.assert_allclose(restrict_proba(proba, CLASSES, mask), [[0, 0, 0.5, 0.5], [0.5, 0.5, 0, 0]])


@pytest.mark.parametrize("context, message", [
    (["Q"], "'Q' are not among the classes"),
    ([], "context is empty"),
    ("", "context is empty"),
])
def test_bad_context(context, message):
    with pytest.raises(HwrError, match=message):
        restrict_proba(np.full((1, 4), 0.25), CLASSES, context)
    with pytest.raises(HwrError, match="none of the model's classes are letters"):
        restrict_proba(np.full((1, 2), 0.5), ["0", "1"], "letters")


def test_context_metrics_hand_computed():
    y_true = np.array(["O", "0", "A", "1", "1"])
    y_pred = np.array(["0", "0", "O", "1", "A"])
    proba = np.array([
        [0.6, 0.0, 0.0, 0.4],   # O read as 0; with context: O
        [0.9, 0.0, 0.0, 0.1],
        [0.0, 0.0, 0.3, 0.7],   # A read as O: same group, context cannot help
        [0.0, 1.0, 0.0, 0.0],
        [0.1, 0.2, 0.7, 0.0],   # 1 read as A; with context: 1
    ])
    m = context_metrics(y_true, y_pred, proba, CLASSES)
    assert m["errors"] == 3 and m["cross_group_errors"] == 2 and m["cross_group_share"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(0.4) and m["accuracy_with_context"] == pytest.approx(0.8)
    assert m["errors_with_context"] == 1
    assert m["per_group"]["digits"] == {"n": 3, "accuracy": pytest.approx(2 / 3), "accuracy_with_context": 1.0}
    assert m["lookalikes"] == {"O/0": 1}
    assert m["top_cross_group"] == [{"true": "1", "predicted": "A", "count": 1},
                                    {"true": "O", "predicted": "0", "count": 1}]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600].astype(str), X[600:900], y[600:900].astype(str)


def test_context_classifier_predicts_only_allowed_classes(digits):
    X, y, X_test, y_test = digits
    model = LogisticRegression(max_iter=300).fit(X, y)
    wrapped = ContextClassifier(FrozenEstimator(model), context=["3", "8"]).fit(X, y)
    assert set(wrapped.predict(X_test)) <= {"3", "8"}
    proba = wrapped.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    rows = np.isin(y_test, ["3", "8"])
    # Knowing the context can only help on images that really are a 3 or an 8.
    assert wrapped.score(X_test[rows], y_test[rows]) >= model.score(X_test[rows], y_test[rows])
    restored = pickle.loads(pickle.dumps(wrapped))
    np.testing.assert_array_equal(restored.predict(X_test), wrapped.predict(X_test))
    # Unfitted and in a Pipeline: cloned, fitted, scored.
    pipe = make_pipeline(StandardScaler(), ContextClassifier(LogisticRegression(max_iter=300), context="digits"))
    assert clone(pipe).fit(X, y).score(X_test, y_test) > 0.8
    with pytest.raises(HwrError, match="'Q'"):
        ContextClassifier(FrozenEstimator(model), context=["Q"]).fit(X, y)


def test_selective_classifier_in_a_pipeline(digits):
    X, y, X_test, y_test = digits
    pipe = make_pipeline(StandardScaler(), SelectiveClassifier(LogisticRegression(max_iter=300), target_risk=0.02,
                                                                random_state=0))
    pipe.fit(X, y)
    selective = pipe[-1]
    plain = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    # predict is the base model's: scorers measure the same classifier, no reject label sneaks in.
    assert set(pipe.predict(X_test)) <= set(y)
    scores = cross_val_score(pipe, X, y, cv=3)
    assert np.all((scores > 0.8) & (scores <= 1))
    # Abstentions: the accept mask follows the threshold on the (temperature-scaled) confidence.
    Xs = pipe[0].transform(X_test)
    accepted = selective.accept(Xs)
    np.testing.assert_array_equal(accepted, selective.confidence(Xs) >= selective.threshold_)
    labels = selective.predict_or_reject(Xs)
    assert np.all(labels[~accepted] == "?") and np.all(labels[accepted] == selective.predict(Xs)[accepted])
    assert 0 < accepted.mean() < 1
    right = selective.predict(Xs) == y_test
    assert right[accepted].mean() > right.mean()  # answering only when sure is more often right
    assert selective.temperature_ > 0 and selective.validation_["risk"] <= 0.02
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored[-1].predict_or_reject(Xs), labels)
    assert plain.fit(X, y).score(X_test, y_test) > 0.8


def test_selective_classifier_wraps_a_fitted_model(digits):
    X, y, X_test, y_test = digits
    model = LogisticRegression(max_iter=300).fit(X[:300], y[:300])
    selective = SelectiveClassifier(FrozenEstimator(model), calibrate=False, confidence_score="margin")
    selective.fit(X[300:], y[300:])  # frozen: this is the held-out data
    assert selective.estimator_.estimator is model and selective.temperature_ is None
    np.testing.assert_array_equal(selective.predict(X_test), model.predict(X_test))
    assert selective.validation_["coverage"] > 0


def test_selective_classifier_bad_input(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="target_risk"):
        SelectiveClassifier(LogisticRegression(), target_risk=1.5).fit(X, y)
    with pytest.raises(ValueError, match="predict_proba"):
        SelectiveClassifier(LinearSVC()).fit(X, y)
    with pytest.raises(HwrError, match="both X_val and y_val"):
        SelectiveClassifier(LogisticRegression()).fit(X, y, X_val=X)
