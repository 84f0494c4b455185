"""Experiment tracking: log finished run folders and cross-validations to MLflow (optional extra ``hwr-eval[mlflow]``).

MLflow is imported only when tracking is used, so the rest of hwr-eval runs without it.
"""

from ._content import ROLE_TAG
from ._cv import TrackedCv, track_cv
from ._mlflow import (
    DEFAULT_EXPERIMENT,
    DEFAULT_STORE,
    TrackingTarget,
    TrackingWarning,
    check_tracking,
    resolve_tracking,
    track_run,
)
from ._source import TrackedRun, read_run

__all__ = [
    "DEFAULT_EXPERIMENT",
    "DEFAULT_STORE",
    "ROLE_TAG",
    "TrackedCv",
    "TrackedRun",
    "TrackingTarget",
    "TrackingWarning",
    "check_tracking",
    "read_run",
    "resolve_tracking",
    "track_cv",
    "track_run",
]
