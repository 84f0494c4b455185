"""Reading and validating a run folder for the report: every problem is one clear ``HwrError``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import HwrError
from ..evaluation._run_folder import READABLE_SCHEMA_VERSIONS

#: A class is "weak" when its F1 is this far (or further) below the model's macro F1.

#: A class is "weak" when its F1 is this far (or further) below the model's macro F1.
WEAK_F1_MARGIN = 0.10
#: Most confident misclassifications shown per model.
MAX_MISCLASSIFIED = 40
#: Confused pairs shown with example images per model.
MAX_PAIRS = 6
#: PNG resolution; images are displayed at 96 CSS px per inch, so 144 dpi stays sharp on HiDPI screens.
DPI = 144

REQUIRED_KEYS = ("kind", "status", "created", "command", "settings", "environment", "data", "models")
METRIC_KEYS = ("accuracy", "accuracy_ci95", "balanced_accuracy", "f1_macro")
PER_CLASS_COLUMNS = ("class", "precision", "recall", "f1", "support")


# --------------------------------------------------------------------------------------------------
# Reading and validating the run folder
# --------------------------------------------------------------------------------------------------


@dataclass
class RunFolder:
    """A validated run folder: ``results.json`` and the arrays and tables the report needs.

    ``probabilities`` has no entry for models without ``predict_proba`` (``files.probabilities: null``).
    """

    path: Path
    results: dict
    classes: list[str]
    X_test: np.ndarray
    y_test: np.ndarray
    predictions: pd.DataFrame
    probabilities: dict[str, np.ndarray] = field(default_factory=dict)
    per_class: dict[str, pd.DataFrame] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    #: Test probabilities after temperature scaling (schema 2; absent in version 1 folders).
    calibrated_probabilities: dict[str, np.ndarray] = field(default_factory=dict)


def _fail(where: Path | str, problem: str) -> HwrError:
    # One line, whatever the underlying exception printed.
    return HwrError(f"{where}: {' '.join(str(problem).split())}")


def _key(mapping: dict, key: str, kind: type | tuple, where: Path, context: str):
    if not isinstance(mapping, dict) or key not in mapping:
        raise _fail(where, f"missing key {context}{key!r} (see docs/results-schema.md)")
    value = mapping[key]
    if not isinstance(value, kind):
        raise _fail(where, f"key {context}{key!r} has the wrong type ({type(value).__name__})")
    return value


def _run_file(run_dir: Path, relative: str, what: str) -> Path:
    path = run_dir / relative
    if not path.is_file():
        raise _fail(path, f"missing {what} (named in results.json)")
    return path


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise _fail(path, f"not a readable .npy array ({exc})") from None


def load_run(run_dir: str | Path) -> RunFolder:
    """Read and check a run folder; raise :class:`HwrError` naming the first file or key at fault.

    Parameters
    ----------
    run_dir : str or Path
        Folder written by ``hwr-eval compare`` or ``hwr-eval grid``.

    Returns
    -------
    RunFolder
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise _fail(run_dir, "not a run folder (no such directory)")
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise _fail(results_path, "missing; is this a folder written by 'hwr-eval compare' or 'grid'?")
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(results_path, f"not valid JSON ({exc})") from None
    if not isinstance(results, dict):
        raise _fail(results_path, "expected a JSON object at the top level")
    version = results.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        readable = ", ".join(map(str, READABLE_SCHEMA_VERSIONS))
        raise _fail(results_path, f"unsupported schema_version {version!r}; this hwr-eval reads versions {readable}")
    for key in REQUIRED_KEYS:
        _key(results, key, object, results_path, "")
    data = _key(results, "data", dict, results_path, "")
    classes = _key(data, "classes", list, results_path, "data.")
    if not classes or not all(isinstance(c, str) for c in classes):
        raise _fail(results_path, "data.classes must be a non-empty list of class names")
    _key(data, "counts", dict, results_path, "data.")
    models = _key(results, "models", dict, results_path, "")
    n_classes = len(classes)

    test_path = run_dir / "test_set.npz"
    if not test_path.is_file():
        raise _fail(test_path, "missing test set")
    try:
        with np.load(test_path, allow_pickle=False) as npz:
            X_test, y_test = npz["X"], npz["y"]
    except KeyError as exc:
        raise _fail(test_path, f"missing array {exc}") from None
    except (OSError, ValueError, EOFError) as exc:
        raise _fail(test_path, f"not a readable .npz file ({exc})") from None
    if X_test.ndim == 3:
        X_test = X_test.reshape(len(X_test), -1)
    if X_test.ndim != 2 or X_test.shape[1] != 784 or y_test.shape != (len(X_test),):
        raise _fail(test_path, f"expected X (n, 784) and y (n,), got X {X_test.shape} and y {y_test.shape}")
    y_test = y_test.astype(str)
    n_test = len(y_test)

    pred_path = run_dir / "predictions.csv"
    if not pred_path.is_file():
        raise _fail(pred_path, "missing predictions")
    try:
        # Labels are characters: keep them as strings and never turn e.g. "NA" into a missing value.
        predictions = pd.read_csv(pred_path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise _fail(pred_path, f"not a readable CSV file ({exc})") from None
    if len(predictions) != n_test:
        raise _fail(pred_path, f"has {len(predictions)} rows but the test set has {n_test} images")

    run = RunFolder(run_dir, results, list(classes), X_test, y_test, predictions)
    for name, entry in models.items():
        context = f"models.{name}."
        _key(entry, "confusion_matrix", list, results_path, context)
        metrics = _key(entry, "metrics", dict, results_path, context)
        for key in METRIC_KEYS:
            _key(metrics, key, (int, float, list), results_path, f"{context}metrics.")
        files = _key(entry, "files", dict, results_path, context)
        if name not in predictions.columns:
            raise _fail(pred_path, f"no column for model {name!r}")
        cm = np.asarray(entry["confusion_matrix"])
        if cm.shape != (n_classes, n_classes):
            raise _fail(results_path, f"{context}confusion_matrix has shape {cm.shape}, expected ({n_classes}, {n_classes})")

        # null for models without predict_proba (e.g. LinearSVC): the report then shows no confidences.
        proba_rel = _key(files, "probabilities", (str, type(None)), results_path, f"{context}files.")
        if proba_rel is not None:
            proba_path = _run_file(run_dir, proba_rel, "probabilities")
            proba = _load_npy(proba_path)
            if proba.shape != (n_test, n_classes):
                raise _fail(proba_path, f"shape {proba.shape}, expected ({n_test}, {n_classes})")
            run.probabilities[name] = proba

        calibrated_rel = files.get("calibrated_probabilities")  # schema 2; absent or null otherwise
        if calibrated_rel is not None:
            if not isinstance(calibrated_rel, str):
                raise _fail(results_path, f"key {context}files.calibrated_probabilities has the wrong type")
            calibrated_path = _run_file(run_dir, calibrated_rel, "calibrated probabilities")
            calibrated = _load_npy(calibrated_path)
            if calibrated.shape != (n_test, n_classes):
                raise _fail(calibrated_path, f"shape {calibrated.shape}, expected ({n_test}, {n_classes})")
            run.calibrated_probabilities[name] = calibrated

        table_path = _run_file(run_dir, _key(files, "per_class", str, results_path, f"{context}files."), "per-class table")
        try:
            table = pd.read_csv(table_path, dtype={"class": str}, keep_default_na=False)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise _fail(table_path, f"not a readable CSV file ({exc})") from None
        missing = [c for c in PER_CLASS_COLUMNS if c not in table.columns]
        if missing:
            raise _fail(table_path, f"missing columns {', '.join(missing)}")
        run.per_class[name] = table

        # Weight maps: named in results.json, or at the conventional place.
        weights_rel = files.get("weights") or (f"weights/{name}.npy" if (run_dir / "weights" / f"{name}.npy").is_file() else None)
        if weights_rel:
            weights_path = _run_file(run_dir, weights_rel, "weight maps")
            weights = _load_npy(weights_path)
            if weights.ndim != 3 or weights.shape[1:] != (28, 28):
                raise _fail(weights_path, f"shape {weights.shape}, expected (n_classes, 28, 28)")
            run.weights[name] = weights
    return run


# --------------------------------------------------------------------------------------------------
# HTML pieces
# --------------------------------------------------------------------------------------------------
