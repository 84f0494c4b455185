"""`hwr-eval predict` and `hwr-eval data sample-image` through typer's CliRunner."""

from __future__ import annotations

import json
import shlex

import joblib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hwr_eval.data import MAX_PIXELS, render_scan, save_scan
from hwr_eval.models import make_model
from hwr_eval.runs import read_record
from hwr_eval.workflows import predict_images
from tests.conftest import minimal_run_record


@pytest.fixture(scope="module")
def saved(small_synthetic, tmp_path_factory):
    """A run-folder-shaped directory with a logistic regression on the synthetic 36 classes, and images."""
    root = tmp_path_factory.mktemp("predict")
    (root / "run" / "models").mkdir(parents=True)
    model = make_model("logreg", max_iter=100).fit(small_synthetic.X_train, small_synthetic.y_train)
    model_path = root / "run" / "models" / "logreg.joblib"
    joblib.dump(model, model_path)
    digits = make_model("knn").fit(small_synthetic.X_train[np.char.isdigit(small_synthetic.y_train.astype(str))],
                                   small_synthetic.y_train[np.char.isdigit(small_synthetic.y_train.astype(str))])
    joblib.dump(digits, root / "digits.joblib")
    X, y = small_synthetic.X_test, small_synthetic.y_test
    pick = [int(np.flatnonzero(y == c)[0]) for c in "A7B3"]
    line = save_scan(render_scan(X[pick], height=90, random_state=0), root / "a7b3.jpg")
    single = save_scan(render_scan(X[pick[:1]], height=150, random_state=1), root / "a.png")
    return {"model": model_path, "digits": root / "digits.joblib", "line": line, "single": single, "root": root}


def test_predict_prints_lines_and_single_characters(invoke, saved):
    result = invoke("predict", "--model", saved["model"], saved["line"], saved["single"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{saved['line']}: " in out and "(4 characters)" in out
    read = out.split(f"{saved['line']}: ")[1].split()[0]
    assert read == predict_images(joblib.load(saved["model"]), [saved["line"]])[0].text and len(read) == 4
    assert "top 3:" in out and "p=" in out
    single_line = next(line for line in out.splitlines() if line.startswith(str(saved["single"])))
    assert "top 3:" in single_line


def test_predict_writes_csv_and_json_and_the_sheet(invoke, saved, tmp_path):
    csv_path, json_path, sheet = tmp_path / "p.csv", tmp_path / "p.json", tmp_path / "sheet.html"
    result = invoke("predict", "--model", saved["model"], saved["line"], saved["single"], "--out", csv_path,
                    "--show", sheet)
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(csv_path, keep_default_na=False, dtype={"prediction": str, "top1": str})
    assert list(rows["position"]) == [1, 2, 3, 4, 1] and set(rows["n_characters"]) == {4, 1}
    assert (rows["prediction"] == rows["top1"]).all() and rows["probability"].between(0, 1).all()
    assert (rows["top1_probability"] >= rows["top2_probability"]).all()
    assert invoke("predict", "--model", saved["model"], saved["line"], "--out", json_path).exit_code == 0
    data = json.loads(json_path.read_text())
    image = data["images"][0]
    assert image["text"] == "".join(rows["prediction"][:4]) and len(image["characters"]) == 4
    boxes = [c["box"] for c in image["characters"]]
    assert [b[2] for b in boxes] == sorted(b[2] for b in boxes)  # left to right
    html = sheet.read_text()
    assert html.count("data:image/png;base64,") == 2 + 5 and "src='http" not in html  # inputs + crops, offline


def test_context_and_threshold(invoke, saved, tmp_path):
    result = invoke("predict", "--model", saved["model"], saved["line"], "--context", "digits")
    assert result.exit_code == 0, result.output
    read = result.stdout.split(": ")[1].split()[0]
    assert len(read) == 4 and read.isdigit()
    result = invoke("predict", "--model", saved["model"], saved["line"], "--threshold", "1")
    assert result.exit_code == 0 and ": ????" in result.stdout


def test_abstain_uses_the_threshold_stored_in_the_run_folder(invoke, one_line_error, saved):
    results = saved["root"] / "run" / "results.json"
    record = minimal_run_record("logreg", {"available": False, "note": "no validation images"})
    results.write_text(json.dumps(record))
    error = one_line_error(invoke("predict", "--model", saved["model"], saved["line"], "--abstain"))
    assert "no abstention threshold stored for model 'logreg'" in error
    record["models"]["logreg"]["selective"] = {"target_risk": 0.01, "threshold": 0.999999, "temperature": 1.0,
                                               "calibrated": False}
    results.write_text(json.dumps(record))
    result = invoke("predict", "--model", saved["model"], saved["line"], "--abstain")
    assert result.exit_code == 0, result.output
    assert ": ????" in result.stdout and "target risk 0.01" in result.stderr
    results.write_text(json.dumps({"models": {"logreg": {"selective": {"threshold": 0.5}}}}))  # not a run record
    error = one_line_error(invoke("predict", "--model", saved["model"], saved["line"], "--abstain"))
    assert "results.json: missing field 'schema_version'" in error
    results.unlink()


def _truncated_png(path):
    Image.fromarray(np.asarray(render_scan(np.full((1, 784), 200, np.uint8)))).save(path)
    path.write_bytes(path.read_bytes()[:200])
    return path


def _huge_png(path):
    from tests.data.test_images import _png_claiming_size

    side = int(np.sqrt(MAX_PIXELS)) + 10
    path.write_bytes(_png_claiming_size(side, side))
    return path


@pytest.mark.parametrize("case", ["missing", "not-image", "truncated", "blank", "huge", "not-a-model", "context",
                                  "bad-out", "both-thresholds", "threshold-range"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(invoke, one_line_error, saved, tmp_path, case):
    out = tmp_path / "out.csv"
    model, image, extra = saved["model"], saved["line"], []
    if case == "missing":
        image = tmp_path / "nope.png"
    elif case == "not-image":
        image = tmp_path / "notes.png"
        image.write_text("hello")
    elif case == "truncated":
        image = _truncated_png(tmp_path / "cut.png")
    elif case == "blank":
        image = tmp_path / "white.jpg"
        Image.new("RGB", (400, 300), "white").save(image)
    elif case == "huge":
        image = _huge_png(tmp_path / "huge.png")
    elif case == "not-a-model":
        model = tmp_path / "model.joblib"
        joblib.dump({"weights": [1, 2, 3]}, model)
    elif case == "context":
        model, extra = saved["digits"], ["--context", "letters"]
    elif case == "bad-out":
        out = tmp_path / "out.xlsx"
    elif case == "both-thresholds":
        extra = ["--threshold", "0.5", "--abstain"]
    elif case == "threshold-range":
        extra = ["--threshold", "1.5"]
    # A good image first: the bad one must still stop everything before anything is written.
    result = invoke("predict", "--model", model, saved["single"], image, "--out", out, "--show", tmp_path / "s.html", *extra)
    error = one_line_error(result)
    assert not out.exists() and not (tmp_path / "s.html").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left
    expected = {"missing": "no such file", "not-image": "not an image", "truncated": "truncated",
                "blank": "no ink found", "huge": "over the limit", "not-a-model": "not a hwr-eval model",
                "context": "none of the model's classes are letters", "bad-out": "unknown output format", "both-thresholds": "not both",
                "threshold-range": "between 0 and 1"}[case]
    assert expected in error


def test_readme_example_sample_image_then_predict(invoke, one_line_error, real_data_dir, saved, tmp_path):
    """The README's two commands: make an example image from the (real) test split, then read it."""
    image = tmp_path / "a7b3.jpg"
    result = invoke("data", "sample-image", "--text", "A7B3", "--out", image, "--data", real_data_dir)
    assert result.exit_code == 0, result.output
    assert Image.open(image).format == "JPEG" and Image.open(image).height >= 100
    result = invoke("predict", "--model", saved["model"], image)
    assert result.exit_code == 0, result.output
    assert "(4 characters)" in result.stdout
    error = one_line_error(invoke("data", "sample-image", "--text", "A7b?", "--out", tmp_path / "x.jpg",
                                  "--data", real_data_dir))
    assert "'?' is not a class" in error and not (tmp_path / "x.jpg").exists()


def test_compare_save_models_prints_the_predict_command(invoke, synthetic_env, tmp_path, saved):
    out = tmp_path / "run"
    result = invoke("compare", "--models", "knn,logreg", "--per-class", "20", "--out", out, "--save-models",
                    "--no-report", "--quiet")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    line = next(li for li in lines if "hwr-eval predict IMAGE --model" in li)
    results = read_record(out).to_json()
    best = max(results["models"], key=lambda m: results["models"][m]["metrics"]["accuracy"])
    command = shlex.split(line.split(": ", 1)[1])
    assert command[:4] == ["hwr-eval", "predict", "IMAGE", "--model"] and command[4] == str(out / "models" / f"{best}.joblib")
    result = invoke(command[1], saved["line"], *command[3:])  # the printed command works as printed
    assert result.exit_code == 0 and "(4 characters)" in result.stdout
    # The other next steps name this run, and the spec they rerun exists.
    assert any(li.strip().endswith(f"hwr-eval serve {out}") for li in lines)
    assert any(f"hwr-eval robustness {out} --suite mnist-c" in li for li in lines)
    seeds = next(li for li in lines if "--seeds 5" in li)
    assert (out / "spec.toml").is_file() and f"--config {out}/spec.toml" in seeds
