"""What the report says about a run: the device used, empty settings, images per source, k-NN's stored
images, the epoch limit, cascade-only text, McNemar's model order, and legends that hide no curve."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from hwr_eval.report import _plots as plots
from hwr_eval.report import (
    build_report,
    epoch_limit_note,
    plot_risk_coverage,
    plot_rotation_curve,
    plot_seed_scores,
    plot_severity_curves,
    plot_training_curves,
)
from hwr_eval.report._reliability import _context_part
from hwr_eval.report._sections import _summary_section
from hwr_eval.runs import read_record
from tests.conftest import _simulated_robustness, write_run_dir

KNN_IMAGES = 45_000


class _Tables(HTMLParser):
    """The cell texts of every table, row by row."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _table(html_text) -> pd.DataFrame:
    """The first table of ``html_text`` as a frame of strings (header row as columns)."""
    parser = _Tables()
    parser.feed(html_text)
    head, *rows = [r for r in parser.tables[0] if r]
    return pd.DataFrame(rows, columns=head)


def _decreasing_history(n):
    return [{"epoch": e, "train_loss": 2.0 / e, "valid_loss": 2.2 / e, "train_acc": 1 - 1 / (e + 1),
             "valid_acc": 1 - 1.1 / (e + 1)} for e in range(1, n + 1)]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One report of a run whose record carries every case: returns (results dict, HTML text)."""
    run_dir = write_run_dir(tmp_path_factory.mktemp("wording") / "run", models=("knn", "linear", "cnn"),
                            n_test_per_class=2)
    results = read_record(run_dir).to_json()
    results["settings"].update(device=None, overrides={})
    results["environment"]["device_name"] = "AMD EPYC 7763 64-Core Processor"
    # MNIST as two files (images and labels), each carrying the source's 20,000 images.
    results["data"]["sources"] = [
        {"name": "MNIST", "path": "/d/train-images-idx3-ubyte.gz", "sha256": "a" * 64, "n_samples": 20000},
        {"name": "MNIST", "path": "/d/train-labels-idx1-ubyte.gz", "sha256": "b" * 64, "n_samples": 20000},
        {"name": "EMNIST letters", "path": "/d/emnist.gz", "sha256": "c" * 64, "n_samples": 5000}]
    results["models"]["knn"]["n_parameters"] = KNN_IMAGES * 28 * 28
    # cnn: the best validation loss at its last epoch, with the epoch limit reached.
    results["models"]["cnn"]["history"] = _decreasing_history(6)
    results["models"]["cnn"]["params"]["max_epochs"] = 6
    (run_dir / "results.json").write_text(json.dumps(results))
    return results, build_report(run_dir).read_text(encoding="utf-8")


def _section(text, section_id):
    start = text.index(f'id="{section_id}"')
    end = text.find("<section", start)
    return text[start:end if end > 0 else None]


def test_device_none_shows_the_device_that_was_used(report):
    _, text = report
    summary = _section(text, "summary")
    assert "<dt>Device</dt><dd>cpu (AMD EPYC 7763 64-Core Processor, chosen automatically)</dd>" in summary
    assert "- (AMD" not in summary and "None" not in summary


@pytest.mark.parametrize(("device", "name", "shown"), [
    ("auto", "NVIDIA H100 80GB HBM3", "cuda (NVIDIA H100 80GB HBM3, chosen automatically)"),
    (None, "Intel(R) Xeon(R) Gold", "cpu (Intel(R) Xeon(R) Gold, chosen automatically)"),
    ("cpu", "AMD EPYC", "cpu (AMD EPYC)"),
    ("cuda", "NVIDIA A100", "cuda (NVIDIA A100)"),
    ("cpu", "cpu", "cpu"),
])
def test_device_text_resolves_auto_from_the_environment_record(device, name, shown):
    summary = _summary_section({"settings": {"device": device}, "environment": {"device_name": name},
                                "data": {"sources": []}})
    assert f"<dt>Device</dt><dd>{shown}</dd>" in summary.replace("&#x27;", "'")


def test_empty_settings_are_left_out(report):
    _, text = report
    summary = _section(text, "summary")
    assert "Overrides" not in summary and "{}" not in summary
    shown = _summary_section({"settings": {"overrides": {"cnn": {"lr": 0.01}}, "context": None},
                              "environment": {}, "data": {"sources": []}})
    assert "<dt>Overrides</dt>" in shown and "<dt>Context</dt>" not in shown


def test_data_sources_count_images_once_per_source_not_per_file(report):
    _, text = report
    table = _table(_section(text, "summary").split("<h3>Data sources</h3>")[1])
    assert list(table["source"]) == ["MNIST", "EMNIST letters"]
    assert list(table["images"]) == ["20,000", "5,000"]  # not 40,000: the labels file holds no images
    assert "train-labels-idx1-ubyte.gz" in text  # both files still listed with their hashes


def test_knn_shows_its_stored_images_not_parameters(report):
    results, text = report
    comparison = _table(_section(text, "comparison")).set_index("model")
    assert comparison.loc["knn", "learned parameters"] == f"— (kNN stores {KNN_IMAGES:,} images)"
    assert comparison.loc["cnn", "learned parameters"] == f"{results['models']['cnn']['n_parameters']:,}"
    assert f"{KNN_IMAGES * 784:,}" not in text
    assert f"no learned parameters (kNN stores {KNN_IMAGES:,} images)" in _section(text, "model-knn")


def test_epoch_limit_while_still_improving_is_flagged(report):
    _, text = report
    flag = "while the validation loss was still falling: try more epochs"
    assert flag in _section(text, "model-cnn")
    assert flag not in _section(text, "model-linear")  # its best epoch came before the last


def test_epoch_limit_note_needs_the_best_epoch_last_and_the_limit_reached():
    assert "try more epochs" in epoch_limit_note(_decreasing_history(5), max_epochs=5)
    assert epoch_limit_note(_decreasing_history(5), max_epochs=None) is not None
    assert epoch_limit_note(_decreasing_history(5), max_epochs=20) is None  # stopped before the limit
    rising = _decreasing_history(5)
    rising[-1]["valid_loss"] = 9.0  # early stopping's kind of ending: best epoch earlier
    assert epoch_limit_note(rising, max_epochs=5) is None
    assert epoch_limit_note(None) is None and epoch_limit_note([]) is None


def test_cascade_text_only_when_a_cascade_ran(report):
    _, text = report
    assert "cascade" not in text.lower()
    context = {"accuracy": 0.9, "accuracy_with_context": 0.95, "errors": 3, "cross_group_errors": 1,
               "cross_group_share": 0.3, "lookalikes": {}}
    cascade = {"params": {"pair": ["O", "0"], "sub__lr": 0.01}, "context": context}
    plain = {"params": {"lr": 0.01}, "context": context}
    assert "cascade" in _context_part({"cascade": cascade, "cnn": plain})
    assert "cascade" not in _context_part({"cnn": plain})


def test_mcnemar_heatmap_uses_the_comparison_tables_model_order(make_run_dir, tmp_path, monkeypatch):
    run_dir = make_run_dir(tmp_path / "run", models=("linear", "knn", "cnn"), n_test_per_class=2)
    results = read_record(run_dir).to_json()
    names = results["mcnemar"]["models"]
    p = np.array(results["mcnemar"]["p_value"])
    calls = []
    draw = plots.plot_mcnemar
    monkeypatch.setattr(plots, "plot_mcnemar", lambda m, pv, **kw: calls.append((list(m), np.asarray(pv)))
                        or draw(m, pv, **kw))
    text = build_report(run_dir).read_text(encoding="utf-8")
    table_order = list(_table(_section(text, "comparison"))["model"])
    by_accuracy = sorted(names, key=lambda n: -results["models"][n]["metrics"]["accuracy"])
    assert table_order == by_accuracy != names  # the record's order differs: the test can tell them apart
    order, shown = calls[0]
    assert order == table_order
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            assert shown[i, j] == p[names.index(a), names.index(b)]


def test_comparison_names_pairs_with_the_same_images_right(make_run_dir, tmp_path):
    run_dir = make_run_dir(tmp_path / "run", models=("cnn", "cascade", "knn"), n_test_per_class=2)
    results = read_record(run_dir).to_json()
    names = results["mcnemar"]["models"]
    sentence = "cnn and cascade got the very same test images right: this test set cannot tell them apart."
    discordant = results["mcnemar"]["discordant"] = [[0 if a == b else 1 for b in names] for a in names]
    i, j = names.index("cnn"), names.index("cascade")  # only this pair has no discordant image
    discordant[i][j] = discordant[j][i] = 0
    (run_dir / "results.json").write_text(json.dumps(results))
    assert sentence in _section(build_report(run_dir).read_text(encoding="utf-8"), "comparison")
    discordant[i][j] = 2
    (run_dir / "results.json").write_text(json.dumps(results))
    assert "same test images right" not in build_report(run_dir).read_text(encoding="utf-8")


def _legend_figures():
    rng = np.random.default_rng(0)
    names = ["knn", "cnn", "mlp"]
    robustness = _simulated_robustness(names, {"knn": 0.8, "cnn": 0.95, "mlp": 0.9}, rng)
    coverage = np.linspace(0.01, 1, 50)
    curves = {n: (coverage, np.sort(rng.uniform(0, 0.2, 50))) for n in names}
    seeds = pd.DataFrame({"model": np.repeat(names, 3), "accuracy": rng.uniform(0.8, 0.95, 9)})
    summary = seeds.groupby("model", sort=False)["accuracy"].agg(mean="mean", sd="std").reset_index()
    history = [{"epoch": e, "train_loss": 1 / e, "valid_loss": abs(e - 3) + 0.5, "train_acc": 0.1 * e,
                "valid_acc": 0.5} for e in range(1, 7)]
    return {"training curves": plot_training_curves(history), "rotation": plot_rotation_curve(robustness),
            "severity": plot_severity_curves(robustness),
            "risk-coverage": plot_risk_coverage(curves, 0.05, {n: (0.5, 0.05) for n in names}),
            "seed scores": plot_seed_scores(seeds, summary)}


@pytest.mark.parametrize("name", ["training curves", "rotation", "severity", "risk-coverage", "seed scores"])
def test_line_plot_legends_lie_outside_every_plot_area(name):
    fig = _legend_figures()[name]
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends, "the figure has a legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if ax.get_visible():
                assert not box.overlaps(ax.get_window_extent(renderer)), f"{name}: legend over a plot area"


def test_summary_and_report_say_nothing_raw(report):
    _, text = report
    assert not re.search(r"<dd>-\s*\(", text)  # no "- (CPU name)"
