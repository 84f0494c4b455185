"""Pixel scaling as a scikit-learn transformer, so GridSearchCV can tune it like any parameter."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

SCALING_MODES = ("negative", "positive", "binary")


class PixelScaler(TransformerMixin, BaseEstimator):
    """Map 8-bit pixel intensities (0-255) to the ranges the study compared.

    Parameters
    ----------
    mode : {"negative", "positive", "binary"}, default="negative"
        ``"negative"`` maps to [-1, 1] (the study's default), ``"positive"`` to [0, 1] and
        ``"binary"`` to {0, 1} by thresholding at half intensity.

    Attributes
    ----------
    n_features_in_ : int
        Number of pixels per image seen in ``fit``.
    """

    def __init__(self, mode: str = "negative"):
        self.mode = mode

    def fit(self, X, y=None):
        """Check the input and the mode; nothing is learned from the data."""
        if self.mode not in SCALING_MODES:
            raise ValueError(f"unknown pixel scaling mode {self.mode!r}; choose one of {', '.join(SCALING_MODES)}")
        validate_data(self, X, dtype="numeric", reset=True)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # always float32: what the networks take
        return tags

    def transform(self, X) -> np.ndarray:
        """Return ``X`` scaled to the chosen range as float32."""
        check_is_fitted(self, "n_features_in_")
        X = validate_data(self, X, dtype="numeric", reset=False).astype(np.float32, copy=False)
        if self.mode == "negative":
            return X / np.float32(127.5) - np.float32(1.0)
        if self.mode == "positive":
            return X / np.float32(255.0)
        return (X >= np.float32(127.5)).astype(np.float32)
