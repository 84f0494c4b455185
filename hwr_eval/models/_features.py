"""What a fitted network computes before its answer: the logits and the penultimate-layer features.

Unknown-input detectors (``hwr_eval.evaluation.unknown_table``) score images from these. The features
are the input of the network's last linear layer (its classifier), caught with a forward pre-hook, so
every module of :mod:`._modules` gives them without code of its own: the 128 hidden units of the study's
CNN, the 128 pooled channels of ``ModernCNN``, the hidden layer of the MLP, the 84 units of LeNet-5 and
the scaled pixels of ``LinearNet``. On request, the output of every activation layer comes too, feature
maps averaged over their positions (one vector per layer, as in Lee et al., 2018's feature ensemble):
the early layers see strokes and texture, which the penultimate features summarise away.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ..errors import HwrError
from ._net import HwrNet

#: The activation layers whose outputs ``logits_and_features(..., layers=True)`` returns.
ACTIVATIONS = (torch.nn.ReLU, torch.nn.LeakyReLU, torch.nn.ELU, torch.nn.GELU, torch.nn.SiLU, torch.nn.Mish,
               torch.nn.Tanh, torch.nn.Sigmoid, torch.nn.Hardswish)


def final_net(model) -> HwrNet | None:
    """The :class:`HwrNet` a model ends in (a bare net, or a pipeline's last step), else None."""
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    return final if isinstance(final, HwrNet) else None


def logits_and_features(model, X, *, layers: bool = False) -> tuple:
    """The logits and penultimate-layer features of a fitted PyTorch model for rows ``X``.

    Parameters
    ----------
    model : HwrNet or Pipeline ending in one
        A fitted network; a pipeline's earlier steps (``PixelScaler``) transform ``X`` first.
    X : array-like of shape (n_samples, n_features)
        Rows as ``model.predict`` takes them.
    layers : bool, default=False
        Also return every activation layer's output (:data:`ACTIVATIONS`), from the same forward pass.

    Returns
    -------
    logits : ndarray of shape (n_samples, n_classes), float32
        Columns in the order of ``classes_``; ``softmax(logits)`` is ``predict_proba``.
    features : ndarray of shape (n_samples, n_features_penultimate), float32
        The input of the last linear layer, in evaluation mode (dropout off).
    layer_outputs : list of ndarray of shape (n_samples, n_units), float32
        Only with ``layers=True``: each activation layer's output in forward order, feature maps averaged
        over their positions (``n_units`` is then the channels); empty for a net without one.

    Raises
    ------
    HwrError
        ``model`` is not a PyTorch model of hwr-eval.
    """
    net = final_net(model)
    if net is None:
        final = model.steps[-1][1] if isinstance(model, Pipeline) else model
        raise HwrError(f"{type(final).__name__} is not a PyTorch model (HwrNet, or a pipeline ending in one): it has "
                       "no logits and penultimate features")
    check_is_fitted(net, ["n_features_in_", "module_"])
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        X = model[:-1].transform(X)
    linears = [m for m in net.module_.modules() if isinstance(m, torch.nn.Linear)]
    if not linears or linears[-1].out_features != len(net.classes_):
        raise HwrError(f"{type(net.module_).__name__} does not end in a linear classifier with one output per class")
    caught: list[torch.Tensor] = []
    handles = [linears[-1].register_forward_pre_hook(lambda _module, args: caught.append(args[0].detach().float()))]
    activations = [m for m in net.module_.modules() if isinstance(m, ACTIVATIONS)] if layers else []
    per_layer: list[list[torch.Tensor]] = [[] for _ in activations]
    for module, store in zip(activations, per_layer):
        # Pooled in the hook: every layer's whole feature maps, for every image, would not fit in memory.
        handles.append(module.register_forward_hook(
            lambda _module, _args, out, store=store: store.append(_pooled(out.detach().float()))))
    try:
        logits = net.forward(np.asarray(X, dtype=np.float32), training=False, device="cpu")
    finally:
        for handle in handles:
            handle.remove()
    n = len(logits)
    # Inference batches are zero-padded to the full batch size (HwrNet._inference_rows): the padding rows
    # come last, so the first n caught rows are the real ones.
    features = torch.cat(caught)[:n] if caught else torch.empty(0)
    if len(features) != n:
        raise HwrError(f"caught {len(features)} feature rows for {n} logit rows; the module's last linear layer is "
                       "not its classifier")
    if not layers:
        return logits.float().numpy(), features.cpu().numpy()
    rows = sum(len(c) for c in caught)
    for module, store in zip(activations, per_layer):
        if sum(len(t) for t in store) != rows:  # one module called twice would interleave two layers' rows
            raise HwrError(f"{type(module).__name__} ran more or less than once per forward pass; give each layer its "
                           "own activation module to get its outputs")
    return logits.float().numpy(), features.cpu().numpy(), [torch.cat(s)[:n].cpu().numpy() for s in per_layer]


def _pooled(out: torch.Tensor) -> torch.Tensor:
    """An activation's output as one vector per image: feature maps averaged over their positions."""
    return out.mean(dim=tuple(range(2, out.ndim))) if out.ndim > 2 else out


__all__ = ["final_net", "logits_and_features"]
