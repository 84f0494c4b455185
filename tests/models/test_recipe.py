"""Training-recipe options (schedules, AdamW + weight decay, label smoothing) and the modern_cnn model."""

import math

import joblib
import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from hwr_eval import list_models, make_model
from hwr_eval.errors import HwrError
from hwr_eval.models import MLP, HwrNet, ModernCNN, n_parameters

TORCH_MODELS = [m for m in list_models() if m not in ("logreg", "knn")]


def _toy(n=120, n_features=16, seed=0, shift=3.0):
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b", "c"])[np.arange(n) % 3]
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    X[:, :3] += shift * (y[:, None] == np.array(["a", "b", "c"]))
    return X, y


class _RecordLR(Callback):
    """The optimizer's learning rate as each training batch begins (what the step really uses)."""

    def initialize(self):
        self.lrs_ = []
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.lrs_.append(net.optimizer_.param_groups[0]["lr"])


class _SnapshotWeights(Callback):
    """A copy of the module's weights after every epoch."""

    def initialize(self):
        self.weights_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.weights_.append({k: v.detach().clone() for k, v in net.module_.state_dict().items()})


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lr_schedule": "step"}, "The 'lr_schedule' parameter of HwrNet must be a str among {*}. Got 'step' instead."),
        ({"label_smoothing": -0.1}, "The 'criterion__label_smoothing' parameter of HwrNet must be a float in the "
                                    "range [0.0, 1.0). Got -0.1 instead."),
        ({"label_smoothing": 1.0}, "The 'criterion__label_smoothing' parameter of HwrNet must be a float in the "
                                   "range [0.0, 1.0). Got 1.0 instead."),
        ({"weight_decay": -1e-4}, "The 'optimizer__weight_decay' parameter of HwrNet must be a float in the range "
                                  "[0.0, inf). Got -0.0001 instead."),
        ({"optimizer": "lamb"}, "The 'optimizer' parameter of HwrNet must be a str among {*} or an instance of "
                                "'type'. Got 'lamb' instead."),
    ],
)
@pytest.mark.parametrize("name", ["cnn", "modern_cnn", "cascade"])
def test_bad_recipe_values_are_one_line_errors_at_make_model(name, params, message):
    with pytest.raises(HwrError) as info:
        make_model(name, **params)
    # The options are a set, printed in no fixed order: compare around it, then check every option is named.
    before, _, after = message.partition("{*}")
    text = str(info.value)
    assert text.startswith(before) and text.endswith(after), text
    assert "\n" not in str(info.value)


def test_bad_schedule_fails_in_fit_before_any_training():
    X, y = _toy()
    net = HwrNet(MLP, lr_schedule="linear", max_epochs=2, module__hidden=8)
    with pytest.raises(HwrError, match="'lr_schedule' parameter of HwrNet .* Got 'linear'"):
        net.fit(X, y)
    assert not getattr(net, "initialized_", False)
    net = HwrNet(MLP, criterion__label_smoothing=-0.5, max_epochs=2, module__hidden=8)
    with pytest.raises(HwrError, match="'criterion__label_smoothing' parameter of HwrNet must be a float in the range"):
        net.fit(X, y)
    assert not getattr(net, "initialized_", False)


# ------------------------------------------------------------------ defaults and vocabulary


@pytest.mark.parametrize("name", ["linear", "mlp", "cnn", "lenet5"])
def test_study_models_keep_the_study_recipe(name):
    params = make_model(name).get_params()
    assert params["clf__optimizer"] == "adam"
    assert params["clf__lr"] == 1e-3
    assert params["clf__batch_size"] == 512
    assert params["clf__patience"] == 5
    assert params["clf__lr_schedule"] == "constant"
    assert params["clf__optimizer__weight_decay"] == 0.0
    assert params["clf__criterion__label_smoothing"] == 0.0


def test_modern_cnn_has_its_own_recipe():
    params = make_model("modern_cnn").get_params()
    assert params["clf__module"] is ModernCNN
    assert params["clf__optimizer"] == "adamw"
    assert params["clf__lr"] == 3e-3
    assert params["clf__optimizer__weight_decay"] == 5e-4
    assert params["clf__lr_schedule"] == "onecycle"
    assert params["clf__criterion__label_smoothing"] == 0.1
    assert params["clf__batch_size"] == 128
    assert params["clf__module__channels"] == (32, 64, 64, 128, 128)
    assert params["clf__module__pool_after"] == (1, 3, 4)
    assert params["clf__module__dropout"] == 0.3


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_every_pytorch_model_takes_the_recipe_by_short_names(name):
    model = make_model(name, optimizer="adamw", weight_decay=1e-4, label_smoothing=0.05, lr_schedule="cosine")
    params = model.get_params()
    nets = [k[: -len("lr_schedule")] for k in params if k.endswith("lr_schedule")]
    assert nets  # the cascade has two nets, both set
    for prefix in nets:
        assert params[prefix + "optimizer"] == "adamw"
        assert params[prefix + "optimizer__weight_decay"] == 1e-4
        assert params[prefix + "criterion__label_smoothing"] == 0.05
        assert params[prefix + "lr_schedule"] == "cosine"


def test_recipe_reaches_the_torch_optimizer_and_criterion():
    X, y = _toy()
    net = HwrNet(MLP, optimizer="adamw", optimizer__weight_decay=0.01, criterion__label_smoothing=0.2,
                 max_epochs=1, module__hidden=8, random_state=0).fit(X, y)
    assert isinstance(net.optimizer_, torch.optim.AdamW)
    assert net.optimizer_.param_groups[0]["weight_decay"] == 0.01
    assert net.criterion_.label_smoothing == 0.2


# ------------------------------------------------------------------ schedules


def test_one_cycle_warms_up_then_anneals_over_max_epochs():
    X, y = _toy(n=150)  # 120 train / 30 validation rows -> 4 batches of 32 per epoch
    recorder = _RecordLR()
    net = HwrNet(MLP, lr=0.01, lr_schedule="onecycle", batch_size=32, max_epochs=5, patience=None,
                 module__hidden=8, random_state=0, callbacks=[("lr_log", recorder)]).fit(X, y)
    lrs = np.array(recorder.lrs_)
    assert len(lrs) == 5 * math.ceil(120 / 32)  # the schedule spans max_epochs of the training split
    assert lrs[0] == pytest.approx(0.01 / 25)  # torch's one-cycle starts at max_lr / div_factor
    peak = int(lrs.argmax())
    assert lrs[peak] == pytest.approx(0.01, rel=0.05) and 0 < peak < len(lrs) - 1
    assert np.all(np.diff(lrs[: peak + 1]) > 0) and np.all(np.diff(lrs[peak:]) < 0)
    assert lrs[-1] < 0.01 / 100
    # skorch's LRScheduler records the learning rate of every training batch in the history.
    logged = [b["event_lr"] for epoch in net.history for b in epoch["batches"] if "event_lr" in b]
    assert len(logged) == len(lrs)


def test_cosine_anneals_and_a_second_fit_starts_a_fresh_schedule():
    X, y = _toy(n=150)
    recorder = _RecordLR()
    net = HwrNet(MLP, lr=0.01, lr_schedule="cosine", batch_size=32, max_epochs=3, patience=None,
                 module__hidden=8, random_state=0, callbacks=[("lr_log", recorder)])
    net.fit(X, y)
    first = np.array(dict(net.callbacks_)["lr_log"].lrs_)
    assert first[0] == pytest.approx(0.01)
    assert np.all(np.diff(first) < 0) and first[-1] < 0.01 * 0.05
    net.set_params(warm_start=True).fit(X, y)  # warm continuation: a complete new schedule
    again = np.array(dict(net.callbacks_)["lr_log"].lrs_)[len(first):]
    np.testing.assert_allclose(again, first)


def test_constant_schedule_leaves_the_lr_alone():
    X, y = _toy()
    recorder = _RecordLR()
    net = HwrNet(MLP, lr=0.02, max_epochs=2, module__hidden=8, random_state=0, callbacks=[("lr_log", recorder)])
    net.fit(X, y)
    assert "lr_scheduler" not in dict(net.callbacks_)
    assert set(dict(net.callbacks_)["lr_log"].lrs_) == {0.02}


def test_plain_sgd_stays_plain_under_one_cycle():
    X, y = _toy()
    net = HwrNet(MLP, optimizer="sgd", lr=0.05, lr_schedule="onecycle", max_epochs=2, module__hidden=8,
                 random_state=0).fit(X, y)
    assert net.optimizer_.param_groups[0]["momentum"] == 0  # one-cycle did not switch momentum on


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_early_stopping_restores_the_best_weights_under_a_schedule(schedule):
    # Random labels: the net memorises noise, so the validation loss is best early and then rises.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 32)).astype(np.float32)
    y = rng.integers(0, 4, size=200)
    snapshots = _SnapshotWeights()
    net = HwrNet(MLP, lr=0.02, lr_schedule=schedule, max_epochs=30, patience=3, batch_size=16,
                 module__hidden=64, module__dropout=0.0, random_state=0, callbacks=[("snap", snapshots)])
    net.fit(X, y)
    valid_loss = net.history[:, "valid_loss"]
    assert len(valid_loss) < 30  # stopped early, cutting the schedule
    best = int(np.argmin(valid_loss))
    assert best < len(valid_loss) - 1
    kept = dict(net.callbacks_)["snap"].weights_
    for key, value in net.module_.state_dict().items():
        torch.testing.assert_close(value, kept[best][key])


# ------------------------------------------------------------------ the modern model


def _scaled(X):
    return (X / 127.5 - 1).astype(np.float32)


SMALL_MODERN = {"channels": (8, 8, 16, 16, 32), "random_state": 0, "device": "cpu"}


def test_modern_cnn_learns_a_small_digit_subset(mnist_small):
    X, y, X_test, y_test = mnist_small
    # 800 training rows in batches of 32: 100 one-cycle steps over 4 epochs.
    model = make_model("modern_cnn", max_epochs=4, batch_size=32, **SMALL_MODERN).fit(X[:1000], y[:1000])
    accuracy = model.score(X_test, y_test)
    assert accuracy > 0.5  # chance is 0.1
    history = model[-1].history
    assert history[-1, "train_loss"] < history[0, "train_loss"]


def test_fitted_modern_cnn_round_trips_through_joblib(mnist_small, tmp_path):
    X, y, X_test, _ = mnist_small
    model = make_model("modern_cnn", max_epochs=2, **SMALL_MODERN).fit(X[:300], y[:300])
    path = tmp_path / "modern.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X_test[:100]), model.predict_proba(X_test[:100]))
    assert n_parameters(loaded) == n_parameters(model)
    scheduler = dict(loaded[-1].callbacks_)["lr_scheduler"]
    assert scheduler.lr_scheduler_ is None  # no torch scheduler (nor the optimizer behind it) pickled
    # A loaded model can be trained again: a fresh schedule is built.
    loaded.set_params(clf__max_epochs=1).fit(X[:300], y[:300])
    assert len(loaded[-1].history) == 1


def test_modern_cnn_module_shapes_and_validation():
    module = ModernCNN(n_classes=36)
    out = module(torch.zeros(3, 784))
    assert out.shape == (3, 36)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in module.modules()) == 5
    assert sum(isinstance(m, torch.nn.Conv2d) for m in module.modules()) == 5
    plain = ModernCNN(batchnorm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    with pytest.raises(HwrError, match="five convolution widths"):
        ModernCNN(channels=(8, 8))
    for bad in [(0, 3), (1, 1), (6,), None, 3]:
        with pytest.raises(HwrError, match="^pool_after must name distinct convolutions among 1 to 5"):
            ModernCNN(pool_after=bad)
    with pytest.raises(HwrError, match="^5 poolings need images of at least 32x32 pixels, got 28x28"):
        ModernCNN(pool_after=(1, 2, 3, 4, 5))
    assert ModernCNN(n_features=256, pool_after=(1, 2, 3, 4))(torch.zeros(2, 256)).shape == (2, 36)  # 16x16
    with pytest.raises(HwrError, match="bad parameters|five convolution widths"):
        make_model("modern_cnn", channels=(8, 8, 8))


@pytest.mark.parametrize("pool_after", [(1, 3, 4), (2, 4), (1, 2, 3)])
def test_modern_cnn_pools_after_the_named_convolutions_before_normalising(pool_after):
    widths = (4, 5, 6, 7, 8)
    module = ModernCNN(channels=widths, pool_after=pool_after).eval()
    x, normalised_side = torch.zeros(2, 784), {}
    for layer in module.features:
        x = layer(x)
        if isinstance(layer, torch.nn.BatchNorm2d):  # each convolution's BatchNorm sees the pooled map
            normalised_side[layer.num_features] = x.shape[-1]
    side, expected = 28, {}
    for i, width in enumerate(widths, start=1):
        side = side // 2 if i in pool_after else side
        expected[width] = side
    assert normalised_side == expected
