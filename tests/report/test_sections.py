"""The comparison section marks McNemar results by their Holm-adjusted p-values."""

import json

from hwr_eval.report import _plots as plots
from hwr_eval.report import build_report
from hwr_eval.runs import read_record


def _spy_mcnemar(monkeypatch):
    calls = []
    draw = plots.plot_mcnemar

    def spy(models, p_values, *args, **kwargs):
        calls.append((list(models), [list(map(float, row)) for row in p_values], kwargs.get("title", "")))
        return draw(models, p_values, *args, **kwargs)

    monkeypatch.setattr(plots, "plot_mcnemar", spy)
    return calls


def test_stars_and_colours_use_the_holm_adjusted_p_values(make_run_dir, tmp_path, monkeypatch):
    run_dir = make_run_dir(tmp_path / "run", models=("knn", "cnn"), n_test_per_class=2)
    results = read_record(run_dir).to_json()
    holm = [[1.0, 0.09], [0.09, 1.0]]
    assert results["models"]["cnn"]["metrics"]["accuracy"] > results["models"]["knn"]["metrics"]["accuracy"]
    results["mcnemar"]["p_value"] = [[1.0, 0.03], [0.03, 1.0]]
    results["mcnemar"]["p_value_holm"] = holm
    (run_dir / "results.json").write_text(json.dumps(results))
    calls = _spy_mcnemar(monkeypatch)
    text = build_report(run_dir).read_text(encoding="utf-8")
    # In the comparison table's order, best model first.
    assert calls == [(["cnn", "knn"], holm, "McNemar p-values, Holm-adjusted")]
    assert "Holm-adjusted over all pairs" in text


def test_runs_without_adjusted_p_values_show_the_raw_ones_and_say_so(make_run_dir, tmp_path, monkeypatch):
    run_dir = make_run_dir(tmp_path / "run", models=("knn", "cnn"), n_test_per_class=2)
    raw = read_record(run_dir).to_json()["mcnemar"]["p_value"]
    calls = _spy_mcnemar(monkeypatch)
    text = build_report(run_dir).read_text(encoding="utf-8")
    assert calls[0][1] == raw
    assert "not adjusted for the number of pairs" in text
