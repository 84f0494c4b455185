"""Render dataset characters as a realistic scan: dark ink on light paper, any size, noisy, tilted, JPEG.

Used by the tests (held-out test images go through files and back) and by ``hwr-eval data sample-image``,
which writes an example image to try ``hwr-eval predict`` on. Nothing rendered here is stored in the
repository: the images come from the user's own data at run time.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from ..io import atomic_write_bytes


def render_scan(
    images: np.ndarray,
    *,
    height: int = 120,
    gaps: float | tuple[float, float] = (0.15, 0.6),
    rotation: float = 3.0,
    noise: float = 6.0,
    paper: int = 235,
    ink: int = 25,
    resample: str = "bicubic",
    random_state: int | np.random.Generator | None = 0,
) -> Image.Image:
    """Paste 28x28 white-on-black characters side by side as one grey "scan" of dark ink on paper.

    Parameters
    ----------
    images : array-like of shape (k, 784) or (k, 28, 28), uint8
        Characters as in the datasets (white ink on black), left to right.
    height : int, default=120
        Pixels per 28 px frame: characters are scaled by ``height / 28`` (relative sizes are kept).
    gaps : float or (low, high), default=(0.15, 0.6)
        Space between two characters' ink, as a fraction of ``height``; a range draws each gap.
    rotation : float, default=3.0
        The line is turned by an angle drawn from [-rotation, rotation] degrees.
    noise : float, default=6.0
        Standard deviation of Gaussian sensor noise, in grey levels.
    paper, ink : int
        Grey levels of the paper and of the darkest ink.
    resample : {"bicubic", "lanczos", "bilinear"}, default="bicubic"
        Filter that enlarges the 28x28 characters (smooth strokes, as a pen draws them).
    random_state : int, Generator or None

    Returns
    -------
    PIL.Image.Image, mode "L"
    """
    rng = np.random.default_rng(random_state)
    filters = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS, "bilinear": Image.Resampling.BILINEAR}
    if resample not in filters:
        raise DataError(f"unknown resampling {resample!r}; choose one of {', '.join(filters)}")
    chars = np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)
    if len(chars) == 0:
        raise DataError("no characters to render")
    pieces = []
    for char in chars:
        big = np.asarray(Image.fromarray(char).resize((height, height), filters[resample]), dtype=np.float32)
        cols = np.flatnonzero(big.max(axis=0) > 40)
        pieces.append(big[:, cols.min():cols.max() + 1] if cols.size else big[:, : height // 2])
    low, high = (gaps, gaps) if np.isscalar(gaps) else gaps
    margin = max(4, round(0.3 * height))
    widths = [p.shape[1] for p in pieces]
    spaces = [round(float(rng.uniform(low, high)) * height) for _ in pieces[1:]]
    canvas = np.zeros((height + 2 * margin, sum(widths) + sum(spaces) + 2 * margin), dtype=np.float32)
    x = margin
    for k, piece in enumerate(pieces):
        canvas[margin:margin + height, x:x + piece.shape[1]] = np.maximum(canvas[margin:margin + height, x:x + piece.shape[1]], piece)
        x += piece.shape[1] + (spaces[k] if k < len(spaces) else 0)
    angle = float(rng.uniform(-rotation, rotation))
    turned = Image.fromarray(canvas).rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=0.0)
    level = np.clip(np.asarray(turned, dtype=np.float32) / 255.0, 0.0, 1.0)
    grey = paper - level * (paper - ink) + rng.normal(0.0, noise, size=level.shape)
    return Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8))


def save_scan(image: Image.Image, path: str | os.PathLike, *, quality: int = 70) -> Path:
    """Write a rendered scan atomically in the format its suffix names (JPEG at ``quality``)."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown image suffix; use .png, .jpg, .tif, .bmp or .gif")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    atomic_write_bytes(path, buffer.getvalue())
    return path


__all__ = ["render_scan", "save_scan"]
