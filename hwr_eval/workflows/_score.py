"""The one scoring path of compare, grid and cv: fit a model, predict the test split, score and record it."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ..data import Dataset
from ..errors import HwrError
from ..evaluation import aligned_proba, evaluate, reliability_records
from ..models._fitting import fit_with_validation
from ..runs import ModelResult, RunFolder, RunSpec, json_value


def timed_fit(model: BaseEstimator, X, y, X_val=None, y_val=None) -> float:
    """Fit, passing the validation split when the model's ``fit`` takes it; return the seconds taken."""
    start = time.perf_counter()
    fit_with_validation(model, X, y, X_val, y_val)
    return time.perf_counter() - start


def check_dataset(dataset: Dataset, *, min_train: int = 1) -> None:
    """Refuse splits that cannot give an honest score: every class needs training and test images.

    Raises ``HwrError`` naming the class and the split, e.g. when ``per_class`` is so small that
    rounding leaves a class without test images.
    """
    counts = dataset.counts()
    per_class = dataset.provenance.get("per_class")
    hint = f" (per_class={per_class}); use a larger --per-class" if per_class else ""
    for split, need in (("train", min_train), ("test", 1)):
        short = counts[counts[split] < need]
        if len(short):
            label = short.index[0]
            raise HwrError(
                f"class {label!r} has {int(short.loc[label, split])} {split} images, needs at least {need}{hint}"
            )


def model_params(model: BaseEstimator) -> dict[str, Any]:
    """The model's parameters for the record, readable and stable from run to run.

    ``get_params(deep=True)`` without nested estimators, callbacks, private names or object reprs
    (they carry memory addresses); classes are recorded by their dotted name; ``clf__`` is dropped.
    """
    out = {}
    for key, value in model.get_params(deep=True).items():
        parts = key.split("__")
        if key in ("steps", "memory", "verbose", "transform_input") or "callbacks" in parts:
            continue
        if any(part.startswith("_") for part in parts):
            continue
        if isinstance(value, type):
            value = f"{value.__module__}.{value.__qualname__}"
        elif isinstance(value, (list, tuple)):
            if not all(v is None or isinstance(v, (bool, int, float, str, np.generic)) for v in value):
                continue  # step lists and the like
        elif not (value is None or isinstance(value, (bool, int, float, str, np.generic))):
            continue  # estimators, functions, arbitrary objects
        out[key.removeprefix("clf__")] = json_value(value)
    return out


def score_model(name: str, model: BaseEstimator, fit_time: float, dataset: Dataset, spec: RunSpec,
                folder: RunFolder) -> ModelResult:
    """Score a fitted model on the test split and record it in ``folder``; return its result.

    Test metrics with a bootstrap interval (seeded by the models' seed), then abstention, calibration
    and context, each fitted on the validation split only.
    """
    # Imported here: reading run folders (the report) must not load torch.
    from ..models import n_parameters, training_history, weight_maps

    start = time.perf_counter()
    y_pred = np.asarray(model.predict(dataset.X_test)).astype(str)
    predict_time = time.perf_counter() - start
    proba = aligned_proba(model, dataset.X_test, dataset.classes)
    reliability, arrays = reliability_records(
        model, dataset.X_val, dataset.y_val, dataset.y_test, y_pred, proba, dataset.X_test,
        dataset.classes, target_risk=spec.target_risk, context=spec.context)
    scores = evaluate(dataset.y_test, y_pred, proba, list(dataset.classes), n_resamples=spec.n_resamples,
                      seed=spec.seed)
    files = {
        "probabilities": folder.write_array("probabilities", name, proba),
        "per_class": folder.write_table(f"per_class/{name}.csv", pd.DataFrame(scores["per_class"])),
        "weights": folder.write_array("weights", name, weight_maps(model)),
        "model": folder.write_model(name, model) if spec.save_models else None,
        "calibrated_probabilities": folder.write_array("calibrated_probabilities", name,
                                                       arrays.get("calibrated_probabilities")),
    }
    result = ModelResult(params=model_params(model), n_parameters=int(n_parameters(model)), fit_time_s=float(fit_time),
                         predict_time_s=float(predict_time), history=training_history(model), files=files,
                         **scores, **reliability)
    result = ModelResult.from_json(result.to_json(), str(folder.path / "results.json"), name, len(dataset.classes))
    folder.add(name, result, y_pred)
    return result
