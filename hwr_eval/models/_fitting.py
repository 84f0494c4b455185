"""One rule for validation data: it reaches the estimators that train on it, scaled like the training data.

scikit-learn's own way, metadata routing, works too (``HwrNet`` and ``CascadeClassifier`` accept
``set_fit_request(X_val=True, y_val=True)`` inside ``Pipeline(..., transform_input=["X_val"])``), but it
needs the global ``enable_metadata_routing`` switch, which is off by default; this rule needs nothing.
"""

from __future__ import annotations

import inspect

from sklearn.pipeline import Pipeline

from ..errors import HwrError


def takes_validation(estimator) -> bool:
    """Whether ``estimator`` (or a pipeline's final step) trains on a validation split."""
    if isinstance(estimator, Pipeline):
        final = estimator.steps[-1][1] if estimator.steps else None
        return final not in (None, "passthrough") and takes_validation(final)
    fit = getattr(estimator, "fit", None)
    return fit is not None and "X_val" in inspect.signature(fit).parameters


def fit_with_validation(estimator, X, y, X_val=None, y_val=None, **fit_params):
    """Fit ``estimator``, giving ``X_val`` / ``y_val`` to it when it trains on a validation split.

    The PyTorch models (and pipelines ending in one, whose earlier steps transform ``X_val`` like ``X``)
    stop early on it; scikit-learn's baselines have no use for it and fit on ``X`` alone.

    Returns
    -------
    The fitted estimator.
    """
    if X_val is None and y_val is None:
        return estimator.fit(X, y, **fit_params)
    if X_val is None or y_val is None:
        raise HwrError("give both X_val and y_val, or neither")
    if not takes_validation(estimator):
        return estimator.fit(X, y, **fit_params)
    if isinstance(estimator, Pipeline) and "X_val" not in inspect.signature(estimator.fit).parameters:
        return fit_pipeline_with_validation(estimator, X, y, X_val, y_val, **fit_params)
    return estimator.fit(X, y, X_val=X_val, y_val=y_val, **fit_params)


def fit_pipeline_with_validation(pipeline: Pipeline, X, y, X_val, y_val, **params) -> Pipeline:
    """Fit the steps of ``pipeline`` on ``X``, pass ``X_val`` through the fitted transformers, and hand
    both to the final step (what ``Pipeline(transform_input=["X_val"])`` does under metadata routing)."""
    step_params: dict[str, dict] = {name: {} for name, _ in pipeline.steps}
    for key, value in params.items():
        step, _, param = key.partition("__")
        if step not in step_params or not param:
            raise HwrError(f"fit parameter {key!r} must be '<step>__<param>' with step in {list(step_params)}")
        step_params[step][param] = value
    Xt, Xv = X, X_val
    for name, transformer in pipeline.steps[:-1]:
        if transformer is None or transformer == "passthrough":
            continue
        Xt = transformer.fit_transform(Xt, y, **step_params[name])
        Xv = transformer.transform(Xv)
    name, final = pipeline.steps[-1]
    if final is not None and final != "passthrough":
        fit_with_validation(final, Xt, y, Xv, y_val, **step_params[name])
    return pipeline
