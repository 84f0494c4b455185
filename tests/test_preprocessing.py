import numpy as np
import pytest

from hwr_eval import PixelScaler


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("negative", [-1.0, 0.0, 1.0]),
        ("positive", [0.0, 127.5 / 255, 1.0]),
        ("binary", [0.0, 1.0, 1.0]),
    ],
)
def test_modes_map_the_pixel_range(mode, expected):
    X = np.array([[0, 127.5, 255]])
    out = PixelScaler(mode=mode).fit_transform(X)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], expected, atol=1e-6)


def test_uint8_input_is_not_wrapped_around():
    X = np.array([[0, 200, 255]], dtype=np.uint8)
    np.testing.assert_allclose(PixelScaler("positive").fit_transform(X)[0], [0, 200 / 255, 1], atol=1e-6)


def test_unknown_mode_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="negative, positive, binary"):
        PixelScaler(mode="signed").fit(np.zeros((2, 4)))
