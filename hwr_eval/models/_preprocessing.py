"""Pixel preprocessing as a scikit-learn transformer, so GridSearchCV can tune it like any parameter."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.ndimage import affine_transform
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import ValidatedParamsMixin
from ..errors import HwrError

SCALING_MODES = ("negative", "positive", "binary")
#: An image side whose pixels have a median above this fraction of the pixel range is light paper: uniform
#: noise (median 0.5) and the corruption suite's brightness and fog (at most 0.5) stay below it, paper
#: scanned dark-on-light (0.8-1.0) is above.
LIGHT_BORDER = 2 / 3


DESKEW_MODES = ("shear", "rotate")


def deskew(images: np.ndarray, how: str = "shear") -> np.ndarray:
    """Straighten each image by its ink's second moments, and move the ink's centre to the image centre.

    ``"shear"`` is the classic moment-based deskewing of MNIST (the shear is the covariance of the ink's
    row and column coordinates over the variance of its rows), which helps distance-based classifiers
    like kNN most. ``"rotate"`` turns the image instead, by the angle (at most 45 degrees either way) that
    brings the ink's principal axis to the nearer of upright and level: a turned character comes back
    as it was written, which a shear cannot do.

    Parameters
    ----------
    images : ndarray of shape (n, side, side)
        Images with ink high.
    how : {"shear", "rotate"}, default="shear"
        Straighten by a shear or by a rotation.

    Returns
    -------
    ndarray of shape (n, side, side), float32
    """
    if how not in DESKEW_MODES:
        raise HwrError(f"deskew how must be one of {', '.join(DESKEW_MODES)}, got {how!r}")
    images = np.asarray(images, dtype=np.float32)
    side = images.shape[1]
    rows, cols = np.mgrid[:side, :side].astype(np.float32)
    total = images.sum(axis=(1, 2))
    total[total == 0] = 1.0  # blank images stay blank
    r0 = (images * rows).sum(axis=(1, 2)) / total
    c0 = (images * cols).sum(axis=(1, 2)) / total
    dr, dc = rows - r0[:, None, None], cols - c0[:, None, None]
    var_r = (images * dr**2).sum(axis=(1, 2)) / total
    var_c = (images * dc**2).sum(axis=(1, 2)) / total
    cov_rc = (images * dr * dc).sum(axis=(1, 2)) / total
    if how == "shear":
        shear = np.divide(cov_rc, var_r, out=np.zeros_like(cov_rc), where=var_r > 0)
        matrices = np.stack([np.stack([np.ones_like(shear), np.zeros_like(shear)], 1), np.stack([shear, np.ones_like(shear)], 1)], 1)
    else:
        # The principal axis leans by half the angle of (2 cov, var_r - var_c) from upright; folding it
        # into +-45 degrees measures a wide character (principal axis level) from the level instead.
        angle = 0.5 * np.arctan2(2 * cov_rc, var_r - var_c)
        angle = (angle + np.pi / 4) % (np.pi / 2) - np.pi / 4
        cos, sin = np.cos(angle), np.sin(angle)
        matrices = np.stack([np.stack([cos, -sin], 1), np.stack([sin, cos], 1)], 1)
    centre = np.array([side / 2.0, side / 2.0])
    out = np.empty_like(images)
    for i, (matrix, mean) in enumerate(zip(matrices, np.stack([r0, c0], axis=1))):
        # Output pixel p samples input pixel matrix @ p + offset: the image centre maps onto the ink's mean.
        out[i] = affine_transform(images[i], matrix, offset=mean - matrix @ centre, order=1)
    return out


class InvertedImagesWarning(UserWarning):
    """Training images that look like dark ink on light paper, where hwr-eval's data are white ink on black."""


class PixelScaler(ValidatedParamsMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Map pixel intensities to the ranges the study compared, optionally deskewing first.

    The pixel contract: rows are square grayscale images (784 = 28x28 values), with intensities either
    0-255 (integers or floats) or already in [0, 1] (floats, e.g. ``X / 255``). ``fit`` learns which of
    the two ranges it was given (``input_max_``: 255 or 1); ``transform`` refuses data in the other range,
    so a model trained on one scale never silently scores at chance on the other. Negative values, values
    above 255, and rows that are not a square image (785 values: a label column left in?) are refused.

    Shapes: with ``square=True``, one image ``(28, 28)``, a stack ``(n, 28, 28)`` and one flat row ``(784,)``
    are taken as ``(n, 784)`` rows, in ``fit`` as in ``transform`` (so a pipeline's ``predict`` takes them).

    Polarity: the datasets are white ink on black. ``fit`` learns whether most images have a light
    border (``ink_ = "dark"``: dark ink on light paper, with an :class:`InvertedImagesWarning`) or a dark
    one (``"light"``); ``transform`` refuses images of the other polarity, whose every prediction would be
    wrong, and names the fix (``255 - X``). Image files read by :func:`hwr_eval.read_images` are turned
    white-on-black already.

    Parameters
    ----------
    mode : {"negative", "positive", "binary"}, default="negative"
        ``"negative"`` maps to [-1, 1] (the study's default), ``"positive"`` to [0, 1] and
        ``"binary"`` to {0, 1} by thresholding at half intensity.
    deskew : bool or {"shear", "rotate"}, default=False
        Straighten each image first and centre its ink (see :func:`deskew`); needs square images. True
        is ``"shear"``, the classic slant correction; ``"rotate"`` undoes turns as well.
    square : bool, default=True
        Refuse rows whose length is not a square number of pixels. ``False`` accepts any width
        (non-image features, or scikit-learn's estimator checks on toy data); the range rules still hold.

    Attributes
    ----------
    n_features_in_ : int
        Number of pixels per image seen in ``fit``.
    input_max_ : float
        The input scale learned in ``fit``: 255.0 (0-255 pixels) or 1.0 (pixels in [0, 1]).
    ink_ : {"light", "dark"} or None
        Polarity of the training images (see above); None when the rows are not square images.
    """

    _parameter_constraints = {
        "mode": [StrOptions(set(SCALING_MODES))],
        "deskew": ["boolean", StrOptions(set(DESKEW_MODES))],
        "square": ["boolean"],
    }

    def __init__(self, mode: str = "negative", deskew: bool | str = False, square: bool = True):
        self.mode = mode
        self.deskew = deskew
        self.square = square

    def fit(self, X, y=None):
        """Check the input and learn its scale (0-255 or [0, 1]) and polarity."""
        self._validate_params()
        X = validate_data(self, self._as_rows(X, fitted=False), dtype="numeric", reset=True)
        width = X.shape[1]
        is_square = _is_square(width)
        if self.deskew and not is_square:
            raise HwrError(f"deskew needs square images, got {width} pixels per row")
        if self.square and not is_square:
            hint = f" ({width - 1} pixels plus one column: is the label column still in X?)" if _is_square(width - 1) else ""
            raise HwrError(
                f"PixelScaler expects square images (e.g. 784 = 28x28 pixels per row), got {width} values per row"
                f"{hint}; drop non-pixel columns, or set square=False for non-image features"
            )
        high = _check_range(X)
        self.input_max_ = 1.0 if high <= 1.0 else 255.0
        self.ink_ = _ink(X, self.input_max_) if self.square else None
        if self.ink_ == "dark":
            warnings.warn(f"most of these {len(X)} training images have a light border: dark ink on light paper? "
                          f"hwr-eval's data are white ink on black; pass {_flip(self.input_max_)}",
                          InvertedImagesWarning, stacklevel=2)
        return self

    def _as_rows(self, X, fitted: bool):
        """One image (side, side), a stack (n, side, side) or one flat row as (n, side*side) rows."""
        if not self.square or sp.issparse(X) or not isinstance(X, (np.ndarray, list, tuple)):
            return X
        X = np.asarray(X)
        width = getattr(self, "n_features_in_", None) if fitted else None
        if X.ndim == 3 and X.shape[1] == X.shape[2]:
            return X.reshape(len(X), -1)
        if X.ndim == 1 and _is_square(X.size) and X.size > 1 and width in (None, X.size):
            return X.reshape(1, -1)
        # (side, side): one image, unless it is already `side` rows of `side` pixels (side itself square).
        one_image = (X.size == width) if width is not None else not _is_square(X.shape[1])
        if X.ndim == 2 and X.shape[0] == X.shape[1] > 1 and one_image:
            return X.reshape(1, -1)
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True  # pixel intensities: negative values are refused
        tags.transformer_tags.preserves_dtype = ["float32"]  # always float32: what the networks take
        return tags

    def transform(self, X) -> np.ndarray:
        """Return ``X`` (deskewed if asked, then) scaled to the chosen range as float32."""
        X = self.check_pixels(X)
        X = X.astype(np.float32, copy=False) / np.float32(self.input_max_)  # now in [0, 1]
        if self.deskew:
            side = round(np.sqrt(X.shape[1]))
            how = self.deskew if isinstance(self.deskew, str) else "shear"  # True (or numpy's True): the shear
            X = deskew(X.reshape(-1, side, side), how).reshape(len(X), -1)
        if self.mode == "negative":
            return X * np.float32(2.0) - np.float32(1.0)
        if self.mode == "positive":
            return X
        return (X >= np.float32(0.5)).astype(np.float32)

    def check_pixels(self, X) -> np.ndarray:
        """``X`` as validated ``(n, n_features)`` rows, unscaled, after refusing pixels this scaler cannot take:
        the other range, the other polarity, the wrong width (what ``transform`` checks first)."""
        check_is_fitted(self, "input_max_")
        X = validate_data(self, self._as_rows(X, fitted=True), dtype="numeric", reset=False)
        high = _check_range(X)
        if high > self.input_max_:
            raise HwrError(
                f"PixelScaler was fitted on pixels in [0, 1] but got values up to {high:g}: scale these like the "
                "training data (X / 255) or refit on 0-255 pixels"
            )
        if self.input_max_ == 255.0 and 0 < high <= 1.0:
            raise HwrError(
                "PixelScaler was fitted on 0-255 pixels but got values in [0, 1]: pass 0-255 pixels (X * 255) "
                "or refit on [0, 1] pixels"
            )
        fitted_ink = getattr(self, "ink_", None)  # None: not images, or pickled before polarity was learned
        if fitted_ink is not None and high > 0 and _ink(X, self.input_max_) != fitted_ink:
            expected = "white ink on black" if fitted_ink == "light" else "dark ink on light paper"
            raise HwrError(
                f"most of these {len(X)} images have the other polarity than the training images ({expected}): "
                f"every prediction would be wrong; pass {_flip(self.input_max_)}"
            )
        return X


def _is_square(n: int) -> bool:
    return n > 0 and round(np.sqrt(n)) ** 2 == n


def _ink(X: np.ndarray, input_max: float) -> str | None:
    """``"dark"`` when most images have a light border (dark ink on paper), ``"light"`` otherwise."""
    side = round(np.sqrt(X.shape[1]))
    if side < 4 or side * side != X.shape[1] or len(X) == 0:
        return None
    images = X.reshape(len(X), side, side)
    sides = np.stack([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    # Paper all round: three of the four sides light (one may be crossed by a long stroke; two light sides
    # facing each other are a corruption such as inverted stripes, not paper).
    light = (np.median(sides, axis=2) > LIGHT_BORDER * input_max).sum(axis=1) >= 3
    return "dark" if light.mean() > 0.5 else "light"


def _flip(input_max: float) -> str:
    return "255 - X" if input_max == 255.0 else "1 - X"


def _check_range(X: np.ndarray) -> float:
    """The largest value of ``X``, after refusing values outside 0-255."""
    if X.size == 0:
        return 0.0
    low, high = float(X.min()), float(X.max())
    if low < 0:
        # The message starts like scikit-learn's own, which its estimator checks look for.
        raise HwrError(
            f"Negative values in data passed to PixelScaler (min {low:g}): pixels are intensities 0-255 or "
            "[0, 1]; undo any centring or standardisation first"
        )
    if high > 255:
        raise HwrError(f"pixel values up to {high:g} passed to PixelScaler: intensities must lie within 0-255")
    return high
