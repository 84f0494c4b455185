"""What repeated training costs: ``compare --seeds N`` against one run, sequential and in parallel.

Each contender is a whole ``hwr-eval compare`` process on the same data (one network, ``--seeds 1`` or
``--seeds N``; the repeats one at a time, two joblib workers, or a local Dask cluster of two one-thread
workers). Contenders alternate within each round and the median over rounds is kept, so the ratios hold
on a shared machine. Results go to ``repeats.json`` / ``repeats.md`` in ``--out``.

    python bench/repeats.py --data ../shared/data --seeds 4 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hwr_eval.io import atomic_write_text

HERE = Path(__file__).resolve().parent


def contenders(seeds: int) -> dict[str, list[str]]:
    return {
        "one run": ["--seeds", "1"],
        # what a parallel worker gets: one fit on one core (parallel repeats can beat one-at-a-time only as far
        # as one fit leaves a core idle)
        "one run, 1 thread": ["--seeds", "1", "--threads", "1"],
        f"{seeds} runs, one at a time": ["--seeds", str(seeds), "--n-jobs", "1"],
        f"{seeds} runs, 2 joblib workers": ["--seeds", str(seeds), "--n-jobs", "2"],
        f"{seeds} runs, Dask local:2": ["--seeds", str(seeds), "--scheduler", "local:2"],
    }


def run_once(base: list[str], extra: list[str], workdir: Path) -> float:
    out = workdir / f"run-{time.monotonic_ns()}"
    env = dict(os.environ)
    if "--threads" in extra:  # PyTorch's intra-op threads, read when it starts
        at = extra.index("--threads")
        env["OMP_NUM_THREADS"] = extra[at + 1]
        extra = extra[:at] + extra[at + 2:]
    start = time.perf_counter()
    subprocess.run([*base, *extra, "--out", str(out)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA)")
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    # the reference data and a few epochs: each fit outweighs the process's start-up, data and report
    parser.add_argument("--per-class", type=int, default=2000)
    parser.add_argument("--max-epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    data_dir = args.data or os.environ.get("HWR_DATA")
    if not data_dir:
        raise SystemExit("no data: pass --data DIR or set HWR_DATA (this bench needs the real data)")
    base = [sys.executable, "-m", "hwr_eval", "compare", "--models", args.model, "--data", str(data_dir),
            "--per-class", str(args.per_class), "--max-epochs", str(args.max_epochs)]
    times: dict[str, list[float]] = {name: [] for name in contenders(args.seeds)}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, extra in contenders(args.seeds).items():
                times[name].append(run_once(base, extra, Path(tmp)))
                print(f"round {r + 1}: {name}: {times[name][-1]:.1f} s", flush=True)
            loads.append(os.getloadavg()[0])
    one = statistics.median(times["one run"])
    rows = [{"contender": name, "wall_s": t, "median_s": statistics.median(t),
             "ratio_to_one_run": statistics.median(t) / one} for name, t in times.items()]
    lines = ["| contender | median wall s | vs one run | rounds (s) |", "|---|---:|---:|---|"]
    lines += [f"| {r['contender']} | {r['median_s']:.1f} | {r['ratio_to_one_run']:.2f}x | "
              f"{', '.join(f'{t:.1f}' for t in r['wall_s'])} |" for r in rows]
    lines += ["", f"`hwr-eval compare --models {args.model} --per-class {args.per_class} --max-epochs {args.max_epochs}` "
              f"as whole processes (start-up, data, scoring and report included), {args.rounds} interleaved rounds; "
              f"{os.cpu_count()} cores; 1-minute load average over the rounds: {', '.join(f'{x:.1f}' for x in loads)}.",
              f"`python bench/repeats.py --data DIR --seeds {args.seeds} --rounds {args.rounds}`"]
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "repeats.json", json.dumps({"seeds": args.seeds, "rows": rows, "load": loads}, indent=1))
    atomic_write_text(args.out / "repeats.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
