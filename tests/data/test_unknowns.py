"""Unknown-input sets: the lowercase near unknowns, the generated far unknowns and a user's folder."""

from __future__ import annotations

import string

import numpy as np
import pytest
from PIL import Image

from hwr_eval.data import (
    FAR_UNKNOWN_SETS,
    LOOKALIKE_LETTERS,
    NEAR_UNKNOWN_LETTERS,
    UNKNOWN_SETS,
    center_of_mass,
    folder_unknowns,
    generated_unknowns,
    load_unknowns,
    lowercase_unknowns,
    normalize_images,
    read_femnist_npz,
    read_images,
)
from hwr_eval.errors import DataError, HwrError


@pytest.fixture
def own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "cache"))


# --- near unknowns -----------------------------------------------------------------------------------------


def test_the_letter_lists_leave_out_every_lookalike():
    # Shapes shared with a known class: EMNIST balanced's merged 15 plus f (F, 7), g and q (9).
    lookalikes = set("cijklmopsuvwxyz") | set("fgq")
    assert not lookalikes & set(NEAR_UNKNOWN_LETTERS)
    assert set(LOOKALIKE_LETTERS) == lookalikes
    assert set(NEAR_UNKNOWN_LETTERS) | set(LOOKALIKE_LETTERS) == set(string.ascii_lowercase)


def test_lowercase_unknowns_are_the_chosen_letters_normalised(real_data_dir, own_cache):
    X = lowercase_unknowns(real_data_dir)
    femnist = read_femnist_npz(real_data_dir)
    wanted = np.isin(femnist.labels, list(NEAR_UNKNOWN_LETTERS))
    expected = normalize_images(femnist.images[wanted]).reshape(-1, 784)
    assert X.dtype == np.uint8 and X.shape == expected.shape
    # The same images (rows compared as a set: the order is the source's, letters grouped).
    assert sorted(map(bytes, X)) == sorted(map(bytes, expected))
    # No look-alike letter slipped in: none of their images is in the set.
    lookalike = normalize_images(femnist.images[np.isin(femnist.labels, list(LOOKALIKE_LETTERS))]).reshape(-1, 784)
    assert not set(map(bytes, X)) & set(map(bytes, lookalike))


def test_lowercase_unknowns_per_class_is_a_seeded_draw(real_data_dir, own_cache):
    a = lowercase_unknowns(real_data_dir, letters="ab", per_class=7, seed=3)
    assert a.shape == (14, 784)
    assert np.array_equal(a, lowercase_unknowns(real_data_dir, letters="ab", per_class=7, seed=3))
    assert not np.array_equal(a, lowercase_unknowns(real_data_dir, letters="ab", per_class=7, seed=4))


def test_lowercase_unknowns_refuse_bad_letters_and_no_data(monkeypatch, tmp_path):
    with pytest.raises(DataError, match="lowercase letters a-z, got 'aB'"):
        lowercase_unknowns(tmp_path, letters="aB")
    monkeypatch.setenv("HWR_DATA", "")
    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(DataError, match="no data folder for the lowercase unknowns"):
        lowercase_unknowns()
    with pytest.raises(DataError, match="no source of lowercase"):
        lowercase_unknowns(tmp_path)


# --- far unknowns ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FAR_UNKNOWN_SETS)
def test_generated_sets_are_seeded_and_deterministic(kind):
    a = generated_unknowns(kind, n=40, seed=5)
    assert a.shape == (40, 784) and a.dtype == np.uint8
    assert np.array_equal(a, generated_unknowns(kind, n=40, seed=5))
    assert not np.array_equal(a, generated_unknowns(kind, n=40, seed=6))


def test_blank_is_half_empty_half_faint_specks():
    X = generated_unknowns("blank", n=50, seed=0)
    assert not X[:25].any()
    specks = np.count_nonzero(X[25:], axis=1)
    assert specks.min() >= 1 and specks.max() <= 6 and X.max() <= 120


def test_noises_have_their_shape():
    salt = generated_unknowns("salt_pepper", n=50, seed=0)
    assert set(np.unique(salt)) == {0, 255}
    share = (salt == 255).mean(axis=1)
    assert share.min() > 0.02 and share.max() < 0.35  # 5-30% drawn per image, 784 pixels each
    noise = generated_unknowns("gaussian_noise", n=50, seed=0)
    # Noise fills the frame, unlike a character: even at mean 0 about half the pixels are above 0.
    assert (np.count_nonzero(noise, axis=1) > 300).all()
    assert min(len(np.unique(row)) for row in noise) > 50


@pytest.mark.parametrize("kind", ["scribbles", "blobs"])
def test_drawn_unknowns_sit_where_characters_sit(kind):
    X = generated_unknowns(kind, n=30, seed=0).reshape(-1, 28, 28)
    for image in X:
        rows, cols = np.nonzero(image > 25)
        assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21)  # the 20 px box of the known classes
        assert np.allclose(center_of_mass(image), (14, 14), atol=1.0)


def test_each_set_draws_from_its_own_stream():
    alone = load_unknowns(["blobs"], n_generated=20, seed=1)["blobs"]
    together = load_unknowns("blank, gaussian_noise, blobs", n_generated=20, seed=1)
    assert list(together) == ["blank", "gaussian_noise", "blobs"]
    assert np.array_equal(alone, together["blobs"])


# --- a user's folder ---------------------------------------------------------------------------------------


def _png(path, ink_box):
    image = np.full((60, 40), 255, np.uint8)
    image[ink_box] = 0
    Image.fromarray(image).save(path)


def test_folder_unknowns_read_like_predict(tmp_path):
    _png(tmp_path / "a.png", np.s_[10:50, 18:23])
    _png(tmp_path / "b.png", np.s_[28:33, 5:35])
    X = folder_unknowns(tmp_path)
    assert X.shape == (2, 784) and np.array_equal(X, read_images(tmp_path))
    assert np.array_equal(load_unknowns(["folder"], folder=tmp_path)["folder"], X)


def test_folder_errors_are_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="folder holds no image files"):
        folder_unknowns(empty)
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match="folder holds no image files"):
        folder_unknowns(empty)
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "x.png").write_text("not an image")
    with pytest.raises(DataError, match="not an image file") as info:
        folder_unknowns(fake)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="not a folder"):
        folder_unknowns(tmp_path / "missing")


def test_load_unknowns_refuses_bad_requests_before_building(tmp_path):
    with pytest.raises(HwrError, match="did you mean 'scribbles'"):
        load_unknowns(["scribble"])
    with pytest.raises(HwrError, match="'folder' unknown set needs folder="):
        load_unknowns(["blank", "folder"])
    with pytest.raises(HwrError, match="n"):
        load_unknowns(["blank"], n_generated=0)
    assert set(UNKNOWN_SETS) == {"lowercase", *FAR_UNKNOWN_SETS, "folder"}
