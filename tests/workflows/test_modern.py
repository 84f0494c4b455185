"""modern_cnn and the recipe options through compare (with its report), grid and cv."""


from hwr_eval.runs import read_record
from hwr_eval.workflows import run_compare, run_cv, run_grid

# Shrunken widths and one epoch: these tests check the plumbing, bench/modern.py the accuracy.
TINY = {"channels": (2, 2, 4, 4, 4), "batch_size": 64}


def test_compare_trains_modern_cnn_beside_a_study_model_and_reports_it(small_synthetic, tmp_path, check_run_folder):
    run = run_compare(["modern_cnn", "cnn"], small_synthetic, tmp_path / "run", max_epochs=1,
                      overrides={"modern_cnn": TINY, "cnn": {"lr_schedule": "cosine", "label_smoothing": 0.1}})
    results = check_run_folder(run, small_synthetic)
    params = results["models"]["modern_cnn"]["params"]
    assert params["lr_schedule"] == "onecycle" and params["optimizer"] == "adamw"
    assert params["criterion__label_smoothing"] == 0.1 and params["optimizer__weight_decay"] == 5e-4
    assert results["models"]["cnn"]["params"]["lr_schedule"] == "cosine"
    assert "modern_cnn" in (run / "report.html").read_text()


def test_grid_searches_the_schedule_and_cv_scores_modern_cnn(small_synthetic, tmp_path):
    run = run_grid("modern_cnn", {"lr_schedule": ["constant", "onecycle"]}, small_synthetic, tmp_path / "grid",
                   cv=2, max_epochs=1, overrides=TINY, report=False)
    grid = read_record(run).to_json()["grid"]
    assert grid["best_params"]["clf__lr_schedule"] in ("constant", "onecycle")
    table = run_cv(["modern_cnn"], small_synthetic, folds=2, max_epochs=1, overrides={"modern_cnn": TINY})
    assert list(table.index) == ["modern_cnn"] and 0 <= table["accuracy_mean"].iloc[0] <= 1
