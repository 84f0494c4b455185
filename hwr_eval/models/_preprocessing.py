"""Pixel preprocessing as a scikit-learn transformer, so GridSearchCV can tune it like any parameter."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import affine_transform
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

SCALING_MODES = ("negative", "positive", "binary")


def deskew(images: np.ndarray) -> np.ndarray:
    """Undo the slant of each image: shear it so its ink's principal axis is vertical.

    The classic moment-based deskewing of MNIST (the shear is the covariance of the ink's row and column
    coordinates over the variance of its rows), which helps distance-based classifiers like kNN most.

    Parameters
    ----------
    images : ndarray of shape (n, side, side)
        Images with ink high.

    Returns
    -------
    ndarray of shape (n, side, side), float32
    """
    images = np.asarray(images, dtype=np.float32)
    side = images.shape[1]
    rows, cols = np.mgrid[:side, :side].astype(np.float32)
    total = images.sum(axis=(1, 2))
    total[total == 0] = 1.0  # blank images stay blank
    r0 = (images * rows).sum(axis=(1, 2)) / total
    c0 = (images * cols).sum(axis=(1, 2)) / total
    var_r = (images * (rows - r0[:, None, None]) ** 2).sum(axis=(1, 2)) / total
    cov_rc = (images * (rows - r0[:, None, None]) * (cols - c0[:, None, None])).sum(axis=(1, 2)) / total
    shear = np.divide(cov_rc, var_r, out=np.zeros_like(cov_rc), where=var_r > 0)
    centre = np.array([side / 2.0, side / 2.0])
    out = np.empty_like(images)
    for i, (alpha, mean) in enumerate(zip(shear, np.stack([r0, c0], axis=1))):
        matrix = np.array([[1.0, 0.0], [alpha, 1.0]])
        # Output pixel p samples input pixel matrix @ p + offset: the image centre maps onto the ink's mean.
        out[i] = affine_transform(images[i], matrix, offset=mean - matrix @ centre, order=1)
    return out


class PixelScaler(TransformerMixin, BaseEstimator):
    """Map 8-bit pixel intensities (0-255) to the ranges the study compared, optionally deskewing first.

    Parameters
    ----------
    mode : {"negative", "positive", "binary"}, default="negative"
        ``"negative"`` maps to [-1, 1] (the study's default), ``"positive"`` to [0, 1] and
        ``"binary"`` to {0, 1} by thresholding at half intensity.
    deskew : bool, default=False
        Straighten slanted writing first (see :func:`deskew`); needs square images.

    Attributes
    ----------
    n_features_in_ : int
        Number of pixels per image seen in ``fit``.
    """

    def __init__(self, mode: str = "negative", deskew: bool = False):
        self.mode = mode
        self.deskew = deskew

    def fit(self, X, y=None):
        """Check the input and the parameters; nothing is learned from the data."""
        if self.mode not in SCALING_MODES:
            raise ValueError(f"unknown pixel scaling mode {self.mode!r}; choose one of {', '.join(SCALING_MODES)}")
        X = validate_data(self, X, dtype="numeric", reset=True)
        if self.deskew and round(np.sqrt(X.shape[1])) ** 2 != X.shape[1]:
            raise ValueError(f"deskew needs square images, got {X.shape[1]} pixels per row")
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # always float32: what the networks take
        return tags

    def transform(self, X) -> np.ndarray:
        """Return ``X`` (deskewed if asked, then) scaled to the chosen range as float32."""
        check_is_fitted(self, "n_features_in_")
        X = validate_data(self, X, dtype="numeric", reset=False).astype(np.float32, copy=False)
        if self.deskew:
            side = round(np.sqrt(X.shape[1]))
            X = deskew(X.reshape(-1, side, side)).reshape(len(X), -1)
        if self.mode == "negative":
            return X / np.float32(127.5) - np.float32(1.0)
        if self.mode == "positive":
            return X / np.float32(255.0)
        return (X >= np.float32(127.5)).astype(np.float32)
