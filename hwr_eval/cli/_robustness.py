"""``hwr-eval robustness RUN_DIR`` and ``hwr-eval unknowns RUN_DIR``: scoring a run folder's saved models after the
fact, under corruptions and rotations, or against input of none of their classes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ._common import app, console, user_errors


@contextlib.contextmanager
def robustness_progress() -> Iterator:
    """Yields the ``on_progress(done, total, label)`` hook: a progress bar that appears on its first call
    (after any training, under ``compare --robustness``) and goes when the block ends."""
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), console=console, transient=True)
    task = None

    def update(done: int, total: int, label: str) -> None:
        nonlocal task
        if task is None:
            progress.start()
            task = progress.add_task(label, total=total)
        progress.update(task, completed=done, total=total, description=label)

    try:
        yield update
    finally:
        progress.stop()


def print_robustness(record: dict) -> None:
    """The models ranked by mean corruption accuracy, as a table."""
    table = Table(title="Robustness (ranked by mean corruption accuracy)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("model", "clean", "mCA", "drop", "±30°", "worst"):
        table.add_column(col, justify="left" if col in ("model", "worst") else "right", no_wrap=True)
    pct = lambda v: "-" if v is None else f"{v:.2%}"
    for name, rec in record["models"].items():
        table.add_row(name, pct(rec["clean_accuracy"]), pct(rec["mca"]), pct(rec["relative_drop"]),
                      pct(rec["rotation_30"]), str(rec["worst"]))
    console.print(table)


def print_mnist_c(record: dict) -> None:
    """MNIST-C's headline per model: the mean over its 15 corruptions, with the clean accuracy and the worst."""
    table = Table(title="MNIST-C as released (mean over its 15 corruptions)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("model", "clean", "MNIST-C", "worst"):
        table.add_column(col, justify="left" if col in ("model", "worst") else "right", no_wrap=True)
    for name, rec in record["models"].items():
        worst = min(rec["per_corruption"], key=rec["per_corruption"].get)
        table.add_row(name, f"{rec['clean']:.2%}", f"{rec['mean']:.2%}", f"{worst} {rec['per_corruption'][worst]:.0%}")
    console.print(table)


@app.command("robustness")
@user_errors
def robustness_command(
    run_dir: Path = typer.Argument(..., help="Run folder of 'hwr-eval compare --save-models'."),
    corruptions: Annotated[
        str | None, typer.Option("--corruptions", help="Comma-separated subset of the corruptions (default: all).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the corruptions (default: the run's seed).")] = None,
    suite: Annotated[str, typer.Option(
        "--suite", help="sweep (hwr-eval's severity sweep), mnist-c (MNIST-C as released: comparable with published "
                        "results) or both.")] = "sweep",
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not rebuild report.html.")] = False,
) -> None:
    """Score the saved models under corruptions: hwr-eval's sweep (17 corruptions x 5 severities and rotations
    -90..+90 degrees) and/or MNIST-C as released (15 corruptions at the published settings)."""
    from ..data import CORRUPTIONS
    from ..workflows import run_robustness

    kinds = CORRUPTIONS if corruptions is None else tuple(c.strip() for c in corruptions.split(",") if c.strip())
    with robustness_progress() as on_progress:
        record = run_robustness(run_dir, corruptions=kinds, seed=seed, report=not no_report, on_progress=on_progress,
                                suite=suite)
    from ..runs import read_record

    run = read_record(run_dir)
    if suite in ("mnist-c", "both"):
        print_mnist_c(run.mnist_c)
    if suite in ("sweep", "both"):
        print_robustness(run.robustness)
    console.print(f"results: {run_dir / 'results.json'} (keys 'robustness', 'mnist_c'), {run_dir / record['file']}",
                  highlight=False)
    if not no_report and (run_dir / "report.html").exists():
        console.print(f"report: {run_dir / 'report.html'}", highlight=False)


@app.command("unknowns")
@user_errors
def unknowns_command(
    run_dir: Path = typer.Argument(..., help="Run folder of 'hwr-eval compare --save-models'."),
    unknown_dir: Annotated[Path | None, typer.Option(
        "--unknown-dir", help="A folder of your own images of none of the classes, scored as the set 'folder'.",
        file_okay=False, show_default=False)] = None,
    unknown_detectors: Annotated[str | None, typer.Option(
        "--unknown-detectors", help="Comma-separated detectors, e.g. msp,energy (default: every detector each model "
        "supports).", show_default=False)] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not rebuild report.html.")] = False,
) -> None:
    """Score the saved models against input of none of their classes (lowercase letters, blank frames, noise,
    scribbles, blobs, and your own folder): unknowns.csv, a report section, and rejectors for predict --unknown."""
    from ..workflows import run_unknowns

    with robustness_progress() as on_progress:
        records = run_unknowns(run_dir, unknown_dir=unknown_dir, detectors=unknown_detectors, report=not no_report,
                               on_progress=on_progress)
    table = Table(title="Unknown input (best detector: mean AUROC over the sets)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("model", "best detector", "mean AUROC"):
        table.add_column(col, justify="right" if col == "mean AUROC" else "left", no_wrap=True)
    for name, rec in records.items():
        if rec is None:
            table.add_row(name, "- (no detector applies)", "-")
        else:
            table.add_row(name, rec["best_detector"], f"{rec['mean_auroc'][rec['best_detector']]:.3f}")
    console.print(table)
    console.print(f"results: {run_dir / 'unknowns.csv'}; predict --unknown DETECTOR now uses the saved rejectors",
                  highlight=False)
    if not no_report and (run_dir / "report.html").exists():
        console.print(f"report: {run_dir / 'report.html'}", highlight=False)
