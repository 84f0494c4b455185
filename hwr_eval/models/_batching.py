"""Whole-tensor mini-batches: slices of one tensor instead of per-sample ``__getitem__`` plus collation."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from skorch.dataset import Dataset
from torch.utils.data import Subset


class TensorBatches:
    """Mini-batches as slices of whole tensors: no per-sample ``__getitem__``, no collation.

    Parameters
    ----------
    X : torch.Tensor
        Inputs, already on the target device.
    y : torch.Tensor or None
        Encoded targets, or None at prediction time.
    batch_size : int
        Rows per batch.
    shuffle : bool
        Draw a fresh permutation (from torch's global RNG, seeded by the net) for every pass.
    drop_last : bool, default=False
        Leave out the last batch when it is shorter than ``batch_size`` (as ``DataLoader`` does).
    transform : callable, optional
        Applied to every ``X`` batch (training augmentation); never set for prediction batches.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor | None, batch_size: int, shuffle: bool, drop_last: bool = False,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.X = X
        self.y = y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform

    def _n_rows(self) -> int:
        n = len(self.X)
        return n - n % self.batch_size if self.drop_last else n

    def __len__(self) -> int:
        return math.ceil(self._n_rows() / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        if self.transform is None:
            yield from self._batches()
        else:
            for X, y in self._batches():
                yield self.transform(X), y

    def _batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        n, bs = self._n_rows(), self.batch_size
        if self.shuffle:
            order = torch.randperm(len(self.X)).to(self.X.device)
            for start in range(0, n, bs):
                idx = order[start : start + bs]
                yield self.X[idx], (None if self.y is None else self.y[idx])
        else:
            for start in range(0, n, bs):
                yield self.X[start : start + bs], (None if self.y is None else self.y[start : start + bs])


def _dataset_tensors(dataset) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The (X, y) arrays behind a skorch Dataset or a Subset of one; None for anything else."""
    if isinstance(dataset, Subset):
        inner = _dataset_tensors(dataset.dataset)
        if inner is None:
            return None
        idx = np.asarray(dataset.indices)
        X, y = inner
        return X[idx], (None if y is None else y[idx])
    if type(dataset) is Dataset and isinstance(dataset.X, (np.ndarray, torch.Tensor)):
        y = dataset.y if isinstance(dataset.y, (np.ndarray, torch.Tensor)) else None
        return dataset.X, y
    return None
