"""Readers for the handwriting datasets in their native formats.

Every reader returns an :class:`ImageSet`: uint8 images of shape (n, 28, 28) (USPS: 16x16), white ink
on black, and labels as single characters ('0'-'9', 'A'-'Z', 'a'-'z'). Readers check what they read
(magic numbers, dimensions, column counts, label ranges, truncation) and raise
:class:`~hwr_eval.errors.DataError` with a one-line message naming the file and the problem.
They do not normalise; :mod:`hwr_eval.normalize` does that for the sources that need it.
"""

from __future__ import annotations

import gzip
import string
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError

DIGITS = string.digits
UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
LEGEND_62 = DIGITS + UPPER + LOWER

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

# Usual file names (first match wins). MNIST: LeCun's names, gzipped or not, with '-' or '.' before idx.
MNIST_FILES = {
    ("train", "images"): ["train-images-idx3-ubyte", "train-images.idx3-ubyte"],
    ("train", "labels"): ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
    ("test", "images"): ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"],
    ("test", "labels"): ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"],
}
KAGGLE_MNIST_CSV = {"train": "mnist_train.csv", "test": "mnist_test.csv"}
KAGGLE_AZ_CSV = "A_Z Handwritten Data.csv"
FEMNIST_NPZ = "femnist_leaf_letters.npz"
USPS_H5 = "usps.h5"
EMNIST_SPLITS = ("letters", "byclass", "balanced")


@dataclass
class ImageSet:
    """Images and labels read from one source.

    Attributes
    ----------
    images : ndarray of shape (n, h, w), uint8
        White ink on black.
    labels : ndarray of shape (n,), str
        Single characters.
    files : list of Path
        The files read.
    subset : ndarray of shape (n,), str, or None
        The source's own partition ("train"/"test") where it has one; its writers are disjoint.
    writers : ndarray of shape (n,), str, or None
        Writer ids where the source has them.
    """

    images: np.ndarray
    labels: np.ndarray
    files: list[Path]
    subset: np.ndarray | None = None
    writers: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, mask_or_index) -> ImageSet:
        """Return the subset selected by a boolean mask or an index array."""
        pick = (lambda a: None if a is None else a[mask_or_index])
        return ImageSet(self.images[mask_or_index], self.labels[mask_or_index], self.files,
                        pick(self.subset), pick(self.writers), list(self.notes))


def find_file(directory: Path, names: list[str] | str) -> Path | None:
    """First existing ``name`` or ``name.gz`` in ``directory`` (also one level down), else None."""
    names = [names] if isinstance(names, str) else names
    directory = Path(directory)
    for folder in (directory, *sorted(p for p in directory.iterdir() if p.is_dir())):
        for name in names:
            for candidate in (folder / name, folder / f"{name}.gz"):
                if candidate.is_file():
                    return candidate
    return None


def _read_bytes(path: Path) -> bytes:
    """Whole file content, gunzipped when it is a gzip file; truncation and corruption are DataErrors."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    raw = path.read_bytes()
    if not raw:
        raise DataError(f"{path}: empty file")
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError:
            raise DataError(f"{path}: truncated gzip file (download incomplete?)") from None
        except (OSError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt gzip file ({exc})") from None
    return raw


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or raw), checking its magic number, dimensions and length.

    Parameters
    ----------
    path : path-like
        The IDX file.
    ndim : int, optional
        Expected number of dimensions (3 for images, 1 for labels).
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'none'})")
    dims_n = raw[3]
    if ndim is not None and dims_n != ndim:
        raise DataError(f"{path}: IDX file has {dims_n} dimensions, expected {ndim}")
    header = 4 + 4 * dims_n
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=dims_n, offset=4))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        what = "truncated" if len(raw) - header < expected else "has trailing bytes"
        raise DataError(f"{path}: IDX data {what}: header says {dims}, {expected} bytes, found {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _check_images(path: Path, images: np.ndarray, side: int = 28) -> None:
    if images.ndim != 3 or images.shape[1:] != (side, side):
        raise DataError(f"{path}: images have shape {images.shape[1:]}, expected ({side}, {side})")


def _labels_to_chars(path: Path, labels: np.ndarray, legend: str, offset: int = 0) -> np.ndarray:
    """Map integer labels to characters of ``legend`` (``labels - offset`` indexes it); range checked."""
    labels = np.asarray(labels).astype(np.int64) - offset
    bad = (labels < 0) | (labels >= len(legend))
    if bad.any():
        value = int(labels[bad][0]) + offset
        raise DataError(f"{path}: label {value} out of range {offset}..{offset + len(legend) - 1}")
    return np.array(list(legend))[labels]


def _check_pair(images_path: Path, labels_path: Path, n_images: int, n_labels: int) -> None:
    if n_images != n_labels:
        raise DataError(f"{labels_path}: {n_labels} labels for {n_images} images in {images_path.name}")


def read_mnist(directory: str | Path) -> ImageSet | None:
    """MNIST from its four IDX files in ``directory``; None when the files are not there.

    The result's ``subset`` holds "train"/"test": MNIST's own partition, whose writers are disjoint.
    """
    directory = Path(directory)
    paths = {key: find_file(directory, names) for key, names in MNIST_FILES.items()}
    if all(p is None for p in paths.values()):
        return None
    missing = [MNIST_FILES[key][0] for key, p in paths.items() if p is None]
    if missing:
        raise DataError(f"{directory}: incomplete MNIST, missing {', '.join(missing)}")
    images, labels, subset = [], [], []
    for part in ("train", "test"):
        img_path, lab_path = paths[(part, "images")], paths[(part, "labels")]
        imgs = read_idx(img_path, ndim=3)
        _check_images(img_path, imgs)
        labs = read_idx(lab_path, ndim=1)
        _check_pair(img_path, lab_path, len(imgs), len(labs))
        images.append(imgs.astype(np.uint8, copy=False))
        labels.append(_labels_to_chars(lab_path, labs, DIGITS))
        subset.append(np.full(len(labs), part))
    files = [paths[("train", "images")], paths[("train", "labels")], paths[("test", "images")], paths[("test", "labels")]]
    return ImageSet(np.concatenate(images), np.concatenate(labels), files, subset=np.concatenate(subset))


def _read_csv_pixels(path: Path, header: bool) -> tuple[np.ndarray, np.ndarray]:
    """Parse a label + 784 pixel CSV with pandas' C parser straight into uint8."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")
    try:
        first = pd.read_csv(path, header=0 if header else None, nrows=1)
    except (pd.errors.EmptyDataError, EOFError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from None
    if first.shape[1] != 785:
        raise DataError(f"{path}: {first.shape[1]} columns, expected 785 (label + 28x28 pixels)")
    try:
        # int16 first: range-checks labels and pixels without a second pass in Python; C engine throughout.
        frame = pd.read_csv(path, header=0 if header else None, dtype=np.int16, engine="c")
    except (ValueError, OverflowError) as exc:
        raise DataError(f"{path}: non-numeric or out-of-range value ({str(exc).splitlines()[0]})") from None
    except (pd.errors.ParserError, EOFError, OSError) as exc:
        raise DataError(f"{path}: malformed CSV ({str(exc).splitlines()[0]})") from None
    values = frame.to_numpy()
    if values.shape[0] == 0:
        raise DataError(f"{path}: no rows")
    pixels = values[:, 1:]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError(f"{path}: pixel values outside 0..255")
    return values[:, 0], pixels.astype(np.uint8).reshape(-1, 28, 28)


def read_kaggle_mnist_csv(directory: str | Path) -> ImageSet | None:
    """Kaggle's ``mnist_train.csv`` / ``mnist_test.csv`` (header row, label then 784 pixels); None if absent."""
    directory = Path(directory)
    paths = {part: find_file(directory, name) for part, name in KAGGLE_MNIST_CSV.items()}
    if all(p is None for p in paths.values()):
        return None
    images, labels, subset, files = [], [], [], []
    for part, path in paths.items():
        if path is None:
            continue
        labs, imgs = _read_csv_pixels(path, header=True)
        images.append(imgs)
        labels.append(_labels_to_chars(path, labs, DIGITS))
        subset.append(np.full(len(labs), part))
        files.append(path)
    return ImageSet(np.concatenate(images), np.concatenate(labels), files, subset=np.concatenate(subset))


def read_kaggle_az_csv(directory: str | Path) -> ImageSet | None:
    """Kaggle's ``A_Z Handwritten Data.csv`` (no header, label 0-25 = 'A'-'Z'); None if absent.

    The images are already MNIST-like (white on black, about 20 px, centred). There are no writer ids.
    """
    path = find_file(Path(directory), KAGGLE_AZ_CSV)
    if path is None:
        return None
    labs, imgs = _read_csv_pixels(path, header=False)
    return ImageSet(imgs, _labels_to_chars(path, labs, UPPER), [path])


def _emnist_mapping(path: Path) -> str:
    """EMNIST ``*-mapping.txt``: lines "label ascii_code"; returns the legend indexed by label."""
    try:
        table = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot read EMNIST mapping ({exc})") from None
    if table.size == 0 or table.shape[1] != 2:
        raise DataError(f"{path}: EMNIST mapping must have two columns: label and ASCII code")
    legend = ["\0"] * (int(table[:, 0].max()) + 1)
    for label, code in table:
        legend[label] = chr(code)
    return "".join(legend)


def read_emnist(directory: str | Path, split: str = "letters") -> ImageSet | None:
    """EMNIST IDX files ``emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte[.gz]``; None if absent.

    EMNIST stores images transposed; they are returned upright. ``letters`` labels 1-26 map to 'A'-'Z'
    (EMNIST merges upper and lower case there); ``byclass``/``balanced`` use their mapping file.
    """
    if split not in EMNIST_SPLITS:
        raise DataError(f"unknown EMNIST split {split!r}; choose one of {', '.join(EMNIST_SPLITS)}")
    directory = Path(directory)
    found = {
        (part, kind): find_file(directory, f"emnist-{split}-{part}-{kind}-ubyte")
        for part in ("train", "test") for kind in ("images-idx3", "labels-idx1")
    }
    if all(p is None for p in found.values()):
        return None
    missing = [f"emnist-{split}-{part}-{kind}-ubyte" for (part, kind), p in found.items() if p is None]
    if missing:
        raise DataError(f"{directory}: incomplete EMNIST {split}, missing {', '.join(missing)}")
    files = list(found.values())
    if split == "letters":
        legend, offset = UPPER, 1
    else:
        mapping = find_file(directory, f"emnist-{split}-mapping.txt")
        if mapping is None:
            raise DataError(f"{directory}: EMNIST {split} needs its emnist-{split}-mapping.txt")
        legend, offset = _emnist_mapping(mapping), 0
        files.append(mapping)
    images, labels, subset = [], [], []
    for part in ("train", "test"):
        img_path, lab_path = found[(part, "images-idx3")], found[(part, "labels-idx1")]
        imgs = read_idx(img_path, ndim=3)
        _check_images(img_path, imgs)
        labs = read_idx(lab_path, ndim=1)
        _check_pair(img_path, lab_path, len(imgs), len(labs))
        images.append(np.ascontiguousarray(imgs.transpose(0, 2, 1)).astype(np.uint8, copy=False))
        labels.append(_labels_to_chars(lab_path, labs, legend, offset))
        subset.append(np.full(len(labs), part))
    return ImageSet(np.concatenate(images), np.concatenate(labels), files, subset=np.concatenate(subset),
                    notes=[f"EMNIST {split}"])


def read_femnist_npz(directory_or_file: str | Path) -> ImageSet | None:
    """The LEAF/FEMNIST letters npz (``femnist_leaf_letters.npz``); None if absent.

    Returned inverted to white ink on black but NOT size-normalised (see :mod:`hwr_eval.normalize`).
    """
    path = Path(directory_or_file)
    if path.is_dir():
        path = find_file(path, FEMNIST_NPZ)
        if path is None:
            return None
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels, writers = npz["images"], npz["labels"], npz["writers"]
    except KeyError as exc:
        raise DataError(f"{path}: FEMNIST npz lacks the array {exc}") from None
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read as npz ({exc})") from None
    _check_images(path, images)
    if not (len(images) == len(labels) == len(writers)):
        raise DataError(f"{path}: images, labels and writers differ in length")
    chars = _labels_to_chars(path, labels, LEGEND_62)
    return ImageSet(255 - images.astype(np.uint8), chars, [path], writers=writers.astype(str))


def read_usps_h5(directory_or_file: str | Path) -> ImageSet | None:
    """USPS ``usps.h5`` (16x16 floats in [0, 1]) as uint8 (n, 16, 16) images; None if absent."""
    import h5py

    path = Path(directory_or_file)
    if path.is_dir():
        path = find_file(path, USPS_H5)
        if path is None:
            return None
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    images, labels, subset = [], [], []
    try:
        with h5py.File(path, "r") as h5:
            for part in ("train", "test"):
                data = np.asarray(h5[f"{part}/data"], dtype=np.float32)
                target = np.asarray(h5[f"{part}/target"])
                if data.ndim != 2 or data.shape[1] != 256:
                    raise DataError(f"{path}: {part}/data has shape {data.shape}, expected (n, 256)")
                if len(data) != len(target):
                    raise DataError(f"{path}: {part}/data and {part}/target differ in length")
                images.append(np.clip(np.rint(data * 255), 0, 255).astype(np.uint8).reshape(-1, 16, 16))
                labels.append(_labels_to_chars(path, target, DIGITS))
                subset.append(np.full(len(target), part))
    except (OSError, KeyError) as exc:
        raise DataError(f"{path}: cannot read as USPS HDF5 ({exc})") from None
    return ImageSet(np.concatenate(images), np.concatenate(labels), [path], subset=np.concatenate(subset))


__all__ = [
    "ImageSet", "find_file", "read_idx", "read_mnist", "read_kaggle_mnist_csv", "read_kaggle_az_csv",
    "read_emnist", "read_femnist_npz", "read_usps_h5",
]
