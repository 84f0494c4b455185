"""Your own labelled drawings: a folder of image files, one subfolder per class.

The layout (what ``hwr-eval serve --collect DIR`` writes, and what you can make by hand)::

    DIR/
      7/20261206T194512Z-1.png
      A/20261206T194530Z-1.png
      A/20261206T194531Z-1.png
      lower-a/20261206T194600Z-1.png     # lowercase 'a' (see below)

A subfolder named by one character (``7``, ``A``) holds that class. Lowercase letters live in
``lower-<letter>`` folders, so that ``A`` and ``a`` never share a folder on file systems that ignore case
(macOS, Windows); a hand-made one-letter lowercase folder (``a``) is read as ``a`` too. Files are any
image format :func:`~hwr_eval.data.read_images` reads; each holds one character, dark ink on light paper
or the reverse, any size, and goes through the very preprocessing ``hwr-eval predict`` uses.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from ._images import IMAGE_SUFFIXES, read_character
from ._readers import ImageSet

#: Folder-name prefix of a lowercase letter's class (``lower-a`` holds 'a').
LOWER_PREFIX = "lower-"


def drawn_folder_name(label: str) -> str:
    """The subfolder that holds class ``label``: the label itself, ``lower-x`` for a lowercase letter."""
    label = str(label)
    if len(label) != 1 or not label.isascii() or not label.isalnum():
        raise DataError(f"label {label!r}: must be one digit or letter")
    return f"{LOWER_PREFIX}{label}" if label.islower() else label


def drawn_folder_label(name: str) -> str | None:
    """The class a subfolder named ``name`` holds; None for a folder that is not a class folder."""
    if name.startswith(LOWER_PREFIX):
        name = name[len(LOWER_PREFIX):]
        return name if len(name) == 1 and name.isascii() and name.islower() else None
    return name if len(name) == 1 and name.isascii() and name.isalnum() else None


def _labelled_files(folder: Path) -> list[tuple[str, Path]]:
    """(label, file) for every drawing in ``folder``'s class folders: classes in folder-name order, then files."""
    files: list[tuple[str, Path]] = []
    seen: dict[str, Path] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        label = drawn_folder_label(sub.name)
        if label is None:
            continue
        if label in seen:
            raise DataError(f"{folder}: class {label!r} has two folders ({seen[label].name} and {sub.name}); merge them")
        seen[label] = sub
        # Hidden files are the collector's temporary files (and editors' litter), never drawings.
        files += [(label, p) for p in sorted(sub.iterdir())
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES]
    return files


def drawn_files(folder: str | os.PathLike) -> list[Path]:
    """The drawings in ``folder``'s class folders (empty when it has none): how a data folder is recognised."""
    folder = Path(folder)
    return [path for _, path in _labelled_files(folder)] if folder.is_dir() else []


def read_drawn(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a folder of labelled drawings (one subfolder per class, see the module's doc).

    Parameters
    ----------
    folder : path-like
        The folder, e.g. the one ``hwr-eval serve --collect DIR`` fills.

    Returns
    -------
    X : ndarray of shape (n, 784), uint8
        White ink on black, normalised like the datasets (as :func:`~hwr_eval.data.read_images` does).
    y : ndarray of shape (n,), str
        The labels, from the folder names. Rows are in class-folder order, then by file name.

    Raises a one-line :class:`~hwr_eval.errors.DataError` for a missing folder, a folder without any
    class folder holding images, a class folder that exists twice under one name (``a`` and
    ``lower-a``) and an unreadable or blank image (naming the file).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of drawings")
    files = _labelled_files(folder)
    if not files:
        raise DataError(f"{folder}: no drawings found (expected one subfolder per class, e.g. {folder}/A/*.png)")
    X = np.empty((len(files), 784), dtype=np.uint8)
    for i, (_, path) in enumerate(files):
        X[i] = read_character(path)[0]
    return X, np.array([label for label, _ in files], dtype="<U1")


def read_drawn_set(folder: str | os.PathLike) -> ImageSet | None:
    """:func:`read_drawn` as a data source of :func:`~hwr_eval.data.load_dataset` (None: no drawings here)."""
    files = drawn_files(folder)
    if not files:
        return None
    X, y = read_drawn(folder)
    return ImageSet(X.reshape(-1, 28, 28), y, files)


__all__ = ["LOWER_PREFIX", "drawn_files", "drawn_folder_label", "drawn_folder_name", "read_drawn", "read_drawn_set"]
