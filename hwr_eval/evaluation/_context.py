"""Context: predicting within a known subset of classes ("this field holds digits"), and measuring how
much of a model's error is digit/letter confusion that such context removes.

Restriction renormalises the predicted probabilities over the allowed classes, so it works with any
model that has ``predict_proba``, without retraining.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from .._validation import ValidatedParamsMixin
from ..errors import HwrError

#: Named class groups usable wherever a context is expected.
GROUPS = ("digits", "letters")
#: The digit/letter look-alike pairs the study names; reported in both directions.
LOOKALIKE_PAIRS = (("O", "0"), ("I", "1"), ("S", "5"), ("Z", "2"), ("B", "8"))


def class_group(label) -> str:
    """``"digits"`` for a digit class, ``"letters"`` for anything else (upper- or lower-case letters)."""
    return "digits" if str(label).isdigit() else "letters"


def resolve_context(context, classes: Sequence) -> np.ndarray:
    """The allowed classes of ``context``, in ``classes`` order: the one parser of class contexts.

    ``context`` is a group (``"digits"``, ``"letters"``), a class-set name (``"36"``, ``"62"``), a
    comma-separated list (``"0,1,A"``, as on the command line), a string of characters (``"01A"``) or a
    sequence of labels. A lower-case letter means its upper-case class when only that one exists.
    Raises :class:`HwrError` for an empty context or labels that are not among ``classes``.
    """
    from ..data._sources import CLASS_SETS  # the class-set names of --classes

    classes = np.asarray(classes)
    names = classes.astype(str)
    if isinstance(context, str):
        text = context.strip()
        if text in GROUPS:
            allowed = names[[class_group(c) == text for c in names]]
            if allowed.size == 0:
                raise HwrError(f"context {text!r}: none of the model's classes are {text}")
            return classes[np.isin(names, allowed)]
        if text in CLASS_SETS and len(text) > 1:
            context = list(CLASS_SETS[text])
        elif "," in text:
            context = [c.strip() for c in text.split(",") if c.strip()]
        else:
            context = list(text)
    wanted = [str(c) for c in np.atleast_1d(np.asarray(context, dtype=object))] if context is not None else []
    known = set(names)
    wanted = [c.upper() if c not in known and c.upper() in known else c for c in wanted if c]
    if not wanted:
        raise HwrError("context is empty: give 'digits', 'letters', a class set such as 36, or labels such as 0,1,A")
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise HwrError(f"context classes {', '.join(map(repr, unknown[:5]))} are not among the classes "
                       f"({''.join(names) if len(names) <= 62 else len(names)})")
    return classes[np.isin(names, wanted)]


def restrict_proba(proba: np.ndarray, classes: Sequence, allowed) -> np.ndarray:
    """Probabilities renormalised over the ``allowed`` classes (zero elsewhere); rows still sum to one.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
        Predicted probabilities, columns in ``classes`` order.
    classes : sequence
        The column labels.
    allowed : "digits", "letters", sequence of labels, or bool mask of shape (n_samples, n_classes)
        The context; a mask allows a different set of classes per image.

    Notes
    -----
    A row with no probability on any allowed class (possible for kNN) becomes uniform over the
    allowed classes, so its prediction is the first allowed class rather than a division by zero.
    """
    proba = np.asarray(proba, dtype=np.float64)
    classes = np.asarray(classes)
    if proba.ndim != 2 or proba.shape[1] != classes.size:
        raise HwrError(f"probabilities have shape {proba.shape}, expected (n_samples, {classes.size})")
    if isinstance(allowed, np.ndarray) and allowed.dtype == bool:
        if allowed.shape != proba.shape:
            raise HwrError(f"context mask has shape {allowed.shape}, expected {proba.shape}")
        mask = allowed
    else:
        mask = np.broadcast_to(np.isin(classes, resolve_context(allowed, classes)), proba.shape)
    out = np.where(mask, proba, 0.0)
    total = out.sum(axis=1, keepdims=True)
    uniform = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), uniform)


def context_metrics(y_true: Sequence, y_pred: Sequence, proba: np.ndarray, classes: Sequence[str],
                    n_pairs: int = 10) -> dict:
    """How much error knowing each image's group (digit or letter) removes.

    Every test image is restricted to its own group: a digit may only be predicted as a digit, a letter
    as a letter. ``cross_group_errors`` counts the errors whose prediction is in the wrong group (the O/0
    kind); ``accuracy_with_context`` is the accuracy after restriction.

    Returns
    -------
    dict
        ``accuracy``, ``accuracy_with_context``, ``errors``, ``cross_group_errors``,
        ``cross_group_share`` (of all errors), ``errors_with_context``, ``per_group`` (accuracy with and
        without context per group), ``lookalikes`` (errors per study pair, both directions) and
        ``top_cross_group`` (the most frequent cross-group confusions).
    """
    y_true = np.asarray(y_true).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    classes = np.asarray(classes).astype(str)
    groups = np.array([class_group(c) for c in classes])
    true_group = np.array([class_group(c) for c in y_true])
    mask = groups[None, :] == true_group[:, None]
    restricted = classes[restrict_proba(proba, classes, mask).argmax(axis=1)]
    wrong = y_pred != y_true
    cross = wrong & (np.array([class_group(c) for c in y_pred]) != true_group)
    n_errors = int(wrong.sum())
    per_group = {}
    for group in GROUPS:
        rows = true_group == group
        if rows.any():
            per_group[group] = {"n": int(rows.sum()), "accuracy": float(np.mean(~wrong[rows])),
                                "accuracy_with_context": float(np.mean(restricted[rows] == y_true[rows]))}
    lookalikes = {}
    for a, b in LOOKALIKE_PAIRS:
        if a in classes and b in classes:
            lookalikes[f"{a}/{b}"] = int(np.sum((y_true == a) & (y_pred == b)) + np.sum((y_true == b) & (y_pred == a)))
    counted = Counter(zip(y_true[cross].tolist(), y_pred[cross].tolist()))
    # Most frequent first; ties in (true, predicted) order so the list is deterministic.
    top = [{"true": t, "predicted": p, "count": n}
           for (t, p), n in sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:n_pairs]]
    return {
        "groups": sorted(set(true_group)),
        "accuracy": float(np.mean(~wrong)),
        "accuracy_with_context": float(np.mean(restricted == y_true)),
        "errors": n_errors,
        "cross_group_errors": int(cross.sum()),
        "cross_group_share": float(cross.sum() / n_errors) if n_errors else 0.0,
        "errors_with_context": int(np.sum(restricted != y_true)),
        "per_group": per_group,
        "lookalikes": lookalikes,
        "top_cross_group": top,
    }


def restricted_metrics(y_true: Sequence, proba: np.ndarray, classes: Sequence[str], context) -> dict:
    """Accuracy on the test images of the ``context`` classes, without and with restriction to them."""
    y_true = np.asarray(y_true).astype(str)
    classes = np.asarray(classes).astype(str)
    allowed = resolve_context(context, classes)
    rows = np.isin(y_true, allowed)
    if not rows.any():
        raise HwrError(f"no test image belongs to the context classes {', '.join(allowed[:5])}")
    plain = classes[np.asarray(proba)[rows].argmax(axis=1)]
    within = classes[restrict_proba(np.asarray(proba)[rows], classes, allowed).argmax(axis=1)]
    return {"allowed": allowed.tolist(), "n": int(rows.sum()),
            "accuracy": float(np.mean(plain == y_true[rows])),
            "accuracy_with_context": float(np.mean(within == y_true[rows]))}


class ContextClassifier(ValidatedParamsMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Predict only among allowed classes by renormalising a classifier's probabilities over them.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        Cloned and fitted by :meth:`fit`; wrap an already fitted model in
        :class:`sklearn.frozen.FrozenEstimator` to use it as it is.
    context : "digits", "letters" or list of labels, default="digits"
        The allowed classes.

    Attributes
    ----------
    estimator_ : classifier
        The fitted classifier.
    classes_ : ndarray
        All of the classifier's classes (``predict_proba`` has a column for each, zero when not allowed).
    allowed_ : ndarray
        The allowed classes.

    Examples
    --------
    >>> from sklearn.frozen import FrozenEstimator
    >>> digits_only = ContextClassifier(FrozenEstimator(model), context="digits").fit(X, y)  # doctest: +SKIP
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "context": [str, "array-like"],
    }

    def __init__(self, estimator, context="digits"):
        self.estimator = estimator
        self.context = context

    def fit(self, X, y, **fit_params):
        """Fit a clone of ``estimator`` on (X, y); extra keywords (e.g. ``X_val``) go to its ``fit``."""
        from ..models._fitting import fit_with_validation  # loads torch: only when fitting
        from ._abstain import _check_target

        self._validate_params()
        y = _check_target(self, y)
        estimator = clone(self.estimator)
        fit_with_validation(estimator, X, y, **fit_params)
        if not hasattr(estimator, "predict_proba"):
            raise HwrError(f"{type(estimator).__name__} has no predict_proba; context needs probabilities")
        self.estimator_ = estimator
        self.classes_ = np.asarray(estimator.classes_)
        self.allowed_ = resolve_context(self.context, self.classes_)
        if hasattr(estimator, "n_features_in_"):
            self.n_features_in_ = estimator.n_features_in_
        return self

    def predict_proba(self, X) -> np.ndarray:
        """The classifier's probabilities renormalised over the allowed classes."""
        check_is_fitted(self, "estimator_")
        return restrict_proba(self.estimator_.predict_proba(X), self.classes_, self.allowed_)

    def predict(self, X) -> np.ndarray:
        """The most probable allowed class."""
        proba = self.predict_proba(X)  # first: an unfitted classifier raises NotFittedError here
        return self.classes_[proba.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = get_tags(self.estimator).input_tags.sparse  # what the wrapped model takes
        return tags
