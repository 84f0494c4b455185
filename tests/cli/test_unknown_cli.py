"""`hwr-eval compare --unknown...`: every bad input refused in one line before any training.

They are refused before any data is read, so no data folder is needed (none would be read)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hwr_eval.runs import RunSpec, read_record
from hwr_eval.workflows import load_rejector


def _compare(invoke, out, *args):
    return invoke("compare", "--models", "knn", "--per-class", 30, "--out", out, "--quiet", *args)


@pytest.mark.parametrize("make, fragments", [
    (lambda d: d.mkdir(), ("own",)),
    (lambda d: (d.mkdir(), (d / "scan.png").write_text("not an image")), ("scan.png",)),
])
def test_a_bad_unknown_folder_is_refused_before_training(invoke, one_line_error, tmp_path, make, fragments):
    make(tmp_path / "own")
    out = tmp_path / "run"
    result = _compare(invoke, out, "--unknown-dir", tmp_path / "own")
    one_line_error(result, *fragments)
    assert "training" not in result.output and not out.exists()


@pytest.mark.parametrize("detectors, models, fragments", [
    ("msp,enrgy", "knn", ("unknown detector 'enrgy'", "did you mean 'energy'")),
    ("mahalanobis", "knn,logreg", ("model knn", "'mahalanobis' does not apply", "msp, neighbour_distance")),
])
def test_a_bad_detector_is_refused_before_training(invoke, one_line_error, tmp_path, detectors, models, fragments):
    out = tmp_path / "run"
    result = invoke("compare", "--models", models, "--per-class", 30, "--out", out, "--quiet", "--unknown",
                    "--unknown-detectors", detectors)
    one_line_error(result, *fragments)
    assert "training" not in result.output and not out.exists()


def test_unknown_options_reach_the_spec_and_its_toml(tmp_path):
    spec = RunSpec(models=("knn",), unknown_dir=str(tmp_path), unknown_detectors="msp, neighbour_distance")
    assert spec.unknown and spec.unknown_detectors == ("msp", "neighbour_distance")
    path = tmp_path / "spec.toml"
    path.write_text(spec.to_toml())
    assert RunSpec.from_toml(path) == spec
    assert RunSpec().unknown is False and RunSpec().unknown_detectors is None


def test_predict_unknown_keep_needs_a_detector(invoke, one_line_error, tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    one_line_error(invoke("predict", "--model", tmp_path / "m.joblib", image, "--unknown-keep", 0.9), "--unknown-keep",
                   "--unknown DETECTOR")


@pytest.fixture
def saved_run(invoke, synthetic_env, tmp_path, monkeypatch):
    """A compare run with saved models and no --unknown (synthetic data), and small unknown sets."""
    monkeypatch.setattr("hwr_eval.workflows._unknowns.N_UNKNOWN", 30)
    out = tmp_path / "run"
    result = invoke("compare", "--models", "knn,logreg", "--per-class", 30, "--out", out, "--quiet", "--save-models",
                    "--no-report", "--set", "logreg.max_iter=50")
    assert result.exit_code == 0, result.output
    return out


def test_unknowns_on_a_saved_run_equal_those_of_compare_unknown(invoke, saved_run, tmp_path):
    during = tmp_path / "during"
    result = invoke("compare", "--models", "knn,logreg", "--per-class", 30, "--out", during, "--quiet",
                    "--save-models", "--no-report", "--set", "logreg.max_iter=50", "--unknown")
    assert result.exit_code == 0, result.output
    assert not (saved_run / "unknowns.csv").exists()

    result = invoke("unknowns", saved_run, "--no-report")
    assert result.exit_code == 0, result.output
    after, same = pd.read_csv(saved_run / "unknowns.csv"), pd.read_csv(during / "unknowns.csv")
    pd.testing.assert_frame_equal(after, same)
    run = read_record(saved_run)
    for name in ("knn", "logreg"):
        record, expected = run.models[name].unknowns, read_record(during).models[name].unknowns
        assert record["best_detector"] == expected["best_detector"] and record["mean_auroc"] == expected["mean_auroc"]
        assert (saved_run / record["rejectors"]).is_file()
        assert f"{name} " in result.output and expected["best_detector"] in result.output
    # predict --unknown now finds the rejector saved beside the model
    assert load_rejector(saved_run / "models" / "knn.joblib").detector == run.models["knn"].unknowns["best_detector"]


def test_unknowns_on_a_saved_run_refuse_bad_input_in_one_line(invoke, one_line_error, saved_run, tmp_path):
    before = (saved_run / "results.json").read_text()
    one_line_error(invoke("unknowns", saved_run, "--unknown-detectors", "mahalanobis"), "model knn",
                   "'mahalanobis' does not apply")
    (tmp_path / "empty").mkdir()
    one_line_error(invoke("unknowns", saved_run, "--unknown-dir", tmp_path / "empty"), "empty")
    with np.load(saved_run / "test_set.npz") as npz:
        X, y = npz["X"].copy(), npz["y"]
    X[0] = 255 - X[0]
    np.savez(saved_run / "test_set.npz", X=X, y=y)
    one_line_error(invoke("unknowns", saved_run), "no longer gives this run's test split")
    assert (saved_run / "results.json").read_text() == before and not (saved_run / "unknowns.csv").exists()

    bare = tmp_path / "bare"
    assert invoke("compare", "--models", "knn", "--per-class", 30, "--out", bare, "--quiet", "--no-report").exit_code == 0
    one_line_error(invoke("unknowns", bare), "no saved models", "--save-models")
