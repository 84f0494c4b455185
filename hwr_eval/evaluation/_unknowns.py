"""Unknown input ("I don't know what that is"): scores that tell the known classes from anything else.

Every detector gives each image a **known-score**: higher means "more like the known classes". An image
is rejected as unknown when its score is below a threshold chosen on the **validation split of the known
classes only** (by default the score that keeps 95% of them), so neither the test split nor any unknown
image ever tunes it.

Detectors (:data:`DETECTORS`), and the models they apply to (:func:`detectors_for`):

* ``msp``: the maximum softmax probability (Hendrycks & Gimpel, 2017); every model with ``predict_proba``.
* ``max_logit``: the largest logit (Hendrycks et al., 2022); the PyTorch networks.
* ``energy``: ``T * logsumexp(logits / T)`` with ``T = 1``, the negative free energy (Liu et al., 2020);
  the networks and logistic regression (its ``decision_function`` values are its logits).
* ``mahalanobis``: minus half the smallest squared Mahalanobis distance of the penultimate-layer features
  to a class mean, with class-conditional Gaussians sharing one covariance fitted on the training split
  (Lee et al., 2018); the networks.
* ``knn``: minus the distance of the L2-normalised penultimate features to their k-th nearest training
  feature (Sun et al., 2022); the networks.
* ``layer_knn``: the same on every layer: each activation layer's output (feature maps averaged over
  their positions) is L2-normalised, the layers are joined with equal weight, and the score is minus the
  distance to the k-th nearest training image. Early layers respond to texture -- a filled blob has none
  of a pen stroke's edges -- which the penultimate features average away; the networks.
* ``layerwise_knn``: that distance in each layer on its own, standardised on known training images, and
  summed (:class:`LayerwiseKNNScore`): one layer that finds an image far from every training image is
  enough, where in ``layer_knn`` the other layers can outvote it; the networks.
* ``neighbour_distance``: minus the mean distance to the k neighbours a k-NN classifier votes with, in its
  own scaled pixel space; k-NN.

Metrics (:func:`unknown_metrics`): AUROC, AUPR with the known images as positives (``aupr_in``) and with
the unknown ones as positives (``aupr_out``), all from :mod:`sklearn.metrics`, and the share of unknown
images accepted when 95% of the known ones are (``fpr_at_95_tpr``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy.special import logsumexp, softmax
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
from sklearn.pipeline import Pipeline

from ..errors import HwrError
from ._feature_scores import DEFAULT_K, KNNScore, LayerwiseKNNScore, MahalanobisScore, joined_layers

#: Every detector, in table order.
DETECTORS = ("msp", "max_logit", "energy", "mahalanobis", "knn", "layer_knn", "layerwise_knn", "neighbour_distance")
#: Detectors that need statistics of the training split (its features).
FITTED_DETECTORS = ("mahalanobis", "knn", "layer_knn", "layerwise_knn")
#: Detectors that need every activation layer's output.
LAYER_DETECTORS = ("layer_knn", "layerwise_knn")
#: Share of the known validation images a threshold keeps by default.
DEFAULT_KEEP = 0.95
#: The TPR at which ``fpr_at_95_tpr`` is read.
TPR_LEVEL = 0.95
#: Columns of :func:`unknown_table`.
TABLE_COLUMNS = ("model", "detector", "unknown_set", "n_unknown", "auroc", "aupr_in", "aupr_out", "fpr_at_95_tpr",
                 "threshold", "known_test_kept", "unknown_rejected")


# --- which detector for which model ------------------------------------------------------------------------


def _final(model):
    return model.steps[-1][1] if isinstance(model, Pipeline) else model


def _kind(model) -> str:
    """``"net"``, ``"logreg"``, ``"knn"`` or ``"other"``: what a model offers to score with."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    from ..models import final_net

    final = _final(model)
    if final_net(model) is not None:
        return "net"
    if isinstance(final, LogisticRegression):
        return "logreg"
    if isinstance(final, KNeighborsClassifier):
        return "knn"
    return "other"


_BY_KIND = {
    "net": ("msp", "max_logit", "energy", "mahalanobis", "knn", "layer_knn", "layerwise_knn"),
    "logreg": ("msp", "energy"),
    "knn": ("msp", "neighbour_distance"),
}


def detectors_for(model) -> tuple[str, ...]:
    """The detectors that apply to ``model`` (a registry model, a bare estimator, or a pipeline ending in one)."""
    supported = _BY_KIND.get(_kind(model))
    if supported is None:
        supported = ("msp",) if hasattr(model, "predict_proba") else ()
    return supported


def default_detector(model) -> str:
    """The detector ``"auto"`` stands for, for a fitted ``model``: the one that separated best on the reference
    protocol for its kind of model (``bench/unknowns.py``, worst AUROC over every unknown set, lowercase
    letters included, 3 seeds).

    ``layer_knn`` for a network with hidden activation layers (the MLP and the CNNs: 0.859-0.966, where
    softmax scores rank some noise above real characters, and ``layerwise_knn``, which rejects more filled
    blobs, lets more lowercase letters through on the CNNs: 0.868-0.947); ``msp`` for every other model (logistic
    regression 0.57 against 0.25 for ``energy``, k-NN 0.70 against 0.13 for its neighbour distance, the
    linear net 0.59 against 0.08 for ``knn`` on its pixels).
    """
    from ..models import final_net
    from ..models._features import ACTIVATIONS

    net = final_net(model)
    if net is not None and any(isinstance(m, ACTIVATIONS) for m in net.module_.modules()):
        return "layer_knn"
    return "msp"


def check_detector(model, detector: str) -> str:
    """Return ``detector`` if it applies to ``model``; else raise a one-line :class:`HwrError`.

    An unknown name gets the closest known one; a detector that does not apply to the model names the
    ones that do.
    """
    if not isinstance(detector, str) or detector not in DETECTORS:
        close = difflib.get_close_matches(str(detector), DETECTORS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise HwrError(f"unknown detector {detector!r}{hint}; choose one of {', '.join(DETECTORS)}")
    supported = detectors_for(model)
    if detector not in supported:
        name = type(_final(model)).__name__
        raise HwrError(f"detector {detector!r} does not apply to {name}; it supports: {', '.join(supported) or 'none'}")
    return detector


# --- scores from logits and features -----------------------------------------------------------------------


def _logits(logits) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] < 1:
        raise HwrError(f"logits must have shape (n_samples, n_classes), got {logits.shape}")
    return logits


def msp_score(logits) -> np.ndarray:
    """Maximum softmax probability of each row of ``logits`` (n_samples, n_classes)."""
    return softmax(_logits(logits), axis=1).max(axis=1)


def max_logit_score(logits) -> np.ndarray:
    """The largest logit of each row."""
    return _logits(logits).max(axis=1)


def energy_score(logits, temperature: float = 1.0) -> np.ndarray:
    """``T * logsumexp(logits / T)``: the negative free energy (higher for known inputs)."""
    return temperature * logsumexp(_logits(logits) / temperature, axis=1)


# --- a model's outputs, and detectors fitted to one model ----------------------------------------------------


def model_outputs(model, X, detectors: Iterable[str]) -> dict[str, np.ndarray]:
    """What ``detectors`` need from a fitted ``model`` for rows ``X``, each computed once.

    Keys: ``"logits"`` (networks: their logits; logistic regression: ``decision_function``),
    ``"features"`` (networks: the penultimate layer), ``"layers"`` (networks, for :data:`LAYER_DETECTORS`:
    every activation layer's pooled output, or the penultimate features for a net without one), ``"proba"``
    (other models' ``predict_proba``, for ``msp``) and ``"neighbour_distance"`` (k-NN: the mean distance
    to its k neighbours).
    """
    from ..models import logits_and_features

    detectors = set(detectors)
    kind, out = _kind(model), {}
    if kind == "net" and detectors & set(LAYER_DETECTORS):
        out["logits"], out["features"], layers = logits_and_features(model, X, layers=True)
        out["layers"] = layers or [out["features"]]
    elif kind == "net":
        out["logits"], out["features"] = logits_and_features(model, X)
    elif kind == "logreg" and detectors & {"msp", "energy"}:
        logits = np.asarray(model.decision_function(X), dtype=np.float64)
        out["logits"] = np.column_stack([np.zeros_like(logits), logits]) if logits.ndim == 1 else logits
    elif "msp" in detectors:
        out["proba"] = np.asarray(model.predict_proba(X), dtype=np.float64)
    if "neighbour_distance" in detectors:
        scaled = model[:-1].transform(X) if isinstance(model, Pipeline) and len(model.steps) > 1 else X
        distances, _ = _final(model).kneighbors(scaled)
        out["neighbour_distance"] = distances.mean(axis=1)
    return out


class KnownScorer:
    """One detector fitted to one model: ``score(outputs)`` gives the known-score of each image.

    Build it with :func:`fit_scorer`. ``score`` takes :func:`model_outputs` (so one forward pass serves
    every detector); :meth:`score_images` computes them itself.
    """

    def __init__(self, model, detector: str, stats=None):
        self.model = model
        self.detector = detector
        self.stats = stats

    def score(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Known-scores (higher = more like the known classes) from a model's outputs."""
        d = self.detector
        if d == "msp":
            return msp_score(outputs["logits"]) if "logits" in outputs else np.asarray(outputs["proba"]).max(axis=1)
        if d == "max_logit":
            return max_logit_score(outputs["logits"])
        if d == "energy":
            return energy_score(outputs["logits"])
        if d == "neighbour_distance":
            return -np.asarray(outputs["neighbour_distance"], dtype=np.float64)
        if d == "layer_knn":
            return self.stats.score(joined_layers(outputs["layers"]))
        if d == "layerwise_knn":
            return self.stats.score(outputs["layers"])
        return self.stats.score(outputs["features"])

    def score_images(self, X) -> np.ndarray:
        """Known-scores of rows ``X`` (as ``model.predict`` takes them)."""
        return self.score(model_outputs(self.model, X, [self.detector]))


def fit_scorer(model, detector: str, X_train=None, y_train=None, *, k: int = DEFAULT_K,
               train_outputs: Mapping[str, np.ndarray] | None = None) -> KnownScorer:
    """A :class:`KnownScorer` for a fitted ``model``; ``mahalanobis`` and ``knn`` fit on the training split.

    Parameters
    ----------
    model : fitted classifier
    detector : str
        One of :func:`detectors_for` ``(model)``.
    X_train, y_train : array-like, optional
        The training split (its known images); needed by ``mahalanobis`` (with labels), ``knn`` and
        ``layer_knn``.
    k : int, default=50
        Neighbours of the ``knn`` and ``layer_knn`` detectors.
    train_outputs : mapping, optional
        :func:`model_outputs` of ``X_train``, when already computed.

    Raises
    ------
    HwrError
        An unknown or inapplicable detector, or missing training data, in one line.
    """
    check_detector(model, detector)
    stats = None
    if detector in FITTED_DETECTORS:
        if X_train is None and train_outputs is None:
            raise HwrError(f"detector {detector!r} is fitted on the training split: give X_train and y_train")
        train = train_outputs if train_outputs is not None else model_outputs(model, X_train, [detector])
        features = joined_layers(train["layers"]) if detector == "layer_knn" else train["features"]
        if detector == "layerwise_knn":
            stats = LayerwiseKNNScore(k).fit(train["layers"])
        elif detector == "mahalanobis":
            if y_train is None:
                raise HwrError("detector 'mahalanobis' needs the training labels y_train")
            stats = MahalanobisScore().fit(features, y_train)
        else:
            stats = KNNScore(k).fit(features)
    return KnownScorer(model, detector, stats)


# --- thresholds and metrics ----------------------------------------------------------------------------------


def check_keep(keep: float) -> float:
    """``keep`` as a float; a one-line :class:`HwrError` unless 0 < keep <= 1."""
    if isinstance(keep, bool) or not isinstance(keep, (int, float, np.floating, np.integer)) or not 0 < keep <= 1:
        raise HwrError(f"keep must be a share of known images in (0, 1], got {keep!r}")
    return float(keep)


def known_threshold(val_scores: Sequence[float], keep: float = DEFAULT_KEEP) -> float:
    """The threshold that keeps (at least) ``keep`` of the known validation images.

    Images with a score >= the threshold are accepted as known. It is the ``ceil(keep * n)``-th highest
    validation score, so ties may keep a little more. Call it with the validation split's scores only.
    """
    keep = check_keep(keep)
    scores = np.asarray(val_scores, dtype=np.float64).ravel()
    if scores.size == 0 or not np.isfinite(scores).all():
        raise HwrError("no validation scores, or NaN/infinite ones, to choose the unknown threshold on")
    n_kept = max(1, int(np.ceil(keep * scores.size - 1e-9)))
    return float(np.sort(scores)[::-1][n_kept - 1])


def unknown_metrics(known_scores: Sequence[float], unknown_scores: Sequence[float]) -> dict[str, float]:
    """How well known-scores separate known from unknown images.

    Returns
    -------
    dict
        ``auroc``; ``aupr_in`` (average precision, known images as positives); ``aupr_out`` (unknown
        images as positives, scores negated); ``fpr_at_95_tpr``: the share of unknown images scoring at
        least as high as the threshold that first keeps 95% of the known ones.
    """
    known = np.asarray(known_scores, dtype=np.float64).ravel()
    unknown = np.asarray(unknown_scores, dtype=np.float64).ravel()
    if known.size == 0 or unknown.size == 0:
        raise HwrError(f"need known and unknown images; got {known.size} and {unknown.size}")
    y = np.r_[np.ones(known.size), np.zeros(unknown.size)]
    scores = np.r_[known, unknown]
    fpr, tpr, _ = roc_curve(y, scores, drop_intermediate=False)
    return {
        "auroc": float(roc_auc_score(y, scores)),
        "aupr_in": float(average_precision_score(y, scores)),
        "aupr_out": float(average_precision_score(1 - y, -scores)),
        "fpr_at_95_tpr": float(fpr[np.searchsorted(tpr, TPR_LEVEL - 1e-12, side="left")]),
    }


__all__ = ["DEFAULT_K", "DEFAULT_KEEP", "DETECTORS", "FITTED_DETECTORS", "LAYER_DETECTORS", "TABLE_COLUMNS",
           "TPR_LEVEL", "KNNScore", "KnownScorer", "LayerwiseKNNScore", "MahalanobisScore", "check_detector",
           "check_keep", "default_detector", "detectors_for", "energy_score", "fit_scorer", "known_threshold",
           "max_logit_score", "model_outputs", "msp_score", "unknown_metrics"]
