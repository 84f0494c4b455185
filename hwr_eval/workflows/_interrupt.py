"""Ctrl-C that really stops a run, even where skorch or GridSearchCV would swallow a KeyboardInterrupt."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Sequence
from pathlib import Path


class CompareInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: the finished models' results were written, marked incomplete.

    Attributes
    ----------
    run_dir : Path or None
        The run folder with the finished models, or None if nothing had been written yet.
    finished : list of str
        Names of the models whose results were kept.
    """

    def __init__(self, run_dir: Path | None, finished: Sequence[str]):
        super().__init__(f"interrupted; results of {len(finished)} finished model(s) kept in {run_dir}")
        self.run_dir = run_dir
        self.finished = list(finished)



class _CtrlC(BaseException):
    """Ctrl-C while a model trains. Not a ``KeyboardInterrupt``: skorch catches those and returns from
    ``fit`` as if training had finished, and ``GridSearchCV`` would go on with the next candidate."""


class Terminated(_CtrlC):
    """SIGTERM (a job scheduler's stop), handled like Ctrl-C (finished models are kept) but reported as
    what it was. Not a ``KeyboardInterrupt`` either: skorch would swallow it mid-fit and the run would go on
    with a half-trained model."""


class _SigintWatch(contextlib.AbstractContextManager):
    """Turn Ctrl-C into :class:`_CtrlC` (main thread only) and remember that it was pressed."""

    def __init__(self):
        self.fired = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                self.fired = True
                raise _CtrlC

            signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return None
