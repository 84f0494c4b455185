"""`hwr-eval serve --onnx`: every model exported in memory and answered by ONNX Runtime, with the same answers."""

from __future__ import annotations

import shutil
import sys
import warnings

import joblib
import numpy as np
import pytest

from hwr_eval.errors import HwrError
from hwr_eval.runs import read_test_set

from .conftest import needs_serve_extra, stroke_png

needs_serve_extra()
pytest.importorskip("onnxruntime", reason="onnxruntime is missing: install the test tools (pip install -e '.[dev]')")
pytest.importorskip("skl2onnx", reason="skl2onnx is missing: install the test tools (pip install -e '.[dev]')")
pytest.importorskip("onnxscript", reason="onnxscript is missing: install the test tools (pip install -e '.[dev]')")


def _client(app):
    with warnings.catch_warnings():  # starlette's TestClient warns about its httpx dependency on import
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    return TestClient(app)


@pytest.fixture(scope="module")
def onnx_app(serve_run):
    from hwr_eval.serve import create_app

    return create_app(serve_run, onnx=True)


def _same_answer(plain: dict, fast: dict) -> None:
    assert fast["label"] == plain["label"] and fast["abstained"] == plain["abstained"]
    assert [t["label"] for t in fast["top"]] == [t["label"] for t in plain["top"]]
    np.testing.assert_allclose([t["probability"] for t in fast["top"]], [t["probability"] for t in plain["top"]],
                               atol=1e-4, rtol=0)


def test_every_model_answers_as_without_onnx(serve_run, served_models, onnx_app):
    onnx_models = onnx_app.state.models
    assert list(onnx_models) == [m.name for m in served_models]
    X, _ = read_test_set(serve_run)
    assert any(m.abstention is not None and m.abstention.temperature for m in served_models)  # abstention checked too
    for plain in served_models:
        fast = onnx_models[plain.name]
        assert fast.runtime == "ONNX Runtime" and plain.runtime != "ONNX Runtime"
        assert fast.abstention == plain.abstention  # the run's stored threshold (and temperature) still applies
        for x in X[:40]:
            for context in ("all", "digits", "letters"):
                _same_answer(plain.answer(x, context), fast.answer(x, context))


def test_the_api_says_onnx_runtime_and_answers_the_same(serve_run, served_models, onnx_app):
    from hwr_eval.serve import create_app

    with _client(onnx_app) as fast, _client(create_app(serve_run, models=served_models)) as plain:
        listed = fast.get("/api/models").json()["models"]
        assert {m["runtime"] for m in listed} == {"ONNX Runtime"}
        png = stroke_png([[(70, 50), (220, 50), (120, 250)]])
        answers = [client.post("/api/predict", files={"file": ("seven.png", png, "image/png")}).json()
                   for client in (plain, fast)]
    assert answers[0]["input"] == answers[1]["input"]
    for p, f in zip(answers[0]["models"], answers[1]["models"]):
        _same_answer(p, f)


def test_a_model_without_an_onnx_form_is_one_line(serve_run, small_synthetic, tmp_path):
    from hwr_eval.models import make_model
    from hwr_eval.serve import load_run_models

    copy = shutil.copytree(serve_run, tmp_path / "run")
    deskewed = make_model("knn", deskew=True).fit(small_synthetic.X_train, small_synthetic.y_train)
    joblib.dump(deskewed, copy / "models" / "knn.joblib")
    with pytest.raises(HwrError, match="model 'knn': ONNX export cannot express deskewing.*serve without --onnx"):
        load_run_models(copy, onnx=True)
    # The command line reaches the same check (and stops before anything listens).
    from typer.testing import CliRunner

    from hwr_eval.cli import app

    result = CliRunner().invoke(app, ["serve", str(copy), "--onnx"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "error: model 'knn': ONNX export cannot express deskewing" in result.stderr


def test_serve_onnx_without_the_packages_names_the_extra(serve_run, monkeypatch):
    from hwr_eval.serve import load_run_models

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(HwrError, match=r"serve --onnx needs the onnx extra: pip install 'hwr-eval\[onnx\]'"):
        load_run_models(serve_run, onnx=True)
