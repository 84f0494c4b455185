"""Devices: ``device="auto"`` resolved for the duration of a call, and the CPU's native bf16 behind ``precision="auto"``."""

from __future__ import annotations

import functools
import platform

import torch

from ..errors import HwrError

# precision="auto" on the CPU. Measured on a CPU with native bf16 instructions (AVX512-BF16, no AMX;
# torch 2.13, 2 threads; min over interleaved repeats, one 512-row Adam step, 36 classes):
#   cnn    NCHW fp32 55 ms, channels-last fp32 56 ms, channels-last bf16 29 ms (1.9x)
#   lenet5 NCHW fp32 30 ms, channels-last bf16 24 ms;  mlp fp32 5.1 ms, bf16 3.9 ms
# and the default CNN reached the same MNIST test accuracy in bf16 as in fp32 (92.5/94.5% vs 92.7/94.5%,
# two seeds, 16k rows, 5 epochs). End to end, one epoch of the default CNN on 45k rows (36k train + 9k
# validation, 36 classes): plain skorch NeuralNetClassifier 5.4 s, HwrNet fp32 4.6 s, HwrNet auto (bf16,
# channels-last) 2.4 s, i.e. 2.2x plain skorch. So "auto" uses bf16 for convolutional nets on CPUs with native bf16
# and keeps fp32 elsewhere (fully connected nets gain little, and without native bf16 it is emulated).
# On CUDA, bf16 autocast is the standard speed-up on GPUs that support it.
# "Native" means bf16 instructions (AVX512-BF16 or AMX on x86): oneDNN's own check also says yes on
# AVX-512 CPUs without them (it only asks for AVX512-BW/VL/DQ), where bf16 is converted in software, and
# on AVX2-only CPUs bf16 is slower than fp32 altogether.


def _cpu_has_native_bf16() -> bool:
    """Whether the CPU executes bf16 matrix arithmetic in hardware (x86: AVX512-BF16 or AMX)."""
    try:
        if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # Arm: oneDNN checks the bf16 extension
    except (AttributeError, RuntimeError):
        return False


def auto_precision(device: torch.device, has_conv: bool, cpu_has_native_bf16=_cpu_has_native_bf16) -> str:
    """The precision ``precision="auto"`` stands for: the faster one on the hardware at hand.

    Parameters
    ----------
    device : torch.device
        Where the net trains.
    has_conv : bool
        Whether the net has convolutions (only those were measured faster in bf16 on the CPU).
    cpu_has_native_bf16 : callable, default=_cpu_has_native_bf16
        The CPU capability check (injectable, so the choice can be tested on any machine).

    Returns
    -------
    {"fp32", "bf16"}
    """
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and has_conv and cpu_has_native_bf16() else "fp32"


def _resolve_device(device) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise HwrError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise HwrError(f"device={device!r} requested but CUDA is not available here; use device='auto' or 'cpu'")
    return dev


def _with_device(method):
    """Run ``method`` with ``self.device`` temporarily set to the concrete device ``"auto"`` stands for.

    skorch reads ``self.device`` in many places; resolving it only for the duration of the call keeps the
    *parameter* as the user set it (``"auto"``), so ``get_params``/``clone`` stay faithful.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self.__dict__.get("_device_resolved"):
            return method(self, *args, **kwargs)
        user_device = self.device
        self.__dict__["device"] = str(_resolve_device(user_device))
        self.__dict__["_device_resolved"] = True
        try:
            return method(self, *args, **kwargs)
        finally:
            self.__dict__["device"] = user_device
            self.__dict__["_device_resolved"] = False

    return wrapper
