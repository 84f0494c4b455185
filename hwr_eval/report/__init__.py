"""The report: matplotlib figures and one self-contained ``report.html`` built from a run folder alone."""

from ..runs import RunFolder, open_run
from ._build import build_report, render_report
from ._plots import (
    plot_class_counts,
    plot_confusion_matrix,
    plot_image_gallery,
    plot_image_rows,
    plot_mcnemar,
    plot_model_comparison,
    plot_sample_grid,
    plot_training_curves,
    plot_weight_maps,
)
from ._reliability import plot_reliability_diagrams, plot_risk_coverage, reliability_section
from ._robustness import plot_corruption_strip, plot_rotation_curve, plot_severity_curves
from ._seeds import plot_seed_scores, plot_verdict_matrix, seeds_section
from ._unknowns import plot_unknown_histograms, plot_unknown_roc, unknown_section
from ._wording import (
    abstention_text,
    device_text,
    epoch_limit_note,
    learned_parameters_text,
    source_images,
    stored_images,
    stores_training_set,
)

__all__ = [
    "RunFolder",
    "abstention_text",
    "device_text",
    "epoch_limit_note",
    "learned_parameters_text",
    "source_images",
    "stored_images",
    "stores_training_set",
    "build_report",
    "open_run",
    "plot_class_counts",
    "plot_confusion_matrix",
    "plot_corruption_strip",
    "plot_image_gallery",
    "plot_image_rows",
    "plot_mcnemar",
    "plot_model_comparison",
    "plot_reliability_diagrams",
    "plot_risk_coverage",
    "plot_rotation_curve",
    "plot_sample_grid",
    "plot_severity_curves",
    "plot_training_curves",
    "plot_weight_maps",
    "reliability_section",
    "render_report",
    "plot_seed_scores",
    "plot_verdict_matrix",
    "seeds_section",
    "plot_unknown_histograms",
    "plot_unknown_roc",
    "unknown_section",
]
