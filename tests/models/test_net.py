import platform
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from hwr_eval.errors import HwrError
from hwr_eval.models import CNN, MLP, HwrNet
from hwr_eval.models._batching import TensorBatches
from hwr_eval.models._device import _cpu_has_native_bf16, auto_precision


def _scaled(X):
    return (X / 127.5 - 1).astype(np.float32)


@pytest.fixture(scope="module")
def digits(mnist_small):
    X_train, y_train, X_test, y_test = mnist_small
    return _scaled(X_train), y_train, _scaled(X_test), y_test


def _toy(n=120, n_features=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b", "c"])[np.arange(n) % 3]
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    X[:, :3] += 3 * (y[:, None] == np.array(["a", "b", "c"]))
    return X, y


def test_cnn_learns_digits_after_a_few_epochs(digits):
    X, y, X_test, y_test = digits
    net = HwrNet(CNN, max_epochs=6, batch_size=64, lr=3e-3, random_state=0).fit(X, y)
    assert (net.predict(X_test) == y_test).mean() > 0.90


def test_arbitrary_labels_are_encoded_and_classes_sorted():
    X, y = _toy()
    labels = np.where(y == "a", "zeta", np.where(y == "b", "alpha", "mu"))
    net = HwrNet(MLP, max_epochs=10, lr=1e-2, batch_size=16, random_state=0, module__hidden=8).fit(X, labels)
    assert net.classes_.tolist() == ["alpha", "mu", "zeta"]
    assert set(net.predict(X)) <= set(labels)
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    # The columns follow classes_: each class's own rows get that class's column highest on average.
    for label in net.classes_:
        assert net.classes_[proba[labels == label].mean(axis=0).argmax()] == label
    assert (net.predict(X) == labels).mean() > 0.9


def test_loss_is_cross_entropy_on_logits_and_proba_is_their_softmax():
    X, y = _toy()
    net = HwrNet(MLP, max_epochs=2, random_state=0, module__hidden=8).fit(X, y)
    assert isinstance(net.criterion_, torch.nn.CrossEntropyLoss)
    net.module_.eval()
    with torch.no_grad():
        logits = net.module_(torch.from_numpy(X))
    np.testing.assert_allclose(net.predict_proba(X), torch.softmax(logits, 1).numpy(), rtol=1e-4, atol=1e-6)


def test_history_records_losses_accuracies_and_time():
    X, y = _toy()
    X_val, y_val = _toy(n=60, seed=1)
    net = HwrNet(MLP, max_epochs=3, random_state=0, module__hidden=8, patience=None).fit(X, y, X_val=X_val, y_val=y_val)
    assert len(net.history) == 3
    for key in ("train_loss", "valid_loss", "train_acc", "valid_acc", "dur"):
        assert all(np.isfinite(net.history[:, key]))
    # The last epoch's numbers are those of the weights the net keeps (patience=None keeps the last ones).
    assert net.history[-1, "valid_acc"] == pytest.approx(np.mean(net.predict(X_val) == y_val))
    assert net.history[-1, "valid_loss"] == pytest.approx(log_loss(y_val, net.predict_proba(X_val), labels=net.classes_),
                                                          rel=1e-4)


def test_stratified_split_holds_out_a_fifth_of_every_class():
    X, y = _toy(n=150)
    net = HwrNet(MLP, max_epochs=1, random_state=0, module__hidden=8, batch_size=1000).fit(X, y)
    assert net.history[0, "batches", 0, "train_batch_size"] == 120
    assert net.history[0, "batches", -1, "valid_batch_size"] == 30


def test_explicit_validation_set_drives_early_stopping(digits):
    X, y, X_test, y_test = digits
    net = HwrNet(MLP, max_epochs=40, patience=2, lr=0.02, random_state=0, module__hidden=32)
    net.fit(X[:600], y[:600], X_val=X_test[:300], y_val=y_test[:300])
    valid_losses = net.history[:, "valid_loss"]
    assert net.history[0, "batches", -1, "valid_batch_size"] == 300
    assert net.history[0, "batches", 0, "train_batch_size"] == 512  # all 600 rows train
    assert len(valid_losses) < 40, "a strong learning rate on 600 rows should overfit and stop early"
    # the restored weights are those of the best epoch, not of the last one
    restored = log_loss(y_test[:300], net.predict_proba(X_test[:300]), labels=net.classes_)
    assert restored == pytest.approx(min(valid_losses), rel=1e-4)
    assert restored < valid_losses[-1]


def test_same_seed_same_predictions_other_seed_differs():
    X, y = _toy()
    a = HwrNet(CNN, max_epochs=2, random_state=3, module__channels=(2, 4), module__hidden=8).fit(X, y)
    b = HwrNet(CNN, max_epochs=2, random_state=3, module__channels=(2, 4), module__hidden=8).fit(X, y)
    c = HwrNet(CNN, max_epochs=2, random_state=4, module__channels=(2, 4), module__hidden=8).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_seeding_leaves_the_global_torch_rng_alone():
    X, y = _toy()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    HwrNet(MLP, max_epochs=1, random_state=0, module__hidden=8).fit(X, y)
    assert torch.equal(torch.rand(3), expected)


def test_sgd_option_is_plain_sgd_without_momentum():
    X, y = _toy()
    net = HwrNet(MLP, optimizer="sgd", lr=0.05, max_epochs=1, module__hidden=8).fit(X, y)
    assert isinstance(net.optimizer_, torch.optim.SGD)
    assert net.optimizer_.param_groups[0]["momentum"] == 0
    assert net.optimizer_.param_groups[0]["lr"] == 0.05
    assert isinstance(HwrNet(MLP, max_epochs=1, module__hidden=8).fit(X, y).optimizer_, torch.optim.Adam)


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = _toy()
    HwrNet(MLP, max_epochs=3, verbose=1, module__hidden=8).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()]
    assert len(lines) == 3
    HwrNet(MLP, max_epochs=3, module__hidden=8).fit(X, y)
    assert capsys.readouterr().out == ""


def test_batches_are_tensor_slices_covering_every_row_once():
    X = torch.arange(10, dtype=torch.float32)[:, None]
    y = torch.arange(10)
    torch.manual_seed(0)
    batches = list(TensorBatches(X, y, batch_size=4, shuffle=True))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    assert all(torch.equal(bx[:, 0].long(), by) for bx, by in batches)
    ordered = list(TensorBatches(X, None, batch_size=4, shuffle=False))
    assert torch.cat([b[0] for b in ordered])[:, 0].tolist() == list(range(10))


def test_fit_does_not_go_through_a_dataloader(monkeypatch):
    X, y = _toy()

    def forbidden(*args, **kwargs):
        raise AssertionError("per-sample DataLoader used")

    monkeypatch.setattr(torch.utils.data.DataLoader, "__iter__", forbidden)
    net = HwrNet(MLP, max_epochs=1, module__hidden=8).fit(X, y)
    net.predict(X)


def test_bf16_precision_uses_channels_last_and_keeps_the_accuracy_of_fp32(digits):
    X, y, X_test, y_test = digits
    params = dict(max_epochs=4, batch_size=64, lr=3e-3, random_state=0)
    bf16 = HwrNet(CNN, precision="bf16", **params).fit(X, y)
    fp32 = HwrNet(CNN, precision="fp32", **params).fit(X, y)
    assert bf16.precision_ == "bf16" and fp32.precision_ == "fp32"
    assert bf16.module_.features[1].weight.is_contiguous(memory_format=torch.channels_last)
    acc_bf16 = (bf16.predict(X_test) == y_test).mean()
    acc_fp32 = (fp32.predict(X_test) == y_test).mean()
    assert acc_bf16 > 0.85 and acc_bf16 > acc_fp32 - 0.03
    assert bf16.predict_proba(X_test[:5]).dtype == np.float32


@pytest.mark.parametrize(("native_bf16", "has_conv", "expected"), [
    (True, True, "bf16"), (True, False, "fp32"), (False, True, "fp32"), (False, False, "fp32"),
])
def test_auto_precision_on_the_cpu_is_bf16_only_for_conv_nets_on_cpus_with_native_bf16(native_bf16, has_conv, expected):
    cpu = torch.device("cpu")
    assert auto_precision(cpu, has_conv, cpu_has_native_bf16=lambda: native_bf16) == expected


def test_native_bf16_check_agrees_with_the_cpu_flags():
    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine() != "x86_64" or not cpuinfo.exists():
        pytest.skip("reads the x86 CPU flags from /proc/cpuinfo (Linux on x86-64 only)")
    flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
    assert _cpu_has_native_bf16() == bool(flags & {"avx512_bf16", "amx_bf16", "amx_tile"})


def test_auto_precision_of_a_fitted_cnn_is_the_cpus_choice():
    X, y = _toy()
    net = HwrNet(CNN, max_epochs=1, device="cpu", module__channels=(2, 4), module__hidden=8).fit(X, y)
    assert net.precision == "auto"
    assert net.precision_ == ("bf16" if _cpu_has_native_bf16() else "fp32")


def test_fp32_precision_is_respected():
    X, y = _toy()
    net = HwrNet(CNN, max_epochs=1, precision="fp32", module__channels=(2, 4), module__hidden=8).fit(X, y)
    assert net.precision_ == "fp32"


def test_device_auto_stays_a_parameter_and_resolves_to_the_available_device():
    X, y = _toy()
    net = HwrNet(MLP, max_epochs=1, module__hidden=8).fit(X, y)
    assert net.device == "auto" and net.get_params()["device"] == "auto"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(net.module_.parameters()).device.type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_request_without_cuda_fails_clearly():
    X, y = _toy()
    with pytest.raises(HwrError, match="CUDA is not available"):
        HwrNet(MLP, device="cuda").fit(X, y)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"max_epochs": 0}, r"'max_epochs' parameter of HwrNet must be an int in the range \[1, inf\). Got 0"),
        ({"batch_size": 0}, r"'batch_size' parameter of HwrNet must be an int in the range \[1, inf\). Got 0"),
        ({"optimizer": "rmsprop"}, "'optimizer' parameter of HwrNet must be a str among .* Got 'rmsprop'"),
        ({"precision": "fp8"}, "'precision' parameter of HwrNet must be a str among .* Got 'fp8'"),
        ({"lr": -0.1}, r"'lr' parameter of HwrNet must be a float in the range \(0.0, inf\). Got -0.1"),
        ({"module__pool": "median"}, "unknown pool type 'median'"),
        ({"module__widht": 3}, "bad parameters for CNN"),
    ],
)
def test_bad_parameters_fail_at_fit_with_a_clear_message(params, match):
    X, y = _toy()
    with pytest.raises(HwrError, match=match):
        HwrNet(CNN, **params).fit(X, y)


def test_validation_labels_must_be_known():
    X, y = _toy()
    with pytest.raises(HwrError, match=r"validation labels not among the net's classes .*: \['q'\]"):
        HwrNet(MLP, max_epochs=1).fit(X, y, X_val=X[:3] + 0.5, y_val=["a", "b", "q"])


def test_epoch_lines_are_plain_text_when_piped(capsys):
    X, y = _toy()
    HwrNet(MLP, max_epochs=3, verbose=1, module__hidden=8).fit(X, y)
    out = capsys.readouterr().out  # capsys is no terminal, like a pipe
    assert "valid_loss" in out and "\x1b[" not in out
