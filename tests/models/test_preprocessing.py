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


def _slanted_bar(shift_per_row: float) -> np.ndarray:
    image = np.zeros((28, 28), dtype=np.float32)
    for r in range(4, 24):
        c = int(round(14 + shift_per_row * (r - 14)))
        image[r, c - 1:c + 2] = 255
    return image


def test_deskew_straightens_a_slanted_stroke():
    from hwr_eval.models import deskew

    straight = deskew(_slanted_bar(0.5)[None])[0]
    rows = np.flatnonzero(straight.sum(axis=1) > 100)
    centres = [np.average(np.arange(28), weights=straight[r]) for r in rows]
    assert np.ptp(centres) < 2.0  # the slanted bar spanned 10 columns
    assert abs(np.mean(centres) - 14) < 1.5  # and it stays centred
    upright = _slanted_bar(0.0)
    # An upright stroke is not sheared: every column keeps its ink (centring may move it half a row).
    np.testing.assert_allclose(deskew(upright[None])[0].sum(axis=0), upright.sum(axis=0), atol=1e-2)


def test_deskew_option_in_the_pipeline_step():
    X = np.stack([_slanted_bar(0.5).ravel(), np.zeros(784, np.float32)])
    out = PixelScaler(mode="positive", deskew=True).fit_transform(X)
    assert out.shape == (2, 784) and out.dtype == np.float32
    assert not np.allclose(out[0], X[0] / 255)
    assert np.all(out[1] == 0)  # a blank image stays blank
    with pytest.raises(ValueError, match="square"):
        PixelScaler(deskew=True).fit(np.zeros((2, 10)))
