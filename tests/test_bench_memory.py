"""bench/memory.py end to end on a tiny setting: the peak memory of a whole compare process, and its row."""

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("memory")


def test_memory_bench_measures_a_whole_compare_process(bench, real_data_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(bench.SETTINGS, "tiny", ["--classes", "digits", "--per-class", "30"])
    # An earlier, larger child of this process must not be taken for compare's peak.
    subprocess.run([sys.executable, "-c", "b = bytearray(2048 * 2**20); b[::4096] = b'x' * len(b[::4096])"], check=True)
    bench.main(["--data", str(real_data_dir), "--settings", "tiny", "--models", "knn", "--out", str(tmp_path)])
    row = json.loads((tmp_path / "memory.json").read_text())["rows"]["tiny"]
    # a Python process that imported torch and scikit-learn: well above 100 MiB, far below this machine's memory
    assert 100 < row["peak_mib"] < 2000
    assert row["n_classes"] == 10 and row["n_train"] == 10 * 19 and 0 < row["accuracy"]["knn"] <= 1
    assert "--classes digits --per-class 30" in row["command"] and "| tiny | 10 |" in (tmp_path / "memory.md").read_text()


def test_memory_bench_refuses_an_unknown_setting(bench, tmp_path):
    with pytest.raises(SystemExit, match="unknown setting 'huge'"):
        bench.main(["--data", str(tmp_path), "--settings", "huge", "--out", str(tmp_path)])
    assert not (tmp_path / "memory.json").exists()
