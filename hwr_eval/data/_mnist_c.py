"""MNIST-C (Mu & Gilmer, 2019) as released: its 15 corruptions at the one setting each that made the dataset.

Each corruption follows the published generator (github.com/google-research/mnist-c, commit bba57e4):
the same parameters (the severity every function defaults to there) and the same algorithm, including its
quirks, because they shape the images:

* ``shot_noise``: Poisson noise with 3 photons per unit of intensity (its severity 5);
* ``impulse_noise``: salt and pepper on 17% of the pixels (severity 4, scikit-image's ``random_noise``);
* ``glass_blur``: a Gaussian blur with sigma 0.7 **down the columns only** (the reference calls
  scikit-image's ``gaussian`` with ``multichannel=True`` on a 2-D image, so the second axis counts as
  colour channels), truncation to 8 bits, two passes of sequential swaps of every pixel from (27, 27)
  back to (2, 2) with probability 1/2 against the pixel at offset ``randint(-1, 1)`` per axis, i.e. 0 or
  -1 (``randint``'s upper bound is exclusive, so pixels are only ever dragged up and left, and one pixel
  can travel several steps in a pass), then the same one-axis blur (severity 1);
* ``motion_blur``: ImageMagick's ``MotionBlurImage`` with radius 10 and sigma 3 **pixels** at an angle
  drawn uniformly from -45 to 45 degrees: a one-sided Gaussian trail of 21 taps whose offsets are
  rounded to whole pixels, edge pixels repeated beyond the border, the result brought back to 8 bits
  the way ImageMagick's 16-bit build writes it
  (severity 1);
* ``shear``, ``rotate``, ``scale``, ``translate``: scikit-image's ``warp`` (bilinear, black outside)
  about the centre (13.5, 13.5) with scikit-image's 2018 ``AffineTransform``: shear 0.4 radians with a
  random sign, whose matrix ``[[1, -sin 0.4], [0, cos 0.4]]`` also squeezes rows by cos 0.4 (severity
  2); rotation by 0.4 radians with a random sign (severity 2); shrinking to 0.7 (severity 3); a shift
  of 3 pixels along each axis with random signs (severity 3);
* ``brightness``: +0.5 on HSV value, which for grey is +0.5 on every pixel, clipped (severity 5);
* ``stripe``: columns 0-6 and 21-27 inverted;
* ``fog``: a 256x256 diamond-square plasma fractal (random amplitude ``wibble * U(-wibble, wibble)``
  starting at 100 and divided by 1.4 per level, wrap-around neighbours), normalised to 0-1 over the
  whole map, of which the top-left 28x28 corner is added with weight 3 and the sum rescaled by
  ``max / (max + 3)`` (severity 5) -- a smooth veil across the digit, not per-image speckle;
* ``spatter``: Gaussian noise (mean 0.65, sd 0.3) blurred with sigma 1, thresholded at 0.65, the mask
  blurred with sigma 1.5 and kept where it reaches 0.8, blended towards grey 63/255 (severity 4);
* ``dotted_line``: a line from (row r0, column 0) to (r1, 27), r0, r1 uniform on 0-26, drawn with the
  reference's profile ``log(1 - d / 2.3) + 1`` in the vertical distance d, the last column dropped and
  every other pair of columns blanked (columns 0-1, 4-5, ...);
* ``zigzag``: the reference's zigzag from column 2 to 25 (legs 2 long and 2 high, start row uniform on
  0-26, end row 5 lower to 4 higher) including its odd final point, each leg drawn with the same profile
  over the columns it spans;
* ``canny_edges``: scikit-image's Canny edge map (sigma 1, thresholds 0.1 and 0.2) in place of the image.

The settings are defined on 28x28 images, so only those are accepted. Batches run vectorised with
numpy / scipy.ndimage except the glass-blur swaps (sequential by definition: a loop over pixel
positions, vectorised over images) and Canny (image by image). Every random number comes from one
``numpy.random.Generator``; the reference's draws came from numpy's global state, so images match it in
distribution, not pixel for pixel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from ..errors import HwrError

SIDE = MNIST_C_SIDE = 28  # the released settings are in pixels of 28x28 images
_CENTRE = 13.5  # the reference's fixed point of the affine corruptions
_MUD = 63 / 255  # spatter colour
_FOG_MAP = 256  # side of the plasma fractal the fog is cut from
_FOG_CHUNK = 16  # images per plasma batch: 16 maps of 256x256 float64 (8 MB) ran fastest


def _blur_columns(x: np.ndarray, sigma: float) -> np.ndarray:
    """scikit-image's ``gaussian(x, sigma, multichannel=True)`` on 2-D images: rows blurred, columns not."""
    return ndimage.gaussian_filter1d(x, sigma, axis=1, mode="nearest", truncate=4.0)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """scikit-image's default ``gaussian`` (edge pixels repeated) on each image of a batch."""
    return ndimage.gaussian_filter(x, (0, sigma, sigma), mode="nearest", truncate=4.0)


def _warp(x: np.ndarray, matrices: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """scikit-image ``warp`` with an inverse map: output pixel (col, row) reads the input at
    ``matrix @ (col, row) + offset`` (per image; x/y order as scikit-image), bilinear, black outside."""
    n = len(x)
    rows, cols = np.mgrid[:SIDE, :SIDE].astype(np.float64)
    src_col = matrices[:, 0, 0, None, None] * cols + matrices[:, 0, 1, None, None] * rows + offsets[:, 0, None, None]
    src_row = matrices[:, 1, 0, None, None] * cols + matrices[:, 1, 1, None, None] * rows + offsets[:, 1, None, None]
    index = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None], src_row.shape)
    # grid-constant: bilinear weights against black beyond the border, as scikit-image's warp does.
    return ndimage.map_coordinates(x, [index, src_row, src_col], order=1, mode="grid-constant", cval=0.0)


def _about_centre(x: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Warp with each matrix about the reference's centre, which stays fixed."""
    centre = np.array([_CENTRE, _CENTRE])
    return _warp(x, matrices, centre - matrices @ centre)


def _signs(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=shape)


def _bands(c0, r0, c1, r1) -> np.ndarray:
    """The reference's line between (c0, r0) and (c1, r1), one per image (arrays of shape (n,)).

    Intensity ``log(1 - d / 2.3) + 1`` (clipped to 0-1) in the vertical distance d to the infinite line,
    kept in columns ``floor(c0)`` to ``ceil(c1) - 1``; a vertical segment (c0 == c1) draws nothing.
    """
    c0, r0, c1, r1 = (np.asarray(v, dtype=np.float64)[:, None, None] for v in (c0, r0, c1, r1))
    rows, cols = np.mgrid[:SIDE, :SIDE].astype(np.float64)
    run = np.where(c1 == c0, 1.0, c1 - c0)
    centre = (r1 - r0) / run * (cols - c0) + r0
    distance = np.clip(np.abs(rows - centre), 0, 2.3 - 1e-10)
    with np.errstate(divide="ignore"):
        out = np.clip(np.log(1 - distance / 2.3) + 1, 0, 1)
    keep = (cols >= np.floor(c0)) & (cols < np.ceil(c1)) & (c1 != c0)
    return np.where(keep, out, 0.0)


# --------------------------------------------------------------------------------------------------
# The corruptions: (images in [0, 1] of shape (n, 28, 28), rng) -> images (clipped by the caller)
# --------------------------------------------------------------------------------------------------


def _shot_noise(x, rng):
    return rng.poisson(x * 3) / 3.0


def _impulse_noise(x, rng):
    from skimage.util import random_noise

    return random_noise(x, mode="s&p", amount=0.17, rng=rng)


def _glass_blur(x, rng, sigma=0.7, delta=1, passes=2):
    x = np.floor(_blur_columns(x, sigma) * 255)  # the reference stores the first blur as uint8
    n = len(x)
    images = np.arange(n)
    positions = [(h, w) for h in range(SIDE - delta, delta, -1) for w in range(SIDE - delta, delta, -1)]
    for _ in range(passes):
        moves = rng.random((len(positions), n)) < 0.5
        offsets = rng.integers(-delta, delta, size=(len(positions), 2, n)) * moves[:, None, :]
        for (h, w), (dw, dh) in zip(positions, offsets):  # the reference draws dx (column) first
            here, there = x[images, h, w], x[images, h + dh, w + dw]
            x[images, h, w] = there
            x[images, h + dh, w + dw] = here
    return _blur_columns(x / 255, sigma)


def _motion_blur(x, rng, radius=10, sigma=3.0, degrees=None):
    """ImageMagick's motion blur; ``degrees`` (one angle per image) replaces the random draw."""
    width = 2 * int(np.ceil(radius)) + 1  # ImageMagick's kernel width for a given radius
    taps = np.arange(width)
    weights = np.exp(-(taps**2) / (2 * sigma**2))
    weights /= weights.sum()
    angle = np.deg2rad(rng.uniform(-45, 45, size=len(x)) if degrees is None else np.asarray(degrees, dtype=float))
    # Offsets of tap i: i pixels along the angle, each rounded half up to a whole pixel.
    d_col = np.ceil(taps[:, None] * np.cos(angle) - 0.5).astype(int)
    d_row = np.ceil(taps[:, None] * np.sin(angle) - 0.5).astype(int)
    pixels = np.rint(x * 255)  # ImageMagick reads the reference's 8-bit PNG
    padded = np.pad(pixels, ((0, 0), (width, width), (width, width)), mode="edge")
    rows, cols = np.mgrid[:SIDE, :SIDE] + width
    images = np.arange(len(x))[:, None, None]
    out = np.zeros_like(pixels)
    for w, dr, dc in zip(weights, d_row, d_col):
        out += w * padded[images, rows + dr[:, None, None], cols + dc[:, None, None]]
    # ImageMagick (16-bit build) rounds the sum to a 16-bit quantum; its 8-bit PNG keeps the high byte
    # (floor(q / 257)). Checked pixel for pixel against ImageMagick 6.9.11 at eight angles.
    return np.floor(np.floor(out * 257 + 0.5) / 257) / 255


def _shear(x, rng):
    s = 0.4 * _signs(rng, len(x))
    m = np.zeros((len(x), 2, 2))
    m[:, 0, 0] = 1.0
    m[:, 0, 1] = -np.sin(s)
    m[:, 1, 1] = np.cos(s)
    return _about_centre(x, m)


def _rotate(x, rng):
    r = 0.4 * _signs(rng, len(x))
    cos, sin = np.cos(r), np.sin(r)
    return _about_centre(x, np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2))


def _scale(x, rng):
    return _about_centre(x, np.broadcast_to(np.eye(2) / 0.7, (len(x), 2, 2)))


def _translate(x, rng):
    shift = 3.0 * _signs(rng, (len(x), 2))  # (column, row) read offsets: content moves the other way
    return _warp(x, np.broadcast_to(np.eye(2), (len(x), 2, 2)), shift)


def _brightness(x, rng):
    return x + 0.5


def _stripe(x, rng):
    x = x.copy()
    x[:, :, :7] = 1 - x[:, :, :7]
    x[:, :, 21:] = 1 - x[:, :, 21:]
    return x


def _plasma(n: int, rng: np.random.Generator, decay: float) -> np.ndarray:
    """``n`` diamond-square height maps of side 256, each normalised to 0-1 over the whole map."""
    size = _FOG_MAP
    maps = np.zeros((n, size, size))
    step, wibble = size, 100.0

    def displaced(total):  # mean of four neighbours plus the reference's wibble * U(-wibble, wibble)
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = maps[:, ::step, ::step]
        total = corners + np.roll(corners, -1, axis=1)
        maps[:, half::step, half::step] = displaced(total + np.roll(total, -1, axis=2))
        centres = maps[:, half::step, half::step]
        # Diamond points on the corners' rows, then on their columns; neighbours wrap around the map.
        between_cols = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        maps[:, ::step, half::step] = displaced(between_cols)
        between_rows = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        maps[:, half::step, ::step] = displaced(between_rows)
        step //= 2
        wibble /= decay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def _fog(x, rng, strength=3.0, decay=1.4):
    veil = np.concatenate([_plasma(len(x[i : i + _FOG_CHUNK]), rng, decay)[:, :SIDE, :SIDE] for i in range(0, len(x), _FOG_CHUNK)])
    peak = x.max(axis=(1, 2), keepdims=True)
    return (x + strength * veil) * peak / (peak + strength)


def _spatter(x, rng):
    liquid = _blur(rng.normal(0.65, 0.3, size=x.shape), 1.0)
    mud = _blur((liquid > 0.65).astype(np.float64), 1.5)
    mud[mud < 0.8] = 0
    return x * (1 - mud) + _MUD * mud


def _dotted_line(x, rng):
    ends = rng.integers(0, 27, size=(2, len(x)))
    line = _bands(np.zeros(len(x)), ends[0], np.full(len(x), 27.0), ends[1])
    line[:, :, (np.arange(SIDE) // 2) % 2 == 0] = 0  # dots: two columns off, two on
    return x + line


def _zigzag_points(r0: float, drop: float) -> np.ndarray:
    """The reference's zigzag vertices (columns, rows) from column 2, start row r0, ``drop`` rows lower at 25."""
    leg, height, c0, c1 = 2.0, 2.0, 2, 25
    theta = np.arctan(drop / (c1 - c0))
    length = (c1 - c0) / np.cos(theta)
    points = [(0.0, 0.0)]
    for i in range(int((length - leg) // (2 * leg)) + 1):
        points.append(((2 * i + 1) * leg, (-1) ** i * height))
    last_full = 2 * leg * (length // (2 * leg))
    if length != last_full:  # the reference's closing point, with its unusual height
        points.append((length, points[-1][1] / (2 * (length - last_full))))
    cs, rs = np.array(points).T
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    cs, rs = rotation @ np.stack([cs, rs])
    return np.stack([cs + c0, rs + r0])


def _zigzag(x, rng):
    n = len(x)
    r0 = rng.integers(0, 27, size=n)
    drop = rng.integers(-5, 5, size=n)
    vertices = [_zigzag_points(a, b) for a, b in zip(r0, drop)]
    legs = max(v.shape[1] for v in vertices) - 1
    # Pad shorter zigzags by repeating their last vertex: a zero-width leg draws nothing.
    padded = np.stack([np.pad(v, ((0, 0), (0, legs + 1 - v.shape[1])), mode="edge") for v in vertices])
    for k in range(legs):
        x = x + _bands(padded[:, 0, k], padded[:, 1, k], padded[:, 0, k + 1], padded[:, 1, k + 1])
    return x


def _canny_edges(x, rng):
    from skimage.feature import canny

    return np.stack([canny(image) for image in x]).astype(np.float64)


_FUNCTIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
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
}
#: MNIST-C's 15 corruptions, in the paper's order.
MNIST_C_CORRUPTIONS = tuple(_FUNCTIONS)


def mnist_c(images: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """Apply MNIST-C corruption ``name`` to images in [0, 1] of shape (n, 28, 28); returns them in [0, 1].

    ``name`` must be one of :data:`MNIST_C_CORRUPTIONS` (the caller checks it).
    """
    if images.shape[1:] != (SIDE, SIDE):
        side = images.shape[1]
        raise HwrError(f"MNIST-C's settings are defined on 28x28 images, got {side}x{images.shape[2]}")
    return np.clip(_FUNCTIONS[name](images, rng), 0.0, 1.0)
