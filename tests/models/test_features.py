"""Logits and penultimate-layer features of the PyTorch models (the unknown-input detectors' inputs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import softmax

from hwr_eval.errors import HwrError
from hwr_eval.models import FewStepsWarning, final_net, logits_and_features, make_model

pytestmark = pytest.mark.filterwarnings(f"ignore::{FewStepsWarning.__module__}.FewStepsWarning")


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (150, 784)).astype(np.uint8)
    y = np.array(list("abc"))[rng.integers(0, 3, 150)]
    return X, y


@pytest.mark.parametrize("name", ["cnn", "modern_cnn", "mlp", "lenet5", "linear"])
def test_features_are_the_classifier_input(toy, name):
    X, y = toy
    # batch_size 64 on 100 rows: the last inference batch is zero-padded, and its padding must not leak.
    model = make_model(name, max_epochs=1, batch_size=64, random_state=0, device="cpu").fit(X, y)
    logits, features = logits_and_features(model, X[:100])
    assert logits.shape == (100, 3) and logits.dtype == np.float32
    np.testing.assert_allclose(softmax(logits, axis=1), model.predict_proba(X[:100]), atol=1e-6)
    # The features, fed to the last linear layer, give the logits: they are that layer's input.
    net = final_net(model)
    last = [m for m in net.module_.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert features.shape == (100, last.in_features)
    # In the precision the net ran in: "auto" is bf16 for convolutional nets on CPUs with native bf16.
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=net.precision_ == "bf16"):
        expected = last(torch.from_numpy(features)).float().numpy()
    np.testing.assert_allclose(expected, logits, rtol=1e-4, atol=1e-4)
    # A row's features do not depend on the rows batched with it.
    _, first = logits_and_features(model, X[:7])
    np.testing.assert_allclose(first, features[:7], rtol=1e-5, atol=1e-6)


def test_features_need_a_fitted_network(toy):
    X, y = toy
    with pytest.raises(HwrError, match="KNeighborsClassifier is not a PyTorch model"):
        logits_and_features(make_model("knn").fit(X, y), X)
    assert final_net(make_model("knn")) is None and final_net(make_model("cnn")) is not None


class _SharedActivation(torch.nn.Module):
    """Two hidden layers through one ReLU module: its hook fires twice per forward pass."""

    def __init__(self, n_classes=3, n_features=784):
        super().__init__()
        self.first, self.second = torch.nn.Linear(n_features, 8), torch.nn.Linear(8, 8)
        self.act = torch.nn.ReLU()
        self.out = torch.nn.Linear(8, n_classes)

    def forward(self, x):
        return self.out(self.act(self.second(self.act(self.first(x)))))


def test_layer_outputs_per_activation_and_refused_for_a_shared_one(toy):
    from hwr_eval.models import HwrNet

    X, y = toy
    model = make_model("modern_cnn", max_epochs=1, batch_size=64, random_state=0, precision="fp32").fit(X, y)
    _, features, layers = logits_and_features(model, X[:100], layers=True)
    assert [a.shape for a in layers] == [(100, c) for c in (32, 64, 64, 128, 128)]
    np.testing.assert_allclose(layers[-1], features, rtol=1e-5, atol=1e-6)  # the last ReLU, pooled, is the input
    shared = HwrNet(_SharedActivation, max_epochs=1, random_state=0).fit(X.astype(np.float32), y)
    with pytest.raises(HwrError, match="^ReLU ran more or less than once per forward pass"):
        logits_and_features(shared, X[:10].astype(np.float32), layers=True)
