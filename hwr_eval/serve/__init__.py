"""Serve: draw a character in a browser and see what every model of a run answers; collect your own test set.

``hwr-eval serve RUN`` (or :func:`serve`) runs :func:`create_app` on a local uvicorn server. Needs the
``serve`` extra (``pip install hwr-eval[serve]``: FastAPI, uvicorn, python-multipart).
"""

from ._app import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, create_app, page_html
from ._collect import Collector
from ._models import CONTEXT_CHOICES, Abstention, ServedModel, UnknownDetector, load_run_models
from ._server import LOCAL_HOST, bind, is_local, make_server, serve, url_of

__all__ = [
    "CONTEXT_CHOICES",
    "LOCAL_HOST",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_PIXELS",
    "Abstention",
    "Collector",
    "ServedModel",
    "UnknownDetector",
    "bind",
    "create_app",
    "is_local",
    "load_run_models",
    "make_server",
    "page_html",
    "serve",
    "url_of",
]
