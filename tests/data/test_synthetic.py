import numpy as np

from hwr_eval.data import center_of_mass
from hwr_eval.data._synthetic import font_paths, make_synthetic


def test_synthetic_is_deterministic_by_seed():
    a = make_synthetic(n_per_class=3, classes="0AZ", seed=5)
    b = make_synthetic(n_per_class=3, classes="0AZ", seed=5)
    c = make_synthetic(n_per_class=3, classes="0AZ", seed=6)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    assert list(a.labels) == ["0"] * 3 + ["A"] * 3 + ["Z"] * 3


def test_synthetic_images_look_like_mnist():
    data = make_synthetic(n_per_class=4, seed=0)
    assert data.images.shape == (36 * 4, 28, 28) and data.images.dtype == np.uint8
    assert (data.images.max(axis=(1, 2)) > 200).all()  # every image has ink
    np.testing.assert_allclose(center_of_mass(data.images).mean(axis=0), [14, 14], atol=0.5)
    assert data.images[:, 0, :].max() == 0  # a margin as in MNIST
    assert "SYNTHETIC" in data.notes[0]


def test_distortions_make_images_of_one_class_differ():
    data = make_synthetic(n_per_class=6, classes="8", seed=1)
    flat = data.images.reshape(6, -1)
    assert len({row.tobytes() for row in flat}) == 6


def test_bundled_fonts_found():
    assert font_paths(), "matplotlib ships DejaVu fonts"
