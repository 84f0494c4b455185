"""Fixtures for the server tests: a real run folder with three small trained models, a real uvicorn server."""

from __future__ import annotations

import io
import threading
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image, ImageDraw


def needs_serve_extra() -> None:
    """Skip the calling test module when the serve extra is not installed (called at its top)."""
    for module in ("fastapi", "uvicorn", "multipart", "httpx"):
        pytest.importorskip(module, reason=f"{module} is missing: install the test tools (pip install -e '.[dev]')")


@pytest.fixture(scope="session")
def serve_run(small_synthetic, tmp_path_factory):
    """A run folder with knn, logreg and a one-epoch cnn saved (synthetic data: no real images anywhere).

    The cnn runs in fp32 on every CPU ("auto" is bf16 where the CPU has it), so that its ONNX export,
    which computes in fp32, must give the same answers.
    """
    from hwr_eval.workflows import run_compare

    out = tmp_path_factory.mktemp("serve") / "run"
    return run_compare(["knn", "logreg", "cnn"], small_synthetic, out, save_models=True, max_epochs=1, report=False,
                       n_resamples=50, seed=0, params={"cnn": {"precision": "fp32"}})


@pytest.fixture(scope="session")
def served_models(serve_run):
    from hwr_eval.serve import load_run_models

    return load_run_models(serve_run)


def stroke_png(lines, size: int = 288, width: int = 18) -> bytes:
    """A drawing like the page's canvas: black strokes on white, as PNG bytes."""
    img = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(img)
    for line in lines:
        draw.line(line, fill=0, width=width, joint="curve")
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def character_png(pixels: np.ndarray, scale: int = 6) -> bytes:
    """A dataset character (white on black, 28x28) as a dark-on-light scan, scaled up, as PNG bytes."""
    img = Image.fromarray(255 - np.asarray(pixels, dtype=np.uint8).reshape(28, 28), mode="L")
    img = img.resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def live_server(serve_run, served_models, tmp_path):
    """A real uvicorn server on a free local port in a thread; yields (base URL, collect folder)."""
    from hwr_eval.serve import bind, create_app, make_server, url_of

    collect = tmp_path / "collected"
    app = create_app(serve_run, collect, models=served_models)
    sock = bind("127.0.0.1", None)
    server = make_server(app, sock)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = url_of(sock)
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    with urllib.request.urlopen(url + "api/models", timeout=10) as response:
        assert response.status == 200
    yield url, collect
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()
