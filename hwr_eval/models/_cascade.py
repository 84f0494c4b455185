"""A two-stage classifier for the pair that handwriting confuses most: the letter O and the digit 0.

The main model sees every class. Whenever its top class is one of the pair, a sub-model trained only on
the pair's images makes the call between the two.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import ValidatedParamsMixin
from ..errors import HwrError
from ._fitting import fit_with_validation
from ._labels import check_label_types


class CascadeClassifier(ValidatedParamsMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Main classifier on all classes plus a specialist that decides between two confusable classes.

    Parameters
    ----------
    main : estimator or None, default=None
        Classifier for all classes (cloned before fitting); None uses ``HwrNet()`` (the default CNN).
        Its parameters are tunable as ``main__<param>``.
    sub : estimator or None, default=None
        Classifier trained on the two ``pair`` classes only; None uses ``HwrNet()``. Tunable as
        ``sub__<param>``.
    pair : tuple of two labels, default=("O", "0")
        The confusable classes; both must occur in ``y``.

    Attributes
    ----------
    main_, sub_ : estimator
        The fitted main and sub-models.
    classes_ : ndarray
        Sorted class labels; ``predict_proba`` columns follow it.
    n_features_in_ : int
        Number of input features seen in ``fit``.

    Notes
    -----
    ``predict_proba`` keeps the main model's probabilities, except on rows the sub-model decides: there
    the pair's total probability is split in the sub-model's proportions. Should another class then
    outscore the sub-model's choice, the other classes are scaled down (and the row renormalised) so
    that ``predict`` is always the argmax of ``predict_proba``.
    """

    _parameter_constraints = {
        "main": [HasMethods(["fit", "predict_proba"]), None],
        "sub": [HasMethods(["fit", "predict_proba"]), None],
        "pair": ["array-like"],
    }

    def __init__(self, main=None, sub=None, pair=("O", "0")):
        self.main = main
        self.sub = sub
        self.pair = pair

    def _default(self, estimator):
        if estimator is not None:
            return clone(estimator)
        from ._net import HwrNet

        return HwrNet()

    def fit(self, X, y, X_val=None, y_val=None) -> CascadeClassifier:
        """Fit the main model on all data and the sub-model on the rows of the ``pair`` classes.

        ``X_val`` / ``y_val`` (optional) reach both models (the sub-model gets the pair's rows) for early
        stopping when they accept validation data.
        """
        self._validate_params()
        check_label_types(y)
        X, y = validate_data(self, X, y, reset=True, dtype=None)
        check_classification_targets(y)
        if len(self.pair) != 2 or self.pair[0] == self.pair[1]:
            raise HwrError(f"pair must name two different classes, got {self.pair!r}")
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise HwrError(f"need at least two classes to train a classifier; got 1 class: {self.classes_.tolist()!r}")
        missing = [c for c in self.pair if not np.isin(c, self.classes_)]
        if missing:
            shown = ", ".join(map(str, self.classes_[:12])) + (" ..." if len(self.classes_) > 12 else "")
            raise HwrError(
                f"the cascade needs both {self.pair[0]!r} and {self.pair[1]!r} among the classes; "
                f"missing {', '.join(map(repr, missing))} (classes: {shown})"
            )
        if X_val is not None:
            X_val = validate_data(self, X_val, reset=False, dtype=None)
            y_val = np.asarray(y_val)
        self.main_ = fit_with_validation(self._default(self.main), X, y, X_val, y_val)
        in_pair = np.isin(y, self.pair)
        sub_val = (None, None)
        if X_val is not None:
            val_in_pair = np.isin(y_val, self.pair)
            if len(np.unique(y_val[val_in_pair])) == 2:
                sub_val = (X_val[val_in_pair], y_val[val_in_pair])
        self.sub_ = fit_with_validation(self._default(self.sub), X[in_pair], y[in_pair], *sub_val)
        return self

    def _routed(self, proba: np.ndarray) -> np.ndarray:
        main_classes = self.main_.classes_
        top = main_classes[proba.argmax(axis=1)]
        return np.isin(top, self.pair)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (columns follow ``classes_``), the pair split by the sub-model."""
        check_is_fitted(self, "sub_")
        X = validate_data(self, X, reset=False, dtype=None)
        main_proba = self.main_.predict_proba(X)
        # Align the main model's columns with classes_ (identical unless a custom main drops a class).
        proba = np.zeros((len(X), len(self.classes_)), dtype=np.float64)
        proba[:, np.searchsorted(self.classes_, self.main_.classes_)] = main_proba
        routed = self._routed(main_proba)
        if not routed.any():
            return proba
        pair_cols = np.searchsorted(self.classes_, np.asarray(self.pair, dtype=self.classes_.dtype))
        sub_proba = self.sub_.predict_proba(X[routed])
        sub_cols = np.searchsorted(self.sub_.classes_, np.asarray(self.pair, dtype=self.sub_.classes_.dtype))
        rows = proba[routed]
        mass = rows[:, pair_cols].sum(axis=1, keepdims=True)
        rows[:, pair_cols] = mass * sub_proba[:, sub_cols]
        # The sub-model's choice must stay the row's argmax: shrink the other classes where needed.
        winner = rows[:, pair_cols].max(axis=1)
        others = np.ones(rows.shape[1], dtype=bool)
        others[pair_cols] = False
        best_other = rows[:, others].max(axis=1) if others.any() else np.zeros(len(rows))
        scale = np.where(best_other >= winner, 0.999 * winner / np.maximum(best_other, 1e-12), 1.0)
        rows[:, others] *= scale[:, None]
        rows /= rows.sum(axis=1, keepdims=True)
        proba[routed] = rows
        return proba

    def predict(self, X) -> np.ndarray:
        """Predicted labels: the main model's, with the pair decided by the sub-model."""
        proba = self.predict_proba(X)  # first: an unfitted cascade raises NotFittedError here
        return self.classes_[proba.argmax(axis=1)]
