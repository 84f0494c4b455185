"""``hwr-eval compare | grid | cv | report``: thin layers over :mod:`hwr_eval.workflows`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import HwrError
from ..io import atomic_path
from ..runs import RunSpec
from ..workflows import RunEvents
from ._common import (
    ClassesOpt,
    DataOpt,
    PerClassOpt,
    SplitOpt,
    Terminated,
    announce_data,
    app,
    command_line,
    console,
    err_console,
    user_errors,
)
from ._options import (
    ConfigOpt,
    ContextOpt,
    DataSeedOpt,
    DeviceOpt,
    EpochsOpt,
    ExperimentOpt,
    ModelSeedOpt,
    NJobsOpt,
    NoReportOpt,
    OutOpt,
    QuietOpt,
    RobustnessOpt,
    RopeOpt,
    RunSeedOpt,
    SaveOpt,
    SchedulerOpt,
    SeedsOpt,
    SetOpt,
    TargetRiskOpt,
    TrackingUriOpt,
    TrackOpt,
    UnknownDetectorsOpt,
    UnknownDirOpt,
    UnknownOpt,
    VaryOpt,
    _check_n_jobs,
    _check_scheduler,
    _check_scoring,
    _split_models,
    parse_grid,
    spec_from_options,
)
from ._summary import _print_comparisons, _print_next_steps, _print_run, _print_tracking


class CliEvents(RunEvents):
    """Prints a run as it goes: the data, each model's start and end, the robustness suite's progress bar."""

    def __init__(self, progress=None):
        self.progress = progress
        self._training = None  # a spinner with the time elapsed while a model trains (terminals only)

    def on_data(self, dataset) -> None:
        announce_data(dataset)
        console.print(f"data: {len(dataset.classes)} classes, {len(dataset.y_train)} train / {len(dataset.y_val)} "
                      f"validation / {len(dataset.y_test)} test images", highlight=False)

    def on_model_start(self, name: str, index: int, total: int) -> None:
        console.print(f"[bold][{index + 1}/{total}] {name}[/]: training ...", highlight=False)
        if console.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._training = Progress(SpinnerColumn(), TextColumn(f"training {name}"), TimeElapsedColumn(),
                                      console=console, transient=True)
            self._training.add_task(name, total=None)
            self._training.start()

    def close(self) -> None:
        """Stop the spinner (also when a run ends early)."""
        if self._training is not None:
            self._training.stop()
            self._training = None

    def on_model_end(self, name: str, result) -> None:
        self.close()
        console.print(f"      {name}: test accuracy {result.accuracy:.4f}, fit {result.fit_time_s:.1f} s, "
                      f"predict {result.predict_time_s:.2f} s", highlight=False)

    def on_progress(self, done: int, total: int, label: str) -> None:
        if self.progress is not None:
            self.progress(done, total, label)


def _spec(ctx: typer.Context, models: str | None, config, set_, default_model=None, **values) -> RunSpec:
    names = _split_models(models) if models is not None else None
    spec = spec_from_options(ctx, models=names, config=config, set_=set_, default_model=default_model, **values)
    if spec.scheduler is not None:
        _check_scheduler(spec.scheduler)
    return spec


@app.command()
@user_errors
def compare(
    ctx: typer.Context,
    models: Annotated[str | None, typer.Option("--models", help="Comma-separated model names (default knn,logreg,cnn).")] = None,
    config: ConfigOpt = None,
    data: DataOpt = None,
    classes: ClassesOpt = "36",
    per_class: PerClassOpt = 2000,
    split: SplitOpt = "random",
    max_epochs: EpochsOpt = None,
    device: DeviceOpt = None,
    seed: RunSeedOpt = None,
    data_seed: DataSeedOpt = None,
    model_seed: ModelSeedOpt = None,
    out: OutOpt = None,
    save_models: SaveOpt = None,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
    no_report: NoReportOpt = False,
    scheduler: SchedulerOpt = None,
    target_risk: TargetRiskOpt = None,
    context: ContextOpt = None,
    robustness: RobustnessOpt = None,
    unknown: UnknownOpt = None,
    unknown_dir: UnknownDirOpt = None,
    unknown_detectors: UnknownDetectorsOpt = None,
    seeds: SeedsOpt = None,
    vary: VaryOpt = None,
    rope: RopeOpt = None,
    n_jobs: NJobsOpt = None,
    track: TrackOpt = None,
    tracking_uri: TrackingUriOpt = None,
    experiment: ExperimentOpt = None,
) -> None:
    """Train several models on one split and compare them on the untouched test split."""
    from ..workflows import CompareInterrupted, run_compare
    from ._robustness import print_mnist_c, print_robustness, robustness_progress

    spec = _spec(ctx, models, config, set_, data=data, classes=classes, per_class=per_class, split=split,
                 max_epochs=max_epochs, device=device, seed=seed, data_seed=data_seed, model_seed=model_seed, out=out,
                 save_models=save_models, quiet=quiet, no_report=no_report, scheduler=scheduler,
                 target_risk=target_risk, context=context, robustness=robustness, seeds=seeds, vary=vary, rope=rope,
                 n_jobs=n_jobs, track=track, tracking_uri=tracking_uri, experiment=experiment, unknown=unknown,
                 unknown_dir=unknown_dir, unknown_detectors=unknown_detectors)
    try:
        with robustness_progress() if spec.robustness or spec.seeds > 1 else contextlib.nullcontext() as on_progress:
            events = CliEvents(on_progress)
            try:
                run_dir = run_compare(spec, events=events, command=command_line(ctx))
            finally:
                events.close()
    except CompareInterrupted as exc:
        terminated = isinstance(exc.__context__, Terminated)  # SIGTERM rather than Ctrl-C
        err_console.print(
            f"{'terminated (SIGTERM)' if terminated else 'interrupted'}: kept {len(exc.finished)} finished model(s) "
            f"in {exc.run_dir} (status incomplete)",
            highlight=False,
        )
        if exc.finished:
            _print_run(exc.run_dir)
        raise typer.Exit(143 if terminated else 130) from None
    record = _print_run(run_dir)
    if record.mnist_c:
        print_mnist_c(record.mnist_c)
    if record.robustness:
        print_robustness(record.robustness)
    if record.seeds:
        _print_comparisons(run_dir)
    _print_tracking(spec)
    _print_next_steps(record, run_dir)


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
    config: ConfigOpt = None,
    data: DataOpt = None,
    classes: ClassesOpt = "36",
    per_class: PerClassOpt = 2000,
    split: SplitOpt = "random",
    max_epochs: EpochsOpt = None,
    device: DeviceOpt = None,
    seed: RunSeedOpt = None,
    data_seed: DataSeedOpt = None,
    model_seed: ModelSeedOpt = None,
    out: OutOpt = None,
    save_models: SaveOpt = None,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
    no_report: NoReportOpt = False,
    scheduler: SchedulerOpt = None,
    target_risk: TargetRiskOpt = None,
    context: ContextOpt = None,
    robustness: RobustnessOpt = None,
    track: TrackOpt = None,
    tracking_uri: TrackingUriOpt = None,
    experiment: ExperimentOpt = None,
) -> None:
    """Grid-search one model's parameters on the training split; refit the best and score it on test."""
    from ..runs import read_cv_results
    from ..workflows import run_grid
    from ._robustness import print_robustness, robustness_progress

    _check_scoring(scoring)
    _check_n_jobs(n_jobs)
    param_grid = parse_grid(param)
    spec = _spec(ctx, model, config, set_, default_model=model, data=data, classes=classes, per_class=per_class,
                 split=split, max_epochs=max_epochs, device=device, seed=seed, data_seed=data_seed,
                 model_seed=model_seed, out=out, save_models=save_models, quiet=True, no_report=no_report,
                 scheduler=scheduler, target_risk=target_risk, context=context, robustness=robustness, track=track,
                 tracking_uri=tracking_uri, experiment=experiment)
    n_candidates = 1
    for values in param_grid.values():
        n_candidates *= len(values)
    console.print(f"[bold]grid[/]: {model}, {n_candidates} candidates x {cv} folds", highlight=False)
    with robustness_progress() if spec.robustness else contextlib.nullcontext() as on_progress:
        run_dir = run_grid(spec, param_grid, cv=cv, n_jobs=n_jobs, scoring=scoring, search_verbose=0 if quiet else 2,
                           events=CliEvents(on_progress), command=command_line(ctx))
    ranked = read_cv_results(run_dir)
    table = Table(title=f"GridSearchCV ({scoring}, {cv} folds), best first", title_justify="left")
    for col in ranked.columns:
        table.add_column(str(col), justify="right")
    for row in ranked.itertuples(index=False):
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    record = _print_run(run_dir)
    console.print(f"best parameters: {record.grid['best_params']}", highlight=False)
    if record.robustness:
        print_robustness(record.robustness)
    _print_tracking(spec)


@app.command("cv")
@user_errors
def cross_validation(
    ctx: typer.Context,
    models: Annotated[str | None, typer.Option("--models", help="Comma-separated model names (default logreg,knn).")] = None,
    folds: Annotated[int, typer.Option("--folds", help="Stratified folds.")] = 5,
    repeats: Annotated[int, typer.Option("--repeats", help="Repeat the k-fold split R times (other shuffles) and judge "
                                         "each pair of models across all folds (Nadeau-Bengio corrected).")] = 1,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Parallel folds (-1: all cores).")] = None,
    config: ConfigOpt = None,
    data: DataOpt = None,
    classes: ClassesOpt = "36",
    per_class: PerClassOpt = 2000,
    split: SplitOpt = "random",
    max_epochs: EpochsOpt = None,
    device: DeviceOpt = None,
    seed: RunSeedOpt = None,
    data_seed: DataSeedOpt = None,
    model_seed: ModelSeedOpt = None,
    set_: SetOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Save the table as CSV here (default: reports/cv-<time>.csv).",
                                             dir_okay=False)] = None,
    scheduler: SchedulerOpt = None,
    track: TrackOpt = None,
    tracking_uri: TrackingUriOpt = None,
    experiment: ExperimentOpt = None,
) -> None:
    """Stratified k-fold cross-validation (training + validation splits; the test split stays unused)."""
    from ..runs import check_output, new_run_dir
    from ..workflows import CV_SCORING, run_cv

    _check_n_jobs(n_jobs)
    out = out if out is not None else new_run_dir("cv").with_suffix(".csv")
    if models is None and config is None:
        models = "logreg,knn"
    spec = _spec(ctx, models, config, set_, data=data, classes=classes, per_class=per_class, split=split,
                 max_epochs=max_epochs, device=device, seed=seed, data_seed=data_seed, model_seed=model_seed,
                 quiet=True, scheduler=scheduler, track=track, tracking_uri=tracking_uri, experiment=experiment)
    check_output(out)  # before any training; the data files are checked once they are known
    if spec.track:
        from ..tracking import check_tracking

        check_tracking(spec.tracking_uri, spec.experiment)  # before the data load too, as compare and grid do
    dataset = spec.data.load()
    check_output(out, inputs=[s.get("path") for s in dataset.provenance.get("sources", []) if isinstance(s, dict)])
    frame = run_cv(spec, dataset, folds=folds, repeats=repeats, n_jobs=n_jobs, events=_CvEvents(folds),
                   command=command_line(ctx))
    times = f" x {repeats} repeats" if repeats > 1 else ""
    table = Table(title=f"{folds}-fold stratified cross-validation{times} (mean ± std)", title_justify="left")
    table.add_column("model")
    for metric in (*CV_SCORING, "fit_time"):
        table.add_column(metric + (" s" if metric == "fit_time" else ""), justify="right")
    for name, row in frame.iterrows():
        cells = [f"{row[f'{m}_mean']:.4f} ± {row[f'{m}_std']:.4f}" for m in CV_SCORING]
        cells.append(f"{row['fit_time_mean']:.1f} ± {row['fit_time_std']:.1f}")
        table.add_row(str(name), *cells)
    console.print(table)
    comparisons = frame.attrs.get("comparisons")
    for row in comparisons.itertuples(index=False) if comparisons is not None else ():
        console.print(f"{row.model_a} vs {row.model_b}: {100 * row.mean_diff:+.2f} points, P(A better) {row.p_a_better:.2f}, "
                      f"corrected t-test p={row.p_value:.3g}: {row.verdict}", highlight=False, markup=False, soft_wrap=True)
    try:
        with atomic_path(out) as tmp:
            frame.to_csv(tmp)
    except OSError as exc:
        raise HwrError(f"cannot write {out}: {exc.strerror or exc}") from None
    console.print(f"saved: {out}", highlight=False)
    _print_tracking(spec)


class _CvEvents(CliEvents):
    def __init__(self, folds: int):
        super().__init__()
        self.folds = folds

    def on_model_start(self, name: str, index: int, total: int) -> None:
        console.print(f"[bold][{index + 1}/{total}] {name}[/]: {self.folds}-fold cross-validation ...", highlight=False)


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
    from ..report import build_report  # matplotlib loads only for commands that draw

    with console.status("building the report"):
        path = build_report(run_dir, out=out)
    console.print(f"report written to {path}", highlight=False)
