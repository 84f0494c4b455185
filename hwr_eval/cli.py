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
