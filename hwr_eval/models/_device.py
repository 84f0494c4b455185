"""Devices: ``device="auto"`` resolved for the duration of a call, and the CPU's native bf16 behind ``precision="auto"``."""

from __future__ import annotations

import functools

import torch

from ..errors import HwrError

# precision="auto" on the CPU. Measured on the development CPU (AMD EPYC, AVX-512 with native bf16, no
# AMX; torch 2.13, 2 threads; min over interleaved repeats, one 512-row Adam step, 36 classes):
#   cnn    NCHW fp32 55 ms, channels-last fp32 56 ms, channels-last bf16 29 ms (1.9x)
#   lenet5 NCHW fp32 30 ms, channels-last bf16 24 ms;  mlp fp32 5.1 ms, bf16 3.9 ms
# and the default CNN reached the same MNIST test accuracy in bf16 as in fp32 (92.5/94.5% vs 92.7/94.5%,
# two seeds, 16k rows, 5 epochs). End to end, one epoch of the default CNN on 45k rows (36k train + 9k
# validation, 36 classes): plain skorch NeuralNetClassifier 5.4 s, HwrNet fp32 4.6 s, HwrNet auto (bf16,
# channels-last) 2.4 s, i.e. 2.2x plain skorch. So "auto" uses bf16 for convolutional nets on CPUs with native bf16
# and keeps fp32 elsewhere (fully connected nets gain little, and without native bf16 it is emulated).
# On CUDA, bf16 autocast is the standard speed-up on GPUs that support it.


def _cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


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
