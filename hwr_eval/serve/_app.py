"""The web app: one self-contained page and a JSON API over the saved models of one run folder.

``GET /`` the page; ``GET /api/models`` the models and their test accuracy; ``POST /api/predict`` every
model's answer for one image; ``POST /api/collect`` save a confirmed drawing (with ``--collect DIR``).
FastAPI documents the API at ``/docs`` (OpenAPI at ``/openapi.json``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from ..errors import HwrError
from ._models import CONTEXT_CHOICES, ServedModel, load_run_models

#: Largest request body accepted (bytes): a phone photo fits; anything larger gets 413.
MAX_UPLOAD_BYTES = 16 * 2**20
#: Largest image accepted (pixels, read from the header before decoding): a 20-megapixel photo fits.
#: Lower than ``hwr-eval predict``'s limit because a server decodes many images at once.
MAX_UPLOAD_PIXELS = 24_000_000
#: An oversized body is read and dropped up to this many times the limit, so the client gets its 413.
DRAIN_FACTOR = 4

_IMAGE_FIELD = {"type": "string", "format": "binary", "description": "The image: PNG, JPEG, TIFF, BMP or GIF."}
_DATA_URL = {"type": "string", "description": "The image as a data URL, e.g. data:image/png;base64,iVBOR..."}
_CONTEXT = {"type": "string", "enum": list(CONTEXT_CHOICES), "default": "all",
            "description": "Allowed classes: all, digits or letters (probabilities renormalised over them)."}
_LABEL = {"type": "string", "description": "The drawing's true class (one digit or letter)."}


def _body_doc(fields: dict, required: list[str], json_image: str = "image") -> dict:
    """OpenAPI request body for an endpoint that takes a file upload or a JSON body with a data URL."""
    form = {"file": _IMAGE_FIELD, **fields}
    data = {json_image: _DATA_URL, **fields}
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": form, "required": ["file", *required]}},
        "application/json": {"schema": {"type": "object", "properties": data, "required": [json_image, *required]}},
    }}}


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413 before the app parses any of it.

    The rest of an oversized body (up to :data:`DRAIN_FACTOR` times the limit) is read and dropped before
    the answer goes out: a client still sending when the server closes the connection sees a reset
    connection instead of the 413. Beyond that the connection is simply closed.
    """

    def __init__(self, app, limit: int):
        self.app, self.limit = app, int(limit)

    async def _refuse(self, receive, send, received: int, more: bool) -> None:
        while more and received <= DRAIN_FACTOR * self.limit:
            message = await receive()
            if message["type"] != "http.request":
                return
            received += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = f'{{"error": "request body is larger than the limit of {self.limit:,} bytes"}}'.encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            return await self._refuse(receive, send, 0, True)
        chunks, size = [], 0
        while True:  # chunked uploads carry no length: count while reading
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                return await self._refuse(receive, send, size, more)
            if not more:
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def _decode_data_url(text) -> bytes:
    if not isinstance(text, str) or not text.startswith("data:image/") or ";base64," not in text[:64]:
        raise HwrError("image must be a data URL such as data:image/png;base64,...")
    try:
        return base64.b64decode(text.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise HwrError("image data URL is not valid base64") from None


async def _read_request(request) -> tuple[bytes, dict]:
    """The image bytes and the other fields of a multipart upload or a JSON body."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HwrError("multipart upload needs a file field named 'file'")
        data = await upload.read()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    elif kind == "application/json":
        try:
            payload = await request.json()
        except ValueError:
            raise HwrError("body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise HwrError("JSON body must be an object with an 'image' data URL")
        data = _decode_data_url(payload.get("image"))
        fields = {k: v for k, v in payload.items() if k != "image" and isinstance(v, str)}
    else:
        raise HwrError("send multipart/form-data with a 'file' field, or JSON with an 'image' data URL")
    if not data:
        raise HwrError("the image is empty")
    return data, fields


def _png_data_url(pixels: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _one_thread() -> None:
    """Worker-thread set-up: BLAS and OpenMP pools of one thread (OpenMP's setting is per thread)."""
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    torch.set_num_threads(1)


def page_html() -> str:
    """The page: HTML with its CSS and JavaScript inline (no request leaves the server's origin)."""
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


def create_app(run_dir: str | os.PathLike, collect_dir: str | os.PathLike | None = None, *,
               max_upload_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS,
               models: list[ServedModel] | None = None, workers: int | None = None, onnx: bool = False):
    """The FastAPI app serving the saved models of ``run_dir``.

    Parameters
    ----------
    run_dir : path-like
        A run folder written by ``hwr-eval compare --save-models``; its models are loaded once, here.
    collect_dir : path-like, optional
        Where confirmed drawings are saved (``DIR/<class>/<time>-<n>.png``); None: collecting is off.
    max_upload_bytes : int, default=MAX_UPLOAD_BYTES
        Larger request bodies get 413.
    max_pixels : int, default=MAX_UPLOAD_PIXELS
        Larger images get 400 (read from the header, before decoding).
    models : list of ServedModel, optional
        Already loaded models of ``run_dir`` (from :func:`load_run_models`); loaded here when None.
    workers : int, optional
        Threads that preprocess and predict (default: one per CPU core). Each computes on one core:
        PyTorch is set to one thread for the whole process.
    onnx : bool, default=False
        Answer with ONNX Runtime: each model is exported in memory (see :func:`load_run_models`).
    """
    from ..data import read_character
    from ._collect import Collector

    run_dir = Path(run_dir)
    served = load_run_models(run_dir, onnx=onnx) if models is None else models
    by_name = {m.name: m for m in served}
    classes = sorted({c for m in served for c in m.classes}, key=lambda c: (not c.isdigit(), c.islower(), c))
    collector = Collector(collect_dir) if collect_dir is not None else None
    # Each worker thread computes on one core, so n cores answer n drawings at once; threads spinning in
    # BLAS, OpenMP and PyTorch pools of their own made one answer 20-50x slower on a busy machine.
    pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2, thread_name_prefix="hwr-serve",
                              initializer=_one_thread)
    html = page_html()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(lifespan=lifespan, title="hwr-eval serve", summary=f"Every saved model of run {run_dir.name} answers your drawing.",
                  version="1")
    app.add_middleware(BodyLimit, limit=max_upload_bytes)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)

    @app.exception_handler(HwrError)
    async def _user_error(request, exc):
        return error(400, str(exc))

    @app.exception_handler(HTTPException)
    async def _http(request, exc):
        return error(exc.status_code, exc.detail)

    @app.exception_handler(Exception)
    async def _bug(request, exc):  # still one line of JSON; the traceback goes to the server's log
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    def preprocess(data: bytes) -> tuple[np.ndarray, np.ndarray]:
        x, ink = read_character(io.BytesIO(data), max_pixels=max_pixels, name="upload")
        return x, ink.grey

    def predict(data: bytes, context: str) -> dict:
        start = time.perf_counter()
        x, _ = preprocess(data)
        timings = {"preprocess": round(1000 * (time.perf_counter() - start), 2)}
        answers = []
        for model in served:
            begin = time.perf_counter()
            answers.append(model.answer(x, context))
            timings[model.name] = round(1000 * (time.perf_counter() - begin), 2)
        return {"context": context, "input": _png_data_url(x.reshape(28, 28)), "models": answers,
                "elapsed_ms": round(1000 * (time.perf_counter() - start), 2), "timings_ms": timings}

    def collect(data: bytes, label: str) -> dict:
        _, grey = preprocess(data)
        path = collector.save(grey, label)
        return {"saved": path.relative_to(collector.folder).as_posix(), "label": label, "count": collector.count(label)}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(html)

    @app.get("/api/models", summary="The run's models with their test accuracy and abstention setting")
    def list_models() -> dict:
        return {"run": run_dir.name, "classes": "".join(classes), "contexts": list(CONTEXT_CHOICES),
                "collect": collector is not None, "models": [m.describe() for m in served]}

    @app.post("/api/predict", summary="Every model's answer for one image of one character",
              openapi_extra=_body_doc({"context": _CONTEXT}, []))
    async def predict_endpoint(request: Request) -> dict:
        """Upload an image (multipart field ``file``) or send JSON ``{"image": "data:image/png;base64,..."}``;
        optional ``context`` (all, digits, letters). Returns the preprocessed 28x28 input as a PNG data URL
        and, per model, the top-3 classes with probabilities, ``abstained`` (at the run's target risk; null
        without a stored threshold) and ``unknown`` (null unless the model carries an unknown-input detector).
        """
        data, fields = await _read_request(request)
        context = fields.get("context") or request.query_params.get("context") or "all"
        if context not in CONTEXT_CHOICES:
            raise HwrError(f"unknown context {context!r}; choose one of {', '.join(CONTEXT_CHOICES)}")
        return await asyncio.get_running_loop().run_in_executor(pool, predict, data, context)

    @app.post("/api/collect", summary="Save a drawing under its confirmed label (server started with --collect)",
              openapi_extra=_body_doc({"label": _LABEL}, ["label"]))
    async def collect_endpoint(request: Request) -> dict:
        """Same image forms as ``/api/predict`` plus ``label``; saves ``DIR/<class>/<time>-<n>.png``."""
        if collector is None:
            raise HTTPException(404, "collecting is off: start the server with --collect DIR")
        data, fields = await _read_request(request)
        label = fields.get("label", "")
        if label not in classes:
            raise HwrError(f"label {label!r} is not a class of these models ({''.join(classes)})")
        return await asyncio.get_running_loop().run_in_executor(pool, collect, data, label)

    app.state.models = by_name
    app.state.run_dir = run_dir
    return app


__all__ = ["MAX_UPLOAD_BYTES", "MAX_UPLOAD_PIXELS", "BodyLimit", "create_app", "page_html"]
