"""Summarise a mutmut run: mutants checked, killed and surviving per function, read from ``mutants/``.

    python bench/mutation_summary.py                      # the run in ./mutants, as JSON on stdout
    python bench/mutation_summary.py mutants --only 'hwr_eval.workflows._grid.*'
    python bench/mutation_summary.py --sample 'hwr_eval.workflows._compare.x_run_compare__*' 60
                                                          # names of a seeded random sample of mutants

mutmut keeps each mutant's last result (the test run's exit code) in ``mutants/**/*.py.meta``; mutants
never run (not named in the run) are left out. A timeout or an interrupted test run counts as killed:
the tests did not pass with the mutant in place.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import random
from collections import defaultdict
from pathlib import Path

#: mutmut's exit codes: 0 the tests passed (survived), 1 a test failed, 2 pytest was interrupted,
#: -24 (SIGXCPU) or -9 the CPU-time limit stopped it.
OUTCOME = {0: "survived", 1: "killed", 2: "killed", -24: "timeout", -9: "timeout"}


def mutant_names(mutants_dir: Path) -> dict[str, int | None]:
    """Every generated mutant and its last exit code (None: never run)."""
    names: dict[str, int | None] = {}
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        names.update(json.loads(meta.read_text())["exit_code_by_key"])
    return names


def sample(mutants_dir: Path, pattern: str, size: int, seed: int = 15) -> list[str]:
    """A reproducible random sample of the mutants matching ``pattern``, in mutmut's numbering order."""
    matching = sorted((n for n in mutant_names(mutants_dir) if fnmatch.fnmatch(n, pattern)),
                      key=lambda n: int(n.rsplit("_", 1)[1]))
    chosen = random.Random(seed).sample(matching, min(size, len(matching)))
    return sorted(chosen, key=lambda n: int(n.rsplit("_", 1)[1]))


def summarise(mutants_dir: Path, patterns: list[str]) -> dict:
    by_function: dict[str, dict[str, int]] = defaultdict(lambda: {"killed": 0, "timeout": 0, "survived": 0})
    survivors = []
    for name, code in mutant_names(mutants_dir).items():
        if code is None or (patterns and not any(fnmatch.fnmatch(name, p) for p in patterns)):
            continue
        outcome = OUTCOME.get(code)
        if outcome is None:
            raise SystemExit(f"{name}: unexpected exit code {code}; look at it with `mutmut show {name}`")
        by_function[name.rsplit("__mutmut_", 1)[0]][outcome] += 1
        if outcome == "survived":
            survivors.append(name)
    checked = sum(sum(counts.values()) for counts in by_function.values())
    survived = len(survivors)
    return {
        "checked": checked,
        "survived": survived,
        "survival_rate": round(survived / checked, 4) if checked else None,
        "by_function": dict(sorted(by_function.items())),
        "survivors": survivors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mutants_dir", nargs="?", default="mutants", type=Path)
    parser.add_argument("--only", nargs="*", default=[], help="fnmatch patterns of mutant names to count")
    parser.add_argument("--sample", nargs=2, metavar=("PATTERN", "N"), help="print N sampled mutant names")
    args = parser.parse_args()
    if not args.mutants_dir.is_dir():
        raise SystemExit(f"{args.mutants_dir}: no such folder; run `python -m mutmut run` first")
    if args.sample:
        print("\n".join(sample(args.mutants_dir, args.sample[0], int(args.sample[1]))))
        return
    print(json.dumps(summarise(args.mutants_dir, args.only), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
