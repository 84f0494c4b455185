"""Repeated training: every model trained again with other model seeds (and, on request, other splits).

One row per model and run goes to ``seeds.csv`` as each run finishes, so Ctrl-C keeps the finished
ones; the pairwise verdicts across runs go to ``comparisons.csv``. Runs execute in parallel through
joblib (``spec.n_jobs``), or on the Dask cluster of ``spec.scheduler``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, f1_score

from ..data import Dataset
from ..errors import HwrError
from ..evaluation import COMPARISON_COLUMNS, SEED_COLUMNS, comparisons_table
from ..models import is_seed_deterministic
from ..models._fitting import fit_with_validation
from ..runs import RunFolder, RunSpec
from ._configure import configure_model
from ._dask import dask_backend

SEEDS_FILE = "seeds.csv"
COMPARISONS_FILE = "comparisons.csv"


def _one_run(name: str, model: BaseEstimator, dataset: Dataset, seed: int, split_seed: int) -> dict:
    """Fit one configured model and score it on the test split: one row of ``seeds.csv``."""
    start = time.perf_counter()
    fit_with_validation(model, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val)
    fit_time = time.perf_counter() - start
    y_true = np.asarray(dataset.y_test).astype(str)
    y_pred = np.asarray(model.predict(dataset.X_test)).astype(str)
    return {"model": name, "seed": seed, "split_seed": split_seed, "accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=list(dataset.classes), zero_division=0)),
            "fit_time_s": fit_time}


def _tasks(spec: RunSpec, dataset: Dataset, estimators: Mapping[str, BaseEstimator]):
    """(name, model, dataset, seed, split_seed) for every run after the first, which the run itself made."""
    for k in range(1, spec.seeds):
        split_seed = spec.data.seed + k if spec.vary == "split" else spec.data.seed
        data = dataclasses.replace(spec.data, seed=split_seed).load() if spec.vary == "split" else dataset
        for name, estimator in estimators.items():
            if spec.vary == "seed" and is_seed_deterministic(estimator):
                continue  # the model seed cannot change it: its one run stands for every seed
            model = configure_model(clone(estimator), seed=spec.seed + k)
            yield name, model, data, spec.seed + k, split_seed


def check_repeats(spec: RunSpec, estimators: Mapping[str, BaseEstimator]) -> None:
    """Refuse repeated runs that could not differ: every model ignores the model seed and the split is fixed."""
    if spec.seeds > 1 and spec.vary == "seed" and all(is_seed_deterministic(m) for m in estimators.values()):
        raise HwrError(f"--seeds {spec.seeds} would change nothing: {', '.join(estimators)} do not depend on the model "
                       "seed; add a model that does (e.g. cnn) or redraw the split too with --vary split")


def design_of(spec: RunSpec) -> str:
    return "split" if spec.vary == "split" else "seeds"


def run_repeats(spec: RunSpec, dataset: Dataset, estimators: Mapping[str, BaseEstimator], first: pd.DataFrame,
                folder: RunFolder, events, client=None) -> dict:
    """Train the remaining ``spec.seeds - 1`` runs of every model, write ``seeds.csv`` and ``comparisons.csv``.

    ``first`` holds the rows of the run's own models (first seed). Returns the ``seeds`` record.
    """
    rows = [dict(r) for r in first.to_dict("records")]
    tasks = list(_tasks(spec, dataset, estimators))
    folder.write_table(SEEDS_FILE, pd.DataFrame(rows, columns=SEED_COLUMNS))
    # On a cluster the run's dataset goes to every worker once; the runs of other splits travel with their task.
    backend = dask_backend(client, scatter=[dataset]) if client is not None else parallel_config(n_jobs=spec.n_jobs or 1)
    with backend:
        for done, row in enumerate(Parallel(return_as="generator_unordered")(delayed(_one_run)(*t) for t in tasks), 1):
            rows.append(row)
            folder.write_table(SEEDS_FILE, pd.DataFrame(rows, columns=SEED_COLUMNS))  # kept on Ctrl-C
            events.on_progress(done, len(tasks), f"training runs: {row['model']} seed {row['seed']}")
    seeds = pd.DataFrame(rows, columns=SEED_COLUMNS).sort_values(["model", "split_seed", "seed"], kind="stable")
    folder.write_table(SEEDS_FILE, seeds)
    counts = dataset.counts().sum()
    test_fraction = float(counts["test"] / counts.sum())
    if len(estimators) > 1:
        comparisons = comparisons_table(seeds, rope=spec.rope, design=design_of(spec),
                                        test_fraction=test_fraction if spec.vary == "split" else None)
    else:  # one model: its spread over seeds, and no pair to judge
        comparisons = pd.DataFrame(columns=COMPARISON_COLUMNS)
    folder.write_table(COMPARISONS_FILE, comparisons)
    deterministic = sorted(set(estimators) - set(seeds.loc[seeds["seed"] != spec.seed, "model"]))
    return {"n_seeds": spec.seeds, "vary": spec.vary, "design": design_of(spec), "rope": spec.rope,
            "test_fraction": test_fraction, "fitted_once": deterministic if spec.vary == "seed" else [],
            "files": {"seeds": SEEDS_FILE, "comparisons": COMPARISONS_FILE}}
