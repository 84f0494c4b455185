"""Workflows: compare, grid search and cross-validation, from data to a finished run folder and report."""

from ._compare import run_compare
from ._configure import build_models, build_spec_models, configure_model, run_settings
from ._cv import CV_SCORING, run_cv
from ._dask import check_scheduler, dask_backend, dask_client, parse_scheduler
from ._events import RunEvents
from ._export import EXPORT_FORMATS, export_run, stored_selective_onnx
from ._grid import run_grid
from ._interrupt import CompareInterrupted
from ._predict import (
    ABSTAIN,
    CharacterPrediction,
    ImagePrediction,
    load_model,
    predict_characters,
    predict_images,
    stored_selective,
)
from ._predict_output import check_predictions_path, prediction_rows, write_predictions, write_sheet
from ._robustness import robustness_results, run_robustness
from ._score import check_dataset, score_model, timed_fit
from ._unknowns import UNKNOWNS_FILE, load_rejector, rejector_path, run_unknowns, unknown_results

__all__ = [
    "ABSTAIN",
    "CV_SCORING",
    "EXPORT_FORMATS",
    "CharacterPrediction",
    "CompareInterrupted",
    "ImagePrediction",
    "RunEvents",
    "build_models",
    "build_spec_models",
    "check_predictions_path",
    "configure_model",
    "check_scheduler",
    "dask_backend",
    "dask_client",
    "export_run",
    "load_model",
    "parse_scheduler",
    "predict_characters",
    "predict_images",
    "prediction_rows",
    "run_compare",
    "run_cv",
    "robustness_results",
    "run_grid",
    "run_robustness",
    "run_unknowns",
    "run_settings",
    "score_model",
    "timed_fit",
    "check_dataset",
    "stored_selective",
    "stored_selective_onnx",
    "write_predictions",
    "write_sheet",
    "UNKNOWNS_FILE",
    "load_rejector",
    "rejector_path",
    "unknown_results",
]
