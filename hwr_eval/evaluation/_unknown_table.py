"""The unknown-input table: every detector of a fitted model against every unknown set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import HwrError
from ._unknowns import (
    DEFAULT_K,
    DEFAULT_KEEP,
    FITTED_DETECTORS,
    TABLE_COLUMNS,
    KnownScorer,
    _final,
    check_detector,
    check_keep,
    detectors_for,
    fit_scorer,
    known_threshold,
    model_outputs,
    unknown_metrics,
)


def check_unknown_sets(unknowns: Mapping[str, np.ndarray], n_features: int = 784) -> dict[str, np.ndarray]:
    """The unknown sets as ``{name: (n, n_features) array}``; a one-line :class:`HwrError` for an empty or
    misshapen one."""
    if not isinstance(unknowns, Mapping) or not unknowns:
        raise HwrError("give the unknown sets as a non-empty {name: X} mapping (hwr_eval.data.load_unknowns)")
    out = {}
    for name, X in unknowns.items():
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != n_features or len(X) == 0:
            raise HwrError(f"unknown set {name!r} must have shape (n >= 1, {n_features}), got {X.shape}")
        out[str(name)] = X
    return out


def unknown_table(model, dataset, unknowns: Mapping[str, np.ndarray], *, detectors: Sequence[str] | None = None,
                  name: str | None = None, keep: float = DEFAULT_KEEP, k: int = DEFAULT_K) -> pd.DataFrame:
    """Every detector of a fitted ``model`` against every unknown set, one row each.

    Known images are the test split; the detectors that need statistics (``mahalanobis``, ``knn``,
    ``layer_knn``) fit them on the training split; each detector's threshold keeps ``keep`` of the
    **validation** split's known images. Neither the test split nor the unknown images choose anything.

    Parameters
    ----------
    model : fitted classifier
        A registry model (or any classifier; see :func:`detectors_for`).
    dataset : Dataset
        ``X_train``/``y_train``, ``X_val`` and ``X_test`` are read (``hwr_eval.load_dataset``).
    unknowns : mapping of str to ndarray of shape (n, 784)
        The unknown sets (:func:`hwr_eval.data.load_unknowns`).
    detectors : sequence of str, optional
        Default: every detector that applies to the model.
    name : str, optional
        The ``model`` column; default: the class name of the model's final step.
    keep : float, default=0.95
        Share of known validation images the threshold keeps.
    k : int, default=50
        Neighbours of the ``knn`` and ``layer_knn`` detectors.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TABLE_COLUMNS`: ``model, detector, unknown_set, n_unknown, auroc, aupr_in, aupr_out,
        fpr_at_95_tpr`` (see :func:`unknown_metrics`), ``threshold`` (chosen on validation),
        ``known_test_kept`` (share of test images scoring >= it) and ``unknown_rejected`` (share of the
        unknown set scoring below it).

    Raises
    ------
    HwrError
        An unknown or inapplicable detector, a bad ``keep`` or a misshapen unknown set, before any work.
    """
    return score_unknowns(model, dataset, unknowns, detectors=detectors, name=name, keep=keep, k=k).table


@dataclass
class UnknownScores:
    """Everything :func:`score_unknowns` computed, so callers need no second pass through the model.

    ``table`` is :func:`unknown_table`'s; per detector, ``scorers`` holds the fitted
    :class:`~hwr_eval.evaluation.KnownScorer` and ``val``, ``test`` and ``sets[set_name]`` its known-scores.
    """

    table: pd.DataFrame
    scorers: dict[str, KnownScorer]
    val: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    sets: dict[str, dict[str, np.ndarray]]


def score_unknowns(model, dataset, unknowns: Mapping[str, np.ndarray], *, detectors: Sequence[str] | None = None,
                   name: str | None = None, keep: float = DEFAULT_KEEP, k: int = DEFAULT_K) -> UnknownScores:
    """:func:`unknown_table` with the fitted scorers and every score kept; each split and set passes through
    the model once, whatever the number of detectors."""
    keep = check_keep(keep)
    detectors = list(detectors_for(model) if detectors is None else dict.fromkeys(detectors))
    for detector in detectors:
        check_detector(model, detector)
    unknowns = check_unknown_sets(unknowns, np.asarray(dataset.X_test).shape[1])
    name = name if name is not None else type(_final(model)).__name__

    train = model_outputs(model, dataset.X_train, detectors) if set(detectors) & set(FITTED_DETECTORS) else None
    scorers = [fit_scorer(model, d, y_train=dataset.y_train, k=k, train_outputs=train) for d in detectors]
    del train
    val, test = (model_outputs(model, X, detectors) for X in (dataset.X_val, dataset.X_test))
    outside = {set_name: model_outputs(model, X, detectors) for set_name, X in unknowns.items()}
    rows, scores = [], UnknownScores(None, {}, {}, {}, {})
    for scorer in scorers:
        d = scorer.detector
        scores.scorers[d], scores.val[d], scores.test[d] = scorer, scorer.score(val), scorer.score(test)
        scores.sets[d] = {set_name: scorer.score(outputs) for set_name, outputs in outside.items()}
        threshold, known = known_threshold(scores.val[d], keep), scores.test[d]
        for set_name, unknown in scores.sets[d].items():
            rows.append({"model": name, "detector": scorer.detector, "unknown_set": set_name,
                         "n_unknown": int(unknown.size), **unknown_metrics(known, unknown), "threshold": threshold,
                         "known_test_kept": float(np.mean(known >= threshold)),
                         "unknown_rejected": float(np.mean(unknown < threshold))})
    scores.table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    return scores


__all__ = ["UnknownScores", "check_unknown_sets", "score_unknowns", "unknown_table"]
