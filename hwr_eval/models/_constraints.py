"""What ``HwrNet``'s parameters accept, declared the scikit-learn way and checked before any training."""

from __future__ import annotations

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ._augment import AUGMENT_PRESETS, Augment
from ._outliers import OUTLIER_PRESETS, OutlierExposure
from ._recipe import LR_SCHEDULES

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
PRECISIONS = ("auto", "fp32", "bf16")

#: scikit-learn constraints of HwrNet's own parameters and the skorch ones it relies on (the rest,
#: module__*/iterator_*/callbacks, vary per instance); checked by ``check_params`` before training.
NET_CONSTRAINTS = {
    "lr": [Interval(Real, 0, None, closed="neither")],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "optimizer": [StrOptions(set(OPTIMIZERS)), type],
    "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
    "patience": [Interval(Integral, 1, None, closed="left"), None],
    "train_split": [StrOptions({"stratified"}), None, callable],
    "precision": [StrOptions(set(PRECISIONS))],
    "augment": [StrOptions(set(AUGMENT_PRESETS)), Augment, None],
    "outlier_exposure": [StrOptions(set(OUTLIER_PRESETS)), OutlierExposure, None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}
#: Constraints of routed parameters, checked when the net has them.
ROUTED_CONSTRAINTS = {
    "module__dropout": [Interval(Real, 0, 1, closed="left")],
    "module__hidden": [Interval(Integral, 1, None, closed="left")],
    "criterion__label_smoothing": [Interval(Real, 0, 1, closed="left")],
    "optimizer__weight_decay": [Interval(Real, 0, None, closed="left")],
}
