"""A run from the command line: one spec (options, --config, two seeds), models built once, files guarded."""

import os
import subprocess
import sys
import threading

import pytest

from hwr_eval.runs import RunSpec, open_run, read_record

SMALL = ("--per-class", "30", "--max-epochs", "1", "--quiet", "--no-report")


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A real run folder with a saved kNN, made once from the command line on the synthetic set."""
    from typer.testing import CliRunner

    from hwr_eval.cli import app

    out = tmp_path_factory.mktemp("saved") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HWR_DATA", "")
        mp.setenv("HWR_CACHE", str(tmp_path_factory.mktemp("cache")))
        result = CliRunner().invoke(app, ["compare", "--models", "knn", *SMALL, "--out", str(out), "--save-models"])
    assert result.exit_code == 0, result.output
    return out


def _files(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_report_out_onto_the_runs_own_record_is_refused(invoke, one_line_error, saved_run):
    before = _files(saved_run)
    error = one_line_error(invoke("report", saved_run, "--out", saved_run / "results.json"))
    assert "whose files only that run writes" in error
    assert _files(saved_run) == before


def test_predict_out_onto_a_run_file_or_its_input_is_refused(invoke, one_line_error, saved_run, tmp_path):
    before = _files(saved_run)
    model = saved_run / "models" / "knn.joblib"
    image = tmp_path / "a.png"
    from hwr_eval.data import render_scan, save_scan

    save_scan(render_scan(open_run(saved_run).X_test[:1], height=60), image)
    assert "whose files only that run writes" in one_line_error(
        invoke("predict", image, "--model", model, "--out", saved_run / "results.json"))
    assert "whose files only that run writes" in one_line_error(
        invoke("predict", image, "--model", model, "--show", saved_run / "predictions.html"))
    image_bytes = image.read_bytes()
    csv = image.with_suffix(".csv")
    result = invoke("predict", image, "--model", model, "--out", csv)
    assert result.exit_code == 0 and csv.is_file() and image.read_bytes() == image_bytes
    assert _files(saved_run) == before


def test_cv_out_onto_a_data_file_is_refused_before_training(invoke, one_line_error, tmp_path, data_files, saved_run):
    data_files.mnist(tmp_path)
    data_file = next(p for p in tmp_path.iterdir() if "labels" in p.name)
    before = data_file.read_bytes()
    result = invoke("cv", "--models", "knn", "--data", tmp_path, "--classes", "digits", "--folds", "2",
                    "--out", data_file)
    assert "is an input of this command" in one_line_error(result)
    assert "cross-validation" not in result.stdout and data_file.read_bytes() == before
    error = one_line_error(invoke("cv", "--models", "knn", "--out", saved_run / "cv.csv"))
    assert "whose files only that run writes" in error


def test_a_conflicting_epoch_limit_is_an_error_not_a_silent_winner(invoke, one_line_error, synthetic_env, tmp_path):
    result = invoke("compare", "--models", "cnn", "--set", "cnn.max_epochs=3", "--max-epochs", "30",
                    "--out", tmp_path / "run")
    assert "cnn.max_epochs is set twice: --set cnn.max_epochs=3 and --max-epochs 30" in one_line_error(result)
    assert "data:" not in result.stderr + result.stdout and not (tmp_path / "run").exists()  # before any data


@pytest.mark.parametrize("args, fragment", [
    (("--target-risk", "2"), "--target-risk"),
    (("--seed", "1", "--model-seed", "2"), "--seed sets both seeds"),
    (("--model-seed", "-1"), "--model-seed"),
    (("--context", "0,Q", "--classes", "digits"), "'Q' are not among the classes"),
    (("--scheduler", "tcp://127.0.0.1:1"), "cannot reach the Dask scheduler"),
])
def test_run_options_are_checked_once_before_any_data(invoke, one_line_error, synthetic_env, tmp_path, args, fragment):
    result = invoke("compare", "--models", "knn", *args, "--out", tmp_path / "run")
    assert fragment in one_line_error(result)
    assert "SYNTHETIC" not in result.stderr and not (tmp_path / "run").exists()


def test_two_seeds_and_a_rerun_from_the_saved_spec(invoke, synthetic_env, tmp_path):
    first = tmp_path / "first"
    result = invoke("compare", "--models", "knn,linear", *SMALL, "--data-seed", "1", "--model-seed", "2",
                    "--out", first)
    assert result.exit_code == 0, result.output
    record = read_record(first)
    assert (record.settings["data_seed"], record.settings["model_seed"]) == (1, 2)
    assert record.models["linear"].params["random_state"] == 2
    spec = RunSpec.from_toml(first / "spec.toml")
    assert (spec.data.seed, spec.seed, spec.max_epochs, spec.report) == (1, 2, 1, False)
    again = tmp_path / "again"
    result = invoke("compare", "--config", first / "spec.toml", "--out", again)
    assert result.exit_code == 0, result.output
    rerun = read_record(again)
    assert rerun.spec == {**record.spec, "out": str(again)}
    for name in ("knn", "linear"):  # the same spec gives the same numbers
        assert rerun.models[name].metrics == record.models[name].metrics
    # An option given on the command line wins over the file.
    third = tmp_path / "third"
    assert invoke("compare", "--config", first / "spec.toml", "--model-seed", "5", "--models", "linear",
                  "--out", third).exit_code == 0
    assert read_record(third).models["linear"].params["random_state"] == 5


def test_each_model_is_built_once_per_run(invoke, synthetic_env, tmp_path, monkeypatch):
    import hwr_eval.workflows._configure as configure

    built = []
    real = configure.make_model
    monkeypatch.setattr(configure, "make_model", lambda name, **kw: built.append(name) or real(name, **kw))
    assert invoke("compare", "--models", "knn,logreg", *SMALL, "--out", tmp_path / "run").exit_code == 0
    assert built == ["knn", "logreg"]


def test_simultaneous_compares_on_the_same_out_one_proceeds(tmp_path):
    """Two real `hwr-eval compare` processes started together with one --out: one finishes, one exits 2
    (claiming comes before loading the data, so the second stops at once)."""
    out = tmp_path / "run"
    env = {**os.environ, "HWR_DATA": "", "HWR_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "hwr_eval", "compare", "--models", "knn", *SMALL, "--out", str(out)]
    outputs = {}
    start = threading.Barrier(2)

    def run(i):
        start.wait()
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        outputs[i] = proc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(p.returncode for p in outputs.values())
    assert codes == [0, 2], [p.stderr for p in outputs.values()]
    loser = next(p for p in outputs.values() if p.returncode == 2)
    assert "Traceback" not in loser.stderr and ("belongs to another run" in loser.stderr or "not empty" in loser.stderr)
    assert open_run(out).record.complete and list(open_run(out).record.models) == ["knn"]


@pytest.mark.parametrize("setting, fragment, before_data", [
    ("cnn.dropout=2", "dropout", True),
    ("knn.n_neighbors=100000", "n_neighbors=100000 but only", False),
])
def test_impossible_model_settings_fail_before_training(invoke, one_line_error, synthetic_env, tmp_path, setting,
                                                         fragment, before_data):
    model = setting.split(".")[0]
    result = invoke("compare", "--models", model, "--set", setting, *SMALL, "--out", tmp_path / "run")
    assert fragment in one_line_error(result)
    assert "training" not in result.stdout and not (tmp_path / "run").exists()
    assert ("SYNTHETIC" not in result.stderr) is before_data


def test_sigterm_ends_a_run_with_a_message_and_keeps_finished_models(tmp_path):
    """A job scheduler's stop (SIGTERM) is reported in one line, exit 143, with the finished models kept."""
    import signal
    import time

    out = tmp_path / "run"
    env = {**os.environ, "HWR_DATA": "", "HWR_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    # Epochs without end: the MLP must still be training when SIGTERM comes, on however fast a CPU (with 500
    # epochs it once finished first, on an Intel Xeon with AMX).
    command = [sys.executable, "-m", "hwr_eval", "compare", "--models", "knn,mlp", "--per-class", "30",
               "--max-epochs", "100000", "--set", "mlp.patience=100000", "--set", "mlp.batch_size=8", "--no-report", "--out", str(out)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    # Wait until the first model is recorded (the second is then training), polling the run's own record.
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if list(read_record(out).models) == ["knn"]:
                break
        except Exception:  # not written yet
            pass
        time.sleep(0.2)
    time.sleep(1)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()  # a run that ignored SIGTERM must not train on after the test
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "terminated (SIGTERM)" in stderr
    record = read_record(out)
    assert record.status == "incomplete" and list(record.models) == ["knn"]


def test_cv_keeps_its_table_without_out(invoke, synthetic_env, tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    result = invoke("cv", "--models", "knn", "--folds", "2", "--per-class", "30")
    assert result.exit_code == 0, result.output
    (saved,) = (tmp_path / "reports").glob("cv-*.csv")
    assert f"saved: {saved.relative_to(tmp_path)}" in result.stdout.replace("\n", "")
    assert list(pd.read_csv(saved, index_col="model").index) == ["knn"]


def test_version_models_all_and_a_misspelled_model(invoke, one_line_error, synthetic_env, tmp_path):
    from hwr_eval import __version__
    from hwr_eval.models import list_models

    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"hwr-eval {__version__}"
    assert RunSpec(models=("all",)).names == list_models()
    error = one_line_error(invoke("compare", "--models", "knn,cnnn", "--out", tmp_path / "run"))
    assert "unknown model 'cnnn'; did you mean 'cnn'?" in error and not (tmp_path / "run").exists()


def test_an_unqualified_set_names_the_only_model_and_is_refused_with_several(invoke, one_line_error, synthetic_env,
                                                                              tmp_path):
    out = tmp_path / "run"
    assert invoke("compare", "--models", "knn", "--set", "n_neighbors=1", *SMALL, "--out", out).exit_code == 0
    assert read_record(out).models["knn"].params["n_neighbors"] == 1
    error = one_line_error(invoke("compare", "--models", "knn,logreg", "--set", "C=0.5", "--out", tmp_path / "two"))
    assert "expected model.param=value, e.g. --set cnn.lr=0.01" in error


def test_python_runs_say_what_they_do_when_asked(small_synthetic, tmp_path, capsys):
    from sklearn.neighbors import KNeighborsClassifier

    from hwr_eval.workflows import run_compare

    run_compare({"knn": KNeighborsClassifier(3)}, small_synthetic, tmp_path / "quiet", report=False)
    assert capsys.readouterr().err == ""  # silent unless asked
    run_compare({"knn": KNeighborsClassifier(3)}, small_synthetic, tmp_path / "run", report=False, verbose=1)
    err = capsys.readouterr().err
    assert "synthetic demo set" in err and "[1/1] knn: training ..." in err and "[done] knn: test accuracy" in err
