"""Unknown input: how well each model and detector tells the 36 known classes from input of none of them.

On the reference protocol (36 classes, at most 2,000 per class, random 62/28/10 split, data seed 0) every
model in ``--models`` is trained with model seeds 0 .. ``--seeds`` - 1 (k-NN and logistic regression, which
no seed changes, once), and every detector that applies to it is scored against every unknown set
(``hwr_eval.data.load_unknowns``: the lowercase near unknowns, the generated far ones, and ``--folder`` if
given). Thresholds keep 95% of the known validation images; the known images scored are the test split.

Every network named in ``--outlier-exposure`` is trained a second time with ``outlier_exposure="generated"``
(label ``<model>+oe``) and the table gives its change in known test accuracy, paired by seed. Fits run
``--n-jobs`` at a time; each finished fit is appended to ``unknowns-runs.jsonl`` at once, so an interrupted
bench resumes where it stopped. Writes ``unknowns.json`` (every row of every seed, the mean and standard
deviation over seeds, and the headline: near AUROC, worst far AUROC and known accuracy per model and
detector) and ``unknowns.md`` to ``--out``.

    python bench/unknowns.py --data ../shared/data --models knn,logreg,linear,mlp,lenet5,cnn,cascade,modern_cnn \
        --outlier-exposure mlp,cnn,modern_cnn --seeds 3 --n-jobs 2 --threads 1
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
from joblib import Parallel, delayed

import hwr_eval
from hwr_eval.data import DEFAULT_N_GENERATED, FAR_UNKNOWN_SETS, load_unknowns
from hwr_eval.evaluation import DEFAULT_K, DEFAULT_KEEP, DETECTORS, unknown_table
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
    parser.add_argument("--outlier-exposure", default="",
                        help="comma-separated networks also trained with outlier_exposure='generated' (label <model>+oe)")
    parser.add_argument("--n-jobs", type=int, default=1, help="fits trained in parallel")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per fit")
    # fp32 by default: "auto" picks bf16 on CPUs with native bf16 only, so seeds run on different CPUs would differ.
    parser.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="fp32", help="networks' precision")
    parser.add_argument("--table-only", action="store_true", help="write the tables from the logged fits, train nothing")
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


def variants(names: list[str], outlier_exposure: list[str]) -> list[tuple[str, str, dict]]:
    """(label, registry model, parameters): each model, and each network named in ``outlier_exposure`` again,
    trained with generated outliers (label ``<model>+oe``)."""
    for name in outlier_exposure:
        if name not in names or hwr_eval.models.final_net(hwr_eval.make_model(name)) is None:
            raise SystemExit(f"--outlier-exposure {name}: not one of the networks in --models")
    out = []
    for name in names:
        out.append((name, name, {}))
        if name in outlier_exposure:
            out.append((f"{name}+oe", name, {"outlier_exposure": "generated"}))
    return out


def fit_and_score(label: str, name: str, params: dict, seed: int | None, dataset, unknowns, args) -> dict:
    """One fit: the model trained with this seed, every detector scored against every unknown set."""
    torch.set_num_threads(args.threads)
    params = dict(params)
    if seed is not None:
        params["random_state"] = seed
    if hwr_eval.models.final_net(hwr_eval.make_model(name)) is not None:
        params["precision"] = args.precision
        if args.max_epochs is not None:
            params["max_epochs"] = args.max_epochs
    model = hwr_eval.make_model(name, **params)
    t0 = time.perf_counter()
    model.fit(dataset.X_train, dataset.y_train, X_val=dataset.X_val, y_val=dataset.y_val)
    fit_s = time.perf_counter() - t0
    table = unknown_table(model, dataset, unknowns, name=label, keep=args.keep, k=args.k)
    return {"label": label, "seed": seed or 0, "settings": _fingerprint(args), "fit_time_s": round(fit_s, 1),
            "score_time_s": round(time.perf_counter() - t0 - fit_s, 1),
            "accuracy": float(model.score(dataset.X_test, dataset.y_test)),
            "machine": f"{environment('cpu')['device_name']}, {args.threads} torch thread(s)",
            "rows": json.loads(table.to_json(orient="records"))}


def _fingerprint(args) -> dict:
    """The settings a logged fit must share to be reused on resume."""
    return {"per_class": args.per_class, "max_epochs": args.max_epochs, "n_generated": args.n_generated,
            "keep": args.keep, "k": args.k, "folder": str(args.folder) if args.folder else None,
            "precision": args.precision, "detectors": list(DETECTORS)}  # a new detector needs new fits


def known_accuracy(fits: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy per label over seeds; for a ``+oe`` label also the paired change against its base."""
    out = []
    for label, runs in fits.groupby("label", sort=False):
        row = {"label": label, "n_seeds": len(runs), "accuracy_mean": runs.accuracy.mean(),
               "accuracy_std": runs.accuracy.std(ddof=1) if len(runs) > 1 else float("nan")}
        base = label.removesuffix("+oe")
        if base != label and base in set(fits.label):
            paired = runs.set_index("seed").accuracy - fits[fits.label == base].set_index("seed").accuracy
            paired = paired.dropna()
            row.update(oe_change_mean=paired.mean(), oe_change_std=paired.std(ddof=1) if len(paired) > 1 else float("nan"),
                       oe_change_seeds=len(paired))
        out.append(row)
    return pd.DataFrame(out)


def headline(summary: pd.DataFrame) -> pd.DataFrame:
    """Per model and detector: AUROC on the near unknowns and the worst far set (means over seeds)."""
    out = []
    for (label, detector), rows in summary.groupby(["model", "detector"], sort=False):
        near = rows[rows.unknown_set == "lowercase"].auroc_mean
        far = rows[rows.unknown_set.isin(FAR_UNKNOWN_SETS)].set_index("unknown_set").auroc_mean
        out.append({"model": label, "detector": detector, "near_auroc": near.iloc[0] if len(near) else float("nan"),
                    "worst_far_auroc": far.min() if len(far) else float("nan"),
                    "worst_far_set": far.idxmin() if len(far) else None})
    return pd.DataFrame(out)


def headline_markdown(heads: pd.DataFrame, accuracy: pd.DataFrame) -> str:
    acc = accuracy.set_index("label")
    lines = ["| model | detector | near AUROC (lowercase) | worst far AUROC (set) | known test accuracy | "
             "change from outlier exposure |", "|---|---|---|---|---|---|"]
    for _, h in heads.iterrows():
        a = acc.loc[h.model]
        sd = "" if pd.isna(a.accuracy_std) else f" ± {a.accuracy_std * 100:.2f}"
        change = ""
        if "oe_change_mean" in a and not pd.isna(a.oe_change_mean):
            change_sd = "" if pd.isna(a.oe_change_std) else f" ± {a.oe_change_std * 100:.2f}"
            change = f"{a.oe_change_mean * 100:+.2f}{change_sd} points ({int(a.oe_change_seeds)} seeds)"
        lines.append(f"| {h.model} | {h.detector} | {h.near_auroc:.3f} | {h.worst_far_auroc:.3f} ({h.worst_far_set}) | "
                     f"{a.accuracy_mean:.2%}{sd} | {change} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in names:
        hwr_eval.make_model(name)  # an unknown name fails here, before any loading or training
    if args.seeds < 1:
        raise SystemExit("--seeds must be at least 1")
    started = time.perf_counter()
    dataset = hwr_eval.load_dataset(args.data, per_class=args.per_class, seed=0)
    unknowns = load_unknowns(data_dir=args.data, folder=args.folder, n_generated=args.n_generated, seed=0)
    print(f"{dataset.describe()}; unknown sets: " + ", ".join(f"{k} {len(v)}" for k, v in unknowns.items()), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "unknowns-runs.jsonl"
    labels = variants(names, [m.strip() for m in args.outlier_exposure.split(",") if m.strip()])
    fits = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    fits = [f for f in fits if f["settings"] == _fingerprint(args) and f["label"] in {v[0] for v in labels}
            and f["seed"] < args.seeds]
    done = {(f["label"], f["seed"]) for f in fits}
    todo = []
    for seed in range(args.seeds):  # seed-major: every model has its first seeds before any has its last
        for label, name, params in labels:
            seeded = not is_seed_deterministic(hwr_eval.make_model(name))
            if (seed == 0 or seeded) and (label, seed) not in done:
                todo.append((label, name, params, seed if seeded else None))
    if args.table_only:  # the tables from what is logged: fits not yet trained are left out
        todo = []
    print(f"{len(fits)} fits already in {log}; {len(todo)} to train", flush=True)
    jobs = Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(
        delayed(fit_and_score)(label, name, params, seed, dataset, unknowns, args) for label, name, params, seed in todo)
    for fit in jobs:
        fits.append(fit)
        with log.open("a") as f:  # one line per finished fit: Ctrl-C or a crash keeps it
            f.write(json.dumps(fit) + "\n")
        print(f"{fit['label']} seed {fit['seed']}: {fit['accuracy']:.2%}, fit {fit['fit_time_s']:.0f} s, "
              f"scored in {fit['score_time_s']:.0f} s", flush=True)
    order = {label: i for i, (label, _, _) in enumerate(labels)}
    fits.sort(key=lambda f: (order[f["label"]], f["seed"]))
    rows = pd.DataFrame([{**r, "seed": f["seed"], "fit_time_s": f["fit_time_s"], "accuracy": f["accuracy"]}
                         for f in fits for r in f["rows"]])
    summary = summarise(rows)
    accuracy = known_accuracy(pd.DataFrame([{k: f[k] for k in ("label", "seed", "accuracy")} for f in fits]))
    heads = headline(summary)
    payload = {
        "benchmark": "unknowns",
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": environment(),
        "python": platform.python_version(),
        "data": dataset.describe(),
        "unknown_sets": {k: len(v) for k, v in unknowns.items()},
        "settings": {"models": names, "seeds": args.seeds, "outlier_exposure": args.outlier_exposure,
                     "n_jobs": args.n_jobs, "threads": args.threads, **_fingerprint(args)},
        "wall_time_s": round(time.perf_counter() - started, 1),
        "known_accuracy": json.loads(accuracy.to_json(orient="records")),
        "headline": json.loads(heads.to_json(orient="records")),
        "summary": json.loads(summary.to_json(orient="records")),
        "rows": json.loads(rows.to_json(orient="records")),
    }
    text = headline_markdown(heads, accuracy) + "\n" + markdown(summary, args)
    atomic_write_text(args.out / "unknowns.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "unknowns.md", text)
    print(text)
    print(f"wrote {args.out / 'unknowns.json'} and unknowns.md in {payload['wall_time_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
