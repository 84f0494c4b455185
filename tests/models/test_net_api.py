"""HwrNet used as a scikit-learn / skorch user would: skorch's own parameters and methods behave."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from hwr_eval.errors import HwrError
from hwr_eval.models import MLP, HwrNet
from hwr_eval.models._labels import _encode_labels

_FAST = {"module": MLP, "module__hidden": 8, "max_epochs": 2, "batch_size": 16, "random_state": 0}


def _net(**params):
    return HwrNet(**{**_FAST, **params})


def _toy(n=90, n_features=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b", "c"])[np.arange(n) % 3]
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    X[:, :3] += 3 * (y[:, None] == np.array(["a", "b", "c"]))
    return X, y


def test_given_classes_order_is_the_order_of_outputs_and_predictions():
    X, y = _toy()
    given = ["c", "a", "b"]
    net = _net(max_epochs=20, lr=1e-2, classes=given).fit(X, y)
    np.testing.assert_array_equal(net.classes_, given)
    proba = net.predict_proba(X)
    np.testing.assert_array_equal(net.predict(X), np.asarray(given)[proba.argmax(axis=1)])
    assert np.mean(net.predict(X) == y) > 0.9  # relabelled outputs would score about 1/3
    sorted_net = _net(max_epochs=20, lr=1e-2).fit(X, y)
    assert np.mean(sorted_net.predict(X) == net.predict(X)) > 0.9


def test_given_classes_must_cover_the_labels_and_be_distinct():
    X, y = _toy()
    with pytest.raises(HwrError, match=r"labels not among the net's classes .*\['c'\]"):
        HwrNet(**_FAST, classes=["a", "b"]).fit(X, y)
    with pytest.raises(HwrError, match="distinct labels"):
        HwrNet(**_FAST, classes=["a", "b", "b", "c"]).fit(X, y)


def test_encoding_follows_any_class_order():
    classes = np.array(["z", "0", "m"])
    np.testing.assert_array_equal(_encode_labels(np.array(["m", "z", "0", "z"]), classes, "labels"), [2, 0, 1, 0])
    with pytest.raises(HwrError, match="labels not among"):
        _encode_labels(np.array([1, 2]), classes, "labels")


def test_predict_before_fit_raises_not_fitted():
    X, _ = _toy()
    for method in ("predict", "predict_proba"):
        with pytest.raises(NotFittedError):
            getattr(HwrNet(**_FAST), method)(X)
    assert not hasattr(HwrNet(**_FAST), "classes_")


def test_partial_fit_trains_from_raw_labels_and_continues():
    X, y = _toy()
    net = HwrNet(**_FAST).partial_fit(X, y)
    assert len(net.history) == 2 and list(net.classes_) == ["a", "b", "c"]
    first = [p.detach().clone() for p in net.module_.parameters()]
    net.partial_fit(X[:30], y[:30])
    assert len(net.history) == 4  # continued, not restarted
    assert any(not torch.equal(a, b) for a, b in zip(first, net.module_.parameters()))
    with pytest.raises(HwrError, match=r"\['d'\]"):
        net.partial_fit(X[:3], ["a", "b", "d"])
    later = HwrNet(**_FAST).partial_fit(X[:30], y[:30], classes=["a", "b", "c", "d"])
    assert list(later.classes_) == ["a", "b", "c", "d"] and later.predict_proba(X).shape == (90, 4)


def test_initialize_without_data_says_what_to_call():
    with pytest.raises(HwrError, match=r"call fit\(X, y\) or partial_fit"):
        HwrNet(**_FAST).initialize()


def test_device_auto_works_with_skorch_methods_after_fit(tmp_path):
    X, y = _toy()
    net = HwrNet(**_FAST, device="auto").fit(X, y)
    net.save_params(f_params=tmp_path / "params.pt")
    net.load_params(f_params=tmp_path / "params.pt")
    y_pred = net.forward(X[:4])
    loss = net.get_loss(y_pred, torch.as_tensor([0, 1, 2, 0]))
    assert torch.isfinite(loss)
    net.set_params(module__hidden=4)  # rebuilds the module on the resolved device
    assert sum(p.numel() for p in net.module_.parameters()) < sum(p.numel() for p in MLP(3, 16, hidden=8).parameters())
    assert net.get_params()["device"] == "auto"
    net.set_params(device="cpu")
    assert net.device == "cpu"
    net.fit(X, y)
    assert net.device == "cpu"


def test_training_iterator_options_are_honoured():
    X, y = _toy(n=40)
    net = _net(iterator_train__drop_last=True, iterator_train__shuffle=False, max_epochs=1, train_split=None).fit(X, y)
    batches = net.get_iterator(net.get_dataset(X, y.searchsorted(y)), training=True)
    assert [len(xb) for xb, _ in batches] == [16, 16]  # the short last batch of 8 is dropped
    first, _ = next(iter(net.get_iterator(net.get_dataset(X, None), training=True)))
    torch.testing.assert_close(first, torch.as_tensor(X[:16]))  # no shuffling
    shuffled = HwrNet(**_FAST).get_iterator(HwrNet(**_FAST).get_dataset(X, None), training=True)
    assert not torch.equal(next(iter(shuffled))[0], torch.as_tensor(X[:16]))  # default: shuffled
    valid = HwrNet(**_FAST, iterator_valid__batch_size=5).get_iterator(net.get_dataset(X, None))
    assert [len(xb) for xb, _ in valid] == [5] * 8


def test_dataloader_options_take_the_dataloader_with_the_same_meaning():
    X, y = _toy(n=40)
    net = HwrNet(**_FAST, iterator_train__num_workers=0, iterator_train__shuffle=False,
                 iterator_train__drop_last=True)
    loader = net.get_iterator(net.get_dataset(X, None), training=True)
    assert isinstance(loader, torch.utils.data.DataLoader) and len(loader) == 2


def test_validation_rows_must_be_held_out():
    X, y = _toy()
    with pytest.raises(HwrError, match="30 of the 30 validation rows are also training rows"):
        HwrNet(**_FAST).fit(X, y, X_val=X[:30], y_val=y[:30])
    HwrNet(**_FAST).fit(X[30:], y[30:], X_val=X[:30], y_val=y[:30])  # held out: fine
