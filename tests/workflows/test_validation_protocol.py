"""Which data each network early-stops on inside the workflows, and epoch limits that cannot train."""

import numpy as np
import pytest

from hwr_eval.errors import HwrError
from hwr_eval.models import HwrNet
from hwr_eval.workflows import run_compare, run_grid


def _spy_fits(monkeypatch):
    """Record, for every HwrNet fit, the training row count and the validation rows it was given."""
    calls = []
    train = HwrNet._train

    def spy(self, X, y, X_val, y_val, **kwargs):
        calls.append((len(X), None if X_val is None else np.asarray(X_val)))
        return train(self, X, y, X_val, y_val, **kwargs)

    monkeypatch.setattr(HwrNet, "_train", spy)
    return calls


def test_grid_folds_hold_out_their_own_split_and_the_refit_uses_the_validation_split(
    small_synthetic, tmp_path, monkeypatch
):
    calls = _spy_fits(monkeypatch)
    run_grid("linear", {"lr": [1e-3, 1e-2]}, small_synthetic, tmp_path / "g", cv=2, max_epochs=1,
             n_resamples=10, report=False)
    folds, refit = calls[:-1], calls[-1]
    assert len(folds) == 4 and all(X_val is None for _, X_val in folds)  # each fold: train_split="stratified"
    assert refit[0] == len(small_synthetic.X_train)
    scaled_val = np.asarray(small_synthetic.X_val, dtype=np.float32) / 127.5 - 1
    np.testing.assert_allclose(refit[1], scaled_val, atol=1e-6)


def test_compare_stops_early_on_the_validation_split(small_synthetic, tmp_path, monkeypatch):
    calls = _spy_fits(monkeypatch)
    run_compare(["linear"], small_synthetic, tmp_path / "c", max_epochs=1, n_resamples=10, report=False)
    [(n_train, X_val)] = calls
    assert n_train == len(small_synthetic.X_train) and len(X_val) == len(small_synthetic.X_val)


def test_zero_epochs_is_a_one_line_error_before_any_file(small_synthetic, tmp_path):
    with pytest.raises(HwrError, match=r"'max_epochs' parameter of HwrNet must be an int in the range \[1, inf\). Got 0"):
        run_compare(["cnn"], small_synthetic, tmp_path / "run", max_epochs=0)
    assert not (tmp_path / "run").exists()
