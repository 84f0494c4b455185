"""``hwr-eval data fetch`` against a local HTTP server on 127.0.0.1 (loopback only, files made here)."""

import contextlib
import hashlib
import http.server
import io
import os
import re
import socket
import struct
import threading
import zipfile
from pathlib import Path

import pytest

from hwr_eval.data._fetch import Resource, cache_dir, data_cache_dir, download, fetch
from hwr_eval.errors import DataError


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (name -> bytes), honouring Range unless ``server.ranges`` is False."""

    def do_GET(self):  # noqa: N802 (http.server API)
        self.server.requests.append((self.path, self.headers.get("Range")))
        body = self.server.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and self.server.ranges:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            body = body[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _serve(handler, **attributes):
    """An HTTP server on a free loopback port, in a thread, for the length of the block."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.timeout = 5
    for name, value in attributes.items():
        setattr(httpd, name, value)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server():
    with _serve(_RangeHandler, files={}, requests=[], ranges=True) as httpd:
        yield httpd


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fetch_downloads_and_verifies(server, tmp_path):
    server.files = {"a.gz": b"A" * 5000, "b.gz": b"B" * 10}
    resources = {"toy": [Resource(n, (server.url + n,), sha256=_sha(d)) for n, d in server.files.items()]}
    got = fetch(["toy"], dest=tmp_path, resources=resources, progress=False)
    assert [p.read_bytes() for p in got] == [b"A" * 5000, b"B" * 10]
    n_requests = len(server.requests)
    fetch(["toy"], dest=tmp_path, resources=resources, progress=False)  # already there: nothing downloaded
    assert len(server.requests) == n_requests


def test_download_resumes_with_range(server, tmp_path):
    payload = bytes(range(256)) * 100
    server.files = {"big.gz": payload}
    (tmp_path / "big.gz.part").write_bytes(payload[:1000])  # an interrupted earlier download
    download(server.url + "big.gz", tmp_path / "big.gz")
    assert server.requests[-1][1] == "bytes=1000-"
    assert (tmp_path / "big.gz").read_bytes() == payload
    assert not (tmp_path / "big.gz.part").exists()


def test_download_restarts_when_server_ignores_range(server, tmp_path):
    server.ranges = False
    payload = b"xyz" * 1000
    server.files = {"f": payload}
    (tmp_path / "f.part").write_bytes(b"garbage")
    download(server.url + "f", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == payload


def test_checksum_mismatch_is_an_error_and_leaves_no_file(server, tmp_path):
    server.files = {"a.gz": b"tampered"}
    resources = {"toy": [Resource("a.gz", (server.url + "a.gz",), sha256=_sha(b"original"))]}
    with pytest.raises(DataError, match="a.gz: sha256 mismatch"):
        fetch(["toy"], dest=tmp_path, resources=resources, progress=False)
    assert not (tmp_path / "a.gz").exists()


def test_falls_back_to_next_mirror_and_reports_failure(server, tmp_path):
    server.files = {"ok": b"data"}
    good = Resource("ok", (server.url + "missing", server.url + "ok"), sha256=_sha(b"data"))
    assert fetch(["toy"], dest=tmp_path, resources={"toy": [good]}, progress=False)[0].read_bytes() == b"data"
    bad = Resource("bad", (server.url + "missing",))
    with pytest.raises(DataError, match="bad: every mirror failed.*HTTP 404"):
        fetch(["toy"], dest=tmp_path, resources={"toy": [bad]}, progress=False)


def test_zip_members_are_extracted(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("gzip/emnist-letters-train-labels-idx1-ubyte.gz", b"labels")
        zf.writestr("gzip/other.gz", b"unwanted")
    server.files = {"gzip.zip": buffer.getvalue()}
    res = Resource("e.zip", (server.url + "gzip.zip",), md5=hashlib.md5(buffer.getvalue()).hexdigest(),
                   extract=("gzip/emnist-letters-train-labels-idx1-ubyte.gz",))
    got = fetch(["emnist"], dest=tmp_path, resources={"emnist": [res]}, progress=False)
    assert [p.name for p in got] == ["emnist-letters-train-labels-idx1-ubyte.gz"]
    assert got[0].read_bytes() == b"labels"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emnist-letters-train-labels-idx1-ubyte.gz"]


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        fetch(["cifar"], dest=tmp_path, progress=False)


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and data_cache_dir() == tmp_path / "c" / "data"
    monkeypatch.delenv("HWR_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "hwr-eval"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "hwr-eval"


def test_fetched_mnist_is_found_by_load_dataset(server, tmp_path, monkeypatch, data_files):
    """What fetch puts into the cache is where load_dataset looks when no data is named."""
    source = data_files.mnist(tmp_path / "src", n_train=40, n_test=10)
    server.files = {p.name: p.read_bytes() for p in source.iterdir()}
    resources = {"mnist": [Resource(n, (server.url + n,), sha256=_sha(d)) for n, d in server.files.items()]}
    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HWR_DATA", raising=False)
    fetch(["mnist"], resources=resources, progress=False)
    from hwr_eval import load_dataset

    data = load_dataset(classes="digits", per_class=5)
    assert not data.synthetic and data.provenance["data_dir"] == str((tmp_path / "cache" / "data").resolve())


class _DropHandler(http.server.BaseHTTPRequestHandler):
    """Announces ``server.payload``, sends its first half, then resets the connection."""

    def do_GET(self):  # noqa: N802 (http.server API)
        self.server.requests.append((self.path, self.headers.get("Range")))
        self.send_response(200)
        payload = self.server.payload
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[:len(payload) // 2])
        self.wfile.flush()
        # SO_LINGER 0: close() sends RST, so the client's read fails (ConnectionResetError).
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def log_message(self, *args):
        pass


@pytest.fixture
def dropping_server():
    # 2 MiB: more than one read
    with _serve(_DropHandler, requests=[], payload=bytes(range(256)) * 8192) as httpd:
        yield httpd


def test_dropped_connection_is_a_data_error_that_keeps_the_part(dropping_server, tmp_path):
    with pytest.raises(DataError, match="run again to resume"):
        download(dropping_server.url + "f", tmp_path / "f", timeout=5)
    assert not (tmp_path / "f").exists() and (tmp_path / "f.part").exists()  # kept for a resume


def test_dropped_connection_falls_back_to_the_next_mirror(dropping_server, server, tmp_path):
    payload = dropping_server.payload  # the same file on both mirrors
    server.files = {"f": payload}
    res = Resource("f", (dropping_server.url + "f", server.url + "f"), sha256=_sha(payload))
    got = fetch(["toy"], dest=tmp_path, resources={"toy": [res]}, progress=False)
    assert got[0].read_bytes() == payload and len(dropping_server.requests) == 1


def test_unverified_download_never_takes_the_final_name(server, tmp_path, monkeypatch):
    """The checksum is checked on the .part file: a bad download is never visible under its real name."""
    import hwr_eval.data._fetch as fetch_module

    server.files = {"a.gz": b"tampered"}
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(fetch_module.os, "replace", lambda a, b: (seen.append(Path(b).name), real_replace(a, b)))
    resources = {"toy": [Resource("a.gz", (server.url + "a.gz",), sha256=_sha(b"original"))]}
    with pytest.raises(DataError, match="sha256 mismatch"):
        fetch(["toy"], dest=tmp_path, resources=resources, progress=False)
    assert "a.gz" not in seen and list(tmp_path.iterdir()) == []


def test_corrupt_existing_file_is_downloaded_again(server, tmp_path):
    server.files = {"a.gz": b"A" * 100}
    resources = {"toy": [Resource("a.gz", (server.url + "a.gz",), sha256=_sha(b"A" * 100))]}
    (tmp_path / "a.gz").write_bytes(b"A" * 50)  # e.g. truncated by a crash or copied in by hand
    got = fetch(["toy"], dest=tmp_path, resources=resources, progress=False)
    assert got[0].read_bytes() == b"A" * 100 and len(server.requests) == 1


def test_corrupt_zip_member_is_a_data_error_and_leaves_no_part(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("gzip/m.gz", bytes(range(256)) * 400)
    data = bytearray(buffer.getvalue())
    start = 30 + len("gzip/m.gz")  # local header (no extra field), then the deflate stream
    data[start:start + 64] = bytes(64)  # corrupt the compressed data; the archive's md5 is of these bytes
    server.files = {"gzip.zip": bytes(data)}
    res = Resource("e.zip", (server.url + "gzip.zip",), md5=hashlib.md5(bytes(data)).hexdigest(),
                   extract=("gzip/m.gz",))
    with pytest.raises(DataError, match="e.zip: cannot extract"):
        fetch(["emnist"], dest=tmp_path, resources={"emnist": [res]}, progress=False)
    assert not list(tmp_path.glob("*.part")) and not (tmp_path / "m.gz").exists()
