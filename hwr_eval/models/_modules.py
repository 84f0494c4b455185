"""The study's PyTorch networks as plain ``nn.Module`` classes (skorch builds them from parameters).

Every module takes flat pixel rows ``(n, n_features)`` as the scikit-learn side delivers them and returns
logits ``(n, n_classes)``. The convolutional ones reshape rows to square images: 784 features are the
28x28 images of the study, 256 would be USPS's 16x16. Feature counts that are not a square number (the
toy data of scikit-learn's estimator checks) are zero-padded to the next square, so every model accepts
any tabular input without special cases elsewhere.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import HwrError

POOLS = ("avg", "max")


def image_side(n_features: int, min_side: int = 1) -> int:
    """Side of the smallest square image holding ``n_features`` pixels (at least ``min_side``)."""
    return max(math.isqrt(max(n_features, 1) - 1) + 1, min_side)


class _AsImage(nn.Module):
    """Reshape flat rows to ``(n, 1, side, side)`` images, zero-padding rows that are not a full square."""

    def __init__(self, n_features: int, side: int):
        super().__init__()
        self.n_features = n_features
        self.side = side
        self.pad = side * side - n_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = nn.functional.pad(x, (0, self.pad))
        return x.reshape(x.shape[0], 1, self.side, self.side)


class _GradInInputLayout(torch.autograd.Function):
    """Identity whose gradient leaves in the memory layout its input had (channels-last or not)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous(memory_format=torch.channels_last) if ctx.channels_last else grad


class _Flatten(nn.Flatten):
    """``nn.Flatten`` whose backward hands a channels-last feature map its gradient in channels-last.

    Flattening a channels-last map copies it to row-major order, and the gradient comes back row-major;
    the pooling layer before it then ran its backward on mixed layouts, which made ``avg_pool2d_backward``
    about 3x slower and added two full-size copies per step on an AVX2 CPU (one 512-row step of the CNN,
    1 thread, medians of 11 interleaved: 447 ms as ``nn.Flatten``, 405 ms with this). Same numbers, same
    state dict; NCHW maps pass through untouched.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_GradInInputLayout.apply(x) if x.dim() == 4 else x)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise HwrError(f"{name} must be a positive integer, got {value!r}")


class LinearNet(nn.Module):
    """One linear layer ``n_features -> n_classes``: multinomial logistic regression trained by SGD/Adam.

    Parameters
    ----------
    n_classes : int, default=36
        Number of output logits.
    n_features : int, default=784
        Pixels per input row.
    """

    def __init__(self, n_classes: int = 36, n_features: int = 784):
        super().__init__()
        _check_positive(n_classes=n_classes, n_features=n_features)
        self.linear = nn.Linear(n_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class MLP(nn.Module):
    """``n_features -> hidden -> n_classes`` with ReLU and dropout before the classifier.

    Parameters
    ----------
    n_classes : int, default=36
        Number of output logits.
    n_features : int, default=784
        Pixels per input row.
    hidden : int, default=256
        Width of the hidden layer (the study searched 250-260).
    dropout : float, default=0.5
        Dropout probability applied to the hidden activations.
    """

    def __init__(self, n_classes: int = 36, n_features: int = 784, hidden: int = 256, dropout: float = 0.5):
        super().__init__()
        _check_positive(n_classes=n_classes, n_features=n_features, hidden=hidden)
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _conv3x3(c_in: int, c_out: int, batchnorm: bool, pool: bool = False) -> list[nn.Module]:
    """3x3 convolution (padding 1) and ReLU, with BatchNorm in between when asked (the bias is then
    redundant: BatchNorm's shift replaces it), and 2x2 max pooling right after the convolution when asked
    (BatchNorm and ReLU then run on a quarter of the positions; max pooling commutes with ReLU)."""
    # In-place ReLU: neither the convolution's nor BatchNorm's backward needs the tensor it overwrites,
    # and it saves allocating (and page-faulting) one feature map per layer per step.
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batchnorm)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    if batchnorm:
        layers.append(nn.BatchNorm2d(c_out))
    return [*layers, nn.ReLU(inplace=True)]


class CNN(nn.Module):
    """The study's CNN: two 3x3 convolutions (padding 1), each with ReLU and 2x2 pooling, then dropout
    and a small classifier.

    Parameters
    ----------
    n_classes : int, default=36
        Number of output logits.
    n_features : int, default=784
        Pixels per input row; reshaped to a square image (28x28 for 784).
    channels : tuple of int, default=(16, 32)
        Output channels of the first and second convolution.
    hidden : int, default=128
        Width of the fully connected layer before the classifier.
    pool : {"avg", "max"}, default="avg"
        2x2 pooling after each convolution; the study found average pooling best.
    dropout : float, default=0.5
        Dropout probability before the classifier.
    batchnorm : bool, default=False
        BatchNorm after each convolution (not in the study; the ablation in ``bench/modern.py`` uses it).
    """

    def __init__(
        self,
        n_classes: int = 36,
        n_features: int = 784,
        channels: tuple[int, int] = (16, 32),
        hidden: int = 128,
        pool: str = "avg",
        dropout: float = 0.5,
        batchnorm: bool = False,
    ):
        super().__init__()
        if pool not in POOLS:
            raise HwrError(f"unknown pool type {pool!r}; choose one of {', '.join(POOLS)}")
        channels = tuple(channels)
        if len(channels) != 2:
            raise HwrError(f"channels must give two convolution widths, got {channels!r}")
        _check_positive(n_classes=n_classes, n_features=n_features, hidden=hidden, c1=channels[0], c2=channels[1])
        side = image_side(n_features, min_side=4)
        pool_cls = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        c1, c2 = channels
        self.features = nn.Sequential(
            _AsImage(n_features, side),
            *_conv3x3(1, c1, batchnorm),
            pool_cls(2),
            *_conv3x3(c1, c2, batchnorm),
            pool_cls(2),
            _Flatten(),
        )
        n_flat = c2 * (side // 4) ** 2
        self.classifier = nn.Sequential(
            nn.Linear(n_flat, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) adapted to 28x28 input.

    The first 5x5 convolution gets padding 2 so a 28x28 image plays the role of the original 32x32 input
    (a common adaptation); tanh activations and average pooling as in the original, followed by the
    120-84 fully connected layers.

    Parameters
    ----------
    n_classes : int, default=36
        Number of output logits.
    n_features : int, default=784
        Pixels per input row; reshaped to a square image (at least 12x12 after zero-padding).
    """

    def __init__(self, n_classes: int = 36, n_features: int = 784):
        super().__init__()
        _check_positive(n_classes=n_classes, n_features=n_features)
        side = image_side(n_features, min_side=12)
        after = ((side // 2) - 4) // 2  # conv5(pad 2) keeps side, pool halves, conv5 trims 4, pool halves
        self.features = nn.Sequential(
            _AsImage(n_features, side),
            nn.Conv2d(1, 6, 5, padding=2),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.Tanh(),
            nn.AvgPool2d(2),
            _Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * after * after, 120),
            nn.Tanh(),
            nn.Linear(120, 84),
            nn.Tanh(),
            nn.Linear(84, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ModernCNN(nn.Module):
    """A small modern CNN: five 3x3 convolutions with BatchNorm, global average pooling, dropout.

    Layout with the defaults ``c1-pool-c2-c3-pool-c4-pool-c5``: one convolution at full resolution, 2x2
    max pooling, two convolutions at 14x14, one at 7x7 and one at 3x3, then the mean over the remaining
    positions (global average pooling: no large fully connected layer) and dropout before one linear
    classifier. About 0.3 M parameters with the default widths, versus 0.2 M for the study's CNN, most of
    which sit in its fully connected layer.

    Pooling is applied to a convolution's output before its BatchNorm and ReLU, so they run on a quarter
    of the positions. On a CPU, BatchNorm, ReLU and pooling over
    full-resolution maps took more of a training step than the convolutions did; this layout trains an
    epoch in about three quarters of the time of ``c1-c2-pool-c3-c4-pool-c5`` and is more accurate after
    the same number of epochs (bench/results/time_to_accuracy.md).

    Parameters
    ----------
    n_classes : int, default=36
        Number of output logits.
    n_features : int, default=784
        Pixels per input row; reshaped to a square image (28x28 for 784).
    channels : tuple of 5 int, default=(32, 64, 64, 128, 128)
        Output channels of the five convolutions.
    pool_after : tuple of int, default=(1, 3, 4)
        Which convolutions (numbered 1 to 5) are followed by 2x2 max pooling; ``(2, 4)`` gives the
        classic ``c1-c2-pool-c3-c4-pool-c5`` layout.
    dropout : float, default=0.3
        Dropout probability before the classifier.
    batchnorm : bool, default=True
        BatchNorm after each convolution; False gives the same depth without it (the ablation's "+ depth").
    """

    def __init__(
        self,
        n_classes: int = 36,
        n_features: int = 784,
        channels: tuple[int, int, int, int, int] = (32, 64, 64, 128, 128),
        pool_after: tuple[int, ...] = (1, 3, 4),
        dropout: float = 0.3,
        batchnorm: bool = True,
    ):
        super().__init__()
        channels = tuple(channels)
        if len(channels) != 5:
            raise HwrError(f"channels must give five convolution widths, got {channels!r}")
        if not isinstance(pool_after, (tuple, list)) or len(set(pool_after)) != len(pool_after) \
                or not set(pool_after) <= {1, 2, 3, 4, 5}:
            raise HwrError(f"pool_after must name distinct convolutions among 1 to 5, got {pool_after!r}")
        pool_after = tuple(pool_after)
        _check_positive(n_classes=n_classes, n_features=n_features, **{f"c{i + 1}": c for i, c in enumerate(channels)})
        if not 0 <= dropout < 1:
            raise HwrError(f"dropout must be in [0, 1), got {dropout!r}")
        side, needed = image_side(n_features), 2 ** len(pool_after)
        # Padding a real image's flat rows would misalign its pixel rows: refuse. Feature counts under 8x8
        # are scikit-learn's toy checks, padded as the module docstring says.
        if side * side == n_features >= 64 and side < needed:
            raise HwrError(f"{len(pool_after)} poolings need images of at least {needed}x{needed} pixels, got "
                           f"{side}x{side}; pool after fewer convolutions")
        side = max(side, needed)
        layers: list[nn.Module] = [_AsImage(n_features, side)]
        for i, (c_in, c_out) in enumerate(zip((1, *channels), channels), start=1):
            layers += _conv3x3(c_in, c_out, batchnorm, pool=i in pool_after)
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), _Flatten())
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels[-1], n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
