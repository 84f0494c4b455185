"""``run_grid``: grid search on the training split, refit the best setting, score it on the test split."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from ..data import Dataset
from ..errors import HwrError
from ..models import resolve_params
from ..runs import RunSpec, json_value
from ._compare import finish_run
from ._configure import build_spec_models, prepare_run, spec_from_call
from ._dask import dask_backend, dask_client
from ._events import RunEvents, events_from
from ._interrupt import Terminated, _CtrlC, _SigintWatch
from ._robustness import mnist_c_results, robustness_results
from ._score import check_dataset, score_model, timed_fit


def run_grid(
    spec: RunSpec | str,
    param_grid: Mapping[str, Sequence[Any]],
    dataset: Dataset | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    cv: int = 3,
    n_jobs: int | None = None,
    scoring: str = "accuracy",
    search_verbose: int = 0,
    events: RunEvents | None = None,
    command: str | None = None,
    **options,
) -> Path:
    """Grid search on the training split, then refit the best setting and score it on the test split.

    The search is scikit-learn's ``GridSearchCV`` with stratified, shuffled ``cv`` folds of the training
    split (seeded by the models' seed). The best parameters are refitted like in :func:`run_compare`
    (PyTorch models stop early on the validation split) and scored on the test split through the same
    scoring path: abstention at ``spec.target_risk``, ``spec.context`` and, with ``spec.robustness``,
    the corruption suite. The run folder (``kind: "grid"``) holds the usual files plus
    ``cv_results.csv``; ``results.json`` gets a ``grid`` section.

    Parameters
    ----------
    spec : RunSpec with one model, or a registry name
        What to run; with a name, the spec's other fields come as keyword ``options`` (``overrides=``
        may then be the model's own {param: value}).
    param_grid : mapping of parameter name to list of values
        Short or full parameter names (resolved by ``hwr_eval.models.resolve_params``).
    cv : int, default=3
        Number of folds.
    n_jobs : int, optional
        Parallel fits (``GridSearchCV``'s ``n_jobs``).
    scoring : str, default="accuracy"
        Any scikit-learn scorer name.
    search_verbose : int, default=0
        ``GridSearchCV``'s verbosity (2 prints one line per fit with its score).

    ``dataset``, ``out_dir``, ``events`` and ``command`` are as in :func:`run_compare`; the search's
    fits run on the Dask cluster of ``spec.scheduler`` when given (the refit runs here). Returns the
    run folder.
    """
    events = events_from(events, {})
    if isinstance(spec, str):
        overrides = options.get("overrides")
        if overrides and not all(isinstance(v, Mapping) for v in overrides.values()):
            options["overrides"] = {spec: overrides}  # the grid's one model's own parameters
        spec = [spec]
    spec = spec_from_call("grid", spec, out_dir, options)
    if len(spec.names) != 1:
        raise HwrError(f"a grid searches one model; got {', '.join(spec.names)}")
    name = spec.names[0]
    estimator = build_spec_models(spec)[name]
    if not param_grid:
        raise HwrError("empty parameter grid; give at least one --param name=v1,v2")
    grid = resolve_params(estimator, {k: list(v) for k, v in param_grid.items()})
    for key, values in grid.items():
        if not values:
            raise HwrError(f"parameter {key!r} has no values")
    if cv < 2:
        raise HwrError(f"cv={cv}: needs at least 2 folds")
    if dataset is not None:
        check_dataset(dataset, min_train=cv)
    command = command or f"hwr_eval.run_grid(model={name!r}, param_grid={dict(param_grid)!r}, cv={cv})"
    dataset, spec, folder, command = prepare_run("grid", spec, dataset, {name: estimator}, events, command,
                                                 train_fraction=(cv - 1) / cv)
    try:
        check_dataset(dataset, min_train=cv)
        folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=spec.seed)
        search = GridSearchCV(estimator, grid, scoring=scoring, cv=folds, n_jobs=n_jobs, refit=False,
                              verbose=search_verbose, error_score="raise")
        events.on_model_start(name, 0, 1)
        with _SigintWatch() as ctrl_c:
            with dask_client(spec.scheduler) as client, dask_backend(client, scatter=[dataset.X_train, dataset.y_train]):
                search.fit(dataset.X_train, dataset.y_train)
            best = clone(estimator).set_params(**search.best_params_)
            fit_time = timed_fit(best, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val)
        if ctrl_c.fired:
            raise _CtrlC
        cv_results = pd.DataFrame(search.cv_results_).sort_values("rank_test_score", kind="stable")
        folder.write_table("cv_results.csv", cv_results)
        folder.record.grid = json_value({
            "model": name, "param_grid": grid, "best_params": search.best_params_,
            "best_score": float(search.best_score_), "cv": cv, "scoring": scoring, "n_candidates": int(len(cv_results)),
        })
        folder.write_test_set()
        events.on_model_end(name, score_model(name, best, fit_time, dataset, spec, folder))
        if spec.robustness:
            folder.record.robustness = robustness_results({name: best}, dataset.X_test, dataset.y_test, folder,
                                                          seed=spec.seed, on_progress=events.on_progress)
            folder.record.mnist_c = mnist_c_results({name: best}, dataset.X_test, dataset.y_test, folder,
                                                    seed=spec.seed, on_progress=events.on_progress)
    except BaseException as exc:
        folder.discard()
        if folder.record.models and isinstance(exc, (KeyboardInterrupt, _CtrlC)):
            finish_run(folder, "incomplete", spec)  # the refit finished: keep it
        if isinstance(exc, _CtrlC) and not isinstance(exc, Terminated):  # a SIGTERM stays what it was (143)
            raise KeyboardInterrupt from None  # the CLI says so and exits 130
        raise
    return finish_run(folder, "complete", spec)
