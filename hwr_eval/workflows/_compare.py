"""``run_compare``: train several models on one split, score them on the untouched test split."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ..data._dataset import Dataset
from ..evaluation._context import resolve_context
from ..evaluation._reliability import reliability_records
from ..evaluation._robustness import Progress
from ..evaluation._run_folder import (
    RunWriter,
    aligned_proba,
    check_dataset,
    class_set_name,
    default_command,
    prepare_run_dir,
)
from ..models._fitting import fit_with_validation
from ._configure import build_models
from ._dask import dask_client, fit_result, submit_fits
from ._interrupt import CompareInterrupted, _CtrlC, _SigintWatch
from ._robustness import robustness_results


def finish_run(writer: RunWriter, status: str, report: bool) -> Path:
    """Write the final ``results.json`` and, with ``report``, the HTML report; return the run folder."""
    run_dir = writer.finish(status)
    if report and writer.results["models"]:
        from ..report import build_report  # matplotlib loads only when a run finishes

        build_report(run_dir)
    return run_dir


def _timed_fit(model: BaseEstimator, X, y, X_val=None, y_val=None) -> float:
    """Fit, passing the validation split when the model's ``fit`` takes it; return the seconds taken."""
    start = time.perf_counter()
    fit_with_validation(model, X, y, X_val, y_val)
    return time.perf_counter() - start



ModelStart = Callable[[str, int, int], None]
ModelEnd = Callable[[str, dict], None]


def run_settings(models: list[str], dataset: Dataset, max_epochs: int | None, device: str | None, seed: int,
                 overrides: Mapping[str, Mapping[str, Any]] | None, save_models: bool) -> dict:
    """The ``settings`` record of ``results.json``."""
    return {
        "models": models,
        "classes": dataset.provenance.get("class_set") or class_set_name(dataset.classes),
        "per_class": dataset.provenance.get("per_class"),
        "split": dataset.provenance.get("split"),
        "data_seed": dataset.provenance.get("seed"),
        "max_epochs": max_epochs,
        "device": device,
        "seed": seed,
        "overrides": {k: dict(v) for k, v in (overrides or {}).items()},
        "save_models": save_models,
    }


def run_compare(
    models: Sequence[str] | Mapping[str, BaseEstimator],
    dataset: Dataset,
    out_dir: str | os.PathLike | None = None,
    *,
    max_epochs: int | None = None,
    device: str | None = None,
    seed: int = 0,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    save_models: bool = False,
    verbose: int = 0,
    n_resamples: int = 1000,
    report: bool = True,
    command: str | None = None,
    on_model_start: ModelStart | None = None,
    on_model_end: ModelEnd | None = None,
    scheduler=None,
    target_risk: float = 0.01,
    context: str | Sequence[str] | None = None,
    robustness: bool = False,
    on_robustness_progress: Progress | None = None,
) -> Path:
    """Train each model, score it on the test split and write the run folder.

    Parameters
    ----------
    models : sequence of str or mapping of name to estimator
        Registry names (``hwr_eval.list_models()``), or your own estimators by name.
    dataset : Dataset
        From :func:`hwr_eval.load_dataset`. PyTorch models fit on the training split and stop early on
        the validation split; the baselines fit on the training split; all are scored on the test split.
    out_dir : path, optional
        Run folder to create (must be new or empty). Default: ``reports/compare-<timestamp>``.
    max_epochs, device : optional
        Set on every model that has these parameters; None keeps the models' defaults.
    seed : int, default=0
        ``random_state`` of every model that has one, and the seed of the bootstrap intervals.
    overrides : mapping of model name to {param: value}, optional
        Extra parameters per model; short names are resolved by ``hwr_eval.models.resolve_params``.
    save_models : bool, default=False
        Also write ``models/<name>.joblib``.
    verbose : int, default=0
        Passed to the PyTorch models (1 prints one line per epoch).
    n_resamples : int, default=1000
        Bootstrap resamples of the accuracy interval.
    report : bool, default=True
        Also build ``report.html`` (``hwr-eval report RUN_DIR`` can build it later).
    command : str, optional
        Recorded in ``results.json``; default: the command line or a summary of this call.
    on_model_start, on_model_end : callable, optional
        Progress hooks: ``on_model_start(name, index, total)`` and ``on_model_end(name, record)`` where
        ``record`` is the model's entry in ``results.json``.
    scheduler : str or distributed.Client, optional
        Fit the models in parallel on a Dask cluster (``"local:N"``, ``"tcp://host:8786"`` or a client;
        see :func:`dask_client`); the splits go to the workers once. Prediction and scoring run here.
    target_risk : float, default=0.01
        Abstention target: the rejection threshold of each model is chosen on the validation split (after
        temperature scaling, also fitted there) for this error rate among accepted images, then applied
        to the test split (``selective`` in ``results.json``).
    context : "digits", "letters" or list of class labels, optional
        Also report each model's accuracy on the test images of these classes with its predictions
        restricted to them (``context.restricted``). The per-group context figures are always reported.
    robustness : bool, default=False
        Also score every model under the corruption suite and rotation sweep (seeded by ``seed``):
        ``robustness.csv`` and the ``robustness`` key of ``results.json`` (see :func:`run_robustness`).
    on_robustness_progress : callable, optional
        ``on_robustness_progress(done, total, label)`` after each corrupted test set.

    Returns
    -------
    Path
        The run folder.

    Raises
    ------
    HwrError
        Unknown model or parameter, unwritable output folder; raised before any training.
    CompareInterrupted
        On Ctrl-C, after writing the finished models' results with status ``"incomplete"``.
    """
    from ..evaluation._selective import check_target_risk

    target_risk = check_target_risk(target_risk)
    if context is not None:
        resolve_context(context, dataset.classes)  # a bad context fails before any training
    names = list(models)
    estimators = build_models(
        models, overrides=overrides, max_epochs=max_epochs, device=device, seed=seed, verbose=verbose
    )
    settings = run_settings(list(estimators), dataset, max_epochs, device, seed, overrides, save_models)
    settings["target_risk"] = target_risk
    settings["context"] = context if context is None or isinstance(context, str) else list(context)
    if command is None:
        command = default_command("compare", models=names, max_epochs=max_epochs, device=device, seed=seed)
    check_dataset(dataset)
    run_dir, created = prepare_run_dir(out_dir, "compare")
    writer = RunWriter(run_dir, dataset, "compare", settings, command)
    cluster = contextlib.ExitStack()  # the Dask client when a scheduler is given; closing it cancels its fits
    try:
        client = cluster.enter_context(dask_client(scheduler))
        fits = {}
        if client is not None:
            fits = submit_fits(client, estimators, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val)
            cluster.callback(client.cancel, list(fits.values()))  # also on a client the caller keeps open
        writer.write_test_set()
        writer.write_results()
        total = len(estimators)
        fitted = {}  # the models that finished (from the cluster, when a scheduler fitted them)
        for i, (name, model) in enumerate(estimators.items()):
            if on_model_start is not None:
                on_model_start(name, i, total)
            with _SigintWatch() as ctrl_c:
                if name in fits:
                    model, fit_time = fit_result(fits[name], client)
                else:
                    fit_time = _timed_fit(model, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val)
            if ctrl_c.fired:  # caught and swallowed somewhere inside fit: the model did not finish
                raise _CtrlC
            start = time.perf_counter()
            y_pred = np.asarray(model.predict(dataset.X_test)).astype(str)
            predict_time = time.perf_counter() - start
            proba = aligned_proba(model, dataset.X_test, dataset.classes)
            # Temperature and threshold are fitted on the validation split, never on test.
            extra, arrays = reliability_records(
                model, dataset.X_val, dataset.y_val, dataset.y_test, y_pred, proba, dataset.X_test,
                dataset.classes, target_risk=target_risk, context=context)
            record = writer.add_model(
                name,
                model,
                fit_time=fit_time,
                predict_time=predict_time,
                y_pred=y_pred,
                proba=proba,
                seed=seed,
                save_model=save_models,
                n_resamples=n_resamples,
                extra=extra,
                extra_arrays={"calibrated_probabilities": arrays.get("calibrated_probabilities")},
            )
            fitted[name] = model
            if on_model_end is not None:
                on_model_end(name, record)
        if robustness:
            writer.results["robustness"] = robustness_results(
                fitted, dataset.X_test, dataset.y_test, run_dir, seed=seed, on_progress=on_robustness_progress
            )
    except (KeyboardInterrupt, _CtrlC):
        finish_run(writer, "incomplete", report)
        raise CompareInterrupted(run_dir, list(writer.results["models"])) from None
    except BaseException:
        # Nothing worth keeping yet: leave no folder behind rather than a run without results.
        if created and not writer.results["models"]:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        cluster.close()
    return finish_run(writer, "complete", report)
