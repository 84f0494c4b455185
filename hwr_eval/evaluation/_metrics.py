"""Test-set evaluation: scikit-learn's metrics, a bootstrap interval for accuracy, McNemar's test.

Everything here works on predictions alone (no estimator), so the numbers in ``results.json`` can be
recomputed from ``predictions.csv`` and ``probabilities/<model>.npy`` by anyone.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from ..errors import HwrError

#: Below this many discordant pairs McNemar's p-value comes from the exact binomial test; the
#: chi-square approximation is poor for small counts (the usual rule of thumb, as in statsmodels' advice).
MCNEMAR_EXACT_BELOW = 25


def bootstrap_accuracy_ci(
    y_true: Sequence,
    y_pred: Sequence,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval for accuracy, resampling test images with replacement.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    n_resamples : int, default=1000
        Number of bootstrap resamples.
    confidence : float, default=0.95
        Coverage of the two-sided interval.
    seed : int, default=0
        Seed of the resampling, so the interval is reproducible.

    Returns
    -------
    (low, high) : tuple of float
    """
    correct = np.asarray(y_true) == np.asarray(y_pred)
    n = correct.size
    if n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    # Resample in chunks so memory stays bounded (about 8 M indices at a time) even for large test sets.
    chunk = max(1, min(n_resamples, 8_000_000 // n))
    accs = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        accs[start:stop] = correct[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(accs, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def mcnemar(y_true: Sequence, pred_a: Sequence, pred_b: Sequence) -> dict:
    """McNemar's test of two classifiers on the same test images.

    Only the discordant images count: ``b`` = A right and B wrong, ``c`` = A wrong and B right.
    With fewer than :data:`MCNEMAR_EXACT_BELOW` discordant images the p-value is the exact two-sided
    binomial test of ``b`` out of ``b + c`` at 1/2; otherwise the chi-square test (1 degree of freedom)
    with continuity correction, ``(|b - c| - 1)^2 / (b + c)``.

    Returns
    -------
    dict
        ``statistic`` (the continuity-corrected chi-square statistic, 0 when ``b + c == 0``),
        ``p_value``, ``method`` ("exact" or "chi2"), ``b`` and ``c``.
    """
    y_true = np.asarray(y_true)
    right_a = np.asarray(pred_a) == y_true
    right_b = np.asarray(pred_b) == y_true
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    n = b + c
    if n == 0:
        return {"statistic": 0.0, "p_value": 1.0, "method": "exact", "b": b, "c": c}
    statistic = (abs(b - c) - 1.0) ** 2 / n if b != c else 0.0
    if n < MCNEMAR_EXACT_BELOW:
        p_value = stats.binomtest(b, n, 0.5, alternative="two-sided").pvalue
        method = "exact"
    else:
        p_value = stats.chi2.sf(statistic, df=1)
        method = "chi2"
    return {"statistic": float(statistic), "p_value": float(p_value), "method": method, "b": b, "c": c}


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of p-values for multiple comparisons (controls the family-wise error).

    The ``i``-th smallest of ``m`` p-values is multiplied by ``m - i + 1`` (``i`` from 1), capped at 1,
    and made monotone: an adjusted p-value is never below that of a smaller raw one. (statsmodels'
    ``multipletests(method="holm")`` computes the same; it is not a dependency of this package.)

    Returns
    -------
    ndarray of float, in the order of ``p_values``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def mcnemar_matrix(y_true: Sequence, predictions: Mapping[str, Sequence]) -> dict:
    """McNemar's test between every pair of models, as symmetric matrices in the models' order.

    Returns
    -------
    dict
        ``models``, ``p_value`` and ``statistic`` (diagonal 1.0 and 0.0), ``method`` (diagonal None),
        ``p_value_holm`` (the raw p-values Holm-adjusted over all ``k (k - 1) / 2`` pairs, diagonal 1.0)
        and ``discordant``: entry ``[i][j]`` counts the images model ``i`` got right and model ``j`` wrong.
    """
    names = list(predictions)
    k = len(names)
    p_value = [[1.0] * k for _ in range(k)]
    statistic = [[0.0] * k for _ in range(k)]
    method: list[list[str | None]] = [[None] * k for _ in range(k)]
    discordant = [[0] * k for _ in range(k)]
    for i, j in combinations(range(k), 2):
        res = mcnemar(y_true, predictions[names[i]], predictions[names[j]])
        p_value[i][j] = p_value[j][i] = res["p_value"]
        statistic[i][j] = statistic[j][i] = res["statistic"]
        method[i][j] = method[j][i] = res["method"]
        discordant[i][j], discordant[j][i] = res["b"], res["c"]
    pairs = list(combinations(range(k), 2))
    p_value_holm = [[1.0] * k for _ in range(k)]
    for (i, j), adjusted in zip(pairs, holm([p_value[i][j] for i, j in pairs])):
        p_value_holm[i][j] = p_value_holm[j][i] = float(adjusted)
    return {"models": names, "p_value": p_value, "p_value_holm": p_value_holm, "statistic": statistic,
            "method": method, "discordant": discordant}


def same_right_pairs(mc: Mapping) -> list[tuple[str, str]]:
    """The pairs of a :func:`mcnemar_matrix` with no discordant image: both models got the very same images right.

    Such a pair cannot be told apart on this test set at all (McNemar's p is 1 by construction) -- e.g. a
    cascade whose sub-model never changed one of the main model's answers. A record without the
    ``discordant`` counts names no pair.
    """
    names, discordant = list(mc["models"]), mc.get("discordant")
    if discordant is None:
        return []
    return [(names[i], names[j]) for i, j in combinations(range(len(names)), 2)
            if discordant[i][j] == 0 and discordant[j][i] == 0]


def top_confusions(cm: np.ndarray, classes: Sequence[str], k: int = 10) -> list[dict]:
    """The ``k`` largest off-diagonal cells of a confusion matrix (rows true, columns predicted).

    Ties are broken by the classes' order, so the list is deterministic; empty cells are left out.
    """
    cm = np.asarray(cm)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    flat = off.ravel()
    # Stable sort on the negated counts keeps row-major (class) order among equal counts.
    order = np.argsort(-flat, kind="stable")[:k]
    n = cm.shape[1]
    return [
        {"true": str(classes[i // n]), "predicted": str(classes[i % n]), "count": int(flat[i])}
        for i in order
        if flat[i] > 0
    ]


def evaluate(
    y_true: Sequence,
    y_pred: Sequence,
    proba: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    n_top_confusions: int = 10,
) -> dict:
    """All test-set metrics of one model, in the layout of ``results.json``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    proba : ndarray of shape (n_samples, n_classes), optional
        Predicted probabilities, columns in ``classes`` order; adds ``log_loss`` and
        ``top2_accuracy`` to the metrics.
    classes : sequence of str, optional
        All classes of the task, in report order (default: the sorted labels seen in ``y_true`` and
        ``y_pred``). Classes never predicted get precision 0 rather than a warning.
    n_resamples, seed : int
        Bootstrap settings of the accuracy interval.
    n_top_confusions : int, default=10
        How many confused pairs to list.

    Returns
    -------
    dict
        ``metrics``, ``per_class``, ``confusion_matrix`` and ``top_confusions``.
    """
    y_true = np.asarray(y_true).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.shape[0]} labels but y_pred has {y_pred.shape[0]}")
    labels = [str(c) for c in classes] if classes is not None else sorted(set(y_true) | set(y_pred))
    if len(set(labels)) != len(labels):
        raise HwrError(f"classes must be distinct, got {labels!r}")
    unknown = sorted(str(c) for c in set(y_true) - set(labels))
    if unknown:
        raise HwrError(f"labels {unknown[:5]!r} in y_true are not among classes {labels[:12]!r}")

    metrics: dict[str, object] = {"accuracy": float(accuracy_score(y_true, y_pred))}
    metrics["accuracy_ci95"] = list(bootstrap_accuracy_ci(y_true, y_pred, n_resamples=n_resamples, seed=seed))
    with warnings.catch_warnings():
        # A prediction of a class absent from the test labels is legitimate here, not a data bug.
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        metrics["balanced_accuracy"] = float(balanced_accuracy_score(y_true, y_pred))
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        metrics[f"precision_{average}"] = float(p)
        metrics[f"recall_{average}"] = float(r)
        metrics[f"f1_{average}"] = float(f)
    if proba is not None:
        proba = np.asarray(proba, dtype=np.float64)
        if proba.shape != (y_true.shape[0], len(labels)):
            raise ValueError(f"proba has shape {proba.shape}, expected {(y_true.shape[0], len(labels))}")
        # scikit-learn's log_loss and top_k_accuracy_score read proba's columns in *sorted* label order
        # whatever order `labels` is given in; ours follow `classes` (the report order), so sort both.
        order = np.argsort(np.asarray(labels), kind="stable")
        sorted_labels = [labels[i] for i in order]
        proba = proba[:, order]
        # Float32 probabilities sum to one only to about 1e-7, short of log_loss's float64 check.
        clipped = np.clip(proba, 1e-15, 1.0)
        clipped /= clipped.sum(axis=1, keepdims=True)
        metrics["log_loss"] = float(log_loss(y_true, clipped, labels=sorted_labels))
        metrics["top2_accuracy"] = (
            float(top_k_accuracy_score(y_true, proba, k=2, labels=sorted_labels)) if len(labels) > 2 else 1.0
        )

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = [
        {"class": str(c), "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, c in enumerate(labels)
    ]
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    return {
        "metrics": metrics,
        "per_class": per_class,
        "confusion_matrix": cm.astype(int).tolist(),
        "top_confusions": top_confusions(cm, labels, k=n_top_confusions),
    }
