"""Collecting confirmed drawings: one PNG per drawing in ``DIR/<class>/``, written atomically, never overwriting.

File names are ``<UTC time>-<n>.png`` (``20261206T194512Z-1.png``), ``n`` counting up from 1 until the name
is free, inside the class folder :func:`~hwr_eval.data.drawn_folder_name` names (``A``, ``7``, ``lower-a``).
:func:`~hwr_eval.data.read_drawn` and ``hwr-eval predict DIR/A`` read the folder back.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..data import drawn_folder_name


class Collector:
    """Saves labelled drawings under ``folder``.

    The stored image is the drawing in grey as the preprocessing read it (reduced to at most 2000 px):
    reading it back gives the same 28x28 input the models saw, and a phone photo is not kept at full size.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one counter scan at a time; the link below is the real guard

    def save(self, grey: np.ndarray, label: str) -> Path:
        """Write ``grey`` ((h, w) uint8) as a new PNG of class ``label``; returns its path under :attr:`folder`."""
        folder = self.folder / drawn_folder_name(label)
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(grey, dtype=np.uint8), mode="L").save(buffer, format="PNG")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".collect-", suffix=".png.tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(buffer.getvalue())
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            with self._lock:
                n = 1
                while True:
                    target = folder / f"{stamp}-{n}.png"
                    try:
                        # A hard link appears whole and fails if the name exists: atomic and never overwriting.
                        os.link(tmp, target)
                        return target
                    except FileExistsError:
                        n += 1
        finally:
            Path(tmp).unlink(missing_ok=True)

    def count(self, label: str) -> int:
        """How many drawings of ``label`` the folder holds."""
        folder = self.folder / drawn_folder_name(label)
        return sum(1 for p in folder.glob("*.png") if not p.name.startswith(".")) if folder.is_dir() else 0


__all__ = ["Collector"]
