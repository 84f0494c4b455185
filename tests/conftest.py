"""Shared fixtures. Real data comes from ``HWR_DATA`` (or ``../shared/data`` beside the checkout)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
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
def one_thread():
    """One BLAS/OpenMP thread: on a busy 2-core machine spinning BLAS threads make small fits 20-50x slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


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


SCHEMA_KEYS = {"schema_version", "kind", "status", "created", "command", "settings", "environment", "data",
               "models", "mcnemar", "grid"}
MODEL_KEYS = {"params", "n_parameters", "fit_time_s", "predict_time_s", "metrics", "per_class",
              "confusion_matrix", "top_confusions", "history", "files"}


def _check_run_folder(run_dir, dataset=None) -> dict:
    """Everything a reader of the run folder relies on, recomputed from the files themselves."""
    results = json.loads((Path(run_dir) / "results.json").read_text())
    assert set(results) == SCHEMA_KEYS and results["schema_version"] == 1
    classes = results["data"]["classes"]
    test = np.load(run_dir / "test_set.npz")
    assert test["X"].shape == (test["y"].size, 784) and test["X"].dtype == np.uint8
    if dataset is not None:
        assert np.array_equal(test["X"], dataset.X_test) and list(test["y"]) == list(dataset.y_test)
        assert classes == list(dataset.classes)
    assert sum(results["data"]["counts"]["test"].values()) == test["y"].size
    preds = pd.read_csv(run_dir / "predictions.csv", dtype=str, keep_default_na=False)
    assert list(preds.columns) == ["index", "y_true", *results["models"]]
    assert list(preds["y_true"]) == list(test["y"])
    for name, rec in results["models"].items():
        assert set(rec) == MODEL_KEYS
        m = rec["metrics"]
        assert m["accuracy"] == pytest.approx(np.mean(preds[name] == preds["y_true"]))
        assert m["accuracy_ci95"][0] <= m["accuracy"] <= m["accuracy_ci95"][1]
        cm = np.array(rec["confusion_matrix"])
        assert cm.shape == (len(classes), len(classes)) and cm.sum() == test["y"].size
        assert np.trace(cm) / cm.sum() == pytest.approx(m["accuracy"])
        proba = np.load(run_dir / rec["files"]["probabilities"])
        assert proba.shape == (test["y"].size, len(classes)) and proba.dtype == np.float32
        assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)
        per_class = pd.read_csv(run_dir / rec["files"]["per_class"], dtype={"class": str})
        assert list(per_class["class"]) == classes
        assert np.allclose(per_class["f1"], [r["f1"] for r in rec["per_class"]])
        assert per_class["support"].sum() == test["y"].size
        assert rec["fit_time_s"] > 0 and rec["predict_time_s"] > 0
    assert results["mcnemar"]["models"] == list(results["models"])
    return results


@pytest.fixture
def check_run_folder():
    """``check(run_dir, dataset=None) -> results``: assert the run folder is complete and self-consistent."""
    return _check_run_folder
