"""Training augmentation: warps training batches only, seeded by random_state, never at predict time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hwr_eval.models._batching as batching_module
from hwr_eval import make_model
from hwr_eval.data import make_synthetic, rotate
from hwr_eval.errors import HwrError
from hwr_eval.models import AUGMENT_PRESETS, Augment, HwrNet, LinearNet, augment_batch


@pytest.fixture(scope="module")
def chars():
    data = make_synthetic(n_per_class=12, classes="0A8X", seed=1)
    X = (data.images.reshape(len(data.images), -1) / 127.5 - 1).astype(np.float32)
    return X, data.labels


def _net(**params) -> HwrNet:
    return HwrNet(LinearNet, max_epochs=2, batch_size=16, patience=None, train_split=None, **params)


def test_fit_warps_training_batches_and_predict_never_does(chars, monkeypatch):
    X, y = chars
    calls = []

    def spy(batch, spec):
        calls.append(len(batch))
        return augment_batch(batch, spec)

    monkeypatch.setattr(batching_module, "augment_batch", spy)
    net = _net(augment="affine", random_state=0).fit(X, y)
    assert sum(calls) == 2 * len(X)  # every training row, every epoch
    calls.clear()
    first = net.predict_proba(X)
    np.testing.assert_array_equal(net.predict_proba(X), first)
    assert calls == []


def test_augmented_fit_is_reproducible_and_differs_from_plain(chars):
    X, y = chars
    a = _net(augment="affine", random_state=5).fit(X, y).predict_proba(X)
    b = _net(augment="affine", random_state=5).fit(X, y).predict_proba(X)
    plain = _net(random_state=5).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, plain)


def test_elastic_and_custom_ranges_train_through_the_registry(chars):
    X, y = chars
    raw = np.rint((X + 1) * 127.5).astype(np.uint8)
    model = make_model("linear", augment=Augment(degrees=10, scale=0.05, shear=0.1, elastic=1.0, p=1.0),
                       max_epochs=1, random_state=0)
    assert model.fit(raw, y).score(raw, y) > 0.25
    assert make_model("cnn", augment="elastic").get_params()["clf__augment"] == "elastic"


def test_batch_warp_keeps_shape_range_and_background():
    images = make_synthetic(n_per_class=8, classes="17", seed=0).images.reshape(16, -1)
    X = torch.as_tensor(images / 127.5 - 1, dtype=torch.float32)
    torch.manual_seed(0)
    for spec in AUGMENT_PRESETS.values():
        out = augment_batch(X, Augment(**{**spec.__dict__, "p": 1.0}))
        assert out.shape == X.shape and out.dtype == X.dtype
        assert out.min() >= -1 and out.max() <= 1
        assert not torch.equal(out, X)
        corners = out.reshape(16, 28, 28)[:, [0, 0, -1, -1], [0, -1, 0, -1]]
        assert torch.all(corners == -1)  # filled with the border's background, not with 0
    none = Augment(degrees=0, scale=0, translate=0)
    np.testing.assert_allclose(augment_batch(X, Augment(p=0.0)), X)
    np.testing.assert_allclose(augment_batch(X, Augment(**{**none.__dict__, "p": 1.0})), X, atol=1e-5)


def test_a_pure_rotation_matches_the_corruption_suites_rotation(monkeypatch):
    images = make_synthetic(n_per_class=4, classes="7L", seed=0).images.reshape(8, -1)
    import hwr_eval.models._augment as augment_module

    monkeypatch.setattr(augment_module, "_uniform", lambda n, bound, device: torch.full((n,), float(bound)))
    out = augment_batch(torch.as_tensor(images, dtype=torch.float32), Augment(degrees=20, scale=0, translate=0, p=1.0))
    assert np.abs(out.numpy() - rotate(images, 20)).mean() < 1.0  # gray levels 0-255
    assert np.abs(out.numpy() - rotate(images, -20)).mean() > 10


def test_unknown_augment_fails_before_training():
    with pytest.raises(HwrError, match="'augment' parameter of HwrNet must be .* Got 'rotate'"):
        make_model("cnn", augment="rotate")


@pytest.mark.parametrize(("field", "value"), [("degrees", -1), ("scale", 1.5), ("p", 2.0), ("elastic_cell", 0.5)])
def test_impossible_ranges_are_one_line_errors(field, value):
    with pytest.raises(HwrError, match=field):
        Augment(**{field: value})
