"""What tracking logs, as plain values: parameters, tags and metrics from ``results.json``, and the figures.

Nothing here talks to MLflow; :mod:`._mlflow` sends these values.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np

#: Per-epoch history columns logged as metric histories (step = epoch), under these metric names.
HISTORY_METRICS = {"train_loss": "train_loss", "valid_loss": "valid_loss", "train_acc": "train_acc",
                   "valid_acc": "valid_acc", "dur": "epoch_time_s"}
#: Tag naming what a run stands for: "run", "model", "candidate" or "seed".
ROLE_TAG = "hwr.role"
#: Classes up to which the confusion matrix image writes each cell's value (beyond, the cells get too small).
CONFUSION_VALUES_MAX_CLASSES = 12


def flatten(mapping: dict, prefix: str = "") -> dict[str, object]:
    """Nested dicts as dotted keys (``overrides.cnn.lr``); lists stay one value."""
    flat: dict[str, object] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def as_text(value: object) -> str:
    """A parameter or tag value: lists of scalars comma-separated, everything else ``str``."""
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return ",".join(map(str, value))
    return str(value)


def as_number(value: object) -> float | None:
    """A metric value, or None: booleans, strings and missing values are not metrics."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    number = float(value)
    return None if np.isnan(number) else number


def run_params(results: dict) -> dict[str, object]:
    """The parent run's parameters: the run settings, and for a grid its search and best parameters."""
    params = flatten(results.get("settings") or {})
    grid = results.get("grid") or {}
    params.update({f"grid.{key}": grid[key] for key in ("model", "cv", "scoring", "n_candidates") if key in grid})
    params.update({f"grid.param_grid.{k}": v for k, v in (grid.get("param_grid") or {}).items()})
    # Like scikit-learn autologging's "best_<param>"; names as in the model runs (no "clf__" prefix).
    params.update({f"best_{k.removeprefix('clf__')}": v for k, v in (grid.get("best_params") or {}).items()})
    return params


def run_metrics(results: dict) -> dict[str, object]:
    """The parent run's metrics: a grid's best cross-validation score."""
    grid = results.get("grid") or {}
    return {"best_cv_score": grid.get("best_score")} if grid else {}


def run_tags(results: dict, path: Path | None = None) -> dict[str, object]:
    """Data provenance (files and checksums) and environment (device, packages) as tags; ``path``: the run folder."""
    data, environment = results.get("data") or {}, results.get("environment") or {}
    tags: dict[str, object] = {
        ROLE_TAG: "run", "hwr.kind": results.get("kind"), "hwr.status": results.get("status"),
        "hwr.created": results.get("created"), "hwr.command": results.get("command"),
        "hwr.run_dir": str(Path(path).resolve()) if path is not None else None, "hwr.schema_version": results.get("schema_version"),
        "data.synthetic": data.get("synthetic"), "data.data_dir": data.get("data_dir"),
        "data.classes": "".join(data.get("classes") or []),
        "env.python": environment.get("python"), "env.platform": environment.get("platform"),
        "env.device_name": environment.get("device_name"),
    }
    for split, counts in (data.get("counts") or {}).items():
        tags[f"data.n_{split}"] = sum(counts.values())
    for i, source in enumerate(data.get("sources") or []):
        for key in ("name", "path", "sha256", "n_samples"):
            tags[f"data.sources.{i}.{key}"] = source.get(key)
    for group, choice in (data.get("source_choice") or {}).items():
        tags[f"data.source_choice.{group}"] = choice.get("source")
    for package, version in (environment.get("packages") or {}).items():
        tags[f"env.packages.{package}"] = version
    return {key: value for key, value in tags.items() if value is not None}


def model_metrics(record: dict) -> dict[str, object]:
    """Final metrics of one model: test metrics, times, abstention (AURC, coverage), calibration (ECE)."""
    metrics = dict(record.get("metrics") or {})
    interval = metrics.pop("accuracy_ci95", None)
    if isinstance(interval, list) and len(interval) == 2:
        metrics["accuracy_ci95_low"], metrics["accuracy_ci95_high"] = interval
    for key in ("fit_time_s", "predict_time_s", "n_parameters"):
        metrics[key] = record.get(key)
    selective = record.get("selective") or {}
    if selective.get("available"):
        for key in ("aurc", "eaurc", "coverage_at_target_risk", "threshold"):
            metrics[key] = selective.get(key)
        metrics["selective_test_coverage"] = (selective.get("test") or {}).get("coverage")
        metrics["selective_test_risk"] = (selective.get("test") or {}).get("risk")
    calibration = record.get("calibration") or {}
    if calibration.get("available"):
        before, after = calibration.get("before") or {}, calibration.get("after") or {}
        metrics["ece"] = after.get("ece", before.get("ece"))
        metrics["ece_uncalibrated"] = before.get("ece")
        metrics["temperature"] = calibration.get("temperature")
    context = record.get("context") or {}
    if context.get("available"):
        metrics["accuracy_with_context"] = context.get("accuracy_with_context")
    return metrics


def history_steps(history: list[dict] | None) -> list[tuple[int, dict[str, object]]]:
    """``(epoch, {metric: value})`` per row of a network's training history (empty for other models)."""
    return [(int(row["epoch"]), {name: row.get(column) for column, name in HISTORY_METRICS.items()})
            for row in history or []]


def candidate_rows(cv_results, model: str) -> list[tuple[dict[str, object], dict[str, object]]]:
    """``(params, metrics)`` per grid candidate: its parameters and every numeric ``cv_results_`` column."""
    param_columns = [c for c in cv_results.columns if c.startswith("param_")]
    score_columns = [c for c in cv_results.columns
                     if c not in param_columns and c != "params" and cv_results[c].dtype.kind in "iuf"]
    return [({c.removeprefix("param_").removeprefix("clf__"): row[c] for c in param_columns},
             {c: row[c] for c in score_columns}) for row in cv_results.to_dict("records")]


#: Packages a logged model needs to load and predict (its pickle references them); pinned to the run's versions.
MODEL_PACKAGES = ("hwr-eval", "scikit-learn", "torch", "skorch", "numpy", "scipy", "cloudpickle")


def pip_requirements(results: dict) -> list[str]:
    """The versions of :data:`MODEL_PACKAGES` the run used, without local labels like ``+cpu``.

    Given explicitly because MLflow otherwise infers them by reloading the model in a subprocess
    (seconds per model), and limited to what the model needs because MLflow checks each one against
    the installed packages.
    """
    packages = dict((results.get("environment") or {}).get("packages") or {})
    packages.setdefault("cloudpickle", importlib.metadata.version("cloudpickle"))
    return [f"{name}=={str(packages[name]).split('+')[0]}" for name in MODEL_PACKAGES if packages.get(name)]


def confusion_figure(cm, classes: list[str], title: str):
    """Row-normalised confusion matrix (scikit-learn's display), light enough to render in well under a second."""
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = np.asarray(cm, dtype=float)
    totals = cm.sum(axis=1, keepdims=True)
    normalised = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    figure = Figure(figsize=(8, 7))
    ax = figure.subplots()
    ConfusionMatrixDisplay(normalised, display_labels=list(classes)).plot(
        ax=ax, cmap="Blues", include_values=len(classes) <= CONFUSION_VALUES_MAX_CLASSES, values_format=".2f")
    ax.tick_params(labelsize=7 if len(classes) > 20 else 10)
    ax.set(title=title, xlabel="predicted class", ylabel="true class (rows sum to 1)")
    return figure
