"""Lines of characters: cut an image holding a short line (e.g. "A7B3") into single characters.

Connected components of the ink (8-connected) are the starting pieces. Pieces whose column ranges overlap
by at least half of the narrower one's width are one character (the detached bar of a 5 or a T, a
broken stroke, the two strokes of an X written apart), and characters are ordered left to right.

Limits: one line per image, written left to right. Characters that **touch** (one connected blob of ink)
are not split and come back as one character — leave a small gap between characters. Characters that
overhang each other by more than half a character's width (a very slanted line) are merged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..errors import DataError
from ._images import MAX_PIXELS, expand_paths, find_ink, normalize_character, read_grey

#: Two pieces whose column ranges overlap by at least this fraction of the narrower one are one character.
MERGE_OVERLAP = 0.5


@dataclass
class CharacterImage:
    """An image file read as characters.

    Attributes
    ----------
    path : Path
    characters : ndarray of shape (k, 784), uint8
        NIST-normalised characters (white ink on black), left to right; ``k = 1`` unless segmented.
    boxes : ndarray of shape (k, 4), int
        Each character's top, bottom, left, right (exclusive) in :attr:`grey`'s pixels.
    grey : ndarray of shape (h, w), uint8
        The image in grey as read (reduced to at most 2000 px), for previews.
    inverted : bool
        True when it was dark ink on light paper.
    """

    path: Path
    characters: np.ndarray
    boxes: np.ndarray
    grey: np.ndarray
    inverted: bool


def segment_characters(mask: np.ndarray, *, overlap: float = MERGE_OVERLAP) -> np.ndarray:
    """Label each character of a one-line ink mask: 0 = paper, 1..k = characters from left to right.

    Parameters
    ----------
    mask : ndarray of shape (h, w), bool
        Ink pixels (specks already removed, e.g. by :func:`~hwr_eval.data.find_ink`).
    overlap : float, default=0.5
        Pieces whose column ranges overlap by at least this fraction of the narrower one's width merge.
    """
    mask = np.asarray(mask, dtype=bool)
    pieces, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return pieces
    slices = ndimage.find_objects(pieces)
    # Groups of pieces with their column range [left, right); merged until no two groups overlap enough.
    groups = [([i + 1], s[1].start, s[1].stop) for i, s in enumerate(slices)]
    merged = True
    while merged:
        merged = False
        groups.sort(key=lambda g: g[1])
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                (ma, la, ra), (mb, lb, rb) = groups[a], groups[b]
                shared = min(ra, rb) - max(la, lb)
                if shared > 0 and shared >= overlap * min(ra - la, rb - lb):
                    groups[a] = (ma + mb, min(la, lb), max(ra, rb))
                    del groups[b]
                    merged = True
                    break
            if merged:
                break
    groups.sort(key=lambda g: (g[1] + g[2]) / 2)  # by centre: left to right
    lookup = np.zeros(n + 1, dtype=np.int32)
    for index, (members, _, _) in enumerate(groups, start=1):
        lookup[members] = index
    return lookup[pieces]


def _crop_character(level: np.ndarray, labels: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """One character's ink level and mask (the other characters' ink removed), and its box."""
    rows, cols = np.nonzero(labels == index)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    t, b = max(0, top - 2), min(labels.shape[0], bottom + 2)
    lft, rgt = max(0, left - 2), min(labels.shape[1], right + 2)
    own = labels[t:b, lft:rgt] == index
    # The antialiased edge one pixel around this character's ink, none of its neighbours' ink.
    near = ndimage.binary_dilation(own, iterations=1) & ~((labels[t:b, lft:rgt] > 0) & ~own)
    return np.where(near, level[t:b, lft:rgt], 0.0), own, (int(top), int(bottom), int(left), int(right))


def read_characters(path: str | os.PathLike, *, segment: bool = True, max_pixels: int = MAX_PIXELS) -> CharacterImage:
    """Read one image file as its characters, left to right (``segment=False``: the whole ink is one).

    Raises :class:`~hwr_eval.errors.DataError` (one line) for unreadable, damaged, oversized or blank images.
    """
    path = Path(path)
    ink = find_ink(read_grey(path, max_pixels=max_pixels), source=str(path))
    labels = segment_characters(ink.mask) if segment else ink.mask.astype(np.int32)
    k = int(labels.max())
    if k == 0:
        raise DataError(f"{path}: no ink found (the image is blank or has no contrast)")
    characters = np.empty((k, 784), dtype=np.uint8)
    boxes = np.empty((k, 4), dtype=np.int64)
    for index in range(1, k + 1):
        level, own, box = _crop_character(ink.level, labels, index)
        characters[index - 1] = normalize_character(level, own).reshape(-1)
        boxes[index - 1] = box
    return CharacterImage(path=path, characters=characters, boxes=boxes, grey=ink.grey, inverted=ink.inverted)


def read_line(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The characters of a one-line image, left to right: (k, 784) uint8, like the datasets' ``X``."""
    return read_characters(path, segment=True, max_pixels=max_pixels).characters


def read_image_files(paths, *, segment: bool = True, max_pixels: int = MAX_PIXELS) -> list[CharacterImage]:
    """:func:`read_characters` for every file named by ``paths`` (files, folders, globs)."""
    return [read_characters(p, segment=segment, max_pixels=max_pixels) for p in expand_paths(paths)]


__all__ = ["MERGE_OVERLAP", "CharacterImage", "read_characters", "read_image_files", "read_line", "segment_characters"]
