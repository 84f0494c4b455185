"""Selective classification: risk-coverage curve, AURC and thresholds against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hwr_eval.errors import HwrError
from hwr_eval.evaluation import (
    apply_threshold,
    aurc,
    confidence_scores,
    coverage_at_risk,
    optimal_aurc,
    records_from_arrays,
    risk_coverage_curve,
    risk_upper_bound,
    select_threshold,
    selective_accuracy_at,
)


def test_hand_computed_curve_and_aurc():
    correct = [1, 1, 1, 0, 1, 0]
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    curve = risk_coverage_curve(correct, scores)
    np.testing.assert_allclose(curve["coverage"], np.arange(1, 7) / 6)
    np.testing.assert_allclose(curve["risk"], [0, 0, 0, 1 / 4, 1 / 5, 2 / 6])
    # Mean of the selective risks over k = 1..6.
    assert aurc(correct, scores) == pytest.approx((1 / 4 + 1 / 5 + 2 / 6) / 6)
    # Best possible with four right answers out of six: (1/5 + 2/6) / 6.
    assert optimal_aurc(correct) == pytest.approx((1 / 5 + 2 / 6) / 6)
    assert coverage_at_risk(correct, scores, 0.2) == pytest.approx(5 / 6)
    assert coverage_at_risk(correct, scores, 0.1) == pytest.approx(3 / 6)
    assert selective_accuracy_at(correct, scores, 0.6) == {"coverage": pytest.approx(4 / 6), "accuracy": 0.75}


def test_perfectly_ranked_model_reaches_the_risk_free_minimum():
    rng = np.random.default_rng(0)
    correct = rng.random(5000) < 0.9
    scores = np.where(correct, rng.uniform(0.5, 1.0, correct.size), rng.uniform(0.0, 0.5, correct.size))
    assert aurc(correct, scores) == pytest.approx(optimal_aurc(correct), abs=1e-12)
    r = 1 - correct.mean()
    assert optimal_aurc(correct) == pytest.approx(r + (1 - r) * math.log(1 - r), rel=2e-3)  # continuous limit
    # Zero risk until every right answer is in: coverage at a tiny target is the accuracy.
    assert coverage_at_risk(correct, scores, 1e-9) == pytest.approx(correct.mean())
    # The worst ranking (every error first) is far above the minimum.
    assert aurc(correct, -scores) > 5 * optimal_aurc(correct)


def test_constant_confidence_gives_a_flat_curve():
    correct = np.array([1, 0, 1, 1, 0, 1, 1, 1], dtype=bool)
    scores = np.full(correct.size, 0.7)
    curve = risk_coverage_curve(correct, scores)
    # Ties are never split: one operating point, the overall risk at full coverage.
    assert curve["coverage"].tolist() == [1.0] and curve["risk"].tolist() == [0.25]
    assert aurc(correct, scores) == pytest.approx(0.25)
    assert selective_accuracy_at(correct, scores, 0.9)["accuracy"] == pytest.approx(0.75)
    # Below the overall risk nothing can be accepted; at or above it, everything.
    assert apply_threshold(correct, scores, select_threshold(correct, scores, 0.2))["coverage"] == 0.0
    assert select_threshold(correct, scores, 0.3) == pytest.approx(0.7)


def test_ties_are_grouped():
    curve = risk_coverage_curve([1, 0, 1], [0.9, 0.9, 0.5])
    np.testing.assert_allclose(curve["coverage"], [2 / 3, 1])
    np.testing.assert_allclose(curve["risk"], [1 / 2, 1 / 3])
    np.testing.assert_allclose(curve["threshold"], [0.9, 0.5])


def test_confidence_scores():
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(confidence_scores(proba, "max_proba"), [0.6, 0.6, 0.5])
    np.testing.assert_allclose(confidence_scores(proba, "margin"), [0.3, 0.4, 0.0])
    with pytest.raises(HwrError, match="unknown confidence score"):
        confidence_scores(proba, "entropy")


def test_clopper_pearson_upper_bound():
    assert risk_upper_bound(3, 200) == pytest.approx(stats.beta.ppf(0.95, 4, 197))
    # No errors: the "rule of three" neighbourhood, 1 - 0.05 ** (1 / n).
    assert risk_upper_bound(0, 100) == pytest.approx(1 - 0.05 ** (1 / 100))
    assert risk_upper_bound(0, 0) == 1.0
    result = apply_threshold([1, 1, 0, 1], [0.9, 0.8, 0.7, 0.2], threshold=0.5)
    assert result == {"n_accepted": 3, "n_errors": 1, "coverage": 0.75, "risk": pytest.approx(1 / 3),
                      "risk_upper": pytest.approx(stats.beta.ppf(0.95, 2, 2))}


def test_bound_option_is_more_cautious():
    rng = np.random.default_rng(1)
    scores = rng.random(2000)
    correct = rng.random(2000) < 0.5 + 0.5 * scores  # surer images are right more often
    plain = select_threshold(correct, scores, 0.1)
    cautious = select_threshold(correct, scores, 0.1, bound=True)
    assert cautious > plain
    assert apply_threshold(correct, scores, cautious)["risk_upper"] <= 0.1


def _records(val_right, val_scores, test_right, test_scores, target_risk):
    """Schema records from two-class probabilities built to have the given correctness and confidence."""
    def arrays(right, scores):
        y = np.array(["A"] * len(right))
        pred = np.where(right, "A", "B")
        top = np.asarray(scores, dtype=float)
        proba = np.where(np.asarray(right)[:, None], np.c_[top, 1 - top], np.c_[1 - top, top])
        return y, pred, proba

    y_val, val_pred, val_proba = arrays(val_right, val_scores)
    y_test, test_pred, test_proba = arrays(test_right, test_scores)
    return records_from_arrays(y_val, val_pred, val_proba, y_test, test_pred, test_proba, ["A", "B"],
                               target_risk=target_risk)


def test_threshold_is_chosen_on_validation_never_on_test():
    rng = np.random.default_rng(2)
    val_scores = rng.uniform(0.5, 1.0, 400)
    val_right = val_scores > 0.6  # on validation, everything above 0.6 is right
    test_scores = rng.uniform(0.5, 1.0, 400)
    test_right = test_scores < 0.9  # on test the surest images are the wrong ones
    # Target below one error in ~320: the threshold is the lowest validation score with no error below it.
    rec = _records(val_right, val_scores, test_right, test_scores, 0.002)["selective"]
    assert rec["threshold"] == pytest.approx(val_scores[val_right].min())
    assert rec["validation"]["risk"] == 0.0
    # Applied to test as it is: the achieved risk is reported, far above the target, with its bound.
    expected = apply_threshold(test_right, test_scores, rec["threshold"])
    assert rec["test"] == pytest.approx(expected)
    assert rec["test"]["risk"] > 0.1 and rec["test"]["risk_upper"] > rec["test"]["risk"]
    # Whatever the test split holds, the threshold does not move.
    other = _records(val_right, val_scores, ~test_right, rng.uniform(0.5, 1.0, 400), 0.002)["selective"]
    assert other["threshold"] == rec["threshold"]
    # The test-curve summaries are honest figures of the test split itself.
    assert rec["coverage_at_target_risk"] == pytest.approx(coverage_at_risk(test_right, test_scores, 0.002))


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, float("nan"), "x", None])
def test_target_risk_outside_0_1_is_one_line_error(bad):
    with pytest.raises(HwrError, match="target risk must be") as info:
        select_threshold([1, 0], [0.9, 0.1], bad)
    assert "\n" not in str(info.value)


def test_mismatched_or_empty_input():
    with pytest.raises(HwrError, match="2 correctness flags but 3 scores"):
        aurc([1, 0], [0.1, 0.2, 0.3])
    with pytest.raises(HwrError, match="no images"):
        aurc([], [])
    with pytest.raises(HwrError, match="NaN"):
        aurc([1, 0], [0.5, np.nan])
