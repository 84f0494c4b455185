"""Seeded image corruptions modelled on MNIST-C (Mu & Gilmer, 2019), each at five severities.

MNIST-C defines 15 corruptions, most at one fixed strength. Here every corruption has severities 1-5
(0 is the clean image) so that accuracy can be drawn against severity; where MNIST-C gives five
parameter sets (noise, blur, affine, brightness, fog) they are the ones used here, and severity 5 of the
line/edge corruptions is MNIST-C's single setting. Two more measure stroke width: ``erode`` (thinner
strokes) and ``dilate`` (thicker). :func:`rotate` turns images by an exact angle for rotation sweeps.

All corruptions work on whole batches with numpy / scipy.ndimage / scikit-image (about a second for a few
thousand 28x28 images per corruption and severity), draw every random number from one generator seeded by
``random_state``, and return images of the input's shape, dtype and 0-255 range. Images are white ink
on black, as everywhere in hwr-eval.

Implemented differently from MNIST-C, and why:

* ``motion_blur`` averages copies shifted along a random direction with Gaussian weights (ImageMagick's
  motion blur, which MNIST-C calls, is not a Python dependency);
* ``glass_blur`` moves each pixel, with probability 1/2, to a random neighbour within ``delta`` in one
  vectorised step instead of MNIST-C's sequential pixel swaps (a Python loop over every pixel);
* ``fog`` uses spectral 1/f noise with MNIST-C's octave decay instead of the diamond-square fractal;
* ``spatter``'s mud blobs come from thresholded smooth noise whose coverage grows with severity;
* ``canny_edges`` at severity s blends s/5 of the edge map into the image (MNIST-C: edges only);
* ``dotted_line``, ``zigzag`` draw ``severity`` lines; ``stripe`` inverts bands of growing width.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from ..errors import HwrError

SEVERITIES = (1, 2, 3, 4, 5)
#: Angles (degrees, counter-clockwise) of the rotation sweep.
ROTATION_ANGLES = tuple(range(-90, 91, 15))
_REFERENCE_SIDE = 28  # pixel lengths below are for 28x28 images and scale with the image side
_MUD = 63 / 255  # MNIST-C's spatter colour


# --------------------------------------------------------------------------------------------------
# Helpers: batch resampling and line drawing
# --------------------------------------------------------------------------------------------------


def _sample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear samples ``images[i, rows[i], cols[i]]``; outside the image is background (0)."""
    n = images.shape[0]
    index = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None], rows.shape)
    return ndimage.map_coordinates(images, [index, rows, cols], order=1, mode="constant", cval=0.0)


def _affine(images: np.ndarray, matrices: np.ndarray, shifts: np.ndarray | None = None) -> np.ndarray:
    """Warp each image: output pixel p samples input ``matrix @ (p - centre) + centre - shift``.

    ``matrices`` has shape (n, 2, 2) in (row, col) order; ``shifts`` (n, 2) moves the content by that
    many pixels (down, right).
    """
    side = images.shape[1]
    centre = (side - 1) / 2.0
    grid = np.mgrid[:side, :side].astype(np.float64) - centre  # (2, side, side)
    src = np.einsum("nij,jhw->nihw", matrices, grid) + centre
    if shifts is not None:
        src -= shifts[:, :, None, None]
    return _sample(images, src[:, 0], src[:, 1])


def _rotation_matrices(radians: np.ndarray) -> np.ndarray:
    """Inverse maps that turn the content counter-clockwise by ``radians`` (rows point down)."""
    cos, sin = np.cos(radians), np.sin(radians)
    return np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)


def _random_signs(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=shape)


def _segments(side: int, starts: np.ndarray, ends: np.ndarray, width: float = 1.2) -> np.ndarray:
    """Anti-aliased strokes from ``starts`` to ``ends`` ((n, k, 2) as row, col) drawn over (n, side, side)."""
    p = np.mgrid[:side, :side].astype(np.float64)[None]  # (1, 2, h, w)
    out = np.zeros((starts.shape[0], side, side))
    for k in range(starts.shape[1]):  # one segment of every image at a time: memory stays (n, h, w)
        a, b = starts[:, k, :, None, None], ends[:, k, :, None, None]  # (n, 2, 1, 1)
        # Only the columns the segment can reach (zigzag segments span ~2 of 28: 4x faster).
        low = max(int(np.floor(min(a[:, 1].min(), b[:, 1].min()) - width)), 0)
        high = min(int(np.ceil(max(a[:, 1].max(), b[:, 1].max()) + width)) + 1, side)
        if low >= high:
            continue
        q = p[..., low:high]
        ab = b - a
        length2 = np.maximum((ab**2).sum(axis=1, keepdims=True), 1e-12)
        t = np.clip(((q - a) * ab).sum(axis=1, keepdims=True) / length2, 0.0, 1.0)
        distance = np.sqrt(((q - (a + t * ab)) ** 2).sum(axis=1))
        np.maximum(out[..., low:high], 1.0 - distance / width, out=out[..., low:high])
    return np.clip(out, 0.0, 1.0)


# --------------------------------------------------------------------------------------------------
# The corruptions: (images in [0, 1] of shape (n, side, side), severity 1-5, rng, pixel scale) -> images
# --------------------------------------------------------------------------------------------------


def _shot_noise(x, s, rng, px):
    photons = (60, 25, 12, 5, 3)[s - 1]
    return rng.poisson(x * photons) / photons


def _impulse_noise(x, s, rng, px):
    from skimage.util import random_noise

    return random_noise(x, mode="s&p", amount=(0.03, 0.06, 0.09, 0.17, 0.27)[s - 1], rng=rng)


def _glass_blur(x, s, rng, px):
    sigma, delta, iterations = ((0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2))[s - 1]
    sigma, delta = sigma * px, max(1, round(delta * px))
    n, side, _ = x.shape
    x = ndimage.gaussian_filter(x, sigma=(0, sigma, sigma))
    rows, cols = np.mgrid[:side, :side]
    batch = np.arange(n)[:, None, None]
    for _ in range(iterations):
        move = rng.random(x.shape) < 0.5
        dr = np.where(move, rng.integers(-delta, delta + 1, x.shape), 0)
        dc = np.where(move, rng.integers(-delta, delta + 1, x.shape), 0)
        x = x[batch, np.clip(rows + dr, 0, side - 1), np.clip(cols + dc, 0, side - 1)]
    return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma))


def _motion_blur(x, s, rng, px):
    radius, sigma = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))[s - 1]
    # MNIST-C's ImageMagick radius/sigma are in units of half a 28-pixel image; a sigma of 3 streaks
    # ~3 pixels, so distances are scaled by 1/2 and taps past 2 sigma carry almost no weight.
    taps = np.arange(0, min(radius, 2 * sigma) / 2 * px + 1)
    weights = np.exp(-(taps**2) / (2 * (sigma / 2 * px) ** 2))
    angle = np.deg2rad(rng.uniform(-45, 45, size=len(x)))
    side = x.shape[1]
    rows, cols = np.mgrid[:side, :side].astype(np.float64)
    out = np.zeros_like(x)
    for t, w in zip(taps, weights):
        out += w * _sample(x, rows - t * np.sin(angle)[:, None, None], cols - t * np.cos(angle)[:, None, None])
    return out / weights.sum()


def _shear(x, s, rng, px):
    k = (0.2, 0.35, 0.5, 0.65, 0.8)[s - 1] * _random_signs(rng, len(x))
    m = np.zeros((len(x), 2, 2))
    m[:, 0, 0] = m[:, 1, 1] = 1.0
    m[:, 1, 0] = k  # horizontal shear: each row moves sideways in proportion to its height
    return _affine(x, m)


def _scale(x, s, rng, px):
    factor = (0.9, 0.8, 0.7, 0.6, 0.5)[s - 1]  # shrink towards the centre, as MNIST-C
    return _affine(x, np.broadcast_to(np.eye(2) / factor, (len(x), 2, 2)))


def _rotate(x, s, rng, px):
    radians = (0.2, 0.4, 0.6, 0.8, 1.0)[s - 1] * _random_signs(rng, len(x))  # 11.5 to 57 degrees
    return _affine(x, _rotation_matrices(radians))


def _translate(x, s, rng, px):
    shift = s * px * _random_signs(rng, (len(x), 2))
    return _affine(x, np.broadcast_to(np.eye(2), (len(x), 2, 2)), shift)


def _brightness(x, s, rng, px):
    # MNIST-C raises HSV value; for grey pixels that is adding c to every pixel.
    return x + (0.1, 0.2, 0.3, 0.4, 0.5)[s - 1]


def _stripe(x, s, rng, px):
    width = round((1, 2, 4, 5, 7)[s - 1] * px)
    x = x.copy()
    x[:, :, :width] = 1.0 - x[:, :, :width]
    x[:, :, x.shape[2] - width :] = 1.0 - x[:, :, x.shape[2] - width :]
    return x


def _fog(x, s, rng, px):
    # MNIST-C's five settings, with strengths 3.0 and 3.5 at 4 and 5 so that every step is stronger.
    strength, decay = ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (3.0, 1.5), (3.5, 1.4))[s - 1]
    n, side, _ = x.shape
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(side), np.fft.fftfreq(side), indexing="ij"))
    freq[0, 0] = np.inf  # no constant term
    # Halving the scale divides the amplitude by ``decay``: amplitude ~ f ** -log2(decay).
    amplitude = (freq * side) ** -np.log2(decay)
    phases = np.exp(2j * np.pi * rng.random((n, side, side)))
    field = np.fft.ifft2(amplitude * phases).real
    field -= field.min(axis=(1, 2), keepdims=True)
    field /= np.maximum(field.max(axis=(1, 2), keepdims=True), 1e-12)
    peak = x.max(axis=(1, 2), keepdims=True)
    return (x + strength * field) * peak / (peak + strength)


def _spatter(x, s, rng, px):
    threshold = (2.0, 1.7, 1.4, 1.1, 0.8)[s - 1]  # in standard deviations of the smooth noise
    noise = ndimage.gaussian_filter(rng.standard_normal(x.shape), sigma=(0, 1.5 * px, 1.5 * px))
    noise = (noise - noise.mean(axis=(1, 2), keepdims=True)) / noise.std(axis=(1, 2), keepdims=True)
    mud = ndimage.gaussian_filter((noise > threshold).astype(np.float64), sigma=(0, 0.5 * px, 0.5 * px))
    mud = np.where(mud > 0.3, np.minimum(mud / 0.6, 1.0), 0.0)
    return x * (1 - mud) + _MUD * mud


def _dotted_line(x, s, rng, px):
    n, side, _ = x.shape
    rows = rng.uniform(0, side - 1, size=(n, s, 2))
    starts = np.stack([rows[..., 0], np.zeros((n, s))], -1)
    ends = np.stack([rows[..., 1], np.full((n, s), side - 1.0)], -1)
    lines = _segments(side, starts, ends)
    dash = max(1, round(2 * px))
    lines[:, :, (np.arange(side) // dash) % 2 == 0] = 0.0  # every other run of columns is a gap
    return x + lines


def _zigzag(x, s, rng, px):
    n, side, _ = x.shape
    half_period, amplitude = 2.0 * px, 2.0 * px
    c0, c1 = 2 * px, side - 3 * px
    r0 = rng.uniform(0, side - 1, size=(n, s))
    slope = rng.uniform(-5, 5, size=(n, s)) / (c1 - c0)
    cols = np.arange(c0, c1 + 1e-9, half_period)
    offsets = amplitude * np.where(np.arange(len(cols)) % 2, 1.0, -1.0)
    rows = r0[..., None] + slope[..., None] * (cols - c0) + offsets  # (n, s, points)
    points = np.stack([rows, np.broadcast_to(cols, rows.shape)], -1)
    starts = points[:, :, :-1].reshape(n, -1, 2)
    ends = points[:, :, 1:].reshape(n, -1, 2)
    return x + _segments(side, starts, ends)


def _canny_edges(x, s, rng, px):
    from skimage.feature import canny

    edges = _tiled(x, lambda mosaic: canny(mosaic, sigma=1.0), pad=4)
    alpha = s / 5
    return (1 - alpha) * x + alpha * edges


def _tiled(x: np.ndarray, edge_filter: Callable[[np.ndarray], np.ndarray], pad: int) -> np.ndarray:
    """Apply a 2-D filter to every image at once: tile them, with ``pad`` black pixels between, into one.

    Canny on one mosaic is ~10x faster than image by image. Its thresholds are absolute and the padding
    is wider than its filter, so each tile gets exactly what the image padded with black would get
    (checked on 216 real test images: identical).
    """
    n, side, _ = x.shape
    cell = side + 2 * pad
    per_row = int(np.ceil(np.sqrt(n)))
    n_rows = int(np.ceil(n / per_row))
    mosaic = np.zeros((n_rows * cell, per_row * cell))
    tiles = mosaic.reshape(n_rows, cell, per_row, cell).transpose(0, 2, 1, 3).reshape(-1, cell, cell)
    tiles[:n, pad : pad + side, pad : pad + side] = x
    mosaic = tiles.reshape(n_rows, per_row, cell, cell).transpose(0, 2, 1, 3).reshape(mosaic.shape)
    out = np.asarray(edge_filter(mosaic), dtype=np.float64)
    out = out.reshape(n_rows, cell, per_row, cell).transpose(0, 2, 1, 3).reshape(-1, cell, cell)
    return out[:n, pad : pad + side, pad : pad + side]


def _footprints(px: float) -> list[np.ndarray]:
    """Nested discs of growing radius: each erodes / dilates at least as much as the one before."""
    radii = np.array((1.0, 1.5, 2.0, 2.3, 2.9)) * px
    out = []
    for radius in radii:
        r = int(np.floor(radius))
        rr, cc = np.mgrid[-r : r + 1, -r : r + 1]
        out.append(rr**2 + cc**2 <= radius**2)
    return out


def _erode(x, s, rng, px):
    return ndimage.grey_erosion(x, footprint=_footprints(px)[s - 1][None])


def _dilate(x, s, rng, px):
    return ndimage.grey_dilation(x, footprint=_footprints(px)[s - 1][None])


_CORRUPTIONS: dict[str, Callable] = {
    "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise,
    "glass_blur": _glass_blur,
    "motion_blur": _motion_blur,
    "shear": _shear,
    "scale": _scale,
    "rotate": _rotate,
    "brightness": _brightness,
    "translate": _translate,
    "stripe": _stripe,
    "fog": _fog,
    "spatter": _spatter,
    "dotted_line": _dotted_line,
    "zigzag": _zigzag,
    "canny_edges": _canny_edges,
    "erode": _erode,
    "dilate": _dilate,
}
#: Names accepted by :func:`corrupt`: MNIST-C's 15 in its order, then stroke thickness.
CORRUPTIONS = tuple(_CORRUPTIONS)


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def _as_images(X) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """``X`` as float images in [0, 1] of shape (n, side, side), and the function that restores its form."""
    X = np.asarray(X)
    if X.dtype.kind not in "uif" or X.ndim not in (2, 3):
        raise HwrError(f"expected numeric images of shape (n, side*side) or (n, side, side), got {X.dtype} {X.shape}")
    if X.ndim == 2:
        side = int(round(np.sqrt(X.shape[1])))
        if side * side != X.shape[1]:
            raise HwrError(f"rows of {X.shape[1]} pixels are not square images")
    else:
        side = X.shape[1]
        if X.shape[2] != side:
            raise HwrError(f"images must be square, got {X.shape[1]}x{X.shape[2]}")
    shape, dtype = X.shape, X.dtype
    images = X.reshape(len(X), side, side).astype(np.float64) / 255.0

    def restore(out: np.ndarray) -> np.ndarray:
        out = np.clip(out, 0.0, 1.0) * 255.0
        if dtype.kind in "ui":
            out = np.rint(out)
        return out.reshape(shape).astype(dtype)

    return images, restore


def _generator(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31 - 1))
    if random_state is None or isinstance(random_state, numbers.Integral):
        return np.random.default_rng(random_state)
    raise HwrError(f"random_state must be None, an int or a numpy Generator, got {random_state!r}")


def corrupt(X, kind: str, severity: int = 3, random_state=None) -> np.ndarray:
    """Corrupt images the way MNIST-C does, at a chosen severity.

    Parameters
    ----------
    X : array-like of shape (n, side*side) or (n, side, side)
        Images, white ink on black, 0-255 (uint8 or float).
    kind : str
        One of :data:`CORRUPTIONS` (see the module docstring for each one's definition).
    severity : int, default=3
        0 (the clean image) to 5 (strongest).
    random_state : int, numpy Generator or None
        Seeds every random draw: the same seed gives the same images. None is not reproducible.

    Returns
    -------
    ndarray
        Corrupted images with the shape and dtype of ``X``, clipped to 0-255.

    Raises
    ------
    HwrError
        Unknown kind, severity outside 0-5, or input that is not a batch of square images.
    """
    if kind not in _CORRUPTIONS:
        raise HwrError(f"unknown corruption {kind!r}; choose one of {', '.join(CORRUPTIONS)}")
    if not isinstance(severity, numbers.Integral) or isinstance(severity, bool) or not 0 <= severity <= 5:
        raise HwrError(f"severity must be an integer from 0 to 5, got {severity!r}")
    images, restore = _as_images(X)
    rng = _generator(random_state)
    if severity == 0 or len(images) == 0:
        return restore(images)
    return restore(_CORRUPTIONS[kind](images, int(severity), rng, images.shape[1] / _REFERENCE_SIDE))


def rotate(X, degrees: float) -> np.ndarray:
    """Turn every image counter-clockwise by ``degrees`` about its centre (bilinear; corners fill black).

    Parameters
    ----------
    X : array-like of shape (n, side*side) or (n, side, side)
        Images, 0-255.
    degrees : float
        Angle; negative turns clockwise. 0 returns the images unchanged.

    Returns
    -------
    ndarray
        Rotated images with the shape and dtype of ``X``.
    """
    images, restore = _as_images(X)
    if degrees % 360 == 0 or len(images) == 0:
        return restore(images)
    radians = np.full(len(images), np.deg2rad(float(degrees)))
    return restore(_affine(images, _rotation_matrices(radians)))
