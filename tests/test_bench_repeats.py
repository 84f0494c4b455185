"""bench/repeats.py end to end on a tiny setting: every contender runs as a whole compare and gets its row."""

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def repeats():
    sys.path.insert(0, str(BENCH))
    import repeats

    yield repeats
    sys.path.remove(str(BENCH))


def test_every_contender_runs_and_is_set_against_one_run(repeats, real_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "cache"))
    repeats.main(["--data", str(real_data_dir), "--model", "mlp", "--seeds", "2", "--rounds", "1", "--per-class", "10",
                  "--max-epochs", "1", "--out", str(tmp_path)])
    payload = json.loads((tmp_path / "repeats.json").read_text())
    rows = {r["contender"]: r for r in payload["rows"]}
    assert list(rows) == list(repeats.contenders(2))  # the Dask contender too: a failed compare would raise
    one = rows["one run"]["median_s"]
    for r in rows.values():
        assert len(r["wall_s"]) == 1 and r["ratio_to_one_run"] == pytest.approx(r["median_s"] / one)
    table = (tmp_path / "repeats.md").read_text()
    assert all(f"| {name} |" in table for name in rows)
