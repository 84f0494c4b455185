"""A real MLflow tracking server for the session, and small real runs (compare and grid) to track."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

MLFLOW_MISSING = "mlflow is not installed (pip install 'hwr-eval[mlflow]')"
# A start takes 5-60 s; on a 2-core machine also running training jobs it was seen to pass 120 s.
SERVER_START_TIMEOUT_S = 300


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    """``mlflow server`` in a subprocess (own process group) with a SQLite store and served artifacts."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.log = (folder / "server.log").open("wb")
        command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
                   "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                   "--artifacts-destination", str(folder / "artifacts"), "--workers", "1"]
        # No background job runner: the tests only track runs, and it adds seconds to every start.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                        cwd=folder, env=env)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(folder / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer /health within {SERVER_START_TIMEOUT_S} s")

    def stop(self) -> None:
        """Kill the server's process group (the server and its workers) and wait for it."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        if not self.log.closed:
            self.log.close()


@pytest.fixture(scope="session", autouse=True)
def _no_telemetry():
    """MLflow's usage telemetry off: the tests talk to the local server only."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.setenv("DO_NOT_TRACK", "true")
        yield


@pytest.fixture(scope="session")
def start_server():
    """``start_server(folder) -> MlflowServer``: a fresh server of one's own (stop it with ``.stop()``)."""
    pytest.importorskip("mlflow", reason=MLFLOW_MISSING)
    return MlflowServer


@pytest.fixture(scope="session")
def closed_port():
    """``closed_port() -> int``: a local port with nothing listening."""
    return free_port


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """One real tracking server for the session: yields its ``MlflowServer`` (``.uri``, ``.process``)."""
    pytest.importorskip("mlflow", reason=MLFLOW_MISSING)
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_digits(tmp_path_factory, data_files):
    """A tiny MNIST-format data set on disk (so the run records real files with checksums)."""
    from hwr_eval.data import load_dataset

    folder = tmp_path_factory.mktemp("digits")
    rng = np.random.default_rng(0)
    for part, n in (("train", 300), ("t10k", 100)):
        labels = np.arange(n) % 10
        # The fixture's bar-shaped digits plus sparse random ink, so that no two images are equal.
        images = data_files.digit_images(labels) | (rng.random((n, 28, 28)) < 0.05).astype(np.uint8) * 128
        data_files.idx(folder / f"{part}-images-idx3-ubyte.gz", images)
        data_files.idx(folder / f"{part}-labels-idx1-ubyte.gz", labels)
    return load_dataset(folder, classes="digits", per_class=None, seed=0)


@pytest.fixture(scope="session")
def compare_run(tmp_path_factory, tiny_digits) -> Path:
    """A finished ``compare`` run folder: knn and a 2-epoch mlp, models saved."""
    from hwr_eval.workflows import run_compare

    return run_compare(["knn", "mlp"], tiny_digits, tmp_path_factory.mktemp("runs") / "compare", max_epochs=2,
                       device="cpu", seed=0, save_models=True, n_resamples=50)


@pytest.fixture(scope="session")
def grid_run(tmp_path_factory, tiny_digits) -> Path:
    """A finished ``grid`` run folder: knn over two values of n_neighbors and two weightings, 2 folds."""
    from hwr_eval.workflows import run_grid

    return run_grid("knn", {"n_neighbors": [1, 3], "weights": ["uniform", "distance"]}, tiny_digits,
                    tmp_path_factory.mktemp("runs") / "grid", cv=2, seed=0, save_models=True, n_resamples=50)
