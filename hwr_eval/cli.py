"""The ``hwr-eval`` command line: every command is a thin layer over the public Python API."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console

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
    """Turn user-facing errors into one line on stderr and exit status 2 (130 after Ctrl-C)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except HwrError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", highlight=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def main() -> None:
    """Console-script entry point."""
    app()


# --------------------------------------------------------------------------------------------------
# hwr-eval report
# --------------------------------------------------------------------------------------------------
from pathlib import Path  # noqa: E402


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

# ======================================================================================================
# data: `hwr-eval data info | show | fetch`, and the data options shared with other commands
# ======================================================================================================

from pathlib import Path  # noqa: E402
from typing import Annotated, Optional  # noqa: E402

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
    from rich.table import Table

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
