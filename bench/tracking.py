"""What MLflow tracking adds to a run's time: a small ``compare`` with and without tracking.

Each run is a fresh Python process, as ``hwr-eval compare`` is: it loads the data, runs ``run_compare``
(models saved, report built) and, when tracked, calls ``check_tracking`` before training and
``track_run`` after it, the way the CLI's ``--track`` does, against a local MLflow server started here
(SQLite store, served artifacts) or a SQLite file (``--store sqlite``). Untracked and tracked runs
alternate, so that a busy machine slows both alike; the table shows every pair and the medians.

    python bench/tracking.py --data ../shared/data --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA, else synthetic)")
    parser.add_argument("--models", default="knn,logreg,mlp")
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--max-epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="pairs of runs (untracked, tracked)")
    parser.add_argument("--store", choices=("server", "sqlite"), default="server", help="where the tracked runs go")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--note", default="", help="recorded with the results, e.g. that the machine was shared")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)  # run folder of one run
    parser.add_argument("--track", default=None, help=argparse.SUPPRESS)  # tracking URI of one run
    return parser.parse_args(argv)


def child(args: argparse.Namespace) -> dict:
    """One run in this process; returns the seconds each part took."""
    from hwr_eval.data import load_dataset
    from hwr_eval.workflows import run_compare

    times = {}
    start = time.perf_counter()
    target = None
    if args.track:
        from hwr_eval.tracking import check_tracking

        target = check_tracking(args.track, "bench")
        times["check_s"] = time.perf_counter() - start
    dataset = load_dataset(args.data, per_class=args.per_class, seed=0)
    mark = time.perf_counter()
    run_compare(args.models.split(","), dataset, args.child, max_epochs=args.max_epochs, device="cpu",
                save_models=True, seed=0)
    times["compare_s"] = time.perf_counter() - mark
    if target is not None:
        from hwr_eval.tracking import track_run

        mark = time.perf_counter()
        if track_run(args.child, target.uri, experiment=target.experiment) is None:
            raise SystemExit("tracking failed")
        times["track_s"] = time.perf_counter() - mark
    times["in_process_s"] = time.perf_counter() - start
    return times


class Server:
    """A local ``mlflow server`` (own process group), stopped with :meth:`stop`."""

    def __init__(self, folder: Path):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.uri = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                   "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination", str(folder / "artifacts")]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        for _ in range(600):
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise SystemExit("mlflow server did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


def run_once(args: argparse.Namespace, folder: Path, uri: str | None) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(folder), "--models", args.models, "--per-class", str(args.per_class),
               "--max-epochs", str(args.max_epochs)]
    command += ["--data", str(args.data.resolve())] if args.data else []
    command += ["--track", uri] if uri else []
    start = time.perf_counter()
    # In the temporary folder: a SQLite store puts its artifacts in ./mlruns of the working directory.
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder.parent)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"run failed: {done.stderr[-2000:]}")
    return {"wall_s": wall, **json.loads(done.stdout.strip().splitlines()[-1])}


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args)))
        return {}
    args.data = args.data or (Path(os.environ["HWR_DATA"]) if os.environ.get("HWR_DATA") else None)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    pairs = []
    with tempfile.TemporaryDirectory(prefix="hwr-bench-tracking-") as tmp:
        tmp = Path(tmp)
        server = Server(tmp / "server") if args.store == "server" else None
        uri = server.uri if server else f"sqlite:///{tmp / 'mlflow.db'}"
        try:
            for i in range(args.repeats):
                order = (None, uri) if i % 2 == 0 else (uri, None)  # alternate which goes first
                result = {}
                for j, target in enumerate(order):
                    result["tracked" if target else "untracked"] = run_once(args, tmp / f"run-{i}-{j}", target)
                pairs.append(result)
        finally:
            if server:
                server.stop()
    untracked = [p["untracked"]["wall_s"] for p in pairs]
    tracked = [p["tracked"]["wall_s"] for p in pairs]
    track = [p["tracked"]["track_s"] + p["tracked"]["check_s"] for p in pairs]
    summary = {
        "untracked_median_s": statistics.median(untracked), "tracked_median_s": statistics.median(tracked),
        "tracking_median_s": statistics.median(track),
        "overhead_pct": 100 * (statistics.median(tracked) - statistics.median(untracked)) / statistics.median(untracked),
        "tracking_share_pct": 100 * statistics.median(t / w for t, w in zip(track, tracked)),
    }
    payload = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("child", "track", "out")},
               "load_average": os.getloadavg(), "pairs": pairs, "summary": summary, "note": args.note}
    from hwr_eval.io import atomic_write_text

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "tracking.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "tracking.md", _markdown(payload))
    return payload


def _markdown(payload: dict) -> str:
    s, summary = payload["settings"], payload["summary"]
    lines = [
        "# MLflow tracking overhead",
        "",
        f"`python bench/tracking.py` — `compare --models {s['models']} --per-class {s['per_class']} --max-epochs "
        f"{s['max_epochs']} --save-models` on {s['data'] or 'the synthetic set'}, each run a fresh process; tracked runs "
        f"go to {'a local MLflow server' if s['store'] == 'server' else 'a SQLite file'} (check before training, "
        "`track_run` after: parent run, one run per model with its training curves, confusion matrix and "
        "scikit-learn-flavour model). Untracked and tracked runs alternate.",
        "",
        "| pair | untracked s | tracked s | of which check + track s | tracking share of the tracked run |",
        "|---:|---:|---:|---:|---:|",
    ]
    for i, pair in enumerate(payload["pairs"], 1):
        t = pair["tracked"]
        cost = t["check_s"] + t["track_s"]
        lines.append(f"| {i} | {pair['untracked']['wall_s']:.1f} | {t['wall_s']:.1f} | {cost:.1f} | {100 * cost / t['wall_s']:.1f}% |")
    lines += [
        "",
        f"Medians: untracked {summary['untracked_median_s']:.1f} s, tracked {summary['tracked_median_s']:.1f} s; "
        f"check + track {summary['tracking_median_s']:.1f} s = **{summary['tracking_share_pct']:.1f}%** of a tracked run "
        f"(difference of the medians: {summary['overhead_pct']:+.1f}%, which includes the machine's noise).",
        f"Load average during the benchmark: {', '.join(f'{x:.1f}' for x in payload['load_average'])}."
        + (f" {payload['note']}" if payload["note"] else ""),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
