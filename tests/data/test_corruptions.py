"""The corruption suite: seeded, shape/dtype/range preserving, and stronger at every severity."""

from __future__ import annotations

import numpy as np
import pytest

from hwr_eval.data import CORRUPTIONS, SEVERITIES, corrupt, make_synthetic, rotate
from hwr_eval.errors import HwrError


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """48 rendered characters as (n, 784) uint8 rows, white ink on black."""
    return make_synthetic(n_per_class=4, classes="0A8MOX7ZQ1WS", seed=3).images.reshape(-1, 784)


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corruption_is_seeded_keeps_form_and_grows_with_severity(images, kind):
    distances = []
    for severity in SEVERITIES:
        out = corrupt(images, kind, severity, random_state=7)
        assert out.shape == images.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(out, corrupt(images, kind, severity, random_state=7))
        distances.append(_mad(out, images))
    assert distances[0] > 0.5, f"{kind} barely changes the images at severity 1"
    assert all(b > a for a, b in zip(distances, distances[1:])), f"{kind}: {np.round(distances, 2)}"


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_severity_zero_is_the_clean_image(images, kind):
    np.testing.assert_array_equal(corrupt(images, kind, 0, random_state=0), images)


@pytest.mark.parametrize("kind", ["shot_noise", "rotate", "spatter", "zigzag"])
def test_another_seed_gives_other_images(images, kind):
    assert not np.array_equal(corrupt(images, kind, 3, random_state=1), corrupt(images, kind, 3, random_state=2))


def test_float_and_image_shaped_input_keep_their_form(images):
    square = images.reshape(-1, 28, 28).astype(np.float32)
    out = corrupt(square, "fog", 5, random_state=0)
    assert out.shape == square.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255


def test_other_image_sizes_work(images):
    small = images.reshape(-1, 28, 28)[:, ::2, ::2].reshape(-1, 196)  # 14x14
    for kind in CORRUPTIONS:
        assert corrupt(small, kind, 2, random_state=0).shape == small.shape


def test_rotation_by_zero_is_identity_and_by_90_is_a_quarter_turn(images):
    np.testing.assert_array_equal(rotate(images, 0), images)
    square = images.reshape(-1, 28, 28)
    np.testing.assert_array_equal(rotate(square, 90), np.rot90(square, k=1, axes=(1, 2)))  # counter-clockwise
    np.testing.assert_array_equal(rotate(square, -90), np.rot90(square, k=-1, axes=(1, 2)))
    assert _mad(rotate(images, 15), images) < _mad(rotate(images, 45), images)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(kind="blur", severity=1), "unknown corruption"),
        (dict(kind="fog", severity=6), "severity"),
        (dict(kind="fog", severity=1.5), "severity"),
        (dict(kind="fog", severity=1, random_state="x"), "random_state"),
    ],
)
def test_bad_arguments_are_one_line_errors(images, kwargs, message):
    with pytest.raises(HwrError, match=message):
        corrupt(images, **kwargs)


def test_non_square_rows_are_refused():
    with pytest.raises(HwrError, match="square"):
        corrupt(np.zeros((2, 10), dtype=np.uint8), "fog", 1)
