"""A synthetic 36-class demo set, so every command works on a machine without any real data.

Glyphs '0'-'9' and 'A'-'Z' are rendered from the TrueType fonts that ship with matplotlib (DejaVu,
STIX, Computer Modern) with random stroke widths, then distorted by a random affine map and an elastic
deformation (Simard et al., 2003) and normalised like MNIST. It is deterministic given the seed.
It is NOT handwriting: results on it say nothing about real data, and everything built on it says so.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.ndimage import gaussian_filter, map_coordinates

from ._normalize import normalize_images
from ._readers import ImageSet

CANVAS = 64
CLASSES_36 = string.digits + string.ascii_uppercase
_FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "STIXGeneral.ttf", "STIXGeneralItalic.ttf",
    "STIXGeneralBol.ttf", "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf",
)


def font_paths() -> list[Path]:
    """The bundled matplotlib fonts used for rendering (those present)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [folder / name for name in _FONT_FILES if (folder / name).exists()]


def _render(char: str, font: ImageFont.FreeTypeFont, stroke: int) -> np.ndarray:
    img = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(img).text((CANVAS / 2, CANVAS / 2), char, fill=255, font=font, anchor="mm",
                             stroke_width=stroke, stroke_fill=255)
    return np.asarray(img, dtype=np.float32)


def _distort(img: np.ndarray, rng: np.random.Generator, field: np.ndarray) -> np.ndarray:
    """Random affine (rotation, shear, anisotropic scale) plus an elastic field, one interpolation."""
    n = img.shape[0]
    angle = np.deg2rad(rng.uniform(-12, 12))
    shear = rng.uniform(-0.3, 0.3)
    sy, sx = rng.uniform(0.85, 1.15, size=2)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rot @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([1 / sy, 1 / sx])
    centre = (n - 1) / 2
    grid = np.mgrid[0:n, 0:n].reshape(2, -1).astype(np.float32) - centre
    coords = (matrix @ grid + centre).reshape(2, n, n) + field
    return map_coordinates(img, coords, order=1, mode="constant", cval=0.0)


def _linear_upsampler(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of linear interpolation between pixel centres."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    low = np.floor(pos).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    weight = (pos - low).astype(np.float32)
    matrix = np.zeros((n_out, n_in), dtype=np.float32)
    matrix[np.arange(n_out), low] += 1 - weight
    matrix[np.arange(n_out), high] += weight
    return matrix


def _elastic_fields(n: int, rng: np.random.Generator, sigma: float = 5.0) -> np.ndarray:
    """(n, 2, CANVAS, CANVAS) smooth random displacement fields (Simard et al.), filtered in one batch."""
    # Smooth the noise on a 4x coarser grid and upsample: the same kind of field at a 16th of the cost.
    coarse = CANVAS // 4
    noise = rng.uniform(-1, 1, size=(n, 2, coarse, coarse)).astype(np.float32)
    smooth = gaussian_filter(noise, sigma=(0, 0, sigma / 4, sigma / 4), mode="constant")
    up = _linear_upsampler(coarse, CANVAS)
    fields = np.einsum("ij,nkjl,ml->nkim", up, smooth, up, optimize=True)
    # Scale to a displacement of 1-2 px (std) on the 64 px canvas, varying per image.
    alpha = rng.uniform(1.0, 2.0, size=(n, 1, 1, 1)).astype(np.float32)
    return fields / (fields.std() + 1e-12) * alpha


def make_synthetic(n_per_class: int = 200, classes: str = CLASSES_36, seed: int = 0) -> ImageSet:
    """Render a synthetic, MNIST-like character set.

    Parameters
    ----------
    n_per_class : int, default=200
        Images per class.
    classes : str, default="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        Characters to render.
    seed : int, default=0
        Seed of every random choice (font, size, stroke width, distortion).

    Returns
    -------
    ImageSet
        uint8 (n, 28, 28) white-on-black images, labels, ``files`` = the fonts used, and
        ``writers`` = the font name (a font plays the role of a writer for writer-disjoint splits).
    """
    rng = np.random.default_rng(seed)
    fonts = font_paths()
    if not fonts:  # Pillow's own scalable default font is always there
        fonts = [None]
    loaded: dict[tuple, ImageFont.FreeTypeFont] = {}
    raw = np.empty((n_per_class * len(classes), CANVAS, CANVAS), dtype=np.float32)
    labels = np.repeat(np.array(list(classes)), n_per_class)
    writers = np.empty(len(labels), dtype=object)
    fields = _elastic_fields(len(labels), rng)
    for i, char in enumerate(labels):
        f = int(rng.integers(len(fonts)))
        size = int(rng.integers(30, 42))
        key = (f, size)
        if key not in loaded:
            loaded[key] = (ImageFont.truetype(str(fonts[f]), size) if fonts[f] else ImageFont.load_default(size))
        stroke = int(rng.choice([0, 0, 0, 1, 1, 2]))
        glyph = _render(char, loaded[key], stroke)
        raw[i] = _distort(glyph, rng, fields[i])
        writers[i] = fonts[f].stem if fonts[f] else "pillow-default"
    images = normalize_images(np.clip(raw, 0, 255))
    return ImageSet(images, labels, [p for p in fonts if p], writers=writers.astype(str),
                    notes=["SYNTHETIC: rendered fonts, not handwriting"])


__all__ = ["make_synthetic", "font_paths", "CLASSES_36"]
