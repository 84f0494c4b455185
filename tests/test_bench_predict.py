"""bench/predict_files.py runs end to end on a tiny setting and writes the table the README shows."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "predict_files.py"


def test_predict_files_bench_writes_one_row_per_model(real_data_dir, tmp_path):
    spec = importlib.util.spec_from_file_location("predict_files_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--data", str(real_data_dir), "--models", "knn,knn-deskew", "--per-class", "20", "--images", "12",
                "--lines", "2", "--out", str(tmp_path)])
    payload = json.loads((tmp_path / "predict_files.json").read_text())
    assert [r["model"] for r in payload["rows"]] == ["knn", "knn-deskew"]
    for row in payload["rows"]:
        assert 0 <= row["accuracy_files"] <= 1 and 0 <= row["accuracy_arrays"] <= 1
        assert row["difference_points"] == round(100 * (row["accuracy_files"] - row["accuracy_arrays"]), 2)
    assert (tmp_path / "predict_files.md").read_text().count("\n| ") == 2
