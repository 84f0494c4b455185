"""Train several models on one data split, score them on the untouched test split, write a run folder.

The run folder layout and ``results.json`` are documented in ``docs/results-schema.md``; the HTML report
is rebuilt from that folder alone. :func:`run_compare`, :func:`run_grid` and :func:`run_cv` are the Python
API behind ``hwr-eval compare``, ``hwr-eval grid`` and ``hwr-eval cv``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate

from . import __version__
from .dataset import Dataset
from .errors import HwrError
from .fitting import fit_with_validation
from .evaluation import evaluate, mcnemar_matrix
from .io import atomic_path, atomic_write_text
from .registry import (
    check_model_params,
    list_models,
    make_model,
    n_parameters,
    resolve_params,
    training_history,
    weight_maps,
)

SCHEMA_VERSION = 1
#: Default parent folder of new run folders (relative to the working directory).
REPORTS_DIR = Path("reports")
#: Packages whose versions are recorded with every run.
_PACKAGES = ("torch", "skorch", "scikit-learn", "numpy", "scipy", "pandas", "joblib")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class CompareInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: the finished models' results were written, marked incomplete.

    Attributes
    ----------
    run_dir : Path or None
        The run folder with the finished models, or None if nothing had been written yet.
    finished : list of str
        Names of the models whose results were kept.
    """

    def __init__(self, run_dir: Path | None, finished: Sequence[str]):
        super().__init__(f"interrupted; results of {len(finished)} finished model(s) kept in {run_dir}")
        self.run_dir = run_dir
        self.finished = list(finished)


# --------------------------------------------------------------------------------------------- models


def _param_keys_ending(model: BaseEstimator, short: str) -> list[str]:
    return [k for k in model.get_params(deep=True) if k == short or k.endswith(f"__{short}")]


def _is_epoch_model(model: BaseEstimator) -> bool:
    """PyTorch models are the ones with a ``max_epochs`` parameter somewhere inside."""
    return bool(_param_keys_ending(model, "max_epochs"))


def configure_model(
    model: BaseEstimator,
    *,
    max_epochs: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    verbose: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> BaseEstimator:
    """Apply run-wide settings where the model has them, then the user's parameter overrides.

    Run-wide settings (``max_epochs``, ``device``, ``random_state`` from ``seed``, ``verbose`` for the
    PyTorch models) are set on every nested parameter of that name, so a cascade's inner networks follow
    them too; models without them (kNN has no seed) are left alone. ``params`` go through
    :func:`hwr_eval.registry.resolve_params`, so short names work and unknown names raise ``HwrError``.
    """
    settings: dict[str, Any] = {}
    epoch_model = _is_epoch_model(model)
    for short, value in (("max_epochs", max_epochs), ("device", device), ("random_state", seed)):
        if value is not None:
            settings.update({k: value for k in _param_keys_ending(model, short)})
    if verbose is not None and epoch_model:
        settings.update({k: verbose for k in _param_keys_ending(model, "verbose") if "__" in k})
    model.set_params(**settings)
    if params:
        model.set_params(**resolve_params(model, dict(params)))
    return model


def build_models(
    models: Sequence[str] | Mapping[str, BaseEstimator],
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    max_epochs: int | None = None,
    device: str | None = None,
    seed: int | None = 0,
    verbose: int | None = None,
) -> dict[str, BaseEstimator]:
    """Fresh, configured estimators by name; every name and parameter is checked before any training."""
    if isinstance(models, Mapping):
        named = {name: clone(est) for name, est in models.items()}
    else:
        names = [m.strip() for m in models if m.strip()]
        known = list_models()
        for name in names:
            if name not in known:
                raise HwrError(f"unknown model {name!r}; choose from {', '.join(known)}")
        if len(set(names)) != len(names):
            raise HwrError(f"model listed twice in {','.join(names)}")
        named = {name: make_model(name) for name in names}
    if not named:
        raise HwrError("no models given")
    for name in named:
        if not _SAFE_NAME.match(name):
            raise HwrError(f"model name {name!r} cannot be a file name; use letters, digits, '_', '-', '.'")
    overrides = dict(overrides or {})
    for name in overrides:
        if name not in named:
            raise HwrError(f"--set names model {name!r}, which is not among the models run ({', '.join(named)})")
    for name, model in named.items():
        configure_model(
            model, max_epochs=max_epochs, device=device, seed=seed, verbose=verbose, params=overrides.get(name)
        )
        if not isinstance(models, Mapping):
            check_model_params(model)  # a bad value fails now, not after the models before it trained
    return named


class _CtrlC(BaseException):
    """Ctrl-C while a model trains. Not a ``KeyboardInterrupt``: skorch catches those and returns from
    ``fit`` as if training had finished, and ``GridSearchCV`` would go on with the next candidate."""


class _SigintWatch(contextlib.AbstractContextManager):
    """Turn Ctrl-C into :class:`_CtrlC` (main thread only) and remember that it was pressed."""

    def __init__(self):
        self.fired = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                self.fired = True
                raise _CtrlC

            signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return None


def _timed_fit(model: BaseEstimator, X, y, X_val=None, y_val=None) -> float:
    """Fit, passing the validation split when the model's ``fit`` takes it; return the seconds taken."""
    start = time.perf_counter()
    fit_with_validation(model, X, y, X_val, y_val)
    return time.perf_counter() - start


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


# ------------------------------------------------------------------------------------------ run folder


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
    ) -> dict:
        """Evaluate one fitted model, write its files, update ``results.json``; return its record."""
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
        record = {
            "params": model_params(model),
            "n_parameters": int(n_parameters(model)),
            "fit_time_s": float(fit_time),
            "predict_time_s": float(predict_time),
            **scores,
            "history": training_history(model),
            "files": files,
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

    def finish(self, status: str = "complete", report: bool = True) -> Path:
        """Write the final ``results.json`` and (with ``report``) the HTML report; return the run folder."""
        self.results["status"] = status
        self.write_results()
        if report and self.results["models"]:
            _build_report(self.run_dir)
        return self.run_dir


def _build_report(run_dir: Path) -> None:
    from .report import build_report  # matplotlib loads only when a run finishes

    build_report(run_dir)


def default_command(kind: str, **kwargs) -> str:
    """The command line that started this process when it is the CLI, else a Python-call summary."""
    argv0 = Path(sys.argv[0]).name if sys.argv else ""
    if argv0 in ("hwr-eval", "__main__.py") and len(sys.argv) > 1:
        return " ".join(["hwr-eval", *sys.argv[1:]])
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"hwr_eval.run_{kind}({args})"


# ---------------------------------------------------------------------------------------------- compare

ModelStart = Callable[[str, int, int], None]
ModelEnd = Callable[[str, dict], None]


def run_settings(models: list[str], dataset: Dataset, max_epochs: int | None, device: str | None, seed: int,
                 overrides: Mapping[str, Mapping[str, Any]] | None, save_models: bool) -> dict:
    """The ``settings`` record of ``results.json``."""
    return {
        "models": models,
        "classes": class_set_name(dataset.classes),
        "per_class": dataset.provenance.get("per_class"),
        "split": dataset.provenance.get("split"),
        "data_seed": dataset.provenance.get("seed"),
        "max_epochs": max_epochs,
        "device": device,
        "seed": seed,
        "overrides": {k: dict(v) for k, v in (overrides or {}).items()},
        "save_models": save_models,
    }


def run_compare(
    models: Sequence[str] | Mapping[str, BaseEstimator],
    dataset: Dataset,
    out_dir: str | os.PathLike | None = None,
    *,
    max_epochs: int | None = None,
    device: str | None = None,
    seed: int = 0,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    save_models: bool = False,
    verbose: int = 0,
    n_resamples: int = 1000,
    report: bool = True,
    command: str | None = None,
    on_model_start: ModelStart | None = None,
    on_model_end: ModelEnd | None = None,
) -> Path:
    """Train each model, score it on the test split and write the run folder.

    Parameters
    ----------
    models : sequence of str or mapping of name to estimator
        Registry names (``hwr_eval.list_models()``), or your own estimators by name.
    dataset : Dataset
        From :func:`hwr_eval.load_dataset`. PyTorch models fit on the training split and stop early on
        the validation split; the baselines fit on the training split; all are scored on the test split.
    out_dir : path, optional
        Run folder to create (must be new or empty). Default: ``reports/compare-<timestamp>``.
    max_epochs, device : optional
        Set on every model that has these parameters; None keeps the models' defaults.
    seed : int, default=0
        ``random_state`` of every model that has one, and the seed of the bootstrap intervals.
    overrides : mapping of model name to {param: value}, optional
        Extra parameters per model; short names are resolved by ``hwr_eval.registry.resolve_params``.
    save_models : bool, default=False
        Also write ``models/<name>.joblib``.
    verbose : int, default=0
        Passed to the PyTorch models (1 prints one line per epoch).
    n_resamples : int, default=1000
        Bootstrap resamples of the accuracy interval.
    report : bool, default=True
        Also build ``report.html`` (``hwr-eval report RUN_DIR`` can build it later).
    command : str, optional
        Recorded in ``results.json``; default: the command line or a summary of this call.
    on_model_start, on_model_end : callable, optional
        Progress hooks: ``on_model_start(name, index, total)`` and ``on_model_end(name, record)`` where
        ``record`` is the model's entry in ``results.json``.

    Returns
    -------
    Path
        The run folder.

    Raises
    ------
    HwrError
        Unknown model or parameter, unwritable output folder; raised before any training.
    CompareInterrupted
        On Ctrl-C, after writing the finished models' results with status ``"incomplete"``.
    """
    names = list(models)
    estimators = build_models(
        models, overrides=overrides, max_epochs=max_epochs, device=device, seed=seed, verbose=verbose
    )
    settings = run_settings(list(estimators), dataset, max_epochs, device, seed, overrides, save_models)
    if command is None:
        command = default_command("compare", models=names, max_epochs=max_epochs, device=device, seed=seed)
    check_dataset(dataset)
    run_dir, created = prepare_run_dir(out_dir, "compare")
    writer = RunWriter(run_dir, dataset, "compare", settings, command)
    try:
        writer.write_test_set()
        writer.write_results()
        total = len(estimators)
        for i, (name, model) in enumerate(estimators.items()):
            if on_model_start is not None:
                on_model_start(name, i, total)
            with _SigintWatch() as ctrl_c:
                fit_time = _timed_fit(model, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val)
            if ctrl_c.fired:  # caught and swallowed somewhere inside fit: the model did not finish
                raise _CtrlC
            start = time.perf_counter()
            y_pred = np.asarray(model.predict(dataset.X_test)).astype(str)
            predict_time = time.perf_counter() - start
            proba = aligned_proba(model, dataset.X_test, dataset.classes)
            record = writer.add_model(
                name,
                model,
                fit_time=fit_time,
                predict_time=predict_time,
                y_pred=y_pred,
                proba=proba,
                seed=seed,
                save_model=save_models,
                n_resamples=n_resamples,
            )
            if on_model_end is not None:
                on_model_end(name, record)
    except (KeyboardInterrupt, _CtrlC):
        writer.finish("incomplete", report=report)
        raise CompareInterrupted(run_dir, list(writer.results["models"])) from None
    except BaseException:
        # Nothing worth keeping yet: leave no folder behind rather than a run without results.
        if created and not writer.results["models"]:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return writer.finish("complete", report=report)


# ------------------------------------------------------------------------------------------------- grid


def run_grid(
    model: str,
    param_grid: Mapping[str, Sequence[Any]],
    dataset: Dataset,
    out_dir: str | os.PathLike | None = None,
    *,
    cv: int = 3,
    n_jobs: int | None = None,
    scoring: str = "accuracy",
    max_epochs: int | None = None,
    device: str | None = None,
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    save_models: bool = False,
    verbose: int = 0,
    n_resamples: int = 1000,
    report: bool = True,
    command: str | None = None,
) -> Path:
    """Grid search on the training split, then refit the best setting and score it on the test split.

    The search is scikit-learn's ``GridSearchCV`` with stratified, shuffled ``cv`` folds of the training
    split. The best parameters are refitted like in :func:`run_compare` (PyTorch models stop early on
    the validation split) and scored on the test split. The run folder (``kind: "grid"``) holds the
    usual files plus ``cv_results.csv``; ``results.json`` gets a ``grid`` section.

    Parameters
    ----------
    model : str
        Registry name.
    param_grid : mapping of parameter name to list of values
        Short or full parameter names (resolved by ``hwr_eval.registry.resolve_params``).
    cv : int, default=3
        Number of folds.
    n_jobs : int, optional
        Parallel fits (``GridSearchCV``'s ``n_jobs``).
    scoring : str, default="accuracy"
        Any scikit-learn scorer name.
    verbose : int, default=0
        ``GridSearchCV``'s verbosity (2 prints one line per fit with its score).

    Other parameters are as in :func:`run_compare`. Returns the run folder.
    """
    estimator = build_models(
        [model], overrides={model: overrides or {}}, max_epochs=max_epochs, device=device, seed=seed, verbose=0
    )[model]
    if not param_grid:
        raise HwrError("empty parameter grid; give at least one --param name=v1,v2")
    grid = resolve_params(estimator, {k: list(v) for k, v in param_grid.items()})
    for key, values in grid.items():
        if not values:
            raise HwrError(f"parameter {key!r} has no values")
    if cv < 2:
        raise HwrError(f"cv={cv}: needs at least 2 folds")
    check_dataset(dataset, min_train=cv)
    settings = run_settings([model], dataset, max_epochs, device, seed, {model: overrides or {}}, save_models)
    if command is None:
        command = default_command("grid", model=model, param_grid=dict(param_grid), cv=cv)
    run_dir, created = prepare_run_dir(out_dir, "grid")
    try:
        folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
        search = GridSearchCV(
            estimator, grid, scoring=scoring, cv=folds, n_jobs=n_jobs, refit=False, verbose=verbose, error_score="raise"
        )
        with _SigintWatch() as ctrl_c:
            search.fit(dataset.X_train, dataset.y_train)
            best = clone(estimator).set_params(**search.best_params_)
            fit_time = _timed_fit(best, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val)
        if ctrl_c.fired:
            raise _CtrlC
        start = time.perf_counter()
        y_pred = np.asarray(best.predict(dataset.X_test)).astype(str)
        predict_time = time.perf_counter() - start
        proba = aligned_proba(best, dataset.X_test, dataset.classes)

        writer = RunWriter(run_dir, dataset, "grid", settings, command)
        cv_results = pd.DataFrame(search.cv_results_).sort_values("rank_test_score", kind="stable")
        with atomic_path(run_dir / "cv_results.csv") as tmp:
            cv_results.to_csv(tmp, index=False)
        writer.results["grid"] = _json_value(
            {
                "model": model,
                "param_grid": grid,
                "best_params": search.best_params_,
                "best_score": float(search.best_score_),
                "cv": cv,
                "scoring": scoring,
                "n_candidates": int(len(cv_results)),
            }
        )
        writer.write_test_set()
        writer.add_model(
            model,
            best,
            fit_time=fit_time,
            predict_time=predict_time,
            y_pred=y_pred,
            proba=proba,
            seed=seed,
            save_model=save_models,
            n_resamples=n_resamples,
        )
    except BaseException as exc:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)
        if isinstance(exc, _CtrlC):
            raise KeyboardInterrupt from None  # nothing finished: the CLI says so and exits 130
        raise
    return writer.finish("complete", report=report)


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


# --------------------------------------------------------------------------------------------------- cv

CV_SCORING = ("accuracy", "balanced_accuracy", "f1_macro")


def run_cv(
    models: Sequence[str] | Mapping[str, BaseEstimator],
    dataset: Dataset,
    *,
    folds: int = 5,
    scoring: Sequence[str] = CV_SCORING,
    n_jobs: int | None = None,
    max_epochs: int | None = None,
    device: str | None = None,
    seed: int = 0,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    on_model_start: ModelStart | None = None,
) -> pd.DataFrame:
    """Stratified k-fold ``cross_validate`` of each model on the training and validation splits together.

    The test split stays untouched. Returns one row per model with ``<metric>_mean`` and
    ``<metric>_std`` for every scorer, plus fit and score times.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, even when a model's ``fit`` swallowed it: no mean over half-trained folds is returned.
    """
    estimators = build_models(models, overrides=overrides, max_epochs=max_epochs, device=device, seed=seed, verbose=0)
    X = np.concatenate([dataset.X_train, dataset.X_val])
    y = np.concatenate([np.asarray(dataset.y_train), np.asarray(dataset.y_val)])
    n_min = int(pd.Series(y).value_counts().min())
    if folds < 2 or folds > n_min:
        raise HwrError(f"--folds {folds}: needs 2 to {n_min} folds (the rarest class has {n_min} images)")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    rows = {}
    for i, (name, model) in enumerate(estimators.items()):
        if on_model_start is not None:
            on_model_start(name, i, len(estimators))
        # skorch ends fit early on Ctrl-C and returns normally; the watch notices, so the scores of
        # half-trained folds are never averaged and reported.
        try:
            with _SigintWatch() as ctrl_c:
                scores = cross_validate(
                    model, X, y, cv=splitter, scoring=list(scoring), n_jobs=n_jobs, error_score="raise"
                )
        except _CtrlC:
            raise KeyboardInterrupt from None
        if ctrl_c.fired:
            raise KeyboardInterrupt
        row = {}
        for metric in [*scoring, "fit_time", "score_time"]:
            values = scores[f"test_{metric}" if metric in scoring else metric]
            row[f"{metric}_mean"] = float(np.mean(values))
            row[f"{metric}_std"] = float(np.std(values))
        rows[name] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "model"
    return frame
