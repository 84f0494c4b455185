"""``run_cv``: stratified k-fold cross-validation of several models on the training and validation splits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold, cross_validate

from ..data import Dataset
from ..errors import HwrError
from ..runs import RunSpec
from ._configure import build_spec_models, check_models_for_data, spec_from_call
from ._dask import dask_backend, dask_client
from ._events import RunEvents, events_from
from ._interrupt import _CtrlC, _SigintWatch

CV_SCORING = ("accuracy", "balanced_accuracy", "f1_macro")


def run_cv(
    spec: RunSpec | Sequence[str] | Mapping[str, BaseEstimator],
    dataset: Dataset | None = None,
    *,
    folds: int = 5,
    scoring: Sequence[str] = CV_SCORING,
    n_jobs: int | None = None,
    events: RunEvents | None = None,
    **options,
) -> pd.DataFrame:
    """Stratified k-fold ``cross_validate`` of each model on the training and validation splits together.

    The test split stays untouched, so the test-split options of a spec (abstention, context,
    robustness, the run folder) do not apply here. Returns one row per model with ``<metric>_mean``
    and ``<metric>_std`` for every scorer, plus fit and score times. With ``spec.scheduler`` the folds
    run on a Dask cluster, and the data go to the workers once for all models.

    ``spec``, ``dataset``, ``events`` and keyword ``options`` are as in :func:`run_compare`
    (``on_model_start=`` is accepted too).

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, even when a model's ``fit`` swallowed it: no mean over half-trained folds is returned.
    """
    events = events_from(events, {"on_model_start": options.pop("on_model_start", None)})
    spec = spec_from_call("cv", spec, None, options)
    estimators = build_spec_models(spec)
    if dataset is None:
        dataset = spec.data.load()
    events.on_data(dataset)
    X = np.concatenate([dataset.X_train, dataset.X_val])
    y = np.concatenate([np.asarray(dataset.y_train), np.asarray(dataset.y_val)])
    n_min = int(pd.Series(y).value_counts().min())
    if folds < 2 or folds > n_min:
        raise HwrError(f"--folds {folds}: needs 2 to {n_min} folds (the rarest class has {n_min} images)")
    check_models_for_data(spec, estimators, len(y) * (folds - 1) // folds, len(dataset.classes))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=spec.seed)
    rows = {}
    with dask_client(spec.scheduler) as client, dask_backend(client, scatter=[X, y]):
        for i, (name, model) in enumerate(estimators.items()):
            events.on_model_start(name, i, len(estimators))
            # skorch ends fit early on Ctrl-C and returns normally; the watch notices, so the scores of
            # half-trained folds are never averaged and reported.
            try:
                with _SigintWatch() as ctrl_c:
                    scores = cross_validate(
                        model, X, y, cv=splitter, scoring=list(scoring), n_jobs=n_jobs, error_score="raise"
                    )
            except _CtrlC:
                raise KeyboardInterrupt from None
            if ctrl_c.fired:
                raise KeyboardInterrupt
            row = {}
            for metric in [*scoring, "fit_time", "score_time"]:
                values = scores[f"test_{metric}" if metric in scoring else metric]
                row[f"{metric}_mean"] = float(np.mean(values))
                row[f"{metric}_std"] = float(np.std(values))
            rows[name] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "model"
    return frame
