"""Pickle-friendly torch state: tensors as NumPy arrays on the CPU, so no ``torch.load`` is ever needed."""

from __future__ import annotations

import copy

import torch

_TENSOR_TAG = "__hwr_tensor__"


def _encode(obj):
    """Copy of a (nested) state with every tensor as a NumPy array on the CPU.

    Pickled torch tensors are restored through ``torch.load(weights_only=False)``; NumPy arrays are not,
    and they also drop the CUDA device, so a model trained on a GPU unpickles on a CPU-only machine.
    """
    if isinstance(obj, torch.Tensor):
        tensor = obj.detach().cpu()
        if tensor.dtype == torch.bfloat16:  # no NumPy bf16: keep the bits
            return (_TENSOR_TAG, tensor.view(torch.int16).numpy().copy(), "bfloat16")
        return (_TENSOR_TAG, tensor.numpy().copy(), "")
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_encode(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_encode(v) for v in obj)
    return obj


def _decode(obj):
    if isinstance(obj, tuple) and len(obj) == 3 and obj[0] == _TENSOR_TAG:
        tensor = torch.from_numpy(obj[1])
        return tensor.view(torch.bfloat16) if obj[2] == "bfloat16" else tensor
    if isinstance(obj, dict):
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_decode(v) for v in obj)
    return obj


def _has_tensor(obj) -> bool:
    if isinstance(obj, torch.Tensor):
        return True
    if isinstance(obj, dict):
        return any(_has_tensor(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_has_tensor(v) for v in obj)
    return False


def _callback_state(cb):
    """A shallow copy of a callback with tensors (e.g. cached predictions) encoded as arrays."""
    if cb is None:
        return cb
    tensors = {k: v for k, v in vars(cb).items() if _has_tensor(v)}
    if not tensors:
        return cb
    cb = copy.copy(cb)
    for k, v in tensors.items():
        setattr(cb, k, _DecodeOnLoad(_encode(v)))
    return cb


class _DecodeOnLoad:
    """Placeholder that turns back into tensors when the net is unpickled."""

    def __init__(self, encoded):
        self.encoded = encoded
