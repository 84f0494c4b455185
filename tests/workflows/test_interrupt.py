"""Ctrl-C with a real ``HwrNet``: training stops in the epoch where it was pressed, finished models stay."""

from __future__ import annotations

import os
import signal
from collections import defaultdict

import pytest
from skorch.callbacks import Callback

from hwr_eval.models import make_model
from hwr_eval.workflows import CompareInterrupted, run_compare, run_cv, run_grid
from hwr_eval.workflows._interrupt import Terminated

#: Epochs each net began, by the callback's key (the callback is cloned with its model).
EPOCHS: dict[str, list[int]] = defaultdict(list)


class CtrlCAt(Callback):
    """Sends this process a real SIGINT, as a user's Ctrl-C would, after the first batch of ``epoch``."""

    def __init__(self, key: str, epoch: int = 1):
        self.key = key
        self.epoch = epoch

    def on_epoch_begin(self, net, **kwargs):
        EPOCHS[self.key].append(len(net.history))

    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history) == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


def test_real_ctrl_c_stops_the_net_in_that_epoch_and_keeps_finished_models(small_synthetic, tmp_path,
                                                                          check_run_folder):
    EPOCHS.clear()
    net = make_model("mlp", max_epochs=6, hidden=8, patience=None, batch_size=64,
                     clf__callbacks=[("ctrl_c", CtrlCAt("mlp", epoch=1))])
    models = {"knn": make_model("knn"), "mlp": net, "logreg": make_model("logreg")}
    out = tmp_path / "run"
    with pytest.raises(CompareInterrupted) as info:
        run_compare(models, small_synthetic, out, n_resamples=50, report=False)
    # skorch would swallow a KeyboardInterrupt and train on; the run's handler must end training at once.
    assert EPOCHS["mlp"] == [1], f"epochs begun after Ctrl-C in epoch 1: {EPOCHS['mlp']}"
    assert info.value.run_dir == out and info.value.finished == ["knn"]
    assert str(info.value) == f"interrupted; results of 1 finished model(s) kept in {out}"
    results = check_run_folder(out, small_synthetic)
    assert results["status"] == "incomplete" and list(results["models"]) == ["knn"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class TerminateAt(Callback):
    """Raises what the CLI's SIGTERM handler raises, mid-epoch, as a job scheduler's stop would."""

    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history) == 1:
            raise Terminated


def test_sigterm_mid_fit_stops_the_run_and_keeps_finished_models(small_synthetic, tmp_path):
    # skorch swallows a KeyboardInterrupt in fit and returns as if training had finished.
    net = make_model("mlp", max_epochs=6, hidden=8, patience=None, batch_size=64,
                     clf__callbacks=[("terminate", TerminateAt())])
    out = tmp_path / "run"
    with pytest.raises(CompareInterrupted) as info:
        run_compare({"knn": make_model("knn"), "mlp": net}, small_synthetic, out, n_resamples=50, report=False)
    assert info.value.finished == ["knn"] and isinstance(info.value.__context__, Terminated)


def _terminating_mlp():
    return make_model("mlp", max_epochs=6, hidden=8, patience=None, batch_size=64,
                      clf__callbacks=[("terminate", TerminateAt())])


def test_sigterm_in_cv_is_reported_as_termination(small_synthetic):
    # Not turned into a Ctrl-C: the CLI exits 143 for a scheduler's stop, 130 for a user's Ctrl-C.
    with pytest.raises(Terminated):
        run_cv({"mlp": _terminating_mlp()}, small_synthetic, folds=2)


def test_sigterm_in_grid_is_reported_as_termination_and_leaves_no_folder(small_synthetic, tmp_path):
    out = tmp_path / "grid"
    with pytest.raises(Terminated):
        run_grid({"mlp": _terminating_mlp()}, {"max_epochs": [2, 3]}, small_synthetic, out, cv=2)
    assert not out.exists()
