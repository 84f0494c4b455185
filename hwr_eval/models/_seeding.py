"""Which models a change of the model seed alone cannot change: those need training only once per split."""

from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression

from ..errors import HwrError

# Estimators that have a random_state parameter which some settings never read.
_SEED_UNUSED = ((LogisticRegression, lambda est: est.solver not in ("sag", "saga", "liblinear")),)


def is_seed_deterministic(estimator: BaseEstimator) -> bool:
    """Whether changing only the model seed cannot change what ``estimator`` learns.

    True when no part of it (the estimator and every estimator among its deep parameters, so pipeline
    steps and nested models too) has a ``random_state`` parameter that its settings read: kNN has
    none, and ``LogisticRegression`` reads it only with the ``sag``, ``saga`` and ``liblinear`` solvers.
    Any other estimator with a ``random_state`` counts as seed-dependent, erring on the side of training
    it once per seed. Such a model need be fitted once per split: its one row in the seeds table pairs with
    every seed of the other models (see :func:`hwr_eval.evaluation.comparisons_table`).
    """
    if not isinstance(estimator, BaseEstimator):
        raise HwrError(f"expected a scikit-learn estimator, got {type(estimator).__name__}")
    parts = [estimator, *(v for v in estimator.get_params(deep=True).values() if isinstance(v, BaseEstimator))]
    for part in parts:
        if "random_state" not in part.get_params(deep=False):
            continue
        unused = next((rule for kind, rule in _SEED_UNUSED if isinstance(part, kind)), None)
        if unused is None or not unused(part):
            return False
    return True
