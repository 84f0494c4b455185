"""``run_robustness``: score a run folder's saved models under the corruption suite and rotation sweep.

The results join the run folder: ``robustness.csv`` (the tidy table) and the optional ``robustness``
key of ``results.json`` (``docs/results-schema.md``), both written atomically, then the report is rebuilt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..data._corruptions import CORRUPTIONS, ROTATION_ANGLES, SEVERITIES
from ..errors import HwrError
from ..evaluation._robustness import Progress, evaluate_robustness, robustness_record
from ..evaluation._run_folder import _json_value
from ..io import atomic_path, atomic_write_text

ROBUSTNESS_FILE = "robustness.csv"


def robustness_results(
    models: Mapping[str, object],
    X,
    y,
    run_dir: str | os.PathLike,
    *,
    corruptions: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = SEVERITIES,
    angles: Sequence[float] = ROTATION_ANGLES,
    seed: int = 0,
    on_progress: Progress | None = None,
) -> dict:
    """Evaluate ``models`` on the suite, write ``run_dir/robustness.csv``; return the ``robustness`` record."""
    frame = evaluate_robustness(models, X, y, corruptions=corruptions, severities=severities, angles=angles,
                                random_state=seed, on_progress=on_progress)
    with atomic_path(Path(run_dir) / ROBUSTNESS_FILE) as tmp:
        frame.to_csv(tmp, index=False)
    return _json_value(robustness_record(frame, seed, ROBUSTNESS_FILE))


def _saved_models(run_dir: Path, results: dict) -> dict[str, Path]:
    models = results.get("models") or {}
    saved = {name: run_dir / rec["files"]["model"] for name, rec in models.items()
             if isinstance(rec, dict) and (rec.get("files") or {}).get("model")}
    if not saved:
        raise HwrError(f"{run_dir}: no saved models to evaluate; rerun the comparison with --save-models")
    for path in saved.values():
        if not path.is_file():
            raise HwrError(f"{path}: saved model named in results.json is missing")
    return saved


def run_robustness(
    run_dir: str | os.PathLike,
    *,
    corruptions: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = SEVERITIES,
    angles: Sequence[float] = ROTATION_ANGLES,
    seed: int | None = None,
    report: bool = True,
    on_progress: Progress | None = None,
) -> dict:
    """Evaluate the models saved in a run folder (``compare --save-models``) on its test split.

    Parameters
    ----------
    run_dir : path
        A run folder with ``results.json``, ``test_set.npz`` and ``models/<name>.joblib``.
    corruptions, severities, angles : sequences
        The suite (default: every corruption at severities 1-5, rotations -90..+90 in 15-degree steps).
    seed : int, optional
        Seed of the corruptions; default: the run's seed.
    report : bool, default=True
        Rebuild ``report.html`` afterwards.
    on_progress : callable, optional
        ``on_progress(done, total, label)`` after each corrupted set.

    Returns
    -------
    dict
        The ``robustness`` record now in ``results.json``.

    Raises
    ------
    HwrError
        No such run folder, no saved models (rerun with ``--save-models``), unreadable files, or
        corrupted sets that the suite does not know.
    """
    import joblib

    run_dir = Path(run_dir)
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise HwrError(f"{run_dir}: not a run folder (no results.json)")
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HwrError(f"{results_path}: not readable JSON ({exc})") from None
    if not isinstance(results, dict):
        raise HwrError(f"{results_path}: not a results object")
    saved = _saved_models(run_dir, results)
    unknown = [c for c in corruptions if c not in CORRUPTIONS]
    if unknown:
        raise HwrError(f"unknown corruption {unknown[0]!r}; choose from {', '.join(CORRUPTIONS)}")
    try:
        with np.load(run_dir / "test_set.npz", allow_pickle=False) as test_set:
            X, y = test_set["X"], test_set["y"]
    except (OSError, ValueError, KeyError) as exc:
        raise HwrError(f"{run_dir / 'test_set.npz'}: not a readable test set ({exc})") from None
    models = {}
    for name, path in saved.items():
        try:
            models[name] = joblib.load(path)
        except Exception as exc:  # a truncated or foreign pickle can raise almost anything
            raise HwrError(f"{path}: cannot load the saved model ({type(exc).__name__}: {exc})") from None
    if seed is None:
        seed = int((results.get("settings") or {}).get("seed") or 0)
    record = robustness_results(models, X, y, run_dir, corruptions=corruptions, severities=severities,
                                angles=angles, seed=seed, on_progress=on_progress)
    results["robustness"] = record
    atomic_write_text(results_path, json.dumps(results, indent=2, allow_nan=False) + "\n")
    if report:
        from ..report import build_report  # matplotlib loads only when drawing

        build_report(run_dir)
    return record
