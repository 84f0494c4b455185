"""The "Across training runs" section: renders, shows the tables' numbers, escapes names, embeds real PNGs."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from hwr_eval.evaluation import SEED_COLUMNS, comparisons_table, seed_summary
from hwr_eval.report import plot_verdict_matrix, seeds_section
from hwr_eval.report._seeds import SECTION_ID, SECTION_TITLE

HOSTILE = '<script>alert("x")</script> & $\\frac$'


class SectionParser(HTMLParser):
    """Sections, images and table rows (cells as text) of an HTML fragment."""

    def __init__(self):
        super().__init__()
        self.sections, self.images, self.tables, self.text = [], [], [], []
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        self.text.append(data)


def parse(text: str) -> SectionParser:
    parser = SectionParser()
    parser.feed(text)
    parser.close()
    return parser


def make_seeds(names=("cnn", "mlp", HOSTILE), n_seeds=5, split_seeds=None) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for k, name in enumerate(names):
        for seed in range(n_seeds):
            rows.append({"model": name, "seed": seed, "split_seed": 0 if split_seeds is None else split_seeds[seed],
                         "accuracy": 0.95 + 0.004 * k + rng.normal(0, 0.003), "macro_f1": 0.94,
                         "fit_time_s": 10.0 + seed})
    rows.append({"model": "knn", "seed": 0, "split_seed": 0, "accuracy": 0.93, "macro_f1": 0.92, "fit_time_s": 2.0})
    if split_seeds is not None:
        rows.pop()
    return pd.DataFrame(rows, columns=list(SEED_COLUMNS))


@pytest.fixture(scope="module")
def rendered():
    seeds = make_seeds()
    comparisons = comparisons_table(seeds)
    return seeds, comparisons, seeds_section(seeds, comparisons)


def test_the_section_renders_with_its_heading_and_the_scope_sentence(rendered):
    _, _, text = rendered
    parsed = parse(text)
    assert parsed.sections == [SECTION_ID]
    assert text.startswith(f'<section id="{SECTION_ID}"><h2>{SECTION_TITLE}</h2>') and text.endswith("</section>")
    prose = " ".join("".join(parsed.text).split())
    assert ("The single-run numbers elsewhere in this report (McNemar's test, the bootstrap intervals of accuracy) "
            "cover only the noise of the test images for one training run of each model; this section covers the "
            "training randomness") in prose
    assert "trained 5 times with a different model seed on the same split" in prose
    assert "Fitted once, as the seed does not change them: knn." in prose
    assert "within ±0.1 accuracy points" in prose


def test_figures_are_valid_pngs_with_alt_text(rendered, check_embedded_png):
    _, _, text = rendered
    images = parse(text).images
    assert len(images) == 2
    for img in images:
        check_embedded_png(img, 200)


def test_the_tables_show_the_numbers_of_the_summary_and_the_comparisons(rendered):
    seeds, comparisons, text = rendered
    summary_table, verdict_table = parse(text).tables
    summary = seed_summary(seeds)
    assert summary_table[0][:4] == ["model", "runs", "mean accuracy", "sd"]
    assert len(summary_table) == 1 + len(summary)
    for cells, row in zip(summary_table[1:], summary.itertuples()):
        assert cells[:6] == [row.model, str(row.n), f"{100 * row.mean:.2f}%", f"{100 * row.sd:.2f} pp",
                             f"{100 * row.min:.2f}%", f"{100 * row.max:.2f}%"]
        assert cells[6] == f"{100 * row.ci_low:.2f}% – {100 * row.ci_high:.2f}%"
    assert len(verdict_table) == 1 + len(comparisons)
    for cells, row in zip(verdict_table[1:], comparisons.itertuples()):
        assert cells == [row.model_a, row.model_b, f"{100 * row.mean_diff:+.2f} pp",
                         f"{100 * row.ci_low:+.2f} to {100 * row.ci_high:+.2f} pp",
                         f"{row.p_a_better:.3f}", f"{row.p_equivalent:.3f}", f"{row.p_b_better:.3f}",
                         f"{100 * row.wins_a:.0f}%", f"{row.p_value:.3g}", row.verdict]
    # The verdicts are the statistics' own, e.g. the clearly better model wins against kNN.
    assert "cnn better" in [cells[-1] for cells in verdict_table]


def test_model_names_are_escaped_in_html_and_in_figures(rendered):
    _, _, text = rendered
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; $\\frac$" in text
    # The name reaches the tables intact (parsed back from the escaped HTML).
    verdict_table = parse(text).tables[1]
    assert [HOSTILE, "knn"] in [cells[:2] for cells in verdict_table]
    # "$\frac$" would be parsed as mathtext and fail to draw unless the figures escape the dollar signs:
    # the PNGs decoded above exist only because it is shown literally.


def test_the_matrix_is_oriented_from_the_row_model(rendered):
    seeds, comparisons, _ = rendered
    models = list(seed_summary(seeds)["model"])
    fig = plot_verdict_matrix(comparisons, models)
    ax = fig.axes[0]
    lead = np.ma.filled(ax.images[0].get_array(), np.nan)
    labels = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    for row in comparisons.itertuples():
        i, j = models.index(row.model_a), models.index(row.model_b)
        assert lead[i, j] == pytest.approx(row.p_a_better - row.p_b_better)
        assert lead[j, i] == pytest.approx(row.p_b_better - row.p_a_better)
        assert labels[(i, j)].endswith(f"\n{row.p_a_better:.2f}")
        assert labels[(j, i)].endswith(f"\n{row.p_b_better:.2f}")
        word = {"a_better": ("better", "worse"), "b_better": ("worse", "better"),
                "equivalent": ("≈ same", "≈ same"), "undecided": ("?", "?")}[row.decision]
        assert (labels[(i, j)].split("\n")[0], labels[(j, i)].split("\n")[0]) == word
    assert np.isnan(np.diag(lead)).all()


def test_a_model_against_its_copy_shows_as_equivalent():
    seeds = make_seeds(("cnn",))
    copy = seeds[seeds["model"] == "cnn"].assign(model="cnn copy")
    seeds = pd.concat([seeds, copy], ignore_index=True)
    comparisons = comparisons_table(seeds)
    text = seeds_section(seeds, comparisons)
    rows = parse(text).tables[1][1:]
    assert ["cnn", "cnn copy", "practically equivalent"] in [[r[0], r[1], r[-1]] for r in rows]


def test_the_split_design_is_described_and_its_intervals_corrected():
    seeds = make_seeds(("cnn", "mlp"), n_seeds=6, split_seeds=list(range(6)))
    comparisons = comparisons_table(seeds, design="split", test_fraction=0.2)
    text = seeds_section(seeds, comparisons)
    prose = " ".join("".join(parse(text).text).split())
    assert "the split redrawn for every run" in prose and "ρ = 0.2" in prose
    corrected = seed_summary(seeds, design="split", test_fraction=0.2)
    plain = seed_summary(seeds)
    shown = [cells[6] for cells in parse(text).tables[0][1:]]
    assert shown == [f"{100 * r.ci_low:.2f}% – {100 * r.ci_high:.2f}%" for r in corrected.itertuples()]
    assert shown != [f"{100 * r.ci_low:.2f}% – {100 * r.ci_high:.2f}%" for r in plain.itertuples()]


def test_one_model_renders_without_comparisons():
    seeds = make_seeds(("cnn",))
    seeds = seeds[seeds["model"] == "cnn"]
    empty = pd.DataFrame(columns=["model_a", "model_b", "p_a_better", "p_b_better", "design", "rho", "rope"])
    text = seeds_section(seeds, empty)
    parsed = parse(text)
    assert len(parsed.images) == 1 and len(parsed.tables) == 1
    assert "Only one model ran: no pairs to compare." in text
