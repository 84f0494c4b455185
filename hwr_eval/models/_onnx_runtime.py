"""An exported ONNX file as a classifier: ``predict_proba``, ``predict`` and ``classes_`` through ONNX Runtime.

:class:`OnnxClassifier` stands in for the fitted model wherever hwr-eval calls one (``hwr-eval predict``,
``serve``, :func:`~hwr_eval.workflows.predict_characters`), so nothing else needs to know which runtime
answers. The graph cannot refuse input, so the adapter applies the model's pixel contract first: the
range and polarity it was fitted on, read from the file's metadata, checked by the same
:class:`PixelScaler` rules (and the same one-line errors) as the original model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import HwrError
from ._onnx import INPUT_NAME, LABEL_NAME, PROBA_NAME, require_onnx, to_onnx

#: Shown wherever a prediction says which runtime computed it.
RUNTIME_NAME = "ONNX Runtime"


class OnnxClassifier:
    """A hwr-eval ONNX export (``hwr-eval export``, :func:`~hwr_eval.models.export_onnx`) run by ONNX Runtime.

    Parameters
    ----------
    source : path-like, bytes or onnx.ModelProto
        The exported file, or the export itself (see :meth:`from_model`).
    threads : int, optional
        ONNX Runtime's intra-op threads; None lets it choose (one per physical core).
    name : str, optional
        A name for messages; default: the file name, else the ``model`` metadata.

    Attributes
    ----------
    classes_ : ndarray of str
        Class labels in the order of ``predict_proba``'s columns (the ``classes`` metadata).
    n_features_in_ : int
        Pixels per row (784).
    metadata : dict
        The file's ``metadata_props`` (see :data:`~hwr_eval.models.METADATA_KEYS`).
    runtime : str
        ``"ONNX Runtime"``.
    """

    runtime = RUNTIME_NAME

    def __init__(self, source, *, threads: int | None = None, name: str | None = None):
        require_onnx(RUNTIME_NAME)
        import onnxruntime as ort

        what = name or "ONNX model"
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.is_file():
                raise HwrError(f"{path}: no such ONNX file")
            what, data = name or str(path), path.read_bytes()
        elif isinstance(source, bytes):
            data = source
        else:
            data = source.SerializeToString()
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: ONNX Runtime's notes would interleave with the output
        if threads is not None:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a foreign or damaged file fails in many ways: all mean "not a model"
            raise HwrError(f"{what}: not an ONNX model ONNX Runtime can run: {type(exc).__name__}") from None
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        not_ours = f"{what}: not a hwr-eval ONNX export (make one with `hwr-eval export RUN --format onnx`)"
        try:
            classes = json.loads(self.metadata["classes"])
            self.n_features_in_ = int(self.metadata["n_features"])
            input_max = float(self.metadata["input_max"])
        except (KeyError, ValueError):
            raise HwrError(f"{not_ours}: its metadata lacks the classes or the pixel contract") from None
        names = ({i.name for i in self._session.get_inputs()}, {o.name for o in self._session.get_outputs()})
        if names != ({INPUT_NAME}, {LABEL_NAME, PROBA_NAME}) or not all(isinstance(c, str) for c in classes):
            raise HwrError(f"{not_ours}: unexpected inputs, outputs or classes")
        self.classes_ = np.asarray(classes)
        self.name = name or (what if isinstance(source, (str, os.PathLike)) else self.metadata.get("model", what))
        self._scaler = _contract(self.n_features_in_, input_max, self.metadata.get("ink") or None)

    @classmethod
    def from_model(cls, model, *, name: str | None = None, threads: int | None = None) -> OnnxClassifier:
        """Export a fitted model in memory (:func:`~hwr_eval.models.to_onnx`) and run it with ONNX Runtime."""
        return cls(to_onnx(model, name=name), threads=threads, name=name)

    def __repr__(self) -> str:
        return f"OnnxClassifier({self.name!r}, classes={''.join(map(str, self.classes_))!r})"

    def _run(self, X) -> tuple[np.ndarray, np.ndarray]:
        # The model's pixel contract, with the model's one-line errors; the graph scales the rows itself.
        rows = np.asarray(self._scaler.check_pixels(X), dtype=np.float32)
        labels, proba = self._session.run([LABEL_NAME, PROBA_NAME], {INPUT_NAME: rows})
        return labels, proba

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (float32), columns in the order of ``classes_``, for raw pixel rows ``X``."""
        return self._run(X)[1]

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row (the graph's ``label`` output)."""
        return self._run(X)[0].astype(self.classes_.dtype)


def _contract(n_features: int, input_max: float, ink: str | None):
    """A :class:`PixelScaler` in the fitted state the export recorded: it checks input like the model's did."""
    from ._preprocessing import PixelScaler

    scaler = PixelScaler(mode="positive")
    scaler.n_features_in_ = n_features
    scaler.input_max_ = input_max
    scaler.ink_ = ink if ink in ("light", "dark") else None
    return scaler


__all__ = ["RUNTIME_NAME", "OnnxClassifier"]
