"""Labels and validation rows for ``HwrNet``: class order, encoding, the held-out check, the default split."""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import check_random_state

from ..errors import HwrError

VALID_FRACTION = 0.2

#: A validation set may share this fraction of its rows with the training rows (real data sets hold a few
#: exact duplicates, e.g. blank images); more means it was not held out.
MAX_SHARED_VALIDATION = 0.05


def check_label_types(y, what: str = "labels") -> None:
    """Refuse labels that mix strings and numbers: NumPy would turn them all into strings, silently
    merging ``0`` and ``'0'`` into one class (or scikit-learn would call them an "unknown label type")."""
    if isinstance(y, (list, tuple)) or getattr(getattr(y, "dtype", None), "kind", None) == "O":
        kinds = {"str" if isinstance(v, (str, np.str_)) else "number" if isinstance(v, numbers.Number)
                 else type(v).__name__ for v in np.asarray(y, dtype=object).ravel()}
        if len(kinds) > 1:
            raise HwrError(f"{what} mix {' and '.join(sorted(kinds))} values (0 and '0' would become one class): "
                           "give every label the same type, e.g. y = np.asarray(y).astype(str)")


def _encode_labels(y: np.ndarray, classes: np.ndarray, what: str) -> np.ndarray:
    """Positions of ``y``'s labels in ``classes`` (any order), as int64; unknown labels raise HwrError."""
    y = np.asarray(y)
    order = np.argsort(classes, kind="stable")
    ordered = classes[order]
    try:
        pos = np.clip(np.searchsorted(ordered, y), 0, len(ordered) - 1)
        known = ordered[pos] == y
    except TypeError:  # labels of another type than the classes (str vs int) match nothing
        known = np.zeros(len(y), dtype=bool)
    if not np.all(known):
        unknown = np.unique(y[~known])[:5].tolist()
        raise HwrError(f"{what} not among the net's classes {classes.tolist()[:12]!r}: {unknown!r}")
    return order[pos].astype(np.int64)


def _check_held_out(X: np.ndarray, X_val: np.ndarray) -> None:
    """Refuse a validation set that repeats training rows: early stopping must watch held-out data.

    This is also what keeps searches honest: an outer ``X_val`` handed to ``GridSearchCV`` or
    ``cross_validate`` together with data it came from (say train + validation concatenated) overlaps
    every fold's training part, so it is refused before any fold early-stops on rows it is scored on.
    """
    train_rows = {hash(row.tobytes()) for row in np.ascontiguousarray(X)}
    shared = sum(hash(row.tobytes()) in train_rows for row in np.ascontiguousarray(X_val))
    if shared > MAX_SHARED_VALIDATION * len(X_val):
        raise HwrError(
            f"{shared} of the {len(X_val)} validation rows are also training rows: X_val must be held out from X "
            "(in GridSearchCV/cross_validate pass no X_val; each fold then holds out its own 20%)"
        )


def class_order(y: np.ndarray, given=None) -> np.ndarray:
    """The labels a net's outputs stand for: ``given`` as is (skorch's ``classes``), else ``y``'s sorted."""
    order = np.unique(y) if given is None else np.asarray(given)
    if given is not None and (order.ndim != 1 or len(np.unique(order)) != len(order)):
        raise HwrError(f"classes must be a list of distinct labels, got {given!r}")
    if len(order) < 2:
        raise HwrError(f"need at least two classes to train a classifier; got {len(order)} class: {order.tolist()!r}")
    return order


def stratified_split(y_enc: np.ndarray, random_state) -> tuple[np.ndarray, np.ndarray] | None:
    """Seeded 80/20 (train, validation) row indices, stratified when every class fits on both sides."""
    n = len(y_enc)
    if n < 2:
        return None
    counts = np.bincount(y_enc)
    n_valid = max(1, int(math.ceil(VALID_FRACTION * n)))
    n_classes = int(np.count_nonzero(counts))
    stratify = counts[counts > 0].min() >= 2 and n_valid >= n_classes and n - n_valid >= n_classes
    splitter_cls = StratifiedShuffleSplit if stratify else ShuffleSplit
    seed = random_state
    if not (seed is None or isinstance(seed, numbers.Integral)):
        seed = check_random_state(seed).randint(2**31 - 1)
    splitter = splitter_cls(n_splits=1, test_size=n_valid, random_state=seed)
    return next(splitter.split(np.zeros(n), y_enc))
