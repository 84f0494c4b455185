"""The callbacks ``HwrNet`` trains with: the epoch log, early stopping without validation data, accuracy on the
encoded labels, and a warning for settings that leave too few optimiser steps per epoch."""

from __future__ import annotations

import math
import re
import sys
import warnings

import numpy as np
from skorch.callbacks import Callback, EarlyStopping, PrintLog
from skorch.utils import to_numpy

#: Fewer optimiser steps than this per epoch and a network seems not to learn within its epochs.
MIN_STEPS_PER_EPOCH = 20


_ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")


class EpochLog(PrintLog):
    """skorch's per-epoch table, printed at once (not when a pipe's buffer fills) and coloured only on
    terminals, so logs and pipes get plain text."""

    def _sink(self, text: str, verbose: int) -> None:
        if verbose:
            print(text if sys.stdout.isatty() else _ANSI_CODES.sub("", text), flush=True)


def _encoded_accuracy(net, X, y) -> float:
    """Accuracy on the internal integer labels (skorch scores with encoded targets during training)."""
    y_pred = net.predict_proba(X).argmax(axis=1)
    return float(np.mean(y_pred == to_numpy(y).astype(np.int64)))


class _EarlyStopping(EarlyStopping):
    """skorch's EarlyStopping that stays idle when there is no validation loss to watch."""

    def on_epoch_end(self, net, **kwargs):
        if self.monitor not in net.history[-1] or net.history[-1, self.monitor] is None:
            return None
        return super().on_epoch_end(net, **kwargs)


class FewStepsWarning(UserWarning):
    """So few optimiser steps per epoch (small training set, large batches) that a network learns slowly."""


class StepsPerEpochCheck(Callback):
    """Warn once per ``fit`` when an epoch has fewer than :data:`MIN_STEPS_PER_EPOCH` optimiser steps."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.checked_ = False

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if getattr(self, "checked_", False) or dataset_train is None:
            return
        self.checked_ = True
        n_rows = len(dataset_train)
        batch_size = net.get_params_for("iterator_train").get("batch_size", net.batch_size)
        if not batch_size or batch_size < 1:
            return
        steps = math.ceil(n_rows / batch_size)
        if steps < MIN_STEPS_PER_EPOCH:
            smaller = 2 ** int(math.log2(max(1, n_rows // MIN_STEPS_PER_EPOCH)))
            # Below 8 images a batch, smaller batches only add noise: more images is then the fix.
            lower = f"lower batch_size (e.g. {smaller}) or " if 8 <= smaller < batch_size else ""
            warnings.warn(
                f"only {steps} optimizer step{'s' if steps != 1 else ''} per epoch ({n_rows:,} training images, "
                f"batch_size {batch_size}): networks learn slowly; {lower}raise per_class (more images)",
                FewStepsWarning, stacklevel=2,
            )
