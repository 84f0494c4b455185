"""Export a fitted model to ONNX: one file that takes raw pixels and gives probabilities and labels.

The graph is ``pixels -> scaling -> classifier -> probabilities -> label``:

* the scaling is the model's fitted :class:`PixelScaler` written as ONNX operators (divide by the learned
  ``input_max_``, then the ``mode``'s map), so the file takes the same raw ``(n, 784)`` pixels as the model;
* the networks (every :class:`HwrNet` module, and the cascade's routing) go through ``torch.onnx.export``
  with softmax appended (what skorch's ``predict_proba`` applies); logistic regression and k-NN through
  ``skl2onnx`` (k-NN in float64, as scikit-learn computes its distances, so near-ties pick the same
  neighbours);
* ``label`` is ``classes[argmax(probabilities)]``, the first of equal maxima as numpy's argmax takes it.

The class names, the pixel contract and the hwr-eval version are in the file's ``metadata_props``
(:data:`METADATA_KEYS`). ONNX and its exporters are imported only here, and only when exporting.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..errors import HwrError

#: The input and output names of every exported graph.
INPUT_NAME, PROBA_NAME, LABEL_NAME = "pixels", "probabilities", "label"
#: ``metadata_props`` keys written into every export (all values are strings; lists and numbers as JSON).
METADATA_KEYS = ("hwr_eval_version", "model", "classes", "n_features", "input_max", "pixel_mode", "ink")
#: The operator set the hand-written nodes and skl2onnx target (ONNX Runtime 1.17+ runs it).
OPSET = 18
INSTALL_HINT = "pip install 'hwr-eval[onnx]'"


def require_onnx(what: str = "ONNX export") -> None:
    """Raise one line naming the ``onnx`` extra when the ONNX packages are missing."""
    for module in ("onnx", "onnxruntime", "skl2onnx", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            raise HwrError(f"{what} needs the onnx extra: {INSTALL_HINT} ({module} is missing)") from None


def to_onnx(model, *, name: str | None = None):
    """The ONNX graph of a fitted hwr-eval model (an ``onnx.ModelProto``).

    Parameters
    ----------
    model : fitted pipeline ``PixelScaler -> classifier``
        A model of :func:`~hwr_eval.models.make_model` (or ``make_pipeline(PixelScaler(), clf)``): the
        networks (``HwrNet``), the cascade of two ``HwrNet``, ``LogisticRegression``, ``KNeighborsClassifier``.
    name : str, optional
        Stored as the ``model`` metadata (e.g. the run's model name).

    Returns
    -------
    onnx.ModelProto
        Input ``pixels`` float32 ``(batch, 784)``; outputs ``label`` (string, ``(batch,)``) and
        ``probabilities`` float32 ``(batch, n_classes)``, columns in ``classes`` order.

    Raises
    ------
    HwrError
        The onnx extra is missing, the model is not fitted, or a step has no ONNX form (deskewing, an
        unknown classifier, a cascade whose parts are not networks).
    """
    require_onnx()
    import onnx

    scaler, clf = _split(model)
    if _runs_in_bf16(clf):
        warnings.warn(
            f"{name or type(clf).__name__} predicts under bf16 autocast on this machine; its ONNX file computes "
            "in fp32 from the same weights, so probabilities can differ by about 1e-2 and a near tie can flip",
            UserWarning,
            stacklevel=2,
        )
    classes = [str(c) for c in clf.classes_]
    core, core_input, core_dtype = _classifier_graph(clf, scaler.n_features_in_)
    graph = _assemble(core, core_input, core_dtype, scaler, classes)
    from .. import __version__

    meta = {"hwr_eval_version": __version__, "model": name or type(clf).__name__, "classes": json.dumps(classes),
            "n_features": str(scaler.n_features_in_), "input_max": repr(float(scaler.input_max_)),
            "pixel_mode": scaler.mode, "ink": str(getattr(scaler, "ink_", None) or "")}
    opsets = {imp.domain: imp.version for imp in core.opset_import}
    opsets[""] = max(opsets.get("", OPSET), OPSET)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid(d, v) for d, v in opsets.items()],
                                   functions=list(core.functions),
                                   producer_name="hwr-eval", producer_version=__version__,
                                   doc_string=f"hwr-eval {meta['model']}: raw pixels (n, {meta['n_features']}) float32 "
                                              f"in 0-{float(scaler.input_max_):g} -> label, probabilities")
    proto.ir_version = min(core.ir_version, onnx.IR_VERSION) or onnx.IR_VERSION
    onnx.helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model, path: str | os.PathLike, *, name: str | None = None) -> Path:
    """Write :func:`to_onnx` of ``model`` to ``path``, whole or not at all, never replacing a file.

    Raises :class:`HwrError` when ``path`` exists (before any work) or the model cannot be exported.
    Returns the path.
    """
    path = Path(path)
    check_new_file(path)
    proto = to_onnx(model, name=name or path.stem)
    write_new_file(path, proto.SerializeToString())
    return path


def check_new_file(path: Path) -> None:
    """Refuse an output file that exists already, or whose folder is a file."""
    if path.exists():
        raise HwrError(f"{path} exists; an export never replaces a file: remove it or choose another --out")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise HwrError(f"{parent} is a file, not a folder; choose another --out")
            break


def write_new_file(path: Path, data: bytes) -> None:
    """Write ``data`` under a temporary name beside ``path``, then hard-link it into place.

    The link appears whole and fails if ``path`` exists meanwhile: atomic and never overwriting.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise HwrError(f"{path} appeared while exporting; an export never replaces a file") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- the model


def _split(model):
    """The fitted ``(PixelScaler, classifier)`` of ``model``, or one line saying why it cannot be exported."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    from ._preprocessing import PixelScaler

    steps = [step for _, step in model.steps if step not in (None, "passthrough")] if isinstance(model, Pipeline) else []
    if len(steps) != 2 or not isinstance(steps[0], PixelScaler):
        raise HwrError(f"ONNX export takes a fitted PixelScaler -> classifier pipeline (as make_model builds), "
                       f"got {type(model).__name__}; the pixel scale must be part of the model")
    scaler, clf = steps
    check_is_fitted(scaler, "input_max_")
    if scaler.deskew:
        raise HwrError("ONNX export cannot express deskewing (PixelScaler(deskew=True): a per-image affine "
                       "resampling); export a model trained without it")
    if not hasattr(clf, "classes_"):
        raise HwrError(f"ONNX export needs a fitted classifier; {type(clf).__name__} is not fitted")
    return scaler, clf


def _classifier_graph(clf, n_features: int):
    """``(graph, input name, input dtype)`` of the classifier on scaled rows, with one output ``probabilities``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    from ._cascade import CascadeClassifier
    from ._net import HwrNet

    if isinstance(clf, HwrNet):
        return _torch_graph(_probabilities(_eval_copy(clf)), n_features), "scaled", np.float32
    if isinstance(clf, CascadeClassifier):
        return _torch_graph(_cascade_module(clf), n_features), "scaled", np.float32
    if isinstance(clf, (LogisticRegression, KNeighborsClassifier)):
        # k-NN in float64: scikit-learn computes float32 distances in float64, and float32 ones would let
        # rounding reorder near-equal neighbours.
        dtype = np.float64 if isinstance(clf, KNeighborsClassifier) else np.float32
        return _sklearn_graph(clf, n_features, dtype), "scaled", dtype
    raise HwrError(f"no ONNX export for {type(clf).__name__}; exportable: the networks (HwrNet), the cascade, "
                   "LogisticRegression, KNeighborsClassifier")


def _runs_in_bf16(clf) -> bool:
    """Whether the network (or either network of a cascade) runs under bf16 autocast (``precision_``)."""
    nets = [clf, getattr(clf, "main_", None), getattr(clf, "sub_", None)]
    return any(getattr(net, "precision_", None) == "bf16" for net in nets)


def _eval_copy(net):
    """The fitted module of ``net`` as a CPU, fp32, NCHW copy in eval mode (dropout off, BatchNorm's running stats)."""
    import torch

    module = copy.deepcopy(net.module_).to("cpu").float().to(memory_format=torch.contiguous_format)
    return module.eval()


def _probabilities(module):
    import torch

    class Probabilities(torch.nn.Module):
        """``softmax(module(x))``: what skorch's ``predict_proba`` returns for a cross-entropy net."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return torch.softmax(self.inner(x), dim=1)

    return Probabilities(module).eval()


def _cascade_module(cascade):
    """The cascade's ``predict_proba`` as one ``nn.Module`` (both nets on every row, the routing as masks)."""
    import torch

    from ._net import HwrNet

    main, sub = getattr(cascade, "main_", None), getattr(cascade, "sub_", None)
    if not (isinstance(main, HwrNet) and isinstance(sub, HwrNet)):
        raise HwrError("ONNX export of a cascade needs a network (HwrNet) as both main and sub model, got "
                       f"{type(main).__name__} and {type(sub).__name__}")
    classes = np.asarray(cascade.classes_)
    if not np.array_equal(np.asarray(main.classes_), classes):
        raise HwrError("ONNX export of a cascade needs its main model to predict every class of the cascade")
    pair = np.asarray(cascade.pair, dtype=classes.dtype)
    pair_cols = np.searchsorted(classes, pair)
    sub_cols = np.searchsorted(np.asarray(sub.classes_), np.asarray(cascade.pair, dtype=np.asarray(sub.classes_).dtype))
    n = len(classes)
    in_pair = torch.zeros(n, dtype=torch.float32)
    in_pair[pair_cols] = 1.0
    # (n_sub, n): sub-model column sub_cols[k] lands on cascade column pair_cols[k].
    spread = torch.zeros(len(sub.classes_), n, dtype=torch.float32)
    spread[sub_cols, pair_cols] = 1.0

    class Cascade(torch.nn.Module):
        """:meth:`CascadeClassifier.predict_proba` in tensor operations (float32 where it computes in float64)."""

        def __init__(self):
            super().__init__()
            self.main = _eval_copy(main)
            self.sub = _eval_copy(sub)
            self.register_buffer("in_pair", in_pair)
            self.register_buffer("spread", spread)

        def forward(self, x):
            proba = torch.softmax(self.main(x), dim=1)
            sub_proba = torch.softmax(self.sub(x), dim=1)
            others = 1.0 - self.in_pair
            top_is_pair = (torch.nn.functional.one_hot(proba.argmax(dim=1), proba.shape[1]).float() * self.in_pair).sum(1)
            mass = (proba * self.in_pair).sum(dim=1, keepdim=True)
            rows = proba * others + mass * (sub_proba @ self.spread)
            # The sub-model's choice must stay the argmax: shrink the other classes where needed.
            winner = (rows * self.in_pair - others).amax(dim=1)
            best_other = (rows * others - self.in_pair).amax(dim=1)
            scale = torch.where(best_other >= winner, 0.999 * winner / best_other.clamp_min(1e-12), torch.ones_like(winner))
            rows = rows * (self.in_pair + others * scale[:, None])
            rows = rows / rows.sum(dim=1, keepdim=True)
            return torch.where(top_is_pair[:, None] > 0, rows, proba)

    return Cascade().eval()


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's progress lines and its notes about optional packages (torchvision)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _torch_graph(module, n_features: int):
    import torch

    example = torch.zeros(2, n_features)  # two rows: a batch dimension of 1 would be specialised away
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(module, (example,), input_names=["scaled"], output_names=[PROBA_NAME],
                                    dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True,
                                    opset_version=OPSET, verbose=False, report=False)
    return program.model_proto


def _sklearn_graph(clf, n_features: int, dtype):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from sklearn.neighbors import KNeighborsClassifier

    tensor_type = DoubleTensorType if dtype == np.float64 else FloatTensorType
    options = {"zipmap": False}
    if isinstance(clf, KNeighborsClassifier):
        # ONNX Runtime's CDist operator (com.microsoft domain) instead of a Scan loop: 30x faster in
        # ONNX Runtime, same neighbours; the file then needs ONNX Runtime (other runtimes lack the operator).
        options["optim"] = "cdist"
    with _quiet_exporter():
        proto = convert_sklearn(clf, initial_types=[("scaled", tensor_type([None, n_features]))],
                                options={id(clf): options}, target_opset={"": OPSET, "ai.onnx.ml": 3},
                                final_types=None)
    # Keep one output, the probabilities (the label is appended for every model alike).
    graph = proto.graph
    outputs = [o for o in graph.output if o.name == PROBA_NAME]
    if len(outputs) != 1:
        raise HwrError(f"skl2onnx gave no {PROBA_NAME!r} output for {type(clf).__name__}")
    del graph.output[:]
    graph.output.extend(outputs)
    return proto


# ---------------------------------------------------------------------------------------------- assembly


def _assemble(core, core_input: str, core_dtype, scaler, classes: list[str]):
    """``pixels -> scaling -> core -> probabilities (float32) -> label`` as one graph."""
    from onnx import TensorProto, helper, numpy_helper

    graph = core.graph
    names = {n for node in graph.node for n in (*node.input, *node.output)} | {i.name for i in graph.initializer}
    taken = names.copy()

    def fresh(base: str) -> str:
        name, k = f"hwr_{base}", 0
        while name in taken:
            k += 1
            name = f"hwr_{base}_{k}"
        taken.add(name)
        return name

    consts = []

    def const(base: str, value) -> str:
        name = fresh(base)
        consts.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    # The scaling, as PixelScaler.transform computes it in float32.
    unit = fresh("unit")
    pre = [helper.make_node("Div", [INPUT_NAME, const("input_max", np.float32(scaler.input_max_))], [unit])]
    scaled = fresh("scaled")
    if scaler.mode == "negative":
        doubled = fresh("doubled")
        pre += [helper.make_node("Mul", [unit, const("two", np.float32(2.0))], [doubled]),
                helper.make_node("Sub", [doubled, const("one", np.float32(1.0))], [scaled])]
    elif scaler.mode == "positive":
        pre += [helper.make_node("Identity", [unit], [scaled])]
    else:  # binary
        ink = fresh("ink")
        pre += [helper.make_node("GreaterOrEqual", [unit, const("half", np.float32(0.5))], [ink]),
                helper.make_node("Cast", [ink], [scaled], to=TensorProto.FLOAT)]
    if core_dtype == np.float64:
        pre += [helper.make_node("Cast", [scaled], [core_input], to=TensorProto.DOUBLE)]
    else:
        pre += [helper.make_node("Identity", [scaled], [core_input])]

    # The core's probabilities become an inner name; the graph's own outputs are made here.
    # (skl2onnx's own label output stays an unused inner value: the label is made below for every model alike.)
    renamed = {PROBA_NAME: fresh("core_probabilities"), LABEL_NAME: fresh("core_label")}
    raw = renamed[PROBA_NAME]
    for node in graph.node:
        node.output[:] = [renamed.get(o, o) for o in node.output]
        node.input[:] = [renamed.get(i, i) for i in node.input]
    index = fresh("argmax")
    post = [helper.make_node("Cast", [raw], [PROBA_NAME], to=TensorProto.FLOAT),
            helper.make_node("ArgMax", [PROBA_NAME], [index], axis=1, keepdims=0, select_last_index=0),
            helper.make_node("Gather", [const("classes", np.array(classes, dtype=object)), index], [LABEL_NAME], axis=0)]
    pixels = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", int(scaler.n_features_in_)])
    outputs = [helper.make_tensor_value_info(LABEL_NAME, TensorProto.STRING, ["batch"]),
               helper.make_tensor_value_info(PROBA_NAME, TensorProto.FLOAT, ["batch", len(classes)])]
    value_info = [v for v in graph.value_info if v.name != PROBA_NAME]
    return helper.make_graph([*pre, *graph.node, *post], "hwr_eval", [pixels], outputs,
                             initializer=[*consts, *graph.initializer], value_info=value_info,
                             sparse_initializer=list(graph.sparse_initializer))


__all__ = ["INPUT_NAME", "LABEL_NAME", "METADATA_KEYS", "PROBA_NAME", "check_new_file", "export_onnx", "require_onnx",
           "to_onnx", "write_new_file"]
