"""Hostile image files: NaN pixels in a float TIFF, undecodable file names, either polarity."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageDraw

import hwr_eval.data._images as images_module
from hwr_eval.data import expand_paths, find_ink, read_grey, read_images
from hwr_eval.errors import DataError


def _seven(size: int = 60) -> np.ndarray:
    """A '7', dark ink (20) on light paper (235)."""
    img = Image.new("L", (size, size), 235)
    ImageDraw.Draw(img).line([(15, 12), (45, 12), (27, 51)], fill=20, width=5)
    return np.asarray(img)


def _float_tiff(path, values: np.ndarray):
    Image.fromarray(values.astype(np.float32), mode="F").save(path)
    return path


def test_float_tiff_with_nan_is_one_line(tmp_path):
    grey = _seven() / 255.0
    grey[3:5, 3:9] = np.nan
    path = _float_tiff(tmp_path / "scan.tif", grey)
    with pytest.raises(DataError) as info:
        read_images(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "12 of its 3,600 pixels are NaN" in message and "\n" not in message
    with pytest.raises(DataError, match="NaN"):
        find_ink(grey, source="array")


def test_finite_float_tiff_reads_like_the_8_bit_image(tmp_path):
    seven = _seven()
    Image.fromarray(seven).save(tmp_path / "seven.png")
    as_float = read_images(_float_tiff(tmp_path / "seven.tif", seven / 255.0))
    np.testing.assert_array_equal(as_float, read_images(tmp_path / "seven.png"))


def test_undecodable_file_name_fails_before_any_image_is_read(tmp_path, monkeypatch):
    Image.fromarray(_seven()).save(tmp_path / "a_good.png")
    bad = os.fsdecode(os.fsencode(str(tmp_path)) + b"/b_caf\xe9.png")  # Latin-1 bytes: not UTF-8
    Image.fromarray(_seven()).save(bad)
    read = []
    monkeypatch.setattr(images_module, "read_grey", lambda path, **kw: read.append(path) or read_grey(path, **kw))
    for given in (tmp_path, bad, str(tmp_path / "*.png")):
        with pytest.raises(DataError) as info:
            read_images(given)
        message = str(info.value)
        assert "b_caf\ufffd.png: the file name is not valid UTF-8" in message and "rename" in message
        message.encode("utf-8")  # printable as it is
    assert read == []  # refused before the first (good) file was opened
    assert expand_paths(tmp_path / "a_good.png") == [tmp_path / "a_good.png"]


def test_both_polarities_of_a_file_give_the_datasets_white_ink_on_black(tmp_path):
    from hwr_eval import PixelScaler

    Image.fromarray(_seven()).save(tmp_path / "dark_ink.png")
    Image.fromarray(255 - _seven()).save(tmp_path / "light_ink.png")
    rows = read_images([tmp_path / "dark_ink.png", tmp_path / "light_ink.png"])
    np.testing.assert_array_equal(rows[0], rows[1])
    assert rows[0].reshape(28, 28)[0].max() == 0  # black border, ink high: what PixelScaler accepts
    assert PixelScaler().fit(rows).ink_ == "light"
