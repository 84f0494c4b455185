"""Unknown input: how well each model and detector tells the 36 known classes from input of none of them.

On the reference protocol (36 classes, at most 2,000 per class, random 62/28/10 split, data seed 0) every
model in ``--models`` is trained with model seeds 0 .. ``--seeds`` - 1 (k-NN and logistic regression, which
no seed changes, once), and every detector that applies to it is scored against every unknown set
(``hwr_eval.data.load_unknowns``: the lowercase near unknowns, the generated far ones, and ``--folder`` if
given). Thresholds keep 95% of the known validation images; the known images scored are the test split.

Writes ``unknowns.json`` (every row of every seed, and the mean and standard deviation over seeds) and
``unknowns.md`` to ``--out``.

    python bench/unknowns.py --data ../shared/data --seeds 3
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import pandas as pd
import torch

import hwr_eval
from hwr_eval.data import DEFAULT_N_GENERATED, load_unknowns
from hwr_eval.evaluation import DEFAULT_K, DEFAULT_KEEP, unknown_table
from hwr_eval.io import atomic_write_text
from hwr_eval.models import is_seed_deterministic
from hwr_eval.runs import environment

HERE = Path(__file__).resolve().parent
MODELS = ("knn", "logreg", "cnn", "modern_cnn")
METRICS = ("auroc", "aupr_in", "aupr_out", "fpr_at_95_tpr", "known_test_kept", "unknown_rejected")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA)")
    parser.add_argument("--models", default=",".join(MODELS), help="registry models, comma-separated")
    parser.add_argument("--seeds", type=int, default=3, help="model seeds 0 .. N-1")
    parser.add_argument("--folder", type=Path, default=None, help="a folder of your own unknown images (optional)")
    parser.add_argument("--n-generated", type=int, default=DEFAULT_N_GENERATED, help="images per generated set")
    parser.add_argument("--keep", type=float, default=DEFAULT_KEEP, help="share of known validation images kept")
    parser.add_argument("--k", type=int, default=DEFAULT_K, help="neighbours of the knn detector")
    parser.add_argument("--per-class", type=int, default=2000, help="the cap per class (lower for smoke tests)")
    parser.add_argument("--max-epochs", type=int, default=None, help="override the nets' epochs (smoke tests)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    return parser.parse_args(argv)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds per model, detector and unknown set (sd NaN for one seed)."""
    grouped = rows.groupby(["model", "detector", "unknown_set"], sort=False)
    summary = grouped[list(METRICS)].agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary.insert(0, "n_seeds", grouped.size())
    summary.insert(1, "n_unknown", grouped["n_unknown"].first())
    return summary.reset_index()


def _cell(row, metric: str, percent: bool = False) -> str:
    mean, sd = row[f"{metric}_mean"], row[f"{metric}_std"]
    if percent:
        return f"{mean:.1%}" if pd.isna(sd) else f"{mean:.1%} ± {sd * 100:.1f}"
    return f"{mean:.3f}" if pd.isna(sd) else f"{mean:.3f} ± {sd:.3f}"


def markdown(summary: pd.DataFrame, args) -> str:
    lines = [f"Known: the reference protocol's test split. Thresholds keep {args.keep:.0%} of the known validation "
             "images. Mean ± sd over model seeds (models no seed changes were fitted once).", "",
             "| model | detector | unknown set | n | AUROC | FPR at 95% TPR | AUPR in | AUPR out | unknown rejected "
             "| known test kept | seeds |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in summary.iterrows():
        lines.append(f"| {r.model} | {r.detector} | {r.unknown_set} | {r.n_unknown} | {_cell(r, 'auroc')} | "
                     f"{_cell(r, 'fpr_at_95_tpr', True)} | {_cell(r, 'aupr_in')} | {_cell(r, 'aupr_out')} | "
                     f"{_cell(r, 'unknown_rejected', True)} | {_cell(r, 'known_test_kept', True)} | {r.n_seeds} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in names:
        hwr_eval.make_model(name)  # an unknown name fails here, before any loading or training
    if args.seeds < 1:
        raise SystemExit("--seeds must be at least 1")
    started = time.perf_counter()
    dataset = hwr_eval.load_dataset(args.data, per_class=args.per_class, seed=0)
    unknowns = load_unknowns(data_dir=args.data, folder=args.folder, n_generated=args.n_generated, seed=0)
    print(f"{dataset.describe()}; unknown sets: " + ", ".join(f"{k} {len(v)}" for k, v in unknowns.items()), flush=True)
    tables = []
    for name in names:
        seeded = not is_seed_deterministic(hwr_eval.make_model(name))
        for seed in range(args.seeds if seeded else 1):
            params = {"random_state": seed} if seeded else {}
            if args.max_epochs is not None and hwr_eval.models.final_net(hwr_eval.make_model(name)) is not None:
                params["max_epochs"] = args.max_epochs
            model = hwr_eval.make_model(name, **params)
            t0 = time.perf_counter()
            model.fit(dataset.X_train, dataset.y_train, X_val=dataset.X_val, y_val=dataset.y_val)
            fit_s = time.perf_counter() - t0
            table = unknown_table(model, dataset, unknowns, name=name, keep=args.keep, k=args.k)
            tables.append(table.assign(seed=seed, fit_time_s=round(fit_s, 1),
                                       accuracy=float(model.score(dataset.X_test, dataset.y_test))))
            print(f"{name} seed {seed}: fit {fit_s:.0f} s, scored in {time.perf_counter() - t0 - fit_s:.0f} s", flush=True)
    rows = pd.concat(tables, ignore_index=True)
    summary = summarise(rows)
    payload = {
        "benchmark": "unknowns",
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": environment(),
        "python": platform.python_version(),
        "data": dataset.describe(),
        "unknown_sets": {k: len(v) for k, v in unknowns.items()},
        "settings": {"models": names, "seeds": args.seeds, "keep": args.keep, "k": args.k,
                     "per_class": args.per_class, "max_epochs": args.max_epochs},
        "wall_time_s": round(time.perf_counter() - started, 1),
        "summary": json.loads(summary.to_json(orient="records")),
        "rows": json.loads(rows.to_json(orient="records")),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "unknowns.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "unknowns.md", markdown(summary, args))
    print(markdown(summary, args))
    print(f"wrote {args.out / 'unknowns.json'} and unknowns.md in {payload['wall_time_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
