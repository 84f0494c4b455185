"""Peak memory of whole ``hwr-eval compare`` runs, as the operating system counts it.

Each setting runs ``hwr-eval compare`` in its own process (the default models, or ``--models``) and
reads that process's peak resident set size from ``wait4`` once it has ended: the largest single process,
which is the whole run when it trains in one process (``--n-jobs 1``, no Dask).
The settings: the reference protocol (36 classes, at most 2,000 per class) and all the data
(``--classes 62 --per-class 0``: every MNIST digit and every NIST letter, upper- and lowercase).
Results go to ``memory.json`` and ``memory.md`` in ``--out``.

    python bench/memory.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hwr_eval.io import atomic_write_text
from hwr_eval.runs import environment, read_record

HERE = Path(__file__).resolve().parent
#: setting name -> the compare options that make it
SETTINGS = {
    "reference": ["--classes", "36", "--per-class", "2000"],
    "all data": ["--classes", "62", "--per-class", "0"],
}
BUDGET_MIB = 2048  # what a run on all the data may take: a laptop with 8 GB runs it beside everything else


def run_compare(data: Path, options: list[str], models: str | None, extra: list[str]) -> dict:
    """One ``hwr-eval compare`` in a child process: its wall time, peak memory and accuracies."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        command = [sys.executable, "-m", "hwr_eval", "compare", "--data", str(data), *options, "--out", str(out), *extra]
        if models:
            command += ["--models", models]
        start = time.perf_counter()
        with open(Path(tmp) / "output.txt", "w+") as output:
            child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
            # wait4 gives this child's own resource usage, whatever other children this process had
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            output.seek(0)
            tail = output.read().strip().splitlines()[-1:]
        wall = time.perf_counter() - start
        if child.returncode != 0:
            raise SystemExit(f"compare failed ({child.returncode}): {tail}")
        record = read_record(out)
    return {
        "command": " ".join(["hwr-eval", *command[3:]]).replace(str(out), "RUN"),
        "peak_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "wall_s": round(wall, 1),
        "n_train": sum(record.data["counts"]["train"].values()),
        "n_classes": len(record.data["classes"]),
        "accuracy": {name: round(m.metrics["accuracy"], 4) for name, m in record.models.items()},
    }


def markdown(payload: dict) -> str:
    lines = ["| data | classes | training images | peak memory | under 2 GiB | wall time | accuracy |",
             "|---|---|---|---|---|---|---|"]
    for name, row in payload["rows"].items():
        accuracy = ", ".join(f"{m} {a:.2%}" for m, a in row["accuracy"].items())
        ok = "yes" if row["peak_mib"] <= BUDGET_MIB else "**no**"
        lines.append(f"| {name} | {row['n_classes']} | {row['n_train']} | {row['peak_mib']:.0f} MiB | {ok} | "
                     f"{row['wall_s']:.0f} s | {accuracy} |")
    lines += ["", "Peak resident memory of the whole `hwr-eval compare` process (wait4 on the finished child; "
              f"one process: no worker processes). {payload['machine']}. Commands:", ""]
    lines += [f"- {name}: `{row['command']}`" for name, row in payload["rows"].items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA)")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="which settings, smallest first")
    parser.add_argument("--models", default=None, help="compare's models (default: compare's own)")
    parser.add_argument("--max-epochs", type=int, default=None, help="override the networks' epochs (smoke tests)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    data = args.data or os.environ.get("HWR_DATA")
    if not data:
        raise SystemExit("no data: pass --data DIR or set HWR_DATA (this bench needs the real data)")
    names = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        raise SystemExit(f"unknown setting {unknown[0]!r}; choose from {', '.join(SETTINGS)}")
    extra = [] if args.max_epochs is None else ["--set", f"max_epochs={args.max_epochs}"]
    rows = {}
    for name in names:
        rows[name] = run_compare(Path(data), SETTINGS[name], args.models, extra)
        print(f"{name}: peak {rows[name]['peak_mib']:.0f} MiB, {rows[name]['wall_s']:.0f} s", flush=True)
    payload = {"rows": rows, "budget_mib": BUDGET_MIB, "environment": environment("cpu"),
               "machine": f"{os.cpu_count()} cores, shared with other jobs"}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "memory.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "memory.md", markdown(payload))
    print((args.out / "memory.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
