"""Hostile ``--scheduler`` values and small clusters: one line each, fast, and fits that really leave."""

from __future__ import annotations

import http.server
import os
import socketserver
import threading
import time

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import cross_validate

from hwr_eval.errors import HwrError
from hwr_eval.workflows import _dask, check_scheduler, dask_backend, dask_client, parse_scheduler

distributed = pytest.importorskip("distributed")


@pytest.fixture
def http_port():
    """A plain HTTP server (what a Dask dashboard is), on a free port."""
    server = socketserver.TCPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_an_http_server_is_named_quickly_instead_of_hanging(http_port):
    for call in (check_scheduler, lambda a: dask_client(a).__enter__()):
        start = time.monotonic()
        with pytest.raises(HwrError, match=r"tcp://127.0.0.1:\d+ is an HTTP server \(the Dask dashboard\?\); give "
                                           r"the scheduler's address .* the dashboard is on 8787"):
            call(f"127.0.0.1:{http_port}")
        assert time.monotonic() - start < _dask.CONNECT_TIMEOUT_S + 5


def test_the_real_dashboard_port_is_refused_and_the_scheduler_accepted(dask_cluster):
    cluster, _ = dask_cluster
    dashboard = cluster.dashboard_link.split("//", 1)[1].split("/", 1)[0]  # host:port
    with pytest.raises(HwrError, match="is an HTTP server"):
        check_scheduler(dashboard)
    check_scheduler(cluster.scheduler_address)  # the scheduler's handshake comes back at once


def test_nobody_listening_is_one_line(monkeypatch):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HwrError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        check_scheduler(f"127.0.0.1:{port}")


@pytest.mark.parametrize(("value", "fragment"), [
    ("tls://127.0.0.1:8786", "a TLS scheduler needs the cluster's certificates; set distributed.comm.tls.ca-file"),
    ("ucx://127.0.0.1:8786", "ucx:// needs the UCX comm package (distributed-ucxx)"),
    ("local:100000", "100000 worker processes on"),
    ("tcp://host:port", "not a Dask scheduler"),
    ("tcp://[::1:8786", "not a Dask scheduler"),
    ("local:", "not a Dask scheduler"),
    ("\x00:1", "not a Dask scheduler"),
    (8786, "not a Dask scheduler"),
])
def test_addresses_this_machine_cannot_use_are_one_line_without_connecting(value, fragment):
    start = time.monotonic()
    for call in (parse_scheduler, check_scheduler):
        with pytest.raises(HwrError) as info:
            call(value)
        assert fragment in str(info.value) and "\n" not in str(info.value)
    assert time.monotonic() - start < 2  # nothing was waited for


def test_tls_with_certificates_configured_parses():
    import dask

    with dask.config.set({"distributed.comm.tls.ca-file": "/ca.pem", "distributed.comm.tls.client.cert": "/c.pem"}):
        assert parse_scheduler("tls://h:1") == ("address", "tls://h:1")


class _WherePid(ClassifierMixin, BaseEstimator):
    """Remembers the process its ``fit`` ran in."""

    def fit(self, X, y):
        self.pid_ = os.getpid()
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_a_single_one_thread_worker_runs_the_fits_not_this_process():
    import sys

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    X, y = np.zeros((20, 2)), np.arange(20) % 2
    with dask_client("local:1") as client, dask_backend(client, scatter=[X, y]):
        [worker_pid] = client.run(os.getpid).values()
        result = cross_validate(_WherePid(), X, y, cv=3, return_estimator=True)
    assert {est.pid_ for est in result["estimator"]} == {worker_pid} != {os.getpid()}
