"""The on-disk cache of parsed sources and loaded datasets: ``.npz`` files keyed by content and parameters.

Every entry is an optimisation only: one that cannot be written (read-only or full disk) is skipped, and
one that cannot be read back (truncated, damaged, from another version) is discarded with a warning and
rebuilt from the data files.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io import atomic_path


def _key(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _save_npz(path: Path, arrays: dict) -> None:
    try:
        with atomic_path(path) as tmp:
            np.savez(tmp, **arrays)
    except OSError:
        pass  # caching is an optimisation; a read-only or full disk must not stop the load


def _load_npz(path: Path, required: Sequence[str] = ()) -> dict | None:
    """The arrays of a cache entry, or None when there is none or it is damaged (then it is deleted)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        missing = [k for k in required if k not in arrays]
        if missing:
            raise KeyError(f"no {', '.join(missing)}")
        return arrays
    # A truncated or overwritten .npz is a bad zip file (not an OSError), or a short read inside one.
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        warnings.warn(f"{path}: damaged cache entry ({type(exc).__name__}: {exc}); discarded, reading the data "
                      "files again", stacklevel=3)
        path.unlink(missing_ok=True)
        return None
