"""``UnknownRejector``: any classifier that also answers "unknown" for input of none of its classes."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, _fit_context, clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import ValidatedParamsMixin
from ..errors import HwrError
from ._abstain import _check_target
from ._unknowns import DEFAULT_K, DEFAULT_KEEP, check_detector, default_detector, fit_scorer, known_threshold

#: Label :meth:`UnknownRejector.predict` gives an image it rejects.
UNKNOWN_LABEL = "unknown"


class UnknownRejector(ValidatedParamsMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """A classifier that says "unknown" for input belonging to none of its classes.

    A detector (:data:`~hwr_eval.evaluation.DETECTORS`) gives each image a known-score; images scoring
    below a threshold chosen on known validation images (keeping ``keep`` of them) are unknown.
    ``predict`` returns the class, or ``unknown_label`` for those; ``predict_proba`` is the wrapped
    model's. The fitted rejector is its own ``unknown_detector_`` (the hook ``hwr-eval serve`` reads).

    Parameters
    ----------
    estimator : classifier
        A registry model (``make_model("cnn")``) or any classifier the detector applies to (see
        :func:`~hwr_eval.evaluation.detectors_for`).
    detector : str, default="auto"
        ``"auto"``: the detector that did best on the reference protocol for the fitted model's kind
        (:func:`~hwr_eval.evaluation.default_detector`: ``layer_knn`` for a network with hidden layers,
        else ``msp``; ``scorer_.detector`` says which). Or one of ``msp``, ``max_logit``, ``energy``,
        ``mahalanobis``, ``knn``, ``layer_knn`` (networks), ``msp``/``energy`` (logistic regression),
        ``msp``/``neighbour_distance`` (k-NN).
    keep : float, default=0.95
        Share of the known validation images the threshold keeps, in (0, 1].
    k : int, default=50
        Neighbours of the ``knn`` and ``layer_knn`` detectors.
    prefit : {"auto", True, False}, default="auto"
        ``True``: ``estimator`` is already fitted and used as it is (also for a
        :class:`~sklearn.frozen.FrozenEstimator`); ``False``: a clone is fitted; ``"auto"``: ``True`` when
        ``estimator`` is fitted. Either way ``fit``'s data then fits the detector and its threshold.
    validation_fraction : float, default=0.2
        Share of ``X`` held out (stratified) for the threshold when ``fit`` gets no ``X_val``.
    unknown_label : str, default="unknown"
        What :meth:`predict` returns for a rejected image.
    random_state : int or None, default=None
        Seed of that held-out split.

    Attributes
    ----------
    estimator_ : classifier
        The fitted classifier.
    scorer_ : KnownScorer
        The detector fitted to it (training-split statistics for ``mahalanobis``, ``knn``, ``layer_knn``).
    threshold_ : float
        Images with a known-score below it are unknown.
    classes_ : ndarray
        The known classes.
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "detector": [str],
        "keep": [Interval(Real, 0, 1, closed="right")],
        "k": [Interval(Integral, 1, None, closed="left")],
        "prefit": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "unknown_label": [str],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, *, detector="auto", keep=DEFAULT_KEEP, k=DEFAULT_K, prefit="auto",
                 validation_fraction=0.2, unknown_label=UNKNOWN_LABEL, random_state=None):
        self.estimator = estimator
        self.detector = detector
        self.keep = keep
        self.k = k
        self.prefit = prefit
        self.validation_fraction = validation_fraction
        self.unknown_label = unknown_label
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, X_val=None, y_val=None, **fit_params) -> UnknownRejector:
        """Fit the classifier (unless prefit), the detector on ``X``, and the threshold on ``X_val``.

        Parameters
        ----------
        X, y : array-like
            Training data: the classifier's (unless prefit) and the detector statistics'.
        X_val, y_val : array-like, optional
            Known held-out images for the threshold; also the early-stopping split of the PyTorch
            models. Without them a stratified ``validation_fraction`` of ``(X, y)`` is held out. With a
            prefit model give them: images it was trained on score as more "known" than new ones (k-NN
            finds a training image at distance 0), and a threshold chosen on them rejects too little.
        **fit_params
            Passed to the classifier's ``fit``.
        """
        from ..models import final_net
        from ..models._fitting import fit_with_validation  # loads torch: only when fitting

        y = _check_target(self, y)
        if (X_val is None) != (y_val is None):
            raise HwrError("give both X_val and y_val, or neither")
        prefit = self._prefit()
        model = self.estimator.estimator if isinstance(self.estimator, FrozenEstimator) else self.estimator
        if self.detector != "auto":
            check_detector(model, self.detector)  # before any training
        elif final_net(model) is None:
            check_detector(model, "msp")  # what "auto" takes for a model that is not a network
        if X_val is None:
            X, X_val, y, y_val = train_test_split(X, y, test_size=self.validation_fraction, stratify=y,
                                                  random_state=self.random_state)
        if prefit:
            estimator = model
        else:
            estimator = fit_with_validation(clone(self.estimator), X, y, X_val, y_val, **fit_params)
            estimator = estimator.estimator if isinstance(estimator, FrozenEstimator) else estimator
        detector = default_detector(estimator) if self.detector == "auto" else self.detector
        scorer = fit_scorer(estimator, detector, X, y, k=self.k)
        return self._set_fitted(estimator, scorer, scorer.score_images(X_val))

    def _set_fitted(self, estimator, scorer, val_scores) -> UnknownRejector:
        """The fitted state from a fitted classifier, its fitted scorer and the validation known-scores
        (``fit`` computes them; a run that scored them already passes them here)."""
        self.estimator_ = estimator
        self.classes_ = np.asarray(estimator.classes_)
        if hasattr(estimator, "n_features_in_"):
            self.n_features_in_ = estimator.n_features_in_
        self.scorer_ = scorer
        self.threshold_ = known_threshold(val_scores, self.keep)
        return self

    def _prefit(self) -> bool:
        if isinstance(self.estimator, FrozenEstimator) or self.prefit is True:
            try:
                check_is_fitted(self.estimator)
            except NotFittedError:
                raise HwrError(f"prefit=True but the {type(self.estimator).__name__} is not fitted; fit it first or "
                               "use prefit='auto'") from None
            return True
        if self.prefit is False:
            return False
        try:
            check_is_fitted(self.estimator)
        except NotFittedError:
            return False
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = get_tags(self.estimator).input_tags.sparse
        return tags

    def score_known(self, X) -> np.ndarray:
        """Known-score of every image (higher = more like the known classes)."""
        check_is_fitted(self, "scorer_")
        return self.scorer_.score_images(X)

    def is_unknown(self, X) -> np.ndarray:
        """Boolean mask: True where the image is unknown (known-score below ``threshold_``)."""
        check_is_fitted(self, "threshold_")
        return self.score_known(X) < self.threshold_

    def predict(self, X) -> np.ndarray:
        """The class of each image, or ``unknown_label`` where it is unknown (an object array)."""
        check_is_fitted(self, "estimator_")
        labels = np.asarray(self.estimator_.predict(X)).astype(object)
        labels[self.is_unknown(X)] = self.unknown_label
        return labels

    def predict_proba(self, X) -> np.ndarray:
        """The wrapped classifier's probabilities over the known classes."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    @property
    def unknown_detector_(self) -> UnknownRejector:
        """This fitted rejector, as the unknown-input hook of ``hwr-eval serve`` (it has ``is_unknown``)."""
        check_is_fitted(self, "threshold_")
        return self


__all__ = ["UNKNOWN_LABEL", "UnknownRejector"]
