"""`hwr-eval export RUN --format onnx --out DIR` end to end, and `hwr-eval predict --model NAME.onnx`."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="onnxruntime is missing: install the test tools (pip install -e '.[dev]')")
pytest.importorskip("skl2onnx", reason="skl2onnx is missing: install the test tools (pip install -e '.[dev]')")
pytest.importorskip("onnxscript", reason="onnxscript is missing: install the test tools (pip install -e '.[dev]')")

from hwr_eval.data import render_scan, save_scan  # noqa: E402
from hwr_eval.models import OnnxClassifier  # noqa: E402
from hwr_eval.runs import load_model, read_test_set  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::hwr_eval.models.FewStepsWarning")


@pytest.fixture(scope="module")
def run(small_synthetic, tmp_path_factory):
    """A run folder with logreg and a one-epoch cnn saved (synthetic data)."""
    from hwr_eval.workflows import run_compare

    out = tmp_path_factory.mktemp("export") / "run"
    return run_compare(["logreg", "cnn"], small_synthetic, out, save_models=True, max_epochs=1, report=False,
                       n_resamples=50, seed=0, overrides={"logreg": {"max_iter": 100}})


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    from typer.testing import CliRunner

    from hwr_eval.cli import app

    out = tmp_path_factory.mktemp("onnx") / "models"
    result = CliRunner().invoke(app, ["export", str(run), "--format", "onnx", "--out", str(out)])
    return out, result


def test_export_writes_one_file_per_saved_model_answering_as_the_model(run, exported):
    out, result = exported
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["cnn.onnx", "logreg.onnx"]  # nothing else, no temporary file
    assert f"wrote {out / 'logreg.onnx'}" in result.stdout and "ONNX Runtime" in result.stdout
    X, _ = read_test_set(run)
    for name in ("logreg", "cnn"):
        model, onnx_model = load_model(run / "models" / f"{name}.joblib"), OnnxClassifier(out / f"{name}.onnx")
        assert onnx_model.metadata["model"] == name
        assert list(onnx_model.classes_) == list(model.classes_)
        np.testing.assert_allclose(onnx_model.predict_proba(X), model.predict_proba(X), atol=1e-4, rtol=0)
        assert (onnx_model.predict(X) == model.predict(X)).all()


def test_export_one_model(invoke, run, tmp_path):
    result = invoke("export", run, "--model", "logreg", "--out", tmp_path / "one")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["logreg.onnx"]


def test_export_bad_input_is_one_line_and_writes_nothing(invoke, one_line_error, run, exported, tmp_path):
    one_line_error(invoke("export", run, "--model", "cnnn", "--out", tmp_path / "a"), "no model 'cnnn'",
                   "did you mean 'cnn'?")
    one_line_error(invoke("export", run, "--format", "tflite", "--out", tmp_path / "a"), "unknown export format 'tflite'")
    one_line_error(invoke("export", run, "--out", run / "onnx"), "inside run folder")
    assert not (tmp_path / "a").exists() and not (run / "onnx").exists()
    # An existing file is never replaced, and the other models are not written either.
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "cnn.onnx").write_text("keep me")
    one_line_error(invoke("export", run, "--out", tmp_path / "b"), "cnn.onnx exists")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["cnn.onnx"] and (tmp_path / "b" / "cnn.onnx").read_text() == "keep me"


def test_export_of_a_run_without_saved_models(invoke, one_line_error, small_synthetic, tmp_path):
    from hwr_eval.workflows import run_compare

    unsaved = run_compare(["knn"], small_synthetic, tmp_path / "unsaved", report=False, n_resamples=50, seed=0)
    one_line_error(invoke("export", unsaved, "--out", tmp_path / "x"), "no saved models", "--save-models")
    one_line_error(invoke("export", tmp_path / "missing", "--out", tmp_path / "x"))


def test_export_without_the_onnx_packages_names_the_extra(invoke, one_line_error, run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    one_line_error(invoke("export", run, "--out", tmp_path / "x"), "pip install 'hwr-eval[onnx]'", "onnxruntime is missing")


def test_predict_with_the_onnx_file_answers_as_with_the_model(invoke, run, exported, small_synthetic, tmp_path):
    out, _ = exported
    X, y = small_synthetic.X_test, small_synthetic.y_test
    pick = [int(np.flatnonzero(y == c)[0]) for c in "A7B3"]
    line = save_scan(render_scan(X[pick], height=90, random_state=0), tmp_path / "a7b3.jpg")
    single = save_scan(render_scan(X[pick[:1]], height=150, random_state=1), tmp_path / "a.png")
    for name in ("logreg", "cnn"):
        plain = invoke("predict", "--model", run / "models" / f"{name}.joblib", line, single, "--context", "36")
        fast = invoke("predict", "--model", out / f"{name}.onnx", line, single, "--context", "36")
        assert plain.exit_code == 0 and fast.exit_code == 0, fast.output
        assert fast.stdout == plain.stdout and "(4 characters)" in fast.stdout
        assert "running with ONNX Runtime" in fast.stderr and "ONNX Runtime" not in plain.stderr


def test_predict_abstains_with_the_threshold_the_export_carries(invoke, one_line_error, run, exported, small_synthetic,
                                                               tmp_path):
    out, _ = exported
    image = save_scan(render_scan(small_synthetic.X_test[:3], height=80, random_state=2), tmp_path / "line.png")
    plain = invoke("predict", "--model", run / "models" / "cnn.joblib", image, "--abstain")
    fast = invoke("predict", "--model", out / "cnn.onnx", image, "--abstain")
    assert plain.exit_code == 0 and fast.exit_code == 0, fast.output
    assert "abstaining below max_proba" in plain.stderr  # the run stored a threshold: the test means something
    assert fast.stdout == plain.stdout
    assert [line for line in fast.stderr.splitlines() if line.startswith("abstaining")] == \
        [line for line in plain.stderr.splitlines() if line.startswith("abstaining")]
    bare = tmp_path / "bare.onnx"
    from hwr_eval.models import export_onnx

    export_onnx(load_model(run / "models" / "cnn.joblib"), bare)  # not from a run: no threshold inside
    one_line_error(invoke("predict", "--model", bare, image, "--abstain"), "no abstention threshold stored", "--threshold P")


def test_predict_refuses_an_onnx_file_that_is_not_an_export(invoke, one_line_error, small_synthetic, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage")
    image = save_scan(render_scan(small_synthetic.X_test[:1], height=60, random_state=0), tmp_path / "i.png")
    one_line_error(invoke("predict", "--model", junk, image), f"{junk}: not an ONNX model")
