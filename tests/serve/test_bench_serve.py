"""bench/serve.py runs end to end against the real server and measures what the models answer."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
from pathlib import Path

from hwr_eval.data import read_character

from .conftest import needs_serve_extra

needs_serve_extra()
BENCH = Path(__file__).resolve().parents[2] / "bench" / "serve.py"


def test_serve_bench_writes_its_tables(serve_run, served_models, tmp_path):
    spec = importlib.util.spec_from_file_location("serve_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--run", str(serve_run), "--requests", "5", "--warmup", "1", "--out", str(tmp_path)])
    payload = json.loads((tmp_path / "serve.json").read_text())
    assert payload["models"] == ["knn", "logreg", "cnn"] and payload["synthetic"] is True
    # The timed requests were answered by these very models, on this drawing.
    png = base64.b64decode(bench.drawing_data_url().split(",", 1)[1])
    x = read_character(io.BytesIO(png))[0]
    assert payload["answer"] == [m.answer(x)["label"] for m in served_models]
    latency = payload["latency"]
    assert latency["meets_target"] is (latency["median_ms"] <= bench.TARGET_MS)
    assert set(payload["stage_median_ms"]) == {"preprocess", "knn", "logreg", "cnn"}
    table = (tmp_path / "serve.md").read_text()
    assert re.search(rf"\| knn, logreg, cnn \| 5 \| {latency['median_ms']:.1f} ms \| {latency['p95_ms']:.1f} ms \|", table)
