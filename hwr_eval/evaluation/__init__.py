"""Evaluation: test-set metrics and statistics, abstention, calibration, context and robustness.

Everything here works on predictions and files, so a run's numbers can be recomputed by anyone.
"""

from ._abstain import REJECT_LABEL, SelectiveClassifier
from ._calibration import N_BINS, calibration_metrics, fit_temperature, reliability_bins, temperature_scale_proba
from ._context import ContextClassifier, class_group, context_metrics, resolve_context, restrict_proba, restricted_metrics
from ._metrics import (
    MCNEMAR_EXACT_BELOW,
    bootstrap_accuracy_ci,
    evaluate,
    holm,
    mcnemar,
    mcnemar_matrix,
    top_confusions,
)
from ._predictions import aligned_proba
from ._reliability import records_from_arrays, reliability_records
from ._robustness import corruption_suite, evaluate_robustness, robustness_record, robustness_summary
from ._selective import (
    COVERAGES,
    DEFAULT_TARGET_RISK,
    SCORES,
    apply_threshold,
    aurc,
    check_target_risk,
    confidence_scores,
    coverage_at_risk,
    optimal_aurc,
    risk_coverage_curve,
    risk_upper_bound,
    select_threshold,
    selective_accuracy_at,
    selective_metrics,
)

__all__ = [
    "MCNEMAR_EXACT_BELOW",
    "aligned_proba",
    "bootstrap_accuracy_ci",
    "corruption_suite",
    "evaluate",
    "holm",
    "evaluate_robustness",
    "mcnemar",
    "mcnemar_matrix",
    "robustness_record",
    "robustness_summary",
    "top_confusions",
    "COVERAGES",
    "DEFAULT_TARGET_RISK",
    "N_BINS",
    "REJECT_LABEL",
    "SCORES",
    "ContextClassifier",
    "SelectiveClassifier",
    "apply_threshold",
    "aurc",
    "calibration_metrics",
    "check_target_risk",
    "class_group",
    "confidence_scores",
    "context_metrics",
    "coverage_at_risk",
    "fit_temperature",
    "optimal_aurc",
    "reliability_bins",
    "records_from_arrays",
    "reliability_records",
    "resolve_context",
    "restrict_proba",
    "restricted_metrics",
    "risk_coverage_curve",
    "risk_upper_bound",
    "select_threshold",
    "selective_accuracy_at",
    "selective_metrics",
    "temperature_scale_proba",
]
