"""What every command shares: the Typer apps, one-line user errors, the recorded command line, data options."""

from __future__ import annotations

import functools
import shlex
import signal
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape as rich_escape

from ..errors import HwrError, SyntheticDataWarning
from ..workflows._interrupt import Terminated

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
def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        console.print(f"hwr-eval {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                                callback=_print_version)] = False) -> None:
    """Train, compare and report on classifiers for handwritten digits and letters."""


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
            with warnings.catch_warnings():
                # The synthetic-data banner is printed by the command itself; other warnings become one line.
                warnings.simplefilter("ignore", SyntheticDataWarning)
                warnings.showwarning = _show_warning
                return func(*args, **kwargs)
        except Terminated:
            err_console.print("terminated (SIGTERM); finished work was kept", highlight=False)
            raise typer.Exit(143) from None
        except HwrError as exc:
            err_console.print(f"[bold red]error:[/] {rich_escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
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


def _terminate(signum, frame) -> None:
    raise Terminated


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err_console.print(f"[yellow]warning:[/] {rich_escape(str(message))}", highlight=False, soft_wrap=True)


def main() -> None:
    """Console-script entry point: SIGTERM (a job scheduler's stop) ends a run like Ctrl-C does."""
    signal.signal(signal.SIGTERM, _terminate)
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
    Path | None,
    typer.Option("--data", help="Data folder (MNIST IDX, Kaggle CSV, EMNIST, FEMNIST npz). "
                 "Default: $HWR_DATA, then the fetch cache, then a synthetic demo set.",
                 file_okay=False, show_default=False),
]
ClassesOpt = Annotated[str, typer.Option(
    "--classes", help="Class set: 36, digits, letters or 62 (letters are uppercase-only unless no such source "
    "is present); 36-merged or letters-merged for EMNIST letters' case-merged classes.")]
PerClassOpt = Annotated[
    int | None, typer.Option("--per-class", help="At most this many images per class (0 = all).", min=0)
]
SplitOpt = Annotated[str, typer.Option("--split", help="random (stratified 62/28/10) or writer (no shared writers).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the sampling and the split.")]


def load_data_for_cli(data: Path | None, classes: str = "36", per_class: int | None = 2000,
                      split: str = "random", seed: int = 0):
    """Load the data for a command and say which data it is (loudly when synthetic).

    ``per_class=0`` means all images. Returns the :class:`~hwr_eval.data.Dataset`.
    """
    from ..data import load_dataset

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
        err_console.print(f"data: {dataset.describe()}", highlight=False, markup=False, soft_wrap=True)
    mixed = dataset.provenance.get("mixed_case_letters")
    if mixed and not mixed.get("explicit"):
        note = next((n for n in dataset.provenance.get("notes", []) if n.startswith("MIXED-CASE")), "MIXED-CASE letters")
        err_console.print(f"[bold red]WARNING:[/] {rich_escape(note)}", highlight=False, soft_wrap=True)
    elif mixed:
        err_console.print(f"note: letters are {mixed['source']}'s case-merged classes ('A' = A or a), as asked",
                          highlight=False, markup=False, soft_wrap=True)
