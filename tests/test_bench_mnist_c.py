"""bench/mnist_c.py end to end on a tiny setting: every corruption scored per seed, and a rerun resumes."""

import json

import pytest

from hwr_eval.data import MNIST_C_CORRUPTIONS
from hwr_eval.evaluation import MEAN_ROW

pytestmark = pytest.mark.filterwarnings("ignore::hwr_eval.models.FewStepsWarning")


@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("mnist_c")


def test_mnist_c_bench_scores_each_seed_and_resumes(bench, real_data_dir, tmp_path):
    argv = ["--data", str(real_data_dir), "--models", "cnn", "--seeds", "0", "--max-epochs", "1", "--per-class", "20",
            "--n-test", "15", "--out", str(tmp_path)]
    assert bench.main(argv) == 0
    payload = json.loads((tmp_path / "mnist_c.json").read_text())
    run = payload["models"]["cnn"]["runs"][0]
    assert list(run) == ["clean", *MNIST_C_CORRUPTIONS, MEAN_ROW] and payload["n_test"] == 15
    assert run[MEAN_ROW] == pytest.approx(sum(run[c] for c in MNIST_C_CORRUPTIONS) / 15)
    assert "cnn accuracy" in (tmp_path / "mnist_c.md").read_text()
    # A rerun with one more seed trains only that seed: seed 0 comes back from the log unchanged.
    logged = (tmp_path / "mnist_c-runs.jsonl").read_text()
    assert bench.main([*argv[:5], "0,1", *argv[6:]]) == 0
    lines = (tmp_path / "mnist_c-runs.jsonl").read_text().splitlines()
    assert (tmp_path / "mnist_c-runs.jsonl").read_text().startswith(logged) and len(lines) == 2
    summary = json.loads((tmp_path / "mnist_c.json").read_text())["models"]["cnn"]["summary"]
    assert json.loads(lines[1])["settings"]["precision"] == "fp32" and "machine" in json.loads(lines[1])
    assert summary["clean"]["sd"] is not None and payload["models"]["cnn"]["runs"][0] == json.loads(lines[0])["accuracy"]["cnn"]


def test_mnist_c_bench_refuses_an_unknown_model(bench, tmp_path, capsys):
    assert bench.main(["--models", "cnn,resnet", "--out", str(tmp_path)]) == 2
    assert "unknown model 'resnet'" in capsys.readouterr().err and not any(tmp_path.iterdir())
