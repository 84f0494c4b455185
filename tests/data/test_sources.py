"""Which source gives which class group: uppercase means uppercase, mixed case only when nothing else is there."""

import string

import numpy as np
import pytest

from hwr_eval.data import load_dataset
from hwr_eval.errors import DataError

UPPER, LOWER = string.ascii_uppercase, string.ascii_lowercase
# Ink values that tell the sources (and EMNIST byclass' cases) apart in the loaded images.
INK = {"byclass upper": 200, "byclass lower": 77, "byclass digit": 150, "letters": 99, "balanced": 111,
       "kaggle": 230, "mnist": 255}


def _femnist(folder, data_files):
    data_files.femnist(folder / "letters" / "femnist_leaf_letters.npz", np.arange(10, 36), [f"w{i}" for i in range(26)])


def _letters(folder, data_files):
    data_files.emnist(folder, "letters", UPPER * 2, {c: INK["letters"] for c in UPPER})


def _balanced(folder, data_files):
    data_files.emnist(folder, "balanced", UPPER * 2, {c: INK["balanced"] for c in UPPER})


def _byclass(folder, data_files, copies=3):
    values = {**{c: INK["byclass upper"] for c in UPPER}, **{c: INK["byclass lower"] for c in LOWER},
              **{c: INK["byclass digit"] for c in string.digits}}
    # Lowercase first and more of them: a case-insensitive mix-up would fill the uppercase classes with them.
    data_files.emnist(folder, "byclass", LOWER * (2 * copies) + UPPER * copies + string.digits, values)


def _kaggle(folder, data_files):
    images = np.full((52, 784), INK["kaggle"], int)
    data_files.csv(folder / "A_Z Handwritten Data.csv", np.arange(52) % 26, images, header=False)


NAMES = {"femnist": "FEMNIST", "letters": "EMNIST letters", "balanced": "EMNIST balanced",
         "byclass": "EMNIST byclass", "kaggle": "Kaggle A-Z"}
WRITERS = {"femnist": _femnist, "letters": _letters, "balanced": _balanced, "byclass": _byclass, "kaggle": _kaggle}


def _folder(tmp_path, data_files, *present):
    data_files.mnist(tmp_path, n_train=60, n_test=20)
    for name in present:
        WRITERS[name](tmp_path, data_files)
    return tmp_path


@pytest.mark.parametrize(("present", "source", "reason"), [
    (("femnist",), "FEMNIST", "priority"),
    (("letters",), "EMNIST letters", "only mixed-case"),
    (("balanced",), "EMNIST balanced", "only mixed-case"),
    (("letters", "balanced"), "EMNIST letters", "only mixed-case"),
    (("letters", "femnist"), "FEMNIST", "priority"),
    (("letters", "byclass"), "EMNIST byclass", "priority"),  # what `hwr-eval data fetch` gives
    (("letters", "byclass", "femnist"), "EMNIST byclass", "priority"),
    (("letters", "byclass", "femnist", "kaggle"), "Kaggle A-Z", "priority"),
    (("kaggle", "balanced"), "Kaggle A-Z", "priority"),
])
def test_uppercase_source_for_each_combination(tmp_path, data_files, present, source, reason):
    data = load_dataset(_folder(tmp_path, data_files, *present), per_class=2)
    prov = data.provenance
    assert prov["groups"] == {"digits": "MNIST", "uppercase": source}
    choice = prov["source_choice"]["uppercase"]
    assert (choice["source"], choice["reason"]) == (source, reason)
    assert sorted(choice["also_present"]) == sorted(NAMES[p] for p in present if NAMES[p] != source)
    assert prov["source_choice"]["digits"]["source"] == "MNIST"
    assert prov["class_set"] == "36" and len(data.classes) == 36
    mixed = reason == "only mixed-case"
    assert choice["mixed_case"] is mixed
    assert prov["mixed_case_letters"] == ({"source": source, "group": "uppercase", "explicit": False} if mixed else None)
    loud = [n for n in prov["notes"] if n.startswith("MIXED-CASE")]
    assert len(loud) == int(mixed) and ("MIXED-CASE" in data.describe()) is mixed
    if mixed:
        assert source in loud[0] and "data fetch kaggle" in loud[0] and "letters-merged" in loud[0]


def test_mnist_only_gives_digits_and_no_letters(tmp_path, data_files):
    folder = _folder(tmp_path, data_files)
    digits = load_dataset(folder, classes="digits", per_class=2)
    assert digits.provenance["source_choice"] == {"digits": {
        "source": "MNIST", "reason": "priority", "why": digits.provenance["source_choice"]["digits"]["why"],
        "mixed_case": False, "also_present": [], "available_per_class": {"min": 8, "max": 8},
        "per_class": {"min": 2, "max": 2}}}
    with pytest.raises(DataError, match="no source of uppercase found"):
        load_dataset(folder, per_class=2)


def test_byclass_lowercase_never_enters_uppercase_classes(tmp_path, data_files):
    folder = _folder(tmp_path, data_files, "byclass", "letters")
    data = load_dataset(folder, classes="letters", per_class=None)
    X = np.concatenate([data.X_train, data.X_val, data.X_test])
    y = np.concatenate([data.y_train, data.y_val, data.y_test])
    assert set(y) == set(UPPER)
    assert set(np.unique(X)) == {0, INK["byclass upper"]}  # no lowercase (77), no EMNIST letters (99) image
    # Every uppercase sample written (3 train + 1 test) and nothing else.
    assert data.counts().sum(axis=1).eq(4).all()
    choice = data.provenance["source_choice"]["uppercase"]
    assert choice["available_per_class"] == {"min": 4, "max": 4} and choice["per_class"] == {"min": 4, "max": 4}
    # The 62-class set takes the lowercase letters from the same file, as their own classes.
    both = load_dataset(folder, classes="62", per_class=None)
    Xb = np.concatenate([both.X_train, both.X_val, both.X_test])
    yb = np.concatenate([both.y_train, both.y_val, both.y_test])
    for chars, ink in ((UPPER, INK["byclass upper"]), (LOWER, INK["byclass lower"]), ("0123456789", INK["mnist"])):
        assert set(np.unique(Xb[np.isin(yb, list(chars))])) == {0, ink}
    assert both.provenance["groups"] == {"digits": "MNIST", "uppercase": "EMNIST byclass", "lowercase": "EMNIST byclass"}


def test_byclass_gives_the_study_s_2000_per_class_when_it_has_them(tmp_path, data_files):
    """Capped per class, never topped up from the lowercase samples (there are twice as many of them)."""
    folder = _folder(tmp_path, data_files, "byclass")
    data = load_dataset(folder, classes="letters", per_class=3)
    assert data.counts().sum(axis=1).eq(3).all()
    assert data.provenance["source_choice"]["uppercase"]["available_per_class"] == {"min": 4, "max": 4}


@pytest.mark.parametrize("classes", ["letters-merged", "36-merged"])
def test_merged_letters_only_when_asked(tmp_path, data_files, classes):
    folder = _folder(tmp_path, data_files, "letters", "byclass", "kaggle")
    data = load_dataset(folder, classes=classes, per_class=2)
    prov = data.provenance
    assert prov["groups"]["merged letters"] == "EMNIST letters" and "uppercase" not in prov["groups"]
    assert prov["source_choice"]["merged letters"]["reason"] == "explicit"
    assert prov["mixed_case_letters"] == {"source": "EMNIST letters", "group": "merged letters", "explicit": True}
    assert prov["class_set"] == classes
    assert not [n for n in prov["notes"] if n.startswith("MIXED-CASE")]  # asked for: no warning
    letters = np.concatenate([data.X_train, data.X_val, data.X_test])[
        np.isin(np.concatenate([data.y_train, data.y_val, data.y_test]), list(UPPER))]
    assert set(np.unique(letters)) == {0, INK["letters"]}
    assert len(data.classes) == (26 if classes == "letters-merged" else 36)


def test_merged_letters_need_emnist_letters(tmp_path, data_files):
    folder = _folder(tmp_path, data_files, "byclass", "kaggle")
    with pytest.raises(DataError, match=r"no source of merged letters found \(looked for EMNIST letters\).*data fetch emnist"):
        load_dataset(folder, classes="letters-merged", per_class=2)


def test_merged_letters_have_no_synthetic_stand_in(synthetic_env):
    with pytest.raises(DataError, match="synthetic demo set has no lowercase letters"):
        load_dataset(classes="36-merged", per_class=2)


def test_writer_split_passes_over_kaggle_to_byclass(tmp_path, data_files):
    folder = _folder(tmp_path, data_files, "kaggle", "byclass", "letters")
    data = load_dataset(folder, per_class=2, split="writer")
    choice = data.provenance["source_choice"]["uppercase"]
    assert choice["source"] == "EMNIST byclass" and choice["reason"] == "priority"
    assert "split=writer skips Kaggle A-Z" in choice["why"]
    assert data.provenance["mixed_case_letters"] is None


def test_cached_provenance_follows_the_sources_present(tmp_path, data_files):
    """Adding a lower-priority source changes no array, but the recorded explanation must follow."""
    folder = _folder(tmp_path, data_files, "byclass")
    first = load_dataset(folder, per_class=2)
    assert first.provenance["source_choice"]["uppercase"]["also_present"] == []
    assert first.provenance["source_choice"]["uppercase"]["why"] == "best source present (not found: Kaggle A-Z)"
    _letters(folder, data_files)
    again = load_dataset(folder, per_class=2)
    np.testing.assert_array_equal(first.X_train, again.X_train)
    assert again.provenance["source_choice"]["uppercase"]["also_present"] == ["EMNIST letters"]
