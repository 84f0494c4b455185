"""Selective classification ("I don't know"): confidence scores, the risk-coverage curve, AURC, and a
rejection threshold chosen on the validation split for a target risk.

A model *accepts* an image when its confidence score is at least the threshold and abstains otherwise.
*Coverage* is the share of images accepted; *risk* is the error rate among the accepted ones. All
functions work on arrays alone (no estimator), so every number can be recomputed from a run folder.
Ties in the score are never split: a threshold accepts every image with that score or none of them,
so a constant-confidence model has a single operating point (its overall risk at full coverage).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from ..errors import HwrError

#: Confidence scores computed from predicted probabilities.
SCORES = ("max_proba", "margin")
#: Coverages at which the selective accuracy is reported.
COVERAGES = (0.90, 0.95, 0.99)
#: Default target risk: at most 1% errors among the accepted images.
DEFAULT_TARGET_RISK = 0.01


def check_target_risk(target_risk: float) -> float:
    """Return ``target_risk`` as a float; raise a one-line :class:`HwrError` unless 0 < it < 1."""
    try:
        value = float(target_risk)
    except (TypeError, ValueError):
        raise HwrError(f"target risk must be a number between 0 and 1 (exclusive), got {target_risk!r}") from None
    if not 0.0 < value < 1.0:
        raise HwrError(f"target risk must be between 0 and 1 (exclusive), got {target_risk!r}")
    return value


def confidence_scores(proba: np.ndarray, score: str = "max_proba") -> np.ndarray:
    """Confidence per image from probabilities of shape (n_samples, n_classes).

    ``"max_proba"``: the top probability; ``"margin"``: the top probability minus the second one
    (small when the model hesitates between two classes, e.g. O and 0).

    Scores are rounded to float32, the precision of the probabilities stored in a run folder: equal
    probabilities computed along different float64 paths (kNN's 1/3 and 2/3 after temperature scaling
    differ by ~1e-17) then tie as they should, instead of ordering images by rounding noise.
    """
    if score not in SCORES:
        raise HwrError(f"unknown confidence score {score!r}; choose one of {', '.join(SCORES)}")
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 1:
        raise HwrError(f"probabilities must have shape (n_samples, n_classes), got {proba.shape}")
    if score == "max_proba" or proba.shape[1] == 1:
        scores = proba.max(axis=1)
    else:
        top2 = np.partition(proba, -2, axis=1)[:, -2:]
        scores = top2[:, 1] - top2[:, 0]
    return scores.astype(np.float32).astype(np.float64)


def _check_pair(correct, scores) -> tuple[np.ndarray, np.ndarray]:
    correct = np.asarray(correct, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if correct.shape != scores.shape:
        raise HwrError(f"{correct.size} correctness flags but {scores.size} scores")
    if correct.size == 0:
        raise HwrError("no images to evaluate")
    if not np.all(np.isfinite(scores)):
        raise HwrError("confidence scores contain NaN or infinite values")
    return correct, scores


def risk_coverage_curve(correct: Sequence[bool], scores: Sequence[float]) -> dict[str, np.ndarray]:
    """The risk-coverage curve: one point per distinct score, from the most confident down.

    Parameters
    ----------
    correct : array-like of bool, shape (n_samples,)
        Whether the model's prediction of each image is right.
    scores : array-like of float, shape (n_samples,)
        Confidence per image; higher means surer.

    Returns
    -------
    dict
        ``threshold`` (decreasing distinct scores), ``coverage`` (share of images with score >= the
        threshold, increasing to 1) and ``risk`` (error rate among those images).
    """
    correct, scores = _check_pair(correct, scores)
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    errors = np.cumsum(~correct[order])
    # Last position of each run of equal scores: thresholds never split ties.
    ends = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    accepted = ends + 1
    return {
        "threshold": sorted_scores[ends],
        "coverage": accepted / correct.size,
        "risk": errors[ends] / accepted,
    }


def aurc(correct: Sequence[bool], scores: Sequence[float]) -> float:
    """Area under the risk-coverage curve (lower is better), the curve read as a step function.

    With distinct scores this is the mean, over k = 1..n, of the risk among the k most confident
    images (Geifman et al., 2019); tied scores share one step.
    """
    curve = risk_coverage_curve(correct, scores)
    widths = np.diff(np.r_[0.0, curve["coverage"]])
    return float(np.sum(widths * curve["risk"]))


def optimal_aurc(correct: Sequence[bool]) -> float:
    """The smallest AURC any score can reach with these errors: every right answer ranked first.

    Equals ``(1/n) * sum_{k > n_right} (k - n_right) / k``, close to ``r + (1 - r) ln(1 - r)`` for overall
    risk ``r``; ``aurc - optimal_aurc`` is the excess AURC (E-AURC).
    """
    correct = np.asarray(correct, dtype=bool).ravel()
    if correct.size == 0:
        raise HwrError("no images to evaluate")
    n, n_right = correct.size, int(correct.sum())
    k = np.arange(n_right + 1, n + 1, dtype=np.float64)
    return float(np.sum((k - n_right) / k) / n)


def selective_accuracy_at(correct: Sequence[bool], scores: Sequence[float], coverage: float) -> dict:
    """Accuracy on the most confident images at (at least) ``coverage``: the first curve point reaching it.

    Returns ``{"coverage": achieved coverage, "accuracy": accuracy among the accepted images}``.
    """
    curve = risk_coverage_curve(correct, scores)
    k = int(np.searchsorted(curve["coverage"], coverage - 1e-12))
    k = min(k, curve["coverage"].size - 1)
    return {"coverage": float(curve["coverage"][k]), "accuracy": float(1.0 - curve["risk"][k])}


def risk_upper_bound(n_errors: int, n_accepted: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson (exact binomial) upper bound on the true risk; 1.0 when nothing is accepted."""
    if n_accepted <= 0:
        return 1.0
    test = stats.binomtest(int(n_errors), int(n_accepted), alternative="less")
    return float(test.proportion_ci(confidence_level=confidence, method="exact").high)


def coverage_at_risk(correct: Sequence[bool], scores: Sequence[float], target_risk: float) -> float:
    """Largest coverage whose risk is at most ``target_risk`` (0.0 when no threshold reaches it)."""
    target_risk = check_target_risk(target_risk)
    curve = risk_coverage_curve(correct, scores)
    ok = curve["risk"] <= target_risk
    return float(curve["coverage"][ok].max()) if ok.any() else 0.0


def select_threshold(correct: Sequence[bool], scores: Sequence[float], target_risk: float = DEFAULT_TARGET_RISK,
                     *, bound: bool = False, confidence: float = 0.95) -> float:
    """The lowest score threshold whose risk on these (validation) images is at most ``target_risk``.

    Accepting ``score >= threshold`` then covers as much as possible within the target. Call it on the
    validation split and apply the threshold to the test split; choosing it on test would overstate
    how well the rule works on new images.

    Parameters
    ----------
    correct, scores : array-like of shape (n_samples,)
        Correctness and confidence of the model's predictions on the validation images.
    target_risk : float, default=0.01
        Largest acceptable error rate among accepted images, in (0, 1).
    bound : bool, default=False
        Require the Clopper-Pearson upper bound (at ``confidence``) of the validation risk, not the
        risk itself, to stay within the target: fewer images accepted, a target more often met on test.

    Returns
    -------
    float
        The threshold. When no threshold reaches the target, one just above the highest score, so
        every image is rejected.
    """
    target_risk = check_target_risk(target_risk)
    correct, scores = _check_pair(correct, scores)
    curve = risk_coverage_curve(correct, scores)
    if bound:
        accepted = np.rint(curve["coverage"] * correct.size).astype(int)
        n_errors = np.rint(curve["risk"] * accepted).astype(int)
        risk = np.array([risk_upper_bound(e, a, confidence) for e, a in zip(n_errors, accepted)])
    else:
        risk = curve["risk"]
    ok = np.flatnonzero(risk <= target_risk)
    if ok.size == 0:
        return float(np.nextafter(scores.max(), np.inf))
    return float(curve["threshold"][ok[-1]])


def apply_threshold(correct: Sequence[bool], scores: Sequence[float], threshold: float,
                    confidence: float = 0.95) -> dict:
    """Coverage, risk and its upper bound when accepting ``score >= threshold`` (e.g. on the test split)."""
    correct, scores = _check_pair(correct, scores)
    accepted = scores >= threshold
    n_accepted = int(accepted.sum())
    n_errors = int((accepted & ~correct).sum())
    return {
        "n_accepted": n_accepted,
        "n_errors": n_errors,
        "coverage": n_accepted / correct.size,
        "risk": n_errors / n_accepted if n_accepted else None,
        "risk_upper": risk_upper_bound(n_errors, n_accepted, confidence),
    }


def selective_metrics(correct: Sequence[bool], scores: Sequence[float], target_risk: float = DEFAULT_TARGET_RISK,
                      coverages: Sequence[float] = COVERAGES) -> dict:
    """AURC, E-AURC, selective accuracy at ``coverages`` and coverage at ``target_risk`` of one score."""
    correct, scores = _check_pair(correct, scores)
    area = aurc(correct, scores)
    best = optimal_aurc(correct)
    return {
        "aurc": area,
        "eaurc": area - best,
        "optimal_aurc": best,
        "coverage_at_target_risk": coverage_at_risk(correct, scores, target_risk),
        "selective_accuracy": {f"{c:g}": selective_accuracy_at(correct, scores, c) for c in coverages},
    }
