"""``run_compare``: train several models on one split, score them on the untouched test split."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from sklearn.base import BaseEstimator

from ..data import Dataset
from ..runs import RunFolder, RunSpec
from ._configure import build_spec_models, prepare_run, spec_from_call
from ._dask import dask_client, fit_result, submit_fits
from ._events import RunEvents, events_from
from ._interrupt import CompareInterrupted, _CtrlC, _SigintWatch
from ._repeats import check_repeats, run_repeats
from ._robustness import mnist_c_results, robustness_results
from ._score import score_model, timed_fit
from ._unknowns import unknown_results


def finish_run(folder: RunFolder, status: str, spec: RunSpec) -> Path:
    """Write the final ``results.json``, the HTML report (``spec.report``) and log the run to MLflow
    (``spec.track``: a server failure costs the tracking only, with a warning); return the run folder."""
    run_dir = folder.finish(status)
    if spec.report and folder.record.models:
        from ..report import build_report  # matplotlib loads only when a run finishes

        build_report(run_dir)
    if spec.track and folder.record.models:
        from ..tracking import track_run

        track_run(run_dir, spec.tracking_uri, experiment=spec.experiment)
    return run_dir


def run_compare(
    spec: RunSpec | Sequence[str] | Mapping[str, BaseEstimator],
    dataset: Dataset | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    events: RunEvents | None = None,
    command: str | None = None,
    **options,
) -> Path:
    """Train each model, score it on the test split and write the run folder.

    Parameters
    ----------
    spec : RunSpec, or model names / a mapping of name to estimator
        What to run (:class:`~hwr_eval.runs.RunSpec`). As a convenience, the models alone with the
        spec's other fields as keyword ``options`` (``max_epochs=``, ``target_risk=``, ``seed=`` for the
        models' seed, ``overrides=`` for ``params``, ...).
    dataset : Dataset, optional
        Already loaded data; default: load ``spec.data``. PyTorch models fit on the training split and
        stop early on the validation split; the baselines fit on the training split; all are scored on
        the test split.
    out_dir : path, optional
        The run folder (overrides ``spec.out``); default ``reports/compare-<timestamp>``.
    events : RunEvents, optional
        Progress hooks (the plain-function keywords ``on_model_start``, ``on_model_end`` and
        ``on_robustness_progress`` are accepted too). Without them, ``spec.verbose=1`` prints a line per
        step (and per epoch of the networks) on stderr.
    command : str, optional
        Recorded in ``results.json``; default: a summary of this call.

    Returns
    -------
    Path
        The run folder.

    Raises
    ------
    HwrError
        Unknown model or parameter, bad option, a split too small, an output folder that is not new:
        raised before any training.
    CompareInterrupted
        On Ctrl-C, after writing the finished models' results with status ``"incomplete"``.
    """
    callbacks = {"on_model_start": options.pop("on_model_start", None), "on_model_end": options.pop("on_model_end", None),
                 "on_progress": options.pop("on_robustness_progress", None)}
    spec = spec_from_call("compare", spec, out_dir, options)
    events = events_from(events, callbacks, spec.verbose)
    estimators = build_spec_models(spec)
    check_repeats(spec, estimators)
    dataset, spec, folder, command = prepare_run("compare", spec, dataset, estimators, events, command)
    cluster = contextlib.ExitStack()  # the Dask client when a scheduler is given; closing it cancels its fits
    try:
        client = cluster.enter_context(dask_client(spec.scheduler))
        fits = {}
        if client is not None:
            fits = submit_fits(client, estimators, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val)
            cluster.callback(client.cancel, list(fits.values()))  # also on a client the caller keeps open
        folder.write_test_set()
        folder.write_results()
        fitted = {}  # the models that finished (from the cluster, when a scheduler fitted them)
        for i, (name, model) in enumerate(estimators.items()):
            events.on_model_start(name, i, len(estimators))
            with _SigintWatch() as ctrl_c:
                if name in fits:
                    model, fit_time = fit_result(fits[name], client)
                else:
                    fit_time = timed_fit(model, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val)
            if ctrl_c.fired:  # caught and swallowed somewhere inside fit: the model did not finish
                raise _CtrlC
            result = score_model(name, model, fit_time, dataset, spec, folder)
            if folder.unknown_sets is not None:
                result.unknowns = unknown_results(name, model, dataset, spec, folder, folder.unknown_sets)
                folder.write_results()
            events.on_model_end(name, result)
            fitted[name] = model
        if spec.seeds > 1:
            first = pd.DataFrame([{"model": name, "seed": spec.seed, "split_seed": spec.data.seed,
                                   "accuracy": r.accuracy, "macro_f1": r.metrics["f1_macro"], "fit_time_s": r.fit_time_s}
                                  for name, r in folder.record.models.items()])
            folder.record.seeds = run_repeats(spec, dataset, estimators, first, folder, events, client)
        if spec.robustness:
            folder.record.robustness = robustness_results(fitted, dataset.X_test, dataset.y_test, folder,
                                                          seed=spec.seed, on_progress=events.on_progress)
            folder.record.mnist_c = mnist_c_results(fitted, dataset.X_test, dataset.y_test, folder, seed=spec.seed,
                                                    on_progress=events.on_progress)
    except (KeyboardInterrupt, _CtrlC):
        finish_run(folder, "incomplete", spec)
        raise CompareInterrupted(folder.path, list(folder.record.models)) from None
    except BaseException:
        folder.discard()  # nothing worth keeping yet: no folder rather than a run without results
        raise
    finally:
        cluster.close()
    return finish_run(folder, "complete", spec)
