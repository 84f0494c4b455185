"""Parsing ``--set`` / ``--param`` values and checking run options before any training."""

from __future__ import annotations

import ast
import dataclasses
import difflib
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import HwrError
from ..runs import RunSpec

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
            example = "lr=0.01 or cnn.lr=0.01" if default_model else "cnn.lr=0.01 (the model's name first when "\
                "several models run)"
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


_SPEC_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunSpec)}

# DataOpt, ClassesOpt, PerClassOpt and SplitOpt are the data options shared with `hwr-eval data` (_common.py).
# Run options default to None: a value not given comes from --config, else from RunSpec, where each
# default is defined once.
RunSeedOpt = Annotated[int | None, typer.Option("--seed", help="Sets both --data-seed and --model-seed (default 0).")]
DataSeedOpt = Annotated[int | None, typer.Option("--data-seed", help="Seed of the subsampling and the split (default 0).")]
ModelSeedOpt = Annotated[int | None, typer.Option(
    "--model-seed", help="Seed of the models (initialisation, batch order) and of grid/cv folds (default: the data seed).")]
EpochsOpt = Annotated[int | None, typer.Option(
    "--max-epochs", help="Epoch limit of the PyTorch models (default: each model's own, 50; modern_cnn 15).")]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto, cpu or cuda (PyTorch models; default auto).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="New run folder (default: reports/<kind>-<timestamp>).")]
SaveOpt = Annotated[bool | None, typer.Option(
    "--save-models/--no-save-models", help="Also save the fitted models (joblib), for predict, robustness and serve.",
    show_default=False)]
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
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="A run spec in TOML (every run folder keeps its own as spec.toml); options given here win.",
    dir_okay=False)]
TargetRiskOpt = Annotated[float | None, typer.Option(
    "--target-risk", help="Abstention target: largest error rate among answered test images, in (0, 1); each "
                          f"model's threshold is chosen on the validation split (default {_SPEC_DEFAULTS['target_risk']}).")]
ContextOpt = Annotated[str | None, typer.Option(
    "--context", help="Also score predictions restricted to these classes: digits, letters, 36, or a "
                      "comma-separated list such as O,0,Q.")]
RobustnessOpt = Annotated[bool | None, typer.Option(
    "--robustness/--no-robustness", help="Also score every model under corruptions and rotations.", show_default=False)]
UnknownOpt = Annotated[bool | None, typer.Option(
    "--unknown/--no-unknown", help="Also measure how well each model rejects input of none of its classes (lowercase "
    "letters, blank frames, noise, scribbles, blobs): unknowns.csv and a report section.", show_default=False)]
UnknownDirOpt = Annotated[Path | None, typer.Option(
    "--unknown-dir", help="A folder of your own images of none of the classes, scored as the unknown set 'folder' "
    "(implies --unknown).", file_okay=False, show_default=False)]
UnknownDetectorsOpt = Annotated[str | None, typer.Option(
    "--unknown-detectors", help="Comma-separated detectors to score, e.g. msp,energy (default: every detector each "
    "model supports; implies --unknown).", show_default=False)]

SeedsOpt = Annotated[int | None, typer.Option(
    "--seeds", help="Train every model N times (model seeds seed, seed+1, ...) and judge each pair across the runs "
                    "(default 1: one run).")]
VaryOpt = Annotated[str | None, typer.Option("--vary", help="What repeated runs change: seed (default) or split (the split too).")]
RopeOpt = Annotated[float | None, typer.Option(
    "--rope", help=f"Accuracy difference that counts as none, as a fraction (default {_SPEC_DEFAULTS['rope']}: 0.1 points).")]
NJobsOpt = Annotated[int | None, typer.Option("--n-jobs", help="Parallel fits (-1: all cores).")]

TrackOpt = Annotated[bool | None, typer.Option(
    "--track/--no-track", help="Log the run to MLflow (every model, seed and epoch; the models are saved too).",
    show_default=False)]
TrackingUriOpt = Annotated[str | None, typer.Option(
    "--tracking-uri", help="MLflow tracking URI (http://host:5000, sqlite:///file.db). "
    "Default: $MLFLOW_TRACKING_URI, then the SQLite store mlflow.db in the working directory.", show_default=False)]
ExperimentOpt = Annotated[str | None, typer.Option(
    "--experiment", help="MLflow experiment (created on first use). Default: hwr-eval.", show_default=False)]

_DATA_FIELDS = {"data": "data_dir", "classes": "classes", "per_class": "per_class", "split": "split", "data_seed": "seed"}
_RUN_FIELDS = ("max_epochs", "device", "model_seed", "target_risk", "context", "robustness", "save_models", "scheduler",
               "seeds", "vary", "rope", "n_jobs", "track", "tracking_uri", "experiment", "unknown", "unknown_dir",
               "unknown_detectors")


def spec_from_options(ctx: typer.Context, *, models: list[str] | None, config: Path | None, set_: list[str] | None,
                      default_model: str | None = None, **values: Any) -> RunSpec:
    """The run's :class:`RunSpec`: ``--config`` (if given), then every option given on the command line.

    Options left out keep the config's value, else the spec's default; ``--seed`` sets both seeds, so
    giving it with ``--data-seed`` or ``--model-seed`` is refused.
    """
    sources = {name: ctx.get_parameter_source(name) for name in values}
    given = {name for name, source in sources.items() if source is not None and source.name != "DEFAULT"}
    spec = RunSpec.from_toml(config) if config is not None else RunSpec()
    if "seed" in given and given & {"data_seed", "model_seed"}:
        raise HwrError("--seed sets both seeds; give it alone, or --data-seed and --model-seed")
    if "seed" in given:
        values["data_seed"] = values["model_seed"] = values["seed"]
        given |= {"data_seed", "model_seed"}
    data = {field: str(values[o]) if isinstance(values[o], Path) else values[o]
            for o, field in _DATA_FIELDS.items() if o in given}
    changes: dict[str, Any] = {name: str(values[name]) if isinstance(values[name], Path) else values[name]
                               for name in _RUN_FIELDS if name in given}
    if data:
        changes["data"] = data
    if "out" in given:
        changes["out"] = str(values["out"])
    if "quiet" in given or config is None:
        changes["verbose"] = 0 if values.get("quiet") else 1
    if "no_report" in given:
        changes["report"] = not values["no_report"]
    if models:
        changes["models"], changes["params"] = tuple(models), {}  # a config's overrides were for its models
    names = list(changes.get("models", spec.models))
    params = parse_sets(set_, default_model=default_model or (names[0] if len(names) == 1 else None))
    if params:
        changes["params"] = params
    return spec.replace(**changes)


def _check_scheduler(scheduler: str | None) -> None:
    """Refuse a malformed ``--scheduler`` before any data is loaded (connecting comes later)."""
    if scheduler is not None:
        from ..workflows import check_scheduler

        check_scheduler(scheduler)
