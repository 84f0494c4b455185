"""The one place experiment tracking reads a run folder: everything else works on the :class:`TrackedRun`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: Files of the run folder logged as artifacts of the parent run, when present.
RUN_ARTIFACTS = ("report.html", "results.json", "cv_results.csv", "seeds.csv")


@dataclass(frozen=True)
class TrackedRun:
    """What tracking needs from a finished run folder.

    Attributes
    ----------
    path : Path
        The run folder.
    results : dict
        ``results.json`` (docs/results-schema.md).
    X_test : ndarray of shape (n_test, 784)
        The test images; a few rows become the logged models' input example.
    cv_results : DataFrame or None
        ``cv_results.csv`` of a grid run (one row per candidate).
    seeds : DataFrame or None
        ``seeds.csv`` of a repeated run (columns :data:`hwr_eval.evaluation.SEED_COLUMNS`).
    """

    path: Path
    results: dict
    X_test: np.ndarray
    cv_results: pd.DataFrame | None = None
    seeds: pd.DataFrame | None = None

    def artifacts(self) -> list[Path]:
        """The run-level files present in the folder (:data:`RUN_ARTIFACTS`)."""
        return [self.path / name for name in RUN_ARTIFACTS if (self.path / name).is_file()]

    def model_file(self, name: str) -> Path | None:
        """The saved model of ``name`` (``--save-models``), or None."""
        relative = (self.results["models"][name].get("files") or {}).get("model") or f"models/{name}.joblib"
        path = self.path / relative
        return path if path.is_file() else None

    def per_class_file(self, name: str) -> Path | None:
        """The per-class table of ``name``, or None."""
        relative = (self.results["models"][name].get("files") or {}).get("per_class")
        return self.path / relative if relative and (self.path / relative).is_file() else None


def read_run(run_dir: str | Path) -> TrackedRun:
    """Read and check a finished run folder; a one-line :class:`HwrError` names the first file at fault.

    Parameters
    ----------
    run_dir : str or Path
        Folder written by ``hwr-eval compare`` or ``hwr-eval grid``.

    Returns
    -------
    TrackedRun
    """
    from ..runs import open_run, read_grid_table  # validates results.json, the test set and every file it names

    folder = open_run(run_dir)
    return TrackedRun(
        path=folder.path,
        results=folder.results,
        X_test=folder.X_test,
        cv_results=read_grid_table(folder.path),
        seeds=folder.seeds,
    )
