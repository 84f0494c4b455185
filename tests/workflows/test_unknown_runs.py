"""``compare --unknown``: unknowns.csv, the record, the report section, and the saved rejectors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from hwr_eval.data import FAR_UNKNOWN_SETS, generated_unknowns, read_images, render_scan, save_scan
from hwr_eval.evaluation import TABLE_COLUMNS, detectors_for
from hwr_eval.runs import open_run, read_unknown_scores
from hwr_eval.workflows import load_rejector, run_compare

N = 40  # images per generated unknown set: small, so the test stays quick


def _write_own_unknowns(folder):
    """Three images of none of the classes: a filled square, a ring, a cross-hatch."""
    folder.mkdir()
    canvas = np.full((60, 60), 255, dtype=np.uint8)
    square = canvas.copy()
    square[15:45, 15:45] = 0
    yy, xx = np.mgrid[:60, :60]
    ring = np.where(np.abs(np.hypot(yy - 30, xx - 30) - 20) < 3, 0, 255).astype(np.uint8)
    hatch = np.where(((yy + xx) % 12 < 2) | ((yy - xx) % 12 < 2), 0, 255).astype(np.uint8)
    for name, image in (("square", square), ("ring", ring), ("hatch", hatch)):
        Image.fromarray(image).save(folder / f"{name}.png")


@pytest.fixture(scope="module")
def unknown_run(small_synthetic, tmp_path_factory):
    root = tmp_path_factory.mktemp("unknown-run")
    _write_own_unknowns(root / "own")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("hwr_eval.workflows._unknowns.N_UNKNOWN", N)
        run_dir = run_compare(["knn", "logreg"], small_synthetic, root / "run", n_resamples=20, unknown_dir=str(root / "own"),
                              save_models=True, overrides={"logreg": {"max_iter": 50}}, report=False)
    return run_dir, root


def test_unknowns_csv_has_a_row_per_model_detector_and_set(unknown_run, small_synthetic):
    run_dir, _ = unknown_run
    table = pd.read_csv(run_dir / "unknowns.csv")
    assert list(table.columns) == list(TABLE_COLUMNS)
    run = open_run(run_dir)
    sets = [*FAR_UNKNOWN_SETS, "folder"]  # synthetic data: no lowercase letters to read
    expected = {(name, d, s) for name in ("knn", "logreg")
                for d in detectors_for(run.load_model(name)) for s in sets}
    assert set(zip(table["model"], table["detector"], table["unknown_set"])) == expected and len(table) == len(expected)
    assert set(table.loc[table["unknown_set"] == "folder", "n_unknown"]) == {3}
    assert set(table.loc[table["unknown_set"] != "folder", "n_unknown"]) == {N}
    for name, result in run.record.models.items():
        record = result.unknowns
        mean = table[table["model"] == name].groupby("detector")["auroc"].mean()
        assert record["best_detector"] == mean.idxmax() and record["sets"] == sets
        assert record["rejectors"] == f"models/{name}.unknown.joblib"


def test_auroc_matches_sklearn_on_independently_recomputed_scores(unknown_run, small_synthetic):
    run_dir, _ = unknown_run
    table = pd.read_csv(run_dir / "unknowns.csv").set_index(["model", "detector", "unknown_set"])
    run = open_run(run_dir)
    noise = generated_unknowns("gaussian_noise", N, seed=small_synthetic.provenance["seed"])
    X_test = small_synthetic.X_test

    logreg = run.load_model("logreg")  # energy: logsumexp of the linear model's logits

    def energy(X):
        return logsumexp(X.astype(float) / 255 @ logreg[-1].coef_.T + logreg[-1].intercept_, axis=1)

    y = np.r_[np.ones(len(X_test)), np.zeros(N)]
    expected = roc_auc_score(y, np.r_[energy(X_test), energy(noise)])
    assert table.loc[("logreg", "energy", "gaussian_noise"), "auroc"] == pytest.approx(expected, abs=1e-9)

    knn = run.load_model("knn")  # neighbour distance: minus the mean distance to the k neighbours, scaled pixels

    def closeness(X):
        return -knn[-1].kneighbors(knn[:-1].transform(X))[0].mean(axis=1)

    blank = generated_unknowns("blank", N, seed=0)
    expected = roc_auc_score(y, np.r_[closeness(X_test), closeness(blank)])
    assert table.loc[("knn", "neighbour_distance", "blank"), "auroc"] == pytest.approx(expected, abs=1e-9)


def test_report_run_draws_the_section_from_the_run_folder(unknown_run):
    from typer.testing import CliRunner

    from hwr_eval.cli import app

    run_dir, _ = unknown_run  # compare ran with report=False: `hwr-eval report` builds it from the files alone
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    document = (run_dir / "report.html").read_text()
    assert '<a href="#unknown-input">Unknown input</a>' in document
    section = document.split('id="unknown-input"')[1].split("</section>")[0]
    assert "<h3>knn</h3>" in section and "<h3>logreg</h3>" in section
    assert section.count("<img") == 6  # histograms, ROC curves and the gallery, per model
    table = pd.read_csv(run_dir / "unknowns.csv")
    row = table[(table["model"] == "knn") & (table["detector"] == "neighbour_distance")
                & (table["unknown_set"] == "blank")].iloc[0]
    knn = section.split("<h3>knn</h3>")[1].split("<h3>")[0]
    assert f"{row['auroc']:.3f}<br><small>FPR {100 * row['fpr_at_95_tpr']:.0f}% · rej. " in knn


def test_saved_scores_give_the_table_and_the_gallery(unknown_run):
    run_dir, _ = unknown_run
    run = open_run(run_dir)
    table = run.unknowns
    for name, result in run.record.models.items():
        arrays = read_unknown_scores(run, name)
        best = result.unknowns["best_detector"]
        for s in result.unknowns["sets"]:
            row = table[(table["model"] == name) & (table["detector"] == best) & (table["unknown_set"] == s)].iloc[0]
            known, unknown = arrays["known"], arrays[f"set_{s}"]
            auroc = roc_auc_score(np.r_[np.ones(known.size), np.zeros(unknown.size)], np.r_[known, unknown])
            assert row["auroc"] == pytest.approx(auroc, abs=1e-9)
            assert row["unknown_rejected"] == pytest.approx(np.mean(unknown < arrays["threshold"]))
        every = np.concatenate([arrays[f"set_{s}"] for s in result.unknowns["sets"]])
        assert np.allclose(arrays["gallery_score"], np.sort(every)[::-1][:len(arrays["gallery_score"])])
        assert list(arrays["gallery_pred"]) == list(run.load_model(name).predict(arrays["gallery_X"]))


def test_saved_rejector_threshold_comes_from_the_validation_split(unknown_run, small_synthetic):
    run_dir, _ = unknown_run
    knn = open_run(run_dir).load_model("knn")
    val = -knn[-1].kneighbors(knn[:-1].transform(small_synthetic.X_val))[0].mean(axis=1)
    for keep in (0.95, 0.5):
        rejector = load_rejector(run_dir / "models" / "knn.joblib", "neighbour_distance", keep)
        assert rejector.threshold_ == pytest.approx(np.sort(val)[::-1][math.ceil(keep * val.size) - 1])


def test_predict_answers_unknown_for_noise_and_a_class_for_a_known_character(unknown_run, small_synthetic, tmp_path):
    from typer.testing import CliRunner

    from hwr_eval.cli import app

    run_dir, _ = unknown_run
    model_path = run_dir / "models" / "knn.joblib"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64)).astype(np.uint8)).save(tmp_path / "noise.png")
    rejector = load_rejector(model_path, "neighbour_distance")
    known = None
    for i in range(20):  # the first test character that, as a scan read back, the rejector keeps
        path = save_scan(render_scan(small_synthetic.X_test[[i]], height=150, random_state=i), tmp_path / f"c{i}.png")
        if not rejector.is_unknown(read_images(path))[0]:
            known = path
            break
    assert known is not None
    runner = CliRunner()
    result = runner.invoke(app, ["predict", "--model", str(model_path), "--unknown", "neighbour_distance", "--single",
                                 str(tmp_path / "noise.png"), str(known)])
    assert result.exit_code == 0, result.output
    lines = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in result.stdout.splitlines() if ": " in line}
    score = float(rejector.score_known(read_images(tmp_path / "noise.png"))[0])
    assert lines[str(tmp_path / "noise.png")].startswith(
        f"unknown (neighbour_distance score {score:.4g} below threshold {rejector.threshold_:.4g}")
    label = str(open_run(run_dir).load_model("knn").predict(read_images(known))[0])
    assert lines[str(known)].startswith(f"{label}  p=")


def test_serve_gives_each_model_its_best_rejector(unknown_run, small_synthetic):
    from hwr_eval.serve import load_run_models

    run_dir, _ = unknown_run
    record = open_run(run_dir).record
    noise = generated_unknowns("gaussian_noise", 1, seed=5)[0]
    for served in load_run_models(run_dir):
        best = load_rejector(run_dir / "models" / f"{served.name}.joblib")
        assert served.unknown_detector.detector == record.models[served.name].unknowns["best_detector"] == best.detector
        for x in (noise, small_synthetic.X_test[0]):
            assert served.answer(x)["unknown"] == bool(best.is_unknown(x.reshape(1, -1))[0])


def test_a_network_meets_each_split_once_and_its_rejectors_equal_freshly_fitted_ones(small_synthetic, tmp_path,
                                                                                     monkeypatch):
    import hwr_eval.evaluation._unknown_table as table_module
    import hwr_eval.evaluation._unknowns as unknowns_module
    from hwr_eval.evaluation import UnknownRejector

    passes = {"train": 0, "val": 0, "test": 0}
    splits = {"train": small_synthetic.X_train, "val": small_synthetic.X_val, "test": small_synthetic.X_test}
    counted = unknowns_module.model_outputs

    def counting(model, X, detectors):
        for split, rows in splits.items():
            passes[split] += X is rows or (len(X) == len(rows) and np.array_equal(X, rows))
        return counted(model, X, detectors)

    monkeypatch.setattr(table_module, "model_outputs", counting)
    monkeypatch.setattr(unknowns_module, "model_outputs", counting)
    monkeypatch.setattr("hwr_eval.workflows._unknowns.N_UNKNOWN", 20)
    run_dir = run_compare(["mlp"], small_synthetic, tmp_path / "run", n_resamples=20, unknown=True, save_models=True,
                          overrides={"mlp": {"max_epochs": 2}}, report=False)
    assert passes == {"train": 1, "val": 1, "test": 1}  # five detectors, the table, the report's scores and the rejectors

    model = open_run(run_dir).load_model("mlp")
    for detector in ("mahalanobis", "knn", "energy"):
        saved = load_rejector(run_dir / "models" / "mlp.joblib", detector)
        fresh = UnknownRejector(model, detector=detector, prefit=True).fit(
            small_synthetic.X_train, small_synthetic.y_train, X_val=small_synthetic.X_val, y_val=small_synthetic.y_val)
        assert saved.threshold_ == pytest.approx(fresh.threshold_, rel=1e-9)
        np.testing.assert_allclose(saved.score_known(small_synthetic.X_test), fresh.score_known(small_synthetic.X_test),
                                   rtol=1e-9)
