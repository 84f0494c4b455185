"""``hwr-eval compare | grid | cv | report``: thin layers over :mod:`hwr_eval.workflows`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from ..errors import HwrError
from ..io import atomic_path
from ..runs import RunRecord, RunSpec
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
    VaryOpt,
    _check_n_jobs,
    _check_scheduler,
    _check_scoring,
    _split_models,
    parse_grid,
    spec_from_options,
)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _results_table(record: RunRecord, title: str) -> Table:
    """Scores per model, narrow enough for an 80-column terminal (a k-NN's stored images are no parameters)."""
    from ..report import learned_parameters_text, stored_images, stores_training_set  # matplotlib: load late

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("model", "acc", "95% CI", "bal acc", "F1", "fit s", "pred s", "learned"):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=col != "model",
                         overflow="fold")
    kept = []
    for name, result in record.models.items():
        m = result.metrics
        low, high = m["accuracy_ci95"]
        table.add_row(name, _fmt(m["accuracy"]), f"{_fmt(low, 3)}-{_fmt(high, 3)}",
                      _fmt(m["balanced_accuracy"]), _fmt(m["f1_macro"], 3), f"{result.fit_time_s:.1f}",
                      f"{result.predict_time_s:.2f}", learned_parameters_text(result.params, result.n_parameters,
                                                                             short=True))
        if stores_training_set(result.params):
            kept.append((name, stored_images(result.n_parameters)))
    notes = [f"{name} learns no weights: it stores its {f'{n:,} ' if n else ''}training images." for name, n in kept]
    if notes:
        table.caption = " ".join(notes)
        table.caption_justify = "left"
    return table


def _abstention_line(record: RunRecord) -> str | None:
    """Coverage and risk on test at the threshold chosen on validation, one model per line."""
    from ..report import abstention_text

    target = record.settings.get("target_risk")
    lines = [text for name, result in record.models.items()
             if (text := abstention_text(name, result.selective, target))]
    if not lines:
        return None
    head = (f"Abstention (target risk {100 * target:g}%, threshold from validation):" if target
            else "Abstention:")
    return "\n".join([head, *(f"  {line}" for line in lines)])


def _mcnemar_table(mc: dict, order: list[str]) -> Table:
    """McNemar's test, one pair per row, in the results table's model order."""
    names = list(mc["models"])
    where = {n: k for k, n in enumerate(names)}
    ranked = [n for n in order if n in where] + [n for n in names if n not in order]
    holm = mc.get("p_value_holm")
    table = Table(title="McNemar's test (errors differ?)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("pair", no_wrap=False)
    table.add_column("p", justify="right", no_wrap=True)
    if holm is not None:
        table.add_column("Holm p", justify="right", no_wrap=True)
    table.add_column("errors", no_wrap=True)
    for a_pos, a in enumerate(ranked):
        for b in ranked[a_pos + 1:]:
            i, j = where[a], where[b]
            p = mc["p_value"][i][j]
            decisive = holm[i][j] if holm is not None else p
            cells = [f"{a} vs {b}", f"{p:.3g}", *([f"{holm[i][j]:.3g}"] if holm is not None else []),
                     "differ" if decisive < 0.05 else "alike"]
            table.add_row(*cells)
    return table


def _print_run(run_dir: Path) -> RunRecord:
    from ..runs import read_record

    record = read_record(run_dir)
    status = "" if record.complete else f" [{record.status}]"
    console.print(_results_table(record, f"Test split ({sum(record.data['counts']['test'].values())} images){status}"))
    mc = record.mcnemar
    if mc and len(mc["models"]) > 1:
        console.print(_mcnemar_table(mc, list(record.models)), highlight=False)
    abstention = _abstention_line(record)
    if abstention:
        console.print(abstention, highlight=False, markup=False)
    console.print(f"run folder: {run_dir}", highlight=False)
    if (run_dir / "report.html").exists():
        console.print(f"report: {run_dir / 'report.html'}", highlight=False)
    return record


def _print_next_steps(record: RunRecord, run_dir: Path) -> None:
    """What to try next with this run, as exact commands (the ones that need saved models only when saved)."""
    import shlex

    run = shlex.quote(str(run_dir))
    steps = []
    saved = record.saved_models()
    if saved:
        best = max(saved, key=lambda name: record.models[name].accuracy)
        steps += [f"read your own images with the best model ({best}): hwr-eval predict IMAGE --model "
                  f"{shlex.quote(str(run_dir / saved[best]))}",
                  f"draw characters and see every model answer: hwr-eval serve {run}",
                  f"score the models on MNIST-C: hwr-eval robustness {run} --suite mnist-c"]
    else:
        steps.append("keep the models for predict, serve and robustness: rerun with --save-models")
    if not record.seeds:
        steps.append(f"judge the models across training runs: hwr-eval compare --config {run}/spec.toml --seeds 5")
    console.print("next:", highlight=False)
    for step in steps:
        console.print(f"  {step}", highlight=False, markup=False, soft_wrap=True)


def _print_tracking(spec: RunSpec) -> None:
    """Where a tracked run went, and the command that shows it."""
    if spec.track:
        from ..tracking import check_tracking

        target = check_tracking(spec.tracking_uri, spec.experiment)
        console.print(f"tracked in MLflow experiment {target.experiment!r} at {target.uri}; view: {target.ui}",
                      highlight=False, markup=False, soft_wrap=True)


def _print_comparisons(run_dir: Path) -> None:
    """Mean +- sd per model over the training runs, and each pair's verdict."""
    from ..runs import open_run

    run = open_run(run_dir)
    table = Table(title=f"Across {run.record.seeds['n_seeds']} training runs ({run.record.seeds['vary']} varied)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("model", "runs", "mean acc", "sd", "min-max"):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for name, rows in run.seeds.groupby("model", sort=False):
        acc = rows["accuracy"]
        table.add_row(name, str(len(acc)), f"{acc.mean():.4f}", f"{acc.std(ddof=1) if len(acc) > 1 else 0:.4f}",
                      f"{acc.min():.4f}-{acc.max():.4f}")
    console.print(table)
    # One pair per row; the verdict wraps within its own column so the table fits 80 columns.
    pairs = Table(title="Pairs (A vs B)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    pairs.add_column("pair")
    for col in ("A - B", "P(A better)", "P(equiv)"):
        pairs.add_column(col, justify="right", no_wrap=True)
    pairs.add_column("verdict", ratio=1)
    for row in run.comparisons.itertuples(index=False):
        pairs.add_row(f"{row.model_a} vs {row.model_b}", f"{100 * row.mean_diff:+.2f} pts", f"{row.p_a_better:.2f}",
                      f"{row.p_equivalent:.2f}", str(row.verdict))
    console.print(pairs, highlight=False)


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
                 n_jobs=n_jobs, track=track, tracking_uri=tracking_uri, experiment=experiment)
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
    out: Annotated[Path | None, typer.Option("--out", help="Also save the table as CSV here.", dir_okay=False)] = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Stratified k-fold cross-validation (training + validation splits; the test split stays unused)."""
    from ..runs import check_output
    from ..workflows import CV_SCORING, run_cv

    _check_n_jobs(n_jobs)
    if models is None and config is None:
        models = "logreg,knn"
    spec = _spec(ctx, models, config, set_, data=data, classes=classes, per_class=per_class, split=split,
                 max_epochs=max_epochs, device=device, seed=seed, data_seed=data_seed, model_seed=model_seed,
                 quiet=True, scheduler=scheduler)
    if out is not None:
        check_output(out)  # before any training; the data files are checked once they are known
    dataset = spec.data.load()
    if out is not None:
        check_output(out, inputs=[s.get("path") for s in dataset.provenance.get("sources", []) if isinstance(s, dict)])
    frame = run_cv(spec, dataset, folds=folds, repeats=repeats, n_jobs=n_jobs, events=_CvEvents(folds))
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
    if out is not None:
        try:
            with atomic_path(out) as tmp:
                frame.to_csv(tmp)
        except OSError as exc:
            raise HwrError(f"cannot write {out}: {exc.strerror or exc}") from None
        console.print(f"saved: {out}", highlight=False)


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
