"""Parsing ``--set`` / ``--param`` values and checking run options before any training."""

from __future__ import annotations

import ast
import difflib
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import HwrError
from ._common import console, load_data_for_cli

_SET_RE = re.compile(r"^(?:(?P<model>[A-Za-z0-9_.-]+?)\.)?(?P<param>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.+)$")
_LITERALS = {"true": True, "false": False, "none": None, "null": None}


def parse_value(text: str) -> Any:
    """A command-line value as the Python literal it spells (int, float, bool, None), else the string.

    ``1e-3`` -> 0.001, ``64`` -> 64, ``true``/``True`` -> True, ``none`` -> None, ``avg`` -> "avg".
    """
    text = text.strip()
    if text.lower() in _LITERALS:
        return _LITERALS[text.lower()]
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, (int, float, bool, tuple)) or value is None else text


def parse_sets(items: list[str] | None, *, default_model: str | None = None) -> dict[str, dict[str, Any]]:
    """``--set model.param=value`` options as ``{model: {param: value}}``."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        match = _SET_RE.match(item.strip())
        model = match and (match["model"] or default_model)
        if not match or not model:
            example = "lr=0.01 or cnn.lr=0.01" if default_model else "cnn.lr=0.01"
            raise HwrError(f"--set {item!r}: expected model.param=value, e.g. --set {example}")
        out.setdefault(model, {})[match["param"]] = parse_value(match["value"])
    return out


def parse_grid(items: list[str] | None) -> dict[str, list[Any]]:
    """``--param name=v1,v2`` options as a ``GridSearchCV`` parameter grid."""
    grid: dict[str, list[Any]] = {}
    for item in items or []:
        name, sep, values = item.partition("=")
        name = name.strip()
        parts = [v.strip() for v in values.split(",")]
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not all(parts):
            raise HwrError(f"--param {item!r}: expected name=value1,value2,... e.g. --param lr=0.001,0.01")
        if name in grid:
            raise HwrError(f"--param {name!r} given twice; list all its values in one option")
        grid[name] = [parse_value(v) for v in parts]
    return grid


def _split_models(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise HwrError(f"--models {text!r}: give model names separated by commas, e.g. knn,logreg,cnn")
    return names


def _check_scoring(scoring: str) -> None:
    """Refuse an unknown scorer before any data is loaded, suggesting the closest names."""
    from sklearn.metrics import get_scorer_names

    names = get_scorer_names()
    if scoring not in names:
        close = difflib.get_close_matches(scoring, names, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see sklearn.metrics.get_scorer_names()"
        raise HwrError(f"--scoring {scoring!r}: unknown scikit-learn scorer; {hint}")


def _check_n_jobs(n_jobs: int | None) -> None:
    # joblib rejects 0 only once the fits start, with a message that names neither option nor value.
    if n_jobs == 0:
        raise HwrError("--n-jobs 0: give a positive number of parallel jobs, or -1 for all cores")


def _load_data(data: Path | None, classes: str, per_class: int | None, split: str, seed: int):
    """Load the data, say which data it is (loudly when synthetic) and how large the splits are."""
    dataset = load_data_for_cli(data, classes, per_class, split, seed)  # the data section, below
    console.print(
        f"data: {len(dataset.classes)} classes, {len(dataset.y_train)} train / {len(dataset.y_val)} validation"
        f" / {len(dataset.y_test)} test images",
        highlight=False,
    )
    return dataset


# DataOpt, ClassesOpt, PerClassOpt and SplitOpt are the data section's shared options (below; the
# annotations are resolved when the app runs).
RunSeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the split, the models and the bootstrap.")]
EpochsOpt = Annotated[int | None, typer.Option("--max-epochs", help="Epoch limit of the PyTorch models (default 50).")]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto, cpu or cuda (PyTorch models; default auto).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="New run folder (default: reports/<kind>-<timestamp>).")]
SaveOpt = Annotated[bool, typer.Option("--save-models", help="Also save the fitted models (joblib).")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a model parameter: model.param=value (repeatable).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No per-epoch lines.")]
NoReportOpt = Annotated[bool, typer.Option("--no-report", help="Skip report.html (build it later: hwr-eval report).")]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Run the fits on a Dask cluster: local:N (N worker processes here, one thread "
                 "each) or a scheduler address, e.g. tcp://host:8786. Default: this process (joblib, --n-jobs)."),
]


def _check_scheduler(scheduler: str | None) -> None:
    """Refuse a malformed ``--scheduler`` before any data is loaded (connecting comes later)."""
    if scheduler is not None:
        from ..workflows._dask import parse_scheduler

        parse_scheduler(scheduler)
