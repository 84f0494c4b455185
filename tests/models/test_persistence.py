import io

import joblib
import numpy as np
import pytest
import torch

from hwr_eval import list_models, make_model

TINY = {
    "logreg": {"clf__max_iter": 30, "clf__tol": 1e-2},
    "knn": {},
    "linear": {"max_epochs": 2},
    "mlp": {"max_epochs": 2, "hidden": 16},
    "cnn": {"max_epochs": 2, "clf__module__channels": (4, 8), "hidden": 16},
    "lenet5": {"max_epochs": 2},
    "cascade": {"max_epochs": 1, "clf__main__module__channels": (4, 8), "clf__sub__module__channels": (4, 8)},
    "modern_cnn": {"max_epochs": 2, "clf__module__channels": (4, 4, 8, 8, 8)},
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = np.array(["0", "O", "A"])[np.arange(90) % 3]
    X = rng.integers(0, 256, size=(90, 784)).astype(np.uint8)
    X[y == "O", :100] = 255
    return X, y


def _roundtrip(model):
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


@pytest.mark.parametrize("name", list_models())
def test_joblib_roundtrip_gives_identical_predictions(name, data, monkeypatch):
    X, y = data
    params = dict(TINY[name], **({} if name == "knn" else {"random_state": 0}))
    model = make_model(name, **params).fit(X, y)

    def no_torch_load(*args, **kwargs):
        raise AssertionError("torch.load must not be needed to restore a model")

    monkeypatch.setattr(torch, "load", no_torch_load)
    restored = _roundtrip(model)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    assert restored.get_params().keys() == model.get_params().keys()


def test_restored_net_keeps_its_optimizer_state_and_trains_on_like_the_original(data):
    X, y = data
    model = make_model("mlp", max_epochs=1, hidden=8, random_state=0, patience=None).fit(X, y)
    restored = _roundtrip(model)
    # Adam's moment estimates and step counts come back, not a fresh optimiser.
    saved, loaded = model[-1].optimizer_.state_dict(), restored[-1].optimizer_.state_dict()
    assert saved["param_groups"] == loaded["param_groups"]
    assert saved["state"].keys() == loaded["state"].keys() and saved["state"]
    for key, state in saved["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(loaded["state"][key][name], value, rtol=0, atol=0)
    # One more epoch from the pickle and from the original end with the same weights.
    for m in (model, restored):
        m.set_params(clf__warm_start=True).fit(X, y)
    assert len(restored[-1].history) == 2
    np.testing.assert_allclose(restored.predict_proba(X), model.predict_proba(X), rtol=1e-5, atol=1e-7)


def test_pickled_state_holds_only_cpu_tensors_and_no_torch_objects(data):
    X, y = data
    net = make_model("cnn", **TINY["cnn"]).fit(X, y)[-1]
    state = net.__getstate__()
    assert "module_" not in state and "optimizer_" not in state
    assert not any(_tensors(state)), "tensors would unpickle through torch.load(weights_only=False)"
    assert isinstance(state["_torch_state"]["module"]["features.1.weight"][1], np.ndarray)


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _tensors(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _tensors(value)


def test_a_model_trained_on_cuda_loads_on_a_cpu_only_machine(data, monkeypatch):
    X, y = data
    model = make_model("cnn", **TINY["cnn"], random_state=0).fit(X, y)
    expected = model.predict_proba(X)
    net = model[-1]
    # What a CUDA-trained net pickles: its device parameter says "cuda" (tensors are stored on the CPU).
    net.__dict__["device"] = "cuda"
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    buffer.seek(0)
    with pytest.warns(UserWarning, match="CUDA is not available here; device set to 'cpu'"):
        restored = joblib.load(buffer)
    assert next(restored[-1].module_.parameters()).device.type == "cpu"
    assert restored[-1].device == "cpu"
    # Predicts as loaded: no set_params(device="cpu") needed.
    np.testing.assert_allclose(restored.predict_proba(X), expected, rtol=1e-6)
