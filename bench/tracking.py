"""What MLflow tracking adds to a run's time: a small ``compare`` with and without tracking.

Each run is a fresh Python process, as ``hwr-eval compare`` is: it loads the data, runs ``run_compare``
(models saved, report built) and, when tracked, calls ``check_tracking`` before training and
``track_run`` after it, the way the CLI's ``--track`` does, against a local MLflow server started here
(SQLite store, served artifacts) or a SQLite file (``--store sqlite``). Untracked and tracked runs
alternate, so that a busy machine slows both alike; the table shows every pair and the medians.

Tracking's own seconds (the check before training plus ``track_run``) are timed inside the tracked
process, so they do not include the machine's noise between runs; they are fixed per run and model
rather than proportional to training, so the results also relate them to a reference-size run: the
fit times of the same models in the reference setting of ``bench/results/accuracy.json``.

    python bench/tracking.py --data ../shared/data --repeats 2
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
    # The reference run's models (what a tracked reference run logs), trained briefly.
    parser.add_argument("--models", default="knn,logreg,cnn")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="pairs of runs (untracked, tracked)")
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
    start, cpu = time.perf_counter(), time.process_time()
    target = None
    if args.track:
        from hwr_eval.tracking import check_tracking

        target = check_tracking(args.track, "bench")
        times["check_s"], times["check_cpu_s"] = time.perf_counter() - start, time.process_time() - cpu
    dataset = load_dataset(args.data, per_class=args.per_class, seed=0)
    mark = time.perf_counter()
    run_compare(args.models.split(","), dataset, args.child, max_epochs=args.max_epochs, device="cpu",
                save_models=True, seed=0)
    times["compare_s"] = time.perf_counter() - mark
    if target is not None:
        from hwr_eval.tracking import track_run

        mark, cpu = time.perf_counter(), time.process_time()
        if track_run(args.child, target.uri, experiment=target.experiment) is None:
            raise SystemExit("tracking failed")
        times["track_s"], times["track_cpu_s"] = time.perf_counter() - mark, time.process_time() - cpu
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

    def cpu_s(self) -> float | None:
        """CPU seconds the server's processes have used so far (None without psutil)."""
        try:
            import psutil
        except ImportError:
            return None
        root = psutil.Process(self.process.pid)
        return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


def run_once(args: argparse.Namespace, folder: Path, uri: str | None, server: Server | None = None) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(folder), "--models", args.models, "--per-class", str(args.per_class),
               "--max-epochs", str(args.max_epochs)]
    command += ["--data", str(args.data.resolve())] if args.data else []
    command += ["--track", uri] if uri else []
    server_cpu = server.cpu_s() if server and uri else None
    start = time.perf_counter()
    # In the temporary folder: a SQLite store puts its artifacts in ./mlruns of the working directory.
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder.parent)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"run failed: {done.stderr[-2000:]}")
    result = {"wall_s": wall, **json.loads(done.stdout.strip().splitlines()[-1])}
    if server_cpu is not None:
        result["server_cpu_s"] = server.cpu_s() - server_cpu  # answering the check and the logging
    return result


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
                    result["tracked" if target else "untracked"] = run_once(args, tmp / f"run-{i}-{j}", target, server)
                pairs.append(result)
        finally:
            if server:
                server.stop()
    untracked = [p["untracked"]["wall_s"] for p in pairs]
    tracked = [p["tracked"]["wall_s"] for p in pairs]
    track = [p["tracked"]["track_s"] + p["tracked"]["check_s"] for p in pairs]
    summary = {
        "untracked_median_s": statistics.median(untracked), "tracked_median_s": statistics.median(tracked),
        "check_median_s": statistics.median(p["tracked"]["check_s"] for p in pairs),
        "track_median_s": statistics.median(p["tracked"]["track_s"] for p in pairs),
        "tracking_median_s": statistics.median(track),
        "overhead_pct": 100 * (statistics.median(tracked) - statistics.median(untracked)) / statistics.median(untracked),
        "tracking_share_pct": 100 * statistics.median(t / w for t, w in zip(track, tracked)),
    }
    if all("server_cpu_s" in p["tracked"] for p in pairs):
        # The work tracking costs, client and server, whatever else the machine runs meanwhile.
        summary["tracking_cpu_median_s"] = statistics.median(
            p["tracked"]["check_cpu_s"] + p["tracked"]["track_cpu_s"] + p["tracked"]["server_cpu_s"] for p in pairs)
    reference_fit = reference_fit_s(args.models.split(","))
    if reference_fit is not None:
        # A reference run takes longer than its fits: these shares are upper bounds.
        summary["reference_fit_s"] = reference_fit
        for key in ("tracking_median_s", "tracking_cpu_median_s"):
            if key in summary:
                share = 100 * summary[key] / (reference_fit + summary[key])
                summary[key.replace("tracking", "reference_share").replace("_median_s", "_pct")] = share
    payload = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("child", "track", "out")},
               "load_average": os.getloadavg(), "pairs": pairs, "summary": summary, "note": args.note}
    from hwr_eval.io import atomic_write_text

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "tracking.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "tracking.md", _markdown(payload))
    return payload


def reference_fit_s(models: list[str], results: Path = HERE / "results" / "accuracy.json") -> float | None:
    """Sum of the models' fit times in the reference setting of the accuracy benchmark (None if not all there)."""
    try:
        rows = json.loads(results.read_text())["rows"]
    except (OSError, ValueError, KeyError):
        return None
    fits = {row["model"]: row.get("fit_time_s") for row in rows if str(row.get("setting", "")).startswith("reference (")}
    if not all(isinstance(fits.get(model), (int, float)) for model in models):
        return None
    return float(sum(fits[model] for model in models))


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
        "| pair | untracked s | tracked s | of which check + track s | tracking share of the tracked run "
        "| CPU s of check + track (client + server) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for i, pair in enumerate(payload["pairs"], 1):
        t = pair["tracked"]
        cost = t["check_s"] + t["track_s"]
        work = (f"{t['check_cpu_s'] + t['track_cpu_s'] + t['server_cpu_s']:.1f} ({t['check_cpu_s'] + t['track_cpu_s']:.1f} + "
                f"{t['server_cpu_s']:.1f})" if "server_cpu_s" in t else "")
        lines.append(f"| {i} | {pair['untracked']['wall_s']:.1f} | {t['wall_s']:.1f} | {cost:.1f} | "
                     f"{100 * cost / t['wall_s']:.1f}% | {work} |")
    lines += [
        "",
        f"Medians: untracked {summary['untracked_median_s']:.1f} s, tracked {summary['tracked_median_s']:.1f} s; "
        f"check {summary['check_median_s']:.1f} s + track {summary['track_median_s']:.1f} s = "
        f"{summary['tracking_median_s']:.1f} s = **{summary['tracking_share_pct']:.1f}%** of this small tracked run "
        f"(difference of the medians: {summary['overhead_pct']:+.1f}%, which includes the machine's noise).",
        f"Load average during the benchmark: {', '.join(f'{x:.1f}' for x in payload['load_average'])}."
        + (f" {payload['note']}" if payload["note"] else ""),
        "",
    ]
    if "tracking_cpu_median_s" in summary:
        lines[-1:-1] = [
            f"The work itself, in CPU seconds of the tracked process and the server (what a quiet machine waits): "
            f"median {summary['tracking_cpu_median_s']:.1f} s.",
        ]
    if "reference_fit_s" in summary:
        work = (f"; its {summary['tracking_cpu_median_s']:.1f} CPU seconds, at most **{summary['reference_share_cpu_pct']:.1f}%**"
                if "reference_share_cpu_pct" in summary else "")
        lines[-1:-1] = [
            f"On a reference-size run (these models at the reference setting, whose fits alone take "
            f"{summary['reference_fit_s']:.0f} s on a quiet machine in [accuracy.md](accuracy.md)), tracking's "
            f"{summary['tracking_median_s']:.1f} s measured here would be at most {summary['reference_share_pct']:.1f}% of the "
            f"tracked run{work}.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
