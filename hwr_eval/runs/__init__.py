"""Runs: the spec that goes in (:class:`RunSpec`), the record that comes out (:class:`RunRecord`), and
the run folder (:class:`RunFolder`), the only code that writes or reads one.

>>> spec = RunSpec(models=("knn", "cnn"), data=DataSpec(per_class=500, seed=0), model_seed=1)
>>> spec.seed, spec.data.seed
(1, 0)
"""

from ._folder import (
    MARKER,
    REPORTS_DIR,
    RunFolder,
    check_output,
    claim_run_dir,
    class_set_name,
    data_record,
    environment,
    load_model,
    new_run_dir,
    release_run_dir,
)
from ._read import open_run, read_cv_results, read_grid_table, read_record, read_test_set, read_unknown_scores
from ._records import (
    PREDICTION_PREFIX,
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    ModelResult,
    RunRecord,
    json_value,
)
from ._spec import CLASS_SETS, DataSpec, RunSpec

__all__ = [
    "CLASS_SETS",
    "MARKER",
    "PREDICTION_PREFIX",
    "READABLE_SCHEMA_VERSIONS",
    "REPORTS_DIR",
    "SCHEMA_VERSION",
    "DataSpec",
    "ModelResult",
    "RunFolder",
    "RunRecord",
    "RunSpec",
    "check_output",
    "claim_run_dir",
    "class_set_name",
    "data_record",
    "environment",
    "json_value",
    "load_model",
    "new_run_dir",
    "open_run",
    "read_cv_results",
    "read_grid_table",
    "read_record",
    "read_test_set",
    "read_unknown_scores",
    "release_run_dir",
]
