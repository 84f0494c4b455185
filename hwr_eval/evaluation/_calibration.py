"""Calibration: do the predicted probabilities mean what they say? And temperature scaling to fix them.

Top-label calibration: the confidence of an image is its highest probability, and a calibrated model
is right on about 90% of the images it gives 90%. Errors are measured over 15 equal-width bins of
confidence (the usual choice since Guo et al., 2017). Temperature scaling is scikit-learn's own
``CalibratedClassifierCV(FrozenEstimator(model), method="temperature")``, fitted on the validation split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss

from ..errors import HwrError

#: Equal-width confidence bins of the expected and maximum calibration errors.
N_BINS = 15


def _check(y_true, proba, classes) -> tuple[np.ndarray, np.ndarray, list[str]]:
    y_true = np.asarray(y_true).astype(str)
    proba = np.asarray(proba, dtype=np.float64)
    classes = [str(c) for c in classes]
    if proba.shape != (y_true.size, len(classes)):
        raise HwrError(f"probabilities have shape {proba.shape}, expected {(y_true.size, len(classes))}")
    if y_true.size == 0:
        raise HwrError("no images to evaluate")
    unknown = sorted(set(y_true) - set(classes))
    if unknown:
        raise HwrError(f"labels {unknown[:5]} are not among the classes")
    return y_true, proba, classes


def reliability_bins(y_true: Sequence, proba: np.ndarray, classes: Sequence[str], n_bins: int = N_BINS) -> dict:
    """Top-label reliability table: per equal-width confidence bin, images, mean confidence, accuracy.

    Returns
    -------
    dict
        ``edges`` (n_bins + 1 values from 0 to 1), and per bin ``count``, ``confidence`` and
        ``accuracy`` (``None`` for empty bins). A confidence of exactly 1 falls in the last bin.
    """
    y_true, proba, classes = _check(y_true, proba, classes)
    confidence = proba.max(axis=1)
    correct = np.asarray(classes)[proba.argmax(axis=1)] == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    conf_sum = np.bincount(which, weights=confidence, minlength=n_bins)
    right = np.bincount(which, weights=correct, minlength=n_bins)
    filled = count > 0
    return {
        "edges": edges.tolist(),
        "count": count.astype(int).tolist(),
        "confidence": [float(c / k) if k else None for c, k in zip(conf_sum, count)],
        "accuracy": [float(r / k) if k else None for r, k in zip(right, count)],
        "_gap": np.abs(np.divide(conf_sum - right, count, out=np.zeros(n_bins), where=filled)),
        "_filled": filled,
    }


def calibration_metrics(y_true: Sequence, proba: np.ndarray, classes: Sequence[str], n_bins: int = N_BINS) -> dict:
    """ECE, MCE (top-label, ``n_bins`` equal-width bins), Brier score, log loss and the reliability table.

    ``ece`` weighs each bin's |accuracy - confidence| by its share of images; ``mce`` is the largest gap
    over non-empty bins. ``brier`` is scikit-learn's multi-class Brier score (``brier_score_loss``:
    mean squared distance to the one-hot label, halved so it lies in [0, 1]).
    """
    y_true, proba, classes = _check(y_true, proba, classes)
    bins = reliability_bins(y_true, proba, classes, n_bins)
    gap, filled = bins.pop("_gap"), bins.pop("_filled")
    weights = np.asarray(bins["count"]) / y_true.size
    # Float32 probabilities sum to one only to about 1e-7, short of scikit-learn's float64 checks.
    clipped = np.clip(proba, 1e-15, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)
    return {
        "ece": float(np.sum(weights * gap)),
        "mce": float(gap[filled].max()),
        "brier": float(brier_score_loss(y_true, clipped, labels=classes)),
        "log_loss": float(log_loss(y_true, clipped, labels=classes)),
        "accuracy": float(np.mean(np.asarray(classes)[proba.argmax(axis=1)] == y_true)),
        "reliability": bins,
    }


def fit_temperature(model, X_val, y_val):
    """Temperature scaling of a fitted classifier on validation data, by scikit-learn.

    Returns ``(calibrated, temperature)``: a fitted ``CalibratedClassifierCV(FrozenEstimator(model),
    method="temperature")`` (its ``predict_proba`` gives the scaled probabilities; the model itself is not
    refitted) and the fitted temperature T (probabilities are ``softmax(logits / T)``; T > 1 softens an
    over-confident model).

    Any number of validation images per class works, one included: the frozen model's predictions do not
    depend on cross-validation folds, so one split holding every image replaces scikit-learn's default
    5 folds (which demand 5 images of every class and give the same temperature). Raises
    :class:`HwrError` for a model without ``predict_proba``, fewer than two validation images or labels,
    and validation labels the model does not know.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    if not hasattr(model, "predict_proba"):
        raise HwrError(f"{type(model).__name__} has no predict_proba, so it cannot be temperature-scaled")
    y_val = np.asarray(y_val)
    if len(y_val) < 2 or len(np.unique(y_val)) < 2:
        raise HwrError(f"temperature scaling needs validation images of at least two classes, got {len(y_val)} "
                       f"image(s) of {len(np.unique(y_val))} class(es)")
    known = getattr(model, "classes_", None)
    if known is not None:
        unknown = sorted(set(y_val.astype(str)) - {str(c) for c in known})
        if unknown:
            raise HwrError(f"validation labels {unknown[:5]} are not among the model's classes: cannot calibrate")
    everything = np.arange(len(y_val))
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="temperature", cv=[(everything, everything)])
    calibrated.fit(X_val, y_val)
    beta = float(calibrated.calibrated_classifiers_[0].calibrators[0].beta_)
    return calibrated, 1.0 / beta


def temperature_scale_proba(model, X, temperature: float) -> np.ndarray:
    """Probabilities of a fitted ``model`` scaled by a recorded ``temperature``, as scikit-learn scales them.

    Reproduces ``CalibratedClassifierCV(FrozenEstimator(model), method="temperature").predict_proba``
    from the temperature alone (e.g. ``results["models"][name]["selective"]["temperature"]``): the
    logits are ``decision_function`` when the model has one (logistic regression), else
    ``log(predict_proba + 1e-12)``; the result is ``softmax(logits / temperature)``, columns in
    ``model.classes_`` order.
    """
    from scipy.special import softmax

    temperature = float(temperature)
    if not np.isfinite(temperature) or temperature <= 0:
        raise HwrError(f"temperature must be a positive number, got {temperature!r}")
    if hasattr(model, "decision_function"):
        logits = np.asarray(model.decision_function(X), dtype=np.float64)
    elif hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        looks_like_proba = proba.ndim == 2 and proba.shape[1] > 1 and np.all((proba >= 0) & (proba <= 1)) \
            and np.allclose(proba.sum(axis=1), 1.0)
        logits = np.log(proba + 1e-12) if looks_like_proba else proba
    else:
        raise HwrError(f"{type(model).__name__} has no predict_proba, so it cannot be temperature-scaled")
    if logits.ndim == 1 or logits.shape[1] == 1:  # binary decision_function: logits (-x, x)
        logits = logits.reshape(-1, 1)
        logits = np.hstack([-logits, logits])
    return softmax(logits / temperature, axis=1)
