"""Grid search on a local Dask cluster (``--scheduler local:N``) against the default backend.

The same seeded grid (CNN, 8 candidates: lr x hidden x pool, 3 folds = 24 fits, then the refit of the
best setting) runs twice on a subset of the reference data: first in this process with the default
backend (what ``hwr-eval grid`` does without ``--scheduler``: one fit after another, torch using every
core), then with its fits on a local cluster of N worker processes, one thread each. Recorded: wall
times (cluster start-up apart), the speed-up, whether both runs found the same scores and ranking, and
what the measured per-fit and serial times imply for more workers.

    python bench/dask_grid.py --data ../shared/data            # reference size (a few minutes)
    python bench/dask_grid.py --data ../shared/data --quick    # smoke run (tiny subset, 1 epoch)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hwr_eval.runs import read_record

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's hwr_eval, also in the spawned workers

GRID = {"lr": [0.001, 0.003], "hidden": [64, 128], "pool": ["avg", "max"]}  # 8 candidates


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA)")
    parser.add_argument("--per-class", type=int, default=100, help="images per class of the subset (36 classes)")
    parser.add_argument("--max-epochs", type=int, default=5)
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster")
    parser.add_argument("--quick", action="store_true", help="smoke run: 15 images per class, 1 epoch")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--shared-machine", action="store_true",
                        help="say in the results that other jobs were running (timings distorted)")
    args = parser.parse_args(argv)
    if args.quick:
        args.per_class, args.max_epochs = 15, 1
    return args


def _scores(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(run_dir / "cv_results.csv")
    return frame.sort_values("params", kind="stable").reset_index(drop=True)


def timed_grid(dataset, args, out_dir: Path, scheduler=None) -> dict:
    from hwr_eval.workflows import run_grid

    start = time.perf_counter()
    run_dir = run_grid("cnn", GRID, dataset, out_dir, cv=args.cv, max_epochs=args.max_epochs, seed=0,
                       report=False, scheduler=scheduler)
    wall = time.perf_counter() - start
    results = read_record(run_dir).to_json()
    scores = _scores(run_dir)
    return {
        "wall_s": round(wall, 2),
        "refit_s": round(results["models"]["cnn"]["fit_time_s"], 2),
        "fit_s_mean": round(float(scores["mean_fit_time"].mean()), 3),
        "fit_s_total": round(float(scores["mean_fit_time"].sum() * args.cv), 2),
        "best_params": results["grid"]["best_params"],
        "best_score": results["grid"]["best_score"],
        "test_accuracy": results["models"]["cnn"]["metrics"]["accuracy"],
        "_scores": scores,
    }


def projection(dask_run: dict, n_fits: int, workers: list[int]) -> list[dict]:
    """Wall time with W one-thread workers: ceil(fits / W) rounds of the mean fit, plus the serial part.

    The serial part (refit of the best setting here, data to the workers, writing the run folder) is what
    the measured Dask run took beyond its rounds of fits; it does not shrink with more workers.
    """
    rounds = math.ceil(n_fits / dask_run["workers"])
    serial = max(0.0, dask_run["wall_s"] - rounds * dask_run["fit_s_mean"])
    return [
        {"workers": w, "wall_s": round(serial + math.ceil(n_fits / w) * dask_run["fit_s_mean"], 1)}
        for w in workers
    ]


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    from hwr_eval.data import load_dataset
    from hwr_eval.io import atomic_write_text
    from hwr_eval.runs import environment
    from hwr_eval.workflows import dask_client

    data = args.data or os.environ.get("HWR_DATA") or None
    dataset = load_dataset(data, classes="36", per_class=args.per_class, seed=0)
    if dataset.synthetic:
        print("note: no reference data found; timing the synthetic demo set", file=sys.stderr)
    n_candidates = int(np.prod([len(v) for v in GRID.values()]))
    n_fits = n_candidates * args.cv
    print(f"grid: cnn, {n_candidates} candidates x {args.cv} folds = {n_fits} fits on {len(dataset.y_train)} "
          f"training images, {args.max_epochs} epoch(s)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"default backend (this process, {torch.get_num_threads()} torch threads) ...", flush=True)
        local = timed_grid(dataset, args, Path(tmp) / "local")
        print(f"  {local['wall_s']} s", flush=True)
        print(f"--scheduler local:{args.workers} ...", flush=True)
        start = time.perf_counter()
        with dask_client(f"local:{args.workers}") as client:
            startup = time.perf_counter() - start
            on_dask = timed_grid(dataset, args, Path(tmp) / "dask", scheduler=client)
        on_dask.update(workers=args.workers, cluster_start_s=round(startup, 2))
        print(f"  {on_dask['wall_s']} s (+ {startup:.1f} s cluster start-up)", flush=True)
    a, b = local.pop("_scores"), on_dask.pop("_scores")
    speedup = local["wall_s"] / on_dask["wall_s"]
    record = {
        "benchmark": "dask_grid",
        "command": "python bench/dask_grid.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "shared_machine": args.shared_machine,
        "settings": {"model": "cnn", "grid": GRID, "cv": args.cv, "n_fits": n_fits, "max_epochs": args.max_epochs,
                     "per_class": args.per_class, "n_train": len(dataset.y_train), "data": dataset.describe()},
        "environment": environment(),
        "cpu_count": os.cpu_count(),
        "default_backend": local,
        "dask": on_dask,
        "speedup": round(speedup, 2),
        "speedup_with_startup": round(local["wall_s"] / (on_dask["wall_s"] + on_dask["cluster_start_s"]), 2),
        "efficiency_per_worker": round(speedup / args.workers, 2),
        "same_ranking": bool((a["rank_test_score"].to_numpy() == b["rank_test_score"].to_numpy()).all()),
        "max_score_difference": float(np.abs(a["mean_test_score"].to_numpy() - b["mean_test_score"].to_numpy()).max()),
        "projection": projection(on_dask, n_fits, [1, 2, 4, 8, n_fits]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "dask_grid.json", json.dumps(record, indent=2, default=str) + "\n")
    atomic_write_text(args.out / "dask_grid.md", markdown(record))
    print(markdown(record))
    return record


def markdown(r: dict) -> str:
    s, local, dask = r["settings"], r["default_backend"], r["dask"]
    lines = [
        "# Grid search on a local Dask cluster vs the default backend",
        "",
        f"`{r['command']}`",
        "",
        f"CNN, {s['n_fits']} fits ({len(s['grid']['lr']) * len(s['grid']['hidden']) * len(s['grid']['pool'])} "
        f"candidates x {s['cv']} folds), {s['max_epochs']} epoch(s), {s['n_train']} training images "
        f"({s['per_class']} per class); {r['environment']['device_name']}, {r['cpu_count']} cores.",
        "",
    ]
    if r["shared_machine"]:
        lines += ["**Timings distorted:** measured while other jobs shared this machine's cores; rerun on a "
                  "quiet machine for real numbers. The scores are not affected.", ""]
    lines += [
        "| run | wall s | mean fit s | refit s | best params | test acc |",
        "|---|---:|---:|---:|---|---:|",
        f"| default backend | {local['wall_s']} | {local['fit_s_mean']} | {local['refit_s']} | "
        f"{local['best_params']} | {local['test_accuracy']:.4f} |",
        f"| --scheduler local:{dask['workers']} | {dask['wall_s']} (+{dask['cluster_start_s']} start-up) | "
        f"{dask['fit_s_mean']} | {dask['refit_s']} | {dask['best_params']} | {dask['test_accuracy']:.4f} |",
        "",
        f"Speed-up: **{r['speedup']}x** ({r['speedup_with_startup']}x counting the cluster start-up), i.e. "
        f"{r['efficiency_per_worker']} of the ideal per worker. Same ranking: {r['same_ranking']}; largest "
        f"difference of a mean CV score: {r['max_score_difference']:.4g} (one torch thread per worker vs all "
        "cores in the default run can change the last bits of a fit).",
        "",
        "Projected wall time with W one-thread workers (ceil(fits / W) rounds of the measured mean fit, "
        "plus the measured serial part: refit here, data to workers, run folder):",
        "",
        "| workers | " + " | ".join(str(p["workers"]) for p in r["projection"]) + " |",
        "|---|" + "---:|" * len(r["projection"]),
        "| wall s | " + " | ".join(str(p["wall_s"]) for p in r["projection"]) + " |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
