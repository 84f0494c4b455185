"""``hwr-eval compare | grid | cv | report``: thin layers over :mod:`hwr_eval.workflows`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from ..errors import HwrError
from ._common import ClassesOpt, DataOpt, PerClassOpt, SplitOpt, app, command_line, console, err_console, user_errors
from ._options import (
    DeviceOpt,
    EpochsOpt,
    NoReportOpt,
    OutOpt,
    QuietOpt,
    RunSeedOpt,
    SaveOpt,
    SchedulerOpt,
    SetOpt,
    _check_n_jobs,
    _check_scheduler,
    _check_scoring,
    _load_data,
    _split_models,
    parse_grid,
    parse_sets,
)


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


def _class_names(classes: str) -> list[str]:
    """The labels of a ``--classes`` set, to check ``--context`` before loading data."""
    digits = [str(d) for d in range(10)]
    upper = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    return {"digits": digits, "letters": upper, "62": digits + upper + [c.lower() for c in upper]}.get(
        classes, digits + upper)


def _abstention_line(results: dict) -> str | None:
    """One line per model: coverage and risk on test at the threshold chosen on validation."""
    parts = []
    for name, rec in results["models"].items():
        sel = rec.get("selective") or {}
        test = sel.get("test")
        if not sel.get("available") or not test:
            continue
        risk = "-" if test["risk"] is None else f"{100 * test['risk']:.2f}% (<= {100 * test['risk_upper']:.2f}%)"
        parts.append(f"{name} answers {100 * test['coverage']:.1f}% at risk {risk}")
    if not parts:
        return None
    target = results.get("settings", {}).get("target_risk")
    head = f"Abstention (target risk {100 * target:g}%, threshold from validation): " if target else "Abstention: "
    return head + "; ".join(parts)


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
            + (f" (Holm {mc['p_value_holm'][i][j]:.3g})" if "p_value_holm" in mc else "")
            for i in range(len(names))
            for j in range(i + 1, len(names))
        ]
        console.print("McNemar's test: " + "; ".join(pairs), highlight=False)
    abstention = _abstention_line(results)
    if abstention:
        console.print(abstention, highlight=False)
    console.print(f"run folder: {run_dir}", highlight=False)
    if (run_dir / "report.html").exists():
        console.print(f"report: {run_dir / 'report.html'}", highlight=False)
    return results


def _print_predict_hint(results: dict, run_dir: Path) -> None:
    """With saved models: the exact `hwr-eval predict` command for the most accurate one."""
    import shlex

    saved = {name: rec for name, rec in results["models"].items() if (rec.get("files") or {}).get("model")}
    if not saved:
        return
    best = max(saved, key=lambda name: saved[name]["metrics"]["accuracy"])
    command = shlex.join(["hwr-eval", "predict", "--model", str(run_dir / saved[best]["files"]["model"])])
    console.print(f"read your own images with the best model ({best}): {command} IMAGE...", highlight=False,
                  markup=False, soft_wrap=True)


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
    scheduler: SchedulerOpt = None,
    target_risk: Annotated[float, typer.Option(
        "--target-risk", help="Abstention target: largest error rate among answered test images, in (0, 1); "
                              "each model's threshold is chosen on the validation split.")] = 0.01,
    context: Annotated[str | None, typer.Option(
        "--context", help="Also score predictions restricted to these classes: digits, letters, or a "
                          "comma-separated list such as O,0,Q.")] = None,
    robustness: Annotated[
        bool, typer.Option("--robustness", help="Also score every model under corruptions and rotations.")
    ] = False,
) -> None:
    """Train several models on one split and compare them on the untouched test split."""
    from ..evaluation._context import resolve_context
    from ..evaluation._selective import check_target_risk
    from ..workflows import CompareInterrupted, build_models, run_compare
    from ._robustness import print_robustness, robustness_progress

    _check_scheduler(scheduler)
    check_target_risk(target_risk)
    if context is not None:
        resolve_context(context, _class_names(classes))
    names = _split_models(models)
    overrides = parse_sets(set_)
    # Check names and parameters before loading data, so a typo costs nothing.
    build_models(names, overrides=overrides, max_epochs=max_epochs, device=device, seed=seed)
    dataset = _load_data(data, classes, per_class, split, seed)
    try:
        with robustness_progress() if robustness else contextlib.nullcontext() as on_robustness_progress:
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
                scheduler=scheduler,
                target_risk=target_risk,
                context=context,
                robustness=robustness,
                on_robustness_progress=on_robustness_progress,
            )
    except CompareInterrupted as exc:
        err_console.print(
            f"interrupted: kept {len(exc.finished)} finished model(s) in {exc.run_dir} (status incomplete)",
            highlight=False,
        )
        if exc.finished:
            _print_run(exc.run_dir)
        raise typer.Exit(130) from None
    results = _print_run(run_dir)
    if results.get("robustness"):
        print_robustness(results["robustness"])
    _print_predict_hint(results, run_dir)


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
    scheduler: SchedulerOpt = None,
) -> None:
    """Grid-search one model's parameters on the training split; refit the best and score it on test."""
    from ..evaluation import cv_results_table
    from ..workflows import build_models, run_grid

    _check_scoring(scoring)
    _check_scheduler(scheduler)
    _check_n_jobs(n_jobs)
    param_grid = parse_grid(param)
    overrides = parse_sets(set_, default_model=model)
    extra = set(overrides) - {model}
    if extra:
        raise HwrError(f"--set names model {sorted(extra)[0]!r}, but the grid searches {model!r}")
    from ..models import resolve_params

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
        scheduler=scheduler,
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
    scheduler: SchedulerOpt = None,
) -> None:
    """Stratified k-fold cross-validation (training + validation splits; the test split stays unused)."""
    from ..io import atomic_path
    from ..workflows import CV_SCORING, build_models, run_cv

    _check_n_jobs(n_jobs)
    _check_scheduler(scheduler)
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
        scheduler=scheduler,
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
    from ..report import build_report  # matplotlib loads only for commands that draw

    with console.status("building the report"):
        path = build_report(run_dir, out=out)
    console.print(f"report written to {path}", highlight=False)
