"""bench/unknowns.py runs end to end on a tiny setting and summarises every seed's rows."""

import json

import numpy as np
import pandas as pd
import pytest

from hwr_eval.evaluation import TABLE_COLUMNS, detectors_for
from hwr_eval.models import make_model

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("unknowns")


def test_unknowns_bench_writes_every_model_detector_and_set(bench, real_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "cache"))
    args = ["--data", str(real_data_dir), "--models", "knn,mlp", "--seeds", "2", "--per-class", "10",
            "--max-epochs", "1", "--n-generated", "20", "--k", "5", "--outlier-exposure", "mlp", "--out", str(tmp_path)]
    bench.main(args)
    payload = json.loads((tmp_path / "unknowns.json").read_text())
    rows = pd.DataFrame(payload["rows"])
    assert set(TABLE_COLUMNS) <= set(rows.columns)
    sets = list(payload["unknown_sets"])
    assert sets == ["lowercase", "blank", "gaussian_noise", "salt_pepper", "scribbles", "blobs"]
    # k-NN: no seed changes it, fitted once; only the network gets an outlier-exposure twin
    for label, name, seeds in (("knn", "knn", [0]), ("mlp", "mlp", [0, 1]), ("mlp+oe", "mlp", [0, 1])):
        mine = rows[rows.model == label]
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
    # the headline (a header, then one line per model and detector), then the full table (a header, one line per row)
    heads = pd.DataFrame(payload["headline"])
    assert len(lines) == 1 + len(heads) + 1 + len(summary)

    accuracy = pd.DataFrame(payload["known_accuracy"]).set_index("label")
    fits = rows.drop_duplicates(["model", "seed"]).pivot(index="seed", columns="model", values="accuracy")
    assert accuracy.loc["mlp+oe", "oe_change_mean"] == pytest.approx((fits["mlp+oe"] - fits["mlp"]).mean())
    assert len(heads) == len(summary.groupby(["model", "detector"]))
    for _, h in heads.iterrows():
        mine = summary[(summary.model == h.model) & (summary.detector == h.detector)]
        far = mine[mine.unknown_set != "lowercase"]
        assert h.worst_far_auroc == pytest.approx(far.auroc_mean.min())
        assert h.near_auroc == pytest.approx(mine[mine.unknown_set == "lowercase"].auroc_mean.iloc[0])

    # A second run with the same settings trains nothing: every fit comes back from unknowns-runs.jsonl.
    logged = (tmp_path / "unknowns-runs.jsonl").read_text()
    assert len(logged.splitlines()) == 5  # knn once, mlp and mlp+oe twice each
    bench.main(args)
    assert (tmp_path / "unknowns-runs.jsonl").read_text() == logged
    assert pd.DataFrame(json.loads((tmp_path / "unknowns.json").read_text())["rows"]).equals(rows)
    assert {json.loads(line)["settings"]["precision"] for line in logged.splitlines()} == {"fp32"}
    # --table-only writes the tables from what is logged: a third seed is neither trained nor in them.
    (tmp_path / "unknowns.json").unlink()
    bench.main([*args[:5], "3", *args[6:], "--table-only"])
    assert (tmp_path / "unknowns-runs.jsonl").read_text() == logged
    assert pd.DataFrame(json.loads((tmp_path / "unknowns.json").read_text())["rows"]).equals(rows)
