"""bench/dask_grid.py: the projection to more workers and the results table (the timing run is the lead's)."""

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def dask_grid():
    sys.path.insert(0, str(BENCH))
    import dask_grid

    yield dask_grid
    sys.path.remove(str(BENCH))


def test_projection_splits_fits_into_rounds_and_keeps_the_serial_part(dask_grid):
    # 24 fits of 2 s on 2 workers = 12 rounds = 24 s; the other 6 s of the 30 s run are serial.
    run = {"workers": 2, "wall_s": 30.0, "fit_s_mean": 2.0}
    rows = dask_grid.projection(run, 24, [1, 2, 5, 24, 48])
    assert [r["wall_s"] for r in rows] == [54.0, 30.0, 16.0, 8.0, 8.0]


def test_quick_flag_shrinks_the_run(dask_grid):
    args = dask_grid.parse_args(["--quick"])
    assert (args.per_class, args.max_epochs, args.workers, args.cv) == (15, 1, 2, 3)
    assert len(dask_grid.GRID["lr"]) * len(dask_grid.GRID["hidden"]) * len(dask_grid.GRID["pool"]) == 8
