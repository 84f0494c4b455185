"""Training-recipe options shared by every PyTorch model: learning-rate schedules, weight decay, label smoothing.

All three go through skorch's own mechanisms, not a hand-written loop:

* the schedule is skorch's :class:`~skorch.callbacks.LRScheduler` callback (``HwrNet(lr_schedule=...)``
  adds it), stepping torch's ``OneCycleLR`` / ``CosineAnnealingLR`` after every training batch;
* weight decay is an optimizer parameter (``optimizer__weight_decay``; ``optimizer="adamw"`` decouples it
  from the gradient as in Loshchilov & Hutter);
* label smoothing is a criterion parameter (``criterion__label_smoothing`` of ``CrossEntropyLoss``).

The registry gives every PyTorch model ``optimizer__weight_decay`` and ``criterion__label_smoothing``
explicitly (0 for the study's models), so the short names ``weight_decay`` and ``label_smoothing`` work
everywhere (``make_model("cnn", label_smoothing=0.1)``, ``--set cnn.weight_decay=5e-4``).

**Schedules, max_epochs and early stopping.** A one-cycle or cosine schedule is defined by its total
number of steps: it spans ``max_epochs`` epochs of the training set the net actually trains on (after the
validation split), i.e. ``max_epochs * ceil(n_train / batch_size)`` optimiser steps, and each ``fit`` (or
``partial_fit``) call runs one complete schedule. Early stopping still watches the validation loss every
epoch and restores the best weights at the end; when it stops early, the schedule is simply cut there
(one-cycle then ends before its low-learning-rate phase, where most of its gain comes from). So with a
schedule, pick ``max_epochs`` as the training length you want, and treat ``patience`` as a safety net.
"""

from __future__ import annotations

import math

from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR

LR_SCHEDULES = ("constant", "onecycle", "cosine")

# The study's recipe, made explicit on every registered PyTorch model (see the module docstring).
STUDY_RECIPE = {"optimizer__weight_decay": 0.0, "criterion__label_smoothing": 0.0}


def schedule_callback(lr_schedule: str) -> LRScheduler | None:
    """The learning-rate callback for ``lr_schedule`` (None for ``"constant"``, and for a bad value, which
    ``HwrNet.check_params`` refuses when ``fit`` begins)."""
    if isinstance(lr_schedule, str) and lr_schedule in LR_SCHEDULES[1:]:
        return EpochSpanLRScheduler(lr_schedule)
    return None


class EpochSpanLRScheduler(LRScheduler):
    """skorch's ``LRScheduler`` stepping a one-cycle or cosine schedule that spans ``max_epochs``.

    torch's ``OneCycleLR`` and ``CosineAnnealingLR`` need their total number of steps up front, and that
    depends on the training set after the validation split, which skorch only knows when the first epoch
    begins; so the torch scheduler is built there (skorch's own callback builds it at ``on_train_begin``)
    and then stepped by skorch after every training batch, with the learning rate recorded per batch in
    ``history[..., "batches", ..., "event_lr"]``.

    Parameters
    ----------
    schedule : {"onecycle", "cosine"}
        ``"onecycle"``: warm up from ``lr / 25`` to ``lr`` over the first 30% of the steps, then anneal
        (cosine) to ``lr / 2.5e5``; Adam's beta1 (or SGD's momentum, when set) cycles inversely between 0.95
        and 0.85 (torch's defaults). ``"cosine"``: anneal
        from ``lr`` to 0 along a half cosine.
    """

    def __init__(self, schedule: str = "onecycle"):
        # No check here: the net builds this callback whenever its parameters are read, and scikit-learn
        # wants set_params to accept any value; HwrNet.check_params refuses a bad name when fit begins.
        policy = OneCycleLR if schedule == "onecycle" else CosineAnnealingLR
        super().__init__(policy=policy, step_every="batch")
        self.schedule = schedule

    @property
    def kwargs(self):
        return {}  # built in on_epoch_begin from the net and the training set

    def on_train_begin(self, net, **kwargs):
        self.lr_scheduler_ = None  # a fresh schedule for every fit / partial_fit call

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.lr_scheduler_ is not None:
            return
        batch_size = net.get_params_for("iterator_train").get("batch_size", net.batch_size)
        steps = max(1, net.max_epochs) * max(1, math.ceil(len(dataset_train) / max(1, batch_size)))
        optimizer = net.optimizer_
        for group in optimizer.param_groups:  # start from the net's lr, whatever an earlier schedule left
            group["lr"] = net.lr
            group.pop("initial_lr", None)
        if self.schedule == "onecycle":
            # Momentum cycles only where the optimizer has some: plain SGD (momentum 0, the study's) stays plain.
            cycle = "betas" in optimizer.defaults or optimizer.defaults.get("momentum", 0) > 0
            self.lr_scheduler_ = OneCycleLR(optimizer, max_lr=net.lr, total_steps=steps, cycle_momentum=cycle)
        else:
            self.lr_scheduler_ = CosineAnnealingLR(optimizer, T_max=steps)
        self.batch_idx_ = 0

    def __getstate__(self):
        # The torch scheduler holds the optimizer (and through it the parameters); it only lives while
        # training, and the pickled net must not carry torch objects (see _persistence).
        state = self.__dict__.copy()
        state["lr_scheduler_"] = None
        return state
