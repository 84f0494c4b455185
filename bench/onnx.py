"""Inference speed: eager scikit-learn / PyTorch against ONNX Runtime, same process, same models, interleaved.

For every model (default: logreg, knn and the networks linear, mlp, cnn, lenet5, modern_cnn) it measures

* **batch-1 latency** (one 28x28 image, as ``hwr-eval serve`` answers a drawing): median and 95th
  percentile over ``--calls`` calls;
* **batch throughput** (``--batch`` images, default 10,000, as ``hwr-eval predict`` on a folder or a
  whole test set): images per second, median of ``--repeats`` calls;

for four ways to run the same fitted model:

* ``model``: the model's own ``predict_proba`` (pixel checks and scaling, then skorch / scikit-learn). For
  batch 1 its networks predict with batch size 1, as ``hwr-eval serve`` sets them: by default a network
  pads every inference batch to its training batch size (512 rows for the study's nets), so that one image
  costs 512 rows' work (``--padded`` also times that default, over 10 calls);
* ``bare``: the fitted classifier alone on already scaled rows (the PyTorch module under
  ``torch.inference_mode`` with softmax, or scikit-learn's ``predict_proba``): the least Python there is;
* ``onnx``: the exported file's ``InferenceSession.run`` on raw pixels (scaling included);
* ``onnx_adapter``: :class:`hwr_eval.models.OnnxClassifier` (the model's pixel checks, then ``run``), what
  ``predict --model NAME.onnx`` and ``serve --onnx`` call.

The variants take turns call by call (interleaved), so load from other processes falls on all of them
alike; PyTorch, BLAS and ONNX Runtime each get ``--threads`` threads. Every export is also checked against
the model on the batch (largest probability difference, argmax agreement). Models are trained here for a
few epochs (``--data``; without it the synthetic demo set) or read from a run folder (``--run``).

    python bench/onnx.py --data ../shared/data            # ~4 minutes on 2 busy cores
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# This file is named onnx.py: with its own folder first on sys.path, `import onnx` would find it instead of
# the package. Drop that folder, and put the checkout first so hwr_eval runs without installing.
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

NETWORKS = ("linear", "mlp", "cnn", "lenet5", "modern_cnn")
VARIANTS = ("model", "bare", "onnx", "onnx_adapter")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: the synthetic demo set)")
    parser.add_argument("--run", type=Path, default=None, help="time the saved models of this run folder instead")
    parser.add_argument("--models", default="logreg,knn," + ",".join(NETWORKS))
    parser.add_argument("--per-class", type=int, default=100, help="images per class to train on")
    parser.add_argument("--max-epochs", type=int, default=2)
    parser.add_argument("--calls", type=int, default=100, help="batch-1 calls per variant")
    parser.add_argument("--batch", type=int, default=10_000, help="images per throughput call")
    parser.add_argument("--repeats", type=int, default=2, help="throughput calls per variant")
    parser.add_argument("--padded", action="store_true", help="also time batch 1 with the networks' default padding")
    parser.add_argument("--threads", type=int, default=1, help="threads for PyTorch, BLAS and ONNX Runtime")
    # fp32 by default: an ONNX file computes in fp32, so eager bf16 (the default on CPUs with native bf16)
    # would compare another precision, and its probabilities differ from the file's by up to ~1e-3.
    parser.add_argument("--precision", choices=("fp32", "auto"), default="fp32", help="the networks' precision")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    return parser.parse_args(argv)


def load_models(args):
    """``{name: fitted model}`` and held-out raw pixel rows (uint8)."""
    from hwr_eval.data import load_dataset
    from hwr_eval.runs import open_run

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.run is not None:
        folder = open_run(args.run)
        names = [n for n in names if n in folder.record.models and folder.record.models[n].files.get("model")]
        return {n: folder.load_model(n) for n in names}, folder.X_test, f"run {args.run}"
    from hwr_eval.models import make_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load_dataset(args.data, per_class=args.per_class, seed=0)
        models = {}
        for name in names:
            params = {} if name == "knn" else {"max_iter": 200} if name == "logreg" else \
                {"max_epochs": args.max_epochs, "random_state": 0, "patience": None, "precision": args.precision}
            start = time.perf_counter()
            models[name] = make_model(name, **params).fit(dataset.X_train, dataset.y_train)
            print(f"trained {name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    source = f"{'synthetic demo set' if dataset.synthetic else args.data}, {args.per_class} images per class, " \
             f"{len(dataset.X_train):,} training images, networks {args.max_epochs} epochs in {args.precision}"
    return models, dataset.X_test, source


def single_row(model):
    """A copy of ``model`` whose networks predict one row as one row, as ``hwr-eval serve`` sets them."""
    from hwr_eval.models import HwrNet

    if not any(isinstance(step, HwrNet) for _, step in model.steps):
        return model
    model = copy.deepcopy(model)
    for _, step in model.steps:
        if isinstance(step, HwrNet):
            step.set_params(batch_size=1)
    return model


def variants(model, threads: int):
    """The four callables on raw pixel rows, plus the export's session and time."""
    import onnxruntime as ort
    import torch

    from hwr_eval.models import HwrNet, OnnxClassifier, to_onnx

    start = time.perf_counter()
    proto = to_onnx(model)
    export_s = time.perf_counter() - start
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(proto.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
    adapter = OnnxClassifier(proto, threads=threads)
    scaler, clf = model[0], model[-1]
    if isinstance(clf, HwrNet):
        module = clf.module_.eval()

        def bare(X):
            with torch.inference_mode():
                return torch.softmax(module(torch.from_numpy(scaler.transform(X))), dim=1).numpy()
    else:
        def bare(X):
            return clf.predict_proba(scaler.transform(X))
    calls = {"model": model.predict_proba, "bare": bare,
             "onnx": lambda X: session.run(["probabilities"], {"pixels": X.astype(np.float32, copy=False)})[0],
             "onnx_adapter": adapter.predict_proba}
    return calls, export_s


def interleaved(calls: dict, inputs: list, rounds: int) -> dict:
    """Seconds per call of each variant: they take turns, rotating who goes first."""
    names = list(calls)
    times = {name: [] for name in names}
    for k in range(rounds):
        X = inputs[k % len(inputs)]
        order = names[k % len(names):] + names[:k % len(names)]
        for name in order:
            start = time.perf_counter()
            calls[name](X)
            times[name].append(time.perf_counter() - start)
    return times


def bench_model(name: str, model, X_test: np.ndarray, args) -> dict:
    calls, export_s = variants(model, args.threads)
    rng = np.random.default_rng(0)
    batch = X_test[rng.integers(0, len(X_test), args.batch)].astype(np.float32)
    # Agreement on the batch (the tests demand <= 1e-4 and 100%).
    expected, got = model.predict_proba(batch), calls["onnx"](batch)
    singles = [batch[i:i + 1] for i in range(min(args.calls, len(batch)))]
    padded = None
    if args.padded and single_row(model) is not model:  # a model with a network
        padded = 1000 * float(np.median(interleaved({"model": model.predict_proba}, singles[:10], 10)["model"]))
    one_row = {**calls, "model": single_row(model).predict_proba}
    interleaved(one_row, singles[:10], 10)  # warm-up: first calls allocate and pick kernels
    latency = interleaved(one_row, singles, args.calls)
    throughput = interleaved(calls, [batch], args.repeats)
    row = {"model": name, "export_s": round(export_s, 2),
           "max_proba_diff": float(np.abs(got - expected).max()),
           "argmax_agreement": float((got.argmax(1) == expected.argmax(1)).mean()),
           "model_padded_median_ms": None if padded is None else round(padded, 3)}
    for variant in VARIANTS:
        ms = 1000 * np.asarray(latency[variant])
        row[f"{variant}_median_ms"] = round(float(np.median(ms)), 3)
        row[f"{variant}_p95_ms"] = round(float(np.percentile(ms, 95)), 3)
        row[f"{variant}_images_per_s"] = round(args.batch / float(np.median(throughput[variant])))
    return row


def markdown(payload: dict) -> str:
    rows = payload["rows"]
    lines = ["Batch-1 latency (median / 95th percentile, ms; the networks' predict_proba with batch size 1, as "
             "`hwr-eval serve` sets it):", "",
             "| model | model's predict_proba | bare module | ONNX Runtime | OnnxClassifier | speed-up (median, model -> ONNX) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[f'{v}_median_ms']:.2f} / {r[f'{v}_p95_ms']:.2f}" for v in VARIANTS]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + f" | {r['model_median_ms'] / r['onnx_median_ms']:.1f}x |")
    padded = [f"{r['model']} {r['model_padded_median_ms']:.1f} ms" for r in rows if r["model_padded_median_ms"] is not None]
    if padded:
        lines += ["", "With the default inference batch (one image padded to the training batch size; what `hwr-eval "
                  "predict` does, median of 10 calls): " + ", ".join(padded) + "."]
    lines += ["", f"Batch-{payload['batch']:,} throughput (images per second, median of {payload['repeats']} calls):", "",
              "| model | model's predict_proba | bare module | ONNX Runtime | OnnxClassifier | speed-up (model -> ONNX) "
              "| export (s) | max probability difference | argmax agreement |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[f'{v}_images_per_s']:,}" for v in VARIANTS]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + f" | {r['onnx_images_per_s'] / r['model_images_per_s']:.1f}x "
                     f"| {r['export_s']:.1f} | {r['max_proba_diff']:.1e} | {100 * r['argmax_agreement']:.0f}% |")
    env = payload["environment"]
    lines += ["", f"Models: {payload['source']}. {payload['threads']} thread(s) each for PyTorch, BLAS and ONNX Runtime; "
              f"variants interleaved call by call; {payload['calls']} batch-1 calls. {env['cpu']}, {env['cores']} cores; "
              f"load average {payload['load_average_start']:.1f} at the start and {payload['load_average_end']:.1f} at the "
              f"end (other work was running on the machine). torch {env['torch']}, onnxruntime {env['onnxruntime']}, "
              f"scikit-learn {env['sklearn']}."
              + (f" The bench took {payload['cpu_s']:.0f} s of CPU ({payload['wall_s']:.0f} s on the clock)."
                 if payload.get("cpu_s") is not None else ""), ""]
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import onnxruntime
    import sklearn
    import torch
    from threadpoolctl import threadpool_limits

    from hwr_eval.io import atomic_write_text
    from hwr_eval.runs import environment

    torch.set_num_threads(args.threads)
    load_start, wall_start = os.getloadavg()[0], time.perf_counter()
    with threadpool_limits(limits=args.threads):
        models, X_test, source = load_models(args)
        rows = []
        for name, model in models.items():
            rows.append(bench_model(name, model, X_test, args))
            r = rows[-1]
            print(f"{name}: batch 1 {r['model_median_ms']:.2f} ms -> ONNX {r['onnx_median_ms']:.2f} ms; batch "
                  f"{args.batch}: {r['model_images_per_s']:,} -> {r['onnx_images_per_s']:,} images/s", file=sys.stderr)
    payload = {"source": source, "threads": args.threads, "calls": args.calls, "batch": args.batch,
               "repeats": args.repeats, "load_average_start": load_start, "load_average_end": os.getloadavg()[0],
               "cpu_s": round(time.process_time(), 1), "wall_s": round(time.perf_counter() - wall_start, 1),
               "environment": {"cpu": environment(device="cpu")["device_name"], "cores": os.cpu_count(),
                               "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                               "sklearn": sklearn.__version__},
               "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "onnx.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "onnx.md", markdown(payload))
    print(markdown(payload))
    return payload


if __name__ == "__main__":
    main()
