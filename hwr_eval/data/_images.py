"""A user's own images: read any common image file and bring each character to the datasets' form.

The path an image takes: decode (PNG, JPEG, TIFF, BMP, GIF first frame; 8 or 16 bit; grey, RGB, with or
without alpha) -> grey in [0, 1] -> polarity (dark ink on light paper is inverted, so ink is high as in
MNIST) -> ink threshold by Otsu's method -> specks removed -> crop -> thin strokes thickened to the
datasets' proportions -> :func:`~hwr_eval.data.normalize_images` (20 px box, centre of mass at (14, 14)
in 28x28), the very function that normalised the FEMNIST letters and USPS digits the models learned from.

Limits (documented in the README): one line of text per image, even lighting (one global threshold), an
image of at most :data:`MAX_PIXELS` pixels.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from ..errors import DataError
from ._normalize import normalize_images

#: Largest image accepted, in pixels (width x height): a 50-megapixel phone photo fits. The size is read
#: from the file header, so a larger (or decompression-bomb) file is refused before it is decoded.
MAX_PIXELS = 50_000_000
#: Suffixes a folder is searched for (the file's content decides the format, not its name).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")
#: Longer side the image is reduced to before the ink is found: characters in a long line keep well over
#: the 20 px they end up at, and a phone photo costs milliseconds instead of seconds.
WORK_SIDE = 2000
#: Ink must differ from the paper by at least this (grey in [0, 1]); JPEG and sensor noise on a blank
#: page stay far below it (about 0.05 for noise of standard deviation 0.03).
MIN_CONTRAST = 0.2
#: The ink level that maps to full intensity (255), as a percentile of the ink pixels.
INK_PERCENTILE = 90
#: Ink blobs smaller than this fraction of the largest blob are specks (dust, JPEG ringing), not strokes.
SPECK_FRACTION = 0.02
#: Stroke width as a fraction of the character's longer side: 0.10 in MNIST, 0.15 in the normalised
#: FEMNIST letters (medians, measured with the same estimate). Thinner pen strokes are thickened to
#: TARGET_STROKE; after the shrink to 20 px, a fine pen line would otherwise fade to a faint grey trace.
TARGET_STROKE = 0.12
THIN_STROKE = 0.07

_GLOB_CHARS = set("*?[")


@dataclass
class Ink:
    """The ink of one image, at working resolution.

    Attributes
    ----------
    level : ndarray of shape (h, w), float32
        Ink intensity in [0, 1] (0 = paper), antialiased edges kept.
    mask : ndarray of shape (h, w), bool
        Ink pixels after the threshold, specks removed.
    inverted : bool
        True when the image was dark ink on light paper (the usual case) and got inverted.
    grey : ndarray of shape (h, w), uint8
        The image in grey as read (for previews).
    """

    level: np.ndarray
    mask: np.ndarray
    inverted: bool
    grey: np.ndarray


def expand_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Files named by ``paths``: files as given, folders by their image files (sorted), globs expanded.

    Raises a one-line :class:`~hwr_eval.errors.DataError` for a path that does not exist, a folder without
    images and a pattern that matches nothing.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"{path}: folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            files += found
        elif path.exists():
            files.append(path)
        elif _GLOB_CHARS & set(str(item)):
            found = sorted(Path(p) for p in glob.glob(str(item)) if Path(p).is_file())
            if not found:
                raise DataError(f"{item}: no file matches this pattern")
            files += found
        else:
            raise DataError(f"{path}: no such file or folder")
    if not files:
        raise DataError("no image given")
    for path in files:
        _check_name(path)
    return files


def _check_name(path: Path) -> None:
    """Refuse a file name that is not valid UTF-8 now, rather than when results naming it are written."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "replace")
        raise DataError(f"{shown}: the file name is not valid UTF-8 (undecodable bytes shown as \ufffd); "
                        "rename the file") from None


def _open(source: Path | BinaryIO, max_pixels: int, name: str | None = None) -> Image.Image:
    """Open and fully decode the first frame, with every failure as one line naming the file.

    ``source`` is a path or an open binary file (e.g. an upload held in memory), named ``name`` in errors.
    """
    path = name if name is not None else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(source)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not an image") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image file Pillow can read (PNG, JPEG, TIFF, BMP, GIF)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{path}: image is larger than the limit of {max_pixels:,} pixels") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the image ({exc})") from None
    with img:
        if img.width * img.height > max_pixels:
            raise DataError(f"{path}: image is {img.width}x{img.height} = {img.width * img.height:,} pixels, "
                            f"over the limit of {max_pixels:,}")
        if img.width < 1 or img.height < 1:
            raise DataError(f"{path}: image has no pixels")
        try:
            img.seek(0)  # GIF / multi-page TIFF: the first frame
            img.load()
            img = ImageOps.exif_transpose(img)  # phone photos store their rotation in EXIF
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            raise DataError(f"{path}: damaged or truncated image ({exc})") from None
    return img


def _to_grey(img: Image.Image) -> np.ndarray:
    """Grey in [0, 1] (float32) from any Pillow mode; transparent areas count as white paper."""
    mode = img.mode
    if mode.startswith("I;16"):
        return np.asarray(img, dtype=np.float32) / 65535.0
    if mode in ("I", "F"):
        data = np.asarray(img, dtype=np.float32)
        # 16-bit PNGs open as mode "I" in some Pillow versions: values up to 65535.
        top = 65535.0 if data.max() > 255 else 255.0
        if mode == "F" and data.max() <= 1.0:
            top = 1.0
        return np.clip(data / top, 0.0, 1.0)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA").convert("LA")
        grey, alpha = (np.asarray(band, dtype=np.float32) / 255.0 for band in rgba.split())
        opaque = alpha > 0.5
        if not opaque.any():
            return np.ones_like(alpha)  # fully transparent: blank paper
        if alpha.min() < 0.5 and np.ptp(grey[opaque]) < MIN_CONTRAST:
            # One ink colour drawn through the alpha channel (a drawing app's export): alpha is the ink.
            return 1.0 - alpha if grey[opaque].mean() < 0.5 else alpha
        return alpha * grey + (1.0 - alpha)  # composite on white paper
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def _reduce(grey: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    factor = int(np.ceil(max(grey.shape) / side))
    if factor <= 1:
        return grey
    img = Image.fromarray(grey).reduce(factor)  # box average: antialiased
    return np.asarray(img, dtype=np.float32)


def read_grey(path: str | os.PathLike | BinaryIO, *, max_pixels: int = MAX_PIXELS, name: str | None = None) -> np.ndarray:
    """One image file as grey values in [0, 1] (float32, shape (h, w)), reduced to :data:`WORK_SIDE`.

    ``path`` may be an open binary file (``io.BytesIO(data)`` for an image held in memory); ``name`` names
    it in error messages (default: the path). Raises :class:`DataError` for an image holding NaN or
    infinite values (a float TIFF).
    """
    source = path if hasattr(path, "read") else Path(path)
    grey = _to_grey(_open(source, max_pixels, name))
    if not np.isfinite(grey).all():
        bad = int(np.count_nonzero(~np.isfinite(grey)))
        raise DataError(f"{name or path}: {bad:,} of its {grey.size:,} pixels are NaN or infinite (a floating-point "
                        "image with missing values?); fill them with the paper's value first")
    return _reduce(grey)


def find_ink(grey: np.ndarray, *, source: str = "image") -> Ink:
    """Polarity, Otsu threshold and speck removal on a grey image in [0, 1].

    The paper is the side of the threshold that holds most of the image's border: so a character that
    fills most of its frame is still read right. Raises :class:`DataError` when there is no ink (a blank
    or all-white page: contrast under :data:`MIN_CONTRAST`).
    """
    from skimage.filters import threshold_otsu
    from skimage.measure import label

    grey = np.asarray(grey, dtype=np.float32)
    if not np.isfinite(grey).all():
        raise DataError(f"{source}: grey values hold NaN or infinite values; fill them with the paper's value first")
    blank = DataError(f"{source}: no ink found (the image is blank or has no contrast)")
    if grey.size == 0 or np.ptp(grey) < MIN_CONTRAST:
        raise blank
    # Threshold and levels from an evenly strided sample of ~65k pixels: the same numbers, several times faster
    # on a large photo (histograms and medians dominate otherwise).
    step = max(1, round(np.sqrt(grey.size / 65_536)))
    sample = grey[::step, ::step]
    threshold = float(threshold_otsu(sample))
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    inverted = bool(np.mean(border > threshold) >= 0.5)  # light paper: dark ink, inverted below
    ink = 1.0 - grey if inverted else grey
    sample = 1.0 - sample if inverted else sample
    threshold = 1.0 - threshold if inverted else threshold
    mask = ink > threshold
    on_ink = sample > threshold
    if not on_ink.any() or on_ink.all():
        raise blank
    paper_level = float(np.median(sample[~on_ink]))
    ink_level = float(np.percentile(sample[on_ink], INK_PERCENTILE))
    if ink_level - paper_level < MIN_CONTRAST:
        raise blank
    labels, n = label(mask, connectivity=2, return_num=True)
    if n:
        areas = np.bincount(labels.ravel())[1:]
        keep = np.flatnonzero(areas >= max(2, SPECK_FRACTION * areas.max())) + 1
        mask = np.isin(labels, keep)
    level = np.clip((ink - paper_level) / (ink_level - paper_level), 0.0, 1.0)
    # Keep the antialiased edge one pixel around the ink; the paper's noise elsewhere goes. (Keeping every
    # faint pixel that touches the ink instead let JPEG ringing and noise in: 1-3 points less accuracy.)
    level = np.where(ndimage.binary_dilation(mask, iterations=1), level, 0.0).astype(np.float32)
    grey8 = np.rint(grey * 255).astype(np.uint8)
    return Ink(level=level, mask=mask, inverted=inverted, grey=grey8)


def stroke_width(mask: np.ndarray) -> float:
    """Median stroke width of the ink in pixels (twice the distance to the paper along the skeleton).

    Measured on a copy reduced to at most 128 px (a box-average, then a half threshold): the width keeps
    its proportion to the character, and a 400 px character costs a millisecond instead of twenty.
    """
    from skimage.morphology import skeletonize

    if not mask.any():
        return 0.0
    factor = max(1, int(np.ceil(max(mask.shape) / 128)))
    small = mask
    if factor > 1:
        reduced = Image.fromarray(mask.astype(np.float32)).reduce(factor)
        small = np.asarray(reduced, dtype=np.float32) >= 0.5
        if not small.any():
            small, factor = mask, 1
    distance = ndimage.distance_transform_edt(np.pad(small, 1))[1:-1, 1:-1]
    skeleton = skeletonize(small)
    width = float(2.0 * np.median(distance[skeleton])) if skeleton.any() else float(2.0 * distance.max())
    return width * factor


def normalize_character(level: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One character's ink (intensity and mask, any size) -> (28, 28) uint8 the datasets' way.

    ``level`` is the ink intensity with its faint edges (0 elsewhere), ``mask`` the thresholded ink.
    Strokes thinner than :data:`THIN_STROKE` of the character's size are first thickened to
    :data:`TARGET_STROKE`, then :func:`normalize_images` crops, scales to 20 px and centres by mass.
    """
    rows, cols = np.nonzero((level > 0) | mask)
    if rows.size == 0:
        raise DataError("no ink in this character")
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    pad = 2
    level = np.pad(level[top:bottom, left:right], pad)
    mask = np.pad(mask[top:bottom, left:right], pad)
    size = max(np.ptp(np.nonzero(mask)[0]), np.ptp(np.nonzero(mask)[1])) + 1
    width = stroke_width(mask)
    if width < THIN_STROKE * size:
        from skimage.morphology import disk

        radius = max(1, round((TARGET_STROKE * size - width) / 2))
        mask = ndimage.binary_dilation(np.pad(mask, radius), structure=disk(radius))
        level = np.maximum(np.pad(level, radius), mask.astype(np.float32))
    return normalize_images(level, ink="light")


def read_images(paths, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read image files of single characters as rows like the datasets' ``X``.

    Parameters
    ----------
    paths : path, glob pattern, folder, or a list of them
        Folders contribute their image files in sorted order; see :func:`expand_paths`.
    max_pixels : int, default=MAX_PIXELS
        Larger images are refused (read from the header, before decoding).

    Returns
    -------
    ndarray of shape (n_files, 784), uint8
        White ink on black, NIST-normalised, in the order of :func:`expand_paths` (``model.predict`` takes
        it as is). All the ink of an image counts as one character; lines go through
        :func:`~hwr_eval.data.read_line`.
    """
    files = expand_paths(paths)
    out = np.empty((len(files), 784), dtype=np.uint8)
    for i, path in enumerate(files):
        out[i] = read_character(path, max_pixels=max_pixels)[0]
    return out


def read_character(path: str | os.PathLike | BinaryIO, *, max_pixels: int = MAX_PIXELS,
                   name: str | None = None) -> tuple[np.ndarray, Ink]:
    """One image of one character as a row like the datasets' ``X``, and its ink.

    ``path`` may be an open binary file (``io.BytesIO(data)``), named ``name`` in errors. Returns the
    (784,) uint8 row (white ink on black, NIST-normalised: what a model sees) and the :class:`Ink`
    found (its ``grey`` is the image as read, for previews and for storing a canonical copy).
    """
    where = name if name is not None else str(path)
    ink = find_ink(read_grey(path, max_pixels=max_pixels, name=name), source=where)
    return normalize_character(ink.level, ink.mask).reshape(-1), ink


__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "Ink", "expand_paths", "find_ink", "normalize_character", "read_character",
           "read_grey", "read_images", "stroke_width"]
