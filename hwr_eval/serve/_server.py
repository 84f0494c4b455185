"""Running the app on uvicorn: a socket bound up front (a free port when none is given), Ctrl-C stops it."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from pathlib import Path

from ..errors import HwrError

#: The only address served unless ``host`` names another one on purpose.
LOCAL_HOST = "127.0.0.1"


def is_local(host: str) -> bool:
    """True for loopback addresses (127.0.0.0/8, ::1) and ``localhost``: only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str = LOCAL_HOST, port: int | None = None) -> socket.socket:
    """A listening TCP socket on ``host``: on ``port``, or on a free one the system picks (None or 0).

    Binding here, before uvicorn starts, means the printed address is the one served (no race for a
    "free" port) and a port in use is one clear error.
    """
    if port is not None and not 0 <= port <= 65535:
        raise HwrError(f"--port {port}: must be between 0 and 65535")
    try:
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise HwrError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise HwrError(f"cannot listen on {host}:{port or 0} ({exc.strerror})") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """The page's address for a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def make_server(app, sock: socket.socket, *, log_level: str = "warning"):
    """A uvicorn server for ``app`` on the bound ``sock``; ``server.run(sockets=[sock])`` serves it."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False))


def serve(run_dir: str | os.PathLike, *, host: str = LOCAL_HOST, port: int | None = None,
          collect_dir: str | os.PathLike | None = None, announce: Callable[[str], None] = print,
          log_level: str = "warning", onnx: bool = False) -> None:
    """Serve the saved models of ``run_dir`` until Ctrl-C.

    Parameters
    ----------
    run_dir : path-like
        Run folder written by ``hwr-eval compare --save-models``.
    host : str, default="127.0.0.1"
        Address to listen on. Any non-loopback address lets everyone on the network use the server;
        that is announced as a warning.
    port : int, optional
        Port to listen on; None or 0 picks a free one.
    collect_dir : path-like, optional
        Folder for confirmed drawings (see :class:`~hwr_eval.serve.Collector`).
    announce : callable, default=print
        Receives the lines meant for the user (address, warnings, "stopped").
    onnx : bool, default=False
        Answer with ONNX Runtime (every model exported in memory first).
    """
    from ._app import create_app

    app = create_app(run_dir, collect_dir, onnx=onnx)  # loads the models: errors come before anything listens
    sock = bind(host, port)
    try:
        if not is_local(host):
            announce(f"WARNING: listening on {host}: anyone who can reach this machine on the network can use "
                     "this server (and, with --collect, write files into the collect folder)")
        names = ", ".join(app.state.models)
        runtime = " with ONNX Runtime" if onnx else ""
        announce(f"serving {len(app.state.models)} models of {Path(run_dir)} ({names}){runtime} at {url_of(sock)}  "
                 f"(API docs: {url_of(sock)}docs; Ctrl-C stops)")
        if collect_dir is not None:
            announce(f"confirmed drawings go to {Path(collect_dir)}/<class>/")
        # uvicorn handles SIGINT/SIGTERM itself: it finishes the open requests, then run() returns.
        try:
            make_server(app, sock, log_level=log_level).run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it has already handled by shutting down
            pass
    finally:
        sock.close()
    announce("stopped")


__all__ = ["LOCAL_HOST", "bind", "is_local", "make_server", "serve", "url_of"]
