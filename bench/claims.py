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
ROPE = 0.001  # the region of practical equivalence: 0.1 accuracy points
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
    parser.add_argument("--summarise", action="store_true", help="write the tables from the fits logged so far, train nothing")
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
            "epochs": len(history) if history is not None else None, "load_average_1min": os.getloadavg()[0],
            "machine": f"{_cpu_name()}, {os.cpu_count()} cores"}


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


def seeded(name: str) -> bool:
    return not is_seed_deterministic(make_setting(name, 0, None))


def claim_rows(seeds: pd.DataFrame) -> list[dict]:
    """One row per claim whose two settings have runs: each pair judged on the model seeds both have
    (a setting the seed cannot change counts for every seed), A listed first so the table reads A - B."""
    rows = []
    for claim, a, b, stated in CLAIMS:
        runs = {m: seeds[seeds.model == m] for m in (a, b)}
        if any(r.empty for r in runs.values()):
            continue
        common = set.intersection(*(set(r.seed) for m, r in runs.items() if seeded(m))) if seeded(a) or seeded(b) else {0}
        for m in (a, b):
            runs[m] = runs[m][runs[m].seed.isin(common)] if seeded(m) else runs[m]
        row = {"claim": claim, "a": a, "b": b, "stated": stated, "n_seeds": len(common)}
        for side, m in (("a", a), ("b", b)):
            acc = runs[m]["accuracy"]
            row |= {f"{side}_mean": acc.mean(), f"{side}_sd": acc.std() if len(acc) > 1 else None,
                    f"{side}_runs": len(acc), f"{side}_seeded": seeded(m)}
        if not (seeded(a) or seeded(b)):
            diff = row["a_mean"] - row["b_mean"]
            rows.append(row | {"verdict": f"both deterministic, no training noise: A - B = {diff * 100:+.2f} points on "
                                          "this test split (its test-image noise: the report's McNemar test)"})
            continue
        if len(common) < 2:
            rows.append(row | {"verdict": f"not judged: {len(common)} common seed (2 or more needed)"})
            continue
        p = comparisons_table(pd.concat([runs[a], runs[b]])[list(SEED_COLUMNS)], rope=ROPE).iloc[0]
        paired = runs[a].set_index("seed").accuracy - runs[b].set_index("seed").accuracy
        same = " (the same test accuracy on every seed)" if seeded(a) and seeded(b) and (paired == 0).all() else ""
        rows.append(row | {
            "mean_diff": p.mean_diff, "ci_low": p.ci_low, "ci_high": p.ci_high, "p_a_better": p.p_a_better,
            "p_equivalent": p.p_equivalent, "p_b_better": p.p_b_better, "verdict": p.verdict + same,
            "seeds_to_decide": None if pd.isna(p.seeds_to_decide) else int(p.seeds_to_decide),
        })
    return rows


def _pm(mean: float, sd: float | None, runs: int, is_seeded: bool) -> str:
    if not is_seeded:
        return f"{mean:.2%} (deterministic)"
    return f"{mean:.2%} +- {sd * 100:.2f}" if runs > 1 else f"{mean:.2%} (1 seed)"


def markdown(rows: list[dict], seeds: pd.DataFrame, meta: dict) -> str:
    lines = [
        "| claim | stated | A: mean +- sd | B: mean +- sd | A - B (95% interval) | P(A better) / P(equiv.) / P(B better) | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        judged = "mean_diff" in r
        diff = f"{r['mean_diff'] * 100:+.2f} ({r['ci_low'] * 100:+.2f} to {r['ci_high'] * 100:+.2f})" if judged else ""
        probs = f"{r['p_a_better']:.2f} / {r['p_equivalent']:.2f} / {r['p_b_better']:.2f}" if judged else ""
        lines.append(
            f"| {r['claim']} | {r['stated']} | {r['a']}: {_pm(r['a_mean'], r['a_sd'], r['a_runs'], r['a_seeded'])} "
            f"| {r['b']}: {_pm(r['b_mean'], r['b_sd'], r['b_runs'], r['b_seeded'])} | {diff} | {probs} | {r['verdict']} |"
        )
    per_model = seeds.groupby("model").agg(
        runs=("accuracy", "count"), mean=("accuracy", "mean"), sd=("accuracy", "std"),
        low=("accuracy", "min"), high=("accuracy", "max"), fit=("fit_time_s", "median"))
    per_model = per_model.loc[[m for m in SETTINGS if m in per_model.index]]
    lines += ["", "| setting | runs | test accuracy mean +- sd | min-max | median fit time |", "|---|---|---|---|---|"]
    for name, s in per_model.iterrows():
        spread = f"{s.low:.2%}-{s.high:.2%}" if s.runs > 1 else ""
        lines.append(f"| {name} | {s.runs:.0f} | {_pm(s['mean'], s.sd, s.runs, seeded(name))} | {spread} | {s.fit:.0f} s |")
    lines += ["", "Reference protocol (36 classes, at most 2,000 per class, split seed 0), each setting trained with "
              "model seeds 0, 1, ... (the runs column says how many: 5, and more for the two settings of a claim "
              "still undecided at 5; each pair is judged on the seeds both settings have); verdicts from the "
              f"Bayesian correlated t-test with a ROPE of 0.1 accuracy points. {meta['machine']}; fits ran "
              f"{meta['n_jobs']} at a time, one thread each, so fit "
              f"times are for a shared machine. Fit times are medians over seeds; the 1-minute load average at each fit's end is in claims.json.",
              "`python bench/claims.py --data DIR --seeds 5 --n-jobs 2`, then `--seeds N --only A,B` for an undecided "
              "claim's two settings, and `--seeds N --summarise` for these tables"]
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
    todo = [] if args.summarise else tasks(names, args.seeds, {(r["model"], r["seed"]) for r in rows}, args.max_epochs)
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
    # each fit's machine: fits logged before it was recorded say so
    seeds = pd.DataFrame([{**r, "machine": r.get("machine") or "machine not recorded"} for r in rows])
    seeds = seeds.sort_values(["model", "seed"])
    meta = {"seeds": args.seeds, "n_jobs": args.n_jobs, "wall_s": time.perf_counter() - start,
            "machine": " and ".join(sorted(set(seeds["machine"])))}
    rows_out = claim_rows(seeds)
    atomic_write_text(args.out / "claims.json", json.dumps({"meta": meta, "claims": rows_out,
                                                            "seeds": seeds.to_dict("records")}, indent=1, default=float))
    atomic_write_text(args.out / "claims.md", markdown(rows_out, seeds, meta))
    print((args.out / "claims.md").read_text())


if __name__ == "__main__":
    main()
