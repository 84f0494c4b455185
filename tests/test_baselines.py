"""The GridSearchCV scripts in baselines/ run as plain scripts and search the study's grids."""

from __future__ import annotations

import math
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.model_selection import ParameterGrid


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


def test_default_grids_reproduce_the_study():
    mlp = _grids("grid_mlp.py")["GRID"]
    sgd = next(g for g in mlp if g["optimizer"] == ["sgd"])
    adam = next(g for g in mlp if g["optimizer"] == ["adam"])
    assert sgd["hidden"] == list(range(250, 261)) == adam["hidden"]
    assert sgd["lr"] == pytest.approx([0.001 * math.e**i for i in range(1, 6)], rel=1e-4)
    assert adam["lr"] == [0.001] and len(sgd["batch_size"]) > 1
    cnn = _grids("grid_cnn.py")["GRID"]
    assert {o for g in cnn for o in g["optimizer"]} == {"sgd", "adam"}
    assert all(set(g["pool"]) == {"avg", "max"} for g in cnn)


def test_script_help_documents_usage():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(BASELINES / "grid_cnn.py"), "--help"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--data" in proc.stdout and "--quick" in proc.stdout
