import gzip

import h5py
import numpy as np
import pytest

from hwr_eval.data import (
    read_emnist,
    read_femnist_npz,
    read_idx,
    read_kaggle_az_csv,
    read_kaggle_mnist_csv,
    read_mnist,
    read_usps_h5,
)
from hwr_eval.errors import DataError


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, data_files, gz):
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    path = data_files.idx(tmp_path / ("x.gz" if gz else "x"), array)
    np.testing.assert_array_equal(read_idx(path, ndim=3), array)


def test_read_idx_wrong_magic(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x07\x03" + b"\x00" * 20)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: not an IDX file \(bad magic"):
        read_idx(path)


def test_read_idx_wrong_dimensions(tmp_path, data_files):
    path = data_files.idx(tmp_path / "labels", np.zeros((2, 3)))
    with pytest.raises(DataError, match="2 dimensions, expected 1"):
        read_idx(path, ndim=1)


def test_read_idx_truncated_data(tmp_path, data_files):
    path = data_files.idx(tmp_path / "images", np.zeros((3, 28, 28)), gz=False)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_read_idx_truncated_gzip(tmp_path, data_files):
    path = data_files.idx(tmp_path / "images.gz", np.ones((3, 28, 28)))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError, match=r"images.gz: truncated gzip"):
        read_idx(path)


def test_read_idx_empty_file(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(DataError, match="empty: empty file"):
        read_idx(tmp_path / "empty")


def test_read_mnist_returns_chars_and_partition(tmp_path, data_files):
    data_files.mnist(tmp_path, n_train=30, n_test=10)
    data = read_mnist(tmp_path)
    assert data.images.shape == (40, 28, 28) and data.images.dtype == np.uint8
    assert list(data.labels[:3]) == ["0", "1", "2"]
    assert (data.subset == "train").sum() == 30 and (data.subset == "test").sum() == 10


def test_read_mnist_label_out_of_range(tmp_path, data_files):
    data_files.mnist(tmp_path)
    data_files.idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(20, 12))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: label 12 out of range 0..9"):
        read_mnist(tmp_path)


def test_read_mnist_incomplete_and_mismatched(tmp_path, data_files):
    data_files.mnist(tmp_path)
    data_files.idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(5))
    with pytest.raises(DataError, match="5 labels for 20 images"):
        read_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="incomplete MNIST, missing t10k-labels-idx1-ubyte"):
        read_mnist(tmp_path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_kaggle_mnist_csv_with_header(tmp_path, data_files, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28))
    data_files.csv(tmp_path / f"mnist_train.csv{suffix}", np.arange(7) % 10, images, header=True)
    data_files.csv(tmp_path / f"mnist_test.csv{suffix}", [3, 4], images[:2], header=True)
    data = read_kaggle_mnist_csv(tmp_path)
    assert data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images[:7], images)
    assert list(data.labels) == [str(i) for i in range(7)] + ["3", "4"]
    assert list(data.subset) == ["train"] * 7 + ["test"] * 2


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_kaggle_az_csv_without_header(tmp_path, data_files, suffix):
    images = np.random.default_rng(1).integers(0, 256, (26, 28, 28))
    data_files.csv(tmp_path / f"A_Z Handwritten Data.csv{suffix}", np.arange(26), images, header=False)
    data = read_kaggle_az_csv(tmp_path)
    assert "".join(data.labels) == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    np.testing.assert_array_equal(data.images, images)
    assert data.writers is None and data.subset is None


def test_csv_wrong_column_count(tmp_path):
    path = tmp_path / "A_Z Handwritten Data.csv"
    path.write_text("0," + ",".join(["0"] * 700) + "\n")
    with pytest.raises(DataError, match=r"A_Z Handwritten Data.csv: 701 columns, expected 785"):
        read_kaggle_az_csv(tmp_path)


def test_csv_non_numeric_pixels(tmp_path, data_files):
    path = data_files.csv(tmp_path / "A_Z Handwritten Data.csv", [0, 1], np.zeros((2, 784), int), header=False)
    text = path.read_text().splitlines()
    text[1] = text[1][:-1] + "x"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"A_Z Handwritten Data.csv: non-numeric"):
        read_kaggle_az_csv(tmp_path)


def test_csv_label_out_of_range(tmp_path, data_files):
    data_files.csv(tmp_path / "A_Z Handwritten Data.csv", [0, 26], np.zeros((2, 784), int), header=False)
    with pytest.raises(DataError, match=r"label 26 out of range 0..25"):
        read_kaggle_az_csv(tmp_path)


def test_csv_pixel_out_of_range(tmp_path, data_files):
    data_files.csv(tmp_path / "mnist_train.csv", [0], np.full((1, 784), 300), header=True)
    with pytest.raises(DataError, match="pixel values outside 0..255"):
        read_kaggle_mnist_csv(tmp_path)


def test_csv_empty_file(tmp_path):
    (tmp_path / "mnist_train.csv").write_text("")
    with pytest.raises(DataError, match="mnist_train.csv: empty file"):
        read_kaggle_mnist_csv(tmp_path)


def _emnist_files(folder, data_files, split, labels, images):
    """EMNIST stores each image transposed: write them that way."""
    for part in ("train", "test"):
        data_files.idx(folder / f"emnist-{split}-{part}-images-idx3-ubyte.gz", images.transpose(0, 2, 1))
        data_files.idx(folder / f"emnist-{split}-{part}-labels-idx1-ubyte.gz", labels)


def test_emnist_letters_transposed_and_labels_from_one(tmp_path, data_files):
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[:, 2:5, :] = 255  # a horizontal bar near the top when upright
    _emnist_files(tmp_path, data_files, "letters", np.array([1, 2, 26]), images)
    data = read_emnist(tmp_path, "letters")
    np.testing.assert_array_equal(data.images[:3], images)
    assert list(data.labels) == ["A", "B", "Z"] * 2
    assert list(data.subset) == ["train"] * 3 + ["test"] * 3


def test_emnist_letters_label_zero_is_out_of_range(tmp_path, data_files):
    _emnist_files(tmp_path, data_files, "letters", np.array([0]), np.zeros((1, 28, 28)))
    with pytest.raises(DataError, match="label 0 out of range 1..26"):
        read_emnist(tmp_path, "letters")


def test_emnist_byclass_uses_mapping_file(tmp_path, data_files):
    _emnist_files(tmp_path, data_files, "byclass", np.array([0, 10, 36, 61]), np.zeros((4, 28, 28)))
    mapping = "\n".join(f"{i} {ord(c)}" for i, c in enumerate(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
    (tmp_path / "emnist-byclass-mapping.txt").write_text(mapping + "\n")
    data = read_emnist(tmp_path, "byclass")
    assert list(data.labels[:4]) == ["0", "A", "a", "z"]
    (tmp_path / "emnist-byclass-mapping.txt").unlink()
    with pytest.raises(DataError, match="needs its emnist-byclass-mapping.txt"):
        read_emnist(tmp_path, "byclass")


def test_femnist_npz_inverted(tmp_path, data_files):
    data_files.femnist(tmp_path / "letters" / "femnist_leaf_letters.npz", np.array([10, 35, 36]),
                       np.array(["w1", "w1", "w2"]))
    data = read_femnist_npz(tmp_path)  # found one folder down
    assert list(data.labels) == ["A", "Z", "a"]
    assert data.images[0, 0, 0] == 0 and data.images[0, 12, 12] == 255  # white ink on black now
    assert list(data.writers) == ["w1", "w1", "w2"]


def test_usps_h5(tmp_path):
    with h5py.File(tmp_path / "usps.h5", "w") as h5:
        for part, n in (("train", 3), ("test", 2)):
            h5[f"{part}/data"] = np.linspace(0, 1, n * 256, dtype=np.float32).reshape(n, 256)
            h5[f"{part}/target"] = np.arange(n, dtype=np.int32)
    data = read_usps_h5(tmp_path)
    assert data.images.shape == (5, 16, 16) and data.images.dtype == np.uint8
    assert data.images.max() == 255 and list(data.labels) == ["0", "1", "2", "0", "1"]


def test_absent_sources_return_none(tmp_path):
    assert read_mnist(tmp_path) is None
    assert read_kaggle_az_csv(tmp_path) is None
    assert read_emnist(tmp_path) is None
    assert read_femnist_npz(tmp_path) is None


def test_gzip_corrupt_body(tmp_path):
    raw = bytearray(gzip.compress(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x02" + b"\x01\x02"))
    raw[12] ^= 0xFF
    (tmp_path / "labels.gz").write_bytes(bytes(raw))
    with pytest.raises(DataError, match="labels.gz"):
        read_idx(tmp_path / "labels.gz")
