"""Every comparative claim of the reference study and of this README, judged across training runs.

Every setting below is trained with ``--seeds`` model seeds on the same reference split (seed 0), all
fits in parallel (``--n-jobs`` workers, one thread each); each finished fit is appended to
``claims-runs.jsonl`` at once, so an interrupted bench resumes where it stopped. The per-seed table goes
through :func:`hwr_eval.evaluation.comparisons_table` (Bayesian correlated t-test, ROPE 0.1 accuracy
points), which gives each claim's mean +- sd and verdict. Results go to ``claims.json`` and
``claims.md`` in ``--out``.

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

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

import hwr_eval
from hwr_eval.evaluation import SEED_COLUMNS, comparisons_table
from hwr_eval.io import atomic_write_text
from hwr_eval.models import is_seed_deterministic, resolve_params
from hwr_eval.models._fitting import fit_with_validation

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
    parser.add_argument("--n-jobs", type=int, default=2, help="fits trained in parallel (one thread each)")
    parser.add_argument("--only", default=None, help="comma-separated settings (default: all)")
    parser.add_argument("--per-class", type=int, default=2000, help="override the cap (smoke tests)")
    parser.add_argument("--max-epochs", type=int, default=None, help="override every model's epochs (smoke tests)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    return parser.parse_args(argv)


def make_setting(name: str, seed: int, max_epochs: int | None):
    model = hwr_eval.make_model(SETTINGS[name][0], **SETTINGS[name][1])
    if is_seed_deterministic(model):
        return model  # the scikit-learn baselines: no seed, no epochs
    run = {"random_state": seed} if max_epochs is None else {"random_state": seed, "max_epochs": max_epochs}
    return model.set_params(**resolve_params(model, run))


def fit_one(name: str, seed: int, ds, max_epochs: int | None) -> dict:
    """One row of the seeds table: the setting trained with this model seed, scored on the test split."""
    import torch
    from sklearn.metrics import accuracy_score, f1_score

    torch.set_num_threads(1)
    model = make_setting(name, seed, max_epochs)
    start = time.perf_counter()
    fit_with_validation(model, ds.X_train, ds.y_train, ds.X_val, ds.y_val)
    fit_time = time.perf_counter() - start
    y_true, y_pred = np.asarray(ds.y_test).astype(str), np.asarray(model.predict(ds.X_test)).astype(str)
    history = getattr(model[-1], "history", None)
    return {"model": name, "seed": seed, "split_seed": 0, "accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)), "fit_time_s": fit_time,
            "epochs": len(history) if history is not None else None, "load_average_1min": os.getloadavg()[0]}


def tasks(names: list[str], seeds: int, done: set[tuple[str, int]], max_epochs: int | None) -> list[tuple[str, int]]:
    """Seed-major, so that every setting has its first seeds before any has its last."""
    todo = []
    for seed in range(seeds):
        for name in names:
            if seed > 0 and is_seed_deterministic(make_setting(name, seed, max_epochs)):
                continue  # the model seed cannot change it: its one run stands for every seed
            if (name, seed) not in done:
                todo.append((name, seed))
    return todo


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
              f"points. {meta['machine']}; fits ran {meta['n_jobs']} at a time, one thread each, so fit "
              f"times are for a shared machine. Fit times are medians over seeds; the 1-minute load average at each fit's end is in claims.json.",
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
    names = list(SETTINGS) if args.only is None else [n.strip() for n in args.only.split(",")]
    ds = hwr_eval.load_dataset(str(data_dir), per_class=args.per_class, seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "claims-runs.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    rows = [r for r in rows if r["model"] in names and r["seed"] < args.seeds]
    todo = tasks(names, args.seeds, {(r["model"], r["seed"]) for r in rows}, args.max_epochs)
    print(f"{len(rows)} fits already in {log}; {len(todo)} to train", flush=True)
    start = time.perf_counter()
    jobs = Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(
        delayed(fit_one)(name, seed, ds, args.max_epochs) for name, seed in todo)
    for done, row in enumerate(jobs, 1):
        rows.append(row)
        with log.open("a") as f:  # one line per finished fit: Ctrl-C or a crash keeps it
            f.write(json.dumps(row) + "\n")
        print(f"[{done}/{len(todo)}] {row['model']} seed {row['seed']}: {row['accuracy']:.2%} "
              f"({row['fit_time_s']:.0f} s, {row['epochs']} epochs)", flush=True)
    seeds = pd.DataFrame(rows).sort_values(["model", "seed"])
    comparisons = comparisons_table(seeds[list(SEED_COLUMNS)], rope=0.001)
    meta = {"seeds": args.seeds, "n_jobs": args.n_jobs, "wall_s": time.perf_counter() - start,
            "machine": f"{_cpu_name()}, {os.cpu_count()} cores"}
    rows_out = claim_rows(seeds, comparisons)
    atomic_write_text(args.out / "claims.json", json.dumps({"meta": meta, "claims": rows_out,
                                                            "seeds": seeds.to_dict("records")}, indent=1, default=float))
    atomic_write_text(args.out / "claims.md", markdown(rows_out, seeds, meta))
    print((args.out / "claims.md").read_text())


if __name__ == "__main__":
    main()
