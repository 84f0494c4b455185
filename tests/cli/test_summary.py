"""The terminal summary after a run: an 80-column terminal shows every model, McNemar's test one pair
per line, k-NN's stored images instead of parameters, and abstention in plain words."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from hwr_eval.cli import _summary
from hwr_eval.runs import open_run, read_record
from tests.conftest import write_run_dir

MODELS = ("knn", "logreg", "linear", "mlp", "cnn", "lenet5", "cascade", "modern_cnn")
KNN_IMAGES = 45_000


@pytest.fixture
def printed(tmp_path, monkeypatch):
    """Print the summary of an 8-model run on an 80-column console; returns (record, lines)."""
    run_dir = write_run_dir(tmp_path / "run", models=MODELS, n_test_per_class=2)
    results = read_record(run_dir).to_json()
    results["models"]["knn"]["n_parameters"] = KNN_IMAGES * 28 * 28
    # cascade answers nothing: no threshold reaches the target risk on validation.
    sel = results["models"]["cascade"]["selective"]
    sel["validation"]["coverage"] = 0.0
    sel["test"].update(coverage=0.0, risk=None, risk_upper=None)
    (run_dir / "results.json").write_text(json.dumps(results))
    out = io.StringIO()
    monkeypatch.setattr(_summary, "console", Console(file=out, width=80, color_system=None))
    record = _summary._print_run(run_dir)
    return record, out.getvalue().splitlines()


def test_results_table_fits_80_columns_and_shows_every_value(printed):
    record, lines = printed
    assert max(map(len, lines)) <= 80
    assert not any("…" in line for line in lines)  # nothing cut short
    for name, result in record.models.items():
        row = next(line for line in lines if line.strip().startswith(name + " "))
        assert f"{result.accuracy:.4f}" in row and f"{result.metrics['f1_macro']:.3f}" in row


def test_knn_shows_no_parameter_count_but_its_stored_images(printed):
    record, lines = printed
    knn_row = next(line for line in lines if line.strip().startswith("knn "))
    assert "— (kNN)" in knn_row and f"{KNN_IMAGES * 784:,}" not in "\n".join(lines)
    assert f"knn learns no weights: it stores its {KNN_IMAGES:,} training images." in " ".join(lines)
    cnn_row = next(line for line in lines if line.strip().startswith("cnn "))
    assert cnn_row.rstrip().endswith(f"{record.models['cnn'].n_parameters:,}")


def test_mcnemar_prints_one_pair_per_line(printed):
    record, lines = printed
    mc = record.mcnemar
    names = mc["models"]
    pair_lines = [line for line in lines if " vs " in line]
    assert len(pair_lines) == len(names) * (len(names) - 1) // 2
    order = list(record.models)
    for line in pair_lines:
        a, _, rest = line.strip().partition(" vs ")
        b = rest.split()[0]
        assert order.index(a) < order.index(b)  # in the results table's order
        assert rest.split()[1] == f"{mc['p_value'][names.index(a)][names.index(b)]:.3g}"


def test_a_pair_with_the_same_images_right_says_so(tmp_path, monkeypatch):
    run_dir = write_run_dir(tmp_path / "run", models=("cnn", "cascade", "knn"), n_test_per_class=2)
    results = read_record(run_dir).to_json()
    names = results["mcnemar"]["models"]
    discordant = results["mcnemar"]["discordant"] = [[0 if a == b else 1 for b in names] for a in names]
    i, j = names.index("cnn"), names.index("cascade")
    discordant[i][j] = discordant[j][i] = 0  # only this pair has no discordant image
    (run_dir / "results.json").write_text(json.dumps(results))
    out = io.StringIO()
    monkeypatch.setattr(_summary, "console", Console(file=out, width=80, color_system=None))
    _summary._print_run(run_dir)
    pairs = {line.strip().split()[0] + " " + line.strip().split()[2]: line for line in out.getvalue().splitlines()
             if " vs " in line}
    assert pairs["cnn cascade"].rstrip().endswith("same images right")
    assert not any(line.rstrip().endswith("same images right") for key, line in pairs.items() if key != "cnn cascade")


def test_abstention_in_plain_words(printed):
    _, lines = printed
    text = " ".join(line.strip() for line in lines)
    assert ("cascade abstains on every test image at target risk 5% (no threshold reaches it on validation)"
            in text)
    assert "at risk -" not in text
    assert sum(line.startswith("  ") and " answers " in line for line in lines) == len(MODELS) - 1


def test_pairs_across_training_runs_fit_80_columns(invoke, synthetic_env, tmp_path, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(_summary, "console", Console(file=out, width=80, color_system=None))
    run_dir = tmp_path / "run"
    result = invoke("compare", "--models", "knn,logreg", "--per-class", "20", "--seeds", "3", "--vary", "split", "--no-report",
                    "--out", run_dir)
    assert result.exit_code == 0, result.output
    comparisons = open_run(run_dir).comparisons
    lines = out.getvalue().splitlines()
    assert max(map(len, lines)) <= 80 and not any("…" in line for line in lines)
    for row in comparisons.itertuples(index=False):
        line = next(line for line in lines
                    if line.strip().startswith(f"{row.model_a} vs {row.model_b}") and " pts" in line)
        assert f"{100 * row.mean_diff:+.2f} pts" in line and f"{row.p_a_better:.2f}" in line
