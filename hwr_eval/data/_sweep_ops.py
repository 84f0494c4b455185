"""Batch image helpers of the corruption sweep: bilinear resampling, affine warps, strokes, tiled filters."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage


def sample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear samples ``images[i, rows[i], cols[i]]``; outside the image is background (0)."""
    n = images.shape[0]
    index = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None], rows.shape)
    return ndimage.map_coordinates(images, [index, rows, cols], order=1, mode="constant", cval=0.0)


def affine(images: np.ndarray, matrices: np.ndarray, shifts: np.ndarray | None = None) -> np.ndarray:
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
    return sample(images, src[:, 0], src[:, 1])


def rotation_matrices(radians: np.ndarray) -> np.ndarray:
    """Inverse maps that turn the content counter-clockwise by ``radians`` (rows point down)."""
    cos, sin = np.cos(radians), np.sin(radians)
    return np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)


def random_signs(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=shape)


def segments(side: int, starts: np.ndarray, ends: np.ndarray, width: float = 1.2) -> np.ndarray:
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


def tiled(x: np.ndarray, edge_filter: Callable[[np.ndarray], np.ndarray], pad: int) -> np.ndarray:
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
