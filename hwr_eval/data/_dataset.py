"""The reference protocol: balanced digit + letter sets with fixed train / validation / test splits.

:func:`load_dataset` finds the data (argument, ``$HWR_DATA``, the user cache, else a synthetic demo set),
picks the best source for each group of classes (digits: MNIST; uppercase letters: Kaggle A-Z, then
EMNIST byclass, then FEMNIST; see :mod:`._sources`), normalises the sources that need it, caps each class at ``per_class`` samples and
splits. Results are cached on disk, keyed by the data folder (provenance names its files), the source
files' sha256 and the parameters, so a second load only reads one uncompressed ``.npz``.

The files are hashed on every load (content, not size and modification time, decides what a cache entry
is: a relabelled file with the same size and time is read afresh). Measured: the 14 MB of MNIST and
FEMNIST files hash in about 30 ms (sha256, ~0.5 GB/s), so the ~560 MB of EMNIST cost about a second.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval

from .._validation import as_int, check_constraints
from ..errors import DataError, SyntheticDataWarning
from . import _readers as readers
from ._cache import _key, _load_npz, _save_npz
from ._fetch import cache_dir, data_cache_dir, file_digest
from ._normalize import normalize_images
from ._readers import ImageSet
from ._sources import (
    CLASS_SET_GROUPS,
    CLASS_SETS,
    GROUP_CLASSES,
    SOURCES,
    Choice,
    _Source,
    mixed_case_warning,
    plan_sources,
)
from ._splitting import FRACTIONS, _select, _writer_split

# Bump when readers, normalisation or the protocol change: old cache entries are then ignored.
# 3: uppercase never from a case-merging source when another is present; provenance has source_choice.
CACHE_VERSION = "3"
SPLITS = ("random", "writer")
SYNTHETIC_PER_CLASS = 300  # rendering is the slow part; a demo set needs no more
SYNTHETIC_SOURCE = "synthetic demo set (rendered fonts, not handwriting)"

logger = logging.getLogger(__name__)


@dataclass
class Dataset:
    """Train / validation / test splits of flattened 28x28 images and their provenance.

    Attributes
    ----------
    X_train, X_val, X_test : ndarray of shape (n, 784), uint8
        White ink on black.
    y_train, y_val, y_test : ndarray of shape (n,), str
        Single-character labels.
    classes : list of str
        Sorted: digits, then uppercase, then lowercase.
    provenance : dict
        ``synthetic``, ``data_dir``, ``sources`` (name, path, sha256, n_samples), ``classes``,
        ``per_class``, ``split``, ``seed``, plus ``groups`` (which source gave which classes), ``notes``,
        ``class_set`` (the ``classes`` argument), ``source_choice`` (per group: source, reason, why,
        ``mixed_case``, images per class available and used) and ``mixed_case_letters`` (None, or the
        case-merging source the letters came from and whether that was asked for).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    provenance: dict = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        """True for the generated demo set (not handwriting)."""
        return bool(self.provenance.get("synthetic"))

    @property
    def source(self) -> str:
        """Where the images came from: the data folder (real files), or the synthetic demo set."""
        if self.synthetic:
            return SYNTHETIC_SOURCE
        return f"real files in {self.provenance.get('data_dir')}"

    def __repr__(self) -> str:
        sizes = f"train={len(self.y_train)}, validation={len(self.y_val)}, test={len(self.y_test)}"
        return f"Dataset(source={self.source!r}, classes={len(self.classes)}, {sizes})"

    def counts(self) -> pd.DataFrame:
        """Images per class (index) and split (columns ``train``, ``validation``, ``test``)."""
        parts = {"train": self.y_train, "validation": self.y_val, "test": self.y_test}
        return pd.DataFrame(
            {name: pd.Series(y).value_counts().reindex(self.classes, fill_value=0) for name, y in parts.items()}
        ).astype(int)

    def describe(self) -> str:
        """One line saying which data this is: shown by every command that uses it."""
        if self.synthetic:
            return "SYNTHETIC demo data (rendered fonts, not handwriting): results say nothing about real data"
        groups = ", ".join(f"{g}: {s}" for g, s in self.provenance.get("groups", {}).items())
        mixed = " MIXED-CASE letters;" if self.provenance.get("mixed_case_letters") else ""
        return f"{self.provenance.get('data_dir')} ({groups};{mixed} split={self.provenance.get('split')})"


# --- sources ---------------------------------------------------------------------------------------------


def _read_source(source: _Source, directory: Path, files: list[Path], digests: dict[Path, str],
                 cache: bool = True) -> ImageSet:
    """Parse (and normalise) a source, through the on-disk cache keyed by its files' content (``digests``)."""
    key = _key({"v": CACHE_VERSION, "source": source.name, "files": [digests[f] for f in files]})
    path = cache_dir() / "sources" / f"{key}.npz"
    cached = _load_npz(path, required=("images", "labels")) if cache else None
    if cached is not None:
        return ImageSet(cached["images"], cached["labels"], files,
                        cached.get("subset"), cached.get("writers"))
    data = source.reader(directory)
    if data is None:
        raise DataError(f"{directory}: {source.name} files not found")
    if source.normalize:
        data.images = normalize_images(data.images)
    arrays = {"images": data.images, "labels": data.labels}
    if data.subset is not None:
        arrays["subset"] = data.subset
    if data.writers is not None:
        arrays["writers"] = data.writers
    if cache:
        _save_npz(path, arrays)
    return data


# --- data location --------------------------------------------------------------------------------------


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The data folder to use: ``data_dir``, else ``$HWR_DATA``, else the fetch cache if it holds data, else None.

    None means: fall back to the synthetic demo set. A folder named explicitly must exist.
    """
    for value, how in ((data_dir, "data directory"), (os.environ.get("HWR_DATA") or None, "HWR_DATA")):
        if value is not None:
            path = Path(value).expanduser()
            if not path.is_dir():
                raise DataError(f"{path}: {how} not found (missing directory)")
            return path
    cached = data_cache_dir()
    if cached.is_dir() and any(s.files(cached) for s in SOURCES.values()):
        return cached
    return None


def _choice_record(choice: Choice, available: dict[str, int], used: dict[str, int]) -> dict:
    """The provenance entry of one class group: source, why, and images per class available and used."""
    def span(counts: dict[str, int]) -> dict[str, int]:
        values = [counts.get(c, 0) for c in GROUP_CLASSES[choice.group] if c in available]
        return {"min": min(values, default=0), "max": max(values, default=0)}

    return {"source": choice.source.name, "reason": choice.reason, "why": choice.why,
            "mixed_case": choice.mixed_case, "also_present": list(choice.also_present),
            "available_per_class": span(available), "per_class": span(used)}


# --- the public entry point -----------------------------------------------------------------------------


def load_dataset(
    data_dir: str | os.PathLike | None = None,
    classes: str = "36",
    per_class: int | None = 2000,
    split: str = "random",
    seed: int = 0,
    *,
    cache: bool = True,
) -> Dataset:
    """Load the reference protocol's train / validation / test splits.

    Parameters
    ----------
    data_dir : path-like, optional
        Folder with the data files (any mix of MNIST IDX, Kaggle CSVs, EMNIST IDX, FEMNIST npz). Default:
        ``$HWR_DATA``, then the user cache filled by ``hwr-eval data fetch``, then a synthetic demo set.
    classes : {"36", "digits", "letters", "62", "36-merged", "letters-merged"}, default="36"
        Digits and uppercase letters, digits only, uppercase only, or with lowercase letters too.
        ``"*-merged"``: letters from EMNIST letters, whose 26 classes each hold both cases (labelled
        'A'-'Z'); without it, letters never come from a case-merging source while another is present.
    per_class : int or None, default=2000
        At most this many images per class, chosen with ``seed``; None keeps all.
    split : {"random", "writer"}, default="random"
        ``"random"``: stratified 62% / 28% / 10%. ``"writer"``: no writer in two splits (MNIST's own
        train/test writers, FEMNIST and EMNIST by their writer partitions), about the same proportions.
    seed : int, default=0
        Seed of the sampling and the split (a non-negative integer); the same arguments give the same arrays.
    cache : bool, default=True
        Read and write the on-disk cache in the user cache folder (``$HWR_CACHE``). False parses the
        files afresh and leaves the cache untouched.

    Returns
    -------
    Dataset
        ``repr(dataset)``, ``dataset.source`` and ``dataset.describe()`` name the data used. The source
        is also logged (logger ``hwr_eval.data._dataset``, level INFO).

    Warns
    -----
    SyntheticDataWarning
        When no real data was found and the synthetic demo set stands in for it.

    Raises
    ------
    DataError
        A bad argument (one line, before any file is read), a missing folder or unreadable files.
    """
    if not isinstance(classes, str) or classes not in CLASS_SETS:
        raise DataError(f"unknown classes {classes!r}; choose one of {', '.join(CLASS_SETS)}")
    if not isinstance(split, str) or split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    check_constraints(_LOAD_CONSTRAINTS, {"per_class": per_class, "seed": seed, "cache": cache}, "load_dataset",
                      DataError)
    per_class, seed = as_int(per_class), as_int(seed)
    directory = resolve_data_dir(data_dir)
    params = {"classes": classes, "per_class": per_class, "split": split, "seed": seed}

    if directory is None:
        plan, files_sha = None, {}
        key_payload = {"v": CACHE_VERSION, "synthetic": True, **params}
    else:
        plan = plan_sources(directory, classes, split)
        # Hashed once per load: the content decides the cache entry and provenance records it.
        files_sha = {f: file_digest(f) for choice in plan.values() for f in choice.files}
        # The folder is part of the key: provenance records data_dir and the files' paths, so an entry
        # made from a copy of the same files elsewhere must not be returned for this one.
        key_payload = {"v": CACHE_VERSION, "dir": str(directory.resolve()), "files": sorted(files_sha.values()),
                       "groups": {g: c.source.name for g, c in plan.items()},
                       # The recorded reasons name the other sources present: adding one must not leave
                       # a stale explanation in the cached provenance.
                       "choices": {g: [c.why, *c.also_present] for g, c in plan.items()}, **params}
    cache_path = cache_dir() / "datasets" / f"{_key(key_payload)}.npz"
    if cache:
        dataset = _cached_dataset(cache_path)
        if dataset is not None:
            return _announce(dataset, cached=True)

    rng = np.random.default_rng(seed)
    pools: list[tuple[str, ImageSet, list[str]]] = []  # (source name, data, classes taken from it)
    notes: list[str] = []
    available: dict[str, int] = {}  # images per class in the chosen sources, before the per-class cap
    if plan is None:
        if "lowercase" in CLASS_SET_GROUPS[classes] or "merged letters" in CLASS_SET_GROUPS[classes]:
            raise DataError(f"the synthetic demo set has no lowercase letters (--classes {classes}); use --classes "
                            "36/digits/letters or give real data with --data")
        from ._synthetic import make_synthetic

        n_render = min(per_class or SYNTHETIC_PER_CLASS, SYNTHETIC_PER_CLASS)
        data = make_synthetic(n_per_class=n_render, classes=CLASS_SETS[classes], seed=seed)
        pools.append(("synthetic", data, list(CLASS_SETS[classes])))
        notes.append(f"SYNTHETIC demo set: {n_render} rendered images per class, not handwriting")
        groups = {"all": "synthetic"}
    else:
        groups = {}
        by_source: dict[str, list[str]] = {}
        for group, choice in plan.items():
            by_source.setdefault(choice.source.name, []).extend(
                c for c in GROUP_CLASSES[group] if c in CLASS_SETS[classes])
            groups[group] = choice.source.name
            if choice.mixed_case and choice.reason != "explicit":
                notes.append(mixed_case_warning(choice.source.name))
        for name, wanted in by_source.items():
            source = SOURCES[name]
            data = _read_source(source, directory, source.files(directory), files_sha, cache)
            # Labels are case-sensitive characters: taking 'A'-'Z' from EMNIST byclass or FEMNIST never
            # takes their lowercase 'a'-'z' samples.
            uniq, n_per_label = np.unique(data.labels, return_counts=True)
            available.update({str(c): int(n) for c, n in zip(uniq, n_per_label) if c in wanted})
            present = [c for c in wanted if c in available]
            missing = sorted(set(wanted) - set(present))
            if missing:
                notes.append(f"{name} has no samples of {''.join(missing)}: those classes are left out")
            if source.normalize:
                notes.append(f"{name} images were size-normalised like MNIST (20 px box, centred by mass)")
            pools.append((name, data.take(np.isin(data.labels, present)), present))

    parts: list[list[np.ndarray]] = [[], [], []]
    labels: list[list[np.ndarray]] = [[], [], []]
    sources_info = []
    val_disjoint = True
    for name, data, taken in pools:
        part = None
        if split == "writer":
            part, disjoint = _writer_split(data, rng)
            if not disjoint:
                val_disjoint = False
                notes.append(f"{name}: test writers are disjoint from train/validation; validation is a random "
                             "part of the training writers (writer ids are not published)")
        chosen = _select(data.labels, part, taken, per_class, rng)
        used = 0
        for s in range(3):
            idx = np.concatenate(chosen[s]) if chosen[s] else np.empty(0, dtype=np.intp)
            parts[s].append(data.images[idx].reshape(len(idx), 28 * 28))
            labels[s].append(data.labels[idx])
            used += len(idx)
        for f in data.files:
            if name == "synthetic":
                sources_info.append({"name": "synthetic (font)", "path": str(f), "sha256": None, "n_samples": used})
            else:
                sources_info.append({"name": name, "path": str(f), "sha256": files_sha[f], "n_samples": used})
        if name == "synthetic" and not data.files:
            sources_info.append({"name": "synthetic", "path": None, "sha256": None, "n_samples": used})

    all_classes = sorted({c for _, _, taken in pools for c in taken}, key=CLASS_SETS["62"].index)
    # Rows in a seeded random order: grouped by class they would cripple any learner that does not
    # shuffle (skorch's default DataLoader, partial_fit, an unshuffled KFold).
    orders = [rng.permutation(sum(len(lab) for lab in split_labels)) for split_labels in labels]
    X = [np.ascontiguousarray(np.concatenate(p).astype(np.uint8)[o]) for p, o in zip(parts, orders)]
    y = [np.concatenate(lab).astype("<U1")[o] for lab, o in zip(labels, orders)]
    used_labels, used_counts = np.unique(np.concatenate(y), return_counts=True)
    used_per_class = {str(c): int(n) for c, n in zip(used_labels, used_counts)}
    choices = {} if plan is None else {g: _choice_record(c, available, used_per_class) for g, c in plan.items()}
    mixed = next(({"source": c.source.name, "group": g, "explicit": c.reason == "explicit"}
                  for g, c in (plan or {}).items() if c.mixed_case), None)
    provenance = {
        "synthetic": plan is None,
        "data_dir": None if directory is None else str(directory.resolve()),
        "sources": sources_info,
        "groups": groups,
        "validation_writer_disjoint": val_disjoint if split == "writer" else None,
        "notes": notes,
        **params,
        "class_set": classes,
        "classes": all_classes,
        "source_choice": choices,
        "mixed_case_letters": mixed,
    }
    dataset = Dataset(X[0], y[0], X[1], y[1], X[2], y[2], classes=all_classes, provenance=provenance)
    if cache:
        _save_npz(cache_path, {"X_train": X[0], "y_train": y[0], "X_val": X[1], "y_val": y[1], "X_test": X[2],
                               "y_test": y[2], "provenance": np.array(json.dumps(provenance))})
    return _announce(dataset, cached=False)


_LOAD_CONSTRAINTS = {
    "per_class": [Interval(Integral, 1, None, closed="left"), None],
    "seed": [Interval(Integral, 0, None, closed="left")],
    "cache": ["boolean"],
}
_ARRAYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


def _cached_dataset(path: Path) -> Dataset | None:
    """The dataset stored at ``path``, or None when there is none or it is damaged (then it is rebuilt)."""
    cached = _load_npz(path, required=(*_ARRAYS, "provenance"))
    if cached is None:
        return None
    try:
        provenance = json.loads(str(cached["provenance"]))
        return Dataset(**{k: cached[k] for k in _ARRAYS}, classes=list(provenance["classes"]), provenance=provenance)
    except (ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"{path}: damaged cache entry ({exc}); discarded, reading the data files again", stacklevel=3)
        path.unlink(missing_ok=True)
        return None


def _announce(dataset: Dataset, cached: bool) -> Dataset:
    """Say which data this is: a warning for the synthetic demo set, an INFO log line either way."""
    logger.info("load_dataset: %s%s", dataset.describe(), " (from the cache)" if cached else "")
    if dataset.synthetic:
        warnings.warn(
            "no real data found (no data_dir, $HWR_DATA unset, nothing fetched): using the SYNTHETIC demo set of "
            "rendered fonts, not handwriting; give a data folder or run `hwr-eval data fetch`",
            SyntheticDataWarning, stacklevel=3,
        )
    return dataset


def load_usps(data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """USPS digits (train and test parts together) normalised like MNIST, as an unseen evaluation set.

    Returns ``X`` (n, 784) uint8, ``y`` (n,) str and the file used.
    """
    directory = resolve_data_dir(data_dir)
    if directory is None or (data := readers.read_usps_h5(directory)) is None:
        raise DataError(f"{directory or 'no data directory'}: usps.h5 not found")
    X = normalize_images(data.images).reshape(len(data), -1)
    return X, data.labels, data.files


__all__ = ["Dataset", "load_dataset", "load_usps", "resolve_data_dir", "CLASS_SETS", "SPLITS", "FRACTIONS"]
