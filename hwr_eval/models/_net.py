"""``HwrNet``: the skorch ``NeuralNetClassifier`` all PyTorch models of hwr-eval share.

What it adds to skorch, and why:

* cross-entropy on logits (skorch's classifier default, NLLLoss, expects probabilities);
* arbitrary labels (str characters in practice) encoded internally, ``classes_`` sorted (or in the order
  of skorch's ``classes=``), ``partial_fit`` on raw labels, ``NotFittedError`` before ``fit``;
* an explicit validation set (``fit(X, y, X_val=..., y_val=...)``) for the study's protocol, else a
  seeded stratified 80/20 split, and early stopping on validation loss with the best weights restored;
* ``device="auto"`` and ``random_state`` (same seed, same predictions on the CPU);
* whole-tensor batching (``_batching.py``): mini-batches are slices of one tensor instead of thousands of per-sample
  ``__getitem__`` calls plus collation, which dominate the time of small models;
* channels-last memory for convolutional nets (in every precision), and ``precision="bf16"``: bf16 autocast;
* on Linux, freed feature maps stay in the heap for the next step instead of being faulted in again;
* pickling that stores CPU state dicts, so a model trained on CUDA loads on a CPU-only machine and no
  ``torch.load`` is involved at all.
"""

from __future__ import annotations

import contextlib
import math
import numbers

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring, EpochTimer, PassthroughScoring
from skorch.utils import is_dataset
from torch.utils.data import Subset

from .._validation import ParameterError, check_constraints
from ..errors import HwrError
from ._allocator import keep_freed_memory
from ._augment import resolve_augment
from ._batching import WholeTensorBatchingMixin
from ._callbacks import EpochLog, StepsPerEpochCheck, _EarlyStopping, _encoded_accuracy
from ._constraints import NET_CONSTRAINTS, OPTIMIZERS, ROUTED_CONSTRAINTS
from ._device import _resolve_device, _with_device, auto_precision
from ._labels import _check_held_out, _encode_labels, check_label_types, class_order, stratified_split
from ._modules import CNN
from ._outliers import OutlierExposureMixin, resolve_outlier_exposure
from ._persistence import CpuPickleMixin
from ._recipe import schedule_callback


class HwrNet(CpuPickleMixin, OutlierExposureMixin, WholeTensorBatchingMixin, NeuralNetClassifier):
    """A skorch classifier with the study's training protocol and scikit-learn conventions.

    Parameters
    ----------
    module : type of torch.nn.Module, default=hwr_eval.models.CNN
        Network class; built at fit time with ``n_classes`` and ``n_features`` from the data plus any
        ``module__*`` parameters (e.g. ``module__hidden=256``, ``module__pool="max"``).
    criterion : type, default=torch.nn.CrossEntropyLoss
        Loss on the module's logits.
    optimizer : {"adam", "adamw", "sgd"} or torch optimizer class, default="adam"
        ``"sgd"`` is plain SGD (momentum 0, as in the study); ``"adamw"`` is Adam with decoupled weight
        decay; ``optimizer__*`` parameters pass through (``optimizer__weight_decay``).
    lr : float, default=1e-3
        Learning rate.
    max_epochs : int, default=50
        Upper bound on training epochs.
    batch_size : int, default=512
        Mini-batch size.
    lr_schedule : {"constant", "onecycle", "cosine"}, default="constant"
        Learning-rate schedule over ``max_epochs``, stepped after every batch by skorch's ``LRScheduler``
        callback; see :mod:`hwr_eval.models._recipe` for how it meets early stopping.
    patience : int or None, default=5
        Stop after this many epochs without a better validation loss and restore the best weights;
        None trains for ``max_epochs`` and keeps the last weights.
    train_split : "stratified", None or callable, default="stratified"
        Where validation data comes from when ``fit`` gets no ``X_val``: ``"stratified"`` holds out a
        seeded, stratified 20%; None uses no validation; a callable is used as skorch's ``train_split``.
    precision : {"auto", "fp32", "bf16"}, default="auto"
        ``"bf16"`` runs forward passes under bf16 autocast. (Convolutional nets use channels-last memory
        in every precision.)
        ``"auto"`` picks bf16 on CUDA devices that support it and, for convolutional nets, on CPUs with
        native bf16 (AVX512-BF16 / AMX), where it was measured 1.9x faster at the same accuracy; fp32
        otherwise.
    device : str, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    augment : {None, "affine", "elastic"} or Augment, default=None
        Random warps of the training batches (never of validation or prediction batches), drawn from
        the seeded generator; see :class:`hwr_eval.models.Augment` for the ranges of each preset.
    outlier_exposure : {None, "generated"} or OutlierExposure, default=None
        Outlier exposure: each training batch is joined by "not a character" images generated from it,
        trained towards the uniform output (``"generated"``: ``OutlierExposure()``, half as many outliers
        as images, weight 0.5); see :mod:`hwr_eval.models._outliers`. Validation loss stays plain.
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation split.
    verbose : int, default=0
        1 prints one line per epoch.
    classes : array-like or None, default=None
        skorch's parameter: all labels, in the order of ``classes_`` and the outputs (may include labels
        absent from ``y``). None: the sorted labels of ``y``.
    **kwargs
        Any other skorch parameter (``module__*``, ``optimizer__*``, ``callbacks``, ...).

    Attributes
    ----------
    classes_ : ndarray
        Sorted class labels; ``predict_proba`` columns follow it.
    n_features_in_ : int
        Number of input features seen in ``fit``.
    precision_ : str
        The precision actually used (``"fp32"`` or ``"bf16"``).
    history : skorch.History
        Per-epoch ``train_loss``, ``valid_loss``, ``train_acc``, ``valid_acc``, ``dur``.

    Warns
    -----
    FewStepsWarning
        At the first epoch of a fit with fewer than 20 optimiser steps per epoch.
    """

    _parameter_constraints = NET_CONSTRAINTS  # checked by check_params before training
    _routed_constraints = ROUTED_CONSTRAINTS

    def __init__(
        self,
        module=CNN,
        *,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer="adam",
        lr: float = 1e-3,
        max_epochs: int = 50,
        batch_size: int = 512,
        lr_schedule: str = "constant",
        patience: int | None = 5,
        train_split="stratified",
        precision: str = "auto",
        device: str = "auto",
        augment=None,
        outlier_exposure=None,
        random_state=None,
        verbose: int = 0,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.lr_schedule = lr_schedule
        self.patience = patience
        self.precision = precision
        self.augment = augment
        self.outlier_exposure = outlier_exposure
        self.random_state = random_state

    # ------------------------------------------------------------------ parameters
    def _validate_params(self) -> None:
        """Check the parameters against ``_parameter_constraints`` (one-line :class:`ParameterError`)."""
        params = self.get_params(deep=False)
        check_constraints(self._parameter_constraints, params, "HwrNet", ParameterError)
        check_constraints(self._routed_constraints, params, "HwrNet", ParameterError)

    def check_params(self, n_features: int = 784) -> HwrNet:
        """Fail early, with a one-line message, on a setting that cannot train.

        Checks the declared constraints, the device, and builds the module once on the meta device, so
        architecture mistakes (unknown pool, bad widths, unknown ``module__*`` names) surface here rather
        than deep inside ``fit``.
        """
        self._validate_params()
        _resolve_device(self.device)
        resolve_augment(self.augment)
        if resolve_outlier_exposure(self.outlier_exposure) is not None and math.isqrt(n_features) ** 2 != n_features:
            raise HwrError(f"outlier_exposure needs square images, got {n_features} values per row")
        # Any class count builds the same layers; 2 is the smallest a classifier can have.
        kwargs = {"n_classes": 2, "n_features": n_features, **self.get_params_for("module")}
        if isinstance(self.module, type):
            try:
                with torch.random.fork_rng(devices=[]), torch.device("meta"):  # no weights, no RNG draws
                    self.module(**kwargs)
            except TypeError as exc:
                raise HwrError(f"bad parameters for {self.module.__name__}: {exc}") from exc
        return self

    def _get_param_names(self):
        # skorch treats every attribute without a trailing underscore as a parameter; private
        # bookkeeping (leading underscore) is not one.
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    @property
    def _default_callbacks(self):
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("train_acc", EpochScoring(_encoded_accuracy, name="train_acc", lower_is_better=False, on_train=True)),
            ("valid_acc", EpochScoring(_encoded_accuracy, name="valid_acc", lower_is_better=False)),
        ]
        scheduler = schedule_callback(self.lr_schedule)
        if scheduler is not None:
            callbacks.append(("lr_scheduler", scheduler))
        if self.patience is not None:
            callbacks.append(
                ("early_stopping", _EarlyStopping(monitor="valid_loss", patience=self.patience, load_best=True))
            )
        callbacks.append(("steps_per_epoch", StepsPerEpochCheck()))
        callbacks.append(("print_log", EpochLog()))
        return callbacks

    # ------------------------------------------------------------------ fitting
    @_with_device
    def fit(self, X, y, X_val=None, y_val=None, **fit_params) -> HwrNet:
        """Train from scratch (or, with ``warm_start=True`` on a fitted net, continue training).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Scaled pixel rows (float).
        y : array-like of shape (n_samples,)
            Labels of any hashable type.
        X_val, y_val : array-like, optional
            Explicit validation data for early stopping; overrides ``train_split``. Must be held out:
            a validation set that shares more than 5% of its rows with ``X`` is refused.

        Returns
        -------
        self : HwrNet
        """
        fresh = not (self.warm_start and self.initialized_)
        return self._train(X, y, X_val, y_val, fresh=fresh, **fit_params)

    @_with_device
    def partial_fit(self, X, y, classes=None, X_val=None, y_val=None, **fit_params) -> HwrNet:
        """Train for ``max_epochs`` more epochs on ``(X, y)``, building the net on the first call.

        ``classes`` (all labels the net will ever see, in ``classes_`` order) is only read on the first
        call; without it the net's ``classes`` parameter, else the labels of ``y``, are used.
        """
        return self._train(X, y, X_val, y_val, fresh=not self.initialized_, classes=classes, **fit_params)

    def _train(self, X, y, X_val, y_val, *, fresh: bool, classes=None, **fit_params) -> HwrNet:
        check_label_types(y)
        X, y = validate_data(self, X, y, dtype=np.float32, reset=fresh)
        check_classification_targets(y)
        self.check_params(n_features=X.shape[1])
        classes = class_order(y, self.classes if classes is None else classes) if fresh else self.classes_inferred_
        y_enc = _encode_labels(y, classes, "labels")
        valid = None
        if X_val is not None or y_val is not None:
            if X_val is None or y_val is None:
                raise HwrError("give both X_val and y_val, or neither")
            X_val = validate_data(self, X_val, dtype=np.float32, reset=False)
            y_val = np.asarray(y_val)
            if len(y_val) != len(X_val):
                raise HwrError(f"X_val has {len(X_val)} rows but y_val has {len(y_val)} labels")
            _check_held_out(X, X_val)
            valid = (X_val, _encode_labels(y_val, classes, "validation labels"))
        self.classes_inferred_ = classes
        self._explicit_valid = valid
        if torch.device(self.device).type == "cpu":
            keep_freed_memory()  # no page faults for each step's feature maps (see _allocator.py)
        try:
            # Later partial_fit calls continue the seeded stream rather than replaying the first epochs'.
            with self._seeded(offset=0 if fresh else len(self.history)):
                if fresh:
                    self.initialize()
                super().partial_fit(X, y_enc, **fit_params)
        finally:
            self.__dict__.pop("_explicit_valid", None)
        return self

    @property
    def classes_(self) -> np.ndarray:
        """Class labels in the order of ``predict_proba``'s columns (sorted unless ``classes`` was given)."""
        try:
            return self.__dict__["classes_inferred_"]
        except KeyError:
            raise NotFittedError("this HwrNet is not fitted yet; call fit(X, y) first") from None

    def initialize(self) -> HwrNet:
        """Build the network; only possible once the data has fixed the numbers of classes and pixels."""
        if "classes_inferred_" not in self.__dict__:
            raise HwrError(
                "HwrNet builds its network from the data (numbers of classes and pixels): call fit(X, y) or "
                "partial_fit(X, y, classes=...) instead of initialize()"
            )
        return super().initialize()

    @contextlib.contextmanager
    def _seeded(self, offset: int = 0):
        if self.random_state is None:
            yield
            return
        seed = self.random_state
        if not isinstance(seed, numbers.Integral):
            seed = check_random_state(seed).randint(2**31 - 1)
        seed = (int(seed) + offset) % 2**63
        devices = [torch.device(self.device).index or 0] if torch.device(self.device).type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            yield

    def check_data(self, X, y):
        # Labels are encoded in ``fit``; skorch must not overwrite ``classes_inferred_`` with the codes.
        pass

    def initialize_module(self):
        kwargs = {"n_classes": len(self.classes_inferred_), "n_features": self.n_features_in_}
        kwargs.update(self.get_params_for("module"))
        self.module_ = self.initialized_instance(self.module, kwargs)
        self.precision_ = self._resolve_precision()
        if any(isinstance(m, torch.nn.Conv2d) for m in self.module_.modules()):
            # Channels-last: as fast as NCHW in fp32 on an AVX-512 CPU (56 vs 55 ms a step), faster on an
            # AVX2 CPU (1 thread, medians of 15: 293 vs 397 ms; average pooling ~4x faster), and the
            # layout the bf16 speed-up was measured with (29 ms; see _device.py).
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def _resolve_precision(self) -> str:
        if self.precision != "auto":
            return self.precision
        has_conv = any(isinstance(m, torch.nn.Conv2d) for m in self.module_.modules())
        return auto_precision(torch.device(self.device), has_conv)

    def initialize_optimizer(self, triggered_directly=None):
        optimizer = OPTIMIZERS[self.optimizer] if isinstance(self.optimizer, str) else self.optimizer  # checked in fit
        args, kwargs = self.get_params_for_optimizer("optimizer", self.get_all_learnable_params())
        self.optimizer_ = optimizer(*args, **kwargs)
        return self

    def get_split_datasets(self, X, y=None, **fit_params):
        explicit = getattr(self, "_explicit_valid", None)
        if explicit is not None:
            return self.get_dataset(X, y), self.get_dataset(*explicit)
        if isinstance(self.train_split, str):  # "stratified"
            dataset = self.get_dataset(X, y)
            split = stratified_split(y, self.random_state)
            return (dataset, None) if split is None else (Subset(dataset, split[0]), Subset(dataset, split[1]))
        return super().get_split_datasets(X, y, **fit_params)

    # ------------------------------------------------------------------ device="auto"
    # skorch reads ``self.device`` in each of these; they run with "auto" resolved (see _with_device).
    forward = _with_device(NeuralNetClassifier.forward)
    get_loss = _with_device(NeuralNetClassifier.get_loss)
    save_params = _with_device(NeuralNetClassifier.save_params)
    load_params = _with_device(NeuralNetClassifier.load_params)
    _set_params_on_device = _with_device(NeuralNetClassifier.set_params)

    def set_params(self, **params) -> HwrNet:
        """Set parameters; after ``fit``, changed ``module__*`` etc. rebuild the net on the resolved device."""
        if not self.initialized_:  # only stored: nothing is built on a device yet
            return NeuralNetClassifier.set_params(self, **params)
        if "device" in params:  # stored as given, so the rebuild below already sees the new device
            NeuralNetClassifier.set_params(self, device=params.pop("device"))
        return self._set_params_on_device(**params) if params else self

    # ------------------------------------------------------------------ prediction
    @_with_device
    def forward_iter(self, X, training=False, device="cpu"):
        # Materialised inside the device context: a generator would run after the context has closed.
        return iter(list(super().forward_iter(X, training=training, device=device)))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, ["n_features_in_", "module_"])
        if not is_dataset(X):  # skorch's scoring callbacks pass their own datasets
            X = validate_data(self, X, dtype=np.float32, reset=False)
        return super().predict_proba(X)

    def predict(self, X) -> np.ndarray:
        """Most probable class label for each row of ``X``."""
        proba = self.predict_proba(X)  # first: an unfitted net raises NotFittedError here
        return self.classes_[proba.argmax(axis=1)]
