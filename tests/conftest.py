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


# ---------------------------------------------------------------------------------------------------
# compare / grid / cv fixtures (issue 4)
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def synthetic_env(monkeypatch, tmp_path):
    """No real data and an empty cache: ``load_dataset`` falls back to the synthetic demo set."""
    monkeypatch.setenv("HWR_DATA", "")
    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def small_synthetic(tmp_path_factory):
    """A small synthetic 36-class dataset (30 images per class), shared read-only by the tests."""
    from hwr_eval.dataset import load_dataset

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HWR_DATA", "")
        mp.setenv("HWR_CACHE", str(tmp_path_factory.mktemp("cache")))
        return load_dataset(per_class=30, seed=0)
