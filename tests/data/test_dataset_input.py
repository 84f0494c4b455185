"""Hostile input to ``load_dataset``: bad argument values, a stale or damaged cache, the data source named."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings

import numpy as np
import pytest

from hwr_eval import DataError, SyntheticDataWarning
from hwr_eval.data import load_dataset


def _same_size_and_time(path, new_labels, data_files):
    """Rewrite ``path`` with other labels but the same size and modification time (a silent relabel)."""
    stat = path.stat()
    data_files.idx(path, new_labels)
    assert path.stat().st_size == stat.st_size  # gzip of same-length label bytes: same size here
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.fixture
def mnist_folder(tmp_path, data_files, monkeypatch):
    """MNIST-format files whose images are all different (so each image's label can be looked up)."""
    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "cache"))
    folder = data_files.mnist(tmp_path / "data", n_train=40, n_test=10)
    rng = np.random.default_rng(0)
    for part, n in (("train", 40), ("t10k", 10)):
        data_files.idx(folder / f"{part}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    return folder


def _labels_file(folder):
    return folder / "train-labels-idx1-ubyte.gz"


@pytest.mark.parametrize("cache", [True, False])
def test_relabelled_file_with_same_size_and_mtime_is_read_afresh(mnist_folder, data_files, cache):
    from hwr_eval.data import read_idx

    labels = read_idx(_labels_file(mnist_folder), ndim=1)
    first = load_dataset(mnist_folder, classes="digits", per_class=5)
    relabelled = (labels + 1) % 10
    _same_size_and_time(_labels_file(mnist_folder), relabelled, data_files)
    second = load_dataset(mnist_folder, classes="digits", per_class=5, cache=cache)
    sha = {s["path"]: s["sha256"] for s in second.provenance["sources"]}
    assert sha[str(_labels_file(mnist_folder))] == hashlib.sha256(_labels_file(mnist_folder).read_bytes()).hexdigest()
    assert sha != {s["path"]: s["sha256"] for s in first.provenance["sources"]}
    # Every training image now carries the next digit's label: the data really was read again.
    images = read_idx(mnist_folder / "train-images-idx3-ubyte.gz", ndim=3).reshape(-1, 784)
    truth = {images[i].tobytes(): str(relabelled[i]) for i in range(len(images))}
    train_rows = [(x.tobytes(), y) for x, y in zip(second.X_train, second.y_train) if x.tobytes() in truth]
    assert len(train_rows) >= 10 and all(truth[x] == y for x, y in train_rows)


def test_cache_false_leaves_the_cache_untouched(mnist_folder, tmp_path):
    load_dataset(mnist_folder, classes="digits", per_class=5, cache=False)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("*.npz"))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "wrong_arrays"])
def test_damaged_cache_entry_is_discarded_with_a_warning(mnist_folder, tmp_path, damage):
    first = load_dataset(mnist_folder, classes="digits", per_class=5)
    entries = sorted((tmp_path / "cache").rglob("*.npz"))
    assert len(entries) == 2  # the parsed source and the dataset
    for entry in entries:
        if damage == "truncate":
            entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
        elif damage == "garbage":
            entry.write_bytes(b"\x00not a zip file" * 10)
        elif damage == "empty":
            entry.write_bytes(b"")
        else:
            np.savez(entry, something=np.arange(3))
    with pytest.warns(UserWarning, match="damaged cache entry"):
        again = load_dataset(mnist_folder, classes="digits", per_class=5)
    np.testing.assert_array_equal(again.X_train, first.X_train)
    assert again.provenance == first.provenance
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt: the next load reads the new entry without complaint
        load_dataset(mnist_folder, classes="digits", per_class=5)


def test_damaged_provenance_in_cache_is_discarded(mnist_folder, tmp_path):
    load_dataset(mnist_folder, classes="digits", per_class=5)
    [entry] = (tmp_path / "cache" / "datasets").glob("*.npz")
    with np.load(entry) as npz:
        arrays = dict(npz)
    arrays["provenance"] = np.array("{not json")
    np.savez(entry, **arrays)
    with pytest.warns(UserWarning, match="damaged cache entry"):
        data = load_dataset(mnist_folder, classes="digits", per_class=5)
    assert data.provenance["per_class"] == 5


@pytest.mark.parametrize("per_class", [np.int64(5), np.int32(5), np.uint8(5)])
def test_numpy_integers_work_and_stay_json_serialisable(mnist_folder, per_class):
    data = load_dataset(mnist_folder, classes="digits", per_class=per_class, seed=np.int64(2))
    assert type(data.provenance["per_class"]) is int and type(data.provenance["seed"]) is int
    json.dumps(data.provenance)
    assert data.counts().sum(axis=1).eq(5).all()


@pytest.mark.parametrize("kwargs, fragment", [
    ({"per_class": True}, "'per_class' parameter of load_dataset must be an int in the range [1, inf) or None. Got True"),
    ({"per_class": 0}, "'per_class'"),
    ({"per_class": 2.5}, "Got 2.5"),
    ({"per_class": "10"}, "Got '10'"),
    ({"seed": 1.2}, "'seed' parameter of load_dataset must be an int in the range [0, inf). Got 1.2"),
    ({"seed": -1}, "Got -1"),
    ({"seed": False}, "Got False"),
    ({"seed": None}, "Got None"),
    ({"cache": "no"}, "'cache' parameter"),
    ({"classes": ["digits"]}, "unknown classes ['digits']"),
    ({"split": None}, "unknown split None"),
])
def test_bad_values_are_one_line_before_any_file_is_read(tmp_path, kwargs, fragment):
    # The folder does not exist: a refusal that names the value proves nothing was looked up first.
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path / "absent", **kwargs)
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_synthetic_fallback_warns_and_names_its_source(synthetic_env, caplog):
    with pytest.warns(SyntheticDataWarning, match="SYNTHETIC demo set"), caplog.at_level(logging.INFO):
        data = load_dataset(classes="digits", per_class=5)
    assert "synthetic" in repr(data) and "rendered fonts" in data.source
    assert any("SYNTHETIC" in r.getMessage() for r in caplog.records)
    # From the cache too: the second load is just as loud.
    with pytest.warns(SyntheticDataWarning), caplog.at_level(logging.INFO):
        load_dataset(classes="digits", per_class=5)
    assert any("from the cache" in r.getMessage() for r in caplog.records)


def test_real_data_is_named_and_does_not_warn(mnist_folder, caplog):
    with warnings.catch_warnings(), caplog.at_level(logging.INFO, logger="hwr_eval.data._dataset"):
        warnings.simplefilter("error", SyntheticDataWarning)
        data = load_dataset(mnist_folder, classes="digits", per_class=5)
    assert data.source == f"real files in {mnist_folder.resolve()}"
    assert repr(data).startswith(f"Dataset(source='real files in {mnist_folder.resolve()}', classes=10, train=")
    assert any(str(mnist_folder.resolve()) in r.getMessage() for r in caplog.records)


def test_a_malformed_hash_index_left_by_an_older_version_is_never_read(mnist_folder, tmp_path):
    """Older versions remembered hashes in sha256-index.json by size and time; the content decides now."""
    (tmp_path / "cache").mkdir(exist_ok=True)
    (tmp_path / "cache" / "sha256-index.json").write_text('["not", "the", {"expected": "shape"}')
    data = load_dataset(mnist_folder, classes="digits", per_class=5)
    labels = mnist_folder / "train-labels-idx1-ubyte.gz"
    recorded = {s["path"]: s["sha256"] for s in data.provenance["sources"]}
    assert recorded[str(labels)] == hashlib.sha256(labels.read_bytes()).hexdigest()
