"""A model's probabilities in the task's class order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator

from ..errors import HwrError


def aligned_proba(model: BaseEstimator, X, classes: Sequence[str]) -> np.ndarray | None:
    """``predict_proba`` with columns in ``classes`` order (zeros for classes the model never saw)."""
    if not hasattr(model, "predict_proba"):
        return None
    proba = np.asarray(model.predict_proba(X), dtype=np.float32)
    out = np.zeros((proba.shape[0], len(classes)), dtype=np.float32)
    index = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(np.asarray(model.classes_).astype(str)):
        if c not in index:
            raise HwrError(f"model predicts class {c!r}, which is not among the data's classes")
        out[:, index[c]] = proba[:, j]
    return out
