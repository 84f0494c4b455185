"""What to run: :class:`DataSpec` and :class:`RunSpec`, validated once when built.

Every knob of a run is defined here exactly once, with its default and what it means; the command line
builds a spec from its options, the workflows take it whole, and the run folder records it
(``spec.toml``, rerun with ``hwr-eval compare --config RUN/spec.toml``).
"""

from __future__ import annotations

import dataclasses
import numbers
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_parameter_constraints,
)

from ..data._sources import CLASS_SETS
from ..errors import HwrError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Run options that the command line also sets per model with ``--set``; giving both is an error.
RUN_WIDE_PARAMS = {"max_epochs": "--max-epochs", "device": "--device", "random_state": "--model-seed"}


#: The command-line option of each spec field, named in errors.
OPTIONS = {"data_dir": "--data", "classes": "--classes", "per_class": "--per-class", "split": "--split",
           "seed": "--data-seed", "max_epochs": "--max-epochs", "device": "--device", "model_seed": "--model-seed",
           "target_risk": "--target-risk", "out": "--out", "scheduler": "--scheduler",
           "seeds": "--seeds", "vary": "--vary", "rope": "--rope", "n_jobs": "--n-jobs",
           "tracking_uri": "--tracking-uri", "experiment": "--experiment", "unknown": "--unknown",
           "unknown_dir": "--unknown-dir", "unknown_detectors": "--unknown-detectors"}
_SKLEARN_MESSAGE = re.compile(r"The '(?P<name>\w+)' parameter of \w+ must be (?P<rule>.*)\. Got (?P<got>.*) instead\.")


def _validated(owner: str, constraints: dict, values: dict) -> None:
    """scikit-learn's parameter check, as one :class:`HwrError` line naming the field and its option."""
    try:
        validate_parameter_constraints(constraints, values, caller_name=owner)
    except InvalidParameterError as exc:
        text = " ".join(str(exc).split())
        match = _SKLEARN_MESSAGE.fullmatch(text)
        if match:
            name = match["name"]
            option = f" ({OPTIONS[name]})" if name in OPTIONS else ""
            text = f"{owner}.{name}{option} must be {match['rule']}; got {match['got']}"
        raise HwrError(text) from None


def _seed(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < 2**32


@dataclass(frozen=True)
class DataSpec:
    """Which data a run uses, and how it is split.

    Parameters
    ----------
    data_dir : str, optional
        Folder with the data files; None: ``$HWR_DATA``, then the fetch cache, then the synthetic demo set.
    classes : str, default="36"
        Class set: 36 (digits and uppercase letters, the study's), digits, letters, 62, 36-merged or
        letters-merged.
    per_class : int, default=2000
        At most this many images per class (the study's cap); 0 means all.
    split : {"random", "writer"}, default="random"
        Stratified 62/28/10 split, or one that keeps every writer in one split.
    seed : int, default=0
        Seed of the subsampling and the split (the data seed).
    """

    data_dir: str | None = None
    classes: str = "36"
    per_class: int = 2000
    split: str = "random"
    seed: int = 0

    _parameter_constraints = {
        "data_dir": [str, None],
        "classes": [StrOptions(set(CLASS_SETS))],
        "per_class": [Interval(numbers.Integral, 0, None, closed="left")],
        "split": [StrOptions({"random", "writer"})],
        "seed": [Interval(numbers.Integral, 0, 2**32 - 1, closed="both")],
    }

    def __post_init__(self) -> None:
        if isinstance(self.data_dir, Path):
            object.__setattr__(self, "data_dir", str(self.data_dir))
        for name in ("per_class", "seed"):
            if isinstance(getattr(self, name), bool):
                raise HwrError(f"DataSpec.{name} must be an integer, got {getattr(self, name)!r}")
        _validated("DataSpec", self._parameter_constraints, dataclasses.asdict(self))
        object.__setattr__(self, "per_class", int(self.per_class))
        object.__setattr__(self, "seed", int(self.seed))

    def load(self):
        """The :class:`~hwr_eval.data.Dataset` this spec names."""
        from ..data import load_dataset

        return load_dataset(self.data_dir, classes=self.classes, per_class=self.per_class or None,
                            split=self.split, seed=self.seed)


@dataclass(frozen=True)
class RunSpec:
    """One run: which models, on which data, trained and scored how, written where.

    Parameters
    ----------
    models : tuple of str, or mapping of name to estimator
        Registry names (``hwr_eval.list_models()``; ``("all",)`` for every one), or your own
        scikit-learn estimators by name.
    data : DataSpec
        The data and its split.
    params : mapping of model name to {parameter: value}
        Per-model parameter overrides (``--set cnn.lr=0.01``); short names work (``lr``, ``pool``).
    max_epochs : int, optional
        Epoch limit of every PyTorch model; None keeps each model's own (50; ``modern_cnn`` 15).
    device : {"auto", "cpu", "cuda"}, optional
        Where the PyTorch models train; None keeps each model's own ("auto": CUDA when available).
    model_seed : int, optional
        ``random_state`` of every model (initialisation, batch order); None: the data seed.
    target_risk : float, default=0.01
        Abstention target: the largest error rate among answered images, in (0, 1); each model's
        threshold is chosen on the validation split.
    context : str or tuple of str, optional
        Also score predictions restricted to these classes: a class set (digits, letters, 36), a
        comma-separated list (``O,0,Q``) or a string of characters.
    robustness : bool, default=False
        Also score every model under the corruption suite and the rotation sweep.
    unknown : bool, default=False
        Also measure how well each model tells input of none of its classes (lowercase letters from the
        data folder when it has them, blank frames, noise, scribbles, blobs) from known characters:
        ``unknowns.csv``, the report's "Unknown input" section, and with ``save_models`` a rejector per
        model (``models/<name>.unknown.joblib``) for predict and serve.
    unknown_dir : str, optional
        A folder of your own images of none of the classes, scored as the unknown set ``folder``; implies
        ``unknown``.
    unknown_detectors : tuple of str, optional
        The unknown-input detectors to score (``msp``, ``energy``, ...); None: every detector each model
        supports. Implies ``unknown``. A detector a model cannot use is refused before training.
    seeds : int, default=1
        Training runs per model: 1 is one run; N > 1 trains every model N times (model seeds ``seed``,
        ``seed + 1``, ...) and judges every pair of models across the runs (``seeds.csv``,
        ``comparisons.csv``). Models the model seed cannot change (kNN) are fitted once per split.
    vary : {"seed", "split"}, default="seed"
        What the repeated runs change: the model seed only, or the split too (data seeds ``data.seed + k``).
    rope : float, default=0.001
        Region of practical equivalence of the comparisons across runs: accuracy differences within
        +-0.1 points count as none.
    n_jobs : int, optional
        Repeated runs in parallel (joblib; -1: all cores); None runs them one after another.
    n_resamples : int, default=1000
        Bootstrap resamples of each accuracy interval.
    save_models : bool, default=False
        Keep the fitted models in the run folder (``models/<name>.joblib``), for predict, robustness, serve.
    report : bool, default=True
        Build ``report.html`` when the run ends.
    out : str, optional
        The new run folder; None: ``reports/<kind>-<timestamp>``.
    scheduler : str or distributed.Client, optional
        Fit on a Dask cluster: ``local:N``, a scheduler address (``tcp://host:8786``) or a client.
    verbose : int, default=0
        1 prints one line per epoch of the PyTorch models.
    track : bool, default=False
        Log the finished run to MLflow (parent run, a nested run per model and seed, metrics, curves,
        artifacts and the models, which are then saved in the folder too). Needs ``hwr-eval[mlflow]``.
    tracking_uri : str, optional
        Where to log: None takes ``$MLFLOW_TRACKING_URI``, else the SQLite store ``mlflow.db`` here.
    experiment : str, optional
        MLflow experiment name; None: ``hwr-eval``.
    """

    models: tuple[str, ...] | Mapping[str, BaseEstimator] = ("knn", "logreg", "cnn")
    data: DataSpec = field(default_factory=DataSpec)
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    max_epochs: int | None = None
    device: str | None = None
    model_seed: int | None = None
    target_risk: float = 0.01
    context: str | tuple[str, ...] | None = None
    robustness: bool = False
    unknown: bool = False
    unknown_dir: str | None = None
    unknown_detectors: tuple[str, ...] | None = None
    seeds: int = 1
    vary: str = "seed"
    rope: float = 0.001
    n_jobs: int | None = None
    n_resamples: int = 1000
    save_models: bool = False
    report: bool = True
    out: str | None = None
    scheduler: Any = None
    verbose: int = 0
    track: bool = False
    tracking_uri: str | None = None
    experiment: str | None = None

    _parameter_constraints = {
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "device": [StrOptions({"auto", "cpu", "cuda"}), None],
        "model_seed": [Interval(numbers.Integral, 0, 2**32 - 1, closed="both"), None],
        "target_risk": [Interval(numbers.Real, 0, 1, closed="neither")],
        "robustness": ["boolean"],
        "unknown": ["boolean"],
        "unknown_dir": [str, None],
        "unknown_detectors": [tuple, None],
        "seeds": [Interval(numbers.Integral, 1, None, closed="left")],
        "vary": [StrOptions({"seed", "split"})],
        "rope": [Interval(numbers.Real, 0, 1, closed="left")],
        "n_jobs": [Interval(numbers.Integral, -1, None, closed="left"), None],
        "n_resamples": [Interval(numbers.Integral, 1, None, closed="left")],
        "save_models": ["boolean"],
        "report": ["boolean"],
        "out": [str, None],
        "scheduler": [str, HasMethods(["submit", "scatter"]), None],  # an address, or a distributed.Client
        "verbose": [Interval(numbers.Integral, 0, None, closed="left")],
        "track": ["boolean"],
        "tracking_uri": [str, None],
        "experiment": [str, None],
    }

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen dataclass)
        if isinstance(self.models, str):
            set_("models", tuple(m.strip() for m in self.models.split(",") if m.strip()))
        if self.models == ("all",):
            from ..models import list_models

            set_("models", tuple(list_models()))  # every registry model
        elif not isinstance(self.models, Mapping):
            set_("models", tuple(self.models))
            others = [m for m in self.models if not isinstance(m, str)]
            if others:
                raise HwrError(f"models: give registry names or a mapping of name to estimator, not a list holding a "
                               f"{type(others[0]).__name__}; e.g. models={{'mine': estimator, 'knn': make_model('knn')}}")
        elif not all(isinstance(name, str) and hasattr(est, "fit") for name, est in self.models.items()):
            raise HwrError("models: a mapping must take names (str) to estimators (objects with fit)")
        if not self.models:
            raise HwrError("no models given; name at least one, e.g. knn,logreg,cnn")
        if isinstance(self.out, Path):
            set_("out", str(self.out))
        if isinstance(self.unknown_dir, Path):
            set_("unknown_dir", str(self.unknown_dir))
        self._normalise_unknown(set_)
        if not isinstance(self.data, DataSpec):
            raise HwrError(f"RunSpec.data must be a DataSpec, got {type(self.data).__name__}")
        for name in ("max_epochs", "model_seed", "n_resamples", "verbose", "seeds", "n_jobs"):
            if isinstance(getattr(self, name), bool):
                raise HwrError(f"RunSpec.{name} must be an integer, got {getattr(self, name)!r}")
        values = {k: getattr(self, k) for k in self._parameter_constraints}
        _validated("RunSpec", self._parameter_constraints, values)
        if self.context is not None and not isinstance(self.context, str):
            set_("context", tuple(str(c) for c in self.context))
        if not isinstance(self.params, Mapping) or not all(isinstance(v, Mapping) for v in self.params.values()):
            raise HwrError("RunSpec.params must map model names to {parameter: value}")
        set_("params", {str(m): dict(p) for m, p in self.params.items()})
        if self.track and not self.save_models:
            set_("save_models", True)  # a tracked run logs its models, so the folder keeps them
        self._check_params()

    def _normalise_unknown(self, set_) -> None:
        """``unknown_detectors`` as a tuple of names (a comma-separated string or a TOML list is accepted);
        a folder or detectors given turn ``unknown`` on."""
        detectors = self.unknown_detectors
        if isinstance(detectors, str):
            detectors = [d.strip() for d in detectors.split(",")]
        if isinstance(detectors, (list, tuple)):
            detectors = tuple(dict.fromkeys(str(d).strip() for d in detectors if str(d).strip()))
            if not detectors:
                raise HwrError("RunSpec.unknown_detectors (--unknown-detectors) is empty; name detectors such as "
                               "msp,energy, or leave it out for every detector each model supports")
            set_("unknown_detectors", detectors)
        if (self.unknown_dir is not None or self.unknown_detectors is not None) and self.unknown is False:
            set_("unknown", True)  # asking for a folder or detectors means asking for the evaluation

    def _check_params(self) -> None:
        """A run-wide option and a per-model override of the same parameter would silently disagree."""
        given = {"max_epochs": self.max_epochs, "device": self.device, "random_state": self.model_seed}
        for model, params in self.params.items():
            if model not in self.names:
                raise HwrError(f"--set names model {model!r}, which is not among the models run ({', '.join(self.names)})")
            for key, value in params.items():
                short = key.rsplit("__", 1)[-1]
                if short in RUN_WIDE_PARAMS and given[short] is not None:
                    raise HwrError(f"{model}.{short} is set twice: --set {model}.{key}={value} and "
                                   f"{RUN_WIDE_PARAMS[short]} {given[short]}; give one of them")

    @property
    def names(self) -> list[str]:
        """The models' names, in run order."""
        return list(self.models)

    @property
    def seed(self) -> int:
        """The models' seed: ``model_seed``, else the data seed."""
        return self.data.seed if self.model_seed is None else int(self.model_seed)

    def replace(self, **changes) -> RunSpec:
        """A copy with some fields changed (validated again); ``data`` takes a DataSpec or a dict of changes."""
        data = changes.pop("data", None)
        if isinstance(data, Mapping):
            changes["data"] = dataclasses.replace(self.data, **data)
        elif data is not None:
            changes["data"] = data
        return dataclasses.replace(self, **changes)

    # ----------------------------------------------------------------------------------------------
    # The record and the file
    # ----------------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The spec as plain values: what ``results.json`` records under ``spec`` and ``spec.toml`` holds.

        Estimators given by object are recorded by their class name (a file cannot rebuild them).
        """
        models = (list(self.models) if not isinstance(self.models, Mapping)
                  else {name: type(est).__name__ for name, est in self.models.items()})
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("models", "data")}
        out["context"] = list(self.context) if isinstance(self.context, tuple) else self.context
        if self.unknown_detectors is not None:
            out["unknown_detectors"] = list(self.unknown_detectors)
        out["params"] = {m: dict(p) for m, p in self.params.items()}
        if self.scheduler is not None and not isinstance(self.scheduler, str):
            out["scheduler"] = repr(self.scheduler)  # a client object: recorded, not rebuildable
        return {"models": models, "data": dataclasses.asdict(self.data), **out}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "spec") -> RunSpec:
        """Build (and validate) a spec from :meth:`to_dict`'s layout; unknown keys are errors."""
        values = dict(values)
        known = {f.name for f in dataclasses.fields(cls)}
        data = values.pop("data", {}) or {}
        unknown = sorted(set(values) - known) + [f"data.{k}" for k in sorted(set(data) - {f.name for f in dataclasses.fields(DataSpec)})]
        if unknown:
            raise HwrError(f"{where}: unknown setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
        if isinstance(values.get("models"), Mapping):
            raise HwrError(f"{where}: models given as estimators cannot be rebuilt from a file; name registry models")
        return cls(**values, data=DataSpec(**data))

    def to_toml(self) -> str:
        """The spec as TOML, to rerun it (``--config``); ``None`` values mean the default and are left out,
        and so is ``out``: a rerun writes a new folder."""
        import tomli_w

        def drop_none(value):
            if isinstance(value, dict):
                return {k: drop_none(v) for k, v in value.items() if v is not None}
            return value

        return tomli_w.dumps(drop_none({k: v for k, v in self.to_dict().items() if k != "out"}))

    @classmethod
    def from_toml(cls, path: str | Path) -> RunSpec:
        """Read a spec written by :meth:`to_toml` (or by hand); one line names the file and the problem."""
        path = Path(path)
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise HwrError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise HwrError(f"{path}: not a TOML run spec ({exc})") from None
        try:
            return cls.from_dict(values, where=str(path))
        except TypeError as exc:
            raise HwrError(f"{path}: {exc}") from None
        except HwrError as exc:
            message = str(exc)
            raise HwrError(message if message.startswith(str(path)) else f"{path}: {message}") from None
