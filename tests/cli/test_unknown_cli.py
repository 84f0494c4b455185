"""`hwr-eval compare --unknown...`: every bad input refused in one line before any training.

They are refused before any data is read, so no data folder is needed (none would be read)."""

from __future__ import annotations

import pytest

from hwr_eval.runs import RunSpec


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
