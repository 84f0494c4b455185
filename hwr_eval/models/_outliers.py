"""Outlier exposure (Hendrycks et al., 2019): train on generated "not a character" images towards uniform output.

With ``HwrNet(outlier_exposure=...)`` every training batch of ``n`` known images is joined by
``round(ratio * n)`` outliers generated from that batch's own images, and the loss becomes

    CE(known logits, labels) + weight * mean over outliers of ( -mean_k log_softmax(logits)_k ),

the second term being the cross-entropy to the uniform distribution over the classes. Nothing but the
training step changes: the validation loss (early stopping) and every prediction are the plain model's.

The generators work on the scaled pixels (the ``PixelScaler`` output: white ink high, any range) and
take their gray levels from the batch itself, so they fit every scaling mode; on binary batches the
outliers are binary too. Each outlier is rebuilt from real handwriting, so it has the strokes, widths
and gray levels of the known images but not the shape of any character:

* ``"jigsaw"``: the image cut into a 4x4 grid of patches (7x7 pixels at 28x28) moved along one random
  cycle, so every patch leaves its place: stroke pieces out of order.
* ``"splice"``: one half of an image (left/right or top/bottom, cut within 3 pixels of the middle)
  joined to the other half of an image of a different class.
* ``"overlay"``: two images of different classes on top of each other, the second moved by 2-5 pixels
  on each axis (the brighter pixel wins).
* ``"zoom"``: a window of 7-12 pixels around a random ink pixel, enlarged to the full image: a
  fragment of a stroke at 2.3-4 times its size.
* ``"field"`` (not in the default set): a smooth low-frequency random field thresholded so that 15-35%
  of the image is ink, with soft edges.

They differ on purpose from the unknown inputs the evaluation scores (blank or near-blank images,
Gaussian and salt-and-pepper noise, random pen strokes and scribbles, heavy blobs, lowercase letters):
the four default generators never draw anything (no noise, no synthetic strokes or blobs) and keep
the source images' amount of ink (``zoom`` is centred on ink), and none of them writes a letter. The
``field`` generator is the one closest to the evaluation's blobs, so it is left out of the default
set and available by name (``OutlierExposure(generators=(..., "field"))``).

Random draws come from ``generator`` (None: torch's global generator on the batch's device, which
``HwrNet(random_state=...)`` seeds for the whole fit, as it does for ``augment``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from .._validation import check_constraints
from ..errors import HwrError
from ._augment import _smoothing_matrix

GRID = 4  # jigsaw: patches per side (7x7 patches on 28x28 images: a stroke piece each)
SPLICE_JITTER = 3  # splice: the cut is within this many pixels of the middle
OVERLAY_SHIFT = (2, 5)  # overlay: the second image moves this many pixels on each axis
ZOOM_WINDOW = (7, 12)  # zoom: side of the enlarged window in pixels (on 28x28: 2.3x to 4x)
FIELD_POINTS = 4  # field: random control values per side (features about 7 pixels wide at 28x28)
FIELD_INK = (0.15, 0.35)  # field: fraction of the image that is ink, drawn per image


def _draw(shape, generator, device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=device)


def _sources(images: torch.Tensor, count: int, generator) -> torch.Tensor:
    return torch.randint(len(images), (count,), generator=generator, device=images.device)


def _partners(y: torch.Tensor, rows: torch.Tensor, generator) -> torch.Tensor:
    """A random other image for each of ``rows``, of a different class whenever the batch has one."""
    scores = _draw((len(rows), len(y)), generator, y.device)
    scores = scores - 2.0 * (y[rows][:, None] == y[None, :]).float()  # other classes first
    scores[torch.arange(len(rows), device=y.device), rows] = -4.0  # the image itself last
    return scores.argmax(dim=1)


def _pair(images, y, count, generator) -> tuple[torch.Tensor, torch.Tensor]:
    rows = _sources(images, count, generator)
    partners = _partners(y, rows, generator)
    first = images[rows]
    # A batch of one image has no partner: the image shifted by half its side stands in.
    second = torch.where((partners == rows)[:, None, None], first.roll(images.shape[-1] // 2, dims=-1),
                         images[partners])
    return first, second


def jigsaw(images: torch.Tensor, y: torch.Tensor, count: int, generator=None) -> torch.Tensor:
    """Images with their ``GRID x GRID`` patches moved along one random cycle (no patch stays in place)."""
    side = images.shape[-1]
    p = side // GRID
    out = images[_sources(images, count, generator)].clone()
    patches = out[:, : GRID * p, : GRID * p].reshape(count, GRID, p, GRID, p).transpose(2, 3)
    patches = patches.reshape(count, GRID * GRID, p, p)
    order = _draw((count, GRID * GRID), generator, images.device).argsort(dim=1)
    # Position order[k] receives the patch from order[k + 1]: one cycle through all patches.
    source = torch.empty_like(order).scatter_(1, order, order.roll(-1, dims=1))
    moved = patches.gather(1, source[:, :, None, None].expand(-1, -1, p, p))
    out[:, : GRID * p, : GRID * p] = moved.reshape(count, GRID, GRID, p, p).transpose(2, 3).reshape(
        count, GRID * p, GRID * p)
    return out


def splice(images: torch.Tensor, y: torch.Tensor, count: int, generator=None) -> torch.Tensor:
    """One half of an image joined to the other half of an image of a different class."""
    first, second = _pair(images, y, count, generator)
    side = images.shape[-1]
    u = _draw((count, 2), generator, images.device)
    cut = side // 2 + ((u[:, 0] * 2 - 1) * SPLICE_JITTER).round()
    position = torch.arange(side, device=images.device, dtype=cut.dtype)
    left = position[None, None, :] < cut[:, None, None]  # (count, 1, side): columns before the cut
    top = position[None, :, None] < cut[:, None, None]  # (count, side, 1): rows before the cut
    keep = torch.where((u[:, 1] < 0.5)[:, None, None], left.expand(-1, side, -1), top.expand(-1, -1, side))
    return torch.where(keep, first, second)


def overlay(images: torch.Tensor, y: torch.Tensor, count: int, generator=None) -> torch.Tensor:
    """Two images of different classes on top of each other, one moved a little (ink is high: the brighter wins)."""
    first, second = _pair(images, y, count, generator)
    # The second image moved by 2-5 pixels on each axis, so that its strokes cross the first's rather
    # than hide in them (centred characters overlap most).
    u = _draw((count, 4), generator, images.device)
    shift = (OVERLAY_SHIFT[0] + u[:, :2] * (OVERLAY_SHIFT[1] - OVERLAY_SHIFT[0])).round() * torch.where(u[:, 2:] < 0.5, -1, 1)
    side = images.shape[-1]
    moved = _affine(second, torch.ones(count, device=images.device), *(2 * shift / side).unbind(1), mode="nearest")
    return torch.maximum(first, moved)


def zoom(images: torch.Tensor, y: torch.Tensor, count: int, generator=None) -> torch.Tensor:
    """A small window around a random ink pixel, enlarged to the whole image."""
    side = images.shape[-1]
    src = images[_sources(images, count, generator)]
    ink = (src - src.amin(dim=(1, 2), keepdim=True)).reshape(count, -1) + 1e-6  # blank images: any pixel
    centre = torch.multinomial(ink, 1, generator=generator).squeeze(1)
    u = _draw(count, generator, images.device)
    scale = (ZOOM_WINDOW[0] + u * (ZOOM_WINDOW[1] - ZOOM_WINDOW[0])) / side
    # Pixel centres in grid_sample's [-1, 1] coordinates; the window stays inside the image.
    cx = ((2 * (centre % side) + 1) / side - 1).clamp(-(1 - scale), 1 - scale)
    cy = ((2 * (centre // side) + 1) / side - 1).clamp(-(1 - scale), 1 - scale)
    return _affine(src, scale, cx, cy, mode="bilinear")


def _affine(images: torch.Tensor, scale: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, mode: str) -> torch.Tensor:
    """Each image resampled so that output pixel p shows input point ``scale * p + (cx, cy)`` ([-1, 1] units).

    Points outside the image take the border pixels' value: the background.
    """
    count, side = len(images), images.shape[-1]
    zero = torch.zeros_like(scale)
    theta = torch.stack([torch.stack([scale, zero, cx], -1), torch.stack([zero, scale, cy], -1)], 1)
    grid = F.affine_grid(theta, [count, 1, side, side], align_corners=False)
    out = F.grid_sample(images[:, None].float(), grid, mode=mode, padding_mode="border", align_corners=False)
    return out[:, 0].to(images.dtype)


def field(images: torch.Tensor, y: torch.Tensor, count: int, generator=None) -> torch.Tensor:
    """A smooth random field thresholded to 15-35% ink (soft edges), in the batch's gray levels."""
    side = images.shape[-1]
    device = images.device
    smooth = _smoothing_matrix(side, FIELD_POINTS, device)
    control = torch.randn((count, FIELD_POINTS, FIELD_POINTS), generator=generator, device=device)
    values = (smooth @ control @ smooth.T).reshape(count, -1)
    values = (values - values.mean(1, keepdim=True)) / values.std(1, keepdim=True).clamp_min(1e-6)
    share = FIELD_INK[0] + _draw(count, generator, device) * (FIELD_INK[1] - FIELD_INK[0])
    k = ((1 - share) * (side * side - 1)).long()
    threshold = values.sort(dim=1).values.gather(1, k[:, None])
    ink = ((values - threshold) / 0.3 + 0.5).clamp(0, 1)  # a ~1-pixel soft edge, like anti-aliased ink
    low, high = images.amin(), images.amax()
    return (low + (high - low) * ink).reshape(count, side, side).to(images.dtype)


#: The generators by name, in the order a batch's outliers are shared out among them.
OUTLIER_GENERATORS: dict[str, Callable] = {
    "jigsaw": jigsaw, "splice": splice, "overlay": overlay, "zoom": zoom, "field": field,
}
DEFAULT_GENERATORS = ("jigsaw", "splice", "overlay", "zoom")


@dataclass(frozen=True)
class OutlierExposure:
    """How many outliers to generate per training batch, how much their loss counts, and which kinds.

    Parameters
    ----------
    ratio : float, default=0.5
        Outliers per known image of a batch (``round(ratio * batch)``, at least one).
    weight : float, default=0.5
        Weight of the outliers' cross-entropy to the uniform distribution (the paper's lambda).
    generators : tuple of str, default=("jigsaw", "splice", "overlay", "zoom")
        Names from :data:`OUTLIER_GENERATORS`; a batch's outliers are shared out equally among them.
    """

    ratio: float = 0.5
    weight: float = 0.5
    generators: tuple = DEFAULT_GENERATORS

    def __post_init__(self):
        positive = [Interval(Real, 0, None, closed="neither")]
        check_constraints({"ratio": positive, "weight": positive, "generators": [list, tuple]},
                          {"ratio": self.ratio, "weight": self.weight, "generators": self.generators},
                          "OutlierExposure")
        unknown = [g for g in self.generators if not isinstance(g, str) or g not in OUTLIER_GENERATORS]
        if unknown or not self.generators:
            raise HwrError(f"OutlierExposure.generators must be a non-empty list of {', '.join(OUTLIER_GENERATORS)}; "
                           f"got {list(self.generators)!r}")
        object.__setattr__(self, "generators", tuple(self.generators))  # hashable, equal however it was given


#: The ``outlier_exposure`` presets of :class:`~hwr_eval.models.HwrNet`.
OUTLIER_PRESETS = {"generated": OutlierExposure()}


def resolve_outlier_exposure(outlier_exposure) -> OutlierExposure | None:
    """``None``, a preset name or an :class:`OutlierExposure` -> the :class:`OutlierExposure` to train with."""
    if outlier_exposure is None or isinstance(outlier_exposure, OutlierExposure):
        return outlier_exposure
    if isinstance(outlier_exposure, str) and outlier_exposure in OUTLIER_PRESETS:
        return OUTLIER_PRESETS[outlier_exposure]
    raise HwrError(f"outlier_exposure must be None, one of {', '.join(OUTLIER_PRESETS)} or an OutlierExposure, "
                   f"got {outlier_exposure!r}")


def make_outliers(X: torch.Tensor, y: torch.Tensor, spec: OutlierExposure, generator=None) -> torch.Tensor:
    """Outliers generated from a batch of flat square images ``X`` ``(n, side*side)`` with labels ``y``.

    Returns ``round(spec.ratio * n)`` (at least one) rows shared out equally among ``spec.generators``
    (the remainder one each, from a generator picked at random on); on a batch whose pixels take only two values they
    are thresholded to those two values.
    """
    n, n_features = X.shape
    side = math.isqrt(n_features)
    if side * side != n_features or side < GRID:
        raise HwrError(f"outlier_exposure needs square images of at least {GRID}x{GRID} pixels, got {n_features} "
                       "values per row")
    images = X.reshape(n, side, side)
    count = max(1, round(spec.ratio * n))
    names = spec.generators
    where = generator.device if generator is not None else "cpu"
    start = int(torch.randint(len(names), (1,), generator=generator, device=where))
    parts = []
    for k in range(len(names)):
        name = names[(start + k) % len(names)]
        share = count // len(names) + (k < count % len(names))
        if share:
            parts.append(OUTLIER_GENERATORS[name](images, y, share, generator))
    out = torch.cat(parts).reshape(count, n_features)
    low, high = X.amin(), X.amax()
    if bool(((X == low) | (X == high)).all()):  # binary pixels (PixelScaler mode="binary"): keep them binary
        out = torch.where(out > (low + high) / 2, high, low)
    return out


def uniform_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean over rows of the cross-entropy from the uniform distribution: ``-mean_k log_softmax(logits)_k``."""
    return -logits.float().log_softmax(dim=1).mean(dim=1).mean()


class OutlierExposureMixin:
    """The training step of ``HwrNet`` with outlier exposure; two hooks to override.

    ``get_outliers(X, y)`` builds a batch's outliers and ``get_outlier_loss(logits)`` scores their
    logits; known images and outliers go through the network in one forward pass, as in the paper
    (batch normalisation sees both), and only the known images' logits reach the accuracy scoring.
    """

    def get_outliers(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Outliers for one training batch (see :func:`make_outliers`), on the batch's device."""
        return make_outliers(X, y, resolve_outlier_exposure(self.outlier_exposure))

    def get_outlier_loss(self, logits: torch.Tensor) -> torch.Tensor:
        """The outliers' loss before weighting: cross-entropy to the uniform distribution."""
        return uniform_cross_entropy(logits)

    def train_step_single(self, batch, **fit_params):
        spec = resolve_outlier_exposure(self.outlier_exposure)
        if spec is None:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        if not isinstance(Xi, torch.Tensor) or Xi.ndim != 2 or yi is None:
            raise HwrError("outlier_exposure needs labelled rows of flat image pixels (array input)")
        Xi, yi = to_tensor(Xi, device=self.device), to_tensor(yi, device=self.device)
        outliers = self.get_outliers(Xi, yi)
        logits = self.infer(torch.cat([Xi, outliers.to(Xi.dtype)]), **fit_params)
        y_pred, outlier_logits = logits[: len(Xi)], logits[len(Xi):]
        loss = self.get_loss(y_pred, yi, X=Xi, training=True) + spec.weight * self.get_outlier_loss(outlier_logits)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}
