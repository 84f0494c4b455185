"""The report's "Across training runs" section: each model trained several times, compared pair by pair.

Built from the ``seeds.csv`` table and its :func:`~hwr_eval.evaluation.comparisons_table`; to add it to a
report, put ``seeds_section(seeds, comparisons)`` among the sections and a link to ``#``:data:`SECTION_ID`
in the table of contents.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..evaluation._repeated import seed_summary
from ._html import _int, _num, _pct, _seconds, esc, figure_html, html_table
from ._plots import legend_below

#: Anchor of the section (for the table of contents) and its heading.
SECTION_ID = "seeds"
SECTION_TITLE = "Across training runs"
#: Short cell labels of the verdict matrix, seen from the row's model.
_CELL = {"better": "better", "worse": "worse", "equivalent": "≈ same", "undecided": "?"}


def _label(name: str) -> str:
    """A model name as matplotlib text: a ``$`` would otherwise start mathtext (and may fail to parse)."""
    return str(name).replace("$", r"\$")


def plot_seed_scores(seeds: pd.DataFrame, summary: pd.DataFrame, metric: str = "accuracy",
                     title: str = "Test accuracy per training run") -> Figure:
    """One dot per training run and the mean ± sd per model.

    Parameters
    ----------
    seeds : DataFrame
        The ``seeds.csv`` table (one row per model and run).
    summary : DataFrame
        :func:`~hwr_eval.evaluation.seed_summary` of it; gives the models' order, means and sds.
    """
    models = [str(m) for m in summary["model"]]
    fig = Figure(figsize=(max(4.5, 1.1 * len(models) + 2), 3.8), layout="constrained")
    ax = fig.subplots()
    for k, model in enumerate(models):
        values = 100 * seeds.loc[seeds["model"].astype(str) == model, metric].to_numpy(dtype=float)
        # Spread the dots evenly sideways (no random jitter, so the figure is reproducible).
        offsets = np.linspace(-0.18, 0.18, values.size) if values.size > 1 else np.zeros(1)
        ax.plot(k + offsets, values, "o", color=f"C{k % 10}", alpha=0.6, markersize=5,
                label="one run" if k == 0 else None)
    mean, sd = 100 * summary["mean"].to_numpy(dtype=float), 100 * summary["sd"].to_numpy(dtype=float)
    ax.errorbar(np.arange(len(models)) + 0.32, mean, yerr=sd, fmt="s", color="black", capsize=4, markersize=5,
                label="mean ± sd")
    ax.set_xticks(range(len(models)), [_label(m) for m in models])
    ax.set_xlim(-0.6, len(models) - 0.4)
    ax.set_xlabel("model")
    ax.set_ylabel(f"{metric.replace('_', ' ')} on the test set (%)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    legend_below(fig, ax)
    return fig


def _cells(comparisons: pd.DataFrame, models: Sequence[str]) -> tuple[np.ndarray, list[list[str]]]:
    """P(row model better than column model) and the row model's verdict against each column model."""
    index = {m: k for k, m in enumerate(models)}
    n = len(models)
    prob = np.full((n, n), np.nan)
    word = [["—" if i == j else "" for j in range(n)] for i in range(n)]
    flip = {"a_better": "b_better", "b_better": "a_better"}
    for row in comparisons.itertuples(index=False):
        i, j = index[str(row.model_a)], index[str(row.model_b)]
        prob[i, j], prob[j, i] = row.p_a_better, row.p_b_better
        for r, c, code in ((i, j, row.decision), (j, i, flip.get(row.decision, row.decision))):
            word[r][c] = {"a_better": "better", "b_better": "worse"}.get(code, code)
    return prob, word


def plot_verdict_matrix(comparisons: pd.DataFrame, models: Sequence[str],
                        title: str = "Row model against column model") -> Figure:
    """Model x model matrix of every pair's verdict, seen from the row model.

    Colour is P(row model better) minus P(column model better): blue where the row model is likely better,
    red where the column model is, white for a practically equivalent (or even) pair. Each cell gives the
    row model's verdict and P(row model better).
    """
    models = [str(m) for m in models]
    prob, word = _cells(comparisons, models)
    lead = prob - prob.T  # P(row better) - P(column better)
    n = len(models)
    fig = Figure(figsize=(max(3.8, 1.0 * n + 2.4), max(3.0, 0.75 * n + 1.6)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(lead, cmap="RdBu", vmin=-1.0, vmax=1.0)
    for i in range(n):
        for j in range(n):
            if i == j:
                ax.text(j, i, "—", ha="center", va="center", fontsize=9, color="#888")
                continue
            dark = abs(lead[i, j]) > 0.6
            ax.text(j, i, f"{_CELL.get(word[i][j], word[i][j])}\n{prob[i, j]:.2f}", ha="center", va="center",
                    fontsize=8, color="white" if dark else "black")
    ax.set_xticks(range(n), [_label(m) for m in models])
    ax.set_yticks(range(n), [_label(m) for m in models])
    ax.set_xlabel("column model")
    ax.set_ylabel("row model")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="P(row better) − P(column better)", shrink=0.85)
    return fig


def _diff(value) -> str:
    try:
        return f"{100 * float(value):+.2f} pp"
    except (TypeError, ValueError):
        return "—"


def _span(low, high) -> str:
    try:
        return f"{100 * float(low):+.2f} to {100 * float(high):+.2f} pp"
    except (TypeError, ValueError):
        return "—"


def _design_text(comparisons: pd.DataFrame, summary: pd.DataFrame) -> str:
    runs = int(summary["n"].max())
    single = [esc(str(m)) for m, n in zip(summary["model"], summary["n"]) if n == 1]
    design = str(comparisons["design"].iloc[0]) if len(comparisons) else "seeds"
    rho = float(comparisons["rho"].iloc[0]) if len(comparisons) else 0.0
    rope = float(comparisons["rope"].iloc[0]) if len(comparisons) else None
    if design == "split":
        how = (f"Each model was trained {runs} times, the split redrawn for every run. Runs share training "
               f"images, so the tests are corrected for their correlation ρ = {rho:.3g} (the test fraction, "
               "after Nadeau and Bengio).")
    elif design == "cv":
        how = (f"Each model was scored on {runs} folds of repeated cross-validation; folds share training "
               f"images, so the tests are corrected for their correlation ρ = {rho:.3g} (one over the number of folds).")
    else:
        how = (f"Each model was trained {runs} times with a different model seed on the same split; the runs are "
               "independent draws of the training randomness (ρ = 0), and the conclusions hold for this split.")
    if single:
        how += f" Fitted once, as the seed does not change them: {', '.join(single)}."
    if rope is not None:
        how += (f" A difference within ±{100 * rope:.2g} accuracy points counts as practical equivalence; a verdict "
                "needs a posterior probability of 0.95 (Bayesian correlated t-test, Benavoli et al. 2017).")
    return how


def seeds_section(seeds: pd.DataFrame, comparisons: pd.DataFrame, summary: pd.DataFrame | None = None) -> str:
    """HTML of the "Across training runs" section.

    Parameters
    ----------
    seeds : DataFrame
        The ``seeds.csv`` table (:data:`~hwr_eval.evaluation.SEED_COLUMNS`).
    comparisons : DataFrame
        Its :func:`~hwr_eval.evaluation.comparisons_table` (the design is read from its ``design``,
        ``rho`` and ``rope`` columns); empty when only one model ran.
    summary : DataFrame, optional
        Its :func:`~hwr_eval.evaluation.seed_summary`; computed (for the comparisons' design) when absent.

    Returns
    -------
    str
        ``<section id="seeds">`` ... ``</section>``; every name from the table is escaped.
    """
    if summary is None:
        rho = float(comparisons["rho"].iloc[0]) if len(comparisons) else 0.0
        # seed_summary takes the design's own setting; rho is the test fraction or 1/k alike.
        design = str(comparisons["design"].iloc[0]) if len(comparisons) else "seeds"
        settings = {"split": {"test_fraction": rho}, "cv": {"n_folds": round(1 / rho) if rho else None}}
        summary = seed_summary(seeds, design=design, **settings.get(design, {}))
    parts = [f'<section id="{SECTION_ID}"><h2>{esc(SECTION_TITLE)}</h2>',
             '<p class="note wide">The single-run numbers elsewhere in this report (McNemar\'s test, the bootstrap '
             "intervals of accuracy) cover only the noise of the test images for one training run of each model; "
             "this section covers the training randomness, by training each model several times.</p>",
             f'<p class="note wide">{_design_text(comparisons, summary)}</p>']
    parts.append(figure_html(
        plot_seed_scores(seeds, summary),
        alt="Test accuracy of every training run of each model as dots, with each model's mean and standard deviation.",
        caption="Dots: one training run each; black: mean ± standard deviation over the runs."))
    rows = [[esc(str(r.model)), _int(r.n), _pct(r.mean, 2), _diff(r.sd).lstrip("+"), _pct(r.min, 2), _pct(r.max, 2),
             f"{_pct(r.ci_low, 2)} – {_pct(r.ci_high, 2)}", _seconds(getattr(r, "fit_time_s_mean", None))]
            for r in summary.itertuples(index=False)]
    parts.append(html_table(["model", "runs", "mean accuracy", "sd", "min", "max", "95% interval of the mean",
                             "mean fit time"], rows, numeric=[False] + [True] * 7,
                            caption="Test accuracy over the training runs (sd with ddof = 1; a model run once has sd 0)."))
    if len(comparisons):
        rows = [[esc(str(r.model_a)), esc(str(r.model_b)), _diff(r.mean_diff), _span(r.ci_low, r.ci_high),
                 _num(r.p_a_better), _num(r.p_equivalent), _num(r.p_b_better), _pct(r.wins_a, 0), _num(r.p_value, ".3g"),
                 esc(str(r.verdict))]
                for r in comparisons.itertuples(index=False)]
        parts.append(html_table(
            ["model A", "model B", "mean difference (A − B)", "95% interval", "P(A better)", "P(equivalent)",
             "P(B better)", "runs A wins", "p (corrected t-test)", "verdict"],
            rows, numeric=[False, False] + [True] * 7 + [False],
            caption="Paired by run. Runs A wins counts ties as half; p is the Nadeau-Bengio corrected t-test "
                    "(the paired t-test for independent seeds)."))
        parts.append(figure_html(
            plot_verdict_matrix(comparisons, list(summary["model"])),
            alt="Matrix of every pair of models coloured by the probability that the row model is better.",
            caption="Blue: the row model is likely better; red: the column model is; white: practically "
                    "equivalent or even. Each cell gives the row model's verdict and P(row model better)."))
    else:
        parts.append("<p>Only one model ran: no pairs to compare.</p>")
    parts.append('<p class="top"><a href="#top">back to top</a></p></section>')
    return "".join(parts)
