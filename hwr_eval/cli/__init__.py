"""The ``hwr-eval`` command line: every command is a thin layer over the public Python API."""

<<<<<<< HEAD
from . import _data, _predict, _robustness, _runs, _serve  # noqa: F401  (importing registers the commands on the app)
=======
from . import _data, _predict, _robustness, _runs, _track  # noqa: F401  (importing registers the commands on the app)
>>>>>>> mlflow
from ._common import app, main

__all__ = ["app", "main"]
