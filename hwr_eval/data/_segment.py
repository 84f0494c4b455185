"""Lines of characters: cut an image holding a short line (e.g. "A7B3") into single characters.

Connected components of the ink (8-connected) are the starting pieces. Pieces whose column ranges overlap
by at least half of the narrower one's width are one character (a broken stroke, the two strokes of an X
written apart); a flat piece (under 40% of the line's height: the detached bar of a 5 or a T) joins the
character it overlaps most. Characters are ordered left to right.

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
#: Pieces less tall than this fraction of the tallest character join the character they overlap.
SHORT_PIECE = 0.4


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
    # Groups of pieces with their column range [left, right) and row range [top, bottom).
    groups = [([i + 1], s[1].start, s[1].stop, s[0].start, s[0].stop) for i, s in enumerate(slices)]

    def join(a, b):
        return (a[0] + b[0], min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3]), max(a[4], b[4]))

    def shared(a, b):
        return min(a[2], b[2]) - max(a[1], b[1])

    merged = True
    while merged:  # pieces overlapping by half the narrower one's width are one character
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                ga, gb = groups[a], groups[b]
                if shared(ga, gb) > 0 and shared(ga, gb) >= overlap * min(ga[2] - ga[1], gb[2] - gb[1]):
                    groups[a] = join(ga, gb)
                    del groups[b]
                    merged = True
                    break
            if merged:
                break
    # A flat piece (under SHORT_PIECE of the tallest character: the detached bar of a 5 or a T) that
    # overlaps a character at all belongs to the one it overlaps most.
    line_height = max(g[4] - g[3] for g in groups)
    for piece in sorted((g for g in groups if g[4] - g[3] < SHORT_PIECE * line_height), key=lambda g: g[1]):
        others = [g for g in groups if g is not piece and shared(g, piece) > 0]
        if piece in groups and others:
            host = max(others, key=lambda g: shared(g, piece))
            groups[groups.index(host)] = join(host, piece)
            groups.remove(piece)
    groups.sort(key=lambda g: (g[1] + g[2]) / 2)  # by centre: left to right
    lookup = np.zeros(n + 1, dtype=np.int32)
    for index, group in enumerate(groups, start=1):
        lookup[group[0]] = index
    return lookup[pieces]


def _owners(labels: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Every pixel with ink level > 0 goes to the character whose thresholded ink is nearest."""
    if labels.max() <= 1:
        return np.where(level > 0, 1, labels).astype(labels.dtype)
    _, (rows, cols) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    return np.where((level > 0) | (labels > 0), labels[rows, cols], 0)


def _crop_character(level: np.ndarray, labels: np.ndarray, owners: np.ndarray,
                    index: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """One character's ink level (with its faint edge) and mask, the other characters' ink removed, and its box."""
    rows, cols = np.nonzero(owners == index)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    window = (slice(top, bottom), slice(left, right))
    own_level = np.where(owners[window] == index, level[window], 0.0)
    return own_level, labels[window] == index, (int(top), int(bottom), int(left), int(right))


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
    owners = _owners(labels, ink.level)
    for index in range(1, k + 1):
        level, own, box = _crop_character(ink.level, labels, owners, index)
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
