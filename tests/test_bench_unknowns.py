"""bench/unknowns.py runs end to end on a tiny setting and summarises every seed's rows."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwr_eval.evaluation import TABLE_COLUMNS, detectors_for
from hwr_eval.models import make_model

BENCH = Path(__file__).resolve().parents[1] / "bench"

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    import unknowns

    yield unknowns
    sys.path.remove(str(BENCH))


def test_unknowns_bench_writes_every_model_detector_and_set(bench, real_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "cache"))
    bench.main(["--data", str(real_data_dir), "--models", "knn,mlp", "--seeds", "2", "--per-class", "10",
                "--max-epochs", "1", "--n-generated", "20", "--k", "5", "--out", str(tmp_path)])
    payload = json.loads((tmp_path / "unknowns.json").read_text())
    rows = pd.DataFrame(payload["rows"])
    assert set(TABLE_COLUMNS) <= set(rows.columns)
    sets = list(payload["unknown_sets"])
    assert sets == ["lowercase", "blank", "gaussian_noise", "salt_pepper", "scribbles", "blobs"]
    for name, seeds in (("knn", [0]), ("mlp", [0, 1])):  # k-NN: no seed changes it, fitted once
        mine = rows[rows.model == name]
        expected = [(s, d, u) for s in seeds for d in detectors_for(make_model(name)) for u in sets]
        assert list(zip(mine.seed, mine.detector, mine.unknown_set)) == expected
    summary = pd.DataFrame(payload["summary"])
    assert len(summary) == len(rows.groupby(["model", "detector", "unknown_set"]))
    for _, s in summary.iterrows():
        runs = rows[(rows.model == s.model) & (rows.detector == s.detector) & (rows.unknown_set == s.unknown_set)]
        assert s.n_seeds == len(runs) and s.auroc_mean == pytest.approx(runs.auroc.mean())
        if len(runs) > 1:
            assert s.fpr_at_95_tpr_std == pytest.approx(np.std(runs.fpr_at_95_tpr, ddof=1))
    table = (tmp_path / "unknowns.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(lines) == 1 + len(summary)  # the header, then one line per summary row
