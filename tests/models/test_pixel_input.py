"""The pixel arrays people naturally have: one image, a stack, a flat row, and dark ink on light paper."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hwr_eval import HwrError, PixelScaler, make_model
from hwr_eval.models._preprocessing import InvertedImagesWarning


@pytest.fixture(scope="module")
def digits():
    """sklearn's 8x8 digits scaled to 0-255 and framed to 28x28: white ink on black, 10 classes."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    images = np.zeros((len(X), 28, 28), dtype=np.uint8)
    big = np.kron(X.reshape(-1, 8, 8) * (255 / 16), np.ones((3, 3)))  # 24x24
    images[:, 2:26, 2:26] = np.rint(big).astype(np.uint8)
    return images, y.astype(str)


@pytest.fixture(scope="module")
def knn(digits):
    images, y = digits
    return make_model("knn").fit(images[:1000].reshape(1000, -1), y[:1000])


def test_one_image_a_stack_and_a_flat_row_are_read_as_rows(knn, digits):
    images, _ = digits
    expected = knn.predict(images[1000:1008].reshape(8, -1))
    np.testing.assert_array_equal(knn.predict(images[1000:1008]), expected)  # (n, 28, 28)
    assert knn.predict(images[1000]).tolist() == [expected[0]]  # (28, 28)
    assert knn.predict(images[1000].ravel()).tolist() == [expected[0]]  # (784,)
    np.testing.assert_allclose(knn.predict_proba(images[1001]), knn.predict_proba(images[1001:1002].reshape(1, -1)))


def test_fit_takes_a_stack_of_images(digits):
    images, y = digits
    stacked = make_model("knn").fit(images[:300], y[:300])
    flat = make_model("knn").fit(images[:300].reshape(300, -1), y[:300])
    np.testing.assert_array_equal(stacked.predict(images[300:400]), flat.predict(images[300:400]))
    assert stacked[0].n_features_in_ == 784


def test_other_widths_are_still_refused(knn, digits):
    images, _ = digits
    with pytest.raises(ValueError, match="784"):
        knn.predict(images[1000, :14])  # half an image
    with pytest.raises(ValueError):
        knn.predict(np.zeros((2, 3, 28, 28)))


@pytest.mark.parametrize("scale", [255.0, 1.0])
def test_dark_ink_on_light_paper_is_refused_with_the_fix(digits, scale):
    images, y = digits
    X = images.reshape(len(images), -1) * (scale / 255.0)
    knn = make_model("knn").fit(X[:1000], y[:1000])
    inverted = scale - X[1000:1008]
    fix = "255 - X" if scale == 255.0 else "1 - X"
    with pytest.raises(HwrError, match=f"other polarity.*pass {fix}"):
        knn.predict(inverted)
    with pytest.raises(HwrError, match="other polarity"):
        knn.predict(inverted[0].reshape(28, 28))  # one image too
    # The fix the message names gives back the predictions of the original images.
    np.testing.assert_array_equal(knn.predict(scale - inverted), knn.predict(X[1000:1008]))


def test_training_on_dark_ink_warns_and_then_accepts_the_same_polarity(digits):
    images, y = digits
    inverted = 255 - images.reshape(len(images), -1)
    with pytest.warns(InvertedImagesWarning, match="255 - X"):
        scaler = PixelScaler().fit(inverted[:100])
    assert scaler.ink_ == "dark"
    scaler.transform(inverted[100:110])
    with pytest.raises(HwrError, match="other polarity"):
        scaler.transform(255 - inverted[100:110])


def test_white_ink_and_noise_do_not_warn(digits):
    images, _ = digits
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InvertedImagesWarning)
        assert PixelScaler().fit(images.reshape(len(images), -1)).ink_ == "light"
        assert PixelScaler().fit(rng.integers(0, 256, (200, 784))).ink_ == "light"
    assert PixelScaler(square=False).fit(np.full((3, 784), 255)).ink_ is None


def test_real_mnist_and_its_corruptions_keep_their_polarity(mnist_small):
    from hwr_eval.data import CORRUPTIONS, corrupt

    X_train, _, X_test, _ = mnist_small
    scaler = PixelScaler().fit(X_train)
    assert scaler.ink_ == "light"
    for kind in CORRUPTIONS:
        scaler.transform(corrupt(X_test[:200], kind, 5, random_state=0))  # none of them flips the paper
    with pytest.raises(HwrError, match="255 - X"):
        scaler.transform(255 - X_test)
