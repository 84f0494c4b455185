"""Model settings refused before any training: declared constraints, data-aware checks, near-miss names,
and the warning for settings that leave too few optimiser steps per epoch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hwr_eval import HwrError, make_model
from hwr_eval.models import CNN, MLP, FewStepsWarning, HwrNet, check_model_for_data, check_model_params


@pytest.mark.parametrize(("name", "params", "fragment"), [
    ("cnn", {"dropout": 2}, "'module__dropout' parameter of HwrNet must be a float in the range [0.0, 1.0). Got 2"),
    ("cnn", {"dropout": 1.0}, "Got 1.0 instead"),
    ("mlp", {"dropout": -0.1}, "Got -0.1 instead"),
    ("cnn", {"lr": 0}, "'lr' parameter of HwrNet must be a float in the range (0.0, inf). Got 0"),
    ("cnn", {"lr": float("nan")}, "Got nan"),
    ("cnn", {"batch_size": 0}, "'batch_size' parameter of HwrNet"),
    ("cnn", {"batch_size": True}, "Got True"),
    ("cnn", {"max_epochs": 2.5}, "'max_epochs' parameter of HwrNet must be an int"),
    ("cnn", {"patience": 0}, "'patience' parameter of HwrNet must be an int in the range [1, inf) or None"),
    ("cnn", {"train_split": "random"}, "'train_split' parameter of HwrNet"),
    ("cnn", {"precision": "fp16"}, "'precision' parameter of HwrNet"),
    ("mlp", {"hidden": 0}, "'module__hidden' parameter of HwrNet"),
    ("knn", {"n_neighbors": 0}, "'n_neighbors' parameter of KNeighborsClassifier"),
    ("knn", {"deskew": "yes"}, "'deskew' parameter of PixelScaler must be an instance of 'bool' or an instance of 'numpy.bool' or a str among"),
    ("cascade", {"clf__pair": 5}, "'pair' parameter of CascadeClassifier must be an array-like"),
    ("cascade", {"clf__main__lr": -1}, "'lr' parameter of HwrNet"),
])
def test_impossible_settings_fail_at_make_model_and_in_check_model_params(name, params, fragment):
    with pytest.raises(HwrError) as info:
        make_model(name, **params)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    # The same walk catches a value set after construction (what `--set` does before training).
    model = make_model(name)
    model.set_params(**params)
    with pytest.raises(HwrError) as again:
        check_model_params(model)
    assert str(again.value) == str(info.value)


def test_a_net_with_a_bad_value_fails_in_fit_before_building_the_network():
    X = np.random.default_rng(0).random((40, 784)).astype(np.float32)
    net = HwrNet(CNN, module__dropout=2.0, max_epochs=1)
    with pytest.raises(HwrError, match="module__dropout"):
        net.fit(X, np.arange(40) % 2)
    assert not net.initialized_


def test_n_neighbors_above_the_training_images_is_refused_before_training():
    model = make_model("knn", n_neighbors=100_000)
    with pytest.raises(HwrError, match=r"n_neighbors=100000 but only 2,000 training images; set n_neighbors to at most"):
        check_model_for_data(model, n_train=2000, n_classes=10)
    check_model_for_data(make_model("knn", n_neighbors=3), n_train=2000, n_classes=10)
    check_model_for_data(make_model("cnn"), n_train=10, n_classes=10)
    with pytest.raises(HwrError, match="at least two classes"):
        check_model_for_data(make_model("logreg"), n_train=100, n_classes=1)
    with pytest.raises(HwrError, match="'module__dropout'"):  # includes the plain parameter checks
        check_model_for_data(make_model("cnn").set_params(dropout=3), n_train=100, n_classes=10)


@pytest.mark.parametrize(("call", "fragment"), [
    (lambda: make_model("cnn", droput=0.2), "unknown parameter 'droput' for this model (did you mean 'dropout'?)"),
    (lambda: make_model("knn", n_neighbours=5), "(did you mean 'n_neighbors'?)"),
    (lambda: make_model("cnn").set_params(max_epoch=3), "(did you mean 'max_epochs'?)"),
    (lambda: make_model("cnnn"), "unknown model 'cnnn' (did you mean 'cnn'?); choose one of logreg, knn"),
    (lambda: make_model("modern-cnn"), "(did you mean 'modern_cnn'?)"),
    (lambda: make_model("zzz"), "unknown model 'zzz'; choose one of"),
])
def test_unknown_names_suggest_the_nearest_one(call, fragment):
    with pytest.raises(HwrError) as info:
        call()
    assert fragment in str(info.value)


def _toy(n: int):
    rng = np.random.default_rng(0)
    return rng.random((n, 784)).astype(np.float32), np.arange(n) % 4


def test_few_optimizer_steps_per_epoch_warn_once_at_fit():
    X, y = _toy(2500)
    net = HwrNet(MLP, module__hidden=8, max_epochs=2, batch_size=512, train_split=None, random_state=0)
    with pytest.warns(FewStepsWarning) as record:
        net.fit(X, y)
    messages = [str(w.message) for w in record if w.category is FewStepsWarning]
    assert messages == ["only 5 optimizer steps per epoch (2,500 training images, batch_size 512): networks learn "
                        "slowly; lower batch_size (e.g. 64) or raise per_class (more images)"]


def test_enough_steps_do_not_warn():
    X, y = _toy(400)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewStepsWarning)
        # 320 training rows after the 20% validation split, batches of 16: 20 steps.
        HwrNet(MLP, module__hidden=8, max_epochs=1, batch_size=16, random_state=0).fit(X, y)


@pytest.mark.parametrize("name", ["knn", "linear", "cascade"])
@pytest.mark.parametrize("labels", [[0, "1"] * 20, np.array([0, "1"] * 20, dtype=object), (1.5, "a") * 20])
def test_labels_mixing_numbers_and_strings_are_refused(name, labels):
    X = np.random.default_rng(0).integers(0, 256, (40, 784))
    with pytest.raises(HwrError, match=r"labels mix number and str values \(0 and '0' would become one class\)"):
        make_model(name, max_epochs=1).fit(X, labels) if name != "knn" else make_model(name).fit(X, labels)


def test_bare_net_refuses_mixed_labels_too():
    X = np.random.default_rng(0).random((40, 784)).astype(np.float32)
    with pytest.raises(HwrError, match="labels mix number and str"):
        HwrNet(MLP, module__hidden=4, max_epochs=1).fit(X, [0, "0"] * 20)
    # One type, numbers of several kinds: fine.
    HwrNet(MLP, module__hidden=4, max_epochs=1, random_state=0).fit(X, [0, np.int64(1), 2, 3] * 10)
