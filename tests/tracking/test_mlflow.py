"""Tracking real run folders on a real MLflow server, read back with MlflowClient."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwr_eval.errors import HwrError

mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'hwr-eval[mlflow]')")

from mlflow.tracking import MlflowClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from hwr_eval.cli import app  # noqa: E402
from hwr_eval.evaluation import comparisons_table  # noqa: E402
from hwr_eval.runs import RunFolder, open_run, read_record  # noqa: E402
from hwr_eval.tracking import (  # noqa: E402
    DEFAULT_STORE,
    ROLE_TAG,
    TrackingWarning,
    check_tracking,
    track_run,
)


def _results(run_dir: Path) -> dict:
    return read_record(run_dir).to_json()


def _children(client: MlflowClient, parent) -> dict[str, object]:
    found = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    return {run.info.run_name: run for run in found}


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    return {item.path for item in client.list_artifacts(run_id, path)}


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tracked_compare(mlflow_server, compare_run):
    """The compare run tracked once: ``(client, parent run, results)``."""
    run_id = track_run(compare_run, mlflow_server.uri, experiment="compare")
    client = MlflowClient(mlflow_server.uri)
    return client, client.get_run(run_id), _results(compare_run)


def test_parent_run_holds_settings_provenance_environment_and_files(tracked_compare, compare_run):
    client, parent, results = tracked_compare
    assert parent.info.run_name == compare_run.name and parent.info.status == "FINISHED"
    params, tags = parent.data.params, parent.data.tags
    settings = results["settings"]
    assert params["models"] == "knn,mlp" and params["max_epochs"] == "2" and params["device"] == "cpu"
    assert params["seed"] == str(settings["seed"]) and params["per_class"] == str(settings["per_class"])
    assert params["target_risk"] == str(settings["target_risk"])
    # Provenance: every data file with its checksum, recomputed here from the file itself.
    sources = results["data"]["sources"]
    assert len(sources) == 4
    for i, source in enumerate(sources):
        assert tags[f"data.sources.{i}.path"] == source["path"]
        assert tags[f"data.sources.{i}.sha256"] == hashlib.sha256(Path(source["path"]).read_bytes()).hexdigest()
    assert tags["data.synthetic"] == "False" and tags["data.classes"] == "0123456789"
    assert int(tags["data.n_test"]) == len(open_run(compare_run).y_test)
    environment = results["environment"]
    assert tags["env.device_name"] == environment["device_name"]
    assert tags["env.packages.scikit-learn"] == environment["packages"]["scikit-learn"]
    assert tags["env.packages.torch"] == environment["packages"]["torch"]
    assert tags["hwr.kind"] == "compare" and tags["hwr.command"] == results["command"] and tags[ROLE_TAG] == "run"
    assert {"report.html", "results.json"} <= _artifacts(client, parent.info.run_id)
    logged = Path(client.download_artifacts(parent.info.run_id, "results.json"))
    assert json.loads(logged.read_text()) == results


def test_one_nested_run_per_model_with_its_parameters_and_metrics(tracked_compare):
    client, parent, results = tracked_compare
    children = _children(client, parent)
    assert set(children) == {"knn", "mlp"}
    for name, child in children.items():
        record = results["models"][name]
        assert child.data.tags[ROLE_TAG] == "model" and child.info.status == "FINISHED"
        assert child.data.params == {key: str(value) for key, value in record["params"].items()}
        metrics = child.data.metrics
        for key in ("accuracy", "balanced_accuracy", "f1_macro"):
            assert metrics[key] == pytest.approx(record["metrics"][key])
        assert [metrics["accuracy_ci95_low"], metrics["accuracy_ci95_high"]] == pytest.approx(record["metrics"]["accuracy_ci95"])
        assert metrics["aurc"] == pytest.approx(record["selective"]["aurc"])
        assert metrics["coverage_at_target_risk"] == pytest.approx(record["selective"]["coverage_at_target_risk"])
        assert metrics["ece"] == pytest.approx(record["calibration"]["after"]["ece"])
        assert metrics["ece_uncalibrated"] == pytest.approx(record["calibration"]["before"]["ece"])
        assert {"confusion_matrix.png", f"{name}.csv"} <= _artifacts(client, child.info.run_id)
        models = client.search_logged_models([parent.info.experiment_id], f"source_run_id = '{child.info.run_id}'")
        assert [model.name for model in models] == ["model"]
        # The final metrics are the logged model's too (as MLflow links a run's step-0 metrics), and its parameters.
        linked = {metric.key: metric.value for metric in client.get_logged_model(models[0].model_id).metrics}
        assert linked["accuracy"] == pytest.approx(record["metrics"]["accuracy"]) and "valid_loss" not in linked
        assert models[0].params == child.data.params
    # The networks' training curves as metric histories, one step per epoch; none for knn.
    history = results["models"]["mlp"]["history"]
    assert len(history) == 2
    for key in ("train_loss", "valid_loss", "train_acc", "valid_acc"):
        logged = sorted((m.step, m.value) for m in client.get_metric_history(children["mlp"].info.run_id, key))
        assert logged == [(row["epoch"], pytest.approx(row[key])) for row in history]
    assert "valid_loss" not in children["knn"].data.metrics


def test_confusion_matrix_image_is_a_rendered_png(tracked_compare, tmp_path):
    from PIL import Image

    client, parent, _ = tracked_compare
    child = _children(client, parent)["knn"]
    path = client.download_artifacts(child.info.run_id, "confusion_matrix.png", str(tmp_path))
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 300
        # Not a blank canvas: the matrix's cells differ in colour.
        assert len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 10


def test_logged_model_reloads_with_the_same_predictions(tracked_compare, compare_run, mlflow_server, monkeypatch):
    client, parent, results = tracked_compare
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)  # where "runs:/" URIs are looked up
    X_test = np.load(compare_run / "test_set.npz")["X"]
    saved = open_run(compare_run).predictions
    for name, child in _children(client, parent).items():
        uri = f"runs:/{child.info.run_id}/model"
        model = mlflow.sklearn.load_model(uri)
        assert list(model.predict(X_test)) == list(saved[name])
        info = mlflow.models.get_model_info(uri)
        (spec,) = info.signature.inputs.inputs
        assert spec.shape == (-1, 784) and spec.type == np.dtype("uint8")
        assert info.saved_input_example_info is not None


def test_grid_candidates_are_nested_runs_with_their_cv_scores(mlflow_server, grid_run):
    client = MlflowClient(mlflow_server.uri)
    parent = client.get_run(track_run(grid_run, mlflow_server.uri, experiment="grid"))
    results, cv_results = _results(grid_run), pd.read_csv(grid_run / "cv_results.csv")
    assert parent.data.params["best_n_neighbors"] == str(results["grid"]["best_params"]["clf__n_neighbors"])
    assert parent.data.params["grid.cv"] == "2"
    assert parent.data.metrics["best_cv_score"] == pytest.approx(results["grid"]["best_score"])
    assert "cv_results.csv" in _artifacts(client, parent.info.run_id)
    children = _children(client, parent)
    candidates = [run for run in children.values() if run.data.tags[ROLE_TAG] == "candidate"]
    assert len(candidates) == len(cv_results) == 4 and children["knn"].data.tags[ROLE_TAG] == "model"
    logged = sorted((run.data.params["n_neighbors"], run.data.params["weights"], run.data.metrics["mean_test_score"],
                     run.data.metrics["std_test_score"], run.data.metrics["split1_test_score"]) for run in candidates)
    expected = sorted((str(row.param_clf__n_neighbors), row.param_clf__weights, pytest.approx(row.mean_test_score),
                       pytest.approx(row.std_test_score), pytest.approx(row.split1_test_score)) for row in cv_results.itertuples())
    assert logged == expected


def test_seed_rows_become_runs_nested_in_their_model(mlflow_server, compare_run, tmp_path):
    run_dir = shutil.copytree(compare_run, tmp_path / "seeded")
    seeds = pd.DataFrame({"model": ["knn", "knn", "mlp"], "seed": [0, 1, 0], "split_seed": [0, 0, 0],
                          "accuracy": [0.5, 0.6, 0.4], "macro_f1": [0.45, 0.55, 0.35], "fit_time_s": [0.1, 0.2, 1.5]})
    seeds.to_csv(run_dir / "seeds.csv", index=False)
    comparisons_table(seeds).to_csv(run_dir / "comparisons.csv", index=False)
    RunFolder(run_dir, read_record(run_dir)).update(seeds={"n_seeds": 2, "vary": "seed", "design": "seeds",
                                                           "files": {"seeds": "seeds.csv", "comparisons": "comparisons.csv"}})
    client = MlflowClient(mlflow_server.uri)
    parent = client.get_run(track_run(run_dir, mlflow_server.uri, experiment="seeds"))
    models = _children(client, parent)
    assert set(models) == {"knn", "mlp"}
    knn_seeds = _children(client, models["knn"])
    assert set(knn_seeds) == {"knn-seed-0", "knn-seed-1"} and set(_children(client, models["mlp"])) == {"mlp-seed-0"}
    second = knn_seeds["knn-seed-1"]
    assert second.data.tags[ROLE_TAG] == "seed" and second.data.params == {"model": "knn", "seed": "1", "split_seed": "0"}
    assert second.data.metrics == {"accuracy": 0.6, "macro_f1": 0.55, "fit_time_s": 0.2}


def test_uri_from_the_environment(mlflow_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    target = check_tracking(experiment="from-env")
    assert (target.uri, target.experiment, target.source, target.ui) == (mlflow_server.uri, "from-env", "MLFLOW_TRACKING_URI", mlflow_server.uri)


def test_default_store_is_sqlite_in_the_working_directory(grid_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    target = check_tracking()
    assert target.uri == f"sqlite:///{tmp_path.resolve() / DEFAULT_STORE}" and target.source == "default"
    assert target.experiment == "hwr-eval" and target.ui == f"mlflow ui --backend-store-uri {target.uri}"
    run_id = track_run(grid_run)
    assert (tmp_path / DEFAULT_STORE).is_file()
    run = MlflowClient(target.uri).get_run(run_id)
    assert run.data.tags["hwr.kind"] == "grid" and "results.json" in _artifacts(MlflowClient(target.uri), run_id)


def test_unreachable_server_is_one_line_error(closed_port):
    uri = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(HwrError, match=f"^tracking server at {uri} is unreachable: .*refused"):
        check_tracking(uri)


def test_unusable_sqlite_store_is_one_line_error(tmp_path):
    with pytest.raises(HwrError, match=f"^tracking store sqlite:///{tmp_path}/missing/m.db: folder {tmp_path}/missing does not exist$"):
        check_tracking(f"sqlite:///{tmp_path}/missing/m.db")
    (tmp_path / "garbage.db").write_bytes(b"not a database" * 100)
    with pytest.raises(HwrError, match=f"^tracking store sqlite:///{tmp_path}/garbage.db is unreachable: "):
        check_tracking(f"sqlite:///{tmp_path}/garbage.db")
    assert (tmp_path / "garbage.db").read_bytes() == b"not a database" * 100


def test_deleted_experiment_is_refused(mlflow_server):
    client = MlflowClient(mlflow_server.uri)
    client.delete_experiment(client.create_experiment("deleted-one"))
    with pytest.raises(HwrError, match="experiment 'deleted-one' .* is deleted"):
        check_tracking(mlflow_server.uri, "deleted-one")


def test_server_gone_during_the_run_costs_only_the_tracking(compare_run, start_server, tmp_path, monkeypatch):
    server = start_server(tmp_path / "short-lived")
    try:
        target = check_tracking(server.uri, "gone")  # before training: the server is there
    finally:
        server.stop()  # ... and goes away while the run trains
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    before = _hashes(compare_run)
    with pytest.warns(TrackingWarning, match=f"tracking to {target.uri} failed") as caught:
        assert track_run(compare_run, target.uri, experiment="gone") is None
    assert str(compare_run) in str(caught[0].message)
    assert _hashes(compare_run) == before
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # the quick-failure settings were undone


def test_server_dying_mid_logging_costs_only_the_tracking(compare_run, start_server, tmp_path, monkeypatch):
    import hwr_eval.runs

    server = start_server(tmp_path / "dies")
    target = check_tracking(server.uri, "dies")
    real_load_model = hwr_eval.runs.load_model

    def load_model_after_the_server_died(path):
        # Reached after the parent run and the first model's run were logged, before its model is.
        server.stop()
        return real_load_model(path)

    monkeypatch.setattr(hwr_eval.runs, "load_model", load_model_after_the_server_died)
    before = _hashes(compare_run)
    try:
        with pytest.warns(TrackingWarning, match=f"tracking to {target.uri} failed"):
            assert track_run(compare_run, target.uri, experiment="dies") is None
    finally:
        server.stop()
    assert server.process.returncode is not None  # the server did die, mid-way
    assert _hashes(compare_run) == before
    assert mlflow.active_run() is None  # no run left open in MLflow's fluent state


def test_a_folder_that_is_not_a_run_fails_before_the_server_is_asked(tmp_path, closed_port):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no TrackingWarning: nothing was sent
        with pytest.raises(HwrError, match="results.json: missing"):
            track_run(tmp_path, f"http://127.0.0.1:{closed_port()}")


def test_track_command_logs_a_run_folder(mlflow_server, grid_run):
    result = CliRunner().invoke(app, ["track", str(grid_run), "--tracking-uri", mlflow_server.uri, "--experiment", "cli"])
    assert result.exit_code == 0, result.output
    run_id = re.search(r"as MLflow run ([0-9a-f]{32}) in experiment 'cli'", result.stdout).group(1)
    client = MlflowClient(mlflow_server.uri)
    run = client.get_run(run_id)
    assert run.data.tags["hwr.run_dir"] == str(grid_run.resolve())
    assert client.get_experiment(run.info.experiment_id).name == "cli"
    assert f"view: {mlflow_server.uri}" in result.stdout


def test_track_command_with_unreachable_server_is_one_line_error(grid_run, closed_port):
    uri = f"http://127.0.0.1:{closed_port()}"
    result = CliRunner().invoke(app, ["track", str(grid_run), "--tracking-uri", uri])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"error: tracking server at {uri} is unreachable: [Errno 111] Connection refused"]
