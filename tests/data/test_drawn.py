"""read_drawn: a folder of labelled drawings (one subfolder per class) read like `hwr-eval predict` reads images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from hwr_eval.data import drawn_folder_label, drawn_folder_name, read_character, read_drawn, read_images
from hwr_eval.errors import DataError


def scan(pixels: np.ndarray, scale: int = 5) -> Image.Image:
    """A dataset character as dark ink on light paper, scaled up."""
    return Image.fromarray(255 - pixels.reshape(28, 28), mode="L").resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR)


def test_reads_one_subfolder_per_class_like_read_images(small_synthetic, tmp_path):
    X, y = small_synthetic.X_test, small_synthetic.y_test
    picks = {"7": np.flatnonzero(y == "7")[:2], "A": np.flatnonzero(y == "A")[:1], "0": np.flatnonzero(y == "0")[:1]}
    files = []
    for label, rows in picks.items():
        (tmp_path / label).mkdir()
        for k, row in enumerate(rows):
            path = tmp_path / label / f"{k}.png"
            scan(X[row]).save(path)
            files.append((label, path))
    (tmp_path / "A" / ".half-written.png.tmp").write_bytes(b"partial")  # the collector's temporary files
    (tmp_path / "A" / "notes.txt").write_text("not an image")
    (tmp_path / "misc").mkdir()  # not a class folder: ignored
    scan(X[0]).save(tmp_path / "misc" / "x.png")
    scan(X[0]).save(tmp_path / "loose.png")  # not in a class folder: ignored

    got_X, got_y = read_drawn(tmp_path)
    files.sort(key=lambda item: (item[0], item[1].name))  # class folders in sorted order, then file names
    assert got_y.tolist() == [label for label, _ in files]
    np.testing.assert_array_equal(got_X, read_images([path for _, path in files]))
    assert got_X.dtype == np.uint8 and got_X.shape == (4, 784)


def test_lowercase_letters_have_their_own_folder(tmp_path):
    assert drawn_folder_name("a") == "lower-a" and drawn_folder_name("A") == "A" and drawn_folder_name("7") == "7"
    assert [drawn_folder_label(n) for n in ("lower-a", "a", "A", "7", "lower-A", "lower-", "AB", "misc", "_")] == \
        ["a", "a", "A", "7", None, None, None, None, None]
    for bad in ("", "AB", "/", ".", "..", "é"):
        with pytest.raises(DataError, match="one digit or letter"):
            drawn_folder_name(bad)
    ink = Image.new("L", (60, 60), 255)
    ink.paste(0, (25, 10, 35, 50))
    for folder in ("A", "lower-a"):
        (tmp_path / folder).mkdir()
        ink.save(tmp_path / folder / "1.png")
    assert read_drawn(tmp_path)[1].tolist() == ["A", "a"]
    (tmp_path / "a").mkdir()  # the same class twice (only possible on a case-sensitive file system)
    ink.save(tmp_path / "a" / "1.png")
    with pytest.raises(DataError, match="two folders"):
        read_drawn(tmp_path)


def test_errors_are_one_line_naming_the_folder_or_file(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        read_drawn(tmp_path / "missing")
    with pytest.raises(DataError, match="no drawings found"):
        read_drawn(tmp_path)
    (tmp_path / "B").mkdir()
    Image.new("L", (40, 40), 255).save(tmp_path / "B" / "blank.png")
    with pytest.raises(DataError, match=r"blank\.png: no ink"):
        read_drawn(tmp_path)


def test_read_character_takes_bytes_in_memory_like_a_file(small_synthetic, tmp_path):
    path = tmp_path / "c.png"
    scan(small_synthetic.X_test[0]).save(path)
    from_bytes, ink = read_character(io.BytesIO(path.read_bytes()), name="upload")
    np.testing.assert_array_equal(from_bytes, read_images(path)[0])
    assert ink.grey.shape == (140, 140) and ink.inverted
    with pytest.raises(DataError, match="^upload: not an image"):
        read_character(io.BytesIO(b"plain text"), name="upload")


def test_load_dataset_reads_a_folder_of_drawings_as_the_drawn_source(small_synthetic, synthetic_env, tmp_path):
    from hwr_eval.data import load_dataset

    X, y = small_synthetic.X_train, small_synthetic.y_train
    folder = tmp_path / "mine"
    for digit in "0123456789":
        (folder / digit).mkdir(parents=True)
        for k, row in enumerate(np.flatnonzero(y == digit)[:10]):
            scan(X[row]).save(folder / digit / f"{k}.png")
    dataset = load_dataset(folder, classes="digits", per_class=None)
    assert dataset.provenance["groups"] == {"digits": "drawn"} and not dataset.synthetic
    assert len(dataset.provenance["sources"]) == 100
    drawn_X, drawn_y = read_drawn(folder)
    together_X = np.concatenate([dataset.X_train, dataset.X_val, dataset.X_test])
    together_y = np.concatenate([dataset.y_train, dataset.y_val, dataset.y_test])
    # Every drawing once, in some split, with its label.
    order, drawn_order = np.lexsort(together_X.T[::-1]), np.lexsort(drawn_X.T[::-1])
    np.testing.assert_array_equal(together_X[order], drawn_X[drawn_order])
    np.testing.assert_array_equal(together_y[order], drawn_y[drawn_order])
    assert set(dataset.y_test) == set("0123456789")
    # Classes nobody drew are left out, and the provenance says so.
    digits_only = load_dataset(folder, classes="36", per_class=None)
    assert digits_only.classes == list("0123456789")
    assert any(note.startswith("drawn has no samples of ABCDEFGHIJKLMNOPQRSTUVWXYZ") for note in digits_only.provenance["notes"])
