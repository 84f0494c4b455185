"""What a finished run prints: the results table, McNemar pairs, abstention, across-runs verdicts, next steps."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.table import Table

from ..runs import RunRecord, RunSpec
from ._common import console


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
    from ..evaluation import same_right_pairs  # scipy: load late

    names = list(mc["models"])
    where = {n: k for k, n in enumerate(names)}
    ranked = [n for n in order if n in where] + [n for n in names if n not in order]
    holm = mc.get("p_value_holm")
    same = set(same_right_pairs(mc))
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
                     "same images right" if {(a, b), (b, a)} & same else "differ" if decisive < 0.05 else "alike"]
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
    unknown = [f"{name} {r.unknowns['best_detector']} {r.unknowns['mean_auroc'][r.unknowns['best_detector']]:.3f}"
               for name, r in record.models.items() if r.unknowns]
    if unknown:
        console.print(f"unknown input, best detector and its mean AUROC: {', '.join(unknown)} (unknowns.csv)",
                      highlight=False, markup=False, soft_wrap=True)
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
                  f"{shlex.quote(str(run_dir / saved[best]))}"
                  + (f" --unknown {record.models[best].unknowns['best_detector']}"
                     if (record.models[best].unknowns or {}).get("rejectors") else ""),
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
    """Where a tracked run went, and the command that shows it (no request: a server gone by now cost a warning)."""
    if spec.track:
        from ..tracking import resolve_tracking

        target = resolve_tracking(spec.tracking_uri, spec.experiment)
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
    if run.comparisons.empty:
        return  # one model: nothing to pair
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
