"""Unknown input: images that belong to none of the 36 known classes, to test "I don't know" detectors.

Nothing here is shipped: every set is read from the user's data or generated with a seed.

* **Near unknowns** (``"lowercase"``): real handwritten lowercase letters (NIST SD19, from EMNIST byclass
  or the LEAF/FEMNIST npz, whichever :func:`~hwr_eval.data.load_dataset` would take for ``classes="62"``),
  NIST-normalised like the known letters. Only the letters whose shapes differ from every known class
  are used: :data:`NEAR_UNKNOWN_LETTERS` (see there for the choice).
* **Far unknowns**, generated: :data:`FAR_UNKNOWN_SETS` -- blank and near-blank frames, Gaussian noise,
  salt-and-pepper noise, random pen scribbles and heavy blobs.
* **A folder** of the user's own images, read exactly as ``hwr-eval predict`` reads them
  (:func:`~hwr_eval.data.read_images`).

Every set is ``(n, 784)`` uint8, white ink on black, like the datasets' ``X``.
"""

from __future__ import annotations

import difflib
import os
import string
from collections.abc import Sequence
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval

from .._validation import as_int, check_constraints
from ..errors import DataError
from ._normalize import normalize_images

#: Lowercase letters used as near unknowns. Start from the 11 lowercase classes that EMNIST balanced keeps
#: apart from their uppercase letters (a b d e f g h n q r t; it merges the other 15 -- c i j k l m o p s u
#: v w x y z -- because their shapes match the uppercase ones: c/C, o/O/0, s/S/5, x/X, l/1/I, ...). Of
#: those, a grid of normalised FEMNIST samples showed three more look-alikes of known classes: ``f``
#: (often written as F, or as a 7 with a bar), ``g`` and ``q`` (a closed loop on a descender: a 9). What is
#: left, a b d e h n r t, has no shape in common with a digit or an uppercase letter, so a detector that
#: rejects them is right to, and one that accepts them is wrong.
NEAR_UNKNOWN_LETTERS = "abdehnrt"
#: Lowercase letters left out of the near unknowns: they look like a known class.
LOOKALIKE_LETTERS = "".join(c for c in string.ascii_lowercase if c not in NEAR_UNKNOWN_LETTERS)
#: The generated (far) unknown sets.
FAR_UNKNOWN_SETS = ("blank", "gaussian_noise", "salt_pepper", "scribbles", "blobs")
#: Every set :func:`load_unknowns` can build, in table order ("folder" needs ``folder=``).
UNKNOWN_SETS = ("lowercase", *FAR_UNKNOWN_SETS, "folder")
#: Images per generated set.
DEFAULT_N_GENERATED = 1000

_SIDE = 28


def lowercase_unknowns(data_dir: str | os.PathLike | None = None, letters: str = NEAR_UNKNOWN_LETTERS,
                       per_class: int | None = None, seed: int = 0) -> np.ndarray:
    """Handwritten lowercase letters (near unknowns), normalised like the known classes.

    Parameters
    ----------
    data_dir : path-like, optional
        The data folder (default as in :func:`~hwr_eval.data.load_dataset`: ``$HWR_DATA``, then the fetch
        cache). It must hold a source of lowercase letters: EMNIST byclass, the LEAF/FEMNIST npz or
        EMNIST balanced (the same order ``load_dataset(classes="62")`` uses).
    letters : str, default=NEAR_UNKNOWN_LETTERS
        The lowercase letters to take.
    per_class : int or None, default=None
        At most this many images per letter, drawn with ``seed``; None takes all.
    seed : int, default=0
        Seed of that draw.

    Returns
    -------
    ndarray of shape (n, 784), uint8
        In the source's order (letters grouped), white ink on black.

    Raises
    ------
    DataError
        No data folder, no lowercase source in it, or ``letters`` naming a non-lowercase character.
    """
    from ._dataset import _read_source, resolve_data_dir
    from ._fetch import file_digest
    from ._sources import PRIORITY, SOURCES

    if not isinstance(letters, str) or not letters or set(letters) - set(string.ascii_lowercase):
        raise DataError(f"letters must be lowercase letters a-z, got {letters!r}")
    check_constraints(_CONSTRAINTS, {"per_class": per_class, "seed": seed}, "lowercase_unknowns", DataError)
    directory = resolve_data_dir(data_dir)
    if directory is None:
        raise DataError("no data folder for the lowercase unknowns: give data_dir or set HWR_DATA to a folder with "
                        "EMNIST byclass or femnist_leaf_letters.npz")
    present = [SOURCES[name] for name in PRIORITY["lowercase"] if SOURCES[name].files(directory)]
    if not present:
        raise DataError(f"{directory}: no source of lowercase letters found (looked for "
                        f"{', '.join(PRIORITY['lowercase'])})")
    source, files = present[0], present[0].files(directory)
    data = _read_source(source, directory, files, {f: file_digest(f) for f in files})
    rng = np.random.default_rng(as_int(seed))
    picked = []
    for letter in sorted(set(letters)):
        index = np.flatnonzero(data.labels == letter)
        if per_class is not None and index.size > per_class:
            index = np.sort(rng.choice(index, as_int(per_class), replace=False))
        picked.append(index)
    index = np.concatenate(picked)
    if index.size == 0:
        raise DataError(f"{directory}: {source.name} has no images of the letters {letters!r}")
    return np.ascontiguousarray(data.images[index].reshape(index.size, _SIDE * _SIDE), dtype=np.uint8)


def generated_unknowns(kind: str, n: int = DEFAULT_N_GENERATED, seed: int = 0) -> np.ndarray:
    """One generated (far) unknown set, the same images for the same ``seed``.

    Parameters
    ----------
    kind : {"blank", "gaussian_noise", "salt_pepper", "scribbles", "blobs"}
        ``"blank"``: half all-black frames, half near-blank ones (1-6 faint specks, intensity 10-120:
        dust on a scan). ``"gaussian_noise"``: every pixel drawn from a normal distribution (mean 0-128,
        sd 20-80 per image), clipped to 0-255. ``"salt_pepper"``: 5-30% of the pixels at full ink.
        ``"scribbles"``: 3-6 random Bezier pen strokes. ``"blobs"``: 1-3 filled ellipses. Scribbles and
        blobs are normalised like handwriting (20 px box, centred by mass), so they sit where characters
        sit; the frames and noises are not (they fill the frame or have no ink to normalise).
    n : int, default=1000
        Number of images.
    seed : int, default=0
        Seed; each kind draws from its own stream, so one set does not change when another is added.

    Returns
    -------
    ndarray of shape (n, 784), uint8
    """
    if kind not in FAR_UNKNOWN_SETS:
        raise DataError(f"unknown generated set {kind!r}{_did_you_mean(kind, FAR_UNKNOWN_SETS)}; choose one of "
                        f"{', '.join(FAR_UNKNOWN_SETS)}")
    check_constraints(_CONSTRAINTS, {"n": n, "seed": seed}, "generated_unknowns", DataError)
    rng = np.random.default_rng([as_int(seed), FAR_UNKNOWN_SETS.index(kind)])
    images = _GENERATORS[kind](rng, as_int(n))
    return np.ascontiguousarray(images.reshape(len(images), _SIDE * _SIDE), dtype=np.uint8)


def folder_unknowns(folder: str | os.PathLike) -> np.ndarray:
    """The user's own images in ``folder``, read and normalised exactly as ``hwr-eval predict`` reads them.

    Raises
    ------
    DataError
        One line for a missing or empty folder, a file that is not an image, or an image without ink.
    """
    from ._images import read_images

    if not os.path.isdir(folder):
        raise DataError(f"{folder}: not a folder of images")
    return read_images(folder)


def load_unknowns(sets: str | Sequence[str] | None = None, *, data_dir: str | os.PathLike | None = None,
                  folder: str | os.PathLike | None = None, n_generated: int = DEFAULT_N_GENERATED,
                  per_class: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """The requested unknown sets, ``{set_name: X}`` with ``X`` of shape (n, 784), uint8.

    Parameters
    ----------
    sets : str or sequence of str, optional
        Names from :data:`UNKNOWN_SETS` (a comma-separated string is split). Default: ``"lowercase"``
        and the generated sets, plus ``"folder"`` when ``folder`` is given.
    data_dir : path-like, optional
        The data folder for ``"lowercase"`` (see :func:`lowercase_unknowns`).
    folder : path-like, optional
        A folder of the user's images, for ``"folder"`` (see :func:`folder_unknowns`).
    n_generated : int, default=1000
        Images per generated set.
    per_class : int or None, default=None
        At most this many lowercase images per letter.
    seed : int, default=0
        Seed of the generated sets and of the lowercase draw.

    Raises
    ------
    DataError
        An unknown set name (with the closest name), ``"folder"`` without ``folder``, or a set that cannot
        be read; all before any set is built.
    """
    if sets is None:
        names = ["lowercase", *FAR_UNKNOWN_SETS] + (["folder"] if folder is not None else [])
    else:
        names = [s.strip() for s in sets.split(",")] if isinstance(sets, str) else list(sets)
        if not names:
            raise DataError(f"no unknown set asked for; choose from {', '.join(UNKNOWN_SETS)}")
    for name in names:
        if name not in UNKNOWN_SETS:
            raise DataError(f"unknown unknown-set {name!r}{_did_you_mean(name, UNKNOWN_SETS)}; choose from "
                            f"{', '.join(UNKNOWN_SETS)}")
    if "folder" in names and folder is None:
        raise DataError("the 'folder' unknown set needs folder=PATH (a folder of your own images)")
    check_constraints(_CONSTRAINTS, {"n": n_generated, "per_class": per_class, "seed": seed}, "load_unknowns",
                      DataError)
    out = {}
    for name in dict.fromkeys(names):
        if name == "lowercase":
            out[name] = lowercase_unknowns(data_dir, per_class=per_class, seed=seed)
        elif name == "folder":
            out[name] = folder_unknowns(folder)
        else:
            out[name] = generated_unknowns(name, n_generated, seed)
    return out


# --- generators: rng, n -> (n, 28, 28) uint8 ---------------------------------------------------------------


def _blank(rng: np.random.Generator, n: int) -> np.ndarray:
    images = np.zeros((n, _SIDE, _SIDE), dtype=np.uint8)
    for image in images[n // 2:]:  # the second half: a few faint specks
        k = rng.integers(1, 7)
        image.flat[rng.choice(_SIDE * _SIDE, k, replace=False)] = rng.integers(10, 121, k)
    return images


def _gaussian_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    mean = rng.uniform(0, 128, (n, 1, 1))
    sd = rng.uniform(20, 80, (n, 1, 1))
    return np.clip(np.rint(rng.normal(mean, sd, (n, _SIDE, _SIDE))), 0, 255).astype(np.uint8)


def _salt_pepper(rng: np.random.Generator, n: int) -> np.ndarray:
    share = rng.uniform(0.05, 0.30, (n, 1, 1))
    return np.where(rng.random((n, _SIDE, _SIDE)) < share, 255, 0).astype(np.uint8)


def _scribbles(rng: np.random.Generator, n: int) -> np.ndarray:
    from skimage.draw import bezier_curve
    from skimage.morphology import dilation, disk

    side = 64  # drawn larger, then normalised down like a scanned character
    images = np.zeros((n, side, side), dtype=np.float32)
    for image in images:
        for _ in range(rng.integers(3, 7)):
            r0, c0, r1, c1, r2, c2 = rng.integers(4, side - 4, 6)
            rr, cc = bezier_curve(r0, c0, r1, c1, r2, c2, weight=float(rng.uniform(0.5, 3.0)), shape=image.shape)
            image[rr, cc] = 1.0
        image[:] = dilation(image, disk(int(rng.integers(1, 4))))  # pen width
    return normalize_images(images, ink="light")


def _blobs(rng: np.random.Generator, n: int) -> np.ndarray:
    from skimage.draw import ellipse

    side = 64
    images = np.zeros((n, side, side), dtype=np.float32)
    for image in images:
        for _ in range(rng.integers(1, 4)):
            r, c = rng.integers(12, side - 12, 2)
            rr, cc = ellipse(r, c, rng.uniform(6, 20), rng.uniform(6, 20), shape=image.shape,
                             rotation=float(rng.uniform(-np.pi, np.pi)))
            image[rr, cc] = 1.0
    return normalize_images(images, ink="light")


_GENERATORS = {"blank": _blank, "gaussian_noise": _gaussian_noise, "salt_pepper": _salt_pepper,
               "scribbles": _scribbles, "blobs": _blobs}
_CONSTRAINTS = {
    "n": [Interval(Integral, 1, None, closed="left")],
    "per_class": [Interval(Integral, 1, None, closed="left"), None],
    "seed": [Interval(Integral, 0, None, closed="left")],
}


def _did_you_mean(name, choices) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


__all__ = ["DEFAULT_N_GENERATED", "FAR_UNKNOWN_SETS", "LOOKALIKE_LETTERS", "NEAR_UNKNOWN_LETTERS", "UNKNOWN_SETS",
           "folder_unknowns", "generated_unknowns", "load_unknowns", "lowercase_unknowns"]
