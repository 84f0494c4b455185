"""The run folder: its schema version, atomic writer, settings record and environment capture.

The layout and ``results.json`` are documented in ``docs/results-schema.md``; :mod:`hwr_eval.report`
rebuilds the HTML report from the folder alone.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .. import __version__
from ..data._dataset import Dataset
from ..errors import HwrError
from ..io import atomic_path, atomic_write_text
from ._metrics import evaluate, mcnemar_matrix

SCHEMA_VERSION = 2
#: Older versions the report still reads (sections they lack are shown as absent).
READABLE_SCHEMA_VERSIONS = (1, 2)
#: Default parent folder of new run folders (relative to the working directory).
REPORTS_DIR = Path("reports")
#: Packages whose versions are recorded with every run.
_PACKAGES = ("torch", "skorch", "scikit-learn", "numpy", "scipy", "pandas", "joblib")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


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


def _json_value(value: Any) -> Any:
    """A JSON-safe copy: numpy scalars to Python, NaN/inf to None, anything else unknown to ``str``."""
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_value(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def model_params(model: BaseEstimator) -> dict[str, Any]:
    """The model's parameters for the record, readable and stable from run to run.

    ``get_params(deep=True)`` without nested estimators, callbacks, private names or object reprs
    (they carry memory addresses); classes are recorded by their dotted name; ``clf__`` is dropped.
    """
    out = {}
    for key, value in model.get_params(deep=True).items():
        parts = key.split("__")
        if key in ("steps", "memory", "verbose", "transform_input") or "callbacks" in parts:
            continue
        if any(part.startswith("_") for part in parts):
            continue
        if isinstance(value, type):
            value = f"{value.__module__}.{value.__qualname__}"
        elif isinstance(value, (list, tuple)):
            if not all(v is None or isinstance(v, (bool, int, float, str, np.generic)) for v in value):
                continue  # step lists and the like
        elif not (value is None or isinstance(value, (bool, int, float, str, np.generic))):
            continue  # estimators, functions, arbitrary objects
        out[key.removeprefix("clf__")] = _json_value(value)
    return out



def check_dataset(dataset: Dataset, *, min_train: int = 1) -> None:
    """Refuse splits that cannot give an honest score: every class needs training and test images.

    Raises ``HwrError`` naming the class and the split, e.g. when ``per_class`` is so small that
    rounding leaves a class without test images.
    """
    counts = dataset.counts()
    per_class = dataset.provenance.get("per_class")
    hint = f" (per_class={per_class}); use a larger --per-class" if per_class else ""
    for split, need in (("train", min_train), ("test", 1)):
        short = counts[counts[split] < need]
        if len(short):
            label = short.index[0]
            raise HwrError(
                f"class {label!r} has {int(short.loc[label, split])} {split} images, needs at least {need}{hint}"
            )


def class_set_name(classes: Sequence[str]) -> str:
    """The ``--classes`` name of a list of classes: digits, letters, 36 or 62."""
    chars = "".join(classes)
    if chars.isdigit():
        return "digits"
    if chars.isalpha() and chars.isupper():
        return "letters"
    return "62" if any(c.islower() for c in chars) else "36"


def new_run_dir(kind: str, parent: str | os.PathLike = REPORTS_DIR) -> Path:
    """A fresh, not yet existing folder ``parent/<kind>-YYYYmmdd-HHMMSS`` (suffixed when taken)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(parent) / f"{kind}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def prepare_run_dir(out_dir: str | os.PathLike | None, kind: str) -> tuple[Path, bool]:
    """Create (or check) the output folder up front, so an unwritable one fails before any training.

    Returns the folder and whether it was created here (so a failed run can remove it again).
    """
    path = new_run_dir(kind) if out_dir is None else Path(out_dir)
    if path.exists() and not path.is_dir():
        raise HwrError(f"output folder {path} is a file")
    if path.is_dir() and any(path.iterdir()):
        raise HwrError(f"output folder {path} is not empty; choose a new --out folder")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        # mkdir succeeds on an existing read-only folder: prove we can write a file there.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise HwrError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None
    return path, created


def _cpu_name() -> str:
    try:  # Linux names the CPU model here; platform.processor() often says only "x86_64"
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def environment(device: str | None = None) -> dict:
    """Python, platform, device and package versions, for the record."""
    packages = {"hwr-eval": __version__}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    device_name = _cpu_name()
    try:
        import torch

        if device in (None, "auto", "cuda") and torch.cuda.is_available():
            device_name = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device_name": device_name,
        "packages": packages,
    }


def data_record(dataset: Dataset) -> dict:
    """The ``data`` section of ``results.json``: provenance and split sizes per class."""
    prov = dataset.provenance
    counts = dataset.counts()
    return _json_value(
        {
            "synthetic": bool(prov.get("synthetic", False)),
            "data_dir": prov.get("data_dir"),
            "classes": list(dataset.classes),
            "sources": prov.get("sources", []),
            "counts": {col: {str(c): int(n) for c, n in counts[col].items()} for col in counts.columns},
            # Which source gave each class group and why; set when the letters mix upper and lower case.
            "source_choice": prov.get("source_choice", {}),
            "mixed_case_letters": prov.get("mixed_case_letters"),
        }
    )


class RunWriter:
    """Writes one run folder, file by file and atomically, keeping ``results.json`` current.

    ``results.json`` is rewritten after every model (status ``"incomplete"`` until :meth:`finish`), so
    even a killed run leaves a readable folder listing the models that finished.
    """

    def __init__(self, run_dir: Path, dataset: Dataset, kind: str, settings: dict, command: str | None):
        self.run_dir = Path(run_dir)
        self.dataset = dataset
        self.results: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "kind": kind,
            "status": "incomplete",
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": command,
            "settings": _json_value(settings),
            "environment": environment(settings.get("device")),
            "data": data_record(dataset),
            "models": {},
            "mcnemar": None,
            "grid": None,
        }
        self.predictions: dict[str, np.ndarray] = {}

    def write_test_set(self) -> None:
        with atomic_path(self.run_dir / "test_set.npz") as tmp:
            np.savez_compressed(tmp, X=self.dataset.X_test, y=np.asarray(self.dataset.y_test).astype(str))

    def add_model(
        self,
        name: str,
        model: BaseEstimator,
        *,
        fit_time: float,
        predict_time: float,
        y_pred: np.ndarray,
        proba: np.ndarray | None,
        seed: int,
        save_model: bool = False,
        n_resamples: int = 1000,
        extra: dict | None = None,
        extra_arrays: dict[str, np.ndarray | None] | None = None,
    ) -> dict:
        """Evaluate one fitted model, write its files, update ``results.json``; return its record.

        ``extra`` adds keys to the model's record (e.g. ``selective``); ``extra_arrays`` writes each array
        to ``<key>/<name>.npy`` and names it in ``files.<key>`` (``null`` for a None array).
        """
        # Imported here: reading run folders (the report) must not load torch.
        from ..models import n_parameters, training_history, weight_maps

        classes = list(self.dataset.classes)
        y_test = np.asarray(self.dataset.y_test).astype(str)
        scores = evaluate(y_test, y_pred, proba, classes, n_resamples=n_resamples, seed=seed)
        files: dict[str, str | None] = {"probabilities": None, "per_class": None, "weights": None, "model": None}
        if proba is not None:
            files["probabilities"] = f"probabilities/{name}.npy"
            with atomic_path(self.run_dir / files["probabilities"]) as tmp:
                np.save(tmp, proba.astype(np.float32))
        files["per_class"] = f"per_class/{name}.csv"
        with atomic_path(self.run_dir / files["per_class"]) as tmp:
            pd.DataFrame(scores["per_class"]).to_csv(tmp, index=False)
        weights = weight_maps(model)
        if weights is not None:
            files["weights"] = f"weights/{name}.npy"
            with atomic_path(self.run_dir / files["weights"]) as tmp:
                np.save(tmp, np.asarray(weights, dtype=np.float32))
        if save_model:
            files["model"] = f"models/{name}.joblib"
            with atomic_path(self.run_dir / files["model"]) as tmp:
                joblib.dump(model, tmp)
        for key, array in (extra_arrays or {}).items():
            files[key] = None
            if array is not None:
                files[key] = f"{key}/{name}.npy"
                with atomic_path(self.run_dir / files[key]) as tmp:
                    np.save(tmp, np.asarray(array, dtype=np.float32))
        record = {
            "params": model_params(model),
            "n_parameters": int(n_parameters(model)),
            "fit_time_s": float(fit_time),
            "predict_time_s": float(predict_time),
            **scores,
            "history": training_history(model),
            "files": files,
            **(extra or {}),
        }
        self.results["models"][name] = _json_value(record)
        self.predictions[name] = np.asarray(y_pred).astype(str)
        self._write_predictions()
        self.write_results()
        return self.results["models"][name]

    def _write_predictions(self) -> None:
        y_test = np.asarray(self.dataset.y_test).astype(str)
        frame = pd.DataFrame({"index": np.arange(y_test.size), "y_true": y_test, **self.predictions})
        with atomic_path(self.run_dir / "predictions.csv") as tmp:
            frame.to_csv(tmp, index=False)

    def write_results(self) -> None:
        if self.predictions:
            y_test = np.asarray(self.dataset.y_test).astype(str)
            self.results["mcnemar"] = _json_value(mcnemar_matrix(y_test, self.predictions))
        text = json.dumps(self.results, indent=2, allow_nan=False)
        atomic_write_text(self.run_dir / "results.json", text + "\n")

    def finish(self, status: str = "complete") -> Path:
        """Write the final ``results.json`` with its ``status``; return the run folder."""
        self.results["status"] = status
        self.write_results()
        return self.run_dir




def default_command(kind: str, **kwargs) -> str:
    """A summary of the Python call, e.g. ``hwr_eval.run_grid(model='knn', cv=3)``.

    The CLI records its own command line (``cli.command_line``); ``sys.argv`` would name whatever
    ``python -m`` started, such as the test runner.
    """
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"hwr_eval.run_{kind}({args})"



def cv_results_table(run_dir: str | os.PathLike) -> pd.DataFrame:
    """The ranked grid-search table of a run folder: one row per candidate, best first.

    Parameter columns get their shortest unambiguous names (``clf__module__pool`` -> ``pool``).
    """
    frame = pd.read_csv(Path(run_dir) / "cv_results.csv")
    params = [c.removeprefix("param_") for c in frame.columns if c.startswith("param_")]
    short = {p: p.rsplit("__", 1)[-1] for p in params}
    if len(set(short.values())) < len(short):
        short = {p: p.removeprefix("clf__") for p in params}
    table = frame[["rank_test_score", *(f"param_{p}" for p in params), "mean_test_score", "std_test_score",
                   "mean_fit_time"]]
    names = {"rank_test_score": "rank", "mean_test_score": "mean score", "std_test_score": "std",
             "mean_fit_time": "fit s", **{f"param_{p}": short[p] for p in params}}
    return table.rename(columns=names)
