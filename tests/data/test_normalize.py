import numpy as np
import pytest

from hwr_eval.data import center_of_mass, normalize_images
from hwr_eval.errors import DataError


def _ink_box(image, threshold=1):
    rows = np.flatnonzero((image >= threshold).any(axis=1))
    cols = np.flatnonzero((image >= threshold).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_tall_rectangle_scaled_to_20_keeping_aspect_and_centred():
    image = np.zeros((40, 40), dtype=np.uint8)
    image[5:15, 30:34] = 255  # 10 x 4, off-centre
    out = normalize_images(image)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert _ink_box(out, threshold=128) == (20, 8)
    np.testing.assert_allclose(center_of_mass(out)[0], [14, 14], atol=0.5)


def test_wide_rectangle_long_side_is_20():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[3:6, 2:26] = 200  # 3 x 24
    out = normalize_images(image)
    height, width = _ink_box(out, threshold=100)
    assert width == 20 and height in (2, 3)
    np.testing.assert_allclose(center_of_mass(out)[0], [14, 14], atol=0.5)


def test_centre_of_mass_not_bounding_box_centre():
    # An L: its mass lies low-left of its box, so centring by mass shifts the box up-right.
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 4:8] = 255
    image[20:24, 4:24] = 255
    out = normalize_images(image)
    np.testing.assert_allclose(center_of_mass(out)[0], [14, 14], atol=0.5)
    rows = np.flatnonzero(out.any(axis=1))
    assert rows[0] < 4  # box starts higher than a box-centred 20 px shape would (row 4)


def test_translation_invariant_and_dark_ink():
    a = np.full((30, 30), 255, dtype=np.uint8)
    b = a.copy()
    a[2:10, 3:7] = 0
    b[18:26, 20:24] = 0
    out = normalize_images(np.stack([a, b]), ink="dark")
    np.testing.assert_array_equal(out[0], out[1])
    assert out[0].max() == 255 and out[0][0, 0] == 0


def test_float_input_and_blank_image():
    images = np.zeros((2, 16, 16), dtype=np.float32)
    images[0, 4:12, 6:10] = 1.0
    out = normalize_images(images)
    assert out[0].max() == 255
    assert _ink_box(out[0], threshold=128) == (20, 10)
    assert not out[1].any()


def test_faint_noise_is_ignored_for_the_crop():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[10:18, 12:16] = 255
    image[0, 0] = 3  # scanning noise far away must not enlarge the crop
    out = normalize_images(image)
    assert _ink_box(out, threshold=128) == (20, 10)


def test_bad_arguments():
    with pytest.raises(DataError, match="shape"):
        normalize_images(np.zeros(5))
    with pytest.raises(DataError, match="ink"):
        normalize_images(np.zeros((1, 5, 5)), ink="blue")
