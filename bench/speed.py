"""Training and prediction speed of hwr-eval's CNN against plain skorch and a hand-written PyTorch loop.

Every contender trains the same module (``hwr_eval.models.CNN``, default widths) on the same reference
training split, for the same number of epochs, with Adam (lr 1e-3), batch size 512, cross-entropy and
a stratified 20% validation pass every epoch. hwr-eval and plain skorch are compared at the *same*
precision, fp32 against fp32 and bf16 against bf16 (plain skorch's bf16 is the one-method change a
skorch user would make: its forward pass under ``torch.autocast``), so the ratios show what hwr-eval's
batching and memory layout add, separately from what bf16 adds. bf16 contenders run by default only on
CPUs with bf16 instructions (elsewhere bf16 is emulated and hwr-eval's default precision is fp32).

Each contender records what it used (precision, batching, memory format, threads); the results name the
CPU, its vector extensions and the default precision hwr-eval picks on it. Every fit runs in a fresh
process (nothing one contender changes in the process carries over to the next), interleaved round by
round, so drifting load on a shared machine hits all alike; each reports the median fit time over the
rounds, and each ratio is the median of the per-round ratios, with the 1-minute load average before
every fit. Also measured: cold vs cached load of the reference set, kNN
prediction throughput, and the wall time of ``hwr-eval compare --models knn,logreg,cnn`` on the full
reference protocol. Results of earlier machines are kept (``earlier_runs``) and shown below the new ones.

    python bench/speed.py --data ../shared/data
    python bench/speed.py --data ../shared/data --epochs 2 --rounds 3 --threads 1 --skip-compare
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedShuffleSplit
from skorch import NeuralNetClassifier

import hwr_eval
from hwr_eval import PixelScaler, make_model
from hwr_eval.io import atomic_write_text
from hwr_eval.models import CNN
from hwr_eval.models._device import _cpu_has_native_bf16, auto_precision
from hwr_eval.runs import environment, read_record

HERE = Path(__file__).resolve().parent
BATCH, LR = 512, 1e-3


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per training run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians over them count")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, the cores)")
    parser.add_argument("--contenders", default=None,
                        help="comma-separated contender names (default: all; bf16 ones only with bf16 instructions)")
    parser.add_argument("--per-class", type=int, default=2000)
    parser.add_argument("--skip-compare", action="store_true", help="skip the end-to-end compare timing")
    parser.add_argument("--skip-load", action="store_true", help="skip the cold/cached load timing")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--note", default="", help="recorded with the results, e.g. that the machine was shared")
    return parser.parse_args(argv)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def timed_fit(fn) -> dict:
    """Wall and CPU seconds of ``fn()``: on a shared machine the process's CPU time (all its threads) is far
    less disturbed by other jobs than the wall time, though it also counts threads spin-waiting."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return {"fit_s": time.perf_counter() - wall, "fit_cpu_s": time.process_time() - cpu}


def load_times(data, per_class: int) -> dict:
    """Cold (empty cache: parse, normalise, hash) vs cached load of the reference set."""
    previous = os.environ.get("HWR_CACHE")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["HWR_CACHE"] = cache
        try:
            cold, _ = timed(lambda: hwr_eval.load_dataset(data, per_class=per_class))
            cached = min(timed(lambda: hwr_eval.load_dataset(data, per_class=per_class))[0] for _ in range(3))
        finally:
            if previous is None:
                os.environ.pop("HWR_CACHE", None)
            else:
                os.environ["HWR_CACHE"] = previous
    return {"cold_load_s": round(cold, 3), "cached_load_s": round(cached, 3)}


def hwr_cnn(ds, epochs: int, precision: str, augment: str | None = None) -> dict:
    model = make_model("cnn", max_epochs=epochs, patience=None, random_state=0, device="cpu", precision=precision,
                       augment=augment)
    fit = timed_fit(lambda: model.fit(ds.X_train, ds.y_train))
    predict_s, pred = timed(lambda: model.predict(ds.X_test))
    assert model.steps[-1][1].precision_ == precision
    return {**fit, "predict_s": predict_s, "accuracy": float(np.mean(pred == ds.y_test))}


class _AutocastSkorch(NeuralNetClassifier):
    """Plain skorch with its forward passes under bf16 autocast: the minimal change a skorch user makes."""

    def infer(self, x, **fit_params):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return super().infer(x, **fit_params).float()


def plain_skorch(ds, epochs: int, Xs_train, y_train, Xs_test, y_test, precision: str) -> dict:
    """skorch's NeuralNetClassifier with its defaults, but for the loss (CrossEntropyLoss on logits) and
    the optimiser, learning rate and batch size that make it the same training as the others."""
    torch.manual_seed(0)
    net_cls = _AutocastSkorch if precision == "bf16" else NeuralNetClassifier
    net = net_cls(
        CNN, module__n_classes=len(ds.classes), module__n_features=784, criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam, lr=LR, batch_size=BATCH, max_epochs=epochs, device="cpu", verbose=0,
    )
    fit = timed_fit(lambda: net.fit(Xs_train, y_train))
    predict_s, pred = timed(lambda: net.predict(Xs_test))
    return {**fit, "predict_s": predict_s, "accuracy": float(np.mean(pred == y_test))}


def hand_loop(ds, epochs: int, Xs_train, y_train, Xs_test, y_test) -> dict:
    """The loop a PyTorch user writes: tensors sliced by a shuffled index, NCHW, fp32."""
    torch.manual_seed(0)
    train_idx, valid_idx = next(StratifiedShuffleSplit(1, test_size=0.2, random_state=0).split(Xs_train, y_train))
    X = torch.from_numpy(Xs_train)
    y = torch.from_numpy(y_train)
    Xt, yt, Xv, yv = X[train_idx], y[train_idx], X[valid_idx], y[valid_idx]
    model = CNN(n_classes=len(ds.classes), n_features=784)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def fit():
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(Xt))
            for start in range(0, len(Xt), BATCH):
                idx = order[start:start + BATCH]
                loss = loss_fn(model(Xt[idx]), yt[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                sum(loss_fn(model(Xv[s:s + BATCH]), yv[s:s + BATCH]).item() for s in range(0, len(Xv), BATCH))

    def predict():
        model.eval()
        with torch.no_grad():
            Xtest = torch.from_numpy(Xs_test)
            return torch.cat([model(Xtest[s:s + BATCH]).argmax(1) for s in range(0, len(Xtest), BATCH)]).numpy()

    fit_times = timed_fit(fit)
    predict_s, pred = timed(predict)
    return {**fit_times, "predict_s": predict_s, "accuracy": float(np.mean(pred == y_test))}


def knn_throughput(ds) -> dict:
    model = make_model("knn").fit(ds.X_train, ds.y_train)
    predict_s, pred = timed(lambda: model.predict(ds.X_test))
    return {"predict_images_per_s": round(len(ds.X_test) / predict_s), "accuracy": float(np.mean(pred == ds.y_test))}


def compare_wall_time(data) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "hwr_eval", "compare", "--models", "knn,logreg,cnn", "--out", f"{out}/run"]
        if data is not None:
            cmd += ["--data", str(data)]
        wall, proc = timed(lambda: subprocess.run(cmd, capture_output=True, text=True))
        if proc.returncode != 0:
            raise SystemExit(f"compare failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
        results = read_record(Path(out, "run")).to_json()
    return {"command": "hwr-eval compare --models knn,logreg,cnn", "wall_s": round(wall, 1),
            "accuracy": {m: round(r["metrics"]["accuracy"], 4) for m, r in results["models"].items()}}


#: What each contender used besides precision (the module, data, optimiser and epochs are shared).
SETUPS = {
    "hwr-eval": {"batching": "whole-tensor slices", "memory_format": "channels-last"},
    "plain skorch": {"batching": "DataLoader (per-sample collation)", "memory_format": "NCHW"},
    "hand-written loop": {"batching": "tensor slices by a shuffled index", "memory_format": "NCHW"},
    "hwr-eval+affine": {"batching": "whole-tensor slices, augment='affine' (grid_sample per batch)",
                        "memory_format": "channels-last"},
    "hwr-eval+elastic": {"batching": "whole-tensor slices, augment='elastic' (grid_sample per batch)",
                         "memory_format": "channels-last"},
}
#: (hwr-eval contender, the one it is measured against): same precision on both sides.
PAIRS = {
    "vs_plain_skorch_fp32": ("hwr-eval fp32", "plain skorch fp32"),
    "vs_plain_skorch_bf16": ("hwr-eval bf16", "plain skorch bf16"),
    "vs_hand_loop_fp32": ("hwr-eval fp32", "hand-written loop fp32"),
    # Throughput kept with on-the-fly augmentation (the issue allows a cost of up to ~20%, i.e. >= 0.8x).
    "augment_affine_vs_none_bf16": ("hwr-eval+affine bf16", "hwr-eval bf16"),
    "augment_elastic_vs_none_bf16": ("hwr-eval+elastic bf16", "hwr-eval bf16"),
}
RATIO_TEXT = {
    "vs_plain_skorch_fp32": "hwr-eval vs plain skorch, fp32",
    "vs_plain_skorch_bf16": "hwr-eval vs plain skorch, bf16",
    "vs_hand_loop_fp32": "hwr-eval vs the hand-written loop, fp32",
    "augment_affine_vs_none_bf16": "augment='affine' vs none, bf16 (target >= 0.80x)",
    "augment_elastic_vs_none_bf16": "augment='elastic' vs none, bf16 (target >= 0.80x)",
}


def cpu_info() -> dict:
    """The CPU, the vector extensions torch's kernels use on it, and the precision hwr-eval picks there."""
    return {
        "name": environment()["device_name"],
        "logical_cpus": os.cpu_count(),
        "vector_extensions": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": _cpu_has_native_bf16(),
        "default_precision": auto_precision(torch.device("cpu"), has_conv=True),
    }


def _training_table(p: dict) -> list[str]:
    lines = [
        "| contender | precision | threads | batching | memory format | fit s | fit CPU s "
        "| train images/s | predict images/s | test accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in p["training"].items():
        lines.append(f"| {name} | {r['precision']} | {r.get('threads', p['torch_threads'])} | {r['batching']} | "
                     f"{r['memory_format']} | {r['fit_s']} | {r.get('fit_cpu_s', '')} | {r['train_images_per_s']:,} | "
                     f"{r['predict_images_per_s']:,} | {r['accuracy']:.2%} |")
    return lines


def markdown(p: dict) -> str:
    cpu = p["cpu"]
    lines = [
        f"## {cpu['name']}: {cpu['vector_extensions']}, {'with' if cpu['native_bf16'] else 'no'} bf16 instructions, "
        f"{cpu['logical_cpus']} logical CPUs",
        "",
        f"CNN, {p['epochs']} epochs on {p['n_train_rows']} training images (80% trained, 20% validated each epoch), "
        f"batch {BATCH}, {p['torch_threads']} torch threads, medians over {p['rounds']} interleaved rounds; hwr-eval's default "
        f"precision on this CPU: **{cpu['default_precision']}**. 1-minute load average before the fits: median "
        f"{p['load_average_1min']['median']} (range {p['load_average_1min']['min']}-{p['load_average_1min']['max']}).",
        "",
        *_training_table(p),
        "",
        "Training throughput ratios, median of the per-round ratios (every round's in speed.json), in wall time "
        "and in the process's CPU time (less disturbed by other jobs on a shared machine):",
        "",
    ]
    for key, ratio in p["ratios"].items():
        default = " (the default precision here)" if key == f"vs_plain_skorch_{cpu['default_precision']}" else ""
        lines.append(f"- {RATIO_TEXT[key]}{default}: **{ratio:.2f}x** wall, {p['cpu_time_ratios'][key]:.2f}x CPU time")
    lines += [
        "",
        f"- kNN (k=3, brute force) prediction: {p['knn']['predict_images_per_s']:,} images/s.",
    ]
    if p.get("load"):
        lines.append(f"- Reference set load: cold {p['load']['cold_load_s']} s, cached {p['load']['cached_load_s']} s "
                     "(target <= 0.5 s).")
    if p.get("compare"):
        c = p["compare"]
        lines.append(f"- `{c['command']}` on the full reference protocol: {c['wall_s']} s wall (target <= 180 s); "
                     + ", ".join(f"{m} {a:.2%}" for m, a in c["accuracy"].items()) + ".")
    if p.get("note"):
        lines += ["", f"**Note:** {p['note']}"]
    for old in p.get("earlier_runs", []):
        lines += ["", f"## Earlier run: {old.get('note') or old['machine']['device_name']} ({old['created'][:10]})", "",
                  f"CNN, {old['epochs']} epochs on {old['n_train_rows']} training images, batch {BATCH}, "
                  f"{old['torch_threads']} torch threads, "
                  + (f"medians over {old['rounds']} interleaved rounds:" if "rounds" in old else "the fastest of the repeats:"),
                  "", *_training_table(old), ""]
        lines += [f"- {RATIO_TEXT.get(k, k)}: **{v:.2f}x**" for k, v in old["ratios"].items()]
    return "\n".join(lines) + "\n"


def _earlier_runs(previous: Path, cpu: dict) -> list[dict]:
    """Earlier results to keep: those of other CPUs (a rerun on the same CPU replaces its own)."""
    if not previous.exists():
        return []
    old = json.loads(previous.read_text())
    kept = [r for r in old.pop("earlier_runs", []) if r["machine"]["device_name"] != cpu["name"] or "cpu" not in r]
    same_cpu = old.get("cpu", {}).get("name") == cpu["name"] and "cpu" in old
    keys = ("created", "machine", "cpu", "note", "torch_threads", "epochs", "rounds", "n_train_rows", "training",
            "ratios")
    return kept if same_cpu else [{k: old[k] for k in keys if k in old}, *kept]


def _contenders(ds, epochs: int) -> dict:
    classes = np.array(ds.classes)
    scaler = PixelScaler().fit(ds.X_train)
    Xs_train, Xs_test = scaler.transform(ds.X_train), scaler.transform(ds.X_test)
    y_train = np.searchsorted(classes, ds.y_train).astype(np.int64)
    y_test = np.searchsorted(classes, ds.y_test).astype(np.int64)
    data = (Xs_train, y_train, Xs_test, y_test)
    return {
        "hwr-eval fp32": lambda: hwr_cnn(ds, epochs, "fp32"),
        "plain skorch fp32": lambda: plain_skorch(ds, epochs, *data, precision="fp32"),
        "hwr-eval bf16": lambda: hwr_cnn(ds, epochs, "bf16"),
        "plain skorch bf16": lambda: plain_skorch(ds, epochs, *data, precision="bf16"),
        "hand-written loop fp32": lambda: hand_loop(ds, epochs, *data),
        "hwr-eval+affine bf16": lambda: hwr_cnn(ds, epochs, "bf16", augment="affine"),
        "hwr-eval+elastic bf16": lambda: hwr_cnn(ds, epochs, "bf16", augment="elastic"),
    }


def _run_contender(name: str, data, per_class: int, epochs: int, threads: int) -> dict:
    """One fit in a fresh process: whatever a contender changes in the process (hwr-eval tunes glibc's
    allocator, oneDNN caches its kernels) cannot carry over to the next one."""
    torch.set_num_threads(threads)
    ds = hwr_eval.load_dataset(data, per_class=per_class)
    # A short warm-up fit first, so one-time costs of a fresh process (lazy imports, oneDNN's kernel
    # generation) do not count as training time.
    step = 8 if len(ds.X_train) >= 80 * len(ds.classes) else 1  # keep ~10 images a class for the validation split
    small = dataclasses.replace(ds, X_train=ds.X_train[::step], y_train=ds.y_train[::step], X_test=ds.X_test[:512],
                                y_test=ds.y_test[:512])
    _contenders(small, 1)[name]()
    return _contenders(ds, epochs)[name]()


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cpu = cpu_info()
    load = None if args.skip_load else load_times(args.data, args.per_class)
    ds = hwr_eval.load_dataset(args.data, per_class=args.per_class)
    print(f"data: {ds.describe()}; {load}; CPU: {cpu}; {torch.get_num_threads()} threads", flush=True)
    contenders = _contenders(ds, args.epochs)
    if args.contenders:
        wanted = [c.strip() for c in args.contenders.split(",") if c.strip()]
        unknown = sorted(set(wanted) - set(contenders))
        if unknown:
            raise SystemExit(f"unknown contenders: {', '.join(unknown)}; choose from {', '.join(contenders)}")
        contenders = {name: run for name, run in contenders.items() if name in wanted}
    elif not cpu["native_bf16"]:  # emulated bf16 measures the emulation, not hwr-eval
        contenders = {name: run for name, run in contenders.items() if not name.endswith("bf16")}
    spawn = multiprocessing.get_context("spawn")
    runs: dict[str, list[dict]] = {name: [] for name in contenders}
    for round_ in range(args.rounds):  # interleaved, so drifting load on the machine hits all alike
        for name in contenders:
            load_1min = os.getloadavg()[0]
            with spawn.Pool(1) as pool:
                result = pool.apply(_run_contender, (name, args.data, args.per_class, args.epochs,
                                                     torch.get_num_threads()))
            result["load_average_1min"] = round(load_1min, 2)
            runs[name].append(result)
            print(f"[{round_ + 1}/{args.rounds}] {name}: fit {result['fit_s']:.1f} s, predict {result['predict_s']:.2f} s, "
                  f"accuracy {result['accuracy']:.4f}, load {load_1min:.1f}", flush=True)
    n_fit_rows = len(ds.X_train)
    training = {}
    for name, results in runs.items():
        fit_s = statistics.median(r["fit_s"] for r in results)
        fit_cpu_s = statistics.median(r["fit_cpu_s"] for r in results)
        predict_s = statistics.median(r["predict_s"] for r in results)
        training[name] = {
            "precision": name.rsplit(" ", 1)[1],
            **SETUPS[name.rsplit(" ", 1)[0]],
            "threads": torch.get_num_threads(),
            "fit_s": round(fit_s, 2),
            "fit_s_rounds": [round(r["fit_s"], 2) for r in results],
            "fit_cpu_s": round(fit_cpu_s, 2),
            "fit_cpu_s_rounds": [round(r["fit_cpu_s"], 2) for r in results],
            "train_images_per_s": round(args.epochs * n_fit_rows / fit_s),
            "predict_images_per_s": round(len(ds.X_test) / predict_s),
            "accuracy": round(statistics.median(r["accuracy"] for r in results), 4),
        }
    ratio_rounds, cpu_ratio_rounds = ({
        key: [round(b[field] / a[field], 3) for a, b in zip(runs[ours], runs[theirs], strict=True)]
        for key, (ours, theirs) in PAIRS.items() if ours in runs and theirs in runs
    } for field in ("fit_s", "fit_cpu_s"))
    loads = [r["load_average_1min"] for results in runs.values() for r in results]
    payload = {
        "benchmark": "speed",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": environment(),
        "cpu": cpu,
        "torch_threads": torch.get_num_threads(),
        "epochs": args.epochs,
        "rounds": args.rounds,
        "n_train_rows": n_fit_rows,
        "load_average_1min": {"median": round(statistics.median(loads), 2), "min": min(loads), "max": max(loads)},
        "training": training,
        "ratios": {key: round(statistics.median(values), 2) for key, values in ratio_rounds.items()},
        "ratio_rounds": ratio_rounds,
        "cpu_time_ratios": {key: round(statistics.median(values), 2) for key, values in cpu_ratio_rounds.items()},
        "cpu_time_ratio_rounds": cpu_ratio_rounds,
        "note": args.note,
        "load": load,
        "knn": knn_throughput(ds),
        "compare": None if args.skip_compare else compare_wall_time(args.data),
        "earlier_runs": _earlier_runs(args.out / "speed.json", cpu),
    }
    atomic_write_text(args.out / "speed.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "speed.md", markdown(payload))
    print(markdown(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
