import numpy as np
import pytest

from hwr_eval import PixelScaler
from hwr_eval.errors import HwrError


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
    out = PixelScaler(mode=mode, square=False).fit_transform(X)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], expected, atol=1e-6)


def test_uint8_input_is_not_wrapped_around():
    X = np.array([[0, 200, 255]], dtype=np.uint8)
    np.testing.assert_allclose(PixelScaler("positive", square=False).fit_transform(X)[0], [0, 200 / 255, 1], atol=1e-6)


def _images(n=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 784)).astype(np.uint8)


@pytest.mark.parametrize("mode", ["negative", "positive", "binary"])
def test_unit_scaled_pixels_give_the_same_output_as_0_255(mode):
    X = _images()
    scaler = PixelScaler(mode=mode).fit(X / 255.0)
    assert scaler.input_max_ == 1.0
    np.testing.assert_allclose(scaler.transform(X / 255.0), PixelScaler(mode=mode).fit_transform(X), atol=1e-6)


def test_predict_data_on_the_other_scale_is_refused():
    X = _images()
    with pytest.raises(HwrError, match=r"fitted on 0-255 pixels but got values in \[0, 1\]"):
        PixelScaler().fit(X).transform(X / 255.0)
    with pytest.raises(HwrError, match=r"fitted on pixels in \[0, 1\] but got values up to 255"):
        PixelScaler().fit(X / 255.0).transform(X.astype(float))
    PixelScaler().fit(X).transform(np.zeros((1, 784)))  # a blank image fits either scale


@pytest.mark.parametrize(("value", "message"), [(-1.0, "Negative values"), (256.0, "up to 256")])
def test_pixels_outside_0_255_are_refused_at_fit_and_transform(value, message):
    X = _images().astype(float)
    bad = X.copy()
    bad[0, 5] = value
    with pytest.raises(HwrError, match=message):
        PixelScaler().fit(bad)
    with pytest.raises(HwrError, match=message):
        PixelScaler().fit(X).transform(bad)


def test_a_left_in_label_column_is_refused_with_a_hint():
    X = np.hstack([np.arange(4)[:, None], _images()])  # Kaggle CSV rows: label, then 784 pixels
    with pytest.raises(HwrError, match="784 pixels plus one column: is the label column still in X"):
        PixelScaler().fit(X)
    with pytest.raises(HwrError, match="square=False"):
        PixelScaler().fit(np.zeros((2, 10)))
    assert PixelScaler(square=False).fit(X).transform(X).shape == (4, 785)


def test_pandas_output_keeps_the_column_names():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(_images(), columns=[f"px{i}" for i in range(784)])
    out = PixelScaler().set_output(transform="pandas").fit_transform(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(frame.columns)
    assert out.iloc[0, 0] == pytest.approx(frame.iloc[0, 0] / 127.5 - 1, abs=1e-6)
    np.testing.assert_array_equal(PixelScaler().fit(_images()).get_feature_names_out()[:2], ["x0", "x1"])


def test_unknown_mode_is_rejected_with_the_choices():
    with pytest.raises(HwrError, match="'mode' parameter of PixelScaler must be a str among") as info:
        PixelScaler(mode="signed").fit(np.zeros((2, 4)))
    assert all(f"'{mode}'" in str(info.value) for mode in ("negative", "positive", "binary"))


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


def _shape_moments(image: np.ndarray) -> tuple[float, float, float]:
    rows, cols = np.mgrid[:28, :28]
    total = image.sum()
    dr, dc = rows - (image * rows).sum() / total, cols - (image * cols).sum() / total
    return tuple(float((image * a * b).sum() / total) for a, b in ((dr, dr), (dc, dc), (dr, dc)))


@pytest.mark.parametrize("angle", [-40, -30, -10, 0, 25, 30])
def test_deskew_by_rotation_turns_a_turned_stroke_back(angle):
    from hwr_eval.data import rotate
    from hwr_eval.models import deskew

    upright = _slanted_bar(0.0)
    length, width, _ = _shape_moments(upright)
    turned = rotate(upright.reshape(1, -1), angle).reshape(1, 28, 28).astype(np.float32)
    var_r, var_c, cov = _shape_moments(deskew(turned, "rotate")[0])
    # Upright again and as long as it was; a shear stands the bar up too, but shortened by cos(angle)**2.
    assert abs(cov) < 0.1 and var_c < width + 0.5 and var_r == pytest.approx(length, rel=0.05)
    sheared_length = _shape_moments(deskew(turned, "shear")[0])[0]
    assert sheared_length == pytest.approx(length * np.cos(np.radians(angle)) ** 2, rel=0.05)
    # A wide stroke is brought level, not stood up: the fold measures it from the level.
    level = rotate(upright.T.reshape(1, -1), angle).reshape(1, 28, 28).astype(np.float32)
    var_r, var_c, cov = _shape_moments(deskew(level, "rotate")[0])
    assert abs(cov) < 0.1 and var_r < width + 0.5 and var_c == pytest.approx(length, rel=0.05)


def test_deskew_option_in_the_pipeline_step():
    X = np.stack([_slanted_bar(0.5).ravel(), np.zeros(784, np.float32)])
    out = PixelScaler(mode="positive", deskew=True).fit_transform(X)
    assert out.shape == (2, 784) and out.dtype == np.float32
    assert not np.allclose(out[0], X[0] / 255)
    assert np.all(out[1] == 0)  # a blank image stays blank
    with pytest.raises(ValueError, match="square"):
        PixelScaler(deskew=True).fit(np.zeros((2, 10)))
    # True is the shear; "rotate" straightens the same image another way.
    for same in ("shear", np.True_):
        np.testing.assert_array_equal(PixelScaler(mode="positive", deskew=same).fit_transform(X), out)
    assert not np.allclose(PixelScaler(mode="positive", deskew="rotate").fit_transform(X)[0], out[0])


def test_every_model_front_applies_the_pixel_contract():
    from hwr_eval import list_models, make_model

    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    X = rng.integers(0, 60, size=(60, 784)).astype(np.uint8)
    X[:, :100] += (150 * (y[:, None] == 0)).astype(np.uint8)
    unit = make_model("logreg").fit(X / 255.0, y)
    np.testing.assert_array_equal(unit.predict(X / 255.0), make_model("logreg").fit(X, y).predict(X))
    with pytest.raises(HwrError, match=r"values in \[0, 1\]"):
        make_model("logreg").fit(X, y).predict(X / 255.0)
    with_label = np.hstack([y[:, None], X])
    for name in list_models():
        with pytest.raises(HwrError, match="label column"):
            make_model(name).fit(with_label, y)
