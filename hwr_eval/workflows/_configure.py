"""Models by name with run-wide settings (epochs, device, seed) and the user's overrides applied."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.base import BaseEstimator, clone

from ..errors import HwrError
from ..models._registry import (
    check_model_params,
    list_models,
    make_model,
    resolve_params,
)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _param_keys_ending(model: BaseEstimator, short: str) -> list[str]:
    return [k for k in model.get_params(deep=True) if k == short or k.endswith(f"__{short}")]


def _is_epoch_model(model: BaseEstimator) -> bool:
    """PyTorch models are the ones with a ``max_epochs`` parameter somewhere inside."""
    return bool(_param_keys_ending(model, "max_epochs"))


def configure_model(
    model: BaseEstimator,
    *,
    max_epochs: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    verbose: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> BaseEstimator:
    """Apply run-wide settings where the model has them, then the user's parameter overrides.

    Run-wide settings (``max_epochs``, ``device``, ``random_state`` from ``seed``, ``verbose`` for the
    PyTorch models) are set on every nested parameter of that name, so a cascade's inner networks follow
    them too; models without them (kNN has no seed) are left alone. ``params`` go through
    :func:`hwr_eval.models.resolve_params`, so short names work and unknown names raise ``HwrError``.
    """
    settings: dict[str, Any] = {}
    epoch_model = _is_epoch_model(model)
    for short, value in (("max_epochs", max_epochs), ("device", device), ("random_state", seed)):
        if value is not None:
            settings.update({k: value for k in _param_keys_ending(model, short)})
    if verbose is not None and epoch_model:
        settings.update({k: verbose for k in _param_keys_ending(model, "verbose") if "__" in k})
    model.set_params(**settings)
    if params:
        model.set_params(**resolve_params(model, dict(params)))
    return model


def build_models(
    models: Sequence[str] | Mapping[str, BaseEstimator],
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    max_epochs: int | None = None,
    device: str | None = None,
    seed: int | None = 0,
    verbose: int | None = None,
) -> dict[str, BaseEstimator]:
    """Fresh, configured estimators by name; every name and parameter is checked before any training."""
    if isinstance(models, Mapping):
        named = {name: clone(est) for name, est in models.items()}
    else:
        names = [m.strip() for m in models if m.strip()]
        known = list_models()
        for name in names:
            if name not in known:
                raise HwrError(f"unknown model {name!r}; choose from {', '.join(known)}")
        if len(set(names)) != len(names):
            raise HwrError(f"model listed twice in {','.join(names)}")
        named = {name: make_model(name) for name in names}
    if not named:
        raise HwrError("no models given")
    for name in named:
        if not _SAFE_NAME.match(name):
            raise HwrError(f"model name {name!r} cannot be a file name; use letters, digits, '_', '-', '.'")
    overrides = dict(overrides or {})
    for name in overrides:
        if name not in named:
            raise HwrError(f"--set names model {name!r}, which is not among the models run ({', '.join(named)})")
    for name, model in named.items():
        configure_model(
            model, max_epochs=max_epochs, device=device, seed=seed, verbose=verbose, params=overrides.get(name)
        )
        if not isinstance(models, Mapping):
            check_model_params(model)  # a bad value fails now, not after the models before it trained
    return named
