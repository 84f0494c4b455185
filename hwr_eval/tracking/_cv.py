"""Experiment tracking of a cross-validation (``hwr-eval cv``), which writes a table rather than a run folder.

Layout in MLflow (one experiment; children carry MLflow's ``mlflow.parentRunId`` tag):

- parent run: the settings as parameters (``models``, ``seed``, ``overrides.<model>.<param>``, ...,
  ``cv.folds``, ``cv.repeats``, ``cv.scoring``), data provenance and the environment as tags (as for
  a run folder), the table ``cv.csv``, the per-fold scores ``cv_folds.csv`` and, with repeats,
  ``comparisons.csv`` as artifacts;
- one nested run per model: every resolved model parameter, ``<score>_mean`` and ``<score>_std`` of
  each score (as in the table) and each score per fold as the metric history ``fold_<score>``
  (step = fold index, counting on across repeats).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pandas as pd

from ._content import flatten, run_tags
from ._mlflow import _child, _experiment_id, _log_batch, _metric_list, _send

#: Prefix of the per-fold metric histories of a model's run.
FOLD_PREFIX = "fold_"
#: Columns of :attr:`TrackedCv.folds` that say which fold a row is, not how it scored.
FOLD_KEYS = ("model", "repeat", "fold")


@dataclass(frozen=True)
class TrackedCv:
    """What tracking logs of a cross-validation.

    Attributes
    ----------
    name : str
        The parent run's name (``cv-<time>``).
    results : dict
        The run's description in ``results.json``'s layout: ``kind`` (``"cv"``), ``created``,
        ``command``, ``settings`` (logged as parameters), ``data`` and ``environment`` (logged as tags).
    params : dict of str to dict
        Every resolved parameter of each model, by model name (in run order).
    table : DataFrame
        One row per model (index ``model``): ``<score>_mean`` and ``<score>_std`` of every score.
    folds : DataFrame
        One row per model and fold: ``model``, ``repeat``, ``fold`` and one column per score.
    comparisons : DataFrame, optional
        Each pair of models judged across the folds (with repeats).
    """

    name: str
    results: dict
    params: dict[str, dict]
    table: pd.DataFrame
    folds: pd.DataFrame
    comparisons: pd.DataFrame | None = None


def track_cv(cv: TrackedCv, uri: str | None = None, *, experiment: str | None = None) -> str | None:
    """Log a finished cross-validation to MLflow (see the module docstring for the layout).

    Parameters
    ----------
    cv : TrackedCv
        What to log.
    uri, experiment : str, optional
        As for :func:`check_tracking` (call it before training so that a bad server fails early).

    Returns
    -------
    str or None
        The parent run's id; None when the tracking server failed during logging: a
        :class:`TrackingWarning` names the server, and the cross-validation's results are unaffected.

    Raises
    ------
    HwrError
        When MLflow is not installed.
    """
    return _send(uri, experiment, lambda mlflow, client, name: _log_cv(client, cv, name),
                 "the cross-validation's results are unaffected")


def _log_cv(client, cv: TrackedCv, experiment: str) -> str:
    experiment_id = _experiment_id(client, experiment)
    parent_id = client.create_run(experiment_id, run_name=cv.name).info.run_id
    try:
        _log_batch(client, parent_id, params=flatten(cv.results.get("settings") or {}), tags=run_tags(cv.results))
        client.log_text(parent_id, cv.table.to_csv(), "cv.csv")
        client.log_text(parent_id, cv.folds.to_csv(index=False), "cv_folds.csv")
        if cv.comparisons is not None:
            client.log_text(parent_id, cv.comparisons.to_csv(index=False), "comparisons.csv")
        scores = [c for c in cv.folds.columns if c not in FOLD_KEYS]
        for name, params in cv.params.items():
            run_id = _child(client, experiment_id, parent_id, name, "model", name)
            metrics = _metric_list(cv.table.loc[name].to_dict())
            for step, row in enumerate(cv.folds[cv.folds["model"] == name].to_dict("records")):
                metrics += _metric_list({FOLD_PREFIX + score: row[score] for score in scores}, step=step)
            _log_batch(client, run_id, params=params, metrics=metrics)
            client.set_terminated(run_id)
    except BaseException:
        with contextlib.suppress(Exception):  # the server may be what failed
            client.set_terminated(parent_id, "FAILED")
        raise
    client.set_terminated(parent_id)
    return parent_id

