"""Without MLflow installed, tracking fails at once with one line naming the extra to install."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from hwr_eval.cli import app
from hwr_eval.errors import HwrError
from hwr_eval.tracking import check_tracking, track_run

MESSAGE = r"^experiment tracking needs MLflow, which is not installed \(.*\): pip install 'hwr-eval\[mlflow\]'$"


@pytest.fixture
def no_mlflow(monkeypatch):
    """``import mlflow`` fails as it does where MLflow is not installed (a None entry in sys.modules)."""
    for name in [name for name in sys.modules if name == "mlflow" or name.startswith("mlflow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlflow", None)


def test_check_names_the_extra(no_mlflow, tmp_path):
    with pytest.raises(HwrError, match=MESSAGE):
        check_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert not (tmp_path / "mlflow.db").exists()


def test_track_names_the_extra(no_mlflow, make_run_dir, tmp_path):
    with pytest.raises(HwrError, match=MESSAGE):
        track_run(make_run_dir(tmp_path / "run"), f"sqlite:///{tmp_path / 'mlflow.db'}")


def test_track_command_is_one_line_error(no_mlflow, make_run_dir, tmp_path):
    result = CliRunner().invoke(app, ["track", str(make_run_dir(tmp_path / "run")), "--tracking-uri", f"sqlite:///{tmp_path}/m.db"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: experiment tracking needs MLflow") and "hwr-eval[mlflow]" in lines[0]


def test_tracked_cv_names_the_extra_before_training(no_mlflow, small_synthetic, tmp_path):
    from hwr_eval.workflows import run_cv

    started = []
    with pytest.raises(HwrError, match=MESSAGE):
        run_cv(["knn"], small_synthetic, folds=2, track=True, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
               on_model_start=lambda *a: started.append(a))
    assert started == [] and not (tmp_path / "mlflow.db").exists()
