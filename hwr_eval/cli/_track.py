"""``hwr-eval track RUN_DIR``: log a finished run folder to MLflow (runs made earlier, or on another machine)."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer
from rich.markup import escape

from ._common import app, console, err_console, user_errors
from ._options import ExperimentOpt, TrackingUriOpt


@app.command("track")
@user_errors
def track_command(
    run_dir: Path = typer.Argument(..., help="Run folder of 'hwr-eval compare' or 'hwr-eval grid'."),
    tracking_uri: TrackingUriOpt = None,
    experiment: ExperimentOpt = None,
) -> None:
    """Log a run folder to MLflow: settings, data provenance, metrics, training curves, models."""
    from ..tracking import TrackingWarning, check_tracking, read_run, track_run

    read_run(run_dir)  # a folder that cannot be tracked fails before the server is asked anything
    target = check_tracking(tracking_uri, experiment)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrackingWarning)
        run_id = track_run(run_dir, target.uri, experiment=target.experiment)
    if run_id is None:
        problem = next((str(w.message) for w in caught if issubclass(w.category, TrackingWarning)), "tracking failed")
        err_console.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"tracked {run_dir} as MLflow run {run_id} in experiment {target.experiment!r} at {target.uri} "
                  f"(URI from: {target.source})", highlight=False,
                  markup=False, soft_wrap=True)
    console.print(f"view: {target.ui}", highlight=False, markup=False, soft_wrap=True)
