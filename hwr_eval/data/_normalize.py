"""NIST-style size normalisation: the way MNIST digits were made from the NIST scans.

Crop to the ink, scale the longer side to 20 px keeping the aspect ratio (antialiased resampling with
Pillow), paste into a 28x28 frame and shift so the centre of mass lands at (14, 14) — the measured
average centre of mass of MNIST (pixel-index coordinates). Used for sources that are not already in that
form: FEMNIST letters (small ink in a big box), USPS (16x16, no margin), a user's own images.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import DataError

FRAME = 28
BOX = 20
CENTRE = 14.0  # MNIST's mean centre of mass, rows and columns alike

_RESAMPLE = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
}


def _bounding_boxes(mask: np.ndarray) -> np.ndarray:
    """(n, 4) array of top, bottom (exclusive), left, right (exclusive) of each mask's True pixels."""
    rows, cols = mask.any(axis=2), mask.any(axis=1)
    h, w = mask.shape[1:]
    top = rows.argmax(axis=1)
    bottom = h - rows[:, ::-1].argmax(axis=1)
    left = cols.argmax(axis=1)
    right = w - cols[:, ::-1].argmax(axis=1)
    return np.stack([top, bottom, left, right], axis=1)


def normalize_images(
    images: np.ndarray,
    *,
    ink: str = "light",
    box: int = BOX,
    frame: int = FRAME,
    threshold: float = 0.1,
    resample: str = "lanczos",
) -> np.ndarray:
    """Normalise handwritten characters the MNIST way.

    Parameters
    ----------
    images : array-like of shape (n, h, w) or (h, w)
        Grayscale images, uint8 0-255 (or floats in [0, 1], scaled up by 255).
    ink : {"light", "dark"}, default="light"
        ``"light"``: white ink on black (MNIST); ``"dark"``: dark ink on white, inverted first.
    box : int, default=20
        Size of the longer side of the ink after scaling.
    frame : int, default=28
        Side of the square output.
    threshold : float, default=0.1
        Pixels below this fraction of an image's maximum count as background: they set the crop and are
        zeroed, which removes faint scanning noise around the character.
    resample : {"lanczos", "bicubic", "bilinear", "box"}, default="lanczos"
        Pillow resampling filter; all of them antialias when shrinking.

    Returns
    -------
    ndarray of shape (n, frame, frame), uint8
        White ink on black. Images without ink come back all black.
    """
    arr = np.asarray(images)
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    if arr.ndim != 3:
        raise DataError(f"images must have shape (n, h, w), got {arr.shape}")
    if ink not in ("light", "dark"):
        raise DataError(f"ink must be 'light' or 'dark', got {ink!r}")
    if resample not in _RESAMPLE:
        raise DataError(f"unknown resampling {resample!r}; choose one of {', '.join(_RESAMPLE)}")
    if not 0 < box <= frame:
        raise DataError(f"box {box} must be in 1..{frame}")
    data = arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating) and arr.size and data.max() <= 1.0:
        data *= 255.0
    if ink == "dark":
        data = 255.0 - data
    peak = data.max(axis=(1, 2), keepdims=True)
    data = np.where(data >= threshold * peak, data, 0.0)
    mask = data > 0
    boxes = _bounding_boxes(mask)
    has_ink = mask.any(axis=(1, 2))
    out = np.zeros((len(data), frame, frame), dtype=np.uint8)
    filt = _RESAMPLE[resample]
    for i in np.flatnonzero(has_ink):
        top, bottom, left, right = boxes[i]
        crop = data[i, top:bottom, left:right]
        h, w = crop.shape
        scale = box / max(h, w)
        new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
        patch = np.asarray(Image.fromarray(crop, mode="F").resize((new_w, new_h), filt), dtype=np.float32)
        patch = np.clip(patch, 0.0, 255.0)
        total = patch.sum()
        if total <= 0:
            continue
        cy = (patch.sum(axis=1) @ np.arange(new_h)) / total
        cx = (patch.sum(axis=0) @ np.arange(new_w)) / total
        # Integer shift (as MNIST did), kept inside the frame so no ink is cut off.
        oy = int(np.clip(round(CENTRE * frame / FRAME - cy), 0, frame - new_h))
        ox = int(np.clip(round(CENTRE * frame / FRAME - cx), 0, frame - new_w))
        out[i, oy:oy + new_h, ox:ox + new_w] = np.rint(patch).astype(np.uint8)
    return out[0] if single else out


def center_of_mass(images: np.ndarray) -> np.ndarray:
    """(n, 2) centre of mass (row, column) of each image, in pixel-index coordinates."""
    data = np.asarray(images, dtype=np.float64)
    if data.ndim == 2:
        data = data[None]
    total = data.sum(axis=(1, 2))
    total = np.where(total > 0, total, 1.0)
    rows = data.sum(axis=2) @ np.arange(data.shape[1]) / total
    cols = data.sum(axis=1) @ np.arange(data.shape[2]) / total
    return np.stack([rows, cols], axis=1)


__all__ = ["normalize_images", "center_of_mass"]
