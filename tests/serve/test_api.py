"""The JSON API through FastAPI's TestClient, checked against `hwr-eval predict`'s own code path."""

from __future__ import annotations

import base64
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hwr_eval.data import read_drawn, read_images
from hwr_eval.errors import HwrError
from hwr_eval.runs import read_record
from hwr_eval.workflows import load_model, predict_images, stored_selective

from .conftest import character_png, needs_serve_extra, stroke_png

needs_serve_extra()


def client_for(app, **kwargs):
    """FastAPI's TestClient for ``app`` (imported here: the module must load without the extra, to skip)."""
    with warnings.catch_warnings():  # starlette's TestClient warns about its httpx dependency on import
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient as Client
    return Client(app, **kwargs)


ONE = [[(144, 40), (144, 250)]]
SEVEN = [[(70, 50), (220, 50), (120, 250)]]


@pytest.fixture(scope="module")
def client(serve_run, served_models, tmp_path_factory):
    from hwr_eval.serve import create_app

    collect = tmp_path_factory.mktemp("collect")
    with client_for(create_app(serve_run, collect, models=served_models)) as test_client:
        test_client.collect_dir = collect
        yield test_client


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def decode_input(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))), dtype=np.uint8).reshape(-1)


def one_line_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"] and "\n" not in body["error"]
    return body["error"]


def test_models_lists_the_runs_models_with_test_accuracy(client, serve_run):
    results = read_record(serve_run).to_json()
    listed = client.get("/api/models").json()
    assert [m["name"] for m in listed["models"]] == ["knn", "logreg", "cnn"]
    for model in listed["models"]:
        record = results["models"][model["name"]]
        assert model["test_accuracy"] == record["metrics"]["accuracy"]
        assert model["abstention"]["threshold"] == record["selective"]["threshold"]
        assert model["abstention"]["target_risk"] == results["settings"]["target_risk"]
        assert model["unknown_detector"] is False
    assert listed["collect"] is True and listed["contexts"] == ["all", "digits", "letters"]


@pytest.mark.parametrize("context", ["all", "digits", "letters"])
def test_predict_matches_hwr_eval_predict(client, serve_run, small_synthetic, tmp_path, context):
    """Every model's answer equals `hwr-eval predict --abstain --single` on the same file."""
    path = tmp_path / "char.png"
    path.write_bytes(character_png(small_synthetic.X_test[3]))
    response = client.post("/api/predict", files={"file": ("char.png", path.read_bytes(), "image/png")},
                           data={"context": context})
    assert response.status_code == 200, response.text
    body = response.json()
    np.testing.assert_array_equal(decode_input(body["input"]), read_images(path)[0])
    assert [m["name"] for m in body["models"]] == ["knn", "logreg", "cnn"]
    for answer in body["models"]:
        model_path = Path(serve_run) / "models" / f"{answer['name']}.joblib"
        selective = stored_selective(model_path)
        expected = predict_images(load_model(model_path), [path], segment=False, context=None if context == "all" else context,
                                  threshold=selective["threshold"], temperature=selective["temperature"],
                                  score=selective["score"])[0].characters[0]
        assert [t["label"] for t in answer["top"]] == [label for label, _ in expected.top]
        # Served nets predict one row without padding it to a full batch: equal up to float rounding.
        assert [t["probability"] for t in answer["top"]] == pytest.approx([p for _, p in expected.top], abs=1e-6)
        assert answer["abstained"] is expected.abstained
        assert answer["label"] == expected.best
        assert answer["unknown"] is None
        if context != "all":
            assert all(t["label"].isdigit() == (context == "digits") for t in answer["top"])


def test_data_url_and_upload_give_the_same_answer(client):
    png = stroke_png(SEVEN)
    by_json = client.post("/api/predict", json={"image": data_url(png), "context": "digits"}).json()
    by_file = client.post("/api/predict", files={"file": ("seven.png", png, "image/png")}, data={"context": "digits"}).json()
    assert by_json["models"] == by_file["models"] and by_json["input"] == by_file["input"]


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"files": {"file": ("notes.txt", b"just some text", "text/plain")}}, "not an image"),
    ({"json": {"image": "data:image/png;base64,@@@"}}, "base64"),
    ({"json": {"image": "http://example.org/x.png"}}, "data URL"),
    ({"json": ["not", "an", "object"]}, "object"),
    ({"content": b"{broken", "headers": {"content-type": "application/json"}}, "JSON"),
    ({"files": {"other": ("x.png", stroke_png(ONE), "image/png")}}, "'file'"),
    ({"content": stroke_png(ONE), "headers": {"content-type": "image/png"}}, "multipart"),
    ({"json": {"image": data_url(stroke_png([]))}}, "no ink"),
    ({"json": {"image": data_url(stroke_png(ONE)), "context": "vowels"}}, "context"),
])
def test_bad_requests_get_400_and_one_line(client, kwargs, needle):
    assert needle in one_line_error(client.post("/api/predict", **kwargs), 400)


def test_oversized_bodies_get_413(serve_run, served_models):
    from hwr_eval.serve import create_app

    with client_for(create_app(serve_run, models=served_models, max_upload_bytes=50_000)) as small:
        big = b"\x89PNG" + bytes(60_000)
        assert "limit" in one_line_error(small.post("/api/predict", files={"file": ("big.png", big, "image/png")}), 413)
        # Chunked: no Content-Length to refuse by; the middleware counts while reading.
        chunks = (bytes(10_000) for _ in range(8))
        one_line_error(small.post("/api/predict", content=chunks, headers={"content-type": "application/json"}), 413)
        # Just under the limit passes through to the app (which reads the image).
        assert small.post("/api/predict", files={"file": ("one.png", stroke_png(ONE), "image/png")}).status_code == 200


def test_image_with_too_many_pixels_is_refused_before_decoding(client):
    buffer = io.BytesIO()
    Image.new("L", (6000, 5000), 255).save(buffer, format="PNG")  # 30 Mpx of white compresses to ~30 kB
    assert "pixels" in one_line_error(client.post("/api/predict", files={"file": ("huge.png", buffer.getvalue(), "image/png")}), 400)


def test_collect_saves_new_files_by_label_that_read_drawn_reads(client):
    folder = client.collect_dir
    drawings = {"1": stroke_png(ONE), "7": stroke_png(SEVEN)}
    inputs = {}
    for label, png in drawings.items():
        inputs[label] = decode_input(client.post("/api/predict", json={"image": data_url(png)}).json()["input"])
        saved = client.post("/api/collect", json={"image": data_url(png), "label": label}).json()
        assert saved["label"] == label and saved["count"] == 1 and saved["saved"].startswith(f"{label}/")
    # The same drawing again (same second, most likely): a second file, the first one untouched.
    first = sorted((folder / "7").iterdir())[0].read_bytes()
    again = client.post("/api/collect", files={"file": ("7.png", drawings["7"], "image/png")}, data={"label": "7"}).json()
    assert again["count"] == 2
    files = sorted((folder / "7").iterdir())
    assert len(files) == 2 and files[0].read_bytes() == first and not any(p.name.startswith(".") for p in files)
    X, y = read_drawn(folder)
    assert y.tolist() == ["1", "7", "7"]
    np.testing.assert_array_equal(X[0], inputs["1"])  # stored drawings read back as the very input the models saw
    np.testing.assert_array_equal(X[1], inputs["7"])
    np.testing.assert_array_equal(X[2], inputs["7"])
    # `hwr-eval predict` reads a class folder as it is.
    from typer.testing import CliRunner

    from hwr_eval.cli import app

    model = Path(client.app.state.run_dir) / "models" / "logreg.joblib"
    result = CliRunner().invoke(app, ["predict", "--model", str(model), "--single", str(folder / "7")])
    assert result.exit_code == 0, result.output
    assert result.output.count(".png: ") == 2


@pytest.mark.parametrize("label", ["../x", "", "AB", "a", "?"])
def test_collect_refuses_labels_that_are_not_classes(client, label):
    before = sorted(p.relative_to(client.collect_dir) for p in client.collect_dir.rglob("*"))
    response = client.post("/api/collect", json={"image": data_url(stroke_png(ONE)), "label": label})
    assert "label" in one_line_error(response, 400)
    assert sorted(p.relative_to(client.collect_dir) for p in client.collect_dir.rglob("*")) == before


def test_collect_is_off_without_a_folder(serve_run, served_models):
    from hwr_eval.serve import create_app

    with client_for(create_app(serve_run, models=served_models)) as plain:
        assert plain.get("/api/models").json()["collect"] is False
        assert "--collect" in one_line_error(plain.post("/api/collect", json={"image": data_url(stroke_png(ONE)),
                                                                              "label": "1"}), 404)


def test_openapi_page_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/models", "/api/collect"} <= set(schema["paths"])
    body = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert "image" in body["application/json"]["schema"]["properties"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text


def test_page_is_self_contained(client):
    html = client.get("/").text
    assert "<canvas" in html and "pointerdown" in html
    # No request leaves the server: no external scripts, styles, fonts or images.
    assert "http://" not in html and "https://" not in html and "<link" not in html and "src=\"" not in html


def test_unknown_input_hook(serve_run, served_models):
    """A model carrying an unknown-input detector gets a verdict; the others keep null."""
    from hwr_eval.serve import ServedModel, UnknownDetector, create_app

    class InkAmount:
        """Unknown when more than a quarter of the 28x28 input is ink: a blot, not a character."""

        def is_unknown(self, X):
            return (np.asarray(X) > 127).mean(axis=1) > 0.25

    assert isinstance(InkAmount(), UnknownDetector)
    knn = served_models[0]
    models = [ServedModel(knn.name, knn.model, knn.test_accuracy, knn.abstention, unknown_detector=InkAmount()),
              served_models[1]]
    with client_for(create_app(serve_run, models=models)) as with_hook:
        assert [m["unknown_detector"] for m in with_hook.get("/api/models").json()["models"]] == [True, False]
        thin = with_hook.post("/api/predict", json={"image": data_url(stroke_png(ONE))}).json()["models"]
        blot = with_hook.post("/api/predict", json={"image": data_url(stroke_png([[(60, y), (230, y)] for y in range(60, 231, 12)]))}).json()
        assert [m["unknown"] for m in thin] == [False, None]
        assert [m["unknown"] for m in blot["models"]] == [True, None]


def test_only_the_runs_own_model_files_are_loaded(serve_run, tmp_path):
    """A model name in results.json that would leave RUN/models/ is refused, not followed."""
    import shutil

    from hwr_eval.serve import load_run_models

    run = tmp_path / "run"
    shutil.copytree(serve_run, run)
    results = json.loads((run / "results.json").read_text())
    results["models"]["../../elsewhere"] = results["models"]["knn"]
    (run / "results.json").write_text(json.dumps(results))
    predictions = pd.read_csv(run / "predictions.csv", dtype=str, keep_default_na=False)
    predictions["pred_../../elsewhere"] = predictions["pred_knn"]
    predictions.to_csv(run / "predictions.csv", index=False)
    shutil.copy(run / "models" / "knn.joblib", tmp_path / "elsewhere.joblib")  # what RUN/models/../../ names
    with pytest.raises(HwrError, match="not a plain file name"):
        load_run_models(run)


def test_a_run_without_saved_models_is_one_clear_error(serve_run, tmp_path):
    import shutil

    from hwr_eval.serve import load_run_models

    run = tmp_path / "run"
    shutil.copytree(serve_run, run, ignore=shutil.ignore_patterns("*.joblib"))
    with pytest.raises(HwrError, match="--save-models"):
        load_run_models(run)


def test_a_failing_model_is_a_500_with_one_line_of_json(serve_run, served_models):
    from hwr_eval.serve import ServedModel, create_app

    class Broken:
        """A fitted-looking classifier whose prediction fails (a bug in a custom model)."""

        classes_ = served_models[0].model.classes_

        def predict_proba(self, X):
            raise RuntimeError("weights went missing")

    models = [served_models[0], ServedModel("broken", Broken(), None, None)]
    with client_for(create_app(serve_run, models=models), raise_server_exceptions=False) as broken:
        error = one_line_error(broken.post("/api/predict", json={"image": data_url(stroke_png(ONE))}), 500)
        assert error == "internal error: RuntimeError: weights went missing"
