"""Evaluation helpers checked against textbook values and independent recomputation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import classification_report

from hwr_eval.evaluation import (
    MCNEMAR_EXACT_BELOW,
    bootstrap_accuracy_ci,
    evaluate,
    mcnemar,
    mcnemar_matrix,
    same_right_pairs,
    top_confusions,
)


def _pairs(b: int, c: int, both_right: int = 0, both_wrong: int = 0):
    """Labels and two prediction vectors with exactly the given 2x2 McNemar table."""
    y = np.array(["A"] * (b + c + both_right + both_wrong))
    wrong = "B"
    pa = np.array(["A"] * b + [wrong] * c + ["A"] * both_right + [wrong] * both_wrong)
    pb = np.array([wrong] * b + ["A"] * c + ["A"] * both_right + [wrong] * both_wrong)
    return y, pa, pb


def test_mcnemar_chi2_textbook_value():
    # Classic 2x2 table (a=101, b=121, c=59, d=33): corrected statistic (|121-59|-1)^2/180 = 20.672.
    y, pa, pb = _pairs(121, 59, both_right=101, both_wrong=33)
    res = mcnemar(y, pa, pb)
    assert res["method"] == "chi2"
    assert (res["b"], res["c"]) == (121, 59)
    assert res["statistic"] == pytest.approx(61**2 / 180)
    # Survival function of chi-square with one degree of freedom: erfc(sqrt(x / 2)).
    assert res["p_value"] == pytest.approx(math.erfc(math.sqrt(res["statistic"] / 2)), rel=1e-9)
    assert 1e-6 < res["p_value"] < 1e-5


def test_mcnemar_exact_for_few_discordant_pairs():
    y, pa, pb = _pairs(6, 16, both_right=59, both_wrong=80)
    assert 6 + 16 < MCNEMAR_EXACT_BELOW
    res = mcnemar(y, pa, pb)
    expected = 2 * sum(math.comb(22, k) for k in range(7)) / 2**22
    assert res["method"] == "exact"
    assert res["p_value"] == pytest.approx(expected, rel=1e-9)
    assert res["p_value"] == pytest.approx(0.0525, abs=5e-4)


def test_mcnemar_identical_and_symmetric():
    y, pa, pb = _pairs(0, 0, both_right=10, both_wrong=3)
    assert mcnemar(y, pa, pb)["p_value"] == 1.0
    y, pa, pb = _pairs(30, 12, both_right=50)
    m = mcnemar_matrix(y, {"a": pa, "b": pb, "c": pa})
    assert m["models"] == ["a", "b", "c"]
    p = np.array(m["p_value"])
    assert np.allclose(p, p.T) and np.all(np.diag(p) == 1.0)
    assert m["p_value"][0][2] == 1.0  # a model against itself
    assert m["discordant"][0][1] == 30 and m["discordant"][1][0] == 12
    assert m["statistic"][0][1] == pytest.approx((18 - 1) ** 2 / 42)
    # The diagonal (a model against itself) in the layout results.json documents.
    for i in range(3):
        assert (m["statistic"][i][i], m["discordant"][i][i], m["p_value_holm"][i][i], m["method"][i][i]) == (0.0, 0, 1.0, None)
    assert m["method"][0][1] == m["method"][1][0] == mcnemar(y, pa, pb)["method"] == "chi2"
    assert m["method"][0][2] == "exact"  # no discordant images


def test_mcnemar_is_exact_below_the_threshold_and_chi_square_from_it():
    y, pa, pb = _pairs(MCNEMAR_EXACT_BELOW - 1, 0)
    assert mcnemar(y, pa, pb)["method"] == "exact"
    y, pa, pb = _pairs(MCNEMAR_EXACT_BELOW, 0)
    res = mcnemar(y, pa, pb)
    assert res["method"] == "chi2" and res["p_value"] == pytest.approx(stats.chi2.sf(res["statistic"], df=1))


def test_bootstrap_ci_is_reproducible_and_sensible():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 2000).astype(str)
    pred = np.where(rng.random(2000) < 0.8, y, "x")
    acc = float(np.mean(pred == y))
    low, high = bootstrap_accuracy_ci(y, pred, seed=3)
    assert (low, high) == bootstrap_accuracy_ci(y, pred, seed=3)
    assert (low, high) != bootstrap_accuracy_ci(y, pred, seed=4)
    assert low < acc < high


def test_bootstrap_ci_edge_sizes_and_documented_defaults():
    assert all(math.isnan(end) for end in bootstrap_accuracy_ci([], []))
    assert bootstrap_accuracy_ci(["A"], ["A"]) == (1.0, 1.0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 4000)
    pred = np.where(rng.random(4000) < 0.9, y, -1)
    default = bootstrap_accuracy_ci(y, pred)
    assert default == bootstrap_accuracy_ci(y, pred, n_resamples=1000, seed=0)
    # The data tell these settings apart, so the equality above pins the documented defaults.
    assert default != bootstrap_accuracy_ci(y, pred, n_resamples=1001, seed=0)
    assert default != bootstrap_accuracy_ci(y, pred, n_resamples=1000, seed=1)


def test_bootstrap_ci_of_a_large_test_set_is_resampled_in_chunks_without_changing_it():
    # 10,000 images: 800 resamples per chunk (8 M indices). Chunking must not change the draws.
    rng = np.random.default_rng(2)
    y = rng.integers(0, 36, 10_000)
    pred = np.where(rng.random(10_000) < 0.95, y, -1)
    correct = y == pred
    idx = np.random.default_rng(0).integers(0, y.size, size=(1000, y.size))
    expected = np.quantile(correct[idx].mean(axis=1), [0.025, 0.975])
    assert bootstrap_accuracy_ci(y, pred) == tuple(expected)


@pytest.mark.parametrize("confidence", [0.95, 0.90])
def test_bootstrap_ci_has_the_stated_coverage(confidence):
    # Resampling n images with replacement makes the number right Binomial(n, acc): the bootstrap
    # interval's ends are that distribution's quantiles. The tolerance, 0.15 standard error (under three
    # images here; the Monte-Carlo error at 4000 resamples is about 0.04 SE plus one image of rounding),
    # is half the gap between a 95% and a 90% end (0.31 SE), so a 90% interval reported as 95% fails.
    rng = np.random.default_rng(1)
    n = 2000
    y = rng.integers(0, 5, n).astype(str)
    pred = np.where(rng.random(n) < 0.8, y, "x")
    acc = float(np.mean(pred == y))
    se = math.sqrt(acc * (1 - acc) / n)
    low, high = bootstrap_accuracy_ci(y, pred, n_resamples=4000, confidence=confidence, seed=0)
    alpha = (1 - confidence) / 2
    expected_low, expected_high = stats.binom.ppf([alpha, 1 - alpha], n, acc) / n
    assert low == pytest.approx(expected_low, abs=0.15 * se)
    assert high == pytest.approx(expected_high, abs=0.15 * se)
    if confidence == 0.95:  # what results.json calls accuracy_ci95 is this 95% interval
        ci95 = evaluate(y, pred, n_resamples=4000, seed=0)["metrics"]["accuracy_ci95"]
        np.testing.assert_allclose(ci95, [expected_low, expected_high], atol=0.15 * se)
        assert tuple(ci95) == bootstrap_accuracy_ci(y, pred, n_resamples=4000, seed=0)


def test_top_confusions_order_and_ties():
    cm = np.array([[5, 3, 0], [1, 4, 3], [7, 0, 2]])
    got = top_confusions(cm, ["a", "b", "c"], k=3)
    assert got == [
        {"true": "c", "predicted": "a", "count": 7},
        {"true": "a", "predicted": "b", "count": 3},
        {"true": "b", "predicted": "c", "count": 3},
    ]
    assert len(top_confusions(np.eye(3, dtype=int), ["a", "b", "c"])) == 0


def test_top_confusions_lists_ten_single_errors_in_class_order_by_default():
    classes = [str(i) for i in range(36)]
    cm = np.ones((36, 36), dtype=int) + 9 * np.eye(36, dtype=int)  # every confusion made once: 1,260 ties
    got = top_confusions(cm, classes)
    assert [(c["true"], c["predicted"], c["count"]) for c in got] == [("0", str(j), 1) for j in range(1, 11)]


def test_evaluate_matches_classification_report():
    rng = np.random.default_rng(0)
    classes = ["0", "1", "O", "Z"]
    y = rng.choice(classes[:3], 300)  # "Z" never occurs: support 0, no warning, no crash
    pred = np.where(rng.random(300) < 0.7, y, rng.choice(classes, 300))
    proba = rng.random((300, 4))
    proba /= proba.sum(axis=1, keepdims=True)
    res = evaluate(y, pred, proba, classes, seed=0)
    report = classification_report(y, pred, labels=classes, output_dict=True, zero_division=0)
    m = res["metrics"]
    assert m["accuracy"] == pytest.approx(np.mean(y == pred))
    assert m["f1_macro"] == pytest.approx(report["macro avg"]["f1-score"])
    assert m["precision_weighted"] == pytest.approx(report["weighted avg"]["precision"])
    assert m["recall_macro"] == pytest.approx(report["macro avg"]["recall"])
    recalls = [np.mean(pred[y == c] == c) for c in classes[:3]]
    assert m["balanced_accuracy"] == pytest.approx(np.mean(recalls))
    assert m["accuracy_ci95"][0] < m["accuracy"] < m["accuracy_ci95"][1]
    top2 = np.argsort(-proba, axis=1)[:, :2]
    assert m["top2_accuracy"] == pytest.approx(np.mean([classes.index(t) in row for t, row in zip(y, top2)]))
    picked = proba[np.arange(300), [classes.index(t) for t in y]]
    assert m["log_loss"] == pytest.approx(-np.mean(np.log(picked)))
    assert [r["class"] for r in res["per_class"]] == classes
    for row in res["per_class"]:
        assert row["f1"] == pytest.approx(report[row["class"]]["f1-score"])
        assert row["support"] == int(np.sum(y == row["class"]))
    cm = np.array(res["confusion_matrix"])
    assert cm.shape == (4, 4) and cm.sum() == 300
    assert cm[classes.index("0"), classes.index("O")] == np.sum((y == "0") & (pred == "O"))
    assert res["top_confusions"][0]["count"] == cm[~np.eye(4, dtype=bool)].max()


def test_evaluate_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="labels"):
        evaluate(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="proba"):
        evaluate(["a", "b"], ["a", "b"], np.ones((2, 3)), ["a", "b"])


def test_holm_adjustment_matches_the_step_down_rule():
    from hwr_eval.evaluation import holm

    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1
    assert holm([]).size == 0


def test_mcnemar_matrix_keeps_raw_and_holm_adjusted_p_values():
    from hwr_eval.evaluation import holm, mcnemar_matrix

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=400)
    preds = {name: np.where(rng.random(400) < acc, y, (y + 1) % 3) for name, acc in
             [("a", 0.9), ("b", 0.8), ("c", 0.85), ("d", 0.7)]}
    res = mcnemar_matrix(y, preds)
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    raw = [res["p_value"][i][j] for i, j in pairs]
    np.testing.assert_allclose([res["p_value_holm"][i][j] for i, j in pairs], holm(raw))
    assert all(res["p_value_holm"][j][i] == res["p_value_holm"][i][j] for i, j in pairs)
    assert any(h > r for h, r in zip(holm(raw), raw))  # adjusted, not copied


@pytest.mark.parametrize("order", [["B", "A"], ["C", "A", "B"], ["A", "B", "C"]])
def test_probability_metrics_follow_the_given_class_order(order):
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(1)
    y = np.array(order)[rng.integers(0, len(order), size=60)]
    proba = rng.dirichlet(np.ones(len(order)), size=60)
    proba[np.arange(60), [order.index(c) for c in y]] += 3  # mostly right, columns in `order`
    proba /= proba.sum(axis=1, keepdims=True)
    y_pred = np.array(order)[proba.argmax(axis=1)]
    metrics = evaluate(y, y_pred, proba, classes=order, n_resamples=10)["metrics"]
    sorted_cols = np.argsort(order)
    assert metrics["log_loss"] == pytest.approx(log_loss(y, proba[:, sorted_cols], labels=sorted(order)))
    assert metrics["log_loss"] < 0.5
    if len(order) > 2:
        assert metrics["top2_accuracy"] >= metrics["accuracy"]


def test_evaluate_refuses_labels_outside_the_classes():
    from hwr_eval.errors import HwrError

    with pytest.raises(HwrError, match=r"labels \['Z'\] in y_true are not among classes"):
        evaluate(["A", "Z"], ["A", "A"], classes=["A", "B"], n_resamples=10)
    with pytest.raises(HwrError, match="classes must be distinct"):
        evaluate(["A"], ["A"], classes=["A", "A"], n_resamples=10)


def test_mcnemar_with_no_or_balanced_disagreement_is_p_one_statistic_zero():
    y, pa, pb = _pairs(0, 0, both_right=10, both_wrong=3)
    assert mcnemar(y, pa, pb) == {"statistic": 0.0, "p_value": 1.0, "method": "exact", "b": 0, "c": 0}
    # b == c: no evidence either way. The corrected (|b - c| - 1)^2 / n would give 1/n; it is 0.
    y, pa, pb = _pairs(15, 15, both_right=10)
    res = mcnemar(y, pa, pb)
    assert res["method"] == "chi2" and res["statistic"] == 0.0 and res["p_value"] == 1.0


def test_same_right_pairs_are_those_with_no_discordant_image():
    y = np.array(list("AABBCC"))
    predictions = {
        "main": np.array(list("AABCCA")),
        "cascade": np.array(list("AABACB")),  # other wrong labels, but the same images right as main
        "other": np.array(list("AABBCA")),  # one image main got wrong, right
    }
    mc = mcnemar_matrix(y, predictions)
    assert same_right_pairs(mc) == [("main", "cascade")]
    assert mc["p_value"][0][1] == 1.0  # McNemar alone cannot say why
    assert same_right_pairs(mcnemar_matrix(y, {"a": y, "b": y.copy(), "c": y.copy()})) == [("a", "b"), ("a", "c"), ("b", "c")]
