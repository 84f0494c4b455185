"""Workflows: compare, grid search and cross-validation, from data to a finished run folder and report."""

from ._compare import finish_run, run_compare, run_settings
from ._configure import build_models, configure_model
from ._cv import CV_SCORING, run_cv
from ._dask import check_scheduler, dask_backend, dask_client, parse_scheduler
from ._grid import run_grid
from ._interrupt import CompareInterrupted
from ._predict import (
    ABSTAIN,
    CONTEXTS,
    CharacterPrediction,
    ImagePrediction,
    context_classes,
    load_model,
    predict_images,
    stored_selective,
)
from ._predict_output import check_output, prediction_rows, write_predictions, write_sheet
from ._robustness import robustness_results, run_robustness

__all__ = [
    "ABSTAIN",
    "CONTEXTS",
    "CV_SCORING",
    "CharacterPrediction",
    "CompareInterrupted",
    "ImagePrediction",
    "context_classes",
    "build_models",
    "check_output",
    "configure_model",
    "check_scheduler",
    "dask_backend",
    "dask_client",
    "finish_run",
    "load_model",
    "parse_scheduler",
    "predict_images",
    "prediction_rows",
    "run_compare",
    "run_cv",
    "robustness_results",
    "run_grid",
    "run_robustness",
    "run_settings",
    "stored_selective",
    "write_predictions",
    "write_sheet",
]
