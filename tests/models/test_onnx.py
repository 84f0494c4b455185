"""ONNX export of fitted models: the file run by ONNX Runtime answers exactly as the model does."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="onnxruntime is missing: install the test tools (pip install -e '.[dev]')")
pytest.importorskip("skl2onnx", reason="skl2onnx is missing: install the test tools (pip install -e '.[dev]')")
pytest.importorskip("onnxscript", reason="onnxscript is missing: install the test tools (pip install -e '.[dev]')")

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

from hwr_eval import HwrError, __version__, make_model  # noqa: E402
from hwr_eval.models import METADATA_KEYS, OnnxClassifier, export_onnx, to_onnx  # noqa: E402

# Tiny trainings on purpose: what is tested is that the export computes what the model computes.
pytestmark = [pytest.mark.filterwarnings("ignore::hwr_eval.models.FewStepsWarning"),
              pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

NETWORKS = ("linear", "mlp", "cnn", "lenet5", "modern_cnn")
#: The agreement every export must reach on held-out images.
MAX_PROBA_DIFF = 1e-4


def _fit(name, X, y, **params):
    if name == "logreg":
        params = {"max_iter": 100, **params}
    elif name != "knn":
        # fp32: the export computes in fp32, and "auto" would be bf16 on CPUs with native bf16 (tested below).
        params = {"max_epochs": 1, "random_state": 0, "precision": "fp32", **params}
    return make_model(name, **params).fit(X, y)


def _session(proto) -> ort.InferenceSession:
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _assert_same(model, proto, X) -> None:
    """ONNX Runtime on raw pixels vs the model's own predict_proba / predict, on held-out rows."""
    labels, proba = _session(proto).run(None, {"pixels": np.asarray(X, dtype=np.float32)})
    expected = model.predict_proba(X)
    assert proba.shape == expected.shape and proba.dtype == np.float32
    assert np.abs(proba - expected).max() <= MAX_PROBA_DIFF
    assert (proba.argmax(axis=1) == expected.argmax(axis=1)).all()
    assert (labels == model.predict(X)).all()


@pytest.fixture(scope="module")
def data(small_synthetic):
    return small_synthetic.X_train, small_synthetic.y_train, small_synthetic.X_test, small_synthetic.y_test


@pytest.mark.parametrize("name", ["logreg", "knn", *NETWORKS])
def test_every_export_answers_as_the_model_on_held_out_images(name, data):
    X, y, X_test, _ = data
    model = _fit(name, X, y)
    proto = to_onnx(model, name=name)
    _assert_same(model, proto, X_test)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert set(METADATA_KEYS) <= set(meta)
    assert json.loads(meta["classes"]) == [str(c) for c in model.classes_]
    assert meta["hwr_eval_version"] == __version__ and meta["model"] == name
    assert meta["input_max"] == "255.0" and meta["pixel_mode"] == "negative" and meta["n_features"] == "784"


def test_a_bf16_network_exports_its_fp32_computation_and_says_so(data):
    X, y, X_test, _ = data
    model = _fit("cnn", X, y, precision="bf16")
    with pytest.warns(UserWarning, match="bf16 autocast on this machine; its ONNX file computes in fp32"):
        proto = to_onnx(model, name="cnn")
    model[-1].precision_ = "fp32"  # the same weights without autocast: what the file must compute
    _assert_same(model, proto, X_test)


def test_the_batch_axis_is_dynamic(data):
    X, y, X_test, _ = data
    model = _fit("cnn", X, y)
    session = _session(to_onnx(model))
    assert session.get_inputs()[0].shape[0] == "batch"
    for rows in (X_test[:1], X_test[:3], X_test[:257]):
        _, proba = session.run(None, {"pixels": rows.astype(np.float32)})
        np.testing.assert_allclose(proba, model.predict_proba(rows), atol=MAX_PROBA_DIFF, rtol=0)


@pytest.mark.parametrize("mode", ["positive", "binary"])
def test_each_pixel_scaling_mode_is_in_the_file(mode, data):
    X, y, X_test, _ = data
    model = _fit("logreg", X, y, mode=mode)
    _assert_same(model, to_onnx(model), X_test)
    assert {p.key: p.value for p in to_onnx(model).metadata_props}["pixel_mode"] == mode


def test_a_model_fitted_on_unit_pixels_takes_unit_pixels(data):
    X, y, X_test, _ = data
    model = _fit("mlp", X / 255.0, y)
    proto = to_onnx(model)
    assert {p.key: p.value for p in proto.metadata_props}["input_max"] == "1.0"
    _assert_same(model, proto, X_test / 255.0)


@pytest.fixture(scope="module")
def pair_data(data):
    """Four classes, two of them the cascade's pair, so a one-epoch main model routes many rows."""
    X, y, X_test, y_test = data
    keep, keep_test = np.isin(y, list("0OQD")), np.isin(y_test, list("0OQD"))
    return X[keep], y[keep], X_test[keep_test], y_test[keep_test]


def test_the_cascade_routing_is_in_the_file(pair_data):
    X, y, X_test, _ = pair_data
    model = make_model("cascade", max_epochs=2, random_state=0, batch_size=16, precision="fp32").fit(X, y)
    cascade = model[-1]
    routed = cascade._routed(cascade.main_.predict_proba(model[0].transform(X_test)))
    assert 0 < routed.sum() < len(routed)  # both branches of the routing are exercised
    _assert_same(model, to_onnx(model), X_test)


def test_onnx_classifier_stands_in_for_the_model(data, tmp_path):
    X, y, X_test, _ = data
    model = _fit("lenet5", X, y)
    path = export_onnx(model, tmp_path / "lenet5.onnx")
    clf = OnnxClassifier(path)
    assert list(clf.classes_) == list(model.classes_) and clf.runtime == "ONNX Runtime"
    np.testing.assert_allclose(clf.predict_proba(X_test), model.predict_proba(X_test), atol=MAX_PROBA_DIFF, rtol=0)
    assert (clf.predict(X_test) == model.predict(X_test)).all()
    one = X_test[0].reshape(28, 28)  # the model's shapes: one image, a stack
    np.testing.assert_allclose(clf.predict_proba(one), model.predict_proba(one), atol=MAX_PROBA_DIFF, rtol=0)
    # The model's pixel contract holds: [0, 1] input to a 0-255 model, and inverted images, are refused.
    with pytest.raises(HwrError, match="fitted on 0-255 pixels"):
        clf.predict_proba(X_test / 255.0)
    with pytest.raises(HwrError, match="other polarity"):
        clf.predict_proba(255 - X_test)
    with pytest.raises(ValueError, match="784 features"):
        clf.predict_proba(X_test[:, :700])


def test_export_never_replaces_a_file_and_leaves_nothing_half_written(data, tmp_path):
    X, y, _, _ = data
    model = _fit("logreg", X, y)
    target = tmp_path / "logreg.onnx"
    target.write_text("keep me")
    with pytest.raises(HwrError, match="exists"):
        export_onnx(model, target)
    assert target.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logreg.onnx"]  # no temporary file left
    written = export_onnx(model, tmp_path / "sub" / "m.onnx")
    assert onnx.load(written).producer_name == "hwr-eval"


def test_what_cannot_be_exported_is_one_line(data):
    X, y, _, _ = data
    deskewed = _fit("knn", X, y, deskew=True)
    with pytest.raises(HwrError, match="deskew"):
        to_onnx(deskewed)
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeClassifier

    from hwr_eval.models import PixelScaler

    tree = make_pipeline(PixelScaler(), DecisionTreeClassifier(max_depth=2)).fit(X, y)
    with pytest.raises(HwrError, match="no ONNX export for DecisionTreeClassifier"):
        to_onnx(tree)
    with pytest.raises(HwrError, match="PixelScaler"):
        to_onnx(deskewed[-1])  # the bare classifier: the pixel scale would be lost


def test_files_that_are_not_hwr_eval_exports_are_refused(tmp_path, data):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(HwrError, match="not an ONNX model"):
        OnnxClassifier(junk)
    with pytest.raises(HwrError, match="no such ONNX file"):
        OnnxClassifier(tmp_path / "missing.onnx")
    from skl2onnx import to_onnx as sk_to_onnx
    from sklearn.linear_model import LogisticRegression

    X, y, _, _ = data
    foreign = sk_to_onnx(LogisticRegression(max_iter=20).fit(X[:100] / 255, y[:100]), X[:1].astype(np.float32))
    (tmp_path / "foreign.onnx").write_bytes(foreign.SerializeToString())
    with pytest.raises(HwrError, match="not a hwr-eval ONNX export"):
        OnnxClassifier(tmp_path / "foreign.onnx")


def test_a_missing_onnx_package_names_the_extra(monkeypatch, data):
    X, y, _, _ = data
    model = _fit("logreg", X[:200], y[:200])
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # import skl2onnx now raises ImportError
    with pytest.raises(HwrError, match=r"pip install 'hwr-eval\[onnx\]' \(skl2onnx is missing\)"):
        to_onnx(model)
