"""Every comparative claim of the reference study and of this README, judged across training runs.

One ``run_compare`` run on the reference protocol trains every setting below with ``--seeds`` model seeds
on the same split (seed 0); its ``seeds.csv`` and ``comparisons.csv`` (Bayesian correlated t-test, ROPE
0.1 accuracy points) give each claim's mean +- sd and verdict. Results go to ``claims.json`` and
``claims.md`` in ``--out``; the run folder (with its HTML report) to ``--runs``.

    python bench/claims.py --data ../shared/data --seeds 5 --n-jobs 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import pandas as pd

import hwr_eval
from hwr_eval.io import atomic_write_text
from hwr_eval.runs import DataSpec, open_run
from hwr_eval.workflows import run_compare

HERE = Path(__file__).resolve().parent
SGD_LR = 0.001 * math.e**5  # the largest rate of the study's SGD grid (0.001 * e^i, i = 1..5)

# run name: (registry model, parameters); the study's recipe unless a parameter says otherwise
SETTINGS = {
    "linear": ("linear", {}),
    "mlp": ("mlp", {}),
    "mlp_sgd": ("mlp", dict(optimizer="sgd", lr=SGD_LR)),
    "mlp_batch128": ("mlp", dict(batch_size=128)),
    "lenet5": ("lenet5", {}),
    "cnn": ("cnn", {}),
    "cnn_max": ("cnn", dict(pool="max")),
    "cascade": ("cascade", {}),
    "cnn_batchnorm": ("cnn", dict(batchnorm=True)),
    "cnn_adamw_onecycle": ("cnn", dict(optimizer="adamw", lr=3e-3, weight_decay=5e-4, lr_schedule="onecycle")),
    "cnn_label_smoothing": ("cnn", dict(label_smoothing=0.1)),
    "cnn_affine": ("cnn", dict(augment="affine")),
    "modern_cnn": ("modern_cnn", {}),
    "knn": ("knn", {}),
    "logreg": ("logreg", {}),
}

# (claim, model A, model B, the figure as the study or this README stated it)
CLAIMS = [
    ("Adam beats SGD (MLP)", "mlp", "mlp_sgd", "study's search chose Adam"),
    ("batch 512 is as good as 128 (MLP)", "mlp", "mlp_batch128", "study's search chose 512"),
    ("MLP beats the linear model", "mlp", "linear", "93% vs 77% (+16)"),
    ("average pooling is as good as max pooling (CNN)", "cnn", "cnn_max", "CNN ~96% with either"),
    ("the CNN beats LeNet-5", "cnn", "lenet5", "96% vs 93% (+3)"),
    ("the O/0 cascade beats the CNN", "cascade", "cnn", "97% vs 96% (+1)"),
    ("BatchNorm helps the CNN", "cnn_batchnorm", "cnn", "README, one run: +0.95"),
    ("AdamW with one-cycle helps the CNN", "cnn_adamw_onecycle", "cnn", "README, one run: +0.49"),
    ("label smoothing 0.1 helps the CNN", "cnn_label_smoothing", "cnn", "README, one run: +0.12"),
    ("affine augmentation costs clean accuracy", "cnn_affine", "cnn", "README, one run: -1.75"),
    ("modern_cnn beats the study's CNN", "modern_cnn", "cnn", "README, one run: 98.49% vs 96.31% (+2.18)"),
    ("kNN beats logistic regression", "knn", "logreg", "README, one run: 83.92% vs 79.31% (+4.61)"),
]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA)")
    parser.add_argument("--seeds", type=int, default=5, help="model seeds per setting")
    parser.add_argument("--n-jobs", type=int, default=2, help="repeats trained in parallel (one thread each)")
    parser.add_argument("--only", default=None, help="comma-separated settings (smoke tests; default: all)")
    parser.add_argument("--per-class", type=int, default=2000, help="override the cap (smoke tests)")
    parser.add_argument("--max-epochs", type=int, default=None, help="override every model's epochs (smoke tests)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--runs", type=Path, default=None, help="the run folder (default: OUT/runs-claims-<time>)")
    return parser.parse_args(argv)


def settings(only: str | None) -> dict:
    names = list(SETTINGS) if only is None else [s.strip() for s in only.split(",")]
    return {name: hwr_eval.make_model(SETTINGS[name][0], **SETTINGS[name][1]) for name in names}


def claim_rows(seeds: pd.DataFrame, comparisons: pd.DataFrame) -> list[dict]:
    stats = seeds.groupby("model")["accuracy"].agg(["mean", "std", "count"])
    rows = []
    for claim, a, b, stated in CLAIMS:
        if a not in stats.index or b not in stats.index:
            continue
        pair = comparisons[(comparisons.model_a == a) & (comparisons.model_b == b)]
        sign = 1.0
        if pair.empty:  # the table lists each pair once, in run order
            pair, sign = comparisons[(comparisons.model_a == b) & (comparisons.model_b == a)], -1.0
        p = pair.iloc[0]
        p_a, p_b = (p.p_a_better, p.p_b_better) if sign > 0 else (p.p_b_better, p.p_a_better)
        ci = sorted((sign * p.ci_low, sign * p.ci_high))
        rows.append({
            "claim": claim, "a": a, "b": b, "stated": stated,
            "a_mean": stats.loc[a, "mean"], "a_sd": stats.loc[a, "std"], "a_runs": int(stats.loc[a, "count"]),
            "b_mean": stats.loc[b, "mean"], "b_sd": stats.loc[b, "std"], "b_runs": int(stats.loc[b, "count"]),
            "mean_diff": sign * p.mean_diff, "ci_low": ci[0], "ci_high": ci[1],
            "p_a_better": p_a, "p_equivalent": p.p_equivalent, "p_b_better": p_b,
            "verdict": p.verdict,  # it names the better model, so it reads the same either way round
            "seeds_to_decide": None if pd.isna(p.seeds_to_decide) else int(p.seeds_to_decide),
        })
    return rows


def _pm(mean: float, sd: float, runs: int) -> str:
    return f"{mean:.2%}" + (f" +- {sd * 100:.2f}" if runs > 1 else " (deterministic)")


def markdown(rows: list[dict], seeds: pd.DataFrame, meta: dict) -> str:
    lines = [
        "| claim | stated | A: mean +- sd | B: mean +- sd | A - B (95% interval) | P(A better) / P(equiv.) / P(B better) | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['claim']} | {r['stated']} | {r['a']}: {_pm(r['a_mean'], r['a_sd'], r['a_runs'])} "
            f"| {r['b']}: {_pm(r['b_mean'], r['b_sd'], r['b_runs'])} "
            f"| {r['mean_diff'] * 100:+.2f} ({r['ci_low'] * 100:+.2f} to {r['ci_high'] * 100:+.2f}) "
            f"| {r['p_a_better']:.2f} / {r['p_equivalent']:.2f} / {r['p_b_better']:.2f} | {r['verdict']} |"
        )
    per_model = seeds.groupby("model").agg(
        runs=("accuracy", "count"), mean=("accuracy", "mean"), sd=("accuracy", "std"),
        low=("accuracy", "min"), high=("accuracy", "max"), fit=("fit_time_s", "median"))
    per_model = per_model.loc[[m for m in SETTINGS if m in per_model.index]]
    lines += ["", "| setting | runs | test accuracy mean +- sd | min-max | median fit time |", "|---|---|---|---|---|"]
    for name, s in per_model.iterrows():
        spread = f"{s.low:.2%}-{s.high:.2%}" if s.runs > 1 else ""
        lines.append(f"| {name} | {s.runs:.0f} | {_pm(s['mean'], s.sd, s.runs)} | {spread} | {s.fit:.0f} s |")
    lines += ["", f"Reference protocol (36 classes, at most 2,000 per class, split seed 0), model seeds "
              f"0-{meta['seeds'] - 1}; verdicts from the Bayesian correlated t-test with a ROPE of 0.1 accuracy "
              f"points. {meta['machine']}; repeats ran {meta['n_jobs']} at a time, one thread each, so fit "
              f"times are for a shared machine. Whole run: {meta['wall_s'] / 60:.0f} min.",
              f"`python bench/claims.py --data DIR --seeds {meta['seeds']} --n-jobs {meta['n_jobs']}`"]
    return "\n".join(lines) + "\n"


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main(argv=None) -> None:
    args = parse_args(argv)
    data_dir = args.data or os.environ.get("HWR_DATA")
    if not data_dir:
        raise SystemExit("no data: pass --data DIR or set HWR_DATA (this bench needs the real data)")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = args.runs or args.out / f"runs-claims-{stamp}"
    start = time.perf_counter()
    run_compare(settings(args.only), out_dir=run_dir, data=DataSpec(data_dir=str(data_dir), per_class=args.per_class, seed=0),
                max_epochs=args.max_epochs, seeds=args.seeds, n_jobs=args.n_jobs, verbose=1)
    wall = time.perf_counter() - start
    run = open_run(run_dir)
    seeds = pd.read_csv(run.path / "seeds.csv")
    comparisons = pd.read_csv(run.path / "comparisons.csv")
    meta = {"seeds": args.seeds, "n_jobs": args.n_jobs, "wall_s": wall, "run": str(run_dir),
            "machine": f"{_cpu_name()}, {os.cpu_count()} cores"}
    rows = claim_rows(seeds, comparisons)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "claims.json", json.dumps({"meta": meta, "claims": rows,
                                                            "seeds": seeds.to_dict("records")}, indent=1, default=float))
    atomic_write_text(args.out / "claims.md", markdown(rows, seeds, meta))
    print((args.out / "claims.md").read_text())


if __name__ == "__main__":
    main()
