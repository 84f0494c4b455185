"""`hwr-eval robustness RUN_DIR` and `compare --robustness`: results join the run folder and its report."""

from __future__ import annotations

import pandas as pd
import pytest

from hwr_eval import make_model
from hwr_eval.runs import read_record
from hwr_eval.workflows import run_compare, run_robustness


def test_run_folder_without_saved_models_says_rerun_with_save_models(invoke, one_line_error, make_run_dir, tmp_path):
    run_dir = make_run_dir(tmp_path / "run", models=("knn",))
    before = (run_dir / "results.json").read_text()
    line = one_line_error(invoke("robustness", str(run_dir)))
    assert "--save-models" in line and "no saved models" in line
    assert (run_dir / "results.json").read_text() == before
    assert not (run_dir / "robustness.csv").exists()


def test_missing_run_folder_is_one_line_error(invoke, one_line_error, tmp_path):
    assert "not a run folder" in one_line_error(invoke("robustness", str(tmp_path / "nope")))


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory, small_synthetic):
    run_dir = tmp_path_factory.mktemp("saved") / "run"
    models = {"knn": make_model("knn"), "knn1": make_model("knn", n_neighbors=1)}
    return run_compare(models, small_synthetic, run_dir, save_models=True, report=False, n_resamples=50)


def test_robustness_command_adds_results_and_rebuilds_the_report(invoke, saved_run, monkeypatch):
    import hwr_eval.report

    rebuilt = []
    # The section itself is tested with the report (tests/report); here: the command asks for a rebuild.
    monkeypatch.setattr(hwr_eval.report, "build_report", lambda run_dir: rebuilt.append(run_dir))
    result = invoke("robustness", str(saved_run), "--corruptions", "fog,rotate")
    assert result.exit_code == 0, result.output
    assert "mCA" in result.stdout and "knn" in result.stdout
    results = read_record(saved_run).to_json()
    record = results["robustness"]
    assert set(record["models"]) == {"knn", "knn1"} and record["corruptions"] == ["fog", "rotate"]
    assert results["status"] == "complete" and set(results["models"]) == {"knn", "knn1"}  # the rest kept
    frame = pd.read_csv(saved_run / record["file"])
    assert len(frame) == 2 * (1 + 2 * 5 + 13)
    clean = frame[(frame["model"] == "knn") & (frame["corruption"] == "clean")]["accuracy"].item()
    assert clean == pytest.approx(results["models"]["knn"]["metrics"]["accuracy"])
    assert rebuilt == [saved_run]


def test_unknown_corruption_is_one_line_error(invoke, one_line_error, saved_run):
    assert "unknown corruption" in one_line_error(invoke("robustness", saved_run, "--corruptions", "smudge"))


def test_rerun_with_the_same_seed_gives_the_same_record(saved_run):
    first = run_robustness(saved_run, corruptions=["spatter"], severities=[2], angles=[15], report=False)
    assert run_robustness(saved_run, corruptions=["spatter"], severities=[2], angles=[15], report=False) == first


def test_compare_with_robustness_flag(invoke, synthetic_env, tmp_path):
    out = tmp_path / "run"
    result = invoke("compare", "--models", "knn", "--per-class", "30", "--out", out, "--robustness", "--no-report")
    assert result.exit_code == 0, result.output
    results = read_record(out).to_json()
    assert results["robustness"]["models"]["knn"]["mca"] <= results["robustness"]["models"]["knn"]["clean_accuracy"]
    assert (out / "robustness.csv").is_file() and not (out / "models").exists()
    assert "Robustness" in result.stdout


def test_mnist_c_suite_scores_the_released_corruptions_and_the_report_shows_its_headline(invoke, saved_run):
    from hwr_eval.data import MNIST_C_CORRUPTIONS
    from hwr_eval.evaluation import mnist_c_accuracy
    from hwr_eval.runs import open_run

    result = invoke("robustness", str(saved_run), "--suite", "mnist-c", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "MNIST-C as released" in result.stdout
    run = open_run(saved_run)
    record = run.record.mnist_c
    assert record["corruptions"] == list(MNIST_C_CORRUPTIONS) and record["seed"] == 3
    # The record is the evaluation's own numbers for the saved models on the saved test set.
    models = {name: run.load_model(name) for name in run.record.models}
    frame = mnist_c_accuracy(models, run.X_test, run.y_test, random_state=3)
    for name in models:
        rows = frame[frame["model"] == name].set_index("corruption")["accuracy"]
        assert record["models"][name]["mean"] == pytest.approx(rows["mean"])
        assert record["models"][name]["per_corruption"]["fog"] == pytest.approx(rows["fog"])
        assert record["models"][name]["clean"] == pytest.approx(run.record.models[name].accuracy)
    html = (saved_run / "report.html").read_text()
    assert "MNIST-C as released" in html and f"{100 * record['models']['knn']['mean']:.2f}%" in html


def test_unknown_suite_is_one_line_error(invoke, one_line_error, saved_run):
    assert "did you mean 'mnist-c'" in one_line_error(invoke("robustness", saved_run, "--suite", "mnistc"))
