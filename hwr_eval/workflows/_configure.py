"""From a spec to what a workflow runs: the models (built once, configured, checked), the data, the folder."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.base import BaseEstimator, clone

from ..data import Dataset
from ..data._sources import CLASS_SETS
from ..errors import HwrError
from ..evaluation import resolve_context
from ..models._registry import (
    check_model_for_data,
    check_model_params,
    list_models,
    make_model,
    resolve_params,
)
from ..runs import DataSpec, RunFolder, RunSpec, claim_run_dir, class_set_name, release_run_dir

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
        if names == ["all"]:
            names = known
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise HwrError(f"unknown model {name!r}{hint} (choose from {', '.join(known)}, or all)")
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


def build_spec_models(spec: RunSpec) -> dict[str, BaseEstimator]:
    """The spec's models, each built once, configured and checked (before any data is loaded)."""
    return build_models(spec.models, overrides=spec.params, max_epochs=spec.max_epochs, device=spec.device,
                        seed=spec.seed, verbose=spec.verbose)


#: Keyword names of the old call style that mean a spec field under another name.
_RENAMED = {"seed": "model_seed", "overrides": "params"}


def spec_from_call(kind: str, spec, out_dir, options: dict) -> RunSpec:
    """A :class:`RunSpec` from a workflow call: a spec as given, or models plus keyword options."""
    if isinstance(spec, RunSpec):
        if options:
            raise HwrError(f"run_{kind}: give a RunSpec or keyword options ({', '.join(options)}), not both")
        return spec.replace(out=str(out_dir)) if out_dir is not None else spec
    fields = {f.name for f in dataclasses.fields(RunSpec)} - {"models", "out"}
    values = {}
    for key, value in options.items():
        if value is None:
            continue  # the spec's default
        name = _RENAMED.get(key, key)
        if name not in fields:
            close = difflib.get_close_matches(key, [*fields, *_RENAMED], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise HwrError(f"run_{kind}: unknown option {key!r}{hint}")
        values[name] = value
    models = spec if isinstance(spec, Mapping) else tuple(spec)
    return RunSpec(models=models, out=None if out_dir is None else str(out_dir), **values)


def run_settings(spec: RunSpec, dataset: Dataset) -> dict:
    """The ``settings`` record of ``results.json``: the options as used, with the data's own provenance."""
    prov = dataset.provenance
    return {
        "models": spec.names,
        "classes": prov.get("class_set") or class_set_name(dataset.classes),
        "per_class": prov.get("per_class"),
        "split": prov.get("split"),
        "data_seed": prov.get("seed"),
        "model_seed": spec.seed,
        "seed": spec.seed,
        "max_epochs": spec.max_epochs,
        "device": spec.device,
        "overrides": spec.params,
        "save_models": spec.save_models,
        "target_risk": spec.target_risk,
        "context": list(spec.context) if isinstance(spec.context, tuple) else spec.context,
        "robustness": spec.robustness,
        "seeds": spec.seeds,
        "vary": spec.vary,
        "n_resamples": spec.n_resamples,
    }


def _data_spec_of(dataset: Dataset, asked: DataSpec) -> DataSpec:
    """The DataSpec that describes an already loaded dataset (what the record says was run)."""
    prov = dataset.provenance
    try:
        return DataSpec(data_dir=prov.get("data_dir") or None, classes=prov.get("class_set") or class_set_name(dataset.classes),
                        per_class=int(prov.get("per_class") or 0), split=prov.get("split") or "random",
                        seed=int(prov.get("seed") or 0))
    except (HwrError, TypeError, ValueError):
        return asked  # a dataset built by hand: keep what the caller asked for


def default_command(kind: str, spec: RunSpec) -> str:
    """A summary of the Python call, e.g. ``hwr_eval.run_compare(models=['knn'], max_epochs=2)``.

    The CLI records its own command line; ``sys.argv`` would name whatever ``python -m`` started.
    """
    default = RunSpec(models=spec.models).to_dict()
    given = {k: v for k, v in spec.to_dict().items() if k not in ("data", "out") and (k == "models" or v != default[k])}
    return f"hwr_eval.run_{kind}({', '.join(f'{k}={v!r}' for k, v in given.items())})"


def check_models_for_data(spec: RunSpec, estimators: Mapping[str, BaseEstimator], n_train: int, n_classes: int) -> None:
    """Settings that cannot work on this much data (k-NN's k above the training images) fail before any training.

    Only the registry's models: estimators passed in by the caller are theirs to check.
    """
    if not isinstance(spec.models, Mapping):
        for model in estimators.values():
            check_model_for_data(model, n_train, n_classes)


def prepare_run(kind: str, spec: RunSpec, dataset: Dataset | None, estimators: Mapping[str, BaseEstimator],
                events, command: str | None, *, train_fraction: float = 1.0) -> tuple[Dataset, RunSpec, RunFolder, str]:
    """Claim the folder, load and check the data: every refusal comes before any training.

    The folder is claimed first, so of two runs on one ``--out`` the second stops at once; it is given
    back when the data then fails its checks. ``train_fraction`` is the share of the training split one
    fit sees (a grid's folds). With ``spec.unknown`` the unknown sets are loaded here, once, and kept as
    ``folder.unknown_sets``.
    """
    from ._score import check_dataset
    from ._unknowns import check_unknown_options, run_unknown_sets

    if spec.unknown and kind != "compare":
        raise HwrError(f"--unknown is an option of compare, not of {kind}")
    own_unknowns = check_unknown_options(spec, estimators)  # detectors, and --unknown-dir read, before anything else
    if spec.context is not None and dataset is None:
        resolve_context(spec.context, list(CLASS_SETS[spec.data.classes]))  # before loading anything
    if spec.track:
        from ..tracking import check_tracking

        check_tracking(spec.tracking_uri, spec.experiment)  # mlflow installed, the server answers
    claimed = claim_run_dir(spec.out, kind)
    try:
        if dataset is None:
            dataset = spec.data.load()
            if spec.data.data_dir is None and dataset.provenance.get("data_dir"):
                spec = spec.replace(data={"data_dir": str(dataset.provenance["data_dir"])})  # where the data came from
        else:
            spec = spec.replace(data=_data_spec_of(dataset, spec.data))
        events.on_data(dataset)
        if spec.context is not None:
            resolve_context(spec.context, dataset.classes)
        check_dataset(dataset)
        check_models_for_data(spec, estimators, int(len(dataset.y_train) * train_fraction), len(dataset.classes))
        unknown_sets = run_unknown_sets(spec, dataset, own_unknowns) if spec.unknown else None
        command = command or default_command(kind, spec)
        folder = RunFolder.create(kind, dataset, spec=spec, settings=run_settings(spec, dataset), command=command,
                                  claimed=claimed)
        folder.unknown_sets = unknown_sets
    except BaseException:
        release_run_dir(*claimed)
        raise
    return dataset, spec, folder, command
