"""Shared plumbing of the GridSearchCV scripts: arguments, data, the search, the printout.

Only hwr-eval's API is used (``hwr_eval.load_dataset``, ``hwr_eval.make_model``,
``hwr_eval.workflows.configure_model``, ``hwr_eval.models.resolve_params``) and scikit-learn's
``GridSearchCV``, so each script reads as a plain example of how to search the study's parameters yourself.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from hwr_eval import load_dataset, make_model
from hwr_eval.io import atomic_path
from hwr_eval.models import check_model_params, resolve_params
from hwr_eval.workflows import configure_model

Grid = dict[str, list[Any]] | list[dict[str, list[Any]]]


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options shared by every baseline search."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=None,
                        help="data folder (default: $HWR_DATA, the cache, else the synthetic demo set)")
    parser.add_argument("--classes", default="36", help="36, digits, letters or 62 (default: 36)")
    parser.add_argument("--per-class", type=int, default=2000, help="images per class (default: 2000)")
    parser.add_argument("--split", default="random", help="random or writer (default: random)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, folds and models")
    parser.add_argument("--cv", type=int, default=3, help="stratified folds of the training split (default: 3)")
    parser.add_argument("--n-jobs", type=int, default=None, help="parallel fits (-1: all cores)")
    parser.add_argument("--max-epochs", type=int, default=None, help="epoch limit of the PyTorch models")
    parser.add_argument("--device", default=None, help="auto, cpu or cuda (PyTorch models)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny grid on a small subset (smoke test: seconds, not hours)")
    parser.add_argument("--out", type=Path, default=None, help="save cv_results_ as CSV here")
    args = parser.parse_args(argv)
    if args.cv < 2:  # StratifiedKFold needs two folds; say so before loading any data
        parser.error(f"--cv must be at least 2, got {args.cv}")
    if args.quick:
        args.per_class = min(args.per_class, 20)
        args.cv = 2
        args.max_epochs = 1 if args.max_epochs is None else args.max_epochs
    return args


def search(name: str, grid: Grid, args: argparse.Namespace, **fixed: Any) -> GridSearchCV:
    """Run ``GridSearchCV`` for model ``name`` on the training split; report the best on the test split.

    ``grid`` and ``fixed`` may use the registry's short parameter names (``lr``, ``hidden``, ...).
    """
    data = load_dataset(args.data, classes=args.classes, per_class=args.per_class, split=args.split, seed=args.seed)
    source = "SYNTHETIC demo data" if data.provenance.get("synthetic") else str(data.provenance.get("data_dir"))
    print(f"data: {source}; {len(data.y_train)} train / {len(data.y_val)} validation / {len(data.y_test)} test")

    # Run-wide settings go only where the model has them (kNN has no seed), as in ``hwr-eval compare``.
    model = configure_model(make_model(name), max_epochs=args.max_epochs, device=args.device, seed=args.seed,
                            params=fixed)
    check_model_params(model)
    grids = [grid] if isinstance(grid, dict) else grid
    param_grid = [resolve_params(model, g) for g in grids]
    n = sum(int(np.prod([len(v) for v in g.values()])) for g in param_grid)
    print(f"{name}: {n} candidates x {args.cv} folds")

    gs = GridSearchCV(model, param_grid, cv=StratifiedKFold(args.cv, shuffle=True, random_state=args.seed),
                      scoring="accuracy", n_jobs=args.n_jobs, refit=True, verbose=1)
    start = time.perf_counter()
    gs.fit(data.X_train, data.y_train)
    print(f"search took {time.perf_counter() - start:.1f} s")

    table = pd.DataFrame(gs.cv_results_).sort_values("rank_test_score", kind="stable")
    cols = [c for c in table.columns if c.startswith("param_")] + ["mean_test_score", "std_test_score"]
    print(table[cols].head(10).to_string(index=False))
    if args.out is not None:
        with atomic_path(args.out) as tmp:  # never a half-written CSV
            table.to_csv(tmp, index=False)
        print(f"cv_results_ saved to {args.out}")
    print(f"best: {gs.best_params_}  (cv accuracy {gs.best_score_:.4f})")
    print(f"test accuracy of the refitted best model: {gs.score(data.X_test, data.y_test):.4f}")
    return gs


def main(name: str, grid: Grid, quick: Grid, description: str | None) -> None:
    """Script entry point: parse the options, search, and turn bad input into one line (exit 2)."""
    from hwr_eval import HwrError

    args = parse_args(description)
    try:
        search(name, quick if args.quick else grid, args)
    except (HwrError, ValueError) as exc:  # ValueError: scikit-learn's checks, e.g. more folds than samples
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
