"""The GridSearchCV scripts in baselines/ run as plain scripts and search the study's grids."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

from hwr_eval import make_model
from hwr_eval.models import check_model_params, resolve_params

REPO = Path(__file__).resolve().parents[1]
BASELINES = REPO / "baselines"


def _grids(script: str) -> dict:
    sys.path.insert(0, str(BASELINES))
    try:
        return runpy.run_path(str(BASELINES / script), run_name="baselines_test")
    finally:
        sys.path.remove(str(BASELINES))


@pytest.mark.parametrize("script", ["grid_logreg.py", "grid_knn.py", "grid_mlp.py", "grid_cnn.py"])
def test_script_runs_a_tiny_grid(script, tmp_path):
    out = tmp_path / "cv_results.csv"
    env = {**os.environ, "HWR_DATA": "", "HWR_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(BASELINES / script), "--quick", "--per-class", "15", "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SYNTHETIC" in proc.stdout and "best:" in proc.stdout and "test accuracy" in proc.stdout
    quick = _grids(script)["QUICK"]
    assert len(pd.read_csv(out)) == len(ParameterGrid(quick))


@pytest.mark.parametrize("script, name", [("grid_logreg.py", "logreg"), ("grid_knn.py", "knn"),
                                          ("grid_mlp.py", "mlp"), ("grid_cnn.py", "cnn")])
def test_full_grids_name_real_parameters_with_valid_values(script, name):
    """The full grids only run for hours, so check here that every name and value would be accepted."""
    grids = _grids(script)["GRID"]
    model = make_model(name)
    for grid in [grids] if isinstance(grids, dict) else grids:
        resolved = resolve_params(model, grid)  # HwrError on an unknown or ambiguous name
        for candidate in ParameterGrid(resolved):
            check_model_params(clone(model).set_params(**candidate))  # HwrError on a value that cannot train


def _common():
    sys.path.insert(0, str(BASELINES))
    try:
        import _common

        return _common
    finally:
        sys.path.remove(str(BASELINES))


def test_fewer_than_two_folds_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        _common().parse_args("d", ["--cv", "1"])
    assert exc.value.code == 2 and "--cv must be at least 2" in capsys.readouterr().err


def test_scikit_learn_value_error_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HWR_DATA", "")
    # More folds than training images: GridSearchCV's splitter raises ValueError.
    monkeypatch.setattr(sys, "argv", ["grid_knn.py", "--classes", "digits", "--per-class", "3", "--cv", "50"])
    with pytest.raises(SystemExit) as exc:
        _common().main("knn", {"n_neighbors": [1]}, {"n_neighbors": [1]}, None)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("error: ") and "n_splits=50" in err and "\n" not in err


def test_script_help_documents_usage():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(BASELINES / "grid_cnn.py"), "--help"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--data" in proc.stdout and "--quick" in proc.stdout
