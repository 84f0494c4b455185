"""bench/time_to_accuracy.py end to end on a tiny setting: per-seed fits logged, summarised and resumed."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::hwr_eval.models.FewStepsWarning")


@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("time_to_accuracy")


def test_time_to_accuracy_bench_summarises_every_seed_and_resumes(bench, real_data_dir, tmp_path):
    argv = ["--data", str(real_data_dir), "--candidates", "cnn,modern_late_pool_8", "--seeds", "2", "--per-class", "10",
            "--max-epochs", "1", "--threads", "1", "--out", str(tmp_path)]
    assert bench.main(argv) == 0
    log = (tmp_path / "time_to_accuracy-runs.jsonl").read_text()
    fits = [json.loads(line) for line in log.splitlines()]
    # seed-major: every candidate has seed 0 before any has seed 1
    assert [(f["label"], f["seed"]) for f in fits] == [("cnn", 0), ("modern_late_pool_8", 0), ("cnn", 1), ("modern_late_pool_8", 1)]
    rows = {r["candidate"]: r for r in json.loads((tmp_path / "time_to_accuracy.json").read_text())["rows"]}
    for label, row in rows.items():
        mine = [f for f in fits if f["label"] == label]
        assert row["accuracy_mean"] == pytest.approx(np.mean([f["accuracy"] for f in mine]))
        assert row["fit_s_sd"] == pytest.approx(np.std([f["fit_s"] for f in mine], ddof=1))
    median = {label: np.median([f["fit_s"] for f in fits if f["label"] == label]) for label in rows}
    assert rows["cnn"]["time_ratio"] == 1.0
    assert rows["modern_late_pool_8"]["time_ratio"] == pytest.approx(median["modern_late_pool_8"] / median["cnn"])
    assert "| modern_late_pool_8 |" in (tmp_path / "time_to_accuracy.md").read_text()
    # A rerun with the same settings trains nothing: the fits come back from the log.
    assert bench.main(argv) == 0
    assert (tmp_path / "time_to_accuracy-runs.jsonl").read_text() == log
    # A fit logged with another design (an older default) is not reused: that seed is trained again.
    fits[0]["design"]["max_epochs"] = "15"
    (tmp_path / "time_to_accuracy-runs.jsonl").write_text("".join(json.dumps(f) + "\n" for f in fits))
    assert bench.main(argv) == 0
    relogged = [json.loads(line) for line in (tmp_path / "time_to_accuracy-runs.jsonl").read_text().splitlines()]
    assert [(f["label"], f["seed"]) for f in relogged[4:]] == [("cnn", 0)]


def test_time_to_accuracy_bench_refuses_an_unknown_candidate(bench, tmp_path, capsys):
    assert bench.main(["--candidates", "cnn,resnet", "--out", str(tmp_path)]) == 2
    assert "unknown candidate 'resnet'" in capsys.readouterr().err and not any(tmp_path.iterdir())


def test_each_candidate_is_timed_against_the_study_cnn_in_its_own_precision(bench):
    def fit(label, precision, fit_s):
        return {"label": label, "precision": precision, "fit_s": fit_s, "accuracy": 0.9, "epochs": 8}

    fits = [fit("cnn", "bf16", 50.0), fit("modern_cnn", "bf16", 40.0),
            fit("cnn_fp32", "fp32", 100.0), fit("modern_cnn_fp32", "fp32", 60.0)]
    rows = {r["candidate"]: r for r in bench.summarise(fits, ["cnn", "modern_cnn", "cnn_fp32", "modern_cnn_fp32"])}
    assert rows["modern_cnn"]["time_ratio"] == pytest.approx(0.8)
    assert rows["modern_cnn_fp32"]["time_ratio"] == pytest.approx(0.6)
    assert rows["cnn_fp32"]["time_ratio"] == 1.0
    # On a CPU without native bf16 the default is fp32 too: both CNN rows are the fp32 baseline.
    fits[0]["precision"] = fits[1]["precision"] = "fp32"
    rows = {r["candidate"]: r for r in bench.summarise(fits, ["modern_cnn"])}
    assert rows["modern_cnn"]["time_ratio"] == pytest.approx(40.0 / 75.0)
    # No study CNN in a precision: no ratio, rather than one against the other precision.
    assert bench.summarise(fits[3:], ["modern_cnn_fp32"])[0]["time_ratio"] is None
