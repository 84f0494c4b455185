"""UnknownRejector: a classifier that answers "unknown", as a scikit-learn meta-estimator and a serve hook."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from hwr_eval.errors import HwrError
from hwr_eval.evaluation import UnknownRejector, fit_scorer, known_threshold
from hwr_eval.models import FewStepsWarning, make_model

pytestmark = pytest.mark.filterwarnings(f"ignore::{FewStepsWarning.__module__}.FewStepsWarning")

BLANK = np.zeros((4, 784), np.uint8)


@pytest.fixture(scope="module")
def ds(small_synthetic):
    return small_synthetic


def test_fit_chooses_the_threshold_on_the_validation_images(ds):
    rejector = UnknownRejector(make_model("knn"), detector="neighbour_distance", keep=0.9)
    rejector.fit(ds.X_train, ds.y_train, X_val=ds.X_val, y_val=ds.y_val)
    scores_val = fit_scorer(rejector.estimator_, "neighbour_distance").score_images(ds.X_val)
    assert rejector.threshold_ == known_threshold(scores_val, 0.9)
    assert np.mean(~rejector.is_unknown(ds.X_val)) >= 0.9
    # predict: the class where known, "unknown" where not; probabilities pass through.
    X = np.r_[ds.X_test[:20], BLANK]
    unknown = rejector.is_unknown(X)
    labels = rejector.predict(X)
    assert (labels[unknown] == "unknown").all()
    assert (labels[~unknown] == rejector.estimator_.predict(X[~unknown])).all()
    np.testing.assert_array_equal(rejector.predict_proba(X), rejector.estimator_.predict_proba(X))
    np.testing.assert_array_equal(rejector.score_known(X) < rejector.threshold_, unknown)
    assert list(rejector.classes_) == list(ds.classes)


def test_without_validation_data_a_stratified_part_is_held_out(ds):
    rejector = UnknownRejector(make_model("knn"), detector="neighbour_distance", validation_fraction=0.25,
                               random_state=3).fit(ds.X_train, ds.y_train)
    X_fit, X_held, y_fit, _ = train_test_split(ds.X_train, ds.y_train, test_size=0.25, stratify=ds.y_train,
                                               random_state=3)
    assert rejector.estimator_[-1].n_samples_fit_ == len(X_fit)
    scores = fit_scorer(rejector.estimator_, "neighbour_distance").score_images(X_held)
    assert rejector.threshold_ == known_threshold(scores)


def test_a_fitted_model_is_used_as_it_is(ds):
    model = make_model("mlp", max_epochs=1, random_state=0, device="cpu").fit(ds.X_train, ds.y_train)
    before = model.predict_proba(ds.X_test)
    rejector = UnknownRejector(model, detector="mahalanobis").fit(ds.X_train, ds.y_train, X_val=ds.X_val,
                                                                   y_val=ds.y_val)
    assert rejector.estimator_ is model
    np.testing.assert_array_equal(model.predict_proba(ds.X_test), before)
    frozen = UnknownRejector(FrozenEstimator(model), detector="energy").fit(ds.X_train, ds.y_train,
                                                                            X_val=ds.X_val, y_val=ds.y_val)
    assert frozen.estimator_ is model
    with pytest.raises(HwrError, match="prefit=True but the HwrPipeline is not fitted"):
        UnknownRejector(make_model("knn"), detector="msp", prefit=True).fit(ds.X_train, ds.y_train)
    refitted = UnknownRejector(model, detector="energy", prefit=False).fit(ds.X_train, ds.y_train)
    assert refitted.estimator_ is not model


def test_inapplicable_or_unknown_detector_is_refused_before_training(ds):
    with pytest.raises(HwrError, match=r"^detector 'mahalanobis' does not apply to KNeighborsClassifier; it supports: "
                                       r"msp, neighbour_distance$"):
        UnknownRejector(make_model("knn"), detector="mahalanobis").fit(ds.X_train, ds.y_train)
    with pytest.raises(HwrError, match="did you mean 'max_logit'"):
        UnknownRejector(make_model("cnn"), detector="maxlogit").fit(ds.X_train, ds.y_train)
    with pytest.raises(HwrError, match="keep"):
        UnknownRejector(make_model("knn"), keep=0).fit(ds.X_train, ds.y_train)


def test_clone_pipeline_and_joblib(ds):
    rejector = UnknownRejector(make_model("knn"), detector="neighbour_distance", random_state=0)
    assert clone(rejector).get_params()["detector"] == "neighbour_distance"
    pipe = Pipeline([("same", FunctionTransformer()), ("rejector", rejector)]).fit(ds.X_train, ds.y_train)
    X = np.r_[ds.X_test[:10], BLANK]
    direct = clone(rejector).fit(ds.X_train, ds.y_train)
    np.testing.assert_array_equal(pipe.predict(X), direct.predict(X))
    buffer = io.BytesIO()
    joblib.dump(direct, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    np.testing.assert_array_equal(loaded.predict(X), direct.predict(X))
    np.testing.assert_array_equal(loaded.score_known(X), direct.score_known(X))


def test_serve_finds_the_detector(ds):
    from hwr_eval.serve import UnknownDetector
    from hwr_eval.serve._models import ServedModel

    rejector = UnknownRejector(make_model("knn"), detector="neighbour_distance")
    assert getattr(rejector, "unknown_detector_", None) is None  # unfitted: no hook
    rejector.fit(ds.X_train, ds.y_train, X_val=ds.X_val, y_val=ds.y_val)
    assert isinstance(rejector.unknown_detector_, UnknownDetector)
    served = ServedModel("knn", rejector, test_accuracy=None, abstention=None, unknown_detector=rejector.unknown_detector_)
    noise = np.random.default_rng(0).integers(0, 256, 784).astype(np.uint8)
    answers = {name: served.answer(x)["unknown"] for name, x in (("noise", noise), ("known", ds.X_test[0]))}
    assert answers == {"noise": True, "known": False}


def test_every_parameter_is_validated():
    from sklearn.linear_model import LogisticRegression
    from sklearn.utils.estimator_checks import check_param_validation

    check_param_validation("UnknownRejector", UnknownRejector(LogisticRegression(), detector="energy"))


@pytest.mark.parametrize("detector", ["layer_knn", "layerwise_knn"])
def test_layer_detector_rejector_rejects_noise_and_survives_joblib(ds, detector):
    model = make_model("cnn", max_epochs=2, batch_size=64, random_state=0, precision="fp32").fit(
        ds.X_train, ds.y_train, X_val=ds.X_val, y_val=ds.y_val)
    rejector = UnknownRejector(model, detector=detector, k=5).fit(ds.X_train, ds.y_train, X_val=ds.X_val,
                                                                     y_val=ds.y_val)
    # The threshold keeps 95% of the known validation images; uniform noise is nothing like them.
    assert rejector.is_unknown(ds.X_val).mean() <= 0.05
    noise = np.random.default_rng(0).integers(0, 256, (20, ds.X_test.shape[1])).astype(ds.X_test.dtype)
    assert rejector.is_unknown(noise).all()
    assert (rejector.predict(noise) == "unknown").all()
    buffer = io.BytesIO()
    joblib.dump(rejector, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(joblib.load(buffer).score_known(ds.X_test), rejector.score_known(ds.X_test))


@pytest.mark.parametrize("name, expected", [("cnn", "layer_knn"), ("mlp", "layer_knn"), ("linear", "msp"),
                                            ("logreg", "msp"), ("knn", "msp")])
def test_auto_detector_is_the_best_measured_for_the_model_kind(ds, name, expected):
    params = {"max_epochs": 1, "random_state": 0} if name in ("cnn", "mlp", "linear") else {}
    rejector = UnknownRejector(make_model(name, **params), k=5).fit(ds.X_train, ds.y_train, X_val=ds.X_val,
                                                                    y_val=ds.y_val)
    assert rejector.detector == "auto" and rejector.scorer_.detector == expected
    explicit = UnknownRejector(rejector.estimator_, detector=expected, k=5).fit(ds.X_train, ds.y_train,
                                                                               X_val=ds.X_val, y_val=ds.y_val)
    assert rejector.threshold_ == explicit.threshold_


def test_auto_detector_for_a_model_without_probabilities_fails_before_training(ds):
    from sklearn.svm import LinearSVC

    class NeverFit(LinearSVC):
        def fit(self, X, y):
            raise AssertionError("trained before the detector was checked")

    with pytest.raises(HwrError, match="^detector 'msp' does not apply to NeverFit; it supports: none$"):
        UnknownRejector(NeverFit()).fit(ds.X_train, ds.y_train)
