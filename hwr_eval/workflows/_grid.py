"""``run_grid``: grid search on the training split, refit the best setting, score it on the test split."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from ..data._dataset import Dataset
from ..errors import HwrError
from ..evaluation._run_folder import (
    RunWriter,
    _json_value,
    aligned_proba,
    check_dataset,
    default_command,
    prepare_run_dir,
)
from ..io import atomic_path
from ..models._registry import (
    resolve_params,
)
from ._compare import _timed_fit, finish_run, run_settings
from ._configure import build_models
from ._dask import dask_backend, dask_client
from ._interrupt import _CtrlC, _SigintWatch


def run_grid(
    model: str,
    param_grid: Mapping[str, Sequence[Any]],
    dataset: Dataset,
    out_dir: str | os.PathLike | None = None,
    *,
    cv: int = 3,
    n_jobs: int | None = None,
    scoring: str = "accuracy",
    max_epochs: int | None = None,
    device: str | None = None,
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    save_models: bool = False,
    verbose: int = 0,
    n_resamples: int = 1000,
    report: bool = True,
    command: str | None = None,
    scheduler=None,
) -> Path:
    """Grid search on the training split, then refit the best setting and score it on the test split.

    The search is scikit-learn's ``GridSearchCV`` with stratified, shuffled ``cv`` folds of the training
    split. The best parameters are refitted like in :func:`run_compare` (PyTorch models stop early on
    the validation split) and scored on the test split. The run folder (``kind: "grid"``) holds the
    usual files plus ``cv_results.csv``; ``results.json`` gets a ``grid`` section.

    Parameters
    ----------
    model : str
        Registry name.
    param_grid : mapping of parameter name to list of values
        Short or full parameter names (resolved by ``hwr_eval.models.resolve_params``).
    cv : int, default=3
        Number of folds.
    n_jobs : int, optional
        Parallel fits (``GridSearchCV``'s ``n_jobs``).
    scoring : str, default="accuracy"
        Any scikit-learn scorer name.
    verbose : int, default=0
        ``GridSearchCV``'s verbosity (2 prints one line per fit with its score).
    scheduler : str or distributed.Client, optional
        Run the search's fits on a Dask cluster (see :func:`dask_client`: ``"local:N"``,
        ``"tcp://host:8786"`` or a client); the training split is sent to the workers once. The refit of
        the best setting runs here, in this process. None: joblib's default backend (``n_jobs``).

    Other parameters are as in :func:`run_compare`. Returns the run folder.
    """
    estimator = build_models(
        [model], overrides={model: overrides or {}}, max_epochs=max_epochs, device=device, seed=seed, verbose=0
    )[model]
    if not param_grid:
        raise HwrError("empty parameter grid; give at least one --param name=v1,v2")
    grid = resolve_params(estimator, {k: list(v) for k, v in param_grid.items()})
    for key, values in grid.items():
        if not values:
            raise HwrError(f"parameter {key!r} has no values")
    if cv < 2:
        raise HwrError(f"cv={cv}: needs at least 2 folds")
    check_dataset(dataset, min_train=cv)
    settings = run_settings([model], dataset, max_epochs, device, seed, {model: overrides or {}}, save_models)
    if command is None:
        command = default_command("grid", model=model, param_grid=dict(param_grid), cv=cv)
    run_dir, created = prepare_run_dir(out_dir, "grid")
    try:
        folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
        search = GridSearchCV(
            estimator, grid, scoring=scoring, cv=folds, n_jobs=n_jobs, refit=False, verbose=verbose, error_score="raise"
        )
        with _SigintWatch() as ctrl_c:
            with dask_client(scheduler) as client, dask_backend(client, scatter=[dataset.X_train, dataset.y_train]):
                search.fit(dataset.X_train, dataset.y_train)
            best = clone(estimator).set_params(**search.best_params_)
            fit_time = _timed_fit(best, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val)
        if ctrl_c.fired:
            raise _CtrlC
        start = time.perf_counter()
        y_pred = np.asarray(best.predict(dataset.X_test)).astype(str)
        predict_time = time.perf_counter() - start
        proba = aligned_proba(best, dataset.X_test, dataset.classes)
        # Abstention, calibration and context as in compare (default 1% target risk; fitted on validation).
        from ..evaluation._reliability import reliability_records

        extra, arrays = reliability_records(best, dataset.X_val, dataset.y_val, dataset.y_test, y_pred, proba,
                                            dataset.X_test, dataset.classes)

        writer = RunWriter(run_dir, dataset, "grid", settings, command)
        cv_results = pd.DataFrame(search.cv_results_).sort_values("rank_test_score", kind="stable")
        with atomic_path(run_dir / "cv_results.csv") as tmp:
            cv_results.to_csv(tmp, index=False)
        writer.results["grid"] = _json_value(
            {
                "model": model,
                "param_grid": grid,
                "best_params": search.best_params_,
                "best_score": float(search.best_score_),
                "cv": cv,
                "scoring": scoring,
                "n_candidates": int(len(cv_results)),
            }
        )
        writer.write_test_set()
        writer.add_model(
            model,
            best,
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
    except BaseException as exc:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)
        if isinstance(exc, _CtrlC):
            raise KeyboardInterrupt from None  # nothing finished: the CLI says so and exits 130
        raise
    return finish_run(writer, "complete", report)
