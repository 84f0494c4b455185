"""Shared fixtures. Real data comes from ``HWR_DATA`` (or ``../shared/data`` beside the checkout)."""

from __future__ import annotations

import gzip
import hashlib
import importlib.machinery
import io
import json
import os
import signal
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from hwr_eval.data import normalize_images, read_idx

REPO = Path(__file__).resolve().parents[1]


def _real_data_dir() -> Path | None:
    candidates = [os.environ.get("HWR_DATA"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").exists():
            return Path(candidate)
    return None


def pytest_configure(config):
    # The Ctrl-C tests need Python's own SIGINT handler; a shell without job control starts background
    # jobs (`make test &`) with SIGINT ignored, and that would be what the runs restore.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Directory with the real MNIST / FEMNIST / USPS files; skips the test when absent."""
    path = _real_data_dir()
    if path is None:
        pytest.skip("real data not found: set HWR_DATA to a folder with the MNIST IDX files (see README)")
    return path


# ---------------------------------------------------------------------------------------------------
# compare / grid / cv fixtures
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """One BLAS/OpenMP/torch thread per test process; pytest-xdist runs one process per core instead.

    Spinning BLAS threads that fight over a busy 2-core machine made small fits 20-50x slower.
    """
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(previous)


@pytest.fixture
def synthetic_env(monkeypatch, tmp_path):
    """No real data and an empty cache: ``load_dataset`` falls back to the synthetic demo set."""
    monkeypatch.setenv("HWR_DATA", "")
    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def small_synthetic(tmp_path_factory):
    """A small synthetic 36-class dataset (30 images per class), shared read-only by the tests."""
    from hwr_eval.data import load_dataset

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HWR_DATA", "")
        mp.setenv("HWR_CACHE", str(tmp_path_factory.mktemp("cache")))
        return load_dataset(per_class=30, seed=0)


def _check_run_folder(run_dir, dataset=None) -> dict:
    """Everything a reader of the run folder relies on, read through the one reader and recomputed
    from the files themselves."""
    from hwr_eval.runs import SCHEMA_VERSION, open_run

    run = open_run(run_dir)
    results = run.results
    assert results["schema_version"] == SCHEMA_VERSION and run.record.spec is not None
    classes = run.classes
    assert run.X_test.shape == (run.y_test.size, 784) and run.X_test.dtype == np.uint8
    if dataset is not None:
        assert np.array_equal(run.X_test, dataset.X_test) and list(run.y_test) == list(dataset.y_test)
        assert classes == list(dataset.classes)
    assert sum(results["data"]["counts"]["test"].values()) == run.y_test.size
    preds = run.predictions
    assert list(preds.columns) == list(results["models"])
    on_disk = pd.read_csv(run_dir / "predictions.csv", dtype=str, keep_default_na=False)
    assert list(on_disk.columns) == ["index", "y_true", *(f"pred_{name}" for name in results["models"])]
    assert list(on_disk["y_true"]) == list(run.y_test)
    for name, result in run.record.models.items():
        m = result.metrics
        assert m["accuracy"] == pytest.approx(np.mean(preds[name] == run.y_test))
        assert m["accuracy_ci95"][0] <= m["accuracy"] <= m["accuracy_ci95"][1]
        cm = np.array(result.confusion_matrix)
        assert cm.shape == (len(classes), len(classes)) and cm.sum() == run.y_test.size
        assert np.trace(cm) / cm.sum() == pytest.approx(m["accuracy"])
        proba = run.probabilities[name]
        assert proba.shape == (run.y_test.size, len(classes)) and proba.dtype == np.float32
        assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)
        per_class = run.per_class[name]
        assert list(per_class["class"]) == classes
        assert np.allclose(per_class["f1"], [r["f1"] for r in result.per_class])
        assert per_class["support"].sum() == run.y_test.size
        assert result.fit_time_s > 0 and result.predict_time_s > 0
        # Temperature-scaled test probabilities beside the raw ones.
        assert result.selective["available"] and result.selective["calibrated"]
        calibrated = run.calibrated_probabilities[name]
        assert calibrated.shape == proba.shape and np.allclose(calibrated.sum(axis=1), 1.0, atol=1e-4)
        assert result.selective["test"]["n_accepted"] <= run.y_test.size
    assert results["mcnemar"]["models"] == list(results["models"])
    return results


def minimal_run_record(name, selective):
    """The smallest valid run record with one model whose abstention setting is ``selective``."""
    from hwr_eval.runs import ModelResult, RunRecord

    metrics = {"accuracy": 0.9, "accuracy_ci95": [0.8, 0.95], "balanced_accuracy": 0.9, "f1_macro": 0.9}
    result = ModelResult(params={}, n_parameters=1, fit_time_s=1.0, predict_time_s=0.1, metrics=metrics, per_class=[],
                         confusion_matrix=[[1, 0], [0, 1]], top_confusions=[], history=None, files={}, selective=selective)
    return RunRecord(kind="compare", status="complete", created="2026-12-06T00:00:00+00:00", command=None, settings={},
                     environment={}, data={"classes": ["0", "1"], "counts": {}}, models={name: result}).to_json()


@pytest.fixture
def check_run_folder():
    """``check(run_dir, dataset=None) -> results``: assert the run folder is complete and self-consistent."""
    return _check_run_folder


# --------------------------------------------------------------------------------------------------
# Report fixtures: a complete, small but realistic run folder of an older schema version (2, or 1 on
# request; docs/results-schema.md), written by hand as earlier hwr-evals wrote them: the report is built
# without training anything, and the one reader is shown to read older runs. New runs are written by
# `RunFolder` alone (tests/runs, tests/workflows).
# --------------------------------------------------------------------------------------------------


REPORT_CLASSES = [str(d) for d in range(10)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
# Pairs real models confuse; the fixture's simulated models make most of their errors there.
_LOOKALIKES = {"O": "0", "0": "O", "I": "1", "1": "I", "Z": "2", "S": "5", "5": "S", "B": "8", "G": "6", "Q": "O"}


def _render_characters(labels, rng) -> np.ndarray:
    """Draw each character with Pillow's built-in font, jittered and rotated: (n, 784) uint8."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    font = ImageFont.load_default(size=20)
    out = np.empty((len(labels), 784), dtype=np.uint8)
    for k, label in enumerate(labels):
        img = Image.new("L", (28, 28), 0)
        dx, dy = rng.integers(-2, 3, size=2)
        ImageDraw.Draw(img).text((14 + dx, 14 + dy), label, fill=255, font=font, anchor="mm")
        img = img.rotate(float(rng.uniform(-12, 12)), resample=Image.BILINEAR).filter(ImageFilter.GaussianBlur(0.6))
        out[k] = np.asarray(img, dtype=np.uint8).reshape(-1)
    return out


def _simulate_predictions(y, accuracy, rng):
    """Predictions with the given accuracy whose errors favour look-alike classes, plus probabilities."""
    n, n_classes = len(y), len(REPORT_CLASSES)
    index = {c: i for i, c in enumerate(REPORT_CLASSES)}
    pred = y.copy()
    for k in np.flatnonzero(rng.random(n) > accuracy):
        if y[k] in _LOOKALIKES and rng.random() < 0.7:
            pred[k] = _LOOKALIKES[y[k]]
        else:
            pred[k] = rng.choice([c for c in REPORT_CLASSES if c != y[k]])
    proba = rng.dirichlet(np.full(n_classes, 0.3), size=n).astype(np.float32) * 0.3
    proba[np.arange(n), [index[p] for p in pred]] += rng.uniform(0.35, 0.7, size=n).astype(np.float32)
    proba /= proba.sum(axis=1, keepdims=True)
    return pred, proba


def _history(n_epochs, rng):
    rows, train_loss, valid_loss = [], 2.5, 2.4
    for epoch in range(1, n_epochs + 1):
        train_loss *= 0.7
        valid_loss = valid_loss * 0.75 if epoch < n_epochs - 2 else valid_loss * 1.05
        rows.append({"epoch": epoch, "train_loss": round(train_loss, 4), "valid_loss": round(valid_loss, 4),
                     "train_acc": round(1 - train_loss / 3, 4), "valid_acc": round(1 - valid_loss / 2.8, 4),
                     "dur": round(float(rng.uniform(1, 2)), 3)})
    return rows


def _temperature_scaled(proba, temperature):
    logits = np.log(np.clip(proba, 1e-12, None)) / temperature
    scaled = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)


def _reliability_records(path, name, y, pred, proba, accuracy, seed):
    """Schema-2 ``selective``/``calibration``/``context`` records from simulated validation predictions,
    computed by hwr-eval's own functions, and the calibrated test probabilities file."""
    from hwr_eval.evaluation import records_from_arrays

    rng = np.random.default_rng(seed)  # its own stream: the test-split simulation stays as it was
    val_pred, val_proba = _simulate_predictions(y, accuracy, rng)
    temperature = 1.4
    test_cal = _temperature_scaled(proba, temperature)
    (path / "calibrated_probabilities").mkdir(exist_ok=True)
    np.save(path / "calibrated_probabilities" / f"{name}.npy", test_cal)
    return records_from_arrays(y, val_pred, val_proba, y, pred, proba, REPORT_CLASSES,
                               val_calibrated=_temperature_scaled(val_proba, temperature), test_calibrated=test_cal,
                               temperature=temperature, target_risk=0.05)


def write_run_dir(path, models=("knn", "linear", "cnn"), synthetic=False, status="complete",
                  n_test_per_class=4, seed=0, schema_version=2, robustness=False):
    """Write a run folder for ``models`` under ``path`` and return ``path``.

    ``linear`` gets history and weight maps, ``cnn`` history only, others (``knn``) neither.
    ``schema_version=1`` leaves out what version 2 added (abstention, calibration, context). With
    ``robustness`` the results carry a simulated ``robustness`` record (accuracy falling with severity
    and with the rotation angle).
    """
    from scipy.stats import chi2
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(REPORT_CLASSES), n_test_per_class)
    X = _render_characters(y, rng)
    np.savez_compressed(path / "test_set.npz", X=X, y=y)
    accuracies = {"knn": 0.82, "logreg": 0.78, "linear": 0.75, "mlp": 0.86, "cnn": 0.93}
    predictions = pd.DataFrame({"index": np.arange(len(y)), "y_true": y})
    entries = {}
    for name in models:
        pred, proba = _simulate_predictions(y, accuracies.get(name, 0.8), rng)
        predictions[name] = pred
        (path / "probabilities").mkdir(exist_ok=True)
        np.save(path / "probabilities" / f"{name}.npy", proba)
        p, r, f, s = precision_recall_fscore_support(y, pred, labels=REPORT_CLASSES, zero_division=0)
        per_class = pd.DataFrame({"class": REPORT_CLASSES, "precision": p, "recall": r, "f1": f, "support": s})
        (path / "per_class").mkdir(exist_ok=True)
        per_class.to_csv(path / "per_class" / f"{name}.csv", index=False)
        cm = confusion_matrix(y, pred, labels=REPORT_CLASSES)
        off = [(cm[i, j], REPORT_CLASSES[i], REPORT_CLASSES[j]) for i in range(36) for j in range(36) if i != j and cm[i, j]]
        top = [{"true": t, "predicted": q, "count": int(c)} for c, t, q in sorted(off, key=lambda x: -x[0])[:10]]
        acc = accuracy_score(y, pred)
        half = 1.96 * np.sqrt(acc * (1 - acc) / len(y))
        weights = None
        if name in ("linear", "logreg"):
            (path / "weights").mkdir(exist_ok=True)
            # Class-mean templates minus the overall mean look like real linear-model weight maps.
            means = np.stack([X[y == c].mean(axis=0) for c in REPORT_CLASSES]) - X.mean(axis=0)
            maps = (means + rng.normal(scale=10, size=means.shape)).reshape(36, 28, 28) / 255
            np.save(path / "weights" / f"{name}.npy", maps.astype(np.float32))
            weights = f"weights/{name}.npy"
        prf = {avg: precision_recall_fscore_support(y, pred, average=avg, zero_division=0)[:3]
               for avg in ("macro", "weighted")}
        entries[name] = {
            "params": {"max_epochs": 50, "lr": 0.001} if name != "knn" else {"n_neighbors": 3},
            "n_parameters": {"knn": 0, "linear": 28260, "cnn": 206000}.get(name, 1000),
            "fit_time_s": round(float(rng.uniform(0.5, 30)), 3), "predict_time_s": round(float(rng.uniform(0.01, 2)), 3),
            "metrics": {"accuracy": acc, "accuracy_ci95": [max(0.0, acc - half), min(1.0, acc + half)],
                        "balanced_accuracy": balanced_accuracy_score(y, pred),
                        **{f"{m}_{avg}": float(v) for avg, vals in prf.items()
                           for m, v in zip(("precision", "recall", "f1"), vals)}},
            "per_class": per_class.to_dict(orient="records"),
            "confusion_matrix": cm.tolist(),
            "top_confusions": top,
            "history": _history(8, rng) if name in ("linear", "cnn", "mlp") else None,
            "files": {"probabilities": f"probabilities/{name}.npy", "per_class": f"per_class/{name}.csv",
                      "weights": weights, "model": None},
        }
        if schema_version >= 2:
            entries[name].update(_reliability_records(path, name, y, pred, proba, accuracies.get(name, 0.8),
                                                      seed + 1000 + len(entries)))
            entries[name]["files"]["calibrated_probabilities"] = f"calibrated_probabilities/{name}.npy"
    predictions.to_csv(path / "predictions.csv", index=False)
    names = list(models)
    p_value = np.ones((len(names), len(names)))
    statistic = np.zeros_like(p_value)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            ra, rb = predictions[a] == y, predictions[b] == y
            n01, n10 = int((ra & ~rb).sum()), int((~ra & rb).sum())
            if i != j and n01 + n10:
                statistic[i, j] = (abs(n01 - n10) - 1) ** 2 / (n01 + n10)
                p_value[i, j] = chi2.sf(statistic[i, j], 1)
    counts = {split: {c: int(k) for c in REPORT_CLASSES}
              for split, k in (("train", 62 * n_test_per_class), ("validation", 28 * n_test_per_class), ("test", n_test_per_class))}
    counts["train"]["Q"] -= 40  # uneven classes, as in real letter data
    results = {
        "schema_version": schema_version, "kind": "compare", "status": status, "created": "2026-11-25T10:00:00+00:00",
        "command": "hwr-eval compare --models " + ",".join(names) + ' --set cnn.lr=0.01 --note "<b>x</b>"',
        "settings": {"models": names, "classes": "36", "per_class": 2000, "split": "random", "max_epochs": 50,
                     "device": "cpu", "seed": seed, "overrides": {"cnn": {"lr": 0.01}},
                     **({"target_risk": 0.05, "context": None} if schema_version >= 2 else {})},
        "environment": {"python": "3.11.7", "platform": "Linux-6.1-x86_64", "device_name": "cpu",
                        "packages": {"hwr-eval": "0.1.0", "torch": "2.13.0", "scikit-learn": "1.9.1"}},
        "data": {"synthetic": synthetic, "classes": REPORT_CLASSES,
                 "sources": [{"name": "synthetic demo" if synthetic else "mnist", "path": None if synthetic else "/data/train-images-idx3-ubyte.gz",
                              "sha256": None if synthetic else "a" * 64, "n_samples": 70000}],
                 "counts": counts},
        "models": entries,
        "mcnemar": {"models": names, "p_value": p_value.tolist(), "statistic": statistic.tolist()} if len(names) > 1 else None,
        "grid": None,
    }
    if robustness:
        results["robustness"] = _simulated_robustness(names, accuracies, rng)
    (path / "results.json").write_text(json.dumps(results, indent=2))
    return path


def _simulated_robustness(names, accuracies, rng) -> dict:
    from hwr_eval.data import CORRUPTIONS, ROTATION_ANGLES, SEVERITIES

    angles = [float(a) for a in ROTATION_ANGLES]
    models = {}
    for name in names:
        clean = accuracies.get(name, 0.8)
        per_corruption = {c: [round(clean * (1 - rng.uniform(0.02, 0.12) * s), 4) for s in SEVERITIES] for c in CORRUPTIONS}
        rotation = [round(clean * float(np.exp(-((a / 55) ** 2))), 4) for a in angles]
        mca = float(np.mean([v for values in per_corruption.values() for v in values]))
        worst = min(per_corruption, key=lambda c: np.mean(per_corruption[c]))
        models[name] = {"clean_accuracy": clean, "mca": mca, "relative_drop": (clean - mca) / clean,
                        "rotation_30": float(np.mean([rotation[angles.index(-30.0)], rotation[angles.index(30.0)]])),
                        "worst": worst, "per_corruption": per_corruption, "rotation": rotation}
    return {"seed": 0, "corruptions": list(CORRUPTIONS), "severities": list(SEVERITIES), "angles": angles,
            "file": None, "models": models}


# ======================================================================================================
# data layer fixtures (readers, dataset, fetch, `hwr-eval data`)
# ======================================================================================================


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


_EMNIST_LEGENDS = {"byclass": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                   "balanced": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt"}


def _write_emnist(folder: Path, split: str, chars: str, values: dict[str, int] | None = None, n_test: int = 1) -> Path:
    """EMNIST IDX gz files (and mapping) whose images are filled with ``values[char]`` (default 255).

    ``chars``: the characters written to the train part, in order (repeat one for more samples); the test
    part gets the first ``n_test`` per character. ``letters`` labels 1-26 = a merged 'A'-'Z'.
    """
    values = values or {}
    legend = _EMNIST_LEGENDS.get(split, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    offset = 1 if split == "letters" else 0
    test_chars = "".join(c * n_test for c in dict.fromkeys(chars))
    for part, part_chars in (("train", chars), ("test", test_chars)):
        images = np.stack([np.full((28, 28), values.get(c, 255), np.uint8) for c in part_chars])
        images[:, :3, :3] = 0  # a corner of background, like real ink on black
        _write_idx(folder / f"emnist-{split}-{part}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"emnist-{split}-{part}-labels-idx1-ubyte.gz",
                   np.array([legend.index(c) + offset for c in part_chars]))
    if split != "letters":
        (folder / f"emnist-{split}-mapping.txt").write_text("".join(f"{i} {ord(c)}\n" for i, c in enumerate(legend)))
    return folder


@pytest.fixture(scope="session")
def make_run_dir():
    """Factory fixture: ``make_run_dir(tmp_path, models=..., synthetic=..., status=...)`` -> run folder."""
    return write_run_dir


@pytest.fixture(scope="session")
def data_files():
    """Writers of tiny files in the real formats: ``idx``, ``mnist``, ``csv``, ``femnist``, ``emnist``,
    ``digit_images``."""
    return types.SimpleNamespace(idx=_write_idx, mnist=_write_mnist, csv=_write_csv, femnist=_write_femnist,
                                 emnist=_write_emnist, digit_images=_digit_images)


class FakeKaggleApi:
    """Stand-in for ``kaggle.api.kaggle_api_extended.KaggleApi``: writes ``payload`` where the real one would.

    Class attributes set the behaviour (the fixture resets them): ``auth_error`` / ``error`` are raised by
    ``authenticate`` / ``dataset_download_files``; ``interrupt`` writes half the file, then raises
    KeyboardInterrupt; ``zipped`` leaves the file in a zip archive as a download without unzip would.
    """

    payload = b""
    filename = "A_Z Handwritten Data.csv"
    auth_error: BaseException | None = None
    error: BaseException | None = None
    interrupt = False
    zipped = False
    calls: list = []

    def authenticate(self):
        self.calls.append(("authenticate",))
        if self.auth_error is not None:
            raise self.auth_error

    def dataset_download_files(self, dataset, path=None, force=False, quiet=True, unzip=False):
        self.calls.append(("dataset_download_files", dataset, Path(path), unzip))
        if self.error is not None:
            raise self.error
        target = Path(path) / self.filename
        if self.interrupt:
            target.write_bytes(self.payload[: len(self.payload) // 2])
            raise KeyboardInterrupt
        if self.zipped:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as zf:
                zf.writestr(self.filename, self.payload)
            (Path(path) / "az-handwritten-alphabets-in-csv-format.zip").write_bytes(buffer.getvalue())
        else:
            target.write_bytes(self.payload)


@pytest.fixture
def fake_kaggle(monkeypatch, tmp_path):
    """The ``kaggle`` package replaced by :class:`FakeKaggleApi` (no network), with credentials in the
    environment, ``HOME`` in a temporary folder and ``KAGGLE_AZ`` pointing at the stand-in's small CSV."""
    from hwr_eval.data import _kaggle

    csv = _write_csv(tmp_path / "kaggle-payload" / "az.csv", np.arange(52) % 26, np.full((52, 784), 230), header=False)
    api = type("KaggleApi", (FakeKaggleApi,), {"payload": csv.read_bytes(), "calls": []})
    package = types.ModuleType("kaggle")
    package.__spec__ = importlib.machinery.ModuleSpec("kaggle", None, is_package=True)
    package.__path__ = []
    package.api = types.ModuleType("kaggle.api")
    package.api.kaggle_api_extended = types.ModuleType("kaggle.api.kaggle_api_extended")
    package.api.kaggle_api_extended.KaggleApi = api
    for name, module in (("kaggle", package), ("kaggle.api", package.api),
                         ("kaggle.api.kaggle_api_extended", package.api.kaggle_api_extended)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef")
    resource = _kaggle.KaggleFile(_kaggle.KAGGLE_AZ.dataset, _kaggle.KAGGLE_AZ.filename, len(api.payload),
                                  hashlib.sha256(api.payload).hexdigest())
    monkeypatch.setattr(_kaggle, "KAGGLE_AZ", resource)
    return api


# ---------------------------------------------------------------------------------------------------------
# Models: small real subsets of MNIST and the FEMNIST letters.
# ---------------------------------------------------------------------------------------------------------


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
        X = read_idx(real_data_dir / f"{split}-images-idx3-ubyte.gz", ndim=3).reshape(-1, 784)
        y = read_idx(real_data_dir / f"{split}-labels-idx1-ubyte.gz", ndim=1).astype(str)
        out[split] = _per_class(X, y, n, rng)
    (X_train, y_train), (X_test, y_test) = out["train"], out["t10k"]
    return X_train, y_train, X_test, y_test


@pytest.fixture(scope="session")
def letters_o(real_data_dir):
    """Real uppercase 'O' images from FEMNIST, NIST-normalised like MNIST (so they really look like 0s):
    X (n, 784) uint8, white ink on black; y 'O'."""
    path = real_data_dir / "letters" / "femnist_leaf_letters.npz"
    if not path.exists():
        pytest.skip(f"letters file not found: {path}")
    with np.load(path) as data:
        chars = data["legend"][data["labels"]]
        images = data["images"][chars == "O"]
    X = normalize_images(images, ink="dark").reshape(len(images), -1)
    return X, np.full(len(X), "O")


# ---------------------------------------------------------------------------------------------------------
# Ctrl-C: a model that swallows the interrupt the way skorch does (training ends early, fit returns).
# ---------------------------------------------------------------------------------------------------------


class _SwallowsCtrlC(ClassifierMixin, BaseEstimator):
    """Like skorch: Ctrl-C ends training early and ``fit`` returns normally.

    ``catches=KeyboardInterrupt`` is skorch's behaviour; ``catches=BaseException`` stands for code that
    swallows every exception, so only the run's record that Ctrl-C was pressed can tell.
    """

    def __init__(self, k=1, catches=KeyboardInterrupt):
        self.k = k
        self.catches = catches

    def fit(self, X, y):
        try:
            signal.raise_signal(signal.SIGINT)
        except self.catches:
            pass
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.repeat(self.classes_[0], len(X))


@pytest.fixture
def swallows_ctrl_c():
    """The class of an estimator whose ``fit`` raises SIGINT and swallows the KeyboardInterrupt."""
    return _SwallowsCtrlC


# --------------------------------------------------------------------------------------------------
# Dask: one local cluster of 2 worker processes (1 thread each) per test session, always closed.
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dask_cluster():
    """``(cluster, client)``: a 2-process ``LocalCluster``; skips when dask[distributed] is missing."""
    import logging

    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        client.wait_for_workers(2, timeout=120)
        yield cluster, client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="session")
def load_bench():
    """``load_bench("memory")``: the script ``bench/memory.py`` as a module, loaded from its file (not from
    ``sys.path``, where ``bench/onnx.py`` would shadow the ``onnx`` package)."""
    import importlib.util

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"{name}_bench", REPO / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
