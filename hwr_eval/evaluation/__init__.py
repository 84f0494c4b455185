"""Evaluation: test-set metrics and statistics, and the run folder that records them.

Everything here works on predictions and files, so a run's numbers can be recomputed by anyone.
"""

from ._metrics import (
    MCNEMAR_EXACT_BELOW,
    bootstrap_accuracy_ci,
    evaluate,
    holm,
    mcnemar,
    mcnemar_matrix,
    top_confusions,
)
from ._run_folder import (
    REPORTS_DIR,
    SCHEMA_VERSION,
    RunWriter,
    aligned_proba,
    check_dataset,
    class_set_name,
    cv_results_table,
    data_record,
    default_command,
    environment,
    model_params,
    new_run_dir,
    prepare_run_dir,
)

__all__ = [
    "MCNEMAR_EXACT_BELOW",
    "REPORTS_DIR",
    "SCHEMA_VERSION",
    "RunWriter",
    "aligned_proba",
    "bootstrap_accuracy_ci",
    "check_dataset",
    "class_set_name",
    "cv_results_table",
    "data_record",
    "default_command",
    "environment",
    "evaluate",
    "holm",
    "mcnemar",
    "mcnemar_matrix",
    "model_params",
    "new_run_dir",
    "prepare_run_dir",
    "top_confusions",
]
