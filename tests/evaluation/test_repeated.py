"""Comparisons across training runs: checked against baycomp, scipy and hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hwr_eval import HwrError
from hwr_eval.evaluation import (
    COMPARISON_COLUMNS,
    SEED_COLUMNS,
    comparisons_table,
    corrected_ttest,
    correlated_ttest,
    design_correlation,
    paired_scores,
    seed_summary,
    seeds_to_decide,
)


@pytest.fixture(scope="module")
def baycomp():
    return pytest.importorskip("baycomp", reason="baycomp (in the dev extra) is the oracle of the Bayesian test")


def seeds_frame(scores: dict[str, list[float]], split_seeds=None, **extra) -> pd.DataFrame:
    """A seeds.csv table: one row per model and run, seeds 0.. in order, one split unless given."""
    rows = []
    for model, values in scores.items():
        for k, value in enumerate(values):
            split = 0 if split_seeds is None else split_seeds[k]
            rows.append({"model": model, "seed": k, "split_seed": split, "accuracy": value, "macro_f1": value - 0.01,
                         "fit_time_s": 1.0 + k, **{c: v[k] for c, v in extra.items()}})
    return pd.DataFrame(rows, columns=[*SEED_COLUMNS, *extra])


def hand_posterior(a, b, rho, rope):
    """The posterior probabilities straight from Benavoli et al.'s formula, with scipy's Student t."""
    d = np.asarray(a) - np.asarray(b)
    n = d.size
    scale = d.std(ddof=1) * np.sqrt(1 / n + rho / (1 - rho))
    better = stats.t.sf(rope, n - 1, loc=d.mean(), scale=scale)
    worse = stats.t.cdf(-rope, n - 1, loc=d.mean(), scale=scale)
    return better, 1 - better - worse, worse


# --- the Bayesian correlated t-test ---------------------------------------------------------------


@pytest.mark.parametrize(("n", "runs", "rope", "shift"), [
    (10, 1, 0.001, 0.002),   # 10-fold cross-validation once: rho = 1/10
    (10, 2, 0.001, 0.002),   # 5-fold twice: rho = 1/5
    (20, 4, 0.005, -0.004),  # 5-fold four times, a wider ROPE, B better
    (12, 3, 0.0, 0.001),     # no ROPE: the equivalence region is empty
    (6, 2, 0.002, 0.0),      # 3-fold twice: rho = 1/3
])
def test_posterior_probabilities_match_baycomp(baycomp, n, runs, rope, shift):
    rng = np.random.default_rng(n * 100 + runs)
    a = 0.93 + shift + rng.normal(0, 0.004, n)
    b = 0.93 + rng.normal(0, 0.004, n)
    ours = correlated_ttest(a, b, rho=runs / n, rope=rope)
    # baycomp takes the difference y - x: its left region is "x better", so x = A gives A's order.
    if rope > 0:
        expected = baycomp.two_on_single(a, b, rope=rope, runs=runs)
    else:
        p_left, p_right = baycomp.CorrelatedTTest.probs(a, b, rope=0, runs=runs)
        expected = (p_left, 0.0, p_right)
    got = (ours["p_a_better"], ours["p_equivalent"], ours["p_b_better"])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # Swapping the models swaps the outer probabilities.
    swapped = correlated_ttest(b, a, rho=runs / n, rope=rope)
    np.testing.assert_allclose([swapped["p_b_better"], swapped["p_a_better"]], [got[0], got[2]], atol=1e-12)


@pytest.mark.parametrize("rope", [0.001, 0.003])
def test_independent_seeds_match_baycomps_posterior_without_correction(baycomp, rope):
    # rho = 0 is no number of cross-validation runs, so the oracle is baycomp's posterior itself,
    # given the uncorrected variance s^2 / n.
    rng = np.random.default_rng(7)
    a, b = 0.95 + rng.normal(0, 0.003, 8), 0.948 + rng.normal(0, 0.003, 8)
    d = a - b
    expected = baycomp.single.Posterior(d.mean(), d.var(ddof=1) / d.size, d.size - 1, rope).probs()
    ours = correlated_ttest(a, b, rho=0.0, rope=rope)
    # Posterior's difference runs the other way round (y - x): its left is B better here.
    np.testing.assert_allclose([ours["p_b_better"], ours["p_equivalent"], ours["p_a_better"]], expected, atol=1e-6)


def test_worked_example_by_hand():
    # Differences A - B over five seeds: 0.004, 0.001, 0.003, 0.006, 0.001 (rho 0, ROPE 0.001).
    #   mean d = 0.015 / 5 = 0.003
    #   squared deviations 1, 4, 0, 9, 4 (x 1e-6), sum 18e-6; s^2 = 18e-6 / 4 = 4.5e-6, s = 0.0021213
    #   scale = s * sqrt(1/5) = 0.00094868; degrees of freedom 4
    #   P(A better) = P(T4 > (0.001 - 0.003) / 0.00094868 = -2.1082) = 0.94865
    #   P(B better) = P(T4 < (-0.001 - 0.003) / 0.00094868 = -4.2164) = 0.00676
    #   P(equivalent) = 1 - 0.94865 - 0.00676 = 0.04459: nothing reaches 0.95, so undecided.
    b = np.full(5, 0.9)
    a = b + np.array([0.004, 0.001, 0.003, 0.006, 0.001])
    ours = correlated_ttest(a, b, rho=0.0, rope=0.001)
    assert ours["p_a_better"] == pytest.approx(0.94865, abs=5e-6)
    assert ours["p_b_better"] == pytest.approx(0.00676, abs=5e-6)
    assert ours["p_equivalent"] == pytest.approx(0.04459, abs=1e-5)
    np.testing.assert_allclose([ours["p_a_better"], ours["p_equivalent"], ours["p_b_better"]],
                               hand_posterior(a, b, 0.0, 0.001), rtol=1e-9)
    # With a sixth seed at the same mean and sd, scale = 0.0021213 / sqrt(6) = 0.00086603 and
    # P(T5 > -2.3094) = 0.9654 >= 0.95: six seeds would likely decide it.
    assert seeds_to_decide(0.003, float(np.sqrt(4.5e-6)), 5, rho=0.0, rope=0.001) == 6
    # The table says the same in words.
    table = comparisons_table(seeds_frame({"A": list(a), "B": list(b)}))
    assert table.loc[0, "verdict"] == "undecided with 5 seeds (about 6 would likely decide it)"
    assert table.loc[0, "seeds_to_decide"] == 6


# --- the Nadeau-Bengio corrected t-test --------------------------------------------------------------


def test_corrected_ttest_by_hand_for_repeated_cross_validation():
    # Same differences, as 4-fold cross-validation (rho = 1/4): n_test / n_train = 1/3.
    #   scale = 0.0021213 * sqrt(1/5 + 1/3) = 0.0015492;  t = 0.003 / 0.0015492 = 1.9365 (4 df)
    #   p = 2 * P(T4 > 1.9365) = 0.12488
    b = np.full(5, 0.9)
    a = b + np.array([0.004, 0.001, 0.003, 0.006, 0.001])
    result = corrected_ttest(a, b, rho=design_correlation("cv", n_folds=4))
    assert result["statistic"] == pytest.approx(1.9365, abs=1e-4)
    assert result["p_value"] == pytest.approx(0.12488, abs=1e-5)
    assert result["df"] == 4
    d = a - b
    n_test_over_n_train = 1 / 3
    t = d.mean() / np.sqrt(d.var(ddof=1) * (1 / d.size + n_test_over_n_train))
    assert result["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), d.size - 1), rel=1e-12)


def test_corrected_ttest_without_correlation_is_the_paired_ttest():
    rng = np.random.default_rng(3)
    a, b = 0.9 + rng.normal(0, 0.01, 7), 0.9 + rng.normal(0, 0.01, 7)
    reference = stats.ttest_rel(a, b)
    result = corrected_ttest(a, b, rho=0.0)
    assert result["statistic"] == pytest.approx(reference.statistic, rel=1e-12)
    assert result["p_value"] == pytest.approx(reference.pvalue, rel=1e-12)


def test_corrected_ttest_with_constant_differences():
    same = np.array([0.9, 0.91, 0.92])
    assert corrected_ttest(same, same, rho=0.0) == {"statistic": 0.0, "p_value": 1.0, "df": 2}
    shifted = corrected_ttest(same + 0.01, same, rho=0.0)
    assert shifted["statistic"] == np.inf and shifted["p_value"] == 0.0
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floats: rounding, not a difference to test.
    rounded = corrected_ttest([0.1 + 0.2, 0.6], [0.3, 0.6], rho=0.0)
    assert rounded == {"statistic": 0.0, "p_value": 1.0, "df": 1}
    assert correlated_ttest([0.1 + 0.2, 0.6], [0.3, 0.6])["sd"] == 0.0


# --- verdicts -----------------------------------------------------------------------------------------


def test_a_model_against_itself_is_practically_equivalent():
    scores = [0.951, 0.948, 0.953, 0.949, 0.950]
    table = comparisons_table(seeds_frame({"cnn": scores, "cnn copy": scores}))
    row = table.iloc[0]
    assert (row["p_a_better"], row["p_equivalent"], row["p_b_better"]) == (0.0, 1.0, 0.0)
    assert row["verdict"] == "practically equivalent" and row["decision"] == "equivalent"
    assert (row["mean_diff"], row["ci_low"], row["ci_high"]) == (0.0, 0.0, 0.0)
    assert (row["wins_a"], row["ties"], row["p_value"]) == (0.5, 1.0, 1.0)
    assert pd.isna(row["seeds_to_decide"])


def test_a_clearly_better_model_wins():
    rng = np.random.default_rng(1)
    table = comparisons_table(seeds_frame({"cnn": list(0.97 + rng.normal(0, 0.002, 5)),
                                           "mlp": list(0.94 + rng.normal(0, 0.002, 5))}))
    row = table.iloc[0]
    assert row["verdict"] == "cnn better" and row["decision"] == "a_better"
    assert row["p_a_better"] >= 0.95 and row["wins_a"] == 1.0
    assert row["ci_low"] > 0
    # Listed the other way round, the verdict names the same model.
    reverse = comparisons_table(seeds_frame({"mlp": list(0.94 + rng.normal(0, 0.002, 5)), "cnn": [0.97] * 5}))
    assert reverse.loc[0, "verdict"] == "cnn better" and reverse.loc[0, "decision"] == "b_better"


def test_a_noisy_small_difference_is_undecided_with_a_plausible_number_of_seeds():
    rng = np.random.default_rng(11)
    a = 0.95 + 0.002 + rng.normal(0, 0.004, 5)
    b = 0.95 + rng.normal(0, 0.004, 5)
    row = comparisons_table(seeds_frame({"A": list(a), "B": list(b)})).iloc[0]
    assert row["decision"] == "undecided" and row["verdict"].startswith("undecided with 5 seeds (about ")
    needed = int(row["seeds_to_decide"])
    assert f"about {needed} would likely decide it" in row["verdict"]
    # At `needed` seeds with the same mean and sd one probability reaches 0.95, at one fewer none does.
    d = a - b

    def best(m):
        scale = d.std(ddof=1) / np.sqrt(m)
        better = stats.t.sf(0.001, m - 1, loc=d.mean(), scale=scale)
        worse = stats.t.cdf(-0.001, m - 1, loc=d.mean(), scale=scale)
        return max(better, worse, 1 - better - worse)

    assert 5 < needed < 1000
    assert best(needed) >= 0.95 > best(needed - 1)


def test_a_correlation_floor_means_more_runs_would_not_decide():
    # With rho = 0.2 the scale never drops below s * sqrt(0.25) = 0.005; a mean of 0.002 then never
    # makes any region reach 0.95.
    assert seeds_to_decide(0.002, 0.01, 10, rho=0.2, rope=0.001) is None
    rng = np.random.default_rng(5)
    a = 0.95 + 0.002 + rng.normal(0, 0.01, 10)
    b = 0.95 + rng.normal(0, 0.01, 10)
    row = comparisons_table(seeds_frame({"A": list(a), "B": list(b)}, split_seeds=list(range(10))),
                            design="split", test_fraction=0.2).iloc[0]
    assert row["verdict"] == "undecided with 10 splits (more of the same would likely not decide it)"


def test_wins_count_ties_half():
    table = comparisons_table(seeds_frame({"A": [0.91, 0.90, 0.92, 0.95], "B": [0.90, 0.91, 0.92, 0.94]}))
    assert table.loc[0, "wins_a"] == pytest.approx((2 + 0.5) / 4)
    assert table.loc[0, "ties"] == pytest.approx(0.25)


# --- the table --------------------------------------------------------------------------------------------


def test_comparisons_table_columns_numbers_and_pairs_in_order():
    rng = np.random.default_rng(2)
    scores = {m: list(0.93 + 0.003 * k + rng.normal(0, 0.003, 6)) for k, m in enumerate(["knn", "cnn", "mlp"])}
    table = comparisons_table(seeds_frame(scores), rope=0.002)
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    assert list(table.columns[:9]) == ["model_a", "model_b", "mean_diff", "ci_low", "ci_high", "p_a_better",
                                       "p_equivalent", "p_b_better", "verdict"]
    assert list(zip(table["model_a"], table["model_b"])) == [("knn", "cnn"), ("knn", "mlp"), ("cnn", "mlp")]
    for row in table.itertuples():
        a, b = np.array(scores[row.model_a]), np.array(scores[row.model_b])
        d = a - b
        assert row.mean_diff == pytest.approx(d.mean(), rel=1e-12)
        low, high = stats.t.interval(0.95, d.size - 1, loc=d.mean(), scale=d.std(ddof=1) / np.sqrt(d.size))
        assert (row.ci_low, row.ci_high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
        np.testing.assert_allclose([row.p_a_better, row.p_equivalent, row.p_b_better],
                                   hand_posterior(a, b, 0.0, 0.002), atol=1e-12)
        assert row.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)
        assert (row.n_runs, row.rho, row.rope, row.design) == (6, 0.0, 0.002, "seeds")


def test_repeated_cross_validation_pairs_by_fold():
    # 5-fold cross-validation repeated twice: ten runs per model, rho = 1/5 (baycomp's runs=2, checked above).
    rng = np.random.default_rng(4)
    a, b = 0.92 + rng.normal(0, 0.005, 10), 0.915 + rng.normal(0, 0.005, 10)
    folds, repeats = [k % 5 for k in range(10)], [k // 5 for k in range(10)]
    frame = seeds_frame({"A": list(a), "B": list(b)}, split_seeds=repeats, fold=folds)
    frame["seed"] = 0  # one model seed: the runs differ by repeat (split_seed) and fold
    # The order of the runs must not matter (models still listed A first).
    frame = frame.sample(frac=1.0, random_state=0).sort_values("model", kind="stable")
    row = comparisons_table(frame, design="cv", n_folds=5).iloc[0]
    np.testing.assert_allclose([row.p_a_better, row.p_equivalent, row.p_b_better],
                               hand_posterior(a, b, 0.2, 0.001), atol=1e-12)
    assert row["rho"] == pytest.approx(0.2) and row["n_runs"] == 10
    assert row["p_value"] == pytest.approx(corrected_ttest(a, b, rho=0.2)["p_value"], rel=1e-12)


def test_a_seed_deterministic_model_pairs_with_every_seed():
    frame = seeds_frame({"cnn": [0.95, 0.96, 0.94], "knn": [0.93], "logreg": [0.92]})
    a, b = paired_scores(frame, "cnn", "knn")
    np.testing.assert_array_equal(a, [0.95, 0.96, 0.94])
    np.testing.assert_array_equal(b, [0.93, 0.93, 0.93])
    summary = seed_summary(frame).set_index("model")
    assert summary.loc["knn", ["n", "mean", "sd", "ci_low", "ci_high"]].tolist() == [1, 0.93, 0.0, 0.93, 0.93]
    # Two models the seed does not change differ exactly: a point mass, decided at once.
    row = comparisons_table(frame).set_index(["model_a", "model_b"]).loc[("knn", "logreg")]
    assert (row["p_a_better"], row["verdict"], row["n_runs"]) == (1.0, "knn better", 1)


def test_seed_summary_matches_numpy_and_scipy():
    scores = {"cnn": [0.95, 0.96, 0.94, 0.952], "mlp": [0.93, 0.931, 0.925, 0.94]}
    summary = seed_summary(seeds_frame(scores))
    assert list(summary.columns) == ["model", "n", "mean", "sd", "min", "max", "ci_low", "ci_high",
                                     "macro_f1_mean", "fit_time_s_mean"]
    for row in summary.itertuples():
        x = np.array(scores[row.model])
        low, high = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
        assert (row.n, row.min, row.max) == (x.size, x.min(), x.max())
        assert (row.mean, row.sd) == (pytest.approx(x.mean()), pytest.approx(x.std(ddof=1)))
        assert (row.ci_low, row.ci_high) == (pytest.approx(low), pytest.approx(high))
        assert row.macro_f1_mean == pytest.approx(x.mean() - 0.01)
        assert row.fit_time_s_mean == pytest.approx(2.5)
    # For the correlated designs the interval widens by Nadeau and Bengio's factor.
    cv = seed_summary(seeds_frame(scores), design="cv", n_folds=4).iloc[0]
    x = np.array(scores["cnn"])
    half = stats.t.ppf(0.975, 3) * x.std(ddof=1) * np.sqrt(1 / 4 + 1 / 3)
    assert (cv["ci_low"], cv["ci_high"]) == (pytest.approx(x.mean() - half), pytest.approx(x.mean() + half))


def test_design_correlation():
    assert design_correlation() == 0.0
    assert design_correlation("split", test_fraction=0.25) == 0.25
    assert design_correlation("cv", n_folds=5) == 0.2


# --- bad input --------------------------------------------------------------------------------------------


GOOD = {"A": [0.9, 0.91], "B": [0.92, 0.93]}


@pytest.mark.parametrize(("frame", "message"), [
    (seeds_frame(GOOD).drop(columns=["split_seed", "fit_time_s"]), "lacks column(s) split_seed, fit_time_s"),
    (seeds_frame(GOOD).iloc[:0], "has no rows"),
    (seeds_frame(GOOD).assign(accuracy=[0.9, np.nan, 0.92, 0.93]), "missing or non-numeric values in column(s) accuracy"),
    (seeds_frame(GOOD).assign(seed=[0, None, 0, 1]), "column(s) seed"),
    (seeds_frame(GOOD).assign(macro_f1=["x", 0.9, 0.9, 0.9]), "column(s) macro_f1"),
    (seeds_frame({"A": [90.0, 91.0], "B": [92.0, 93.0]}), "'accuracy' must hold fractions in [0, 1]"),
    (seeds_frame({"A": [0.9], "B": [0.92]}), "every model in the seeds table ran only once"),
    (seeds_frame(GOOD).assign(seed=[0, 0, 0, 1]), "repeats the run"),
    (seeds_frame({"A": [0.9, 0.91]}), "holds one model ('A')"),
    ("not a frame", "'seeds' parameter of comparisons_table must be an instance of 'pandas"),
])
def test_bad_seed_tables_are_refused_in_one_line(frame, message):
    with pytest.raises(HwrError, match=None) as info:
        comparisons_table(frame)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rope": -0.01}, "'rope' parameter of comparisons_table must be a float in the range [0.0, 1.0)"),
    ({"design": "folds"}, "'design' parameter of comparisons_table must be a str among"),
    ({"design": "split"}, "design 'split' needs test_fraction"),
    ({"design": "cv"}, "design 'cv' needs n_folds"),
    ({"design": "cv", "n_folds": 1}, "'n_folds' parameter"),
    ({"metric": "f1"}, "'metric' parameter"),
    ({"confidence": 95}, "'confidence' parameter"),
])
def test_bad_settings_are_refused_in_one_line(kwargs, message):
    with pytest.raises(HwrError) as info:
        comparisons_table(seeds_frame(GOOD), **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_runs_that_do_not_pair_are_refused():
    frame = seeds_frame({"A": [0.9, 0.91, 0.92], "B": [0.92, 0.93, 0.94]})
    frame.loc[frame["model"] == "B", "seed"] = [5, 6, 7]
    with pytest.raises(HwrError, match="share no run"):
        comparisons_table(frame)
    frame.loc[frame["model"] == "B", "seed"] = [2, 6, 7]
    with pytest.raises(HwrError, match="share only one run"):
        comparisons_table(frame)
    with pytest.raises(HwrError, match="model 'C' is not in the seeds table"):
        paired_scores(seeds_frame(GOOD), "A", "C")
    with pytest.raises(HwrError, match="2 or more finite paired scores"):
        correlated_ttest([0.9], [0.8])
    with pytest.raises(HwrError, match="2 or more finite paired scores"):
        corrected_ttest([0.9, np.nan], [0.8, 0.8], rho=0.0)
