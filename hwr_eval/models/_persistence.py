"""Pickle-friendly torch state: tensors as NumPy arrays on the CPU, so no ``torch.load`` is ever needed."""

from __future__ import annotations

import copy
import warnings

import torch

from ._device import _resolve_device

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


class CpuPickleMixin:
    """Pickling for skorch nets that stores CPU state dicts (no ``torch.load`` of pickled code), so a net
    trained on CUDA loads on a CPU-only machine."""

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_explicit_valid", None)
        state.pop("_device_resolved", None)
        torch_state = {}
        for name in self._modules + self._criteria + self._optimizers:
            obj = state.pop(name + "_", None)
            if obj is not None:
                torch_state[name] = _encode(obj.state_dict())
        if "callbacks_" in state:
            state["callbacks_"] = [(n, _callback_state(cb)) for n, cb in state["callbacks_"]]
        state["_torch_state"] = torch_state
        return state

    def __setstate__(self, state):
        torch_state = _decode(state.pop("_torch_state", {}))
        for _, cb in state.get("callbacks_", []):
            for key, value in list(vars(cb).items()) if cb is not None else []:
                if isinstance(value, _DecodeOnLoad):
                    setattr(cb, key, _decode(value.encoded))
        self.__dict__.update(state)
        if not torch_state:
            return
        # A model trained with device="cuda" comes back on the CPU when no GPU is present; the parameter
        # itself must follow, or every later predict would fail in _with_device.
        if self.device not in (None, "auto") and torch.device(self.device).type == "cuda" and not torch.cuda.is_available():
            warnings.warn(f"model was trained with device={self.device!r} but CUDA is not available here; "
                          "device set to 'cpu'", UserWarning, stacklevel=2)
            state["device"] = "cpu"
        self.__dict__["device"] = str(_resolve_device(state["device"]))
        try:
            with self._current_init_context("module"):
                precision = self.__dict__.get("precision_")
                self.initialize_module()
                if precision is not None:
                    self.precision_ = precision
                self.module_.load_state_dict(torch_state["module"])
                self.module_ = self.module_.to(self.device)
            with self._current_init_context("criterion"):
                self.initialize_criterion()
                self.criterion_ = self.criterion_.to(self.device)
            if "optimizer" in torch_state:
                with self._current_init_context("optimizer"):
                    self.initialize_optimizer()
                    self.optimizer_.load_state_dict(torch_state["optimizer"])
        finally:
            self.__dict__["device"] = state["device"]


