"""The modern reference network (``modern_cnn``) against its targets, and what each ingredient is worth.

Rows (each one ``run_compare`` run folder with its HTML report under ``--runs``):

* ``reference``: ``modern_cnn`` on the reference protocol (36 classes, at most 2,000 per class, random
  62/28/10 split, seed 0); targets >= 98.5% test accuracy and a fit of <= 2 minutes on 2 cores;
* ``mnist``: ``modern_cnn`` on MNIST digits alone, MNIST's own writer split; target >= 99.5%;
* ``ablation``: the study's CNN on the reference protocol with one change per row (+ BatchNorm,
  + AdamW/one-cycle, + label smoothing, + depth), so a user sees what each ingredient is worth.

The numbers go to ``modern.json`` and a Markdown table ``modern.md`` in ``--out``.

    python bench/modern.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

import hwr_eval
from hwr_eval.io import atomic_write_text
from hwr_eval.runs import environment, read_record
from hwr_eval.workflows import run_compare

HERE = Path(__file__).resolve().parent
MODEL = "modern_cnn"
TARGETS = {"reference": 0.985, "mnist": 0.995}
FIT_TIME_TARGET_S = 120.0
DATA = {
    "reference": dict(classes="36", per_class=2000, split="random"),
    "mnist": dict(classes="digits", per_class=None, split="writer"),
}
LABELS = {
    "reference": "reference (36 classes, random split)",
    "mnist": "digits only (MNIST writers: 60k train+validation / 10k test)",
}
# One change to the study's CNN per row (the study's recipe otherwise: Adam 1e-3, batch 512, up to 50
# epochs, early stopping with patience 5). "+ depth" is modern_cnn's five-convolution, global-average-pooling
# body without BatchNorm, trained with the study's recipe.
_STUDY_RECIPE = dict(optimizer="adam", lr=1e-3, weight_decay=0.0, lr_schedule="constant", label_smoothing=0.0,
                     batch_size=512, max_epochs=50)
# run name (a file name in the run folder): (what changed, registry model, parameters)
ABLATION = {
    "cnn": ("the study's CNN", "cnn", {}),
    "cnn_batchnorm": ("+ BatchNorm after each convolution", "cnn", dict(batchnorm=True)),
    "cnn_adamw_onecycle": ("+ AdamW (lr 3e-3, weight decay 5e-4) with one-cycle over the 50 epochs", "cnn",
                           dict(optimizer="adamw", lr=3e-3, weight_decay=5e-4, lr_schedule="onecycle")),
    "cnn_label_smoothing": ("+ label smoothing 0.1", "cnn", dict(label_smoothing=0.1)),
    "cnn_depth": ("+ depth: modern_cnn's 5 convolutions and global average pooling, no BatchNorm", MODEL,
                  dict(_STUDY_RECIPE, batchnorm=False)),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA)")
    parser.add_argument("--rows", default="reference,mnist,ablation", help="which rows to run")
    parser.add_argument("--update", action="store_true",
                        help="keep the rows not re-run from OUT/modern.json")
    parser.add_argument("--per-class", type=int, default=None, help="override the cap (smoke tests)")
    parser.add_argument("--max-epochs", type=int, default=None, help="override every model's epochs (smoke tests)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the targets are for 2 cores)")
    parser.add_argument("--verbose", type=int, default=0, help="1 prints one line per epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--runs", type=Path, default=None, help="run folders (default: OUT/runs-<time>)")
    return parser.parse_args(argv)


def _dataset(name: str, args):
    spec = dict(DATA[name])
    if args.per_class is not None:
        spec["per_class"] = args.per_class
    dataset = hwr_eval.load_dataset(args.data, seed=args.seed, **spec)
    print(f"[{name}] {dataset.describe()}: {len(dataset.y_train)} train / {len(dataset.y_val)} validation / "
          f"{len(dataset.y_test)} test", flush=True)
    return dataset


def run_row(row: str, setting: str, models: dict, dataset, args, runs: Path) -> list[dict]:
    """Train ``models`` ({label: estimator}) in one run folder; one result row per model."""
    load_before = os.getloadavg()[0]
    run_dir = run_compare(
        models, dataset, runs / row, max_epochs=args.max_epochs, seed=args.seed, verbose=args.verbose,
        on_model_end=lambda m, rec: print(f"[{row}] {m}: accuracy {rec['metrics']['accuracy']:.4f} "
                                          f"(fit {rec['fit_time_s']:.1f} s)", flush=True),
    )
    results = read_record(run_dir).to_json()
    counts = results["data"]["counts"]
    n = {split: sum(c.values()) for split, c in counts.items()}
    rows = []
    for label, rec in results["models"].items():
        history = rec.get("history") or []
        best = min(history, key=lambda h: h["valid_loss"]) if history and history[0]["valid_loss"] is not None else None
        rows.append({
            "row": row,
            "setting": setting,
            "model": label,
            "change": ABLATION[label][0] if row == "ablation" else None,
            "accuracy": rec["metrics"]["accuracy"],
            "accuracy_ci95": rec["metrics"]["accuracy_ci95"],
            "f1_macro": rec["metrics"]["f1_macro"],
            "fit_time_s": rec["fit_time_s"],
            "epochs": len(history) or None,
            "best_epoch": best["epoch"] if best else None,
            "n_train": n["train"],
            "n_test": n["test"],
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "run": str(run_dir),
        })
    return rows


def _ci(r: dict) -> str:
    return f"{r['accuracy']:.2%} ({r['accuracy_ci95'][0]:.1%}-{r['accuracy_ci95'][1]:.1%})"


def markdown(rows: list[dict], shared: bool) -> str:
    lines = ["| setting | model | test accuracy (95% CI) | target | met | macro F1 | epochs (best) | fit time |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["row"] == "ablation":
            continue
        target = TARGETS[r["row"]]
        fit_target = f", <= {FIT_TIME_TARGET_S:.0f} s" if r["row"] == "reference" else ""
        met = "yes" if r["accuracy"] >= target else "no"
        if r["row"] == "reference":
            timing = "not measured (shared machine)" if shared else (
                "yes" if r["fit_time_s"] <= FIT_TIME_TARGET_S else "no")
            met = f"accuracy {met}; time {timing}"
        lines.append(f"| {r['setting']} | {r['model']} | {_ci(r)} | >= {target:.1%}{fit_target} | {met} | "
                     f"{r['f1_macro']:.3f} | {r['epochs']} ({r['best_epoch']}) | {r['fit_time_s']:.0f} s |")
    ablation = [r for r in rows if r["row"] == "ablation"]
    if ablation:
        lines += ["", "Ablation on the reference protocol: the study's CNN, one change per row.", "",
                  "| change | test accuracy (95% CI) | vs study's CNN | macro F1 | epochs (best) | fit time |",
                  "|---|---|---|---|---|---|"]
        base = next((r["accuracy"] for r in ablation if r["model"] == "cnn"), None)
        reference = [r for r in rows if r["row"] == "reference"]
        for r in ablation + [dict(r, change=f"all of them (+ batch 128, dropout 0.3): {MODEL}") for r in reference]:
            delta = f"{(r['accuracy'] - base) * 100:+.2f} points" if base is not None else ""
            lines.append(f"| {r['change']} | {_ci(r)} | {delta} | {r['f1_macro']:.3f} | {r['epochs']} "
                         f"({r['best_epoch']}) | {r['fit_time_s']:.0f} s |")
    if shared:
        lines += ["", "Fit times were measured while other jobs shared the machine's 2 cores (1-minute load "
                  "averages are in modern.json); rerun on a quiet machine for the timing target."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = set(wanted) - {"reference", "mnist", "ablation"}
    if unknown:
        raise SystemExit(f"unknown rows: {', '.join(sorted(unknown))}")
    runs = args.runs or args.out / f"runs-{time.strftime('%Y%m%d-%H%M%S')}"
    started = time.perf_counter()
    rows: list[dict] = []
    reference = None
    for row in ("reference", "mnist", "ablation"):
        if row not in wanted:
            continue
        if row == "mnist":
            dataset = _dataset("mnist", args)
        else:
            reference = reference or _dataset("reference", args)
            dataset = reference
        if row == "ablation":
            models = {run: hwr_eval.make_model(name, **params) for run, (_, name, params) in ABLATION.items()}
        else:
            models = {MODEL: hwr_eval.make_model(MODEL)}
        rows += run_row(row, LABELS["mnist" if row == "mnist" else "reference"], models, dataset, args, runs)
    previous = args.out / "modern.json"
    if args.update and previous.exists():
        rows = [r for r in json.loads(previous.read_text())["rows"] if r["row"] not in wanted] + rows
        rows.sort(key=lambda r: ("reference", "mnist", "ablation").index(r["row"]))
    shared = any(max(r["load_average_1min"]) > args.threads + 0.5 for r in rows)
    payload = {
        "benchmark": "modern",
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": environment(),
        "python": platform.python_version(),
        "torch_threads": args.threads,
        "machine_shared": shared,
        "wall_time_s": round(time.perf_counter() - started, 1),
        "runs": str(runs),
        "targets": {**TARGETS, "reference_fit_time_s": FIT_TIME_TARGET_S},
        "rows": rows,
    }
    atomic_write_text(args.out / "modern.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "modern.md", markdown(rows, shared))
    print(markdown(rows, shared))
    print(f"wrote {args.out / 'modern.json'} and modern.md in {payload['wall_time_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
