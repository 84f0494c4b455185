"""One rule for validation data: estimators whose ``fit`` takes ``X_val`` get it, the others do not."""

from __future__ import annotations

import inspect


def fit_with_validation(estimator, X, y, X_val=None, y_val=None, **fit_params):
    """Fit ``estimator``, passing ``X_val`` / ``y_val`` only if its ``fit`` accepts them.

    The PyTorch models use the validation split for early stopping; scikit-learn's baselines have no use
    for it and would reject the keywords.

    Returns
    -------
    The fitted estimator (what its ``fit`` returns).
    """
    if X_val is not None and "X_val" in inspect.signature(estimator.fit).parameters:
        return estimator.fit(X, y, X_val=X_val, y_val=y_val, **fit_params)
    return estimator.fit(X, y, **fit_params)
