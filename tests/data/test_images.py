"""Reading a user's image files: formats, polarity, thin strokes, segmentation, and every kind of bad file."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from hwr_eval.data import (
    MAX_PIXELS,
    expand_paths,
    find_ink,
    read_characters,
    read_images,
    read_line,
    segment_characters,
)
from hwr_eval.errors import DataError


def _seven(size: int = 200, width: int | None = None) -> np.ndarray:
    """A '7' drawn as dark ink on light paper: (size, size) uint8."""
    img = Image.new("L", (size, size), 235)
    draw = ImageDraw.Draw(img)
    w = width or max(2, size // 12)
    draw.line([(0.25 * size, 0.2 * size), (0.75 * size, 0.2 * size), (0.45 * size, 0.85 * size)], fill=20, width=w)
    return np.asarray(img)


def _reference() -> np.ndarray:
    return read_images_from_array(_seven())


def read_images_from_array(grey: np.ndarray) -> np.ndarray:
    from hwr_eval.data import normalize_character

    ink = find_ink(grey / 255.0)
    return normalize_character(ink.level, ink.mask)


def _write(tmp_path, name: str, img: Image.Image, **kwargs):
    path = tmp_path / name
    img.save(path, **kwargs)
    return path


def test_every_format_and_bit_depth_reads_as_the_same_character(tmp_path):
    grey = _seven()
    ref = read_images_from_array(grey)
    assert ref.shape == (28, 28) and ref.max() > 200
    rows, cols = np.nonzero(ref > 25)
    assert rows.max() - rows.min() + 1 in (19, 20, 21) or cols.max() - cols.min() + 1 in (19, 20, 21)  # 20 px box
    rgb = np.stack([grey, grey // 2 + 100, grey], axis=-1).astype(np.uint8)  # coloured paper, dark ink
    alpha = np.where(grey < 128, 255, 0).astype(np.uint8)
    transparent = np.dstack([np.zeros_like(grey)] * 3 + [alpha]).astype(np.uint8)  # black ink, clear paper
    gif_frames = [Image.fromarray(grey).convert("P"), Image.fromarray(grey[::-1]).convert("P")]  # frame 2: upside down
    files = [
        _write(tmp_path, "a.png", Image.fromarray(grey)),
        _write(tmp_path, "b16.png", Image.fromarray(grey.astype(np.uint16) * 257)),
        _write(tmp_path, "c.jpg", Image.fromarray(rgb), quality=70),
        _write(tmp_path, "d.tif", Image.fromarray(grey.astype(np.uint16) * 257)),
        _write(tmp_path, "e.bmp", Image.fromarray(rgb)),
        _write(tmp_path, "f.png", Image.fromarray(transparent)),
        _write(tmp_path, "g.gif", gif_frames[0], save_all=True, append_images=gif_frames[1:]),
        _write(tmp_path, "h.png", Image.fromarray(255 - grey)),  # light ink on dark paper: no inversion
    ]
    X = read_images(files)
    assert X.shape == (len(files), 784) and X.dtype == np.uint8
    for path, row in zip(files, X):
        diff = np.abs(row.astype(int) - ref.reshape(-1)).mean()
        assert diff < 6, f"{path.name} reads differently from the plain PNG (mean abs diff {diff:.1f})"
    assert read_characters(files[0]).inverted and not read_characters(files[-1]).inverted


def test_thin_pen_strokes_are_thickened_like_the_datasets(tmp_path):
    thin = read_images_from_array(_seven(400, width=3))  # 0.75% of the size: a fine pen on a big scan
    thick = read_images_from_array(_seven(400))
    # Without thickening the thin 7 would fade to a trace of a few grey pixels.
    assert thin.max() > 200 and (thin > 128).sum() > 0.6 * (thick > 128).sum()


def test_folders_and_globs_expand_in_sorted_order(tmp_path):
    for name in ("b.png", "a.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in expand_paths(tmp_path)] == ["a.png", "b.png"]
    assert [p.name for p in expand_paths(str(tmp_path / "*.png"))] == ["a.png", "b.png"]
    with pytest.raises(DataError, match="no file matches"):
        expand_paths(str(tmp_path / "*.jpg"))
    with pytest.raises(DataError, match="no such file"):
        expand_paths(tmp_path / "missing.png")


def _png_claiming_size(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header claims ``width`` x ``height`` (Pillow reads the size from the header)."""
    import io

    buffer = io.BytesIO()
    Image.new("L", (1, 1), 255).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    return bytes(data)


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("text", "not an image file"),
    ("truncated", "truncated"),
    ("blank", "no ink found"),
    ("noise", "no ink found"),
    ("huge", "over the limit"),
])
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, case, message):
    path = tmp_path / f"{case}.png"
    rng = np.random.default_rng(0)
    if case == "text":
        path.write_text("not an image\n")
    elif case == "truncated":
        Image.fromarray(_seven()).save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif case == "blank":
        Image.new("RGB", (300, 200), "white").save(path)
    elif case == "noise":  # a photo of an empty page: paper grain and JPEG noise only
        grey = np.clip(230 + rng.normal(0, 6, (200, 300)), 0, 255).astype(np.uint8)
        path = tmp_path / "noise.jpg"
        Image.fromarray(grey).save(path, quality=70)
    elif case == "huge":
        side = int(np.sqrt(MAX_PIXELS)) + 10
        path.write_bytes(_png_claiming_size(side, side))
    with pytest.raises(DataError, match=message) as info:
        read_images(path)
    assert "\n" not in str(info.value) and (case == "missing" or path.name in str(info.value))


def _blob(mask, top, left, h, w):
    mask[top:top + h, left:left + w] = True


def test_segmentation_merges_broken_strokes_and_orders_left_to_right():
    mask = np.zeros((60, 200), dtype=bool)
    _blob(mask, 10, 150, 40, 6)    # third character: a bar ...
    _blob(mask, 10, 140, 4, 26)    # ... with a detached top stroke above it (a broken "T")
    _blob(mask, 10, 10, 40, 20)    # first character
    _blob(mask, 10, 70, 18, 20)    # second character: two stacked pieces (a broken "8") ...
    _blob(mask, 32, 72, 18, 16)
    _blob(mask, 2, 84, 4, 30)      # ... and a flat bar overlapping it by 30% only (like the bar of a 5)
    labels = segment_characters(mask)
    assert labels.max() == 3
    assert np.all(labels[mask] > 0) and np.all(labels[~mask] == 0)
    assert set(np.unique(labels[:, 0:40])) - {0} == {1}
    assert set(np.unique(labels[:, 60:120])) - {0} == {2}
    assert set(np.unique(labels[:, 130:180])) - {0} == {3}


def test_a_line_image_comes_back_as_its_characters_in_order(tmp_path):
    chars = [_seven(120), np.asarray(Image.fromarray(_seven(120)).rotate(180, fillcolor=235))]
    line = np.full((160, 420), 235, dtype=np.uint8)
    line[20:140, 20:140] = chars[0]
    line[20:140, 260:380] = chars[1]
    path = _write(tmp_path, "line.jpg", Image.fromarray(line), quality=70)
    got = read_line(path)
    assert got.shape == (2, 784)
    singles = [read_images_from_array(c).reshape(-1).astype(int) for c in chars]
    for k in range(2):  # each crop matches its own character far better than the other one
        assert np.abs(got[k] - singles[k]).mean() < 0.5 * np.abs(got[k] - singles[1 - k]).mean()
