"""The benchmark scripts run end to end on a tiny setting and write what the README summarises."""

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench_modules():
    sys.path.insert(0, str(BENCH))
    import accuracy
    import speed

    yield accuracy, speed
    sys.path.remove(str(BENCH))


def test_accuracy_bench_writes_rows_for_each_setting(bench_modules, real_data_dir, tmp_path):
    accuracy, _ = bench_modules
    accuracy.main(["--data", str(real_data_dir), "--rows", "reference,mnist,usps", "--models", "knn,linear",
                   "--digit-models", "knn", "--per-class", "20", "--max-epochs", "1", "--out", str(tmp_path)])
    payload = json.loads((tmp_path / "accuracy.json").read_text())
    settings = [(r["setting"], r["model"]) for r in payload["rows"]]
    assert settings == [(accuracy.LABELS["reference"], "knn"), (accuracy.LABELS["reference"], "linear"),
                        (accuracy.LABELS["mnist"], "knn"), ("usps (trained on MNIST)", "knn")]
    # kNN on 12 training images per class is far above chance (1/36, 1/10) on every row it has; USPS read
    # with inverted polarity would score below chance (3.7% on 1,000 USPS digits for a kNN on MNIST).
    knn = {r["setting"]: r["accuracy"] for r in payload["rows"] if r["model"] == "knn"}
    assert knn[accuracy.LABELS["reference"]] > 3 / 36
    assert knn[accuracy.LABELS["mnist"]] > 0.3 and knn["usps (trained on MNIST)"] > 0.3
    assert payload["rows"][-1]["n_test"] == 9298  # every USPS digit
    assert set(payload["letters_per_class"]) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    table = (tmp_path / "accuracy.md").read_text()
    assert table.count("\n| ") == len(settings)  # one line per row below the header
    study_column = [line.split("|")[4].strip() for line in table.splitlines()[2:2 + len(settings)]]
    assert study_column == ["", "77%", "", ""]  # the study's number only beside its own reference model
    # Issue 10: abstention, calibration and context per model, and their table for the reference rows.
    reference = [r for r in payload["rows"] if r["setting"] == accuracy.LABELS["reference"]]
    for r in reference:
        assert 0 <= r["aurc"] <= 1 and 0 <= r["coverage_at_target_risk"] <= 1 and r["target_risk"] == 0.01
        assert r["ece_before"] >= 0 and r["ece_after"] >= 0 and r["temperature"] > 0
        assert r["accuracy_with_context"] >= 0
    reliability = (tmp_path / "reliability.md").read_text()
    assert [line.split("|")[1].strip() for line in reliability.splitlines() if line.startswith("| ")][1:] == [
        "knn", "linear"]


def test_speed_bench_compares_each_precision_with_plain_skorch_at_that_precision(bench_modules, real_data_dir, tmp_path):
    _, speed = bench_modules
    pair = ("hwr-eval fp32", "plain skorch fp32")
    speed.main(["--data", str(real_data_dir), "--epochs", "1", "--rounds", "1", "--per-class", "20", "--skip-compare",
                "--contenders", ",".join(pair), "--out", str(tmp_path), "--note", "shared machine"])
    payload = json.loads((tmp_path / "speed.json").read_text())
    training = payload["training"]
    assert set(training) == set(pair)
    for record in training.values():
        assert record["precision"] == "fp32" and len(record["fit_s_rounds"]) == 1
        assert {"batching", "memory_format", "threads"} <= set(record)
    key = next(k for k, contenders in speed.PAIRS.items() if tuple(contenders) == pair)
    ours, theirs = (training[name]["fit_s"] for name in pair)
    # plain skorch's time over ours; the recorded times are rounded to 0.01 s, the ratio to 0.01
    rounding = theirs / ours * (0.005 / ours + 0.005 / theirs) + 0.005
    assert payload["ratios"][key] == pytest.approx(theirs / ours, abs=rounding)
    assert payload["load"]["cached_load_s"] < payload["load"]["cold_load_s"]
    assert {"vector_extensions", "native_bf16", "default_precision"} <= set(payload["cpu"])
    assert "shared machine" in (tmp_path / "speed.md").read_text()


def test_robustness_bench_writes_clean_mca_and_rotation(real_data_dir, tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import robustness
    finally:
        sys.path.remove(str(BENCH))
    robustness.main(["--data", str(real_data_dir), "--configs", "cnn+affine", "--per-class", "10",
                     "--max-epochs", "1", "--out", str(tmp_path)])
    payload = json.loads((tmp_path / "robustness.json").read_text())
    record = payload["configs"]["cnn+affine"]["robustness"]
    assert payload["configs"]["cnn+affine"]["augment"] == "affine"
    assert 0 <= record["mca"] <= 1 and len(record["rotation"]) == 13 and len(record["per_corruption"]) == 17
    text = (tmp_path / "robustness.md").read_text()
    assert "| cnn+affine |" in text and "shared with other jobs" in text
