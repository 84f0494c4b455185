"""On-the-fly training augmentation for the PyTorch models: random affine (and elastic) warps per batch.

The warp runs on the whole batch tensor where it already lives (``F.affine_grid`` + ``F.grid_sample``),
inside the training batches of :class:`~hwr_eval.models._batching.TensorBatches`; prediction and
validation batches are never touched. Random draws come from torch's global generator, which
``HwrNet(random_state=...)`` seeds for the whole fit, so a seeded fit is reproducible.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import HwrError


@dataclass(frozen=True)
class Augment:
    """Ranges of the random warp applied to each training image (each drawn uniformly per image).

    Parameters
    ----------
    degrees : float, default=30
        Rotation in [-degrees, +degrees].
    scale : float, default=0.1
        Zoom factor in [1 - scale, 1 + scale].
    shear : float, default=0.0
        Horizontal shear factor in [-shear, +shear] (0.2 slants a 28-pixel column by ~3 pixels).
    translate : float, default=0.1
        Shift in [-translate, +translate] of the image side, each axis.
    elastic : float, default=0.0
        Largest elastic displacement in pixels (0: none), from a smooth random field.
    elastic_cell : float, default=4.0
        Pixels between the field's random control points: larger is smoother.
    p : float, default=0.5
        Probability that an image of a batch is warped; the rest is shown unchanged, so the clean
        images' statistics stay in every batch.
    """

    degrees: float = 30.0
    scale: float = 0.1
    shear: float = 0.0
    translate: float = 0.1
    elastic: float = 0.0
    elastic_cell: float = 4.0
    p: float = 0.5

    def __post_init__(self):
        for name in ("degrees", "scale", "shear", "translate", "elastic", "p"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value >= 0:
                raise HwrError(f"Augment.{name} must be a non-negative number, got {value!r}")
        if self.scale >= 1 or self.p > 1:
            raise HwrError(f"Augment.scale must be below 1 and p at most 1, got scale={self.scale!r}, p={self.p!r}")
        if not self.elastic_cell >= 1:
            raise HwrError(f"Augment.elastic_cell must be at least 1 pixel, got {self.elastic_cell!r}")


#: The ``augment`` presets of :class:`~hwr_eval.models.HwrNet` (ranges chosen on the reference protocol,
#: see ``bench/results/robustness.md``).
AUGMENT_PRESETS = {
    "affine": Augment(degrees=30.0, scale=0.1, shear=0.0, translate=0.1, p=0.5),
    "elastic": Augment(degrees=30.0, scale=0.1, shear=0.0, translate=0.1, elastic=1.5, p=0.5),
}


def resolve_augment(augment) -> Augment | None:
    """``None``, a preset name or an :class:`Augment` -> the :class:`Augment` to apply (or None)."""
    if augment is None or augment == "none":
        return None
    if isinstance(augment, Augment):
        return augment
    if isinstance(augment, str) and augment in AUGMENT_PRESETS:
        return AUGMENT_PRESETS[augment]
    raise HwrError(f"augment must be None, one of {', '.join(AUGMENT_PRESETS)} or an Augment, got {augment!r}")


def _uniform(n: int, bound: float, device) -> torch.Tensor:
    return (torch.rand(n, device=device) * 2 - 1) * bound


def _smoothing_matrix(side: int, points: int, device) -> torch.Tensor:
    """(side, points) weights that spread ``points`` random control values smoothly over ``side`` pixels.

    Upsampling the field as ``U @ field @ U.T`` (two small matrix products) took ~1 ms per batch of 512
    on one CPU thread, against 24-41 ms for ``F.interpolate`` (bilinear / bicubic).
    """
    position = torch.linspace(0, points - 1, side, device=device)[:, None]
    weights = torch.exp(-0.5 * ((position - torch.arange(points, device=device)) / 0.6) ** 2)
    return weights / weights.sum(dim=1, keepdim=True)


def _pixel_centres(side: int, device) -> torch.Tensor:
    """(side*side, 3) homogeneous (x, y, 1) pixel centres in [-1, 1], rows first (align_corners=False)."""
    base = (torch.arange(side, device=device, dtype=torch.float32) * 2 + 1) / side - 1
    y, x = torch.meshgrid(base, base, indexing="ij")
    return torch.stack([x.flatten(), y.flatten(), torch.ones_like(x).flatten()], 1)


def augment_batch(X: torch.Tensor, spec: Augment) -> torch.Tensor:
    """A randomly warped copy of a batch of flat square images ``(n, side*side)``.

    Corners that come from outside the image take the border pixels' value (``padding_mode="border"``),
    which is the background for any pixel scaling (-1, 0, ...), so no scaling has to be assumed.
    """
    n, n_features = X.shape
    side = math.isqrt(n_features)
    if side * side != n_features or n == 0:
        return X
    device = X.device
    chosen = torch.rand(n, device=device) < spec.p
    rows = torch.nonzero(chosen).squeeze(1)  # only these are warped: half the work at p=0.5
    m = len(rows)
    angle = _uniform(m, math.radians(spec.degrees), device)
    zoom = 1 + _uniform(m, spec.scale, device)
    shear = _uniform(m, spec.shear, device)
    shift_x = _uniform(m, 2 * spec.translate, device)
    shift_y = _uniform(m, 2 * spec.translate, device)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # theta maps output to input coordinates (x = column, y = row, both in [-1, 1]); one matrix product
    # with the pixel centres builds the sampling grid (F.affine_grid and broadcast arithmetic were 4-10x
    # slower on the CPU for batches of 512).
    theta = torch.stack([torch.stack([cos, cos * shear - sin, shift_x], -1),
                         torch.stack([sin, sin * shear + cos, shift_y], -1)], 1)  # (m, 2, 3)
    grid = torch.matmul(_pixel_centres(side, device), theta.transpose(1, 2)).reshape(m, side, side, 2)
    if spec.elastic > 0:
        points = max(2, round(side / spec.elastic_cell) + 1)
        smooth = _smoothing_matrix(side, points, device)
        field = (torch.rand(m, 2, points, points, device=device) * 2 - 1) * (2 * spec.elastic / side)
        grid = grid + (smooth @ field @ smooth.T).permute(0, 2, 3, 1)  # (m, side, side, 2)
    images = X[rows].reshape(m, 1, side, side).float()
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return X.index_copy(0, rows, warped.reshape(m, n_features).to(X.dtype))
