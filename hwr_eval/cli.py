"""The ``hwr-eval`` command line: every command is a thin layer over the public Python API."""

from __future__ import annotations

import ast
import difflib
import functools
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from .errors import HwrError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="hwr-eval",
    help="Train, compare and report on classifiers for handwritten digits and letters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
data_app = typer.Typer(help="Inspect, plot and fetch the datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

F = TypeVar("F", bound=Callable)


def user_errors(func: F) -> F:
    """Turn user-facing errors into one line on stderr and exit status 2 (130 after Ctrl-C).

    ``OSError`` counts as user-facing too: an unwritable ``--out`` or a full disk is the user's to fix.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except HwrError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            err_console.print(f"[bold red]error:[/] {where}{exc.strerror or exc}", markup=True, highlight=False,
                              soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", highlight=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def main() -> None:
    """Console-script entry point."""
    app()


def command_line(ctx: typer.Context) -> str:
    """The command as the user gave it, e.g. ``hwr-eval compare --models knn,cnn --max-epochs 5``.

    Rebuilt from the options given on the command line rather than taken from ``sys.argv``, which
    names the interpreter under ``python -m hwr_eval`` and the test runner under ``CliRunner``.
    """
    names, parent = [], ctx
    while parent.parent is not None:  # subcommand names; the root's name is the program's
        names.insert(0, parent.info_name)
        parent = parent.parent
    words = ["hwr-eval", *names]
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if source is None or source.name not in ("COMMANDLINE", "ENVIRONMENT", "PROMPT"):
            continue  # defaults are recorded in results.json's settings
        value = ctx.params.get(param.name)
        if param.param_type_name == "argument":
            words.append(str(value))
        elif getattr(param, "is_flag", False):
            flag = param.opts[0] if value else next(iter(param.secondary_opts), None)
            words += [flag] if flag else []
        elif getattr(param, "multiple", False):
            for item in value or ():
                words += [param.opts[0], str(item)]
        else:
            words += [param.opts[0], str(value)]
    return shlex.join(words)


# ======================================================================================================
# data: `hwr-eval data info | show | fetch`, and the data options shared with other commands
# ======================================================================================================


DataOpt = Annotated[
    Optional[Path],
    typer.Option("--data", help="Data folder (MNIST IDX, Kaggle CSV, EMNIST, FEMNIST npz). "
                 "Default: $HWR_DATA, then the fetch cache, then a synthetic demo set.",
                 file_okay=False, show_default=False),
]
ClassesOpt = Annotated[str, typer.Option("--classes", help="Class set: 36, digits, letters or 62.")]
PerClassOpt = Annotated[
    Optional[int], typer.Option("--per-class", help="At most this many images per class (0 = all).", min=0)
]
SplitOpt = Annotated[str, typer.Option("--split", help="random (stratified 62/28/10) or writer (no shared writers).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the sampling and the split.")]


def load_data_for_cli(data: Optional[Path], classes: str = "36", per_class: Optional[int] = 2000,
                      split: str = "random", seed: int = 0):
    """Load the data for a command and say which data it is (loudly when synthetic).

    ``per_class=0`` means all images. Returns the :class:`~hwr_eval.dataset.Dataset`.
    """
    from .dataset import load_dataset

    dataset = load_dataset(data, classes=classes, per_class=per_class or None, split=split, seed=seed)
    announce_data(dataset)
    return dataset


def announce_data(dataset) -> None:
    """Print one line naming the data used; a red warning banner for the synthetic demo set."""
    if dataset.synthetic:
        err_console.print(
            "[bold red]WARNING: no real data found, using the SYNTHETIC demo set[/] (rendered fonts, not "
            "handwriting). Give --data DIR, set HWR_DATA, or run `hwr-eval data fetch`.",
            highlight=False,
        )
    else:
        err_console.print(f"data: {dataset.describe()}", highlight=False, markup=False)


@data_app.command("info")
@user_errors
def data_info(
    data: DataOpt = None,
    classes: ClassesOpt = "36",
    per_class: PerClassOpt = 2000,
    split: SplitOpt = "random",
    seed: SeedOpt = 0,
) -> None:
    """Per-class counts per split, the sources used and their sha256."""

    dataset = load_data_for_cli(data, classes, per_class, split, seed)
    counts = dataset.counts()
    table = Table(title="Images per class and split")
    for column in ("class", "train", "validation", "test", "total"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for label, row in counts.iterrows():
        table.add_row(str(label), *(str(v) for v in row), str(int(row.sum())))
    totals = counts.sum(axis=0)
    table.add_row("all", *(str(int(v)) for v in totals), str(int(totals.sum())), style="bold")
    console.print(table)
    sources = Table(title="Sources")
    sources.add_column("source")
    sources.add_column("file", overflow="fold")
    sources.add_column("sha256", overflow="fold", min_width=64)
    sources.add_column("images used", justify="right")
    for src in dataset.provenance["sources"]:
        name = Path(src["path"]).name if src["path"] else "-"
        sources.add_row(src["name"], name, str(src["sha256"] or "-"), str(src["n_samples"]))
    console.print(f"data folder: {dataset.provenance['data_dir'] or '(none: synthetic)'}", highlight=False)
    console.print(sources)
    for note in dataset.provenance.get("notes", []):
        console.print(f"note: {note}", highlight=False, markup=False)


@data_app.command("show")
@user_errors
def data_show(
    out: Annotated[Path, typer.Option("--out", help="PNG file for the sample grid; the class-count chart "
                                      "goes beside it as <name>-counts.png.", dir_okay=False)] = Path("data.png"),
    data: DataOpt = None,
    classes: ClassesOpt = "36",
    per_class: PerClassOpt = 2000,
    split: SplitOpt = "random",
    seed: SeedOpt = 0,
    samples: Annotated[int, typer.Option("--samples", help="Images shown per class.", min=1)] = 10,
) -> None:
    """A grid of sample images per class and the class-count chart, saved as PNG."""
    import numpy as np

    from .io import atomic_path
    from .plots import plot_class_counts, plot_sample_grid

    dataset = load_data_for_cli(data, classes, per_class, split, seed)
    label = "SYNTHETIC demo data" if dataset.synthetic else ", ".join(
        f"{g}: {s}" for g, s in dataset.provenance["groups"].items())
    X = np.concatenate([dataset.X_train, dataset.X_val, dataset.X_test])
    y = np.concatenate([dataset.y_train, dataset.y_val, dataset.y_test])
    grid = plot_sample_grid(X, y, dataset.classes, per_class=samples, seed=seed, title=f"Samples per class ({label})")
    counts_path = out.with_name(f"{out.stem}-counts{out.suffix or '.png'}")
    chart = plot_class_counts(dataset.counts(), title=f"Images per class and split ({label})")
    for fig, path in ((grid, out), (chart, counts_path)):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    console.print(f"wrote {out} and {counts_path}", highlight=False)


@data_app.command("fetch")
@user_errors
def data_fetch(
    datasets: Annotated[str, typer.Option("--datasets", help="Comma-separated: mnist, emnist.")] = "mnist,emnist",
    dest: Annotated[Optional[Path], typer.Option("--dest", help="Target folder (default: the user cache, "
                                                 "$HWR_CACHE/data).", file_okay=False, show_default=False)] = None,
) -> None:
    """Download MNIST and EMNIST from public mirrors into the cache (checksum-verified, resumable)."""
    from .fetch import data_cache_dir, fetch

    names = [n.strip().lower() for n in datasets.split(",") if n.strip()]
    files = fetch(names, dest=dest)
    console.print(f"{len(files)} files ready in {dest or data_cache_dir()}", highlight=False)


# =====================================================================================================
# compare / grid / cv: thin layers over hwr_eval.compare
# =====================================================================================================


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


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _results_table(results: dict, title: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("model", "acc", "95% CI", "bal acc", "F1 mac", "fit s", "pred s", "params"):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for name, rec in results["models"].items():
        m = rec["metrics"]
        low, high = m["accuracy_ci95"]
        table.add_row(
            name,
            _fmt(m["accuracy"]),
            f"{_fmt(low, 3)}-{_fmt(high, 3)}",
            _fmt(m["balanced_accuracy"]),
            _fmt(m["f1_macro"]),
            f"{rec['fit_time_s']:.1f}",
            f"{rec['predict_time_s']:.2f}",
            f"{rec['n_parameters']:,}",
        )
    return table


def _print_run(run_dir: Path) -> dict:
    import json

    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    status = "" if results["status"] == "complete" else f" [{results['status']}]"
    console.print(_results_table(results, f"Test split ({sum(results['data']['counts']['test'].values())} images){status}"))
    mc = results.get("mcnemar")
    if mc and len(mc["models"]) > 1:
        names = mc["models"]
        pairs = [
            f"{names[i]} vs {names[j]}: p={mc['p_value'][i][j]:.3g}"
            for i in range(len(names))
            for j in range(i + 1, len(names))
        ]
        console.print("McNemar's test: " + "; ".join(pairs), highlight=False)
    console.print(f"run folder: {run_dir}", highlight=False)
    if (run_dir / "report.html").exists():
        console.print(f"report: {run_dir / 'report.html'}", highlight=False)
    return results


def _model_start(name: str, index: int, total: int) -> None:
    console.print(f"[bold][{index + 1}/{total}] {name}[/]: training ...", highlight=False)


def _model_end(name: str, record: dict) -> None:
    m = record["metrics"]
    console.print(
        f"      {name}: test accuracy {m['accuracy']:.4f}, fit {record['fit_time_s']:.1f} s, "
        f"predict {record['predict_time_s']:.2f} s",
        highlight=False,
    )


@app.command()
@user_errors
def compare(
    ctx: typer.Context,
    models: Annotated[str, typer.Option("--models", help="Comma-separated model names, e.g. knn,logreg,cnn.")] = "knn,logreg,cnn",
    data: DataOpt = None,
    classes: ClassesOpt = "36",
    per_class: PerClassOpt = 2000,
    split: SplitOpt = "random",
    max_epochs: EpochsOpt = None,
    device: DeviceOpt = None,
    seed: RunSeedOpt = 0,
    out: OutOpt = None,
    save_models: SaveOpt = False,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
    no_report: NoReportOpt = False,
) -> None:
    """Train several models on one split and compare them on the untouched test split."""
    from .compare import CompareInterrupted, build_models, run_compare

    names = _split_models(models)
    overrides = parse_sets(set_)
    # Check names and parameters before loading data, so a typo costs nothing.
    build_models(names, overrides=overrides, max_epochs=max_epochs, device=device, seed=seed)
    dataset = _load_data(data, classes, per_class, split, seed)
    try:
        run_dir = run_compare(
            names,
            dataset,
            out,
            max_epochs=max_epochs,
            device=device,
            seed=seed,
            overrides=overrides,
            save_models=save_models,
            verbose=0 if quiet else 1,
            report=not no_report,
            command=command_line(ctx),
            on_model_start=_model_start,
            on_model_end=_model_end,
        )
    except CompareInterrupted as exc:
        err_console.print(
            f"interrupted: kept {len(exc.finished)} finished model(s) in {exc.run_dir} (status incomplete)",
            highlight=False,
        )
        if exc.finished:
            _print_run(exc.run_dir)
        raise typer.Exit(130) from None
    _print_run(run_dir)


@app.command()
@user_errors
def grid(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", help="Model name, e.g. cnn.")],
    param: Annotated[
        list[str], typer.Option("--param", help="Values to search: name=v1,v2 (repeatable), e.g. lr=0.001,0.01.")
    ],
    cv: Annotated[int, typer.Option("--cv", help="Stratified folds of the training split.")] = 3,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Parallel fits (-1: all cores).")] = None,
    scoring: Annotated[str, typer.Option("--scoring", help="scikit-learn scorer name.")] = "accuracy",
    data: DataOpt = None,
    classes: ClassesOpt = "36",
    per_class: PerClassOpt = 2000,
    split: SplitOpt = "random",
    max_epochs: EpochsOpt = None,
    device: DeviceOpt = None,
    seed: RunSeedOpt = 0,
    out: OutOpt = None,
    save_models: SaveOpt = False,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
    no_report: NoReportOpt = False,
) -> None:
    """Grid-search one model's parameters on the training split; refit the best and score it on test."""
    from .compare import build_models, cv_results_table, run_grid

    _check_scoring(scoring)
    _check_n_jobs(n_jobs)
    param_grid = parse_grid(param)
    overrides = parse_sets(set_, default_model=model)
    extra = set(overrides) - {model}
    if extra:
        raise HwrError(f"--set names model {sorted(extra)[0]!r}, but the grid searches {model!r}")
    from .registry import resolve_params

    estimator = build_models([model], overrides=overrides, max_epochs=max_epochs, device=device, seed=seed)[model]
    resolve_params(estimator, param_grid)  # unknown names fail before the data is loaded
    dataset = _load_data(data, classes, per_class, split, seed)
    n_candidates = 1
    for values in param_grid.values():
        n_candidates *= len(values)
    console.print(f"[bold]grid[/]: {model}, {n_candidates} candidates x {cv} folds", highlight=False)
    run_dir = run_grid(
        model,
        param_grid,
        dataset,
        out,
        cv=cv,
        n_jobs=n_jobs,
        scoring=scoring,
        max_epochs=max_epochs,
        device=device,
        seed=seed,
        overrides=overrides.get(model),
        save_models=save_models,
        verbose=0 if quiet else 2,
        report=not no_report,
        command=command_line(ctx),
    )
    ranked = cv_results_table(run_dir)
    table = Table(title=f"GridSearchCV ({scoring}, {cv} folds), best first", title_justify="left")
    for col in ranked.columns:
        table.add_column(str(col), justify="right")
    for row in ranked.itertuples(index=False):
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    results = _print_run(run_dir)
    console.print(f"best parameters: {results['grid']['best_params']}", highlight=False)


@app.command("cv")
@user_errors
def cross_validation(
    models: Annotated[str, typer.Option("--models", help="Comma-separated model names.")] = "logreg,knn",
    folds: Annotated[int, typer.Option("--folds", help="Stratified folds.")] = 5,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Parallel folds (-1: all cores).")] = None,
    data: DataOpt = None,
    classes: ClassesOpt = "36",
    per_class: PerClassOpt = 2000,
    split: SplitOpt = "random",
    max_epochs: EpochsOpt = None,
    device: DeviceOpt = None,
    seed: RunSeedOpt = 0,
    set_: SetOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also save the table as CSV here.")] = None,
) -> None:
    """Stratified k-fold cross-validation (training + validation splits; the test split stays unused)."""
    from .compare import CV_SCORING, build_models, run_cv
    from .io import atomic_path

    _check_n_jobs(n_jobs)
    names = _split_models(models)
    overrides = parse_sets(set_)
    build_models(names, overrides=overrides, max_epochs=max_epochs, device=device, seed=seed)
    dataset = _load_data(data, classes, per_class, split, seed)
    frame = run_cv(
        names,
        dataset,
        folds=folds,
        n_jobs=n_jobs,
        max_epochs=max_epochs,
        device=device,
        seed=seed,
        overrides=overrides,
        on_model_start=lambda name, i, n: console.print(
            f"[bold][{i + 1}/{n}] {name}[/]: {folds}-fold cross-validation ...", highlight=False
        ),
    )
    table = Table(title=f"{folds}-fold stratified cross-validation (mean ± std)", title_justify="left")
    table.add_column("model")
    for metric in (*CV_SCORING, "fit_time"):
        table.add_column(metric + (" s" if metric == "fit_time" else ""), justify="right")
    for name, row in frame.iterrows():
        cells = [f"{row[f'{m}_mean']:.4f} ± {row[f'{m}_std']:.4f}" for m in CV_SCORING]
        cells.append(f"{row['fit_time_mean']:.1f} ± {row['fit_time_std']:.1f}")
        table.add_row(str(name), *cells)
    console.print(table)
    if out is not None:
        try:
            with atomic_path(out) as tmp:
                frame.to_csv(tmp)
        except OSError as exc:
            raise HwrError(f"cannot write {out}: {exc.strerror or exc}") from None
        console.print(f"saved: {out}", highlight=False)


# --------------------------------------------------------------------------------------------------
# hwr-eval report
# --------------------------------------------------------------------------------------------------


@app.command("report")
@user_errors
def report_command(
    run_dir: Path = typer.Argument(..., help="Run folder written by 'hwr-eval compare' or 'hwr-eval grid'."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Where to write the report (default: RUN_DIR/report.html)."),
) -> None:
    """(Re)build the self-contained HTML report of a run folder."""
    from .report import build_report  # matplotlib loads only for commands that draw

    with console.status("building the report"):
        path = build_report(run_dir, out=out)
    console.print(f"report written to {path}", highlight=False)
