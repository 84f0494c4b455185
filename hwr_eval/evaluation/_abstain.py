"""``SelectiveClassifier``: any classifier that can also say "I don't know".

It lives in :mod:`hwr_eval.evaluation` (not ``models``) because it is built on the selective metrics
and temperature scaling here and wraps any estimator, registry model or not; it imports no torch.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .._validation import ValidatedParamsMixin
from ..errors import HwrError
from ._calibration import fit_temperature
from ._selective import SCORES, apply_threshold, confidence_scores, select_threshold

#: Default label of an abstention in :meth:`SelectiveClassifier.predict_or_reject`.
REJECT_LABEL = "?"


class SelectiveClassifier(ValidatedParamsMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """A classifier with a reject option: it abstains when its confidence is below a threshold chosen,
    on held-out data, for a target risk (error rate among the images it accepts).

    ``predict`` is the wrapped classifier's prediction for every image, so scikit-learn scorers,
    ``cross_validate`` and ``GridSearchCV`` measure the same model; the abstentions come from
    :meth:`accept` (a boolean mask) or :meth:`predict_or_reject` (labels, ``reject_label`` where it
    abstains).

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        Cloned and fitted by :meth:`fit`. To use an already fitted model as it is, wrap it in
        :class:`sklearn.frozen.FrozenEstimator`; then the data given to ``fit`` is the held-out data.
    target_risk : float, default=0.01
        Largest acceptable error rate among accepted images, in (0, 1).
    confidence_score : {"max_proba", "margin"}, default="max_proba"
        Confidence score: the top probability, or its margin over the second.
    calibrate : bool, default=True
        Temperature-scale the probabilities on the held-out data first
        (``CalibratedClassifierCV(FrozenEstimator(...), method="temperature")``); ``predict_proba`` and
        the confidence then use the scaled probabilities.
    bound : bool, default=False
        Choose the threshold so that the Clopper-Pearson 95% upper bound of the held-out risk, not the
        risk itself, meets the target (more abstentions, a target more often met on new data).
    validation_fraction : float, default=0.2
        Share of the training data held out (stratified) to choose the threshold when ``fit`` gets no
        ``X_val``/``y_val`` and the estimator is not frozen.
    reject_label : object, default="?"
        Label of abstentions in :meth:`predict_or_reject`.
    random_state : int or None, default=None
        Seed of the held-out split.

    Attributes
    ----------
    estimator_ : classifier
        The fitted classifier.
    calibrator_ : CalibratedClassifierCV or None
        The temperature scaling (``calibrate=True``).
    temperature_ : float or None
        Fitted temperature T (probabilities ``softmax(logits / T)``).
    threshold_ : float
        Images with confidence >= ``threshold_`` are accepted.
    validation_ : dict
        Coverage, risk and its upper bound on the held-out data at ``threshold_``.
    classes_ : ndarray
        Class labels.
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "target_risk": [Interval(Real, 0, 1, closed="neither")],
        "confidence_score": [StrOptions(set(SCORES))],
        "calibrate": ["boolean"],
        "bound": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "reject_label": [None, str, Integral, Real],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, *, target_risk=0.01, confidence_score="max_proba", calibrate=True, bound=False,
                 validation_fraction=0.2, reject_label=REJECT_LABEL, random_state=None):
        self.estimator = estimator
        self.target_risk = target_risk
        self.confidence_score = confidence_score
        self.calibrate = calibrate
        self.bound = bound
        self.validation_fraction = validation_fraction
        self.reject_label = reject_label
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, X_val=None, y_val=None, **fit_params):
        """Fit the classifier, then the temperature and the threshold on held-out data.

        Parameters
        ----------
        X, y : training data.
        X_val, y_val : optional
            Held-out data for the threshold (and temperature); also passed to the classifier's ``fit``
            when it accepts them (the PyTorch models stop early on it). Without them, a stratified
            ``validation_fraction`` of (X, y) is held out, or, for a frozen estimator, (X, y) is used.
        """
        from ..models._fitting import fit_with_validation  # loads torch: only when fitting

        y = _check_target(self, y)

        if (X_val is None) != (y_val is None):
            raise HwrError("give both X_val and y_val, or neither")
        estimator = clone(self.estimator)
        if X_val is None and not isinstance(estimator, FrozenEstimator):
            X, X_val, y, y_val = train_test_split(X, y, test_size=self.validation_fraction, stratify=y,
                                                  random_state=self.random_state)
        elif X_val is None:
            X_val, y_val = X, y
        fit_with_validation(estimator, X, y, X_val, y_val, **fit_params)
        self.estimator_ = estimator
        self.classes_ = np.asarray(estimator.classes_)
        if hasattr(estimator, "n_features_in_"):
            self.n_features_in_ = estimator.n_features_in_
        if self.calibrate:
            self.calibrator_, self.temperature_ = fit_temperature(estimator, X_val, y_val)
        else:
            self.calibrator_, self.temperature_ = None, None
        correct = np.asarray(self.estimator_.predict(X_val)).astype(str) == np.asarray(y_val).astype(str)
        scores = self.confidence(X_val)
        self.threshold_ = select_threshold(correct, scores, self.target_risk, bound=self.bound)
        self.validation_ = apply_threshold(correct, scores, self.threshold_)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = get_tags(self.estimator).input_tags.sparse  # what the wrapped model takes
        return tags

    def predict(self, X) -> np.ndarray:
        """The classifier's prediction for every image (no abstention)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities: temperature-scaled when ``calibrate=True``."""
        check_is_fitted(self, "estimator_")
        model = self.calibrator_ if self.calibrator_ is not None else self.estimator_
        return model.predict_proba(X)

    def confidence(self, X) -> np.ndarray:
        """The confidence score of every image (higher is surer)."""
        return confidence_scores(self.predict_proba(X), self.confidence_score)

    def accept(self, X) -> np.ndarray:
        """Boolean mask: True where the model answers, False where it abstains."""
        check_is_fitted(self, "threshold_")
        return self.confidence(X) >= self.threshold_

    def predict_or_reject(self, X) -> np.ndarray:
        """Predictions with ``reject_label`` where the model abstains (an object array)."""
        labels = np.asarray(self.predict(X)).astype(object)
        labels[~self.accept(X)] = self.reject_label
        return labels


def _check_target(estimator, y) -> np.ndarray:
    """Class labels as a 1-d array: None, continuous or multi-output targets refused as scikit-learn words it."""
    if y is None:
        raise HwrError(f"{type(estimator).__name__} requires y to be passed, but the target y is None")
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    return y
