"""`hwr-eval compare / grid / cv` through typer's CliRunner: files, output and exit codes."""

from __future__ import annotations

import shlex

import numpy as np
import pandas as pd
import pytest

from hwr_eval.cli._options import parse_grid, parse_sets, parse_value
from hwr_eval.errors import HwrError
from hwr_eval.runs import open_run, read_record

SMALL = ["--per-class", "30", "--max-epochs", "1"]


def test_parse_value_literals():
    assert parse_value("64") == 64 and isinstance(parse_value("64"), int)
    assert parse_value("1e-3") == 0.001
    assert parse_value("true") is True and parse_value("False") is False
    assert parse_value("none") is None and parse_value("None") is None
    assert parse_value("avg") == "avg" and parse_value("'max'") == "'max'"
    assert parse_sets(["cnn.lr=0.01", "cnn.pool=max", "knn.n_neighbors=3"]) == {
        "cnn": {"lr": 0.01, "pool": "max"}, "knn": {"n_neighbors": 3}}
    assert parse_sets(["lr=0.1"], default_model="mlp") == {"mlp": {"lr": 0.1}}
    assert parse_grid(["lr=0.001,0.01", "pool=avg,max"]) == {"lr": [0.001, 0.01], "pool": ["avg", "max"]}
    for bad in (["cnn.lr"], ["lr=0.1"], ["cnn.=3"], ["cnn.lr="]):
        with pytest.raises(HwrError, match="--set"):
            parse_sets(bad)
    for bad in (["lr"], ["lr=0.1,,0.2"], ["=1,2"], ["lr=1", "lr=2"]):
        with pytest.raises(HwrError, match="--param"):
            parse_grid(bad)


def test_compare_on_synthetic_data(invoke, synthetic_env, tmp_path, check_run_folder):
    out = tmp_path / "run"
    result = invoke("compare", "--models", "knn,logreg,linear", *SMALL, "--out", out,
                    "--set", "logreg.C=0.5", "--save-models")
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.stderr  # said loudly, on every run that uses it
    assert "[1/3] knn" in result.stdout and "[3/3] linear" in result.stdout
    assert "McNemar" in result.stdout and str(out) in result.stdout.replace("\n", "")
    results = check_run_folder(out)
    assert results["status"] == "complete" and results["data"]["synthetic"] is True
    # The command as typed (not the test runner's argv), so it can be run again from the report.
    assert results["command"].startswith("hwr-eval compare --models knn,logreg,linear ")
    assert shlex.split(results["command"]) == [
        "hwr-eval", "compare", "--models", "knn,logreg,linear", *SMALL, "--out", str(out), "--save-models",
        "--set", "logreg.C=0.5"]
    assert results["models"]["logreg"]["params"]["C"] == 0.5
    assert (out / "report.html").exists() and "report:" in result.stdout
    assert sorted(p.name for p in (out / "models").iterdir()) == ["knn.joblib", "linear.joblib", "logreg.joblib"]
    for rec in results["models"].values():  # the table shows the accuracies in results.json
        assert f"{rec['metrics']['accuracy']:.4f}" in result.stdout


def test_compare_default_run_folder_under_reports(invoke, synthetic_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # two runs in the same second still get separate folders
        result = invoke("compare", "--models", "knn", *SMALL, "--no-report")
        assert result.exit_code == 0, result.output
    runs = sorted((tmp_path / "reports").iterdir())
    assert len(runs) == 2 and all(r.name.startswith("compare-") for r in runs)
    assert all((r / "results.json").exists() for r in runs)


def test_compare_on_real_digits(invoke, real_data_dir, tmp_path, monkeypatch, check_run_folder):
    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    result = invoke("compare", "--models", "knn,logreg", "--data", real_data_dir, "--classes", "digits",
                    "--per-class", "40", "--out", out, "--no-report")
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" not in result.output
    results = check_run_folder(out)
    assert results["data"]["synthetic"] is False and results["data"]["classes"] == list("0123456789")
    assert results["settings"]["classes"] == "digits"
    assert all(s["sha256"] for s in results["data"]["sources"])
    preds = open_run(out).predictions.assign(y_true=open_run(out).y_test)
    # Real digits are easy: an honest, robust bar far above chance (10 %).
    assert np.mean(preds["logreg"] == preds["y_true"]) > 0.5


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "knn,nope"], "unknown model 'nope'"),
        (["--models", "knn", "--set", "knn"], "--set"),
        (["--models", "knn", "--set", "cnn.lr=0.1"], "cnn"),
        (["--models", "logreg", "--set", "logreg.no_such_param=1"], "no_such_param"),
        (["--models", "knn", "--per-class", "3"], "per-class"),
        (["--models", "knn", "--data", "/no/such/folder"], "/no/such/folder"),
        (["--models", "knn", "--target-risk", "1.5"], "--target-risk"),
        (["--models", "knn", "--target-risk", "0"], "--target-risk"),
        (["--models", "knn", "--context", "O,?"], "context classes '?' are not among the classes"),
        (["--models", "knn", "--classes", "digits", "--context", "letters"], "none of the model's classes are letters"),
        (["--models", "modern_cnn", "--set", "modern_cnn.lr_schedule=step"], "'lr_schedule' parameter of HwrNet"),
        (["--models", "cnn", "--set", "cnn.label_smoothing=-0.1"], "'criterion__label_smoothing' parameter of HwrNet"),
    ],
)
def test_compare_bad_inputs(invoke, one_line_error, synthetic_env, tmp_path, args, message):
    out = tmp_path / "run"
    line = one_line_error(invoke("compare", *args, "--out", out))
    assert message in line
    assert not out.exists()


def test_compare_unwritable_output(invoke, one_line_error, synthetic_env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = one_line_error(invoke("compare", "--models", "knn", *SMALL, "--out", blocker / "run"))
    assert "cannot write" in line and str(blocker) in line
    assert blocker.read_text() == "x"


def test_compare_ctrl_c_exits_130_with_incomplete_results(invoke, synthetic_env, tmp_path, monkeypatch, check_run_folder):
    import hwr_eval.workflows._configure as compare

    make = compare.make_model

    def make_interrupting(name, **params):
        model = make(name, **params)
        if name == "logreg":
            def fit(*args, **kwargs):
                raise KeyboardInterrupt
            model.fit = fit
        return model

    monkeypatch.setattr(compare, "make_model", make_interrupting)
    out = tmp_path / "run"
    result = invoke("compare", "--models", "knn,logreg", *SMALL, "--out", out, "--no-report")
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.stderr and "Traceback" not in result.output
    results = read_record(out).to_json()
    assert results["status"] == "incomplete" and list(results["models"]) == ["knn"]
    check_run_folder(out)


def test_grid_command(invoke, synthetic_env, tmp_path, check_run_folder):
    out = tmp_path / "grid"
    result = invoke("grid", "--model", "knn", "--param", "n_neighbors=1,3", "--param", "weights=uniform,distance",
                    "--cv", "2", *SMALL, "--out", out, "--no-report")
    assert result.exit_code == 0, result.output
    assert "4 candidates x 2 folds" in result.stdout and "best parameters" in result.stdout
    cv_results = pd.read_csv(out / "cv_results.csv")
    assert len(cv_results) == 4 and list(cv_results["rank_test_score"]) == sorted(cv_results["rank_test_score"])
    results = check_run_folder(out)
    assert results["kind"] == "grid" and results["grid"]["cv"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "knn", "--param", "n_neighbors"], "--param"),
        (["--model", "nope", "--param", "n_neighbors=1,3"], "unknown model"),
        (["--model", "knn", "--param", "no_such=1,3"], "no_such"),
        (["--model", "knn", "--param", "n_neighbors=1,3", "--set", "cnn.lr=0.1"], "cnn"),
    ],
)
def test_grid_bad_inputs(invoke, one_line_error, synthetic_env, tmp_path, args, message):
    out = tmp_path / "grid"
    assert message in one_line_error(invoke("grid", *args, *SMALL, "--out", out))
    assert not out.exists()


@pytest.mark.parametrize(
    "command, args, message",
    [
        ("grid", ["--model", "knn", "--param", "n_neighbors=1,3", "--scoring", "acuracy"],
         "did you mean accuracy"),
        ("grid", ["--model", "knn", "--param", "n_neighbors=1,3", "--n-jobs", "0"], "--n-jobs 0"),
        ("cv", ["--models", "knn", "--n-jobs", "0"], "--n-jobs 0"),
    ],
)
def test_bad_scoring_and_n_jobs_fail_before_loading_data(invoke, one_line_error, synthetic_env, tmp_path, command, args, message):
    result = invoke(command, *args, *SMALL)
    assert message in one_line_error(result)
    assert "SYNTHETIC" not in result.stderr  # refused before any data was loaded


def test_cv_ctrl_c_exits_130_without_a_table(invoke, swallows_ctrl_c, synthetic_env, tmp_path, monkeypatch):
    import hwr_eval.workflows._configure as configure

    monkeypatch.setattr(configure, "build_models", lambda models, **kw: {m: swallows_ctrl_c() for m in models})
    csv = tmp_path / "cv.csv"
    result = invoke("cv", "--models", "knn", "--folds", "2", *SMALL, "--out", csv)
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.stderr and "±" not in result.stdout
    assert not csv.exists()


def test_cv_command(invoke, one_line_error, synthetic_env, tmp_path):
    csv = tmp_path / "cv.csv"
    result = invoke("cv", "--models", "knn,logreg", "--folds", "2", *SMALL, "--out", csv)
    assert result.exit_code == 0, result.output
    assert "±" in result.stdout and "logreg" in result.stdout
    frame = pd.read_csv(csv, index_col="model")
    assert list(frame.index) == ["knn", "logreg"]
    # The CSV holds run_cv's numbers for the same data (synthetic, 30 per class, seed 0, 2 folds).
    from hwr_eval import load_dataset
    from hwr_eval.workflows import run_cv

    expected = run_cv(["knn", "logreg"], load_dataset(per_class=30, seed=0), folds=2, seed=0)
    np.testing.assert_allclose(frame["accuracy_mean"], expected["accuracy_mean"], rtol=1e-9)
    np.testing.assert_allclose(frame["f1_macro_std"], expected["f1_macro_std"], rtol=1e-9)
    assert f"{frame.loc['knn', 'accuracy_mean']:.4f}" in result.stdout
    line = one_line_error(invoke("cv", "--models", "knn", "--folds", "1", *SMALL))
    assert "--folds" in line


def test_zero_epochs_is_a_one_line_error(invoke, one_line_error, synthetic_env, tmp_path):
    line = one_line_error(invoke("compare", "--models", "cnn", "--max-epochs", "0", "--out", tmp_path / "run"))
    assert "RunSpec.max_epochs (--max-epochs) must be an int in the range [1, inf) or None; got 0" in line
    assert not (tmp_path / "run").exists()
