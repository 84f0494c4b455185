"""run_compare / run_grid / run_cv: the run folder they write and what it says."""

from __future__ import annotations

import signal
import threading
import time

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold, cross_val_score

from hwr_eval.errors import HwrError
from hwr_eval.evaluation import mcnemar_matrix
from hwr_eval.models import make_model
from hwr_eval.runs import MARKER, SCHEMA_VERSION, open_run, read_record
from hwr_eval.workflows import CompareInterrupted, run_compare, run_cv, run_grid


def test_compare_writes_the_run_folder(small_synthetic, tmp_path, check_run_folder):
    out = tmp_path / "run"
    started, ended = [], []
    run_dir = run_compare(
        ["knn", "logreg", "linear"],
        small_synthetic,
        out,
        max_epochs=2,
        seed=0,
        overrides={"logreg": {"C": 0.5}},
        save_models=True,
        n_resamples=200,
        on_model_start=lambda name, i, n: started.append((name, i, n)),
        on_model_end=lambda name, rec: ended.append(name),
    )
    assert run_dir == out
    results = check_run_folder(run_dir, small_synthetic)
    assert results["status"] == "complete" and results["kind"] == "compare"
    assert results["data"]["synthetic"] is True
    assert results["settings"]["overrides"] == {"logreg": {"C": 0.5}}
    assert results["settings"]["classes"] == "36" and results["settings"]["max_epochs"] == 2
    assert started == [("knn", 0, 3), ("logreg", 1, 3), ("linear", 2, 3)] and ended == ["knn", "logreg", "linear"]
    models = results["models"]
    assert models["logreg"]["params"]["C"] == 0.5
    assert models["knn"]["history"] is None
    history = models["linear"]["history"]
    assert history and len(history) <= 2 and history[0]["epoch"] == 1
    assert models["logreg"]["n_parameters"] == 785 * len(small_synthetic.classes)
    weights = np.load(run_dir / models["logreg"]["files"]["weights"])
    assert weights.shape == (len(small_synthetic.classes), 28, 28)
    assert models["knn"]["files"]["weights"] is None
    # Saved models reproduce the saved predictions.
    preds = open_run(run_dir).predictions.assign(y_true=open_run(run_dir).y_test)
    for name in models:
        model = joblib.load(run_dir / models[name]["files"]["model"])
        assert list(model.predict(small_synthetic.X_test)) == list(preds[name])
    report = (run_dir / "report.html").read_text()
    assert all(name in report for name in models)
    # McNemar's matrices are those of the saved predictions.
    expected = mcnemar_matrix(preds["y_true"], {name: preds[name] for name in models})
    assert results["mcnemar"]["models"] == ["knn", "logreg", "linear"]
    np.testing.assert_allclose(results["mcnemar"]["p_value"], expected["p_value"], rtol=1e-12)
    np.testing.assert_allclose(results["mcnemar"]["statistic"], expected["statistic"], rtol=1e-12)


def test_compare_abstention_threshold_comes_from_validation(small_synthetic, tmp_path):
    """Issue 10: the threshold is chosen on validation and applied to test as is; a model without
    predict_proba gets a note, not a crash; --context adds the restricted accuracy."""
    from sklearn.linear_model import RidgeClassifier

    from hwr_eval.evaluation import apply_threshold, confidence_scores, fit_temperature, select_threshold

    models = {"knn": make_model("knn"), "ridge": RidgeClassifier()}
    run_dir = run_compare(models, small_synthetic, tmp_path / "run", n_resamples=50, target_risk=0.2,
                          context="digits", save_models=True)
    results = read_record(run_dir).to_json()
    assert results["schema_version"] == SCHEMA_VERSION and results["settings"]["target_risk"] == 0.2
    sel = results["models"]["knn"]["selective"]
    assert sel["target_risk"] == 0.2 and sel["calibrated"] and sel["temperature"] > 0
    # Recompute the threshold from the validation split with the saved model and scikit-learn's scaling.
    model = joblib.load(run_dir / "models" / "knn.joblib")
    calibrated, temperature = fit_temperature(model, small_synthetic.X_val, small_synthetic.y_val)
    assert temperature == pytest.approx(sel["temperature"])
    val_scores = confidence_scores(calibrated.predict_proba(small_synthetic.X_val))
    val_right = model.predict(small_synthetic.X_val) == small_synthetic.y_val
    assert sel["threshold"] == pytest.approx(select_threshold(val_right, val_scores, 0.2))
    # The test figures are that threshold applied to the saved calibrated test probabilities.
    cal = np.load(run_dir / results["models"]["knn"]["files"]["calibrated_probabilities"])
    preds = open_run(run_dir).predictions.assign(y_true=open_run(run_dir).y_test)
    expected = apply_threshold(preds["knn"] == preds["y_true"], confidence_scores(cal), sel["threshold"])
    assert sel["test"] == pytest.approx(expected)
    restricted = results["models"]["knn"]["context"]["restricted"]
    assert restricted["allowed"] == [str(d) for d in range(10)] and restricted["n"] == int(
        np.isin(small_synthetic.y_test, restricted["allowed"]).sum())
    # No predict_proba: a clear note in results and report.
    ridge = results["models"]["ridge"]
    assert ridge["selective"]["available"] is False and "no predict_proba" in ridge["selective"]["note"]
    assert ridge["files"]["calibrated_probabilities"] is None
    assert "ridge: RidgeClassifier has no predict_proba" in (run_dir / "report.html").read_text()


def test_compare_bad_target_risk_fails_before_training(small_synthetic, tmp_path):
    with pytest.raises(HwrError, match="--target-risk"):
        run_compare(["knn"], small_synthetic, tmp_path / "run", target_risk=1.0)
    assert not (tmp_path / "run").exists()


class _Interrupting(ClassifierMixin, BaseEstimator):
    """Stands for a user pressing Ctrl-C while this model trains."""

    def fit(self, X, y):
        raise KeyboardInterrupt


def test_ctrl_c_keeps_finished_models(small_synthetic, tmp_path, check_run_folder):
    out = tmp_path / "run"
    models = {"knn": make_model("knn"), "slow": _Interrupting(), "logreg": make_model("logreg")}
    with pytest.raises(CompareInterrupted) as info:
        run_compare(models, small_synthetic, out, n_resamples=100)
    assert info.value.run_dir == out and info.value.finished == ["knn"]
    results = check_run_folder(out, small_synthetic)
    assert results["status"] == "incomplete" and list(results["models"]) == ["knn"]
    assert not any(p.name.startswith(".") and p.name != MARKER for p in out.rglob("*"))  # no temporary files left
    assert (out / "report.html").exists()


@pytest.mark.parametrize("catches", [KeyboardInterrupt, BaseException])
def test_ctrl_c_swallowed_by_the_model_still_stops(swallows_ctrl_c, catches, small_synthetic, tmp_path, check_run_folder):
    out = tmp_path / "run"
    models = {"knn": make_model("knn"), "net": swallows_ctrl_c(catches=catches), "logreg": make_model("logreg")}
    with pytest.raises(CompareInterrupted):
        run_compare(models, small_synthetic, out, n_resamples=100, report=False)
    results = check_run_folder(out, small_synthetic)
    assert results["status"] == "incomplete" and list(results["models"]) == ["knn"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


@pytest.mark.parametrize("catches", [KeyboardInterrupt, BaseException])
def test_ctrl_c_during_grid_search_stops_it(swallows_ctrl_c, catches, small_synthetic, tmp_path):
    out = tmp_path / "grid"
    with pytest.raises(KeyboardInterrupt):
        run_grid({"net": swallows_ctrl_c(catches=catches)}, {"k": [1, 2, 3]}, small_synthetic, out, cv=2)
    assert not out.exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("catches", [KeyboardInterrupt, BaseException])
def test_ctrl_c_during_cv_stops_it(swallows_ctrl_c, catches, small_synthetic):
    # Without the guard the swallowed Ctrl-C would go unnoticed and a mean over cut-short folds returned.
    with pytest.raises(KeyboardInterrupt):
        run_cv({"net": swallows_ctrl_c(catches=catches)}, small_synthetic, folds=2)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class _Slow(ClassifierMixin, BaseEstimator):
    """Takes ``seconds`` to fit, then predicts the first class."""

    def __init__(self, seconds=0.3):
        self.seconds = seconds

    def fit(self, X, y):
        time.sleep(self.seconds)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.repeat(self.classes_[0], len(X))


def test_compare_records_the_fit_time_and_runs_off_the_main_thread(small_synthetic, tmp_path):
    # A notebook or GUI may run a comparison in a worker thread, where signal handlers cannot be set:
    # Ctrl-C handling is then left to the main thread, and the run works.
    outcome = {}

    def compare():
        start = time.perf_counter()
        try:
            outcome["run_dir"] = run_compare({"slow": _Slow()}, small_synthetic, tmp_path / "run", n_resamples=10,
                                             report=False)
        except BaseException as exc:  # re-raised below, in the test's own thread
            outcome["error"] = exc
        outcome["elapsed"] = time.perf_counter() - start

    worker = threading.Thread(target=compare)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    results = read_record(outcome["run_dir"]).to_json()
    fit_time = results["models"]["slow"]["fit_time_s"]
    assert 0.3 <= fit_time < outcome["elapsed"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_compare_hands_on_its_settings_and_records_its_command(small_synthetic, tmp_path):
    run_dir = run_compare(("knn", "logreg", "linear"), small_synthetic, tmp_path / "run", max_epochs=2, device="cpu",
                          seed=4, overrides={"logreg": {"C": 0.5}}, n_resamples=20, report=False)
    results = read_record(run_dir).to_json()
    assert results["command"] == ("hwr_eval.run_compare(models=['knn', 'logreg', 'linear'], params={'logreg': {'C': 0.5}}, "
                                  "max_epochs=2, device='cpu', model_seed=4, n_resamples=20, report=False)")
    assert results["settings"]["device"] == "cpu" and results["settings"]["models"] == ["knn", "logreg", "linear"]
    params = {name: model["params"] for name, model in results["models"].items()}
    assert (params["logreg"]["C"], params["logreg"]["random_state"]) == (0.5, 4)
    assert (params["linear"]["max_epochs"], params["linear"]["device"], params["linear"]["random_state"]) == (2, "cpu", 4)
    assert "random_state" not in params["knn"]  # kNN has no seed to set
    assert results["spec"]["model_seed"] == 4 and results["spec"]["data"]["seed"] == small_synthetic.provenance["seed"]


def test_compare_scores_the_fitted_models_on_corrupted_test_images(small_synthetic, tmp_path):
    progress = []
    run_dir = run_compare(["knn"], small_synthetic, tmp_path / "run", n_resamples=20, report=False, robustness=True,
                          on_robustness_progress=lambda done, total, label: progress.append((done, total, label)))
    results = read_record(run_dir).to_json()
    record = results["robustness"]
    assert record["file"] == "robustness.csv" and (run_dir / record["file"]).is_file()
    assert record["models"]["knn"]["clean_accuracy"] == pytest.approx(results["models"]["knn"]["metrics"]["accuracy"])
    sweep = [(done, total) for done, total, label in progress if label.startswith("robustness: ")]
    assert sweep and sweep[-1][0] == sweep[-1][1] == len(sweep)
    mnist_c = [(done, total) for done, total, label in progress if label.startswith("MNIST-C: ")]
    assert mnist_c[-1] == (16, 16) == (len(mnist_c), len(mnist_c))  # clean and the 15 corruptions


def test_model_without_predict_proba_gets_a_report(small_synthetic, tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    from hwr_eval.models import PixelScaler

    run_dir = run_compare({"svc": make_pipeline(PixelScaler(), LinearSVC(C=0.01)), "knn": make_model("knn")},
                          small_synthetic, tmp_path / "run", n_resamples=50)
    results = read_record(run_dir).to_json()
    assert results["status"] == "complete"
    assert results["models"]["svc"]["files"]["probabilities"] is None
    assert not (run_dir / "probabilities" / "svc.npy").exists()
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="model-svc"' in text and "this model gives no probabilities" in text


def test_bad_inputs_fail_before_any_file(small_synthetic, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(HwrError, match="unknown model 'nope'"):
        run_compare(["knn", "nope"], small_synthetic, out)
    with pytest.raises(HwrError, match="cnn"):
        run_compare(["knn"], small_synthetic, out, overrides={"cnn": {"lr": 0.1}})
    with pytest.raises(HwrError):
        run_compare(["logreg"], small_synthetic, out, overrides={"logreg": {"no_such_param": 1}})
    assert not out.exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "results.json").write_text("{}")
    with pytest.raises(HwrError, match="not empty"):
        run_compare(["knn"], small_synthetic, tmp_path / "full")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(HwrError, match="is a file"):
        run_compare(["knn"], small_synthetic, tmp_path / "afile")
    with pytest.raises(HwrError, match="cannot write"):
        run_compare(["knn"], small_synthetic, tmp_path / "afile" / "run")


class _Broken(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise RuntimeError("broken model")


def test_failing_fit_leaves_no_folder(small_synthetic, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(HwrError, match="n_neighbors"):  # a bad value is caught before training
        run_compare(["knn"], small_synthetic, out, overrides={"knn": {"n_neighbors": -3}})
    assert not out.exists()
    with pytest.raises(RuntimeError, match="broken"):
        run_compare({"broken": _Broken()}, small_synthetic, out)
    assert not out.exists()


def test_grid_searches_then_scores_best_on_test(small_synthetic, tmp_path, check_run_folder):
    run_dir = run_grid("logreg", {"C": [0.01, 1.0]}, small_synthetic, tmp_path / "grid", cv=2, n_resamples=100,
                       report=False)
    results = check_run_folder(run_dir, small_synthetic)
    assert results["kind"] == "grid" and list(results["models"]) == ["logreg"]
    assert not (run_dir / "report.html").exists()
    grid = results["grid"]
    assert grid["cv"] == 2 and list(grid["best_params"].values())[0] in (0.01, 1.0)
    cv_results = pd.read_csv(run_dir / "cv_results.csv")
    assert len(cv_results) == 2 and cv_results["rank_test_score"].iloc[0] == 1
    assert grid["best_score"] == pytest.approx(cv_results["mean_test_score"].max())
    assert results["models"]["logreg"]["params"]["C"] == list(grid["best_params"].values())[0]


def test_grid_rejects_impossible_folds(small_synthetic, tmp_path):
    with pytest.raises(HwrError, match="train images"):
        run_grid("knn", {"n_neighbors": [1, 3]}, small_synthetic, tmp_path / "g", cv=1000)
    assert not (tmp_path / "g").exists()


def test_cv_matches_scikit_learn(small_synthetic):
    frame = run_cv(["knn"], small_synthetic, folds=3, seed=0)
    X = np.concatenate([small_synthetic.X_train, small_synthetic.X_val])
    y = np.concatenate([small_synthetic.y_train, small_synthetic.y_val])
    expected = cross_val_score(make_model("knn"), X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert frame.loc["knn", "accuracy_mean"] == pytest.approx(expected.mean())
    assert frame.loc["knn", "accuracy_std"] == pytest.approx(expected.std())
    assert {"balanced_accuracy_mean", "f1_macro_std", "fit_time_mean"} <= set(frame.columns)
