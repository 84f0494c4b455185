"""The real server: uvicorn on a free local port, a burst of concurrent requests, the command line and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hwr_eval.errors import HwrError

from .conftest import needs_serve_extra, stroke_png

needs_serve_extra()
REPO = Path(__file__).resolve().parents[2]


def post_png(url: str, png: bytes, context: str = "all", path: str = "api/predict", **fields) -> tuple[int, dict]:
    """POST a PNG as multipart/form-data with the standard library (no client library in the way)."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in {"context": context, **fields}.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.png"\r\n'
                 "Content-Type: image/png\r\n\r\n".encode() + png + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + path, data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_burst_of_50_concurrent_requests(live_server):
    url, _ = live_server
    drawings = [stroke_png([[(144, 40), (144, 250)]]), stroke_png([[(70, 50), (220, 50), (120, 250)]])]
    single = [post_png(url, png) for png in drawings]
    assert all(status == 200 for status, _ in single)
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda i: post_png(url, drawings[i % 2]), range(50)))
    assert [status for status, _ in answers] == [200] * 50
    for i, (_, body) in enumerate(answers):  # every answer is the one a lone request gets
        expected = single[i % 2][1]
        assert body["input"] == expected["input"] and body["models"] == expected["models"]


def test_oversized_upload_to_the_real_server_gets_413(live_server):
    url, _ = live_server
    from hwr_eval.serve import MAX_UPLOAD_BYTES

    request = urllib.request.Request(url + "api/predict", data=bytes(MAX_UPLOAD_BYTES + 1), method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert caught.value.code == 413
    assert "limit" in json.loads(caught.value.read())["error"]


def test_bind_picks_a_free_local_port_or_the_given_one():
    from hwr_eval.serve import bind, is_local, url_of

    first = bind()
    try:
        host, port = first.getsockname()[:2]
        assert host == "127.0.0.1" and port > 0 and url_of(first) == f"http://127.0.0.1:{port}/"
        with pytest.raises(HwrError, match="cannot listen"):
            bind("127.0.0.1", port)  # taken
    finally:
        first.close()
    assert is_local("127.0.0.1") and is_local("localhost") and is_local("::1") and is_local("127.3.2.1")
    assert not is_local("0.0.0.0") and not is_local("192.168.1.5") and not is_local("example.org")


def _read_until(stream, needle: str, timeout: float) -> list[str]:
    """Lines of ``stream`` up to the one containing ``needle`` (read in a thread: a pipe read blocks)."""
    lines, found = [], threading.Event()

    def reader():
        for line in stream:
            lines.append(line)
            if needle in line:
                found.set()
                return

    threading.Thread(target=reader, daemon=True).start()
    if not found.wait(timeout):
        raise AssertionError(f"no line with {needle!r} within {timeout}s: {lines}")
    return lines


def test_cli_serves_warns_for_a_network_address_and_stops_on_ctrl_c(serve_run, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"}
    process = subprocess.Popen([sys.executable, "-m", "hwr_eval", "serve", str(serve_run), "--host", "0.0.0.0",
                                "--collect", str(tmp_path / "mine")], cwd=REPO, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = _read_until(process.stdout, "serving", timeout=240)
        line = lines[-1]
        assert "knn, logreg, cnn" in line and "0.0.0.0:" in line
        port = int(line.split("0.0.0.0:")[1].split("/")[0])
        # Traffic only to this machine's loopback address.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=60) as response:
            assert [m["name"] for m in json.loads(response.read())["models"]] == ["knn", "logreg", "cnn"]
        status, saved = post_png(f"http://127.0.0.1:{port}/", stroke_png([[(144, 40), (144, 250)]]),
                                 path="api/collect", label="1")
        assert status == 200 and (tmp_path / "mine" / saved["saved"]).is_file()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out.strip().splitlines()[-1] == "stopped"
    assert "WARNING: listening on 0.0.0.0: anyone" in err
    assert "Traceback" not in err


def test_cli_bad_run_folder_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from hwr_eval.cli import app

    result = CliRunner().invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code == 2
    assert "results.json" in result.output and "Traceback" not in result.output
    start = time.monotonic()
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "missing")])
    assert result.exit_code == 2 and time.monotonic() - start < 60
