"""Test accuracy of every model on the reference protocol, beside the study's published numbers.

Rows: the reference protocol (36 classes, at most 2,000 per class, random 62/28/10 split), the
writer-disjoint split, digits only on MNIST's own 60k/10k split, and the digit models on USPS (an unseen
data set, NIST-style normalised). Each row is one ``run_compare`` run folder (with its HTML report) under
``--runs``; the numbers go to ``accuracy.json`` and a Markdown table ``accuracy.md`` in ``--out``, and the
reference rows' abstention, calibration and context figures to ``reliability.md``.

    python bench/accuracy.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.metrics import accuracy_score

import hwr_eval
from hwr_eval.data import load_usps
from hwr_eval.io import atomic_write_text
from hwr_eval.runs import environment, read_record
from hwr_eval.workflows import run_compare

HERE = Path(__file__).resolve().parent
ALL_MODELS = ["logreg", "knn", "linear", "mlp", "lenet5", "cnn", "cascade", "modern_cnn"]
DIGIT_MODELS = ["logreg", "knn", "mlp", "cnn", "modern_cnn"]
# The study's test accuracies (36 classes, Kaggle A-Z letters); logreg and kNN are ours only.
STUDY = {"linear": 0.77, "mlp": 0.93, "lenet5": 0.93, "cnn": 0.96, "cascade": 0.97}
TARGETS = {"cnn": 0.980, "cascade": 0.983, "logreg": 0.80, "knn": 0.85, "modern_cnn": 0.985}
ROWS = {
    "reference": dict(classes="36", per_class=2000, split="random"),
    "writer": dict(classes="36", per_class=2000, split="writer"),
    "mnist": dict(classes="digits", per_class=None, split="writer"),
    # Same protocol, 150 epochs instead of 50: shows how far the 50-epoch limit holds the networks back.
    "long": dict(classes="36", per_class=2000, split="random"),
    # Same protocol with moment-based deskewing before the scaling (PixelScaler(deskew=True)).
    "deskew": dict(classes="36", per_class=2000, split="random"),
}
LABELS = {
    "reference": "reference (36 classes, random split)",
    "writer": "writer-disjoint (36 classes)",
    "mnist": "digits only (MNIST writers: 60k train+validation / 10k test)",
    "long": "reference, up to 150 epochs",
    "deskew": "reference, deskewed pixels",
}
LONG_EPOCHS = 150


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA)")
    parser.add_argument("--rows", default="reference,writer,mnist,usps,long,deskew", help="which rows to run")
    parser.add_argument("--long-models", default="mlp,cnn", help="models of the 150-epoch row")
    parser.add_argument("--deskew-models", default="knn,logreg", help="models of the deskewed row")
    parser.add_argument("--update", action="store_true",
                        help="keep the rows (setting and model) of OUT/accuracy.json that this run does not "
                             "produce (re-run some rows or models)")
    parser.add_argument("--models", default=",".join(ALL_MODELS), help="models of the 36-class rows")
    parser.add_argument("--digit-models", default=",".join(DIGIT_MODELS), help="models of the digit rows")
    parser.add_argument("--per-class", type=int, default=None, help="override the cap (smoke tests)")
    parser.add_argument("--max-epochs", type=int, default=None, help="override the models' 50 epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--runs", type=Path, default=None, help="run folders (default: OUT/runs-<time>)")
    parser.add_argument("--note", default=None, help="free text recorded in accuracy.json (e.g. a shared machine)")
    parser.add_argument("--from-runs", type=Path, default=None,
                        help="read the rows from the run folders already in this folder (one per row, e.g. "
                             "FROM/reference) instead of training; models an interrupted run did not finish "
                             "keep their rows from OUT/accuracy.json with --update")
    return parser.parse_args(argv)


def run_row(name: str, models: list[str], args, runs: Path) -> tuple[dict, Path]:
    spec = dict(ROWS[name])
    if args.per_class is not None:
        spec["per_class"] = args.per_class
    dataset = hwr_eval.load_dataset(args.data, seed=args.seed, **spec)
    print(f"[{name}] {dataset.describe()}: {len(dataset.y_train)} train / {len(dataset.y_val)} validation / "
          f"{len(dataset.y_test)} test", flush=True)
    max_epochs = LONG_EPOCHS if name == "long" else args.max_epochs
    overrides = {m: {"deskew": True} for m in models} if name == "deskew" else None
    run_dir = run_compare(
        models, dataset, runs / name, max_epochs=max_epochs, seed=args.seed, save_models=(name == "mnist"),
        overrides=overrides,
        on_model_end=lambda m, rec: print(f"[{name}] {m}: accuracy {rec['metrics']['accuracy']:.4f} "
                                          f"(fit {rec['fit_time_s']:.1f} s)", flush=True),
    )
    results = read_record(run_dir).to_json()
    return results, run_dir


def rows_of(setting: str, results: dict) -> list[dict]:
    counts = results["data"]["counts"]
    n = {split: sum(c.values()) for split, c in counts.items()}
    return [
        {
            "setting": setting,
            "model": model,
            "accuracy": rec["metrics"]["accuracy"],
            "accuracy_ci95": rec["metrics"]["accuracy_ci95"],
            "f1_macro": rec["metrics"]["f1_macro"],
            "fit_time_s": rec["fit_time_s"],
            "epochs": len(rec["history"]) if rec.get("history") else None,
            "n_train": n["train"],
            "n_test": n["test"],
            **reliability_of(rec),
        }
        for model, rec in results["models"].items()
    ]


def reliability_of(rec: dict) -> dict:
    """Abstention, calibration and context figures of one model (issue 10); empty without them."""
    sel, cal, ctx = rec.get("selective") or {}, rec.get("calibration") or {}, rec.get("context") or {}
    if not sel.get("available"):
        return {}
    return {
        "target_risk": sel["target_risk"],
        "aurc": sel["aurc"],
        "eaurc": sel["eaurc"],
        # Best coverage on the test curve at the target risk (an oracle threshold) ...
        "coverage_at_target_risk": sel["coverage_at_target_risk"],
        # ... and what the threshold chosen on validation achieves on test.
        "threshold": sel["threshold"],
        "test_coverage": sel["test"]["coverage"],
        "test_risk": sel["test"]["risk"],
        "test_risk_upper": sel["test"]["risk_upper"],
        "temperature": cal.get("temperature"),
        "ece_before": cal["before"]["ece"],
        "ece_after": (cal.get("after") or {}).get("ece"),
        "accuracy_with_context": ctx.get("accuracy_with_context"),
        "cross_group_share": ctx.get("cross_group_share"),
    }


def reliability_markdown(rows: list[dict]) -> str:
    """Second table: the reference rows' abstention, calibration and context figures."""
    rows = [r for r in rows if r["setting"] == LABELS["reference"] and r.get("aurc") is not None]
    if not rows:
        return ""
    target = rows[0]["target_risk"]
    lines = [
        f"Abstention at {target:.0%} target risk, calibration and context (reference protocol; thresholds and "
        "temperatures fitted on the validation split, figures on test):",
        "",
        "| model | accuracy | with context | digit/letter share of errors | AURC | coverage at target (test curve) "
        "| validation threshold on test: coverage, risk (95% bound) | ECE before -> after | temperature |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        risk = "-" if r["test_risk"] is None else f"{r['test_risk']:.2%} (<= {r['test_risk_upper']:.2%})"
        after = f"{r['ece_after']:.3f}" if r["ece_after"] is not None else "-"
        lines.append(f"| {r['model']} | {r['accuracy']:.2%} | {r['accuracy_with_context']:.2%} | "
                     f"{r['cross_group_share']:.0%} | {r['aurc']:.4f} | {r['coverage_at_target_risk']:.1%} | "
                     f"{r['test_coverage']:.1%}, {risk} | {r['ece_before']:.3f} -> {after} | "
                     f"{r['temperature']:.2f} |")
    return "\n".join(lines) + "\n"


def usps_rows(mnist_run: Path, data_dir) -> list[dict]:
    """Digit models trained on MNIST, scored on all 9,298 USPS digits (normalised like MNIST)."""
    X, y, _ = load_usps(data_dir)
    rows = []
    for path in sorted((mnist_run / "models").glob("*.joblib")):
        model = joblib.load(path)
        accuracy = accuracy_score(y, np.asarray(model.predict(X)).astype(str))
        rows.append({"setting": "usps (trained on MNIST)", "model": path.stem, "accuracy": float(accuracy),
                     "accuracy_ci95": None, "f1_macro": None, "fit_time_s": None, "epochs": None,
                     "n_train": None, "n_test": int(len(y))})
        print(f"[usps] {path.stem}: accuracy {accuracy:.4f}", flush=True)
    return rows


def markdown(rows: list[dict], letters: dict[str, int]) -> str:
    lines = [
        "| setting | model | test accuracy (95% CI) | study | target | macro F1 | epochs | fit time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ci = f" ({r['accuracy_ci95'][0]:.1%}-{r['accuracy_ci95'][1]:.1%})" if r["accuracy_ci95"] else ""
        reference = r["setting"] == LABELS["reference"]
        study = f"{STUDY[r['model']]:.0%}" if reference and r["model"] in STUDY else ""
        # The targets hold on the reference protocol; kNN may use the deskewing option to meet its own.
        targeted = reference or r["setting"] == LABELS["deskew"]
        target = f">= {TARGETS[r['model']]:.1%}" if targeted and r["model"] in TARGETS else ""
        if r["setting"] == LABELS["mnist"] and r["model"] == "cnn":
            target = ">= 99.3%"
        if r["setting"] == LABELS["mnist"] and r["model"] == "modern_cnn":
            target = ">= 99.5%"
        f1 = f"{r['f1_macro']:.3f}" if r["f1_macro"] is not None else ""
        fit = f"{r['fit_time_s']:.0f} s" if r["fit_time_s"] is not None else ""
        lines.append(f"| {r['setting']} | {r['model']} | {r['accuracy']:.2%}{ci} | {study} | {target} | {f1} | "
                     f"{r['epochs'] or ''} | {fit} |")
    if letters:
        per_letter = ", ".join(f"{k} {v}" for k, v in letters.items())
        lines += ["", f"Letters per class in our data (all splits; the study had 2,000 each): {per_letter}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    runs = args.from_runs or args.runs or args.out / f"runs-{time.strftime('%Y%m%d-%H%M%S')}"
    started = time.perf_counter()
    rows: list[dict] = []
    letters: dict[str, int] = {}
    mnist_run = None
    models_of = {"mnist": args.digit_models, "long": args.long_models, "deskew": args.deskew_models}
    for name in ROWS:
        if name not in wanted and not (name == "mnist" and "usps" in wanted):
            continue
        if args.from_runs is not None:
            run_dir = args.from_runs / name
            results = read_record(run_dir).to_json()
            print(f"[{name}] read {run_dir} ({results['status']}: {', '.join(results['models'])})", flush=True)
        else:
            results, run_dir = run_row(name, models_of.get(name, args.models).split(","), args, runs)
        if name in wanted:
            rows += rows_of(LABELS[name], results)
        if name == "reference":
            counts = results["data"]["counts"]
            letters = {c: sum(counts[s][c] for s in counts) for c in results["data"]["classes"] if c.isalpha()}
        if name == "mnist":
            mnist_run = run_dir
    if "usps" in wanted and mnist_run is not None:
        rows += usps_rows(mnist_run, args.data)
    previous = args.out / "accuracy.json"
    if args.update and previous.exists():
        old = json.loads(previous.read_text())
        # Row by row and model by model: a rerun of some models of a setting keeps the others' rows.
        fresh = {(r["setting"], r["model"]) for r in rows}
        kept = [r for r in old["rows"] if (r["setting"], r["model"]) not in fresh]
        order = {key: k for k, key in enumerate((r["setting"], r["model"]) for r in old["rows"])}
        rows = sorted(kept + rows, key=lambda r: order.get((r["setting"], r["model"]), len(order)))
        letters = letters or old.get("letters_per_class", {})
    payload = {
        "benchmark": "accuracy",
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": environment(),
        "python": platform.python_version(),
        "wall_time_s": round(time.perf_counter() - started, 1),
        "note": args.note,
        "runs": str(runs),
        "study": STUDY,
        "targets": TARGETS,
        "letters_per_class": letters,
        "rows": rows,
    }
    atomic_write_text(args.out / "accuracy.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "accuracy.md", markdown(rows, letters))
    atomic_write_text(args.out / "reliability.md", reliability_markdown(rows))
    print(markdown(rows, letters) + reliability_markdown(rows))
    print(f"wrote {args.out / 'accuracy.json'} and accuracy.md in {payload['wall_time_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
