"""The ``hwr-eval`` command line: every command is a thin layer over the public Python API."""

from . import _data, _export, _predict, _robustness, _runs, _serve, _track  # noqa: F401  (importing registers the commands)
from ._common import app, main

__all__ = ["app", "main"]
