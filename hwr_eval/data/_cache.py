"""The on-disk cache of parsed sources: content-keyed ``.npz`` files and remembered file hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..io import atomic_path, atomic_write_text
from ._fetch import cache_dir, file_digest

# Bump when readers, normalisation or the protocol change: old cache entries are then ignored.

def sha256_cached(path: Path) -> str:
    """sha256 of a file, remembered in the user cache under (path, size, mtime) so reloads skip hashing."""
    path = Path(path).resolve()
    stat = path.stat()
    index_path = cache_dir() / "sha256-index.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    entry = index.get(str(path))
    if entry and entry["size"] == stat.st_size and entry["mtime_ns"] == stat.st_mtime_ns:
        return entry["sha256"]
    digest = file_digest(path)
    index[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    try:
        atomic_write_text(index_path, json.dumps(index, indent=0))
    except OSError:
        pass  # a read-only cache only costs speed
    return digest


def _key(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _save_npz(path: Path, arrays: dict) -> None:
    try:
        with atomic_path(path) as tmp:
            np.savez(tmp, **arrays)
    except OSError:
        pass  # caching is an optimisation; a read-only or full disk must not stop the load


def _load_npz(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError):
        return None  # a damaged cache entry is rebuilt
