"""grid, cv and compare on a local Dask cluster (2 processes, 1 thread each) give what they give locally.

The session's cluster comes from the ``dask_cluster`` fixture (tests/conftest.py). Every test runs under a
watchdog, so a cluster that stops answering fails the run with a traceback instead of hanging CI.
"""

from __future__ import annotations

import faulthandler
import os
import pickle
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neighbors import KNeighborsClassifier

from hwr_eval.errors import HwrError
from hwr_eval.workflows import CompareInterrupted, _dask, dask_client, parse_scheduler, run_compare, run_cv, run_grid

distributed = pytest.importorskip("distributed")
# The stand-in estimators below travel to the workers by value: the workers need not import this file.
import cloudpickle  # noqa: E402

from hwr_eval.runs import open_run, read_record  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])

TINY_NET = {"hidden": 8, "max_epochs": 2}


@pytest.fixture(autouse=True)
def watchdog():
    """Dump every thread's stack and exit if a test takes over 4 minutes (a hung cluster, not a slow one)."""
    faulthandler.dump_traceback_later(240, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _in_worker() -> bool:
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


class _DiesOnce(ClassifierMixin, BaseEstimator):
    """1-NN whose first ``fit`` kills the Dask worker process running it (every ``fit`` without ``marker``)."""

    def __init__(self, marker=None):
        self.marker = marker

    def fit(self, X, y):
        if self.marker is None or not os.path.exists(self.marker):
            if not _in_worker():
                raise RuntimeError("refusing to kill a process that is not a Dask worker")
            if self.marker is not None:
                Path(self.marker).touch()
            os._exit(1)
        self.knn_ = KNeighborsClassifier(n_neighbors=1).fit(X, y)
        self.classes_ = self.knn_.classes_
        return self

    def predict(self, X):
        return self.knn_.predict(X)

    def predict_proba(self, X):
        return self.knn_.predict_proba(X)


class _WaitsForFile(_DiesOnce):
    """A fit that lasts until ``marker`` exists (at most a minute): a long training to interrupt."""

    def fit(self, X, y):
        deadline = time.monotonic() + 60
        while not os.path.exists(self.marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        return super().fit(X, y)


def _scores(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(run_dir / "cv_results.csv")
    columns = ["params", "rank_test_score", "mean_test_score"] + [c for c in frame if c.startswith("split")]
    return frame[columns].reset_index(drop=True)


def _metrics(run_dir: Path) -> dict:
    """Every model's metrics, flat: ``{(model, metric, index): value}``.

    Compared with a relative tolerance of 1e-9: on CPUs with AMX, matrix kernels in another process
    (a Dask worker) gave the same MLP a log loss differing in the 12th digit.
    """
    results = read_record(run_dir).to_json()
    return {(name, key, i): value for name, rec in results["models"].items() for key, values in rec["metrics"].items()
            for i, value in enumerate(values if isinstance(values, list) else [values])}


@pytest.mark.parametrize(
    ("model", "grid", "overrides"),
    [("knn", {"n_neighbors": [1, 3, 5]}, None), ("mlp", {"lr": [0.01, 0.1]}, TINY_NET)],
)
def test_grid_on_dask_matches_default_backend(dask_cluster, small_synthetic, tmp_path, model, grid, overrides):
    _, client = dask_cluster
    common = dict(cv=2, seed=0, overrides=overrides, report=False)
    local = run_grid(model, grid, small_synthetic, tmp_path / "local", **common)
    on_dask = run_grid(model, grid, small_synthetic, tmp_path / "dask", scheduler=client, **common)
    pd.testing.assert_frame_equal(_scores(on_dask), _scores(local))
    assert len(_scores(local)) == len(next(iter(grid.values())))
    results = read_record(on_dask).to_json()
    assert results["status"] == "complete"
    assert results["grid"]["best_params"] == read_record(local).to_json()["grid"]["best_params"]
    assert _metrics(on_dask) == pytest.approx(_metrics(local), rel=1e-9)  # the refit ran here, in this process, like the local one


def test_cv_on_dask_matches_local_and_sends_the_data_once(dask_cluster, small_synthetic, monkeypatch):
    _, client = dask_cluster
    scattered = []
    real_scatter = client.scatter

    def spy(data, *args, **kwargs):
        items = data if isinstance(data, (list, tuple)) else [data]
        scattered.extend(x.shape for x in items if isinstance(x, np.ndarray) and x.ndim == 2)
        return real_scatter(data, *args, **kwargs)

    monkeypatch.setattr(client, "scatter", spy)
    local = run_cv(["logreg", "knn"], small_synthetic, folds=2)
    on_dask = run_cv(["logreg", "knn"], small_synthetic, folds=2, scheduler=client)
    metrics = [c for c in local if not c.startswith(("fit_time", "score_time"))]
    pd.testing.assert_frame_equal(on_dask[metrics], local[metrics])
    n_images = len(small_synthetic.y_train) + len(small_synthetic.y_val)
    assert scattered == [(n_images, 784)]  # once for both models and all folds, not once per model or task


def test_compare_on_dask_matches_local_and_models_come_back_usable(dask_cluster, small_synthetic, tmp_path,
                                                                    check_run_folder):
    _, client = dask_cluster
    common = dict(seed=0, overrides={"mlp": TINY_NET}, report=False)
    local = run_compare(["logreg", "knn", "mlp"], small_synthetic, tmp_path / "local", **common)
    on_dask = run_compare(["logreg", "knn", "mlp"], small_synthetic, tmp_path / "dask", scheduler=client,
                          save_models=True, **common)
    check_run_folder(on_dask, small_synthetic)
    assert _metrics(on_dask) == pytest.approx(_metrics(local), rel=1e-9)
    # The net trained on a worker predicts here, and pickles, with its device still "auto".
    net = joblib.load(on_dask / "models" / "mlp.joblib")
    assert net.get_params()["clf__device"] == "auto"
    predictions = open_run(on_dask).predictions
    assert list(net.predict(small_synthetic.X_test).astype(str)) == list(predictions["mlp"])
    again = pickle.loads(pickle.dumps(net))
    assert np.array_equal(again.predict_proba(small_synthetic.X_test), net.predict_proba(small_synthetic.X_test))


def test_fit_on_worker_returns_fitted_model(dask_cluster, small_synthetic):
    _, client = dask_cluster
    from hwr_eval import make_model

    fits = _dask.submit_fits(client, {"knn": make_model("knn")}, small_synthetic.X_train, small_synthetic.y_train)
    model, seconds = _dask.fit_result(fits["knn"], client)
    assert seconds > 0
    here = make_model("knn").fit(small_synthetic.X_train, small_synthetic.y_train)
    assert np.array_equal(model.predict(small_synthetic.X_test), here.predict(small_synthetic.X_test))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("local:3", ("local", 3)), ("tcp://10.0.0.5:8786", ("address", "tcp://10.0.0.5:8786")),
     ("sched.example.org:8786", ("address", "tcp://sched.example.org:8786"))],  # tls://: see test_dask_input.py
)
def test_parse_scheduler(text, expected):
    assert parse_scheduler(text) == expected


@pytest.mark.parametrize("text", ["local:0", "local:two", "tcp://host", "host", "http://h:8786", "h:0", "h:70000", ""])
def test_parse_scheduler_refuses(text):
    with pytest.raises(HwrError, match="--scheduler"):
        parse_scheduler(text)


def test_unreachable_scheduler_is_one_line(monkeypatch):
    monkeypatch.setattr(_dask, "CONNECT_TIMEOUT_S", 1)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HwrError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        with dask_client(f"127.0.0.1:{port}"):
            pass


def test_local_cluster_one_thread_per_worker_and_closed_after(dask_cluster):
    psutil = pytest.importorskip("psutil")
    with dask_client("local:2") as client:
        info = client.scheduler_info(n_workers=-1)["workers"]
        assert len(info) == 2 and all(w["nthreads"] == 1 for w in info.values())
        assert set(client.run(lambda: __import__("torch").get_num_threads()).values()) == {1}
        # Ctrl-C in the terminal reaches the local workers too: they leave it to this process.
        handlers = client.run(lambda: signal.getsignal(signal.SIGINT))
        assert set(handlers.values()) == {signal.SIG_IGN}, handlers
        pids = list(client.run(os.getpid).values())
        assert _dask.fit_resources(client) == {}  # no GPU workers: fits ask for no resources
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(psutil.pid_exists(pid) for pid in pids)


def test_gpu_workers_get_one_fit_each(dask_cluster):
    class _FakeClient:
        def scheduler_info(self, n_workers=-1):
            return {"workers": {"a": {"resources": {}}, "b": {"resources": {"GPU": 1}}}}

    assert _dask.fit_resources(_FakeClient()) == {"GPU": 1}


@pytest.fixture
def allowed_failures(dask_cluster):
    """Set the scheduler's retries of a task whose worker died; restore them and the 2 workers after."""
    cluster, client = dask_cluster
    before = cluster.scheduler.allowed_failures

    def set_to(n):
        cluster.scheduler.allowed_failures = n

    yield set_to
    cluster.scheduler.allowed_failures = before
    client.amm.start()
    client.wait_for_workers(2, timeout=120)  # the nannies restart the killed workers


def test_worker_that_dies_is_a_one_line_error_and_leaves_no_folder(dask_cluster, small_synthetic, tmp_path,
                                                                   allowed_failures):
    _, client = dask_cluster
    allowed_failures(0)
    out = tmp_path / "run"
    with pytest.raises(HwrError, match="a Dask worker died while running a fit") as info:
        run_compare({"dies": _DiesOnce()}, small_synthetic, out, scheduler=client, report=False)
    assert "\n" not in str(info.value)
    assert not out.exists()


def test_worker_that_dies_once_is_retried(dask_cluster, small_synthetic, tmp_path, allowed_failures, check_run_folder):
    _, client = dask_cluster
    allowed_failures(1)
    # Dask's active memory manager keeps one copy of scattered data; a worker that dies with it would
    # take the training data along (a one-line error, the test above). Off, every worker keeps its copy,
    # as the README advises for clusters that should survive worker deaths.
    client.amm.stop()
    marker = tmp_path / "died"
    run_dir = run_compare({"dies_once": _DiesOnce(str(marker))}, small_synthetic, tmp_path / "run", scheduler=client,
                          report=False)
    assert marker.exists()  # the first attempt did die
    check_run_folder(run_dir, small_synthetic)
    assert read_record(run_dir).to_json()["status"] == "complete"


def test_ctrl_c_cancels_the_fits_on_the_cluster(dask_cluster, small_synthetic, tmp_path):
    _, client = dask_cluster
    release = tmp_path / "release"

    def fit_keys():
        return [k for keys in client.processing().values() for k in keys if str(k).startswith("hwr-fit-")]

    def press_ctrl_c():
        deadline = time.monotonic() + 60
        while not fit_keys() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    try:
        with pytest.raises(CompareInterrupted) as info:
            run_compare({"slow": _WaitsForFile(str(release))}, small_synthetic, tmp_path / "run", scheduler=client,
                        report=False)
        assert info.value.finished == []
        deadline = time.monotonic() + 20
        while fit_keys() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert fit_keys() == []  # the scheduler forgot the task: it will not run again or be waited for
    finally:
        release.touch()  # let the worker thread that was already running the fit finish
        presser.join(timeout=60)


def test_repeated_runs_on_dask_match_local(dask_cluster, small_synthetic, tmp_path):
    _, client = dask_cluster
    common = dict(seed=0, seeds=3, overrides={"mlp": TINY_NET}, report=False)
    local = run_compare(["knn", "mlp"], small_synthetic, tmp_path / "local", **common)
    on_dask = run_compare(["knn", "mlp"], small_synthetic, tmp_path / "dask", scheduler=client, **common)
    columns = ["model", "seed", "split_seed", "accuracy", "macro_f1"]
    seeds = {name: pd.read_csv(run / "seeds.csv")[columns] for name, run in (("local", local), ("dask", on_dask))}
    assert list(seeds["dask"].itertuples(index=False)) == list(seeds["local"].itertuples(index=False))
    assert sorted(seeds["dask"].query("model == 'mlp'").seed) == [0, 1, 2]
    pd.testing.assert_frame_equal(pd.read_csv(on_dask / "comparisons.csv"), pd.read_csv(local / "comparisons.csv"))
