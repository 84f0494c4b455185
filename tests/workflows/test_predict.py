"""Held-out real test images through realistic files and back: accuracy, lines, context and abstention."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from hwr_eval.data import load_dataset, read_images, render_scan, save_scan
from hwr_eval.errors import HwrError
from hwr_eval.evaluation import resolve_context
from hwr_eval.models import make_model
from hwr_eval.workflows import (
    load_model,
    predict_images,
    stored_selective,
)
from tests.conftest import minimal_run_record


@pytest.fixture(scope="module")
def real_setup(real_data_dir):
    """A deskewed kNN (fits in a blink) on a small real 36-class training split, and its test split."""
    dataset = load_dataset(real_data_dir, per_class=300, seed=0)
    model = make_model("knn", deskew=True).fit(dataset.X_train, dataset.y_train)
    return dataset, model


def _heights(rng, n):
    """60-400 px per character frame, log-uniform: as many small phone crops as big scans."""
    return np.exp(rng.uniform(np.log(60), np.log(400), size=n)).astype(int)


def test_accuracy_through_jpeg_files_matches_the_arrays(real_setup, tmp_path):
    dataset, model = real_setup
    rng = np.random.default_rng(0)
    X, y = dataset.X_test[:300], dataset.y_test[:300]  # held out: never trained on
    paths = []
    for i, (row, height) in enumerate(zip(X, _heights(rng, len(X)))):
        scan = render_scan(row[None], height=int(height), rotation=3.0, noise=6.0, random_state=rng)
        paths.append(save_scan(scan, tmp_path / f"{i:03d}.jpg", quality=70))
    from_files = read_images(paths)
    acc_arrays = float(np.mean(model.predict(X) == y))
    acc_files = float(np.mean(model.predict(from_files) == y))
    assert acc_arrays > 0.7  # a real model, not chance
    assert abs(acc_files - acc_arrays) <= 0.02, (acc_files, acc_arrays)


def test_lines_come_back_as_their_strings_in_order(real_setup, tmp_path):
    dataset, model = real_setup
    proba = model.predict_proba(dataset.X_test)
    sure = np.flatnonzero((model.classes_[proba.argmax(1)] == dataset.y_test) & (proba.max(1) == 1.0))
    rng = np.random.default_rng(1)
    paths, truths, sources = [], [], []
    for j in range(12):
        k = int(rng.integers(3, 9))
        pick = rng.choice(sure, k, replace=False)  # characters the model reads right as arrays
        scan = render_scan(dataset.X_test[pick], height=int(_heights(rng, 1)[0]), gaps=(0.1, 0.8), rotation=3.0,
                           random_state=rng)
        paths.append(save_scan(scan, tmp_path / f"line{j:02d}.jpg", quality=70))
        truths.append("".join(dataset.y_test[pick]))
        sources.append(dataset.X_test[pick].astype(int))
    predictions = predict_images(model, paths)
    for pred, truth, source in zip(predictions, truths, sources):
        assert len(pred.characters) == len(truth), (pred.path.name, pred.text, truth)
        # Order, independent of the classifier: the closest matching of crops to the characters written
        # pairs crop i with character i.
        crops = pred.image.characters.astype(int)
        distance = np.abs(crops[:, None, :] - source[None, :, :]).mean(axis=2)
        assert list(linear_sum_assignment(distance)[1]) == list(range(len(truth))), pred.path.name
    texts = [p.text for p in predictions]
    right = sum(a == b for t, g in zip(truths, texts) for a, b in zip(t, g)) / sum(map(len, truths))
    assert right >= 0.95 and sum(t == g for t, g in zip(truths, texts)) >= 10, list(zip(truths, texts))


@pytest.fixture(scope="module")
def soft_model(small_synthetic):
    """Logistic regression on the synthetic set: probabilities are never exactly 0 or 1."""
    return make_model("logreg", max_iter=100).fit(small_synthetic.X_train, small_synthetic.y_train)


def test_context_renormalises_over_the_allowed_classes(soft_model, small_synthetic, tmp_path):
    letter = np.flatnonzero(small_synthetic.y_test == "O")[:1]
    path = save_scan(render_scan(small_synthetic.X_test[letter], height=100), tmp_path / "o.png")
    full = predict_images(soft_model, [path])[0].characters[0]
    digits = predict_images(soft_model, [path], context="digits")[0].characters[0]
    proba = soft_model.predict_proba(read_images(path))[0]
    classes = list(soft_model.classes_)
    digit_total = sum(proba[classes.index(d)] for d in "0123456789")
    assert digits.label in "0123456789" and all(label in "0123456789" for label, _ in digits.top)
    for label, p in digits.top:  # each is its full-model probability divided by the digits' total
        assert p == pytest.approx(proba[classes.index(label)] / digit_total)
    assert full.top[0][1] == pytest.approx(proba.max())


def test_one_context_parser_reads_the_command_line_vocabulary():
    context = lambda c, classes: list(resolve_context(c, classes))  # noqa: E731
    assert context("digits", list("0123456789AB")) == list("0123456789")
    assert context("36", sorted("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")) == sorted("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert context("1,a", list("01AB")) == ["1", "A"]
    assert context("B0", list("01AB")) == ["0", "B"]
    with pytest.raises(HwrError, match="none of the model's classes are letters"):
        context("letters", list("0123456789"))
    with pytest.raises(HwrError, match="'Q' are not among the classes"):
        context("0,Q", list("0123456789"))


def test_threshold_abstains_with_a_question_mark(soft_model, small_synthetic, tmp_path):
    model = soft_model
    path = save_scan(render_scan(small_synthetic.X_test[:4], height=80), tmp_path / "line.png")
    plain = predict_images(model, [path])[0]
    assert "?" not in plain.text and len(plain.characters) == 4
    middle = float(np.median([c.probability for c in plain.characters]))
    for threshold in (1.0, middle):  # logistic regression is never fully sure: 1.0 rejects everything
        chars = predict_images(model, [path], threshold=threshold)[0].characters
        assert [c.label for c in chars] == ["?" if p.probability < threshold else p.label for p in plain.characters]
        assert [c.best for c in chars] == [c.label for c in plain.characters]
    assert predict_images(model, [path], threshold=1.0)[0].text == "????"
    with pytest.raises(HwrError, match="between 0 and 1"):
        predict_images(model, [path], threshold=1.5)


def test_stored_selective_setting_is_read_from_the_run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "models").mkdir(parents=True)
    model_path = run / "models" / "cnn.joblib"
    model_path.write_bytes(b"")
    with pytest.raises(HwrError, match="no run folder|results.json"):
        stored_selective(tmp_path / "elsewhere.joblib")
    (run / "results.json").write_text(json.dumps({"models": {"cnn": {"metrics": {}}}}))
    with pytest.raises(HwrError, match="results.json: missing field 'schema_version'"):  # not a run record
        stored_selective(model_path)
    record = minimal_run_record("cnn", None)
    (run / "results.json").write_text(json.dumps(record))
    with pytest.raises(HwrError, match="no abstention threshold stored for model 'cnn'"):
        stored_selective(model_path)
    setting = {"target_risk": 0.01, "threshold": 0.93, "temperature": 1.4, "calibrated": True}
    (run / "results.json").write_text(json.dumps(minimal_run_record("cnn", setting)))
    assert stored_selective(model_path) == setting


def test_load_model_refuses_what_is_not_a_hwr_eval_model(tmp_path, small_synthetic):
    cases = {"text.joblib": None, "dict.joblib": {"a": 1}, "unfitted.joblib": make_model("knn")}
    for name, obj in cases.items():
        path = tmp_path / name
        if obj is None:
            path.write_text("hello")
        else:
            joblib.dump(obj, path)
        with pytest.raises(HwrError, match="not a hwr-eval model"):
            load_model(path)
    good = make_model("knn").fit(small_synthetic.X_train, small_synthetic.y_train)
    joblib.dump(good, tmp_path / "good.joblib")
    assert list(load_model(tmp_path / "good.joblib").classes_) == list(good.classes_)


def test_a_foreign_model_without_the_pixel_contract_is_refused(tmp_path, small_synthetic):
    """A plain scikit-learn model fitted on X / 255 would answer 0-255 images with p = 1.00 in silence."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from hwr_eval.models import PixelScaler

    foreign = LogisticRegression(max_iter=200).fit(small_synthetic.X_train / 255, small_synthetic.y_train)
    joblib.dump(foreign, tmp_path / "foreign.joblib")
    with pytest.raises(HwrError, match="does not start with a PixelScaler, so the pixel scale it was trained on is unknown"):
        load_model(tmp_path / "foreign.joblib")
    wrapped = make_pipeline(PixelScaler(), LogisticRegression(max_iter=200)).fit(small_synthetic.X_train / 255,
                                                                                  small_synthetic.y_train)
    joblib.dump(wrapped, tmp_path / "wrapped.joblib")
    model = load_model(tmp_path / "wrapped.joblib")
    with pytest.raises(HwrError, match="0-255"):  # the scaler learned [0, 1] input and refuses the other scale
        model.predict_proba(small_synthetic.X_test)
