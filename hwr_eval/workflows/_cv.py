"""``run_cv``: stratified k-fold cross-validation of several models on the training and validation splits."""

from __future__ import annotations

import datetime as _dt
import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold, cross_validate

from ..data import Dataset
from ..errors import HwrError
from ..evaluation import comparisons_table
from ..runs import RunSpec, json_value
from ._configure import build_spec_models, check_models_for_data, default_command, run_settings, spec_from_call
from ._dask import dask_backend, dask_client
from ._events import RunEvents, events_from
from ._interrupt import Terminated, _CtrlC, _SigintWatch
from ._score import model_params

CV_SCORING = ("accuracy", "balanced_accuracy", "f1_macro")
#: Run settings of the test split, which cross-validation leaves untouched: not recorded for a cv.
_TEST_SPLIT_SETTINGS = ("save_models", "target_risk", "context", "robustness", "seeds", "vary", "n_resamples")


def run_cv(
    spec: RunSpec | Sequence[str] | Mapping[str, BaseEstimator],
    dataset: Dataset | None = None,
    *,
    folds: int = 5,
    repeats: int = 1,
    scoring: Sequence[str] = CV_SCORING,
    n_jobs: int | None = None,
    events: RunEvents | None = None,
    command: str | None = None,
    **options,
) -> pd.DataFrame:
    """Stratified k-fold ``cross_validate`` of each model on the training and validation splits together.

    The test split stays untouched, so the test-split options of a spec (abstention, context,
    robustness, the run folder) do not apply here. Returns one row per model with ``<metric>_mean``
    and ``<metric>_std`` for every scorer, plus fit and score times. With ``spec.scheduler`` the folds
    run on a Dask cluster, and the data go to the workers once for all models.

    With ``repeats`` > 1 the k-fold split is repeated with other shuffles (scikit-learn's
    ``RepeatedStratifiedKFold``) and every pair of models is judged across all folds with the
    Nadeau-Bengio correction (``rho = 1 / folds``): ``frame.attrs["runs"]`` holds one row per model and
    fold (the ``seeds.csv`` columns plus ``fold``; ``seed`` is the repeat) and ``frame.attrs["comparisons"]``
    the verdicts (:func:`~hwr_eval.evaluation.comparisons_table`, design ``"cv"``).

    With ``spec.track`` the cross-validation is logged to MLflow (:func:`hwr_eval.tracking.track_cv`: a
    parent run, a nested run per model with its scores per fold); the tracking target is checked before
    any training, and a server that fails later costs the tracking only, with a warning.

    ``spec``, ``dataset``, ``events``, ``command`` and keyword ``options`` are as in :func:`run_compare`
    (``on_model_start=`` is accepted too).

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, even when a model's ``fit`` swallowed it: no mean over half-trained folds is returned.
    Terminated
        On SIGTERM under the CLI, likewise.
    """
    events = events_from(events, {"on_model_start": options.pop("on_model_start", None)})
    spec = spec_from_call("cv", spec, None, options)
    estimators = build_spec_models(spec)
    if spec.track:
        from ..tracking import check_tracking

        check_tracking(spec.tracking_uri, spec.experiment)  # mlflow installed, the server answers
    if dataset is None:
        dataset = spec.data.load()
    events.on_data(dataset)
    X = np.concatenate([dataset.X_train, dataset.X_val])
    y = np.concatenate([np.asarray(dataset.y_train), np.asarray(dataset.y_val)])
    n_min = int(pd.Series(y).value_counts().min())
    if folds < 2 or folds > n_min:
        raise HwrError(f"--folds {folds}: needs 2 to {n_min} folds (the rarest class has {n_min} images)")
    check_models_for_data(spec, estimators, len(y) * (folds - 1) // folds, len(dataset.classes))
    if isinstance(repeats, bool) or not isinstance(repeats, numbers.Integral) or repeats < 1:
        raise HwrError(f"--repeats {repeats!r}: give a positive number of repetitions of the k-fold split")
    splitter = (StratifiedKFold(n_splits=folds, shuffle=True, random_state=spec.seed) if repeats == 1 else
                RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=spec.seed))
    rows, folds_rows = {}, []
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
            except Terminated:
                raise  # the CLI reports a scheduler's stop as such (exit 143)
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
            folds_rows += [{"model": name, "repeat": k // folds, "fold": k % folds,
                            **{metric: float(scores[f"test_{metric}"][k]) for metric in scoring},
                            "fit_time": float(scores["fit_time"][k]), "score_time": float(scores["score_time"][k])}
                           for k in range(len(scores["fit_time"]))]
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "model"
    fold_scores = pd.DataFrame(folds_rows)
    if repeats > 1:
        # The seeds.csv columns plus the fold; "seed" is the repeat.
        runs = pd.DataFrame({"model": fold_scores["model"], "seed": fold_scores["repeat"], "split_seed": fold_scores["repeat"],
                             "fold": fold_scores["fold"], "accuracy": fold_scores.get("accuracy", np.nan),
                             "macro_f1": fold_scores.get("f1_macro", np.nan), "fit_time_s": fold_scores["fit_time"]})
        frame.attrs["runs"] = runs
        frame.attrs["comparisons"] = (comparisons_table(runs, design="cv", n_folds=folds, rope=spec.rope)
                                      if len(rows) > 1 else None)
    if spec.track:
        _track(spec, dataset, estimators, frame, fold_scores, command or default_command("cv", spec),
               folds=folds, repeats=repeats, scoring=list(scoring), n_jobs=n_jobs)
    return frame


def _track(spec: RunSpec, dataset: Dataset, estimators: Mapping[str, BaseEstimator], frame: pd.DataFrame,
           fold_scores: pd.DataFrame, command: str, **cv_settings) -> str | None:
    """Log the finished cross-validation to MLflow (a failing server: a warning, and None)."""
    from ..runs import data_record, environment, new_run_dir
    from ..tracking import TrackedCv, track_cv

    settings = {key: value for key, value in run_settings(spec, dataset).items() if key not in _TEST_SPLIT_SETTINGS}
    settings["cv"] = cv_settings
    if cv_settings["repeats"] > 1:
        settings["rope"] = spec.rope  # of the comparisons across folds
    results = {"kind": "cv", "status": "complete", "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "command": command, "settings": json_value(settings), "data": data_record(dataset),
               "environment": environment(spec.device)}
    tracked = TrackedCv(name=new_run_dir("cv").name, results=results, table=frame, folds=fold_scores,
                        params={name: model_params(model) for name, model in estimators.items()},
                        comparisons=frame.attrs.get("comparisons"))
    return track_cv(tracked, spec.tracking_uri, experiment=spec.experiment)
