"""Validation data reaches the networks scaled like the training data, by any of the supported routes."""

import numpy as np
import pytest
import sklearn
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline

from hwr_eval import make_model
from hwr_eval.errors import HwrError
from hwr_eval.models import MLP, HwrNet, PixelScaler
from hwr_eval.models._fitting import fit_with_validation

_NET = {"module__hidden": 8, "max_epochs": 1, "batch_size": 16, "patience": None, "random_state": 0, "device": "cpu"}


def _pixels(n=90, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b", "c"])[np.arange(n) % 3]
    X = rng.integers(0, 100, size=(n, 16)).astype(np.uint8)
    X[:, :4] += (100 * (y[:, None] == np.array(["a", "b", "c", "a"]))).astype(np.uint8)
    return X, y


def _last_valid_loss_matches_scaled(pipe, X_val, y_val):
    """The recorded validation loss is the loss on X_val *after* the pixel step (patience=None: final weights)."""
    net = pipe.steps[-1][1]
    expected = log_loss(y_val, net.predict_proba(pipe[:-1].transform(X_val)), labels=net.classes_)
    assert net.history[-1, "valid_loss"] == pytest.approx(expected, rel=1e-4)
    unscaled = log_loss(y_val, net.predict_proba(X_val.astype(np.float32)), labels=net.classes_)
    assert abs(unscaled - expected) > 1e-3  # so the check above can tell scaled from raw


def test_metadata_routing_carries_a_scaled_validation_set():
    X, y = _pixels()
    X_val, y_val = _pixels(30, seed=1)
    with sklearn.config_context(enable_metadata_routing=True):
        net = HwrNet(MLP, **_NET).set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline([("scale", PixelScaler(square=False)), ("clf", net)], transform_input=["X_val"])
        pipe.fit(X, y, X_val=X_val, y_val=y_val)
    _last_valid_loss_matches_scaled(pipe, X_val, y_val)


def test_a_plain_pipeline_gets_the_validation_set_scaled_not_dropped():
    X, y = _pixels()
    X_val, y_val = _pixels(30, seed=1)
    pipe = Pipeline([("scale", PixelScaler(square=False)), ("clf", HwrNet(MLP, **_NET))])
    fit_with_validation(pipe, X, y, X_val, y_val)
    _last_valid_loss_matches_scaled(pipe, X_val, y_val)
    model = make_model("mlp", square=False, **{k: v for k, v in _NET.items() if k != "module__hidden"}, hidden=8)
    model.fit(X, y, X_val=X_val, y_val=y_val)
    _last_valid_loss_matches_scaled(model, X_val, y_val)


def test_a_search_given_an_outer_validation_set_from_its_own_data_refuses():
    X, y = _pixels()
    model = make_model("mlp", square=False, **{k: v for k, v in _NET.items() if k != "module__hidden"}, hidden=8)
    search = GridSearchCV(model, {"lr": [1e-3, 1e-2]}, cv=3, error_score="raise")
    with pytest.raises(HwrError, match="validation rows are also training rows"):
        search.fit(X, y, X_val=X, y_val=y)  # same length as X: sliced per fold to the fold's own rows
    with pytest.raises(HwrError, match="validation rows are also training rows"):
        cross_validate(model, X, y, cv=3, params={"X_val": X[:30], "y_val": y[:30]}, error_score="raise")
    X_out, y_out = _pixels(30, seed=1)  # held out from every fold: each early-stops on it, none is scored on it
    search.fit(X, y, X_val=X_out, y_val=y_out)
    assert search.best_estimator_.steps[-1][1].history[-1, "valid_loss"] is not None
