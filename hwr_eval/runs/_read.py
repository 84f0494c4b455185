"""The one reader of run folders: every file checked, every problem one :class:`HwrError` line.

Used by the report, ``predict``, ``robustness``, ``serve``, the bench scripts and the tests alike.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import HwrError
from ._folder import RunFolder
from ._records import PREDICTION_PREFIX, RunRecord

PER_CLASS_COLUMNS = ("class", "precision", "recall", "f1", "support")


def _fail(where: Path | str, problem: str) -> HwrError:
    return HwrError(f"{where}: {' '.join(str(problem).split())}")  # one line, whatever the cause printed


def _file(run_dir: Path, relative: str, what: str) -> Path:
    path = run_dir / relative
    try:
        inside = path.resolve().is_relative_to(run_dir.resolve())
    except OSError:
        inside = False
    if not inside:
        raise _fail(run_dir / "results.json", f"{what} path {relative!r} points outside the run folder")
    if not path.is_file():
        raise _fail(path, f"missing {what} (named in results.json)")
    return path


def _npy(path: Path, shape: tuple | None = None) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise _fail(path, f"not a readable .npy array ({exc})") from None
    if shape is not None and array.shape != shape:
        raise _fail(path, f"shape {array.shape}, expected {shape}")
    return array


def read_record(run_dir: str | os.PathLike) -> RunRecord:
    """Only ``results.json``, checked: for commands that need the record but not the arrays."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise _fail(run_dir, "not a run folder (no such directory)")
    path = run_dir / "results.json"
    if not path.is_file():
        raise _fail(path, "missing; is this a folder written by 'hwr-eval compare' or 'grid'?")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"not valid JSON ({exc})") from None
    return RunRecord.from_json(obj, str(path))


def read_test_set(run_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``test_set.npz``: X as (n, 784) uint8 and y as str labels."""
    path = Path(run_dir) / "test_set.npz"
    if not path.is_file():
        raise _fail(path, "missing test set")
    try:
        with np.load(path, allow_pickle=False) as npz:
            X, y = npz["X"], npz["y"]
    except KeyError as exc:
        raise _fail(path, f"missing array {exc}") from None
    except (OSError, ValueError, EOFError, Exception) as exc:  # a truncated zip raises zipfile.BadZipFile too
        raise _fail(path, f"not a readable .npz file ({type(exc).__name__}: {exc})") from None
    if X.ndim == 3:
        X = X.reshape(len(X), -1)
    if X.ndim != 2 or X.shape[1] != 784 or y.shape != (len(X),):
        raise _fail(path, f"expected X (n, 784) and y (n,), got X {X.shape} and y {y.shape}")
    return X, y.astype(str)


def open_run(run_dir: str | os.PathLike) -> RunFolder:
    """Read and check a run folder; raise :class:`HwrError` naming the first file or field at fault.

    Parameters
    ----------
    run_dir : str or Path
        Folder written by ``hwr-eval compare`` or ``hwr-eval grid``.

    Returns
    -------
    RunFolder
        With ``record`` and the test set, predictions (one column per model, named by the model),
        probabilities, calibrated probabilities, per-class tables and weight maps loaded.
    """
    run_dir = Path(run_dir)
    record = read_record(run_dir)
    results_path = run_dir / "results.json"
    run = RunFolder(run_dir, record)
    run.X_test, run.y_test = read_test_set(run_dir)
    n_test, n_classes = len(run.y_test), len(record.classes)

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
    prefix = PREDICTION_PREFIX if record.schema_version >= 3 else ""
    missing = [name for name in record.models if prefix + name not in predictions.columns]
    if missing:
        raise _fail(pred_path, f"no column for model {missing[0]!r}")
    # One column per model, named by the model alone: the truth is ``run.y_test``.
    run.predictions = pd.DataFrame({name: predictions[prefix + name].to_numpy() for name in record.models})

    for name, result in record.models.items():
        files = result.files
        if files.get("probabilities"):
            run.probabilities[name] = _npy(_file(run_dir, files["probabilities"], "probabilities"), (n_test, n_classes))
        if files.get("calibrated_probabilities"):
            path = _file(run_dir, files["calibrated_probabilities"], "calibrated probabilities")
            run.calibrated_probabilities[name] = _npy(path, (n_test, n_classes))
        if not files.get("per_class"):
            raise _fail(results_path, f"missing field models.{name}.files.per_class")
        table_path = _file(run_dir, files["per_class"], "per-class table")
        try:
            table = pd.read_csv(table_path, dtype={"class": str}, keep_default_na=False)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise _fail(table_path, f"not a readable CSV file ({exc})") from None
        missing = [c for c in PER_CLASS_COLUMNS if c not in table.columns]
        if missing:
            raise _fail(table_path, f"missing columns {', '.join(missing)}")
        run.per_class[name] = table
        # Weight maps: named in results.json, or at the conventional place (version 1).
        weights = files.get("weights") or (f"weights/{name}.npy" if (run_dir / "weights" / f"{name}.npy").is_file() else None)
        if weights:
            array = _npy(_file(run_dir, weights, "weight maps"))
            if array.ndim != 3 or array.shape[1:] != (28, 28):
                raise _fail(run_dir / weights, f"shape {array.shape}, expected (n_classes, 28, 28)")
            run.weights[name] = array
    if record.seeds is not None:
        run.seeds, run.comparisons = _repeated_tables(run_dir, record.seeds)
    files = {r.unknowns["file"] for r in record.models.values() if r.unknowns}
    if files:
        run.unknowns = _unknowns_table(run_dir, sorted(files)[0])
    return run


#: Columns of ``unknowns.csv`` the report reads.
UNKNOWN_TABLE_COLUMNS = ("model", "detector", "unknown_set", "auroc", "fpr_at_95_tpr", "threshold", "unknown_rejected")


def _unknowns_table(run_dir: Path, relative: str) -> pd.DataFrame:
    path = _file(run_dir, relative, "unknown-input table")
    try:
        frame = pd.read_csv(path, dtype={"model": str, "detector": str, "unknown_set": str}, keep_default_na=False,
                            na_values=[""])
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise _fail(path, f"not a readable CSV file ({exc})") from None
    missing = [c for c in UNKNOWN_TABLE_COLUMNS if c not in frame.columns]
    if missing:
        raise _fail(path, f"missing columns {', '.join(missing)}")
    return frame


def read_unknown_scores(run: RunFolder, name: str) -> dict[str, np.ndarray] | None:
    """Model ``name``'s ``unknowns/<name>.npz``: the best detector's known-scores of the test split (``known``),
    of each unknown set (``set_<set>``), its ``threshold``, and the gallery arrays; None without ``--unknown``."""
    record = run.record.models[name].unknowns
    if not record:
        return None
    path = _file(run.path, record["scores"], "unknown-input scores")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, Exception) as exc:  # a truncated zip raises zipfile.BadZipFile too
        raise _fail(path, f"not a readable .npz file ({type(exc).__name__}: {exc})") from None
    needed = ["known", "threshold", *(f"set_{s}" for s in record["sets"]), "gallery_X", "gallery_score",
              "gallery_set", "gallery_pred"]
    missing = [key for key in needed if key not in arrays]
    if missing:
        raise _fail(path, f"missing array {missing[0]!r}")
    return arrays


def _repeated_tables(run_dir: Path, section: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``seeds.csv`` (checked like any input of the statistics) and ``comparisons.csv``."""
    from ..evaluation import SEED_COLUMNS, check_seeds_frame

    files = section.get("files")
    if not isinstance(files, dict) or not all(isinstance(files.get(k), str) for k in ("seeds", "comparisons")):
        raise _fail(run_dir / "results.json", "field 'seeds.files' should name the seeds and comparisons tables")
    tables = []
    for key in ("seeds", "comparisons"):
        path = _file(run_dir, files[key], f"{key} table")
        try:
            tables.append(pd.read_csv(path, dtype={"model": str, "model_a": str, "model_b": str}, keep_default_na=False,
                                      na_values=[""]))
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise _fail(path, f"not a readable CSV file ({exc})") from None
    missing = [c for c in SEED_COLUMNS if c not in tables[0].columns]
    if missing:
        raise _fail(run_dir / files["seeds"], f"missing columns {', '.join(missing)}")
    try:
        check_seeds_frame(tables[0])
    except HwrError as exc:
        raise _fail(run_dir / files["seeds"], str(exc)) from None
    return tables[0], tables[1]


def read_grid_table(run_dir: str | os.PathLike) -> pd.DataFrame | None:
    """``cv_results.csv`` of a grid run as scikit-learn wrote it (None for other runs)."""
    path = Path(run_dir) / "cv_results.csv"
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise _fail(path, f"not a readable grid table ({exc})") from None
    missing = [c for c in ("rank_test_score", "mean_test_score", "std_test_score") if c not in frame.columns]
    if missing:
        raise _fail(path, f"missing columns {', '.join(missing)}")
    return frame


def read_cv_results(run_dir: str | os.PathLike) -> pd.DataFrame:
    """The ranked grid-search table of a grid run: one row per candidate, best first.

    Parameter columns get their shortest unambiguous names (``clf__module__pool`` -> ``pool``).
    """
    path = Path(run_dir) / "cv_results.csv"
    frame = read_grid_table(run_dir)
    if frame is None:
        raise _fail(path, "missing; is this a grid run?")
    params = [c.removeprefix("param_") for c in frame.columns if c.startswith("param_")]
    short = {p: p.rsplit("__", 1)[-1] for p in params}
    if len(set(short.values())) < len(short):
        short = {p: p.removeprefix("clf__") for p in params}
    needed = ["rank_test_score", *(f"param_{p}" for p in params), "mean_test_score", "std_test_score", "mean_fit_time"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise _fail(path, f"missing columns {', '.join(missing)}")
    names = {"rank_test_score": "rank", "mean_test_score": "mean score", "std_test_score": "std",
             "mean_fit_time": "fit s", **{f"param_{p}": short[p] for p in params}}
    return frame[needed].rename(columns=names)
