"""The one door to disk for run folders: claim a new folder, write it atomically, guard what it owns.

A run folder is claimed with an exclusive create (of the folder, or of its ``.hwr-run`` marker when the
user named an existing empty folder), so of two runs started at the same moment with the same ``--out``
exactly one proceeds. Every file is written atomically (``hwr_eval.io``); ``results.json`` is rewritten
after each model with status ``incomplete`` until :meth:`RunFolder.finish`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import os
import platform
import shutil
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import HwrError
from ..io import atomic_path, atomic_write_text
from ._records import PREDICTION_PREFIX, ModelResult, RunRecord, json_value

#: Default parent folder of new run folders (relative to the working directory).
REPORTS_DIR = Path("reports")
#: Written first, exclusively, into every run folder: whoever creates it owns the folder.
MARKER = ".hwr-run"
#: The only file of a run folder that other commands may (re)write: the report.
REWRITABLE = ("report.html",)
#: Packages whose versions are recorded with every run.
_PACKAGES = ("torch", "skorch", "scikit-learn", "numpy", "scipy", "pandas", "joblib")


def new_run_dir(kind: str, parent: str | os.PathLike = REPORTS_DIR) -> Path:
    """A name ``parent/<kind>-YYYYmmdd-HHMMSS`` not taken yet (claiming it is :func:`claim_run_dir`'s job)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(parent) / f"{kind}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def claim_run_dir(out: str | os.PathLike | None, kind: str) -> tuple[Path, bool]:
    """Create and own a new run folder (or an existing empty one); return it and whether it was created.

    Exclusive creation makes the claim atomic: a second run on the same folder fails at once with one
    line, before any training.
    """
    while True:
        path = new_run_dir(kind) if out is None else Path(out)
        if path.exists() and not path.is_dir():
            raise HwrError(f"output folder {path} is a file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
            created = True
        except FileExistsError:
            if out is None:
                continue  # another run took this timestamp a moment ago: take the next name
            created = False
        except OSError as exc:
            raise HwrError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None
        break
    try:
        fd = os.open(path / MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise HwrError(f"output folder {path} belongs to another run; choose a new --out folder") from None
    except OSError as exc:
        raise HwrError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w") as marker:
        marker.write(f"{kind} {os.getpid()}\n")
    if not created and any(p.name != MARKER for p in path.iterdir()):
        os.unlink(path / MARKER)
        raise HwrError(f"output folder {path} is not empty; choose a new --out folder")
    return path, created


def release_run_dir(path: Path, created: bool) -> None:
    """Give back a claimed folder in which nothing was written: remove it, or its marker if it existed before."""
    if created:
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path / MARKER)


def _run_root(path: Path) -> Path | None:
    """The run folder that ``path`` lies in (itself or up to two levels up), if any."""
    for folder in [path.parent, *list(path.parents)[1:3]]:
        if (folder / "results.json").is_file() or (folder / MARKER).is_file():
            return folder
    return None


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (), what: str = "--out") -> Path:
    """Refuse an output path that would overwrite an input of the command or a file a run folder owns.

    A run folder's files (``results.json``, ``predictions.csv``, saved models, ...) are written only by
    the run itself; ``report.html`` is the one file other commands rebuild. Returns the path.
    """
    path = Path(path)
    target = path.resolve()
    for item in inputs:
        if item is not None and Path(item).resolve() == target:
            raise HwrError(f"{what} {path} is an input of this command; write the output elsewhere")
    if target.is_dir():
        raise HwrError(f"{what} {path} is a folder; give a file name")
    root = _run_root(target)
    if root is not None and not (target.parent == root and target.name in REWRITABLE):
        raise HwrError(f"{what} {path} is inside run folder {root}, whose files only that run writes; "
                       "write the output elsewhere")
    return path


def _cpu_name() -> str:
    try:  # Linux names the CPU model here; platform.processor() often says only "x86_64"
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def environment(device: str | None = None) -> dict:
    """Python, platform, device and package versions, for the record."""
    packages = {"hwr-eval": __version__}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    device_name = _cpu_name()
    try:
        import torch

        if device in (None, "auto", "cuda") and torch.cuda.is_available():
            device_name = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {"python": platform.python_version(), "platform": platform.platform(), "device_name": device_name,
            "packages": packages}


def class_set_name(classes: Sequence[str]) -> str:
    """The ``--classes`` name of a list of classes: digits, letters, 36 or 62."""
    chars = "".join(classes)
    if chars.isdigit():
        return "digits"
    if chars.isalpha() and chars.isupper():
        return "letters"
    return "62" if any(c.islower() for c in chars) else "36"


def data_record(dataset) -> dict:
    """The ``data`` section of ``results.json``: provenance and split sizes per class."""
    prov = dataset.provenance
    counts = dataset.counts()
    return json_value({
        "synthetic": bool(prov.get("synthetic", False)),
        "data_dir": prov.get("data_dir"),
        "classes": list(dataset.classes),
        "sources": prov.get("sources", []),
        "counts": {col: {str(c): int(n) for c, n in counts[col].items()} for col in counts.columns},
        # Which source gave each class group and why; set when the letters mix upper and lower case.
        "source_choice": prov.get("source_choice", {}),
        "mixed_case_letters": prov.get("mixed_case_letters"),
    })


def load_model(path: str | os.PathLike):
    """Load a fitted hwr-eval model saved with joblib (``hwr-eval compare --save-models``).

    Only load files you trust: joblib files are pickles, and unpickling runs code. Raises a one-line
    :class:`HwrError` for a missing file, a file that is not a joblib pickle, and an object that is not a
    fitted classifier of 28x28 (784-pixel) images with probabilities.
    """
    import joblib

    path = Path(path)
    if not path.is_file():
        raise HwrError(f"{path}: no such model file")
    what = "not a hwr-eval model (save one with `hwr-eval compare --save-models`)"
    try:
        model = joblib.load(path)
    except Exception as exc:  # unpickling a foreign file fails in many ways: all mean "not a model"
        raise HwrError(f"{path}: {what}: {type(exc).__name__}") from None
    classes = getattr(model, "classes_", None)
    if not (hasattr(model, "predict_proba") and classes is not None and getattr(model, "n_features_in_", None) == 784):
        raise HwrError(f"{path}: {what}: {type(model).__name__} is not a fitted classifier of 28x28 images")
    if not all(isinstance(c, str) and len(c) == 1 for c in classes):
        raise HwrError(f"{path}: {what}: its classes are not single characters")
    from ..models import PixelScaler

    steps = getattr(model, "steps", None)
    if not steps or not isinstance(steps[0][1], PixelScaler):
        # Without the scaler nothing says which pixel scale it learned: a model fitted on X / 255 answers
        # 0-255 images with p = 1.00 for one class, in silence.
        raise HwrError(f"{path}: {what}: {type(model).__name__} does not start with a PixelScaler, so the pixel scale "
                       "it was trained on is unknown; refit it as make_pipeline(PixelScaler(), model)")
    return model


class RunFolder:
    """A run folder: its path, its :class:`RunRecord`, and (once read) the arrays it holds.

    Build one with :meth:`create` (a new run) or :func:`hwr_eval.runs.open_run` (read and check one).
    """

    def __init__(self, path: Path, record: RunRecord, *, created: bool = False, dataset=None):
        self.path = Path(path)
        self.record = record
        self.created = created
        self.dataset = dataset
        self._predictions: dict[str, np.ndarray] = {}
        # Filled by the reader (:func:`hwr_eval.runs.open_run`).
        self.X_test: np.ndarray | None = None
        self.y_test: np.ndarray | None = None
        self.predictions: pd.DataFrame | None = None
        self.probabilities: dict[str, np.ndarray] = {}
        self.calibrated_probabilities: dict[str, np.ndarray] = {}
        self.per_class: dict[str, pd.DataFrame] = {}
        self.weights: dict[str, np.ndarray] = {}
        #: ``seeds.csv`` and ``comparisons.csv`` of a run with repeated training (None otherwise).
        self.seeds: pd.DataFrame | None = None
        self.comparisons: pd.DataFrame | None = None
        #: ``unknowns.csv`` of a run with ``--unknown`` (None otherwise): one row per model x detector x set.
        self.unknowns: pd.DataFrame | None = None
        #: The unknown sets ``{name: X}`` a ``compare --unknown`` run scores each model on (set by the workflow).
        self.unknown_sets: dict[str, np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r}, kind={self.record.kind!r}, status={self.record.status!r}, models={list(self.record.models)})"

    # -- reading (a folder from :func:`hwr_eval.runs.open_run`) ------------------------------------

    @functools.cached_property
    def results(self) -> dict:
        """``results.json`` as a plain dict (the record's JSON form), built once: the report reads it often."""
        return self.record.to_json()

    def _record_changed(self) -> None:
        self.__dict__.pop("results", None)

    @property
    def classes(self) -> list[str]:
        return self.record.classes

    def model_file(self, name: str) -> Path:
        """The saved model of ``name``; one line asks for ``--save-models`` when there is none."""
        result = self.record.models.get(name)
        if result is None:
            raise HwrError(f"{self.path}: no model {name!r} in this run (it has {', '.join(self.record.models) or 'none'})")
        relative = result.files.get("model")
        if not relative:
            raise HwrError(f"{self.path}: model {name!r} was not saved; rerun with --save-models")
        path = self.path / relative
        if not path.is_file():
            raise HwrError(f"{path}: saved model named in results.json is missing")
        return path

    def load_model(self, name: str):
        """The fitted model ``name`` (joblib; only open run folders you trust: unpickling runs code)."""
        return load_model(self.model_file(name))

    # -- writing ------------------------------------------------------------------------------------

    @classmethod
    def create(cls, kind: str, dataset, *, spec=None, settings: dict | None = None, command: str | None = None,
               out: str | os.PathLike | None = None, claimed: tuple[Path, bool] | None = None) -> RunFolder:
        """A new run folder for ``dataset``: ``claimed`` by :func:`claim_run_dir` already, or claimed now
        (``out``, else ``reports/<kind>-<time>``). Writes only the spec file yet."""
        path, created = claimed if claimed is not None else claim_run_dir(out, kind)
        device = spec.device if spec is not None else None
        record = RunRecord(
            kind=kind, status="incomplete",
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            command=command, settings=json_value(settings or {}), environment=environment(device),
            data=data_record(dataset), spec=json_value(spec.to_dict()) if spec is not None else None,
        )
        folder = cls(path, record, created=created, dataset=dataset)
        if spec is not None and not isinstance(spec.models, dict):
            atomic_write_text(path / "spec.toml", spec.to_toml())
        return folder

    def write_test_set(self) -> None:
        with atomic_path(self.path / "test_set.npz") as tmp:
            np.savez_compressed(tmp, X=self.dataset.X_test, y=np.asarray(self.dataset.y_test).astype(str))

    def write_array(self, key: str, name: str, array: np.ndarray | None) -> str | None:
        """Write ``<key>/<name>.npy`` (float32); return its relative path, None for no array."""
        if array is None:
            return None
        relative = f"{key}/{name}.npy"
        with atomic_path(self.path / relative) as tmp:
            np.save(tmp, np.asarray(array, dtype=np.float32))
        return relative

    def write_table(self, relative: str, frame: pd.DataFrame, **to_csv) -> str:
        """Write a CSV table into the folder (atomically); return its relative path."""
        with atomic_path(self.path / relative) as tmp:
            frame.to_csv(tmp, **({"index": False} | to_csv))
        return relative

    def write_npz(self, relative: str, arrays: dict) -> str:
        """Write named arrays as ``relative`` (a compressed .npz, atomically); return its relative path."""
        with atomic_path(self.path / relative) as tmp:
            with open(tmp, "wb") as handle:  # a file object: savez would append .npz to a bare temporary name
                np.savez_compressed(handle, **{k: np.asarray(v) for k, v in arrays.items()})
        return relative

    def write_model(self, name: str, model) -> str:
        import joblib

        relative = f"models/{name}.joblib"
        with atomic_path(self.path / relative) as tmp:
            joblib.dump(model, tmp)
        return relative

    def add(self, name: str, result: ModelResult, y_pred: np.ndarray) -> None:
        """Record one finished model: its result, its predictions, and the updated ``results.json``."""
        self.record.models[name] = result
        self._record_changed()
        self._predictions[name] = np.asarray(y_pred).astype(str)
        y_test = np.asarray(self.dataset.y_test).astype(str)
        frame = pd.DataFrame({"index": np.arange(y_test.size), "y_true": y_test,
                              **{PREDICTION_PREFIX + n: p for n, p in self._predictions.items()}})
        self.write_table("predictions.csv", frame)
        self.write_results()

    def write_results(self) -> None:
        if self._predictions:
            from ..evaluation import mcnemar_matrix

            y_test = np.asarray(self.dataset.y_test).astype(str)
            self.record.mcnemar = json_value(mcnemar_matrix(y_test, self._predictions))
        text = json.dumps(self.record.to_json(), indent=2, allow_nan=False)
        atomic_write_text(self.path / "results.json", text + "\n")

    def update(self, **sections: Any) -> None:
        """Set top-level sections (``robustness=...``) of an existing run and rewrite ``results.json``."""
        for key, value in sections.items():
            if not hasattr(self.record, key) or key in ("models", "data", "kind", "created"):
                raise HwrError(f"cannot update {key!r} of a run record")
            setattr(self.record, key, json_value(value))
        self._record_changed()
        atomic_write_text(self.path / "results.json", json.dumps(self.record.to_json(), indent=2, allow_nan=False) + "\n")

    def finish(self, status: str = "complete") -> Path:
        """Write the final ``results.json`` with its ``status``; return the run folder."""
        self.record.status = status
        self._record_changed()
        self.write_results()
        return self.path

    def discard(self) -> None:
        """Remove a folder this run created and in which nothing finished."""
        if self.created and not self.record.models:
            shutil.rmtree(self.path, ignore_errors=True)
