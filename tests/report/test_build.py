"""The HTML report: built from fixture run folders (``make_run_dir`` in conftest.py), checked as HTML,
as images, for escaping and offline use, for bad folders, and in a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from hwr_eval import HwrError
from hwr_eval.cli import app
from hwr_eval.report import build_report
from hwr_eval.report._sections import WEAK_F1_MARGIN
from hwr_eval.runs import open_run, read_record

REPO = Path(__file__).resolve().parents[1]
MODELS = ("knn", "linear", "cnn")


class ReportParser(HTMLParser):
    """Collects sections, images, links, scripts and table rows, remembering the section of each."""

    def __init__(self):
        super().__init__()
        self.sections: list[dict] = []
        self.images: list[dict] = []
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.scripts_with_src = 0
        self.rows: list[tuple[str | None, str, list[str]]] = []  # (section id, tr class, cells)
        self._row: list[str] | None = None
        self._row_class = ""
        self._cell: list[str] | None = None

    @property
    def section(self) -> str | None:
        return self.sections[-1]["id"] if self.sections else None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.sections.append({"id": attrs.get("id"), "class": attrs.get("class", ""), "h2": ""})
        if tag == "img":
            self.images.append({**attrs, "section": self.section})
        if tag == "script" and "src" in attrs:
            self.scripts_with_src += 1
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        if tag == "tr":
            self._row, self._row_class = [], attrs.get("class", "")
        if tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append((self.section, self._row_class, self._row))
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(text: str) -> ReportParser:
    parser = ReportParser()
    parser.feed(text)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def report(tmp_path_factory, make_run_dir):
    """A three-model run folder with its report built once for the module."""
    run_dir = make_run_dir(tmp_path_factory.mktemp("run"), models=MODELS, robustness=True)
    path = build_report(run_dir)
    return run_dir, path, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def small_report(tmp_path_factory, make_run_dir):
    """An interrupted one-model run on synthetic data."""
    run_dir = make_run_dir(tmp_path_factory.mktemp("small"), models=("knn",), synthetic=True, status="incomplete")
    path = build_report(run_dir)
    return run_dir, path, path.read_text(encoding="utf-8")


def test_report_has_every_section_and_one_section_per_model(report):
    run_dir, path, text = report
    assert path == run_dir / "report.html"
    parsed = parse(text)
    ids = [s["id"] for s in parsed.sections]
    assert ids[:3] == ["summary", "data", "comparison"]
    assert [s["id"] for s in parsed.sections if "model" in s["class"]] == [f"model-{m}" for m in MODELS]
    # Table of contents links every section.
    for section_id in ids:
        assert f'href="#{section_id}"' in text
    # Per model: training curves only with history, weight maps only for the linear model.
    alts = {m: " ".join(i["alt"] for i in parsed.images if i["section"] == f"model-{m}") for m in MODELS}
    assert "confusion matrix" in alts["knn"] and "misclassified" in alts["knn"]
    assert "training and validation loss" in alts["cnn"] and "training and validation loss" not in alts["knn"]
    assert "weight images" in alts["linear"] and "weight images" not in alts["cnn"]
    # Run summary facts come from results.json.
    results = read_record(run_dir).to_json()
    assert results["data"]["sources"][0]["sha256"] in text
    assert "scikit-learn" in text and "1.9.1" in text
    assert 'class="banner' not in text  # real data, complete run: no warning banners


def test_every_embedded_image_decodes_and_has_alt_text(report, check_embedded_png):
    _, _, text = report
    images = parse(text).images
    assert len(images) >= 12
    for img in images:
        check_embedded_png(img, 50)


def test_report_makes_no_network_requests(report):
    _, _, text = report
    parsed = parse(text)
    assert parsed.urls
    assert all(u.startswith(("data:", "#")) for u in parsed.urls), [u for u in parsed.urls if not u.startswith(("data:", "#"))][:3]
    assert parsed.scripts_with_src == 0
    assert "link" not in parsed.tags and "iframe" not in parsed.tags
    assert not re.search(r"url\(|@import|https?://", text.split("<body")[0])


def test_text_from_the_run_folder_is_escaped(report):
    _, _, text = report
    # The fixture's command line holds markup; it must show as text, never become a tag.
    assert "<b>x</b>" not in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text
    assert "b" not in parse(text).tags


def test_weak_classes_are_highlighted(report):
    run_dir, _, text = report
    results = read_record(run_dir).to_json()
    for model in MODELS:
        table = pd.read_csv(run_dir / "per_class" / f"{model}.csv", dtype={"class": str})
        threshold = results["models"][model]["metrics"]["f1_macro"] - WEAK_F1_MARGIN
        expected = set(table.loc[table["f1"] < threshold, "class"])
        assert expected, "the fixture should have weak classes"
        rows = [(css, cells) for section, css, cells in parse(text).rows if section == f"model-{model}"]
        highlighted = {cells[0] for css, cells in rows if css == "weak"}
        assert highlighted == expected


def test_misclassified_gallery_counts_the_errors(report):
    run_dir, _, text = report
    predictions = open_run(run_dir).predictions.assign(y_true=open_run(run_dir).y_test)
    for model in MODELS:
        n_wrong = int((predictions[model] != predictions["y_true"]).sum())
        assert f"{min(n_wrong, 40)} of {n_wrong} misclassified test images" in text


def test_comparison_table_lists_models_best_first(report):
    run_dir, _, text = report
    results = read_record(run_dir).to_json()
    rows = [cells for section, _, cells in parse(text).rows if section == "comparison" and cells[0] in MODELS]
    accuracies = {m: results["models"][m]["metrics"]["accuracy"] for m in MODELS}
    assert [r[0] for r in rows] == sorted(MODELS, key=lambda m: -accuracies[m])
    assert rows[0][1] == f"{100 * max(accuracies.values()):.2f}%"


def test_synthetic_and_incomplete_runs_get_banners(small_report):
    _, _, text = small_report
    assert 'class="banner synthetic"' in text and "Synthetic data." in text
    assert 'class="banner incomplete"' in text
    assert "McNemar's test needs at least two models" in text
    assert [s["id"] for s in parse(text).sections if "model" in s["class"]] == ["model-knn"]


def test_cli_builds_report_to_out(small_report, tmp_path):
    run_dir, _, _ = small_report
    out = tmp_path / "elsewhere" / "r.html"
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and str(out) in result.output.replace("\n", "")
    assert parse(out.read_text()).sections


def test_cli_unwritable_out_exits_2_with_one_line(small_report, tmp_path):
    run_dir, _, _ = small_report
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(blocker / "report.html")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(blocker) in lines[0], result.stderr
    assert blocker.read_text() == "x"


def test_report_of_model_without_probabilities(make_run_dir, tmp_path, monkeypatch):
    """``files.probabilities: null`` (no predict_proba): mistakes in test-set order, no confidences."""
    from hwr_eval.report import _plots as plots

    run_dir = make_run_dir(tmp_path / "run", models=("knn", "cnn"), n_test_per_class=2)
    (run_dir / "probabilities" / "knn.npy").unlink()
    _edit_results(run_dir, lambda r: r["models"]["knn"]["files"].update(probabilities=None))
    galleries = {}
    draw = plots.plot_image_gallery

    def spy(X, captions, *args, title="", **kwargs):
        galleries[title.split(":")[0]] = (np.asarray(X), list(captions))
        return draw(X, captions, *args, title=title, **kwargs)

    monkeypatch.setattr(plots, "plot_image_gallery", spy)
    text = build_report(run_dir).read_text(encoding="utf-8")
    preds = open_run(run_dir).predictions.assign(y_true=open_run(run_dir).y_test)
    X_test = np.load(run_dir / "test_set.npz")["X"]
    wrong = np.flatnonzero(preds["knn"] != preds["y_true"])[:40]
    X, captions = galleries["knn"]
    np.testing.assert_array_equal(X, X_test[wrong])
    assert captions == [f"{t} → {p}" for t, p in zip(preds["y_true"][wrong], preds["knn"][wrong])]
    assert "in test-set order; this model gives no probabilities" in text
    assert all(c.endswith("%") for c in galleries["cnn"][1])  # the other model keeps its confidences


def test_grid_report_shows_the_ranked_cv_table(make_run_dir, tmp_path):
    run_dir = make_run_dir(tmp_path / "grid", models=("knn",), n_test_per_class=1)
    pd.DataFrame({"mean_fit_time": [0.5, 0.25, 0.75], "param_clf__n_neighbors": [1, 3, 5],
                  "mean_test_score": [0.8, 0.9, 0.7], "std_test_score": [0.01, 0.02, 0.03],
                  "rank_test_score": [2, 1, 3]}).to_csv(run_dir / "cv_results.csv", index=False)
    _edit_results(run_dir, lambda r: r.update(kind="grid", grid={
        "model": "knn", "param_grid": {"clf__n_neighbors": [1, 3, 5]}, "best_params": {"clf__n_neighbors": 3},
        "best_score": 0.9, "cv": 3, "scoring": "accuracy", "n_candidates": 3}))
    text = build_report(run_dir).read_text(encoding="utf-8")
    rows = [cells for section, _, cells in parse(text).rows if section == "grid"]
    # The same table `hwr-eval grid` prints (compare.cv_results_table): short names, best first.
    assert rows[0] == ["rank", "n_neighbors", "mean score", "std", "fit s"]
    assert [r[:2] for r in rows[1:]] == [["1", "3"], ["2", "1"], ["3", "5"]]


# --------------------------------------------------------------------------------------------------
# Bad run folders: one clear line, exit 2, and never a (partial) report left behind
# --------------------------------------------------------------------------------------------------


def _edit_results(run_dir: Path, change) -> None:
    results = read_record(run_dir).to_json()
    change(results)
    (run_dir / "results.json").write_text(json.dumps(results))


BREAKAGES = {
    "no results.json": (lambda d: (d / "results.json").unlink(), "results.json"),
    "invalid json": (lambda d: (d / "results.json").write_text('{"schema_version": 1,'), "not valid JSON"),
    "schema version": (lambda d: _edit_results(d, lambda r: r.update(schema_version=99)), "schema_version 99"),
    "missing key": (lambda d: _edit_results(d, lambda r: r.pop("models")), "'models'"),
    "no test set": (lambda d: (d / "test_set.npz").unlink(), "test_set.npz"),
    "no probabilities": (lambda d: (d / "probabilities" / "knn.npy").unlink(), "knn.npy"),
    "wrong probabilities": (lambda d: np.save(d / "probabilities" / "knn.npy", np.zeros((3, 36))), "knn.npy"),
    "truncated probabilities": (lambda d: (d / "probabilities" / "knn.npy").write_bytes(b"\x93NUMPY"), "knn.npy"),
    "no per-class table": (lambda d: (d / "per_class" / "knn.csv").unlink(), "knn.csv"),
    "no calibrated probabilities": (lambda d: (d / "calibrated_probabilities" / "knn.npy").unlink(), "knn.npy"),
    "wrong calibrated probabilities": (
        lambda d: np.save(d / "calibrated_probabilities" / "knn.npy", np.zeros((3, 36))), "knn.npy"),
    "predictions lack model": (
        lambda d: pd.read_csv(d / "predictions.csv").drop(columns="knn").to_csv(d / "predictions.csv", index=False),
        "predictions.csv"),
    "confusion shape": (lambda d: _edit_results(d, lambda r: r["models"]["knn"].update(confusion_matrix=[[1]])),
                        "confusion_matrix"),
}


@pytest.fixture(scope="module")
def pristine_run(tmp_path_factory, make_run_dir):
    return make_run_dir(tmp_path_factory.mktemp("pristine"), models=("knn",), n_test_per_class=2)


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_bad_run_folder_raises_one_line_and_writes_nothing(breakage, pristine_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(pristine_run, run_dir)
    damage, expected = BREAKAGES[breakage]
    damage(run_dir)
    with pytest.raises(HwrError) as info:
        build_report(run_dir)
    message = str(info.value)
    assert "\n" not in message and expected in message
    assert not any(p.name.startswith((".report.html", "report.html")) for p in run_dir.iterdir())


def test_missing_run_folder_raises(tmp_path):
    with pytest.raises(HwrError, match="no such directory"):
        build_report(tmp_path / "nope")


def test_cli_bad_run_folder_exits_2_with_one_line(pristine_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(pristine_run, run_dir)
    (run_dir / "results.json").write_text("not json")
    proc = subprocess.run([sys.executable, "-m", "hwr_eval", "report", str(run_dir)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "results.json" in lines[0] and "Traceback" not in proc.stderr
    assert not (run_dir / "report.html").exists()


# --------------------------------------------------------------------------------------------------
# The report in a real browser: headless Chromium (Debian package `chromium`)
# --------------------------------------------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the chromium binary; installs the Debian package when missing and allowed, else skips."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get): "
                    "apt-get install chromium to run the browser test")
    try:
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
                       shell=True, check=True, capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"chromium is not installed and installing it failed ({type(exc).__name__}); "
                    "apt-get install chromium to run the browser test")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get installed chromium but no 'chromium' binary is on PATH")
    return found


def _run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def test_report_renders_in_headless_chromium(report, chromium, tmp_path):
    _, path, text = report
    url = path.resolve().as_uri()
    n_images = len(parse(text).images)

    # After load, the report's inline script records how many images decoded and any error.
    dom = _run_chromium(chromium, tmp_path / "profile-dom", "--enable-logging=stderr", "--v=0",
                        "--virtual-time-budget=5000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    root = re.search(r"<html[^>]*>", dom.stdout)
    assert root, dom.stdout[:500]
    assert f'data-images-loaded="{n_images}/{n_images}"' in root.group(0)
    assert "data-errors" not in root.group(0)
    # The abstention section (issue 10) is rendered with its figures, all among the decoded images.
    rendered = parse(dom.stdout)
    reliability_images = [i for i in rendered.images if i["section"] == "reliability"]
    assert len(reliability_images) == 2 + len(MODELS)  # curves, reliability diagrams, one gallery per model
    assert {s["id"] for s in rendered.sections} >= {"reliability"}
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console[:3]

    screenshot = tmp_path / "report.png"
    shot = _run_chromium(chromium, tmp_path / "profile-shot", f"--screenshot={screenshot}",
                         "--window-size=1280,2000", "--hide-scrollbars", url)
    assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.shape == (2000, 1280)
    # Rendered, not blank: strong contrast and a real share of non-background pixels.
    assert pixels.std() > 20
    assert (pixels < 200).mean() > 0.05


# --------------------------------------------------------------------------------------------------
# Abstention, calibration and context (schema 2)
# --------------------------------------------------------------------------------------------------


def _section_rows(text: str, section: str) -> list[list[str]]:
    return [cells for sec, _, cells in parse(text).rows if sec == section]


def test_reliability_section_tables(report):
    run_dir, _, text = report
    results = read_record(run_dir).to_json()
    assert '<section id="reliability">' in text and 'href="#reliability"' in text
    rows = _section_rows(text, "reliability")
    for name in MODELS:
        sel, cal, ctx = (results["models"][name][k] for k in ("selective", "calibration", "context"))
        model_rows = [r for r in rows if r[0] == name]
        abstention, calibration, context = model_rows  # one row per table
        assert abstention[1] == f"{sel['aurc']:.4f}" and abstention[4] == f"{sel['threshold']:.4f}"
        test = sel["test"]
        expected = "— (nothing accepted)" if test["risk"] is None else (
            f"{100 * test['risk']:.2f}% (≤ {100 * test['risk_upper']:.2f}%)")
        assert abstention[7] == expected
        assert calibration[2] == f"{cal['before']['ece']:.4f} → {cal['after']['ece']:.4f}"
        assert context[1:3] == [f"{100 * ctx['accuracy']:.2f}%", f"{100 * ctx['accuracy_with_context']:.2f}%"]
        assert context[4] == str(ctx["cross_group_errors"])
    alts = " ".join(i["alt"] for i in parse(text).images if i["section"] == "reliability")
    assert "Risk-coverage curves of all models" in alts and "before and after temperature scaling" in alts


def test_reliability_section_draws_the_test_curves_and_least_sure_images(make_run_dir, tmp_path, monkeypatch):
    from hwr_eval.evaluation import risk_coverage_curve
    from hwr_eval.report import _plots as plots
    from hwr_eval.report import _reliability

    run_dir = make_run_dir(tmp_path / "run", models=("knn", "cnn"), n_test_per_class=2)
    drawn, galleries = {}, {}
    draw_curves, draw_gallery = _reliability.plot_risk_coverage, plots.plot_image_gallery

    def spy_curves(curves, target_risk=None, points=None, **kwargs):
        drawn.update(curves=curves, target=target_risk, points=points)
        return draw_curves(curves, target_risk, points, **kwargs)

    def spy_gallery(X, captions, *args, title="", **kwargs):
        galleries[title] = (np.asarray(X), list(captions))
        return draw_gallery(X, captions, *args, title=title, **kwargs)

    monkeypatch.setattr(_reliability, "plot_risk_coverage", spy_curves)
    monkeypatch.setattr(plots, "plot_image_gallery", spy_gallery)
    build_report(run_dir)
    results = read_record(run_dir).to_json()
    preds = open_run(run_dir).predictions.assign(y_true=open_run(run_dir).y_test)
    X_test = np.load(run_dir / "test_set.npz")["X"]
    assert drawn["target"] == 0.05
    for name in ("knn", "cnn"):
        # The threshold applies to temperature-scaled scores, so the curve is drawn from those too.
        scores = np.load(run_dir / "calibrated_probabilities" / f"{name}.npy").max(axis=1)
        expected = risk_coverage_curve(preds[name] == preds["y_true"], scores)
        np.testing.assert_allclose(drawn["curves"][name][0], expected["coverage"])
        np.testing.assert_allclose(drawn["curves"][name][1], expected["risk"])
        test = results["models"][name]["selective"]["test"]
        assert drawn["points"][name] == (test["coverage"], test["risk"])
        X, captions = galleries[f"Least sure ({name})"]
        least = np.argsort(scores, kind="stable")[:20]
        np.testing.assert_array_equal(X, X_test[least])
        assert captions[0] == f"{preds['y_true'][least[0]]} → {preds[name][least[0]]}\n{scores[least[0]]:.2f}"


def test_schema_1_run_folder_still_builds_with_the_section_marked_absent(make_run_dir, tmp_path):
    run_dir = make_run_dir(tmp_path / "v1", models=("knn", "cnn"), n_test_per_class=1, schema_version=1)
    assert read_record(run_dir).to_json()["schema_version"] == 1
    text = build_report(run_dir).read_text(encoding="utf-8")
    assert "Absent: this run folder (schema version 1) was written before" in text
    assert not [i for i in parse(text).images if i["section"] == "reliability"]
    assert [s["id"] for s in parse(text).sections if "model" in s["class"]] == ["model-knn", "model-cnn"]


def test_model_without_predict_proba_gets_a_note_in_the_section(make_run_dir, tmp_path):
    from hwr_eval.evaluation._reliability import unavailable_records

    run_dir = make_run_dir(tmp_path / "run", models=("knn", "cnn"), n_test_per_class=1)
    note = "LinearSVC has no predict_proba: no confidence, so no abstention, calibration or context figures"

    def drop_knn_probabilities(results):
        results["models"]["knn"].update(unavailable_records(note, 0.05))
        results["models"]["knn"]["files"].update(probabilities=None, calibrated_probabilities=None)

    _edit_results(run_dir, drop_knn_probabilities)
    text = build_report(run_dir).read_text(encoding="utf-8")
    assert f"knn: {note}" in text
    rows = _section_rows(text, "reliability")
    assert [r[0] for r in rows].count("knn") == 0 and [r[0] for r in rows].count("cnn") == 3


# --------------------------------------------------------------------------------------------------
# Report figures (hwr_eval/plots.py)
# --------------------------------------------------------------------------------------------------


def test_confusion_matrix_is_row_normalised_with_small_cells_blank():
    from hwr_eval.report import plot_confusion_matrix

    cm = np.array([[99, 1, 0], [0, 50, 150], [0, 0, 0]])
    fig = plot_confusion_matrix(cm, ["a", "b", "c"])
    ax = fig.axes[0]
    data = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(data, [[99, 1, 0], [0, 25, 75], [0, 0, 0]])
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["99", "1", "", "", "25", "75", "", "", ""]
    # The colour bar reads in the cells' unit (percent), not as a 0-1 fraction beside percent cells.
    colorbar = ax.images[0].colorbar
    assert (colorbar.vmin, colorbar.vmax) == (0.0, 100.0)
    assert "%" in colorbar.ax.get_ylabel()
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"


def test_training_curves_mark_the_best_validation_epoch():
    from hwr_eval.report import plot_training_curves

    history = [{"epoch": e, "train_loss": 1 / e, "valid_loss": abs(e - 3) + 0.5, "train_acc": 0.1 * e,
                "valid_acc": 0.5} for e in range(1, 7)]
    fig = plot_training_curves(history)
    loss_ax, acc_ax = fig.axes[:2]
    labels = [line.get_label() for line in loss_ax.lines]
    assert labels[:2] == ["training", "validation"] and "best epoch (3)" in labels
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), [2.5, 1.5, 0.5, 1.5, 2.5, 3.5])
    assert acc_ax.get_ylabel() == "accuracy"


def test_mcnemar_heatmap_annotates_p_values_and_significance():
    from hwr_eval.report import plot_mcnemar

    fig = plot_mcnemar(["a", "b"], [[1.0, 0.003], [0.003, 1.0]])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["—", "0.003*", "0.003*", "—"]


def test_gallery_and_confused_pairs_show_the_given_images():
    from hwr_eval.report import plot_image_gallery, plot_image_rows

    X = np.zeros((3, 784), dtype=np.uint8)
    X[1] = 255
    fig = plot_image_gallery(X, ["a → b\n90%", "c → d\n80%", "e → f\n70%"], n_cols=2)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["a → b\n90%", "c → d\n80%", "e → f\n70%"]
    mosaic = np.ma.filled(ax.images[0].get_array(), np.nan)
    assert np.nansum(mosaic == 255) == 784  # exactly one white image among the tiles
    fig = plot_image_rows([("O → 0 (2)", X[:2]), ("I → 1 (1)", X[2:])])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["O → 0 (2)", "I → 1 (1)"]


def test_mixed_case_letters_get_a_banner_and_the_source_table(pristine_run, tmp_path):
    from hwr_eval.report._sections import _banners

    run_dir = tmp_path / "run"
    shutil.copytree(pristine_run, run_dir)
    results = read_record(run_dir).to_json()
    results["data"]["source_choice"] = {
        "digits": {"source": "MNIST", "reason": "priority", "why": "best source present", "mixed_case": False,
                   "also_present": [], "available_per_class": {"min": 6000, "max": 7000},
                   "per_class": {"min": 2000, "max": 2000}},
        "uppercase": {"source": "EMNIST letters", "reason": "only mixed-case", "why": "ONLY MIXED-CASE source present",
                      "mixed_case": True, "also_present": [], "available_per_class": {"min": 4800, "max": 4800},
                      "per_class": {"min": 2000, "max": 2000}},
    }
    results["data"]["mixed_case_letters"] = {"source": "EMNIST letters", "group": "uppercase", "explicit": False}
    (run_dir / "results.json").write_text(json.dumps(results))
    text = build_report(run_dir).read_text(encoding="utf-8")
    assert text.count('class="banner mixed-case"') == 1 and "Mixed-case letters." in text
    assert "hwr-eval data fetch kaggle" in text
    rows = [cells for section, _, cells in parse(text).rows if section == "data" and cells[0] in ("digits", "uppercase")]
    assert [r[:2] for r in rows] == [["digits", "MNIST"], ["uppercase", "EMNIST letters"]]
    assert rows[1][3:] == ["4,800–4,800", "2,000–2,000"]
    # Asked for with --classes letters-merged: said plainly, without the alarm.
    results["data"]["mixed_case_letters"]["explicit"] = True
    banner = _banners(results)
    assert "Case-merged letters." in banner and "Mixed-case" not in banner and 'role="note"' in banner


# --------------------------------------------------------------------------------------------------
# Robustness section (results.json key "robustness")
# --------------------------------------------------------------------------------------------------


def test_robustness_section_ranks_models_by_mca_and_draws_its_figures(report):
    run_dir, _, text = report
    record = read_record(run_dir).to_json()["robustness"]
    parsed = parse(text)
    assert "robustness" in [s["id"] for s in parsed.sections]
    alts = " ".join(i["alt"] for i in parsed.images if i["section"] == "robustness")
    assert "against rotation angle" in alts and "against severity" in alts and "every corruption" in alts
    section = text[text.index('<section id="robustness"'):]
    section = section[:section.index("</section>")]
    best_first = sorted(record["models"], key=lambda m: -record["models"][m]["mca"])
    rows = re.findall(r"<tr[^>]*><td>([^<]+)</td>", section)
    assert rows == best_first
    assert f"{record['models'][best_first[0]]['mca']:.2%}" in section


def test_runs_without_robustness_have_no_such_section(small_report):
    _, _, text = small_report
    assert 'id="robustness"' not in text and 'href="#robustness"' not in text


def test_malformed_robustness_record_is_one_line_error(make_run_dir, tmp_path):
    run_dir = make_run_dir(tmp_path / "run", models=("knn",), robustness=True)
    results = read_record(run_dir).to_json()
    results["robustness"]["models"]["knn"]["rotation"] = [0.5]
    (run_dir / "results.json").write_text(json.dumps(results))
    with pytest.raises(HwrError, match="robustness.models.knn"):
        build_report(run_dir)
    assert not (run_dir / "report.html").exists()


def test_corruption_strip_shows_every_corruption_and_severity():
    from hwr_eval.data import make_synthetic
    from hwr_eval.report import plot_corruption_strip

    image = make_synthetic(n_per_class=1, classes="8", seed=0).images[0]
    fig = plot_corruption_strip(image, ["fog", "rotate"], [1, 2, 3], [-30.0, 0.0, 30.0])
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 2 * 4 + 3
    clean = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_array_equal(clean, image)  # first column: the clean image
    assert not np.array_equal(np.asarray(fig.axes[1].images[0].get_array()), image)
