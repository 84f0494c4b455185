"""How a caller follows a run: one small protocol instead of a callback keyword per event."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any


class RunEvents:
    """Hooks a workflow calls as it goes; override the ones you need (each default does nothing).

    The command line prints from them; a notebook can draw a progress bar; tests record them.
    """

    def on_data(self, dataset) -> None:
        """The data is loaded (before any training)."""

    def on_model_start(self, name: str, index: int, total: int) -> None:
        """Model ``index`` of ``total`` starts training."""

    def on_model_end(self, name: str, result) -> None:
        """Model ``name`` is scored; ``result`` is its :class:`~hwr_eval.runs.ModelResult`."""

    def on_progress(self, done: int, total: int, label: str) -> None:
        """A step of a long evaluation (the robustness suite) finished."""


class CallbackEvents(RunEvents):
    """:class:`RunEvents` from plain functions: ``on_model_start=``, ``on_model_end=`` and ``on_progress=``.

    ``on_model_end`` receives the model's record as in ``results.json`` (a dict).
    """

    def __init__(self, on_model_start: Callable | None = None, on_model_end: Callable | None = None,
                 on_progress: Callable | None = None):
        self._start, self._end, self._progress = on_model_start, on_model_end, on_progress

    def on_model_start(self, name: str, index: int, total: int) -> None:
        if self._start is not None:
            self._start(name, index, total)

    def on_model_end(self, name: str, result: Any) -> None:
        if self._end is not None:
            self._end(name, result.to_json())

    def on_progress(self, done: int, total: int, label: str) -> None:
        if self._progress is not None:
            self._progress(done, total, label)


class PrintEvents(RunEvents):
    """One line per step on stderr: what a Python run with ``verbose=1`` says while it works."""

    def __init__(self):
        self._started = 0.0

    def on_data(self, dataset) -> None:
        print(f"data: {dataset.source}; {len(dataset.y_train)} train / {len(dataset.y_val)} validation / "
              f"{len(dataset.y_test)} test images", file=sys.stderr)

    def on_model_start(self, name: str, index: int, total: int) -> None:
        self._started = time.perf_counter()
        print(f"[{index + 1}/{total}] {name}: training ...", file=sys.stderr)

    def on_model_end(self, name: str, result: Any) -> None:
        print(f"[done] {name}: test accuracy {result.accuracy:.4f} after {time.perf_counter() - self._started:.1f} s",
              file=sys.stderr)

    def on_progress(self, done: int, total: int, label: str) -> None:
        print(f"  {done}/{total} {label}", file=sys.stderr)


def events_from(events: RunEvents | None, callbacks: dict[str, Callable | None], verbose: int = 0) -> RunEvents:
    """``events``, or the plain callbacks wrapped (both at once is ambiguous); with neither and
    ``verbose``, a line per step on stderr."""
    given = {k: v for k, v in callbacks.items() if v is not None}
    if events is not None and given:
        raise TypeError(f"give events= or {', '.join(given)}, not both")
    if events is None and not given and verbose:
        return PrintEvents()
    return events if events is not None else CallbackEvents(**given)
