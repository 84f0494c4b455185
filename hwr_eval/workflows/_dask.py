"""Run the fits of ``grid``, ``cv`` and ``compare`` on a Dask cluster (joblib's Dask backend).

scikit-learn's ``GridSearchCV`` and ``cross_validate`` run their fits through joblib; inside
``joblib.parallel_config(backend="dask")`` those fits become tasks on a Dask cluster, which is what
skorch's documentation recommends for spreading a search over machines and GPUs. This module adds what a
run needs around that: a client (a local cluster or an existing scheduler), the training data sent to the
workers once, one PyTorch thread per task, one GPU per task on GPU workers, and one-line errors.

Use it from Python like this::

    from hwr_eval.workflows import dask_backend, dask_client

    with dask_client("tcp://scheduler:8786") as client, dask_backend(client, scatter=[X, y]):
        GridSearchCV(make_model("cnn"), grid, cv=3).fit(X, y)
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..errors import HwrError
from ..models._fitting import fit_with_validation

_LOCAL = re.compile(r"^local(?::(?P<n>\d+))?$")
# A scheduler address as ``dask scheduler`` prints it (tcp://10.0.0.5:8786), or host:port.
_ADDRESS = re.compile(r"^(?:(?P<scheme>tcp|tls|ucx|ws|wss)://)?(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")
_SCHEDULER_HINT = "use local:N (N worker processes on this machine) or a scheduler address such as tcp://host:8786"
GPU_RESOURCE = "GPU"
WORKER_SETUP_PLUGIN = "hwr-eval-worker-setup"
CONNECT_TIMEOUT_S = 10
WORKER_TIMEOUT_S = 30
#: More local workers than this per CPU core is a typo (local:1000), not a plan: each is a process.
MAX_LOCAL_WORKERS_PER_CORE = 4
#: The Dask config keys a tls:// address needs (set in a Dask config file or DASK_DISTRIBUTED__COMM__TLS__*).
TLS_KEYS = ("distributed.comm.tls.ca-file", "distributed.comm.tls.client.cert")


def parse_scheduler(scheduler: str) -> tuple[str, int | str]:
    """Check a ``--scheduler`` value without connecting.

    Returns
    -------
    ("local", n_workers) or ("address", address)

    Raises
    ------
    HwrError
        Anything that is neither ``local[:N]`` nor ``[scheme://]host:port``.
    """
    text = str(scheduler).strip()
    local = _LOCAL.match(text)
    if local:
        n = int(local["n"]) if local["n"] is not None else (os.cpu_count() or 1)
        if n < 1:
            raise HwrError(f"--scheduler {scheduler!r}: a local cluster needs at least 1 worker; {_SCHEDULER_HINT}")
        most = MAX_LOCAL_WORKERS_PER_CORE * (os.cpu_count() or 1)
        if n > most:
            raise HwrError(f"--scheduler {scheduler!r}: {n} worker processes on {os.cpu_count()} CPU cores; use at "
                           f"most local:{most}")
        return "local", n
    address = _ADDRESS.match(text)
    if address and 0 < int(address["port"]) < 65536:
        _check_scheme(scheduler, address["scheme"] or "tcp")
        return "address", text if address["scheme"] else f"tcp://{text}"
    raise HwrError(f"--scheduler {scheduler!r}: not a Dask scheduler; {_SCHEDULER_HINT}")


def _check_scheme(scheduler: str, scheme: str) -> None:
    """Refuse, in one line, the protocols this machine cannot speak (distributed only fails deep inside)."""
    import dask

    if scheme == "tls" and not all(dask.config.get(key, None) for key in TLS_KEYS):
        raise HwrError(
            f"--scheduler {scheduler!r}: a TLS scheduler needs the cluster's certificates; set "
            f"{' and '.join(TLS_KEYS)} (and client.key) in the Dask config or its DASK_DISTRIBUTED__COMM__TLS__* "
            "environment variables, or use the scheduler's tcp:// address"
        )
    if scheme == "ucx" and not any(importlib.util.find_spec(m) for m in ("distributed_ucxx", "ucp")):
        raise HwrError(f"--scheduler {scheduler!r}: ucx:// needs the UCX comm package (distributed-ucxx) here and on "
                       "the cluster; install it, or use the scheduler's tcp:// address")


def check_scheduler(scheduler) -> None:
    """Check a ``--scheduler`` value and, for a tcp:// address, that a Dask scheduler answers there.

    Cheap (one TCP connection, a few seconds at most): call it before loading data. Raises a one-line
    :class:`HwrError` for a bad value, an address nobody listens on, and a server that is not a Dask
    scheduler (the dashboard's HTTP port, 8787, instead of the scheduler's, 8786).
    """
    kind, target = parse_scheduler(scheduler)
    if kind == "address" and target.startswith("tcp://"):
        _probe(target)


def _probe(address: str, timeout: float | None = None) -> None:
    """Connect to ``tcp://host:port`` and wait for the scheduler's handshake, which it sends first.

    An HTTP server (the dashboard) sends nothing until asked; distributed would then wait for ever.
    """
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    host, port = address[len("tcp://"):].rsplit(":", 1)
    host = host.strip("[]")
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as exc:
        raise HwrError(f"cannot reach the Dask scheduler at {address} ({exc.strerror or exc}); start one with "
                       "`dask scheduler`") from None
    with sock:
        try:
            first = sock.recv(16)
        except TimeoutError:
            first = b""
        if first and not first.startswith(b"HTTP"):
            return
        http = first.startswith(b"HTTP")
        if not first:
            try:  # silent: ask it whether it speaks HTTP
                sock.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
                sock.settimeout(2)
                http = sock.recv(16).startswith(b"HTTP")
            except OSError:
                http = False
    what = "an HTTP server (the Dask dashboard?)" if http else f"not a Dask scheduler (no handshake in {timeout:g} s)"
    raise HwrError(f"{address} is {what}; give the scheduler's address as `dask scheduler` prints it "
                   "(tcp://host:8786 by default; the dashboard is on 8787)")


@functools.cache
def _worker_setup_class():
    """The worker plugin class, built on first use so that importing hwr_eval does not import distributed."""
    from distributed import WorkerPlugin

    class WorkerSetup(WorkerPlugin):
        """Run on every worker when it starts, joins or is restarted.

        PyTorch threads: Dask's nanny already starts workers with ``OMP_NUM_THREADS=1``; setting torch's
        own count too covers workers started without a nanny and makes the choice explicit. One thread
        per worker process keeps N processes on N cores instead of N x N threads fighting over them (the
        test suite measured small fits 20-50x slower when oversubscribed on a busy 2-core machine).

        Ctrl-C (local clusters only): the worker processes share the terminal's process group, so Ctrl-C
        would also hit them and print their tracebacks; they ignore it and end when the run closes the
        cluster.
        """

        def __init__(self, n_threads: int, ignore_ctrl_c: bool = False):
            self.n_threads = n_threads
            self.ignore_ctrl_c = ignore_ctrl_c

        def setup(self, worker) -> None:
            import torch

            torch.set_num_threads(self.n_threads)
            if self.ignore_ctrl_c and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

        def __reduce__(self):  # rebuilt from hwr_eval on the worker: the class itself is local
            return (_worker_setup, (self.n_threads, self.ignore_ctrl_c))

    return WorkerSetup


def _worker_setup(n_threads: int, ignore_ctrl_c: bool = False):
    return _worker_setup_class()(n_threads, ignore_ctrl_c)


def _failure_message(exc: BaseException, where: str) -> str | None:
    """One line for the failures that come from the cluster rather than from the user's model."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return (
            f"a Dask worker died while running a fit on {where} (tried {getattr(exc, 'allowed_failures', 0) + 1} "
            "times); out of memory? see the worker's log"
        )
    if type(exc).__name__ in ("FutureCancelledError", "CancelledError"):
        return (
            f"the Dask cluster at {where} dropped the fits: a worker died with the only copy of the training data, "
            f"or the scheduler restarted ({exc})"
        )
    if type(exc).__name__ == "CommClosedError":
        return f"lost the connection to the Dask scheduler at {where}"
    return None


@contextlib.contextmanager
def dask_client(scheduler=None, *, torch_threads: int = 1) -> Iterator[Any]:
    """A Dask client for a run: start a local cluster or attach to a running scheduler.

    Parameters
    ----------
    scheduler : str, distributed.Client or None
        ``"local:N"``: a cluster of N worker processes on this machine, one thread each, closed on exit.
        ``"tcp://host:8786"`` (or ``host:8786``): the scheduler of a running cluster
        (``dask scheduler`` / ``dask worker``); the client is closed on exit, the cluster stays.
        A ``Client``: used as it is and left open. None: yields None (run locally, no Dask).
    torch_threads : int, default=1
        PyTorch threads in every worker process (one task per worker thread shares them).

    Yields
    ------
    distributed.Client or None

    Raises
    ------
    HwrError
        A bad ``scheduler`` value, an unreachable scheduler, a cluster without workers, and, from the
        body, a worker that died (Dask retries a task on another worker first; see
        ``distributed.scheduler.allowed-failures``) or a cluster that went away, each as one line.
        Leaving the block with an exception (Ctrl-C included) closes the client, which releases and so
        cancels every task it still had on the cluster.
    """
    if scheduler is None:
        yield None
        return
    from distributed import Client

    if isinstance(scheduler, Client):
        with _translate_failures(scheduler.scheduler.address):
            yield scheduler
        return
    kind, target = parse_scheduler(scheduler)
    with contextlib.ExitStack() as stack:
        if kind == "local":
            from distributed import LocalCluster

            cluster = stack.enter_context(
                LocalCluster(n_workers=target, threads_per_worker=1, processes=True, dashboard_address=":0",
                             silence_logs=logging.ERROR)  # not "worker still alive, killing" at every close
            )
            client = stack.enter_context(Client(cluster, set_as_default=False))
            client.wait_for_workers(target, timeout=WORKER_TIMEOUT_S * 4)  # all of them get the set-up below
            where = f"the local cluster ({target} workers)"
        else:
            if target.startswith("tcp://"):
                _probe(target)  # distributed waits for ever on a server that never answers (the dashboard)
            try:
                client = Client(target, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise HwrError(f"cannot reach the Dask scheduler at {target} ({exc}); start one with `dask scheduler`") from None
            except (TypeError, ValueError, ImportError) as exc:  # a protocol this machine is not set up for
                raise HwrError(f"cannot connect to the Dask scheduler at {target}: {exc}") from None
            stack.callback(client.close)
            where = target
            try:
                client.wait_for_workers(1, timeout=WORKER_TIMEOUT_S)
            except TimeoutError:
                raise HwrError(
                    f"the Dask scheduler at {target} has no workers after {WORKER_TIMEOUT_S} s; "
                    f"start some with `dask worker {target}`"
                ) from None
        client.register_plugin(_worker_setup(torch_threads, ignore_ctrl_c=kind == "local"), name=WORKER_SETUP_PLUGIN)
        with _translate_failures(where):
            yield client


@contextlib.contextmanager
def _translate_failures(where: str) -> Iterator[None]:
    try:
        yield
    except HwrError:
        raise
    except Exception as exc:
        message = _failure_message(exc, where)
        if message is None:
            raise
        raise HwrError(message) from None


def fit_resources(client) -> dict[str, float]:
    """The Dask resources one fit asks for: one GPU when the cluster's workers advertise GPUs.

    Start GPU workers with ``--resources GPU=1`` (one worker per GPU, ``CUDA_VISIBLE_DEVICES`` set), so
    that a worker runs one fit at a time on its own GPU. Fits then go to GPU workers only.
    """
    try:
        info = client.scheduler_info(n_workers=-1)  # all workers (newer distributed lists 5 by default)
    except TypeError:  # distributed before the n_workers argument lists them all
        info = client.scheduler_info()
    workers = info.get("workers", {})
    has_gpu = any(info.get("resources", {}).get(GPU_RESOURCE) for info in workers.values())
    return {GPU_RESOURCE: 1} if has_gpu else {}


def dask_backend(client, scatter: Sequence[Any] = ()):
    """``joblib.parallel_config(backend="dask")`` on ``client`` (a no-op context when ``client`` is None).

    ``scatter`` (the training arrays) goes to every worker once, up front; joblib then passes the
    workers' copies to every fit instead of sending the arrays with each task.
    """
    if client is None:
        return contextlib.nullcontext()
    import joblib

    resources = fit_resources(client)
    joblib.register_parallel_backend(_BACKEND, _backend_class())
    return joblib.parallel_config(
        backend=_BACKEND,
        n_jobs=-1,
        client=client,
        scatter=list(scatter),
        wait_for_workers_timeout=WORKER_TIMEOUT_S,
        **({"resources": resources} if resources else {}),
    )


_BACKEND = "hwr-eval-dask"


@functools.cache
def _backend_class():
    """joblib's Dask backend, but never one job: joblib runs ``n_jobs == 1`` in the calling process.

    Its Dask backend counts the cluster's worker threads as its jobs; a cluster of one single-threaded
    worker (``local:1``, or one GPU worker) thus made joblib skip Dask entirely and fit everything here.
    Two jobs on one thread simply queue on the worker.
    """
    from joblib._dask import DaskDistributedBackend

    class AtLeastTwoJobs(DaskDistributedBackend):
        def effective_n_jobs(self, n_jobs):
            return max(2, super().effective_n_jobs(n_jobs))

    return AtLeastTwoJobs


def _fit_task(model, X, y, X_val=None, y_val=None):
    """One fit on a worker; returns the fitted model and the seconds it took there."""
    start = time.perf_counter()
    fit_with_validation(model, X, y, X_val, y_val)
    return model, time.perf_counter() - start


def submit_fits(client, models: Mapping[str, Any], X, y, X_val=None, y_val=None) -> dict[str, Any]:
    """Fit every model on the cluster in parallel; the data go to the workers once.

    Returns
    -------
    dict of name to ``distributed.Future``
        Each future's result is ``(fitted_model, fit_seconds)``.
    """
    arrays = [X, y] if X_val is None else [X, y, X_val, y_val]
    # hash=False: fresh keys, so the arrays go to every current worker even when the scheduler still
    # knows the same content from an earlier run on fewer workers. (Dask's active memory manager may then
    # drop the extra copies; see the README on worker failures.)
    data = client.scatter(arrays, broadcast=True, hash=False)
    resources = fit_resources(client)
    return {
        name: client.submit(_fit_task, model, *data, key=f"hwr-fit-{name}-{uuid.uuid4().hex}", pure=False,
                            resources=resources or None)
        for name, model in models.items()
    }


def fit_result(future, client) -> tuple[Any, float]:
    """Wait for one of :func:`submit_fits`' futures: ``(fitted_model, fit_seconds)``, failures as one line."""
    with _translate_failures(client.scheduler.address):
        return future.result()
