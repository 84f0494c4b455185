"""The reference protocol's splits: per-class caps, 62 / 28 / 10 percent, and writer-disjoint splits."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ._readers import ImageSet

FRACTIONS = (0.62, 0.28, 0.10)  # the study's protocol


def _writer_split(pool: ImageSet, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Split label (0 train, 1 validation, 2 test) per sample with no writer in two splits.

    Returns the labels and whether validation is writer-disjoint from train too (not for MNIST, whose
    writer ids are not published: its own train/test partition separates writers, validation is random).
    """
    n = len(pool)
    out = np.zeros(n, dtype=np.int8)

    def by_writer(idx: np.ndarray, fractions: tuple[float, ...]) -> np.ndarray:
        writers = pool.writers[idx]
        uniq, inverse, sizes = np.unique(writers, return_inverse=True, return_counts=True)
        order = rng.permutation(len(uniq))
        # A writer goes to the split where the middle of its block of samples falls.
        mid = (np.cumsum(sizes[order]) - sizes[order] / 2) / sizes.sum()
        bounds = np.cumsum(fractions)[:-1] / sum(fractions)
        part = np.empty(len(uniq), dtype=np.int8)
        part[order] = np.searchsorted(bounds, mid)
        return part[inverse]

    if pool.subset is not None:
        test = pool.subset == "test"
        out[test] = 2
        rest = np.flatnonzero(~test)
        if pool.writers is not None:
            out[rest] = by_writer(rest, FRACTIONS[:2])
            return out, True
        n_val = round(len(rest) * FRACTIONS[1] / (FRACTIONS[0] + FRACTIONS[1]))
        out[rng.permutation(rest)[:n_val]] = 1
        return out, False
    if pool.writers is None:
        raise DataError("split='writer' needs a source with writer ids or its own train/test partition")
    return by_writer(np.arange(n), FRACTIONS), True


def _select(labels: np.ndarray, part: np.ndarray | None, classes: list[str], per_class: int | None,
            rng: np.random.Generator) -> tuple[list[np.ndarray], ...]:
    """Indices for train / validation / test: per class at most ``per_class``, split 62/28/10.

    With ``part`` (writer split) the splits are given and each is capped at its share of ``per_class``.
    """
    chosen = ([], [], [])
    for label in classes:
        idx = np.flatnonzero(labels == label)
        if part is None:
            idx = rng.permutation(idx)[: per_class if per_class is not None else None]
            n_test = round(len(idx) * FRACTIONS[2])
            n_val = round(len(idx) * FRACTIONS[1])
            pieces = (idx[n_test + n_val:], idx[n_test:n_test + n_val], idx[:n_test])
        else:
            pieces = []
            for s, frac in enumerate(FRACTIONS):
                sub = rng.permutation(idx[part[idx] == s])
                pieces.append(sub if per_class is None else sub[: round(per_class * frac)])
        for bucket, piece in zip(chosen, pieces):
            bucket.append(np.sort(piece))
    return chosen
