"""``--scheduler`` on grid, cv and compare: bad values are one line (exit 2); a cluster address runs the fits."""

from __future__ import annotations

import pytest

from hwr_eval.runs import read_record

COMMANDS = {
    "grid": ["grid", "--model", "knn", "--param", "n_neighbors=1,3"],
    "cv": ["cv", "--models", "knn"],
    "compare": ["compare", "--models", "knn"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("value", ["local:0", "local:many", "tcp://host", "http://host:8786", "host:99999"])
def test_bad_scheduler_is_one_line_before_any_data(invoke, one_line_error, synthetic_env, tmp_path, command, value):
    result = invoke(*COMMANDS[command], "--scheduler", value, "--out", str(tmp_path / "run"))
    assert "--scheduler" in one_line_error(result) and repr(value) in result.stderr
    assert "data:" not in result.output  # refused before loading anything
    assert not (tmp_path / "run").exists()


def test_grid_on_a_running_cluster(invoke, synthetic_env, tmp_path, dask_cluster):
    cluster, _ = dask_cluster
    out = tmp_path / "run"
    args = [*COMMANDS["grid"], "--per-class", "30", "--cv", "2", "--no-report", "--out", str(out)]
    result = invoke(*args, "--scheduler", cluster.scheduler_address)
    assert result.exit_code == 0, result.output
    results = read_record(out).to_json()
    assert results["status"] == "complete" and results["grid"]["n_candidates"] == 2
    assert f"--scheduler {cluster.scheduler_address}" in results["command"]
    local = invoke(*args[:-1], str(tmp_path / "local"))
    assert local.exit_code == 0, local.output
    local_results = read_record(tmp_path / "local").to_json()
    assert results["grid"]["best_score"] == local_results["grid"]["best_score"]
    assert results["models"]["knn"]["metrics"] == local_results["models"]["knn"]["metrics"]
