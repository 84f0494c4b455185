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


# ======================================================================================================
# data layer fixtures (readers, dataset, fetch, `hwr-eval data`)
# ======================================================================================================

import gzip  # noqa: E402
import types  # noqa: E402

import numpy as np  # noqa: E402


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """One hwr-eval cache for the whole session: the real data set is parsed and normalised only once."""
    return tmp_path_factory.mktemp("hwr-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(session_cache, monkeypatch):
    """Tests never read or write the user's real cache (``~/.cache/hwr-eval``)."""
    monkeypatch.setenv("HWR_CACHE", str(session_cache))


def _write_idx(path: Path, array: np.ndarray, gz: bool | None = None) -> Path:
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    raw = header + array.tobytes()
    gz = str(path).endswith(".gz") if gz is None else gz
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    return path


def _digit_images(labels: np.ndarray, value: int = 255) -> np.ndarray:
    """Tiny fake digits: a bar whose height depends on the label, so images differ between classes."""
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, 4:10 + int(label), 12:16] = value
        images[i, 4, 4 + (i % 20)] = value  # make every image unique
    return images


def _write_mnist(folder: Path, n_train: int = 60, n_test: int = 20, train_value: int = 255,
                 test_value: int = 255) -> Path:
    """MNIST in its four IDX gz files; train and test images get distinct ink values when asked."""
    for part, n, value in (("train", n_train, train_value), ("t10k", n_test, test_value)):
        labels = np.arange(n) % 10
        _write_idx(folder / f"{part}-images-idx3-ubyte.gz", _digit_images(labels, value))
        _write_idx(folder / f"{part}-labels-idx1-ubyte.gz", labels)
    return folder


def _write_csv(path: Path, labels, images, header: bool) -> Path:
    """Label + 784 pixel columns, Kaggle style (``.gz`` compressed when the name says so)."""
    rows = np.column_stack([np.asarray(labels), np.asarray(images).reshape(len(labels), -1)])
    lines = [",".join(["label"] + [f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)])] if header else []
    lines += [",".join(map(str, row)) for row in rows]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if str(path).endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)
    return path


def _write_femnist(path: Path, labels: np.ndarray, writers: np.ndarray) -> Path:
    """FEMNIST LEAF npz: dark ink on white, small ink in the middle."""
    images = np.full((len(labels), 28, 28), 255, dtype=np.uint8)
    for i in range(len(labels)):
        images[i, 9:19, 11:17] = 0
        images[i, 9, 11 + i % 6] = 128
    legend = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=images, labels=np.asarray(labels, dtype=np.int16), legend=legend,
             writers=np.asarray(writers))
    return path


@pytest.fixture(scope="session")
def data_files():
    """Writers of tiny files in the real formats: ``idx``, ``mnist``, ``csv``, ``femnist``, ``digit_images``."""
    return types.SimpleNamespace(idx=_write_idx, mnist=_write_mnist, csv=_write_csv, femnist=_write_femnist,
                                 digit_images=_digit_images)
