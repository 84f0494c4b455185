"""The served models: read from one run folder, and how each answers one preprocessed character.

All reading of the run folder happens in :func:`load_run_models`; nothing else in this package opens a
file of the run, and no name or path sent by a client is ever used on disk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import HwrError

#: Context choices offered by the page and the API: all classes, digits only, letters only.
CONTEXT_CHOICES = ("all", "digits", "letters")
#: Classes listed per model in an answer.
from ..workflows._predict import TOP_K  # noqa: E402  (one number of classes shown, everywhere)


@runtime_checkable
class UnknownDetector(Protocol):
    """The hook for an unknown-input detector a model may carry ("this is not a character I know").

    A model exposes one as its ``unknown_detector_`` attribute; :func:`load_run_models` picks it up and
    the page and API then show its verdict beside the model's answer (nothing when the model has none).
    """

    def is_unknown(self, X: np.ndarray) -> np.ndarray:
        """For rows ``X`` of shape (n, 784), uint8: a bool array of shape (n,), True for unknown inputs."""


@dataclass
class Abstention:
    """The run's stored abstention setting for one model (selective prediction at a target risk)."""

    threshold: float
    target_risk: float | None
    score: str = "max_proba"
    #: Temperature the threshold was chosen under (None: raw probabilities).
    temperature: float | None = None


@dataclass
class ServedModel:
    """One model of the run, ready to answer."""

    name: str
    model: object
    test_accuracy: float | None
    abstention: Abstention | None
    unknown_detector: UnknownDetector | None = None
    # skorch nets and custom estimators need not be safe to call from several threads at once.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self):
        _single_row_inference(self.model)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.classes_]

    @property
    def runtime(self) -> str:
        """What computes the answers: ``"ONNX Runtime"`` for an ONNX export, else the model itself."""
        return getattr(self.model, "runtime", "scikit-learn / PyTorch")

    def describe(self) -> dict:
        """The model as ``GET /api/models`` lists it."""
        abstention = None if self.abstention is None else {
            "threshold": self.abstention.threshold, "target_risk": self.abstention.target_risk,
            "score": self.abstention.score, "temperature": self.abstention.temperature}
        return {"name": self.name, "test_accuracy": self.test_accuracy, "classes": "".join(self.classes),
                "abstention": abstention, "unknown_detector": self.unknown_detector is not None,
                "runtime": self.runtime}

    def answer(self, x: np.ndarray, context: str = "all") -> dict:
        """This model's answer for one preprocessed character ``x`` ((784,) uint8).

        The same steps as ``hwr-eval predict --abstain``: temperature-scale when the stored threshold was
        chosen on scaled probabilities, restrict to the context (renormalised), take the top classes, and
        abstain when the confidence score is below the stored threshold.
        """
        from ..evaluation import class_group
        from ..workflows import predict_characters

        if context not in CONTEXT_CHOICES:
            raise HwrError(f"unknown context {context!r}; choose one of {', '.join(CONTEXT_CHOICES)}")
        X = np.asarray(x, dtype=np.uint8).reshape(1, 784)
        a = self.abstention
        with self.lock:
            unknown = None if self.unknown_detector is None else bool(np.asarray(self.unknown_detector.is_unknown(X))[0])
            if context != "all" and not any(class_group(c) == context for c in self.classes):
                return {"name": self.name, "label": None, "top": [], "abstained": None, "unknown": unknown,
                        "note": f"this model knows no {context}"}
            (char,) = predict_characters(self.model, X, context=None if context == "all" else context,
                                         threshold=None if a is None else a.threshold,
                                         temperature=None if a is None else a.temperature,
                                         score="max_proba" if a is None else a.score)
        top = [{"label": label, "probability": p} for label, p in char.top]
        return {"name": self.name, "label": char.best, "top": top, "abstained": None if a is None else char.abstained,
                "unknown": unknown}


def _single_row_inference(model) -> None:
    """Let the PyTorch nets in ``model`` predict one row as one row.

    The nets pad every inference batch to their full batch size (512) so that a row's result never depends
    on the rows beside it; one drawing then costs 512 rows of work. Served models answer one drawing at a
    time and are never trained again here, so their batch size becomes 1 (probabilities change by ~1e-9).
    """
    from ..models import HwrNet

    steps = [step for _, step in getattr(model, "steps", [])] or [model]
    for step in steps:
        if isinstance(step, HwrNet) and "iterator_valid__batch_size" not in step.get_params():
            step.set_params(batch_size=1)


def load_run_models(run_dir: str | Path, *, onnx: bool = False) -> list[ServedModel]:
    """The saved models of a run folder with their test accuracy and stored abstention setting.

    Reads ``RUN/results.json`` (checked by the report's reader) and ``RUN/models/<name>.joblib`` for
    each model it lists (``hwr-eval compare --save-models``). A model without a saved file is skipped;
    a run with none raises a one-line :class:`HwrError`. Only load run folders you trust: joblib files
    are pickles. ``onnx=True`` exports each model in memory and answers with ONNX Runtime
    (:class:`~hwr_eval.models.OnnxClassifier`, one thread each, like the PyTorch models here); a model
    with no ONNX form is a one-line error naming it.
    """
    from ..runs import RunFolder, read_record

    if onnx:
        from ..models._onnx import require_onnx

        require_onnx("serve --onnx")  # before any model is loaded

    run_dir = Path(run_dir)
    record = read_record(run_dir)
    folder = RunFolder(run_dir, record)
    served = []
    for name, result in record.models.items():
        # Names come from results.json: refuse anything that would leave RUN/models/.
        if Path(name).name != name or name in ("", ".", ".."):
            raise HwrError(f"{run_dir / 'results.json'}: model name {name!r} is not a plain file name")
        if not result.files.get("model") or not (run_dir / result.files["model"]).is_file():
            continue  # not saved (or removed since): the run's other models are served
        model = folder.load_model(name)
        detector = getattr(model, "unknown_detector_", None)
        if onnx:
            from ..models import OnnxClassifier

            try:
                model = OnnxClassifier.from_model(model, name=name, threads=1)
            except HwrError as exc:
                raise HwrError(f"model {name!r}: {exc}; serve without --onnx") from None
        selective = result.selective if isinstance((result.selective or {}).get("threshold"), (int, float)) else None
        abstention = None
        if selective is not None:
            temperature = selective.get("temperature") if selective.get("calibrated") else None
            abstention = Abstention(threshold=float(selective["threshold"]), target_risk=selective.get("target_risk"),
                                    score=selective.get("score") or "max_proba",
                                    temperature=float(temperature) if temperature else None)
        accuracy = result.metrics.get("accuracy")
        if detector is None and (result.unknowns or {}).get("rejectors"):
            from ..workflows import load_rejector  # compare --save-models --unknown: the run's best detector

            detector = load_rejector(folder.model_file(name)).unknown_detector_
            _single_row_inference(detector.estimator_)  # its own copy of the model answers one drawing at a time
        served.append(ServedModel(name=name, model=model,
                                  test_accuracy=float(accuracy) if isinstance(accuracy, (int, float)) else None,
                                  abstention=abstention,
                                  unknown_detector=detector if isinstance(detector, UnknownDetector) else None))
    if not served:
        raise HwrError(f"{run_dir}: no saved models (RUN/models/<name>.joblib); run `hwr-eval compare --save-models`")
    return served


__all__ = ["CONTEXT_CHOICES", "TOP_K", "Abstention", "ServedModel", "UnknownDetector", "load_run_models"]
