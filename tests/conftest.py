"""Shared fixtures. Real data comes from ``HWR_DATA`` (or ``../shared/data`` beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _real_data_dir() -> Path | None:
    candidates = [os.environ.get("HWR_DATA"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Directory with the real MNIST / FEMNIST / USPS files; skips the test when absent."""
    path = _real_data_dir()
    if path is None:
        pytest.skip("real data not found: set HWR_DATA to a folder with the MNIST IDX files (see README)")
    return path


# ---------------------------------------------------------------------------------------------------------
# Models (issue 3): small real subsets read straight from the IDX / npz files, independent of the data layer.
# ---------------------------------------------------------------------------------------------------------
import gzip  # noqa: E402

import numpy as np  # noqa: E402


def _read_idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def _per_class(X: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    idx = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n] for c in np.unique(y)])
    idx = rng.permutation(idx)
    return X[idx], y[idx]


@pytest.fixture(scope="session")
def mnist_small(real_data_dir):
    """Real MNIST: 200 train + 100 test images per digit, X (n, 784) uint8, y str digits."""
    rng = np.random.default_rng(0)
    out = {}
    for split, n in (("train", 200), ("t10k", 100)):
        X = _read_idx(real_data_dir / f"{split}-images-idx3-ubyte.gz", 16).reshape(-1, 784)
        y = _read_idx(real_data_dir / f"{split}-labels-idx1-ubyte.gz", 8).astype(str)
        out[split] = _per_class(X, y, n, rng)
    (X_train, y_train), (X_test, y_test) = out["train"], out["t10k"]
    return X_train, y_train, X_test, y_test


@pytest.fixture(scope="session")
def letters_o(real_data_dir):
    """Real uppercase 'O' images from FEMNIST, inverted to white ink on black: X (n, 784) uint8, y 'O'."""
    path = real_data_dir / "letters" / "femnist_leaf_letters.npz"
    if not path.exists():
        pytest.skip(f"letters file not found: {path}")
    with np.load(path) as data:
        chars = data["legend"][data["labels"]]
        images = data["images"][chars == "O"]
    X = (255 - images.reshape(len(images), -1)).astype(np.uint8)
    return X, np.full(len(X), "O")
