"""Experiment tracking in MLflow: log a finished run folder as one parent run with nested runs.

Layout in MLflow (all runs in one experiment; children carry MLflow's ``mlflow.parentRunId`` tag):

- parent run (named after the run folder): the run settings as parameters, data provenance and the
  environment as tags, ``report.html``, ``results.json`` (and ``cv_results.csv``, ``seeds.csv``) as artifacts;
- one nested run per model: every resolved model parameter, the final metrics, the per-epoch training
  curves of the networks as metric histories (step = epoch), the confusion matrix image and, when the
  run saved it, the fitted model in MLflow's scikit-learn flavour;
- grid runs: one nested run per candidate (its parameters and cross-validation scores), like MLflow's
  scikit-learn autologging does with ``cv_results_``;
- repeated runs (``seeds.csv``): one run per seed, nested in its model's run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from ..errors import HwrError
from ._content import (
    ROLE_TAG,
    as_number,
    as_text,
    candidate_rows,
    confusion_figure,
    history_steps,
    model_metrics,
    pip_requirements,
    run_metrics,
    run_params,
    run_tags,
)
from ._source import TrackedRun, read_run

#: Experiment used when none is named.
DEFAULT_EXPERIMENT = "hwr-eval"
#: SQLite store (in the working directory) used when neither an argument nor MLFLOW_TRACKING_URI names one:
#: MLflow's own default, so that a plain ``mlflow ui`` started in the same folder shows the runs.
DEFAULT_STORE = "mlflow.db"
#: Seconds the reachability check waits for the server's /health answer.
HEALTH_TIMEOUT_S = 5
#: Test images stored with each logged model as its input example.
INPUT_EXAMPLE_ROWS = 5
#: While logging, a server that went away costs seconds rather than MLflow's default minutes of retries,
#: and MLflow does not fetch each finished run again to print its address (one line per run, seed and
#: grid candidate; the CLI prints where the run went once). Values the user set in the environment win.
REQUEST_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
# MLflow's batch limits (mlflow.utils.validation); repeated here because that module is private.
_MAX_PARAMS_TAGS, _MAX_METRICS, _MAX_PARAM_LENGTH, _MAX_TAG_LENGTH = 100, 1000, 6000, 8000

_log = logging.getLogger(__name__)


class TrackingWarning(UserWarning):
    """Tracking failed part-way (e.g. the server went away); the run folder itself is unaffected."""


class TrackingTarget(NamedTuple):
    """Where runs are tracked, as resolved by :func:`check_tracking`."""

    uri: str
    """Tracking URI (``http://host:5000``, ``sqlite:////abs/path/mlflow.db``, ...)."""
    experiment: str
    """Experiment name."""
    source: str
    """Where the URI came from: ``"argument"``, ``"MLFLOW_TRACKING_URI"`` or ``"default"``."""
    ui: str
    """How to look at the runs: the server's address, or the ``mlflow ui`` command for a local store."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _import_mlflow():
    try:
        import mlflow
        import mlflow.sklearn  # noqa: F401  (the flavour used for the models)
    except ImportError as exc:
        raise HwrError(f"experiment tracking needs MLflow, which is not installed ({_one_line(exc)}): "
                       "pip install 'hwr-eval[mlflow]'") from None
    return mlflow


def _resolve(uri: str | None, experiment: str | None) -> TrackingTarget:
    if experiment is not None and (not isinstance(experiment, str) or not experiment.strip()):
        raise HwrError(f"experiment name {experiment!r}: give a non-empty name")
    experiment = (experiment or DEFAULT_EXPERIMENT).strip()
    if uri:
        source = "argument"
    elif os.environ.get("MLFLOW_TRACKING_URI"):
        uri, source = os.environ["MLFLOW_TRACKING_URI"], "MLFLOW_TRACKING_URI"
    else:
        # An absolute path, so that the printed `mlflow ui` command works from any folder.
        uri, source = f"sqlite:///{Path.cwd().resolve() / DEFAULT_STORE}", "default"
    uri = str(uri)
    scheme = urlsplit(uri).scheme
    ui = uri if scheme in ("http", "https") else f"mlflow ui --backend-store-uri {uri}"
    return TrackingTarget(uri, experiment, source, ui)


def _check_store(uri: str) -> None:
    """Reachability without MLflow's retries: /health of a server, the folder of a local store."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=HEALTH_TIMEOUT_S) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:  # URLError, refused, timeout, a malformed address
            reason = getattr(exc, "reason", exc)
            raise HwrError(f"tracking server at {uri} is unreachable: {_one_line(reason)}") from None
        if status != 200:
            raise HwrError(f"tracking server at {uri} is unreachable: /health answered HTTP {status}")
    elif parts.scheme == "sqlite":
        database = Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None
        if database is not None and database.name and not database.resolve().parent.is_dir():
            raise HwrError(f"tracking store {uri}: folder {database.resolve().parent} does not exist")


@contextlib.contextmanager
def _tracking_context(uri: str) -> Iterator[None]:
    """MLflow's fluent calls (model logging) go to ``uri``; quick request settings; no pickle warning."""
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    saved = {name: os.environ.get(name) for name in REQUEST_SETTINGS}
    for name, value in REQUEST_SETTINGS.items():
        os.environ.setdefault(name, value)
    sklearn_logger = logging.getLogger("mlflow.sklearn")
    level = sklearn_logger.level
    # The saved models are pickles already (joblib); MLflow's warning about pickled models adds nothing.
    sklearn_logger.setLevel(logging.ERROR)
    try:
        with _use_tracking_uri(uri):
            yield
    finally:
        sklearn_logger.setLevel(level)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def resolve_tracking(uri: str | None = None, experiment: str | None = None) -> TrackingTarget:
    """Where runs are tracked, as :func:`check_tracking` resolves it, without asking the server anything."""
    return _resolve(uri, experiment)


def check_tracking(uri: str | None = None, experiment: str | None = None) -> TrackingTarget:
    """Resolve where to track and check it works, before any training starts.

    Parameters
    ----------
    uri : str, optional
        Tracking URI. Default: ``$MLFLOW_TRACKING_URI``, else the SQLite store ``mlflow.db`` in the
        working directory (:data:`DEFAULT_STORE`).
    experiment : str, optional
        Experiment name (default :data:`DEFAULT_EXPERIMENT`); created on first use.

    Returns
    -------
    TrackingTarget
        ``(uri, experiment, source, ui)``.

    Raises
    ------
    HwrError
        One line when MLflow is not installed, the server does not answer within a few seconds, or the
        store cannot be opened.
    """
    target = _resolve(uri, experiment)
    _import_mlflow()
    _check_store(target.uri)
    from mlflow.tracking import MlflowClient

    # One real request through MLflow's client: catches what /health cannot (a store that cannot be opened).
    with _tracking_context(target.uri):
        try:
            found = MlflowClient(target.uri).get_experiment_by_name(target.experiment)
        except Exception as exc:  # MLflow raises many types for an unusable store; all mean the same here
            where = "tracking server at" if target.uri.startswith(("http:", "https:")) else "tracking store"
            raise HwrError(f"{where} {target.uri} is unreachable: {_one_line(exc)}") from None
    if found is not None and found.lifecycle_stage == "deleted":
        raise HwrError(f"experiment {target.experiment!r} at {target.uri} is deleted: restore it in MLflow or name another")
    return target


def track_run(run_dir: str | os.PathLike, uri: str | None = None, *, experiment: str | None = None) -> str | None:
    """Log a finished run folder to MLflow (see the module docstring for the layout).

    Parameters
    ----------
    run_dir : path
        Folder written by ``hwr-eval compare`` or ``hwr-eval grid``; only read, never written.
    uri, experiment : str, optional
        As for :func:`check_tracking` (call it before training so that a bad server fails early).

    Returns
    -------
    str or None
        The parent run's id; None when the tracking server failed during logging: a
        :class:`TrackingWarning` names the server, and the run folder is untouched.

    Raises
    ------
    HwrError
        When the run folder cannot be read, or MLflow is not installed.
    """
    run = read_run(run_dir)
    return _send(uri, experiment, lambda mlflow, client, name: _log_run(mlflow, client, run, name),
                 f"the run folder {run.path} is complete and unchanged: log it later with `hwr-eval track {run.path}`")


def _send(uri: str | None, experiment: str | None, log, unaffected: str) -> str | None:
    """``log(mlflow, client, experiment name) -> parent run id`` against the target; on failure a warning
    saying what is ``unaffected``, and None."""
    target = _resolve(uri, experiment)
    mlflow = _import_mlflow()
    start = time.perf_counter()
    try:
        with _tracking_context(target.uri):
            run_id = log(mlflow, mlflow.tracking.MlflowClient(target.uri), target.experiment)
    except Exception as exc:  # noqa: BLE001  (whatever went wrong, tracking must not cost the run)
        warnings.warn(f"tracking to {target.uri} failed ({type(exc).__name__}: {_one_line(exc)}); {unaffected}",
                      TrackingWarning, stacklevel=3)
        return None
    _log.info("tracked run %s in %.1f s", run_id, time.perf_counter() - start)
    return run_id


# --------------------------------------------------------------------------------------------------
# Sending it
# --------------------------------------------------------------------------------------------------


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _metric_list(values: dict[str, object], step: int = 0, model_id: str | None = None) -> list:
    """Metric entities of the numeric ``values``; with ``model_id`` also linked to that logged model."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(key, number, now, step, model_id=model_id)
            for key, value in values.items() if (number := as_number(value)) is not None]


def _log_batch(client, run_id: str, params: dict | None = None, metrics: list | None = None, tags: dict | None = None) -> None:
    """``log_batch`` within MLflow's per-call limits; values cut to MLflow's maximum lengths."""
    from mlflow.entities import Param, RunTag

    param_list = [Param(k, as_text(v)[:_MAX_PARAM_LENGTH]) for k, v in (params or {}).items()]
    tag_list = [RunTag(k, as_text(v)[:_MAX_TAG_LENGTH]) for k, v in (tags or {}).items()]
    for chunk in _chunks(param_list, _MAX_PARAMS_TAGS):
        client.log_batch(run_id, params=chunk)
    for chunk in _chunks(tag_list, _MAX_PARAMS_TAGS):
        client.log_batch(run_id, tags=chunk)
    for chunk in _chunks(metrics or [], _MAX_METRICS):
        client.log_batch(run_id, metrics=chunk)


def _experiment_id(client, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # created meanwhile by another process: use that one
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _child(client, experiment_id: str, parent_id: str, name: str, role: str, model: str) -> str:
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    tags = {MLFLOW_PARENT_RUN_ID: parent_id, ROLE_TAG: role, "hwr.model": model}
    return client.create_run(experiment_id, run_name=name, tags=tags).info.run_id


def _log_model(mlflow, run_id: str, model_path: Path, run: TrackedRun) -> str:
    """The fitted model in MLflow's scikit-learn flavour, with a signature and an input example; its model id."""
    from mlflow.models import infer_signature

    from ..runs import load_model

    model = load_model(model_path)
    example = run.X_test[:INPUT_EXAMPLE_ROWS]
    signature = infer_signature(example, model.predict(example))
    # log_model logs to the active run: resume the model's run for it (nested, in case the caller has one open),
    # before that run has metrics: MLflow would fetch every metric's history to link it to the model
    # (_log_model_run links them as it logs them).
    with mlflow.start_run(run_id=run_id, nested=True):
        info = mlflow.sklearn.log_model(model, name="model", signature=signature, input_example=example,
                                        serialization_format="cloudpickle", pip_requirements=pip_requirements(run.results))
    return info.model_id


def _log_model_run(mlflow, client, experiment_id: str, parent_id: str, run: TrackedRun, name: str) -> str:
    record = run.results["models"][name]
    run_id = _child(client, experiment_id, parent_id, name, "model", name)
    _log_batch(client, run_id, params=record.get("params") or {})  # first: the logged model records them too
    model_id = _log_model(mlflow, run_id, model_path, run) if (model_path := run.model_file(name)) is not None else None
    # The final metrics (step 0) belong to the logged model too, as MLflow links them; the curves to the run only.
    metrics = _metric_list(model_metrics(record), model_id=model_id)
    for epoch, values in history_steps(record.get("history")):
        metrics += _metric_list(values, step=epoch)
    _log_batch(client, run_id, metrics=metrics)
    figure = confusion_figure(record["confusion_matrix"], run.results["data"]["classes"], f"{name}: confusion matrix (test split)")
    client.log_figure(run_id, figure, "confusion_matrix.png")
    if (per_class := run.per_class_file(name)) is not None:
        client.log_artifact(run_id, str(per_class))
    client.set_terminated(run_id)
    return run_id


def _log_run(mlflow, client, run: TrackedRun, experiment: str) -> str:
    results = run.results
    experiment_id = _experiment_id(client, experiment)
    parent_id = client.create_run(experiment_id, run_name=run.path.name).info.run_id
    try:
        _log_batch(client, parent_id, params=run_params(results), metrics=_metric_list(run_metrics(results)),
                   tags=run_tags(results, run.path))
        for path in run.artifacts():
            client.log_artifact(parent_id, str(path))
        model_runs = {name: _log_model_run(mlflow, client, experiment_id, parent_id, run, name) for name in results["models"]}
        if run.cv_results is not None:  # grid: one run per candidate, like scikit-learn autologging
            model = (results.get("grid") or {}).get("model", "candidate")
            for i, (params, scores) in enumerate(candidate_rows(run.cv_results, model)):
                run_id = _child(client, experiment_id, parent_id, f"{model}-candidate-{i}", "candidate", model)
                _log_batch(client, run_id, params=params, metrics=_metric_list(scores))
                client.set_terminated(run_id)
        for row in run.seeds.to_dict("records") if run.seeds is not None else []:
            # Nested in its model's run; in the parent run for a model without one.
            model = str(row["model"])
            run_id = _child(client, experiment_id, model_runs.get(model, parent_id), f"{model}-seed-{row['seed']}", "seed", model)
            params = {key: row[key] for key in ("model", "seed", "split_seed")}
            _log_batch(client, run_id, params=params, metrics=_metric_list({k: v for k, v in row.items() if k not in params}))
            client.set_terminated(run_id)
    except BaseException:
        with contextlib.suppress(Exception):  # the server may be what failed
            client.set_terminated(parent_id, "FAILED")
        raise
    client.set_terminated(parent_id)
    return parent_id
