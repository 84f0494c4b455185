"""bench/onnx.py runs end to end on a tiny setting and writes the tables docs/export.md shows."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "onnx.py"


@pytest.mark.filterwarnings("ignore::hwr_eval.models.FewStepsWarning")
def test_onnx_bench_times_every_variant_and_checks_agreement(synthetic_env, tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is missing: install the test tools (pip install -e '.[dev]')")
    pytest.importorskip("skl2onnx", reason="skl2onnx is missing: install the test tools (pip install -e '.[dev]')")
    spec = importlib.util.spec_from_file_location("onnx_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--models", "logreg,mlp", "--per-class", "10", "--max-epochs", "1", "--calls", "5", "--batch", "40",
                "--repeats", "1", "--out", str(tmp_path)])
    payload = json.loads((tmp_path / "onnx.json").read_text())
    assert [r["model"] for r in payload["rows"]] == ["logreg", "mlp"] and payload["threads"] == 1
    for row in payload["rows"]:
        assert row["argmax_agreement"] == 1.0 and row["max_proba_diff"] <= 1e-4
        for variant in bench.VARIANTS:
            assert row[f"{variant}_median_ms"] <= row[f"{variant}_p95_ms"] and row[f"{variant}_images_per_s"] > 0
    assert "load average" in (tmp_path / "onnx.md").read_text()
    assert (tmp_path / "onnx.md").read_text().count("\n| logreg |") == 2


def test_onnx_bench_trains_the_networks_in_fp32_like_the_files(synthetic_env):
    spec = importlib.util.spec_from_file_location("onnx_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # "auto" would pick bf16 for a convolutional net on a CPU with native bf16; the ONNX file computes fp32.
    models, _, source = bench.load_models(bench.parse_args(["--models", "cnn", "--per-class", "5", "--max-epochs", "1"]))
    assert models["cnn"][-1].precision_ == "fp32" and source.endswith("1 epochs in fp32")
