"""Accuracy of the study CNN and the modern CNN on MNIST-C, generated as released, over several seeds.

Each model trains on MNIST digits with MNIST's own train/test partition (``load_dataset(classes="digits",
split="writer")``: the test split is MNIST's 10,000 test images, validation a random part of MNIST's
training set, early stopping on it) and is scored on the clean test images and on each of MNIST-C's 15
corruptions of them (``corrupt(..., suite="mnist-c")``), made once per seed and shared by the models.
Each finished seed is appended to ``mnist_c-runs.jsonl`` at once and a rerun with the same settings
resumes after it. Results, per corruption and the mean over the 15, as mean +- sd over seeds, go to
``mnist_c.json`` and ``mnist_c.md`` in ``--out``.

    python bench/mnist_c.py --data ../shared/data                      # full run: 3 seeds, all of MNIST
    python bench/mnist_c.py --data ../shared/data --max-epochs 1 --seeds 0 --per-class 300 --n-test 300  # smoke

The MNIST-C paper's CNN figures (Mu & Gilmer 2019, arXiv 1906.02337) are not reproduced beside ours:
the table could not be obtained when this benchmark was written, so ``PAPER_CNN_ERROR`` is empty and the
column reads "n/a" until its numbers are filled in from the paper.
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
from hwr_eval.data import MNIST_C_CORRUPTIONS
from hwr_eval.evaluation import MEAN_ROW, mnist_c_accuracy
from hwr_eval.io import atomic_write_text
from hwr_eval.models._fitting import fit_with_validation
from hwr_eval.runs import environment

HERE = Path(__file__).resolve().parent
MODELS = ("cnn", "modern_cnn")
#: Test error (%) of the paper's CNN per corruption and "mean"; empty until taken from the paper.
PAPER_CNN_ERROR: dict[str, float] = {}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated registry models")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (training and corruptions)")
    parser.add_argument("--max-epochs", type=int, default=None, help="override the models' epochs")
    parser.add_argument("--per-class", type=int, default=0, help="cap images per digit (smoke tests); 0: all")
    parser.add_argument("--n-test", type=int, default=None, help="score only the first N test images")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per fit (default: torch's own)")
    # fp32 by default: "auto" picks bf16 on CPUs with native bf16 only, so seeds run on different CPUs would differ.
    parser.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="fp32", help="networks' precision")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    return parser.parse_args(argv)


def _summary(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = list(runs[0])
    return {
        k: {
            "mean": float(np.mean([r[k] for r in runs])),
            "sd": float(np.std([r[k] for r in runs], ddof=1)) if len(runs) > 1 else None,
        }
        for k in keys
    }


def _machine() -> str:
    return f"{environment('cpu')['device_name']}, {torch.get_num_threads()} torch thread(s), shared with other jobs"


def markdown(payload: dict) -> str:
    models = payload["models"]
    names = list(models)
    head = "| corruption | " + " | ".join(f"{m} accuracy" for m in names) + " | paper CNN error |"
    lines = [head, "|---|" + "---|" * (len(names) + 1)]
    for key in ("clean", *MNIST_C_CORRUPTIONS, MEAN_ROW):
        cells = []
        for m in names:
            s = models[m]["summary"][key]
            cells.append(f"{s['mean']:.2%}" + ("" if s["sd"] is None else f" ± {s['sd']:.2%}"))
        paper = PAPER_CNN_ERROR.get(key)
        label = f"**{key}** (15 corruptions)" if key == MEAN_ROW else key
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {'n/a' if paper is None else f'{paper:.2f}%'} |")
    seeds = payload["seeds"]
    lines += [
        "",
        f"Mean ± sd over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}); test images: {payload['n_test']}; "
        f"training images: {payload['n_train']}; epochs: {payload['max_epochs'] or 'the models’ default'}; "
        f"precision {payload['precision']}; {'; '.join(payload['machine'])}.",
        "The paper's CNN figures could not be obtained when this benchmark was written (see the script).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    known = hwr_eval.models.list_models()
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown model {unknown[0]!r}; choose from {', '.join(known)}", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "mnist_c-runs.jsonl"
    settings = {
        "models": names,
        "per_class": args.per_class,
        "max_epochs": args.max_epochs,
        "n_test": args.n_test,
        "precision": args.precision,
    }
    logged = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    runs = {r["seed"]: r for r in logged if r["settings"] == settings and r["seed"] in seeds}
    print(f"{len(runs)} seed(s) already in {log}; {len(seeds) - len(runs)} to run", flush=True)
    for seed in (s for s in seeds if s not in runs):
        data = hwr_eval.load_dataset(args.data, classes="digits", per_class=args.per_class or None, split="writer", seed=seed)
        X_test, y_test = data.X_test[: args.n_test], np.asarray(data.y_test)[: args.n_test]
        print(f"seed {seed}: {data.describe()}: {len(data.y_train)} train / {len(y_test)} test", flush=True)
        fitted, fit_time, epochs = {}, {}, {}
        for name in names:
            params = {"random_state": seed, "precision": args.precision}
            if args.max_epochs is not None:
                params["max_epochs"] = args.max_epochs
            model = hwr_eval.make_model(name, **params)
            start = time.perf_counter()
            fitted[name] = fit_with_validation(model, data.X_train, data.y_train, data.X_val, data.y_val)
            fit_time[name], epochs[name] = time.perf_counter() - start, len(model[-1].history)
            print(f"  [{name}] fitted in {fit_time[name]:.0f} s ({epochs[name]} epochs)", flush=True)
        start = time.perf_counter()
        table = mnist_c_accuracy(fitted, X_test, y_test, random_state=seed)
        print(f"  scored in {time.perf_counter() - start:.0f} s", flush=True)
        accuracy = {name: dict(zip(rows["corruption"], rows["accuracy"].astype(float))) for name, rows in table.groupby("model", sort=False)}
        for name in names:
            print(f"  [{name}] clean {accuracy[name]['clean']:.4f}  MNIST-C mean {accuracy[name][MEAN_ROW]:.4f}", flush=True)
        runs[seed] = {
            "seed": seed,
            "settings": settings,
            "n_train": int(len(data.y_train)),
            "n_test": int(len(y_test)),
            "accuracy": accuracy,
            "fit_time_s": fit_time,
            "epochs": epochs,
            "machine": _machine(),
        }
        with log.open("a") as f:  # one line per finished seed: Ctrl-C or a crash keeps it
            f.write(json.dumps(runs[seed]) + "\n")
    done = [runs[s] for s in seeds]
    payload = {
        "seeds": seeds,
        "n_train": done[0]["n_train"],
        "n_test": done[0]["n_test"],
        "per_class": args.per_class,
        "max_epochs": args.max_epochs,
        "precision": args.precision,
        "machine": sorted({r.get("machine", "not recorded") for r in done}),
        "environment": environment("cpu"),
        "command": " ".join(["python", "bench/mnist_c.py", *(argv if argv is not None else sys.argv[1:])]),
        "paper_cnn_error_percent": PAPER_CNN_ERROR or None,
        "models": {
            n: {
                "runs": [r["accuracy"][n] for r in done],
                "summary": _summary([r["accuracy"][n] for r in done]),
                "fit_time_s": [r["fit_time_s"][n] for r in done],
                "epochs": [r["epochs"][n] for r in done],
            }
            for n in names
        },
    }
    atomic_write_text(args.out / "mnist_c.json", json.dumps(payload, indent=2, allow_nan=False) + "\n")
    atomic_write_text(args.out / "mnist_c.md", markdown(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
