"""What a run produced: :class:`ModelResult` per model and :class:`RunRecord` for the run, with a schema.

``results.json`` is ``RunRecord.to_json()``; :meth:`RunRecord.from_json` is the only code that turns one
back into values, checking every field a reader relies on and naming the file and the field when one is
missing or of the wrong type. The layout is documented in ``docs/results-schema.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import HwrError

#: Version written by this hwr-eval. 3: ``spec`` recorded, ``predictions.csv`` model columns prefixed.
SCHEMA_VERSION = 3
#: Versions read (older ones lack sections, which readers show as absent).
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
#: ``predictions.csv`` names each model's column ``pred_<model>``, so no model name can hit ``index``/``y_true``.
PREDICTION_PREFIX = "pred_"
#: Metrics every model result has (others, such as ``log_loss``, are optional).
REQUIRED_METRICS = ("accuracy", "accuracy_ci95", "balanced_accuracy", "f1_macro")


def json_value(value: Any) -> Any:
    """A JSON-safe copy: numpy scalars to Python, NaN/inf to None, anything else unknown to ``str``."""
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_value(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


class _Fields:
    """Typed look-ups into one JSON object, each failure one :class:`HwrError` naming file and field."""

    def __init__(self, obj: Any, where: str, prefix: str = ""):
        if not isinstance(obj, dict):
            name = prefix.rstrip(".") or "the top level"
            raise HwrError(f"{where}: {name} must be a JSON object, got {type(obj).__name__} (see docs/results-schema.md)")
        self.obj, self.where, self.prefix = obj, where, prefix

    def get(self, key: str, kind: type | tuple, *, required: bool = True, default: Any = None) -> Any:
        if key not in self.obj:
            if required:
                raise HwrError(f"{self.where}: missing field '{self.prefix}{key}' (see docs/results-schema.md)")
            return default
        value = self.obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            wanted = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise HwrError(f"{self.where}: field '{self.prefix}{key}' should be {wanted}, got {type(value).__name__}")
        return value

    def sub(self, key: str, *, required: bool = True) -> _Fields | None:
        value = self.get(key, (dict, type(None)) if not required else dict, required=required)
        return None if value is None else _Fields(value, self.where, f"{self.prefix}{key}.")


_NUMBER = (int, float)
_OPTIONAL_DICT = (dict, type(None))


@dataclass
class ModelResult:
    """One model's scores on the test split, and what the run folder holds for it.

    ``metrics`` (accuracy, its 95% interval, balanced accuracy, macro F1, ...), ``per_class`` rows,
    ``confusion_matrix`` in ``data.classes`` order, ``history`` per epoch for the networks (None for
    the baselines), ``files`` relative to the run folder (None where a file does not exist), and the
    abstention (``selective``), ``calibration`` and ``context`` records (None in version-1 folders).
    """

    params: dict
    n_parameters: int
    fit_time_s: float
    predict_time_s: float
    metrics: dict
    per_class: list
    confusion_matrix: list
    top_confusions: list
    history: list | None
    files: dict
    selective: dict | None = None
    calibration: dict | None = None
    context: dict | None = None
    #: ``compare --unknown``: detectors and sets scored, the best detector, its files (absent otherwise).
    unknowns: dict | None = None
    #: Keys this version does not know (written by a newer hwr-eval), kept as they were.
    extra: dict = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return float(self.metrics["accuracy"])

    def file(self, key: str) -> str | None:
        """The run-folder-relative path of one of this model's files, or None."""
        return self.files.get(key)

    @classmethod
    def from_json(cls, obj: Any, where: str, name: str, n_classes: int) -> ModelResult:
        f = _Fields(obj, where, f"models.{name}.")
        metrics = f.sub("metrics")
        for key in REQUIRED_METRICS:
            metrics.get(key, (*_NUMBER, list))
        low_high = metrics.obj["accuracy_ci95"]
        if not isinstance(low_high, list) or len(low_high) != 2:
            raise HwrError(f"{where}: field models.{name}.metrics.accuracy_ci95 should be [low, high]")
        cm = f.get("confusion_matrix", list)
        if np.asarray(cm, dtype=object).shape != (n_classes, n_classes):
            raise HwrError(f"{where}: field models.{name}.confusion_matrix should be {n_classes} x {n_classes}")
        files = f.sub("files")
        for key, value in files.obj.items():
            if not isinstance(value, (str, type(None))):
                raise HwrError(f"{where}: field models.{name}.files.{key} should be a path or null")
        known = {x.name for x in dataclasses.fields(cls)} - {"extra"}
        return cls(
            params=f.get("params", dict, required=False, default={}),
            n_parameters=int(f.get("n_parameters", int, required=False, default=0)),
            fit_time_s=float(f.get("fit_time_s", _NUMBER, required=False, default=0.0)),
            predict_time_s=float(f.get("predict_time_s", _NUMBER, required=False, default=0.0)),
            metrics=metrics.obj,
            per_class=f.get("per_class", list, required=False, default=[]),
            confusion_matrix=cm,
            top_confusions=f.get("top_confusions", list, required=False, default=[]),
            history=f.get("history", (list, type(None)), required=False),
            files=files.obj,
            selective=f.get("selective", _OPTIONAL_DICT, required=False),
            calibration=f.get("calibration", _OPTIONAL_DICT, required=False),
            context=f.get("context", _OPTIONAL_DICT, required=False),
            unknowns=_check_unknowns(f.sub("unknowns", required=False)),
            extra={k: v for k, v in f.obj.items() if k not in known},
        )

    def to_json(self) -> dict:
        out = {x.name: getattr(self, x.name) for x in dataclasses.fields(self) if x.name != "extra"}
        if out["unknowns"] is None:
            del out["unknowns"]  # absent unless the run scored unknown input
        return json_value({**out, **self.extra})


def _check_unknowns(f: _Fields | None) -> dict | None:
    """A model's ``unknowns`` record: which detectors and sets, the best detector and the files."""
    if f is None:
        return None
    detectors, sets = f.get("detectors", list), f.get("sets", list)
    f.get("file", str)
    f.get("scores", str)
    f.get("rejectors", (str, type(None)), required=False)
    f.get("mean_auroc", dict)
    if f.get("best_detector", str) not in detectors or not sets:
        raise HwrError(f"{f.where}: field '{f.prefix}best_detector' should be one of {f.prefix}detectors, with "
                       "at least one set (see docs/results-schema.md)")
    return f.obj


_ROBUSTNESS_SUMMARY = ("clean_accuracy", "mca", "relative_drop", "rotation_30")


def _check_robustness(record: dict, where: str) -> None:
    """The ``robustness`` section: one cell per corruption and severity, one per angle, a summary per model."""
    for key, kind in (("corruptions", list), ("severities", list), ("angles", list), ("models", dict)):
        if not isinstance(record.get(key), kind):
            raise HwrError(f"{where}: field robustness.{key} is missing or has the wrong type (see docs/results-schema.md)")
    n_sev, n_ang = len(record["severities"]), len(record["angles"])
    for name, rec in record["models"].items():
        ok = isinstance(rec, dict) and isinstance(rec.get("per_corruption"), dict) and isinstance(rec.get("rotation"), list)
        ok = ok and all(isinstance(rec["per_corruption"].get(c), list) and len(rec["per_corruption"][c]) == n_sev
                        for c in record["corruptions"])
        ok = ok and len(rec["rotation"]) == n_ang and all(k in rec for k in _ROBUSTNESS_SUMMARY)
        if not ok:
            raise HwrError(f"{where}: field robustness.models.{name} is incomplete (see docs/results-schema.md)")


@dataclass
class RunRecord:
    """A whole run: what was asked (``spec``, ``settings``), on which data, where, and every model's result.

    ``models`` keeps run order. ``mcnemar`` compares every pair of models on the test split; ``grid``
    (grid runs) and ``robustness`` (with ``--robustness``) are None when absent.
    """

    kind: str
    status: str
    created: str
    command: str | None
    settings: dict
    environment: dict
    data: dict
    models: dict[str, ModelResult] = field(default_factory=dict)
    spec: dict | None = None
    mcnemar: dict | None = None
    grid: dict | None = None
    robustness: dict | None = None
    #: MNIST-C as released: per model the clean accuracy, per corruption and the mean (``mnist_c.csv``).
    mnist_c: dict | None = None
    #: Repeated training runs (``--seeds N``): how many, what varied, and the files with their rows.
    seeds: dict | None = None
    schema_version: int = SCHEMA_VERSION
    extra: dict = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return list(self.data["classes"])

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    def saved_models(self) -> dict[str, str]:
        """Model name -> run-folder-relative path of its saved model, for the models that have one."""
        return {name: r.files["model"] for name, r in self.models.items() if r.files.get("model")}

    @classmethod
    def from_json(cls, obj: Any, where: str) -> RunRecord:
        """Check and read a parsed ``results.json``; raise one :class:`HwrError` naming ``where`` and the field."""
        f = _Fields(obj, where)
        version = f.get("schema_version", int)
        if version not in READABLE_SCHEMA_VERSIONS:
            newer = isinstance(version, int) and version > SCHEMA_VERSION
            why = "written by a newer hwr-eval; upgrade it" if newer else "not a version this hwr-eval knows"
            readable = ", ".join(map(str, READABLE_SCHEMA_VERSIONS))
            raise HwrError(f"{where}: schema_version {version} ({why}); this hwr-eval reads versions {readable}")
        data = f.sub("data")
        classes = data.get("classes", list)
        if not classes or not all(isinstance(c, str) for c in classes):
            raise HwrError(f"{where}: field data.classes should be a non-empty list of class names")
        data.get("counts", dict)
        models = f.get("models", dict)
        known = {x.name for x in dataclasses.fields(cls)} - {"extra", "models"}
        record = cls(
            kind=f.get("kind", str),
            status=f.get("status", str),
            created=f.get("created", str),
            command=f.get("command", (str, type(None))),
            settings=f.get("settings", dict),
            environment=f.get("environment", dict),
            data=data.obj,
            models={str(name): ModelResult.from_json(entry, where, name, len(classes)) for name, entry in models.items()},
            spec=f.get("spec", _OPTIONAL_DICT, required=False),
            mcnemar=f.get("mcnemar", _OPTIONAL_DICT, required=False),
            grid=f.get("grid", _OPTIONAL_DICT, required=False),
            robustness=f.get("robustness", _OPTIONAL_DICT, required=False),
            mnist_c=f.get("mnist_c", _OPTIONAL_DICT, required=False),
            seeds=f.get("seeds", _OPTIONAL_DICT, required=False),
            schema_version=version,
            extra={k: v for k, v in f.obj.items() if k not in known and k != "models"},
        )
        if record.robustness is not None:
            _check_robustness(record.robustness, where)
        if record.status not in ("complete", "incomplete"):
            raise HwrError(f"{where}: field status should be complete or incomplete, got {record.status!r}")
        return record

    def to_json(self) -> dict:
        out = {x.name: getattr(self, x.name) for x in dataclasses.fields(self) if x.name not in ("extra", "models")}
        out["models"] = {name: result.to_json() for name, result in self.models.items()}
        for optional in ("robustness", "mnist_c", "seeds"):  # absent unless the suites ran, or runs were repeated
            if out[optional] is None:
                del out[optional]
        return json_value({**out, **self.extra})
