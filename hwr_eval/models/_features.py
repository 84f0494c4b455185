"""What a fitted network computes before its answer: the logits and the penultimate-layer features.

Unknown-input detectors (``hwr_eval.evaluation.unknown_table``) score images from these. The features
are the input of the network's last linear layer (its classifier), caught with a forward pre-hook, so
every module of :mod:`._modules` gives them without code of its own: the 128 hidden units of the study's
CNN, the 128 pooled channels of ``ModernCNN``, the hidden layer of the MLP, the 84 units of LeNet-5 and
the scaled pixels of ``LinearNet``.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ..errors import HwrError
from ._net import HwrNet


def final_net(model) -> HwrNet | None:
    """The :class:`HwrNet` a model ends in (a bare net, or a pipeline's last step), else None."""
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    return final if isinstance(final, HwrNet) else None


def logits_and_features(model, X) -> tuple[np.ndarray, np.ndarray]:
    """The logits and penultimate-layer features of a fitted PyTorch model for rows ``X``.

    Parameters
    ----------
    model : HwrNet or Pipeline ending in one
        A fitted network; a pipeline's earlier steps (``PixelScaler``) transform ``X`` first.
    X : array-like of shape (n_samples, n_features)
        Rows as ``model.predict`` takes them.

    Returns
    -------
    logits : ndarray of shape (n_samples, n_classes), float32
        Columns in the order of ``classes_``; ``softmax(logits)`` is ``predict_proba``.
    features : ndarray of shape (n_samples, n_features_penultimate), float32
        The input of the last linear layer, in evaluation mode (dropout off).

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
    handle = linears[-1].register_forward_pre_hook(lambda _module, args: caught.append(args[0].detach().float()))
    try:
        logits = net.forward(np.asarray(X, dtype=np.float32), training=False, device="cpu")
    finally:
        handle.remove()
    n = len(logits)
    # Inference batches are zero-padded to the full batch size (HwrNet._inference_rows): the padding rows
    # come last, so the first n caught rows are the real ones.
    features = torch.cat(caught)[:n] if caught else torch.empty(0)
    if len(features) != n:
        raise HwrError(f"caught {len(features)} feature rows for {n} logit rows; the module's last linear layer is "
                       "not its classifier")
    return logits.float().numpy(), features.cpu().numpy()


__all__ = ["final_net", "logits_and_features"]
