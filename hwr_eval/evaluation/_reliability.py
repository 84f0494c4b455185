"""The ``selective``, ``calibration`` and ``context`` records of one model in ``results.json``.

Everything tunable (the temperature, the rejection threshold) is fitted on the validation split and
only then applied to the test split, whose numbers are reported as they come.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import HwrError
from ._calibration import N_BINS, calibration_metrics, fit_temperature
from ._context import context_metrics, restricted_metrics
from ._selective import (
    DEFAULT_TARGET_RISK,
    SCORES,
    apply_threshold,
    check_target_risk,
    confidence_scores,
    select_threshold,
    selective_metrics,
)

#: One-sided confidence of the Clopper-Pearson upper bound on the achieved test risk.
BOUND_CONFIDENCE = 0.95


def _aligned(model, X, classes) -> np.ndarray:
    from ._predictions import aligned_proba

    return aligned_proba(model, X, classes)


def unavailable_records(note: str, target_risk: float) -> dict:
    """The three records of a model that cannot be evaluated this way, with the reason."""
    return {
        "selective": {"available": False, "note": note, "target_risk": target_risk, "score": None,
                      "calibrated": False, "temperature": None, "threshold": None},
        "calibration": {"available": False, "note": note},
        "context": {"available": False, "note": note},
    }


def reliability_records(model, X_val, y_val, y_test: Sequence, y_pred: Sequence, proba: np.ndarray | None,
                        X_test, classes: Sequence[str], *, target_risk: float = DEFAULT_TARGET_RISK,
                        score: str = "max_proba", calibrate: bool = True, context=None) -> tuple[dict, dict]:
    """Abstention, calibration and context figures of one fitted model.

    Parameters
    ----------
    model : fitted classifier
    X_val, y_val : the validation split: fits the temperature and chooses the threshold.
    y_test, y_pred, proba, X_test : the test split, the model's predictions and probabilities
        (columns in ``classes`` order; None when the model has no ``predict_proba``).
    classes : the data's classes.
    target_risk : float, default=0.01
    score : {"max_proba", "margin"}
        Confidence score of the threshold.
    calibrate : bool, default=True
        Temperature-scale on the validation split; the threshold then uses the scaled probabilities.
    context : "digits", "letters", list of labels or None
        Also report accuracy on the test images of these classes with predictions restricted to them.

    Returns
    -------
    (records, arrays)
        ``records``: ``{"selective", "calibration", "context"}`` for ``results.json``; ``arrays``:
        ``{"calibrated_probabilities": test probabilities after temperature scaling}`` (empty without).
    """
    target_risk = check_target_risk(target_risk)
    if proba is None:
        return unavailable_records(
            f"{type(model).__name__} has no predict_proba: no confidence, so no abstention, calibration "
            "or context figures", target_risk), {}
    if X_val is None or len(X_val) == 0:
        return unavailable_records("no validation images: the threshold and temperature need a held-out "
                                   "split, and the test split must stay untouched", target_risk), {}
    classes = [str(c) for c in classes]
    y_test = np.asarray(y_test).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    y_val = np.asarray(y_val).astype(str)
    val_pred = np.asarray(model.predict(X_val)).astype(str)
    val_proba = _aligned(model, X_val, classes)
    temperature, test_cal, val_cal, skipped = None, None, None, None
    if calibrate:
        try:
            calibrated, temperature = fit_temperature(model, X_val, y_val)
        except HwrError as exc:  # the model trained: report it uncalibrated, with the reason, never crash
            skipped = f"not temperature-scaled: {exc}"
        else:
            val_cal = _aligned(calibrated, X_val, classes)
            test_cal = _aligned(calibrated, X_test, classes)

    records = records_from_arrays(y_val, val_pred, val_proba, y_test, y_pred, proba, classes,
                                  val_calibrated=val_cal, test_calibrated=test_cal, temperature=temperature,
                                  target_risk=target_risk, score=score, context=context)
    if skipped is not None:
        records["calibration"]["note"] = records["selective"]["note"] = skipped
    arrays = {"calibrated_probabilities": test_cal} if test_cal is not None else {}
    return records, arrays


def records_from_arrays(y_val: Sequence, val_pred: Sequence, val_proba: np.ndarray, y_test: Sequence,
                        y_pred: Sequence, proba: np.ndarray, classes: Sequence[str], *,
                        val_calibrated: np.ndarray | None = None, test_calibrated: np.ndarray | None = None,
                        temperature: float | None = None, target_risk: float = DEFAULT_TARGET_RISK,
                        score: str = "max_proba", context=None) -> dict:
    """The records of :func:`reliability_records` from predictions and probabilities alone.

    The threshold is chosen on the validation arrays (calibrated ones when given) and only applied to
    the test arrays.
    """
    target_risk = check_target_risk(target_risk)
    classes = [str(c) for c in classes]
    y_val, val_pred = np.asarray(y_val).astype(str), np.asarray(val_pred).astype(str)
    y_test, y_pred = np.asarray(y_test).astype(str), np.asarray(y_pred).astype(str)
    val_cal, test_cal = val_calibrated, test_calibrated
    # The threshold: chosen on validation with the scores it will be used with, applied to test as is.
    used_val = val_cal if val_cal is not None else val_proba
    used_test = test_cal if test_cal is not None else proba
    val_right, test_right = val_pred == y_val, y_pred == y_test
    threshold = select_threshold(val_right, confidence_scores(used_val, score), target_risk)
    selective: dict = {
        "available": True,
        "target_risk": target_risk,
        "score": score,
        "calibrated": temperature is not None,
        "temperature": temperature,
        "threshold": threshold,
        "bound_confidence": BOUND_CONFIDENCE,
        "validation": apply_threshold(val_right, confidence_scores(used_val, score), threshold, BOUND_CONFIDENCE),
        "test": apply_threshold(test_right, confidence_scores(used_test, score), threshold, BOUND_CONFIDENCE),
        # Test-split curves' summaries for every score; these tune nothing.
        "scores": {s: selective_metrics(test_right, confidence_scores(used_test, s), target_risk) for s in SCORES},
    }
    if test_cal is not None:
        selective["uncalibrated_aurc"] = selective_metrics(test_right, confidence_scores(proba, score),
                                                           target_risk)["aurc"]
    selective.update({k: selective["scores"][score][k] for k in ("aurc", "eaurc", "coverage_at_target_risk")})

    calibration = {
        "available": True,
        "n_bins": N_BINS,
        "temperature": temperature,
        "before": calibration_metrics(y_test, proba, classes),
        "after": calibration_metrics(y_test, test_cal, classes) if test_cal is not None else None,
        "validation_log_loss": {
            "before": calibration_metrics(y_val, val_proba, classes)["log_loss"],
            "after": calibration_metrics(y_val, val_cal, classes)["log_loss"] if val_cal is not None else None,
        },
    }
    context_record = {"available": True, **context_metrics(y_test, y_pred, proba, classes)}
    if context is not None:
        context_record["restricted"] = restricted_metrics(y_test, proba, classes, context)
    return {"selective": selective, "calibration": calibration, "context": context_record}
