"""Summarise a mutmut run (``mutants/**/*.meta``) into ``bench/results/mutation.json`` and a survivor list.

Usage (from the folder mutmut ran in)::

    python bench/mutation_summary.py PATTERN... [--out bench/results]

PATTERNs are the mutant-name globs given to ``mutmut run``; only those mutants are counted.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
from collections import Counter, defaultdict
from pathlib import Path

from mutmut.stats import status_by_exit_code


def collect(patterns: list[str], root: Path = Path("mutants")) -> dict[str, str]:
    """Status ("killed", "survived", "no tests", "timeout", ...) of every mutant matching ``patterns``."""
    status = {}
    for meta in root.rglob("*.meta"):
        for name, code in json.loads(meta.read_text()).get("exit_code_by_key", {}).items():
            if any(fnmatch.fnmatch(name, p) for p in patterns):
                status[name] = status_by_exit_code[code]
    return status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="+")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    status = collect(args.patterns)
    by_function: dict[str, Counter] = defaultdict(Counter)
    for name, s in status.items():
        by_function[name.split("__mutmut_")[0]][s] += 1
    totals = Counter(status.values())
    checked = sum(n for s, n in totals.items() if s != "not checked")
    survived = totals["survived"]
    payload = {
        "tool": "mutmut",
        "patterns": args.patterns,
        "totals": dict(totals),
        "checked": checked,
        "survival_rate": survived / checked if checked else None,
        "by_function": {f: dict(c) for f, c in sorted(by_function.items())},
        "survivors": sorted(n for n, s in status.items() if s == "survived"),
        "not_killed_other": sorted(n for n, s in status.items() if s not in ("killed", "survived")),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mutation.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps({k: payload[k] for k in ("totals", "checked", "survival_rate")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
