"""Tracking cross-validations (``run_cv(track=True)``, ``hwr-eval cv --track``) on a real MLflow server."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwr_eval.errors import HwrError
from hwr_eval.models import make_model
from hwr_eval.workflows import run_cv

pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'hwr-eval[mlflow]')")

from mlflow.tracking import MlflowClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from hwr_eval.cli import app  # noqa: E402
from hwr_eval.tracking import ROLE_TAG, TrackingWarning  # noqa: E402

#: Two models (one a network, for one epoch), two folds, two repeats: every part of the layout, in seconds.
CV = {"folds": 2, "repeats": 2, "seed": 0, "max_epochs": 1, "device": "cpu"}


def _runs(client: MlflowClient, experiment: str) -> tuple[object, dict[str, object]]:
    """The one parent run of ``experiment`` and its nested runs by name."""
    found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    (parent,) = [run for run in found if "mlflow.parentRunId" not in run.data.tags]
    children = {run.info.run_name: run for run in found if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    return parent, children


def _artifact_text(client: MlflowClient, run_id: str, path: str, folder: Path) -> str:
    return Path(client.download_artifacts(run_id, path, str(folder))).read_text()


@pytest.fixture(scope="module")
def tracked_cv(mlflow_server, tiny_digits):
    """One tracked cross-validation of knn and a 1-epoch mlp: ``(client, frame, parent, children)``."""
    frame = run_cv(["knn", "mlp"], tiny_digits, track=True, tracking_uri=mlflow_server.uri, experiment="cv", **CV)
    client = MlflowClient(mlflow_server.uri)
    return (client, frame, *_runs(client, "cv"))


def test_parent_run_holds_the_settings_provenance_and_tables(tracked_cv, tiny_digits, tmp_path):
    client, frame, parent, _ = tracked_cv
    params, tags = parent.data.params, parent.data.tags
    assert parent.info.status == "FINISHED" and re.fullmatch(r"cv-\d{8}-\d{6}", parent.info.run_name)
    assert params["models"] == "knn,mlp" and params["cv.folds"] == "2" and params["cv.repeats"] == "2"
    assert params["cv.scoring"] == "accuracy,balanced_accuracy,f1_macro"
    assert params["seed"] == "0" and params["max_epochs"] == "1" and params["classes"] == "digits"
    assert "target_risk" not in params  # a test-split setting: cross-validation does not use the test split
    assert tags[ROLE_TAG] == "run" and tags["hwr.kind"] == "cv" and "hwr.run_dir" not in tags
    assert tags["hwr.command"].startswith("hwr_eval.run_cv(")
    # Provenance: every data file with its checksum, recomputed here from the file itself.
    sources = tiny_digits.provenance["sources"]
    assert len(sources) == 4
    for i, source in enumerate(sources):
        assert tags[f"data.sources.{i}.sha256"] == hashlib.sha256(Path(source["path"]).read_bytes()).hexdigest()
    assert tags["env.packages.scikit-learn"] == __import__("sklearn").__version__
    assert {"cv.csv", "cv_folds.csv", "comparisons.csv"} == {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert _artifact_text(client, parent.info.run_id, "cv.csv", tmp_path) == frame.to_csv()
    logged = pd.read_csv(io.StringIO(_artifact_text(client, parent.info.run_id, "comparisons.csv", tmp_path)))
    expected = frame.attrs["comparisons"]
    assert list(logged["model_a"]) == list(expected["model_a"])
    np.testing.assert_allclose(logged["p_value"], expected["p_value"], rtol=1e-12)


def test_one_nested_run_per_model_with_fold_histories_and_summaries(tracked_cv):
    client, frame, parent, children = tracked_cv
    assert set(children) == {"knn", "mlp"}
    runs = frame.attrs["runs"]  # one row per model and fold, in fold order
    for name, child in children.items():
        assert child.data.tags[ROLE_TAG] == "model" and child.info.status == "FINISHED"
        for column in frame.columns:  # <score>_mean and _std, as in the table
            assert child.data.metrics[column] == pytest.approx(frame.loc[name, column])
        history = sorted((m.step, m.value) for m in client.get_metric_history(child.info.run_id, "fold_accuracy"))
        accuracy = runs.loc[runs["model"] == name, "accuracy"].to_numpy()
        assert [step for step, _ in history] == [0, 1, 2, 3]
        np.testing.assert_allclose([value for _, value in history], accuracy, rtol=1e-12)
        # The summaries are those of the logged folds (np.std: the table's population sd).
        assert np.mean(accuracy) == pytest.approx(child.data.metrics["accuracy_mean"])
        assert np.std(accuracy) == pytest.approx(child.data.metrics["accuracy_std"])
        assert len(client.get_metric_history(child.info.run_id, "fold_f1_macro")) == 4
    # Every resolved parameter of the model, the run-wide ones applied.
    assert children["mlp"].data.params["max_epochs"] == "1" and children["mlp"].data.params["random_state"] == "0"
    assert children["knn"].data.params["n_neighbors"] == str(make_model("knn").get_params()["clf__n_neighbors"])


def test_unreachable_server_is_refused_before_training(tiny_digits, closed_port):
    started = []
    uri = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(HwrError, match=f"tracking server at {uri} is unreachable"):
        run_cv(["knn"], tiny_digits, track=True, tracking_uri=uri, on_model_start=lambda *a: started.append(a), **CV)
    assert started == []


def test_server_gone_mid_run_costs_only_the_tracking(start_server, tiny_digits, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    server = start_server(tmp_path / "gone")
    try:
        # The check passes; the server dies as the first model starts training.
        with pytest.warns(TrackingWarning, match=f"tracking to {server.uri} failed .*the cross-validation's results are unaffected"):
            frame = run_cv(["knn"], tiny_digits, track=True, tracking_uri=server.uri,
                           on_model_start=lambda *a: server.stop(), **CV)
    finally:
        server.stop()
    untracked = run_cv(["knn"], tiny_digits, **CV)
    pd.testing.assert_frame_equal(frame.drop(columns=["fit_time_mean", "fit_time_std", "score_time_mean", "score_time_std"]),
                                  untracked.drop(columns=["fit_time_mean", "fit_time_std", "score_time_mean", "score_time_std"]))


def test_cv_command_tracks_and_logs_the_saved_table(mlflow_server, tiny_digits, tmp_path):
    csv = tmp_path / "cv.csv"
    args = ["cv", "--models", "knn", "--data", tiny_digits.provenance["data_dir"], "--classes", "digits", "--per-class", "0",
            "--folds", "2", "--seed", "0", "--out", csv, "--track", "--tracking-uri", mlflow_server.uri, "--experiment", "cli-cv"]
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    assert f"tracked in MLflow experiment 'cli-cv' at {mlflow_server.uri}; view: {mlflow_server.uri}" in result.stdout
    client = MlflowClient(mlflow_server.uri)
    parent, children = _runs(client, "cli-cv")
    assert set(children) == {"knn"} and parent.data.params["cv.repeats"] == "1"
    assert parent.data.tags["hwr.command"].startswith("hwr-eval cv --models knn")
    # The logged table is the saved one, byte for byte; no comparisons without repeats.
    assert _artifact_text(client, parent.info.run_id, "cv.csv", tmp_path / "download") == csv.read_text()
    assert "comparisons.csv" not in {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_cv_command_with_unreachable_server_is_one_line_error(tiny_digits, tmp_path, closed_port):
    uri = f"http://127.0.0.1:{closed_port()}"
    csv = tmp_path / "cv.csv"
    result = CliRunner().invoke(app, ["cv", "--models", "knn", "--data", tiny_digits.provenance["data_dir"], "--classes",
                                      "digits", "--track", "--tracking-uri", uri, "--out", str(csv)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"error: tracking server at {uri} is unreachable: [Errno 111] Connection refused"]
    assert not csv.exists() and "cross-validation" not in result.stdout
