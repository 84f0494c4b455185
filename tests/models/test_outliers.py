"""Outlier exposure: generated outliers, the uniform cross-entropy term, and the HwrNet option end to end."""

from __future__ import annotations

import math
import warnings

import joblib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from hwr_eval import make_model
from hwr_eval.data import make_synthetic
from hwr_eval.errors import HwrError
from hwr_eval.models import (
    OUTLIER_GENERATORS,
    HwrNet,
    LinearNet,
    OutlierExposure,
    make_outliers,
    uniform_cross_entropy,
)
from hwr_eval.models._outliers import OutlierExposureMixin

CLASSES = "0A8X7B"


def _scaled(n_per_class: int, seed: int, classes: str = CLASSES) -> tuple[np.ndarray, np.ndarray]:
    data = make_synthetic(n_per_class=n_per_class, classes=classes, seed=seed)
    return (data.images.reshape(len(data.images), -1) / 127.5 - 1).astype(np.float32), data.labels


@pytest.fixture(scope="module")
def train():
    return _scaled(16, seed=1)


@pytest.fixture(scope="module")
def batch():
    X, y = _scaled(6, seed=3)
    return torch.as_tensor(X), torch.as_tensor(np.unique(y, return_inverse=True)[1])


def _net(**params) -> HwrNet:
    settings = {"max_epochs": 3, "lr": 0.01, "batch_size": 16, "patience": None, "train_split": None, "device": "cpu"}
    return HwrNet(LinearNet, **{**settings, **params})


def _entropy(proba: np.ndarray) -> float:
    return float(-(proba * np.log(np.clip(proba, 1e-12, 1))).sum(axis=1).mean())


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FewStepsWarning: the tiny fits here take few steps on purpose
        yield


# ------------------------------------------------------------------ generators
@pytest.mark.parametrize("name", list(OUTLIER_GENERATORS))
def test_each_generator_is_deterministic_given_a_seed(batch, name):
    X, y = batch
    spec = OutlierExposure(ratio=1.0, generators=(name,))
    first = make_outliers(X, y, spec, torch.Generator().manual_seed(7))
    again = make_outliers(X, y, spec, torch.Generator().manual_seed(7))
    other = make_outliers(X, y, spec, torch.Generator().manual_seed(8))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", list(OUTLIER_GENERATORS))
def test_every_outlier_differs_from_every_image_of_its_batch(batch, name):
    X, y = batch
    out = make_outliers(X, y, OutlierExposure(ratio=1.0, generators=(name,)), torch.Generator().manual_seed(0))
    assert out.shape == X.shape and out.dtype == X.dtype
    assert out.min() >= X.min() and out.max() <= X.max()  # the scaled range, nothing outside it
    # Share of pixels off by more than half the range, against the closest image of the batch.
    differing = ((out[:, None, :] - X[None, :, :]).abs() > 1.0).float().mean(dim=2)
    assert differing.min() >= 0.01  # at least 8 of 784 pixels, for every pair


def test_jigsaw_moves_every_patch_and_keeps_every_pixel(batch):
    X, y = batch
    out = make_outliers(X, y, OutlierExposure(ratio=1.0, generators=("jigsaw",)), torch.Generator().manual_seed(0))
    patches = out.reshape(-1, 4, 7, 4, 7).transpose(2, 3).reshape(len(out), 16, 49)
    sources = X.reshape(-1, 4, 7, 4, 7).transpose(2, 3).reshape(len(X), 16, 49)
    for image in patches:
        # The source: the batch image with the same multiset of patches.
        match = [i for i, s in enumerate(sources) if torch.equal(s.sort(dim=0).values, image.sort(dim=0).values)]
        assert match
        source = sources[match[0]]
        inked = source.amax(dim=1) > -1
        assert not any(torch.equal(image[k], source[k]) for k in torch.nonzero(inked).flatten())


def test_binary_batches_give_binary_outliers_and_counts_follow_the_ratio(batch):
    X, y = batch
    binary = torch.where(X > 0, 1.0, 0.0)
    out = make_outliers(binary, y, OutlierExposure(ratio=0.25, generators=tuple(OUTLIER_GENERATORS)),
                        torch.Generator().manual_seed(0))
    assert len(out) == round(0.25 * len(X))
    assert set(out.unique().tolist()) == {0.0, 1.0}
    assert len(make_outliers(X[:1], y[:1], OutlierExposure(ratio=0.1), torch.Generator().manual_seed(0))) == 1


# ------------------------------------------------------------------ the loss term
def test_uniform_cross_entropy_on_hand_computed_cases():
    assert uniform_cross_entropy(torch.zeros(1, 2)).item() == pytest.approx(math.log(2))
    # softmax([ln 3, 0, 0]) = (3/5, 1/5, 1/5)
    expected = -(math.log(3 / 5) + 2 * math.log(1 / 5)) / 3
    logits = torch.tensor([[math.log(3), 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert uniform_cross_entropy(logits).item() == pytest.approx((expected + math.log(3)) / 2)
    random = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    soft_target = F.cross_entropy(random, torch.full((5, 7), 1 / 7))  # torch's own soft-label cross-entropy
    assert uniform_cross_entropy(random).item() == pytest.approx(soft_target.item(), rel=1e-6)


def test_training_loss_is_known_cross_entropy_plus_weighted_uniform_term(train):
    X, y = train
    net = _net(outlier_exposure=OutlierExposure(ratio=1.0, weight=0.3), random_state=0, max_epochs=1).fit(X, y)
    Xb = torch.as_tensor(X[:16])
    yb = torch.as_tensor(np.searchsorted(net.classes_, y[:16]))
    torch.manual_seed(11)
    loss = net.train_step_single((Xb, yb))["loss"].item()
    torch.manual_seed(11)
    outliers = net.get_outliers(Xb, yb)
    with torch.no_grad():
        known, unknown = net.module_(Xb), net.module_(outliers)
    expected = F.cross_entropy(known, yb) - 0.3 * unknown.log_softmax(dim=1).mean()
    assert loss == pytest.approx(expected.item(), rel=1e-5)


def test_validation_loss_stays_the_plain_known_class_loss(train):
    X, y = train
    X_val, y_val = _scaled(4, seed=5)
    net = _net(outlier_exposure="generated", random_state=0, max_epochs=2, batch_size=128).fit(X, y, X_val=X_val,
                                                                                            y_val=y_val)
    with torch.no_grad():
        logits = net.module_.eval()(torch.as_tensor(X_val))
    plain = F.cross_entropy(logits, torch.as_tensor(np.searchsorted(net.classes_, y_val)))
    assert net.history[-1, "valid_loss"] == pytest.approx(plain.item(), rel=1e-5)


# ------------------------------------------------------------------ training with it
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_training_with_outliers_flattens_the_softmax_on_outliers(train, seed):
    X, y = train
    held_X, held_y = _scaled(8, seed=2)
    outliers = make_outliers(torch.as_tensor(held_X), torch.as_tensor(np.unique(held_y, return_inverse=True)[1]),
                             OutlierExposure(ratio=1.0), torch.Generator().manual_seed(0)).numpy()
    plain = _net(random_state=seed, max_epochs=5).fit(X, y)
    exposed = _net(outlier_exposure="generated", random_state=seed, max_epochs=5).fit(X, y)
    # Over model seeds 0-19 the mean entropy rose by 0.18-0.48 nats (from 0.43-0.68); 0.25-0.40 at these.
    assert _entropy(exposed.predict_proba(outliers)) > _entropy(plain.predict_proba(outliers)) + 0.1


def test_a_seeded_fit_is_reproducible_and_differs_from_a_plain_one(train):
    X, y = train
    a = _net(outlier_exposure="generated", random_state=3).fit(X, y).predict_proba(X)
    b = _net(outlier_exposure="generated", random_state=3).fit(X, y).predict_proba(X)
    plain = _net(random_state=3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, plain)


@pytest.mark.parametrize("name", ["linear", "mlp", "cnn", "lenet5", "modern_cnn", "cascade"])
def test_every_network_model_trains_with_generated_outliers(name, monkeypatch):
    X, y = _scaled(6, seed=1, classes="0OA8")
    raw = np.rint((X + 1) * 127.5).astype(np.uint8)
    seen = {}
    original = OutlierExposureMixin.get_outliers

    def spy(net, Xb, yb):
        seen[id(net)] = seen.get(id(net), 0) + len(Xb)
        return original(net, Xb, yb)

    monkeypatch.setattr(OutlierExposureMixin, "get_outliers", spy)
    model = make_model(name, outlier_exposure="generated", max_epochs=1, random_state=0, device="cpu",
                       patience=None, train_split=None)
    model.fit(raw, y)
    assert model.predict(raw).shape == y.shape
    # Every network saw every training row of its one epoch with outliers (the cascade: main and sub).
    assert sorted(seen.values()) == ([12, 24] if name == "cascade" else [24])  # the sub-model: O and 0 only


# ------------------------------------------------------------------ parameters
def test_it_is_a_parameter_in_get_params_clone_and_joblib(train, tmp_path):
    spec = OutlierExposure(ratio=1.0, weight=0.25, generators=["zoom", "field"])
    assert spec.generators == ("zoom", "field")
    model = make_model("cnn", outlier_exposure="generated")
    assert model.get_params()["clf__outlier_exposure"] == "generated"
    assert make_model("cnn").get_params()["clf__outlier_exposure"] is None
    model.set_params(outlier_exposure=spec)
    assert clone(model).get_params()["clf__outlier_exposure"] == spec
    assert make_model("cascade", outlier_exposure="generated").get_params()["clf__sub__outlier_exposure"] == "generated"
    X, y = train
    raw = np.rint((X + 1) * 127.5).astype(np.uint8)
    fitted = make_model("linear", outlier_exposure=spec, max_epochs=1, random_state=0, device="cpu").fit(raw, y)
    joblib.dump(fitted, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    assert loaded.get_params()["clf__outlier_exposure"] == spec
    np.testing.assert_array_equal(loaded.predict_proba(raw), fitted.predict_proba(raw))


def test_grid_search_over_the_option(train):
    X, y = train
    raw = np.rint((X + 1) * 127.5).astype(np.uint8)
    search = GridSearchCV(make_model("linear", max_epochs=1, random_state=0, device="cpu"),
                          {"outlier_exposure": [None, "generated"]}, cv=2).fit(raw, y)
    assert [p["outlier_exposure"] for p in search.cv_results_["params"]] == [None, "generated"]
    assert search.best_estimator_.get_params()["clf__outlier_exposure"] == search.best_params_["outlier_exposure"]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: make_model("cnn", outlier_exposure="yes"), "'outlier_exposure' parameter of HwrNet must be"),
        (lambda: OutlierExposure(ratio=0), "'ratio' parameter of OutlierExposure"),
        (lambda: OutlierExposure(weight=-1.0), "'weight' parameter of OutlierExposure"),
        (lambda: OutlierExposure(weight=True), "'weight' parameter of OutlierExposure"),
        (lambda: OutlierExposure(generators=("noise",)), "generators must be a non-empty list of jigsaw"),
        (lambda: OutlierExposure(generators=()), "generators must be a non-empty list"),
        (lambda: OutlierExposure(generators="zoom"), "'generators' parameter of OutlierExposure"),
        (lambda: _net(outlier_exposure="generated").fit(np.zeros((12, 10), np.float32), np.arange(12) % 2),
         "outlier_exposure needs square images"),
    ],
)
def test_bad_values_are_one_line_errors(make, match):
    with pytest.raises(HwrError, match=match) as error:
        make()
    assert "\n" not in str(error.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_on_cuda_from_the_batch_device(train):
    X, y = train
    net = _net(outlier_exposure="generated", random_state=0, device="cuda").fit(X, y)
    assert net.predict(X).shape == y.shape
    Xb = torch.as_tensor(X[:16], device="cuda")
    assert net.get_outliers(Xb, torch.zeros(16, dtype=torch.int64, device="cuda")).device == Xb.device
