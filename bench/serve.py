"""Latency of ``hwr-eval serve``: one drawing answered by every model, through the real server.

Trains the models (default: knn, logreg and a cnn for 3 epochs) into a run folder with ``--save-models``,
starts ``hwr-eval serve`` on it as its own process, and sends the same canvas-like drawing (a 288x288 PNG
data URL, as the page sends it) ``--requests`` times, one after the other over one connection. Reports
the median and 95th percentile of the time from sending to the full answer, and the server's own time
(preprocessing and all models). Target: median <= 50 ms. Results go to ``serve.json`` and ``serve.md``
in ``--out``; ``--screenshot PATH`` also saves a picture of the page in headless Chromium.

Without ``--data`` the models train on the synthetic demo set (rendered fonts): enough for latency, which
depends on the models' sizes, not on what they learned; kNN's time grows with its training set (the
reference protocol's 2,000 images per class give it ~7x the rows of the demo set).

    python bench/serve.py --requests 200 --screenshot docs/serve.png
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
TARGET_MS = 50.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: the synthetic demo set)")
    parser.add_argument("--models", default="knn,logreg,cnn")
    parser.add_argument("--per-class", type=int, default=300, help="images per class (the demo set renders at most 300)")
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10, help="requests sent first and not counted")
    parser.add_argument("--run", type=Path, default=None, help="serve this run folder instead of training one")
    parser.add_argument("--screenshot", type=Path, default=None, help="also save a screenshot of the page (PNG)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    return parser.parse_args(argv)


def drawing_data_url() -> str:
    """A 7 drawn like on the page's canvas: black round-capped strokes on a white 288x288 square."""
    img = Image.new("L", (288, 288), 255)
    ImageDraw.Draw(img).line([(72, 58), (216, 58), (130, 245)], fill=0, width=18, joint="curve")
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def build_run(args, folder: Path) -> Path:
    from hwr_eval.data import load_dataset
    from hwr_eval.workflows import run_compare

    saved = os.environ.get("HWR_DATA")
    if args.data is None:
        os.environ["HWR_DATA"] = ""  # the synthetic demo set, whatever the environment names
    try:
        dataset = load_dataset(args.data, per_class=args.per_class, seed=0)
    finally:
        if saved is None:
            os.environ.pop("HWR_DATA", None)
        else:
            os.environ["HWR_DATA"] = saved
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    return run_compare(models, dataset, folder / "run", save_models=True, max_epochs=args.max_epochs, report=False,
                       n_resamples=100, seed=0)


def start_server(run: Path, collect: Path) -> tuple[subprocess.Popen, str, int]:
    """``hwr-eval serve RUN --collect DIR`` as its own process; returns it with its host and port."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"}
    process = subprocess.Popen([sys.executable, "-m", "hwr_eval", "serve", str(run), "--collect", str(collect)], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    found: list[str] = []
    ready = threading.Event()

    def reader():
        for line in process.stdout:
            if "serving" in line:
                found.append(line)
                ready.set()

    threading.Thread(target=reader, daemon=True).start()
    if not ready.wait(300):
        process.kill()
        raise RuntimeError(f"hwr-eval serve did not start: {process.stderr.read()}")
    address = found[0].split("http://", 1)[1].split("/", 1)[0]
    host, port = address.rsplit(":", 1)
    return process, host, int(port)


def measure(host: str, port: int, n: int, warmup: int) -> tuple[list[float], list[float], dict]:
    body = json.dumps({"image": drawing_data_url(), "context": "all"}).encode()
    connection = http.client.HTTPConnection(host, port, timeout=60)
    client_ms, server_ms, last, stages = [], [], {}, {}
    for i in range(warmup + n):
        start = time.perf_counter()
        connection.request("POST", "/api/predict", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
        elapsed = 1000 * (time.perf_counter() - start)
        if response.status != 200:
            raise RuntimeError(f"request {i}: HTTP {response.status}: {payload[:200]!r}")
        last = json.loads(payload)
        if i >= warmup:
            client_ms.append(elapsed)
            server_ms.append(float(last["elapsed_ms"]))
            for stage, ms in last["timings_ms"].items():
                stages.setdefault(stage, []).append(ms)
    connection.close()
    last["stage_median_ms"] = {stage: round(float(np.median(ms)), 2) for stage, ms in stages.items()}
    return client_ms, server_ms, last


def screenshot(url: str, path: Path) -> None:
    """The page after drawing a 7 with the mouse, in headless Chromium (Debian's package)."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("no Chromium found for --screenshot (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 640})
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")
        box = page.locator("#pad").bounding_box()
        page.mouse.move(box["x"] + 0.25 * box["width"], box["y"] + 0.2 * box["height"])
        page.mouse.down()
        for x, y in ((0.75, 0.2), (0.45, 0.85)):
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=12)
        page.mouse.up()
        page.wait_for_function("document.body.dataset.answered")
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))
        browser.close()


def main(argv=None) -> int:
    args = parse_args(argv)
    from hwr_eval.io import atomic_write_text
    from hwr_eval.runs import environment, read_record

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = args.run or build_run(args, Path(tmp))
        train_s = time.perf_counter() - start
        results_json = read_record(run).to_json()
        process, host, port = start_server(run, Path(tmp) / "collected")
        try:
            client_ms, server_ms, last = measure(host, port, args.requests, args.warmup)
            if args.screenshot is not None:
                screenshot(f"http://{host}:{port}/", args.screenshot)
        finally:
            process.terminate()
            process.wait(timeout=60)

    def pct(values, q):
        return round(float(np.percentile(values, q)), 2)

    summary = {"median_ms": pct(client_ms, 50), "p95_ms": pct(client_ms, 95), "mean_ms": round(statistics.fmean(client_ms), 2),
               "max_ms": round(max(client_ms), 2), "server_median_ms": pct(server_ms, 50), "server_p95_ms": pct(server_ms, 95),
               "target_ms": TARGET_MS, "meets_target": pct(client_ms, 50) <= TARGET_MS}
    data = results_json["data"]
    def shown(value):  # paths inside the checkout relative to it: the results name no machine's folders
        if not isinstance(value, Path):
            return value
        return os.path.relpath(value.resolve(), HERE.parent) if value.resolve().is_relative_to(HERE.parent) else str(value)

    results = {"settings": {k: shown(v) for k, v in vars(args).items()},
               "models": list(results_json["models"]), "synthetic": bool(data["synthetic"]),
               "n_train": int(sum(data["counts"]["train"].values())),
               "train_time_s": round(train_s, 1), "answer": [m["label"] for m in last["models"]],
               "stage_median_ms": last["stage_median_ms"], "load_average_1min": round(os.getloadavg()[0], 2),
               "latency": summary, "note": "one drawing per request, sequential, over one keep-alive connection; "
               "timings on a shared 2-core machine under other load", "environment": environment()}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "serve.json", json.dumps(results, indent=2) + "\n")
    stages = ", ".join(f"{k} {v:.1f}" for k, v in results["stage_median_ms"].items())
    md = ["| models | requests | median | 95th percentile | server's own median (ms per stage) | target (median) | load average |",
          "|---|---|---|---|---|---|---|",
          f"| {', '.join(results['models'])} | {args.requests} | {summary['median_ms']:.1f} ms | {summary['p95_ms']:.1f} ms | "
          f"{summary['server_median_ms']:.1f} ms ({stages}) | <= {TARGET_MS:.0f} ms: {'met' if summary['meets_target'] else 'MISSED'} | "
          f"{results['load_average_1min']} on {os.cpu_count()} cores |",
          "", f"Models trained on {'the SYNTHETIC demo set' if results['synthetic'] else 'real data'} "
          f"({results['n_train']} training images); {results['note']}."]
    atomic_write_text(args.out / "serve.md", "\n".join(md) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
