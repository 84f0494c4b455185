"""Time to accuracy: test accuracy against fit time for the study's CNN and ``modern_cnn`` variants.

Every candidate trains on the reference protocol (36 classes, at most 2,000 per class, random 62/28/10
split, data seed 0) with model seeds 0 .. ``--seeds`` - 1, one fit at a time with ``--threads`` torch
threads and the models' default precision (``"auto"``: bf16 on CPUs with native bf16, else fp32) or the
precision a candidate names, so the fit times compare like with like. The candidates are interleaved seed by seed, so drifting load on
a shared machine hits all alike. Each finished fit is appended to ``time_to_accuracy-runs.jsonl`` at once
and a rerun resumes. The table gives, per candidate, test accuracy and fit time as mean +- sd over seeds
and the ratio of its median fit time to the study CNN's in the same precision: the target is ``modern_cnn`` at >= 98.5% in no
more time than the study's CNN (ratio <= 1.0). Writes ``time_to_accuracy.json`` and ``.md`` to ``--out``.

    python bench/time_to_accuracy.py --data ../shared/data --seeds 3 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import hwr_eval
from hwr_eval.io import atomic_write_text
from hwr_eval.models._fitting import fit_with_validation
from hwr_eval.runs import environment

HERE = Path(__file__).resolve().parent
BASELINE = "cnn"
TARGET = 0.985
# candidate: (registry model, parameters, what it changes and why)
CANDIDATES = {
    "cnn": ("cnn", {}, "the study's CNN at its defaults (up to 50 epochs, early stopping)"),
    "modern_cnn": ("modern_cnn", {}, "modern_cnn at its defaults (c1-pool-c2-c3-pool-c4-pool-c5, 8 one-cycle "
                   "epochs, batch 128)"),
    # the previous default: pooling after the second and fourth convolutions, so two 32-channel maps at
    # 28x28 and two 64-channel maps at 14x14 went through BatchNorm, ReLU and pooling every step
    "modern_late_pool": ("modern_cnn", {"module__channels": (32, 32, 64, 64, 128), "module__pool_after": (2, 4),
                                        "max_epochs": 15},
                         "the previous layout c1-c2-pool-c3-c4-pool-c5 (32-32-64-64-128, now pooled before "
                         "BatchNorm), 15 epochs"),
    "modern_late_pool_8": ("modern_cnn", {"module__channels": (32, 32, 64, 64, 128), "module__pool_after": (2, 4)},
                           "the previous layout at the new default's 8 epochs"),
    # fp32, as on a CPU without native bf16: each is timed against the study CNN in the same precision
    "cnn_fp32": ("cnn", {"precision": "fp32"}, "the study's CNN in fp32"),
    "modern_cnn_fp32": ("modern_cnn", {"precision": "fp32"}, "modern_cnn in fp32"),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA)")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated, from CANDIDATES")
    parser.add_argument("--seeds", type=int, default=3, help="model seeds 0 .. N-1")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for every fit")
    parser.add_argument("--per-class", type=int, default=2000, help="the cap per class (lower for smoke tests)")
    parser.add_argument("--max-epochs", type=int, default=None, help="override every candidate's epochs (smoke)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    return parser.parse_args(argv)


def build(label: str, seed: int, args):
    name, params, _ = CANDIDATES[label]
    params = {**params, "random_state": seed}
    if args.max_epochs is not None:
        params["max_epochs"] = args.max_epochs
    return hwr_eval.make_model(name, **params)


def fit_one(label: str, seed: int, ds, args) -> dict:
    model = build(label, seed, args)
    design = _design(model)
    start = time.perf_counter()
    fit_with_validation(model, ds.X_train, ds.y_train, ds.X_val, ds.y_val)
    fit_s = time.perf_counter() - start
    net = model[-1]
    return {"label": label, "seed": seed, "settings": _settings(args), "design": design, "fit_s": round(fit_s, 2),
            "epochs": len(net.history), "precision": net.precision_,
            "accuracy": float(model.score(ds.X_test, ds.y_test))}


def _settings(args) -> dict:
    """What a logged fit must share to be reused on resume."""
    return {"per_class": args.per_class, "max_epochs": args.max_epochs, "threads": args.threads,
            "cpu": environment("cpu")["device_name"]}


def _design(model) -> dict:
    """The network and recipe a fit trained, so a logged fit of an older default is not reused."""
    return {k: repr(v) for k, v in sorted(model[-1].get_params(deep=False).items())
            if k.startswith(("module", "max_epochs", "batch_size", "lr", "optimizer"))}


def _sd(values: np.ndarray) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def _is_baseline(label: str) -> bool:
    """The study's CNN at its defaults, or at most with another precision: what the ratios are taken against."""
    name, params, _ = CANDIDATES[label]
    return name == BASELINE and set(params) <= {"precision"}


def summarise(fits: list[dict], labels: list[str]) -> list[dict]:
    """Per candidate: accuracy and fit time over seeds, and its median fit time over the study CNN's in the
    same precision (the CNN at its defaults, or forced to that precision)."""
    base = {}
    for f in fits:
        if _is_baseline(f["label"]):
            base.setdefault(f["precision"], []).append(f["fit_s"])
    rows = []
    for label in labels:
        mine = [f for f in fits if f["label"] == label]
        if not mine:
            continue
        acc, fit_s = np.array([f["accuracy"] for f in mine]), np.array([f["fit_s"] for f in mine])
        rows.append({
            "candidate": label, "what": CANDIDATES[label][2], "seeds": len(mine), "precision": mine[0]["precision"],
            "accuracy_mean": float(acc.mean()), "accuracy_sd": _sd(acc),
            "fit_s_mean": float(fit_s.mean()), "fit_s_sd": _sd(fit_s), "fit_s_median": float(np.median(fit_s)),
            "epochs": [f["epochs"] for f in mine],
            "time_ratio": (float(np.median(fit_s) / np.median(base[mine[0]["precision"]]))
                           if mine[0]["precision"] in base else None),
        })
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    def pm(mean, sd, fmt):
        return fmt.format(mean) + ("" if sd is None else " ± " + fmt.format(sd))

    lines = ["| candidate | what | seeds | precision | test accuracy | fit s | epochs | time vs the study's CNN "
             f"in that precision (medians) | >= {TARGET:.1%} in no more time |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "" if r["time_ratio"] is None else f"{r['time_ratio']:.2f}"
        met = "" if _is_baseline(r["candidate"]) or r["time_ratio"] is None else (
            "yes" if r["accuracy_mean"] >= TARGET and r["time_ratio"] <= 1.0 else "no")
        lines.append(f"| {r['candidate']} | {r['what']} | {r['seeds']} | {r['precision']} | "
                     f"{pm(r['accuracy_mean'] * 100, None if r['accuracy_sd'] is None else r['accuracy_sd'] * 100, '{:.2f}')}% | "
                     f"{pm(r['fit_s_mean'], r['fit_s_sd'], '{:.0f}')} | {', '.join(map(str, r['epochs']))} | {ratio} | {met} |")
    lines += ["", f"Reference protocol, test split {meta['n_test']} images; mean ± sd over model seeds; one fit at a "
              f"time, {meta['threads']} torch threads, candidates interleaved seed by seed; {meta['cpu']}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    labels = [c.strip() for c in args.candidates.split(",") if c.strip()]
    unknown = [c for c in labels if c not in CANDIDATES]
    if unknown:
        print(f"unknown candidate {unknown[0]!r}; choose from {', '.join(CANDIDATES)}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    ds = hwr_eval.load_dataset(args.data, per_class=args.per_class, seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "time_to_accuracy-runs.jsonl"
    logged = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    designs = {label: _design(build(label, 0, args)) for label in labels}
    fits = [f for f in logged if f["settings"] == _settings(args) and f["label"] in labels and f["seed"] < args.seeds
            and f.get("design") == designs[f["label"]]]
    done = {(f["label"], f["seed"]) for f in fits}
    todo = [(label, seed) for seed in range(args.seeds) for label in labels if (label, seed) not in done]
    print(f"{ds.describe()}; {len(fits)} fits logged, {len(todo)} to train", flush=True)
    for label, seed in todo:
        fit = fit_one(label, seed, ds, args)
        fits.append(fit)
        with log.open("a") as f:  # one line per finished fit: Ctrl-C or a crash keeps it
            f.write(json.dumps(fit) + "\n")
        print(f"{label} seed {seed}: {fit['accuracy']:.2%} in {fit['fit_s']:.0f} s ({fit['epochs']} epochs, "
              f"{fit['precision']})", flush=True)
    rows = summarise(fits, labels)
    meta = {"n_test": len(ds.y_test), "threads": args.threads, "cpu": environment("cpu")["device_name"]}
    payload = {"benchmark": "time_to_accuracy", "target_accuracy": TARGET, "baseline": BASELINE, **meta,
               "environment": environment("cpu"), "seeds": args.seeds, "rows": rows, "fits": fits}
    atomic_write_text(args.out / "time_to_accuracy.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "time_to_accuracy.md", markdown(rows, meta))
    print((args.out / "time_to_accuracy.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
