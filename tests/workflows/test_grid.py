"""run_grid: the settings it hands on, what its run folder records, its defaults and its errors.

Which rows the search and the refit see is tested in ``test_protocol.py``.
"""

from __future__ import annotations

import re
import time

import joblib
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold, cross_val_score

from hwr_eval.errors import HwrError
from hwr_eval.evaluation import bootstrap_accuracy_ci
from hwr_eval.models import make_model
from hwr_eval.runs import open_run, read_record
from hwr_eval.workflows import run_grid


def _saved_predictions(run_dir, name):
    return open_run(run_dir).predictions[name].to_numpy()


def test_grid_hands_on_its_settings_and_records_them(small_synthetic, tmp_path, monkeypatch):
    import hwr_eval.workflows._grid as grid_module

    searches = []
    real_search = grid_module.GridSearchCV

    def search(*args, **kwargs):
        searches.append(kwargs)
        return real_search(*args, **kwargs)

    monkeypatch.setattr(grid_module, "GridSearchCV", search)
    start = time.perf_counter()
    run_dir = run_grid("knn", {"n_neighbors": [1, 3]}, small_synthetic, tmp_path / "run", cv=2, n_jobs=1,
                       scoring="f1_macro", max_epochs=2, device="cpu", seed=5, overrides={"weights": "distance"},
                       save_models=True, n_resamples=30, report=False)
    elapsed = time.perf_counter() - start
    assert run_dir == tmp_path / "run"
    (kwargs,) = searches
    assert {k: kwargs[k] for k in ("scoring", "n_jobs", "refit", "verbose", "error_score")} == {
        "scoring": "f1_macro", "n_jobs": 1, "refit": False, "verbose": 0, "error_score": "raise"}
    folds = kwargs["cv"]
    assert (folds.n_splits, folds.shuffle, folds.random_state) == (2, True, 5)

    results = read_record(run_dir).to_json()
    assert (results["kind"], results["status"]) == ("grid", "complete")
    assert results["command"] == "hwr_eval.run_grid(model='knn', param_grid={'n_neighbors': [1, 3]}, cv=2)"
    settings = results["settings"]
    assert {k: settings[k] for k in ("models", "max_epochs", "device", "seed", "overrides", "save_models")} == {
        "models": ["knn"], "max_epochs": 2, "device": "cpu", "seed": 5,
        "overrides": {"knn": {"weights": "distance"}}, "save_models": True}
    grid = results["grid"]
    best_k = grid["best_params"]["clf__n_neighbors"]
    # The search's score, recomputed independently on the same folds.
    expected = cross_val_score(make_model("knn", n_neighbors=best_k, weights="distance"), small_synthetic.X_train,
                               small_synthetic.y_train, scoring="f1_macro",
                               cv=StratifiedKFold(2, shuffle=True, random_state=5)).mean()
    assert grid == {"model": "knn", "param_grid": {"clf__n_neighbors": [1, 3]}, "best_params": {"clf__n_neighbors": best_k},
                    "best_score": pytest.approx(expected), "cv": 2, "scoring": "f1_macro", "n_candidates": 2}
    table = pd.read_csv(run_dir / "cv_results.csv")
    assert table.columns[0] == "mean_fit_time" and len(table) == 2  # scikit-learn's columns, no index column
    assert table["mean_test_score"].max() == pytest.approx(grid["best_score"])

    record = results["models"]["knn"]
    y_pred = _saved_predictions(run_dir, "knn")
    assert record["metrics"]["accuracy_ci95"] == list(bootstrap_accuracy_ci(small_synthetic.y_test, y_pred,
                                                                             n_resamples=30, seed=5))
    assert 0 <= record["predict_time_s"] < elapsed
    saved = joblib.load(run_dir / "models" / "knn.joblib")
    assert saved.get_params()["clf__n_neighbors"] == best_k and saved.get_params()["clf__weights"] == "distance"
    assert not (run_dir / "report.html").exists()


def test_grid_defaults(small_synthetic, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run_dir = run_grid("knn", {"n_neighbors": [1, 3]}, small_synthetic)
    assert run_dir.parent.resolve() == (tmp_path / "reports").resolve() and run_dir.name.startswith("grid-")
    results = read_record(run_dir).to_json()
    assert results["grid"]["cv"] == 3 and results["grid"]["scoring"] == "accuracy"
    assert results["settings"]["seed"] == 0 and results["settings"]["save_models"] is False
    assert not (run_dir / "models").exists() and (run_dir / "report.html").is_file()
    y_pred = _saved_predictions(run_dir, "knn")
    assert results["models"]["knn"]["metrics"]["accuracy_ci95"] == list(
        bootstrap_accuracy_ci(small_synthetic.y_test, y_pred, n_resamples=1000, seed=0))
    assert "Fitting" not in capsys.readouterr().out  # GridSearchCV is quiet unless verbose is asked for


@pytest.mark.parametrize(("param_grid", "cv", "message"), [
    ({}, 3, "empty parameter grid; give at least one --param name=v1,v2"),
    ({"n_neighbors": []}, 3, "parameter 'clf__n_neighbors' has no values"),
    ({"n_neighbors": [1, 3]}, 1, "cv=1: needs at least 2 folds"),
])
def test_bad_grid_is_a_clear_error_before_any_folder(small_synthetic, tmp_path, param_grid, cv, message):
    with pytest.raises(HwrError, match=f"^{re.escape(message)}$"):
        run_grid("knn", param_grid, small_synthetic, tmp_path / "run", cv=cv)
    assert not (tmp_path / "run").exists()


class _Broken(ClassifierMixin, BaseEstimator):
    def __init__(self, k=1):
        self.k = k

    def fit(self, X, y):
        raise RuntimeError("broken model")


def test_a_failing_fit_raises_and_leaves_no_folder(small_synthetic, tmp_path):
    with pytest.raises(RuntimeError, match="broken model"):  # not a NaN score for the candidate
        run_grid({"broken": _Broken()}, {"k": [1, 2]}, small_synthetic, tmp_path / "run", cv=2)
    assert not (tmp_path / "run").exists()
