"""Workflows: compare, grid search and cross-validation, from data to a finished run folder and report."""

from ._compare import finish_run, run_compare, run_settings
from ._configure import build_models, configure_model
from ._cv import CV_SCORING, run_cv
from ._dask import dask_backend, dask_client, parse_scheduler
from ._grid import run_grid
from ._interrupt import CompareInterrupted

__all__ = [
    "CV_SCORING",
    "CompareInterrupted",
    "build_models",
    "configure_model",
    "dask_backend",
    "dask_client",
    "finish_run",
    "parse_scheduler",
    "run_compare",
    "run_cv",
    "run_grid",
    "run_settings",
]
