"""``fetch_kaggle`` with a stand-in for the ``kaggle`` package (``fake_kaggle`` in conftest): no network."""

import dataclasses
import sys

import pytest

from hwr_eval.data import _kaggle, fetch, fetch_kaggle, kaggle_credentials, load_dataset
from hwr_eval.errors import DataError

FILE = "A_Z Handwritten Data.csv"


def _left_in(folder):
    """Everything under ``folder``, as paths relative to it."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("zipped", [False, True])
def test_download_is_verified_and_found_by_load_dataset(fake_kaggle, tmp_path, data_files, zipped):
    fake_kaggle.zipped = zipped
    dest = tmp_path / "data"
    path = fetch_kaggle(dest, progress=False)
    assert path == dest / FILE and path.read_bytes() == fake_kaggle.payload
    assert _left_in(dest) == [FILE]  # the scratch folder is gone
    assert fake_kaggle.calls[0] == ("authenticate",)
    _, dataset, into, unzip = fake_kaggle.calls[1]
    assert dataset == "sachinpatel21/az-handwritten-alphabets-in-csv-format" and unzip
    assert into.parent.parent == dest  # two levels down: load_dataset never looks there
    data_files.mnist(dest)
    data = load_dataset(dest, per_class=2)
    assert data.provenance["groups"]["uppercase"] == "Kaggle A-Z"
    # A verified file is not downloaded again.
    fake_kaggle.calls.clear()
    assert fetch_kaggle(dest, progress=False) == path and fake_kaggle.calls == []


def test_fetch_kaggle_by_name_after_the_public_datasets(fake_kaggle, tmp_path):
    assert fetch(["kaggle"], dest=tmp_path / "d", resources={}, progress=False) == [tmp_path / "d" / FILE]
    with pytest.raises(DataError, match="choose from toy, kaggle"):
        fetch(["cifar"], dest=tmp_path, resources={"toy": []}, progress=False)


def test_no_credentials(fake_kaggle, tmp_path, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME")
    assert kaggle_credentials() is None
    with pytest.raises(DataError, match=r"no Kaggle credentials found: .*~/.kaggle/kaggle.json .*KAGGLE_USERNAME"):
        fetch_kaggle(tmp_path / "data", progress=False)
    assert fake_kaggle.calls == [] and _left_in(tmp_path / "data") == []
    token = tmp_path / "home" / ".kaggle" / "kaggle.json"
    token.parent.mkdir(parents=True)
    token.write_text('{"username": "someone", "key": "0123"}')
    assert kaggle_credentials() == str(token)
    assert fetch_kaggle(tmp_path / "data", progress=False).is_file()


def test_credentials_refused(fake_kaggle, tmp_path):
    fake_kaggle.auth_error = SystemExit(1)  # what kaggle >= 2 does after printing its help
    with pytest.raises(DataError, match="Kaggle did not accept the credentials"):
        fetch_kaggle(tmp_path / "data", progress=False)
    assert _left_in(tmp_path / "data") == []


def test_refused_download(fake_kaggle, tmp_path):
    fake_kaggle.error = RuntimeError("403 Client Error: Forbidden for url")
    with pytest.raises(DataError, match=r"Kaggle refused or broke off the download .*403 Client Error"):
        fetch_kaggle(tmp_path / "data", progress=False)
    assert _left_in(tmp_path / "data") == []


@pytest.mark.parametrize(("change", "message"), [
    ({"sha256": "0" * 64}, r"sha256 mismatch"),
    ({"size": 123}, r"[\d,]+ bytes, expected 123"),
])
def test_checksum_mismatch_keeps_nothing(fake_kaggle, tmp_path, monkeypatch, change, message):
    monkeypatch.setattr(_kaggle, "KAGGLE_AZ", dataclasses.replace(_kaggle.KAGGLE_AZ, **change))
    with pytest.raises(DataError, match=rf"does not match its published size and sha256 \({message}\)"):
        fetch_kaggle(tmp_path / "data", progress=False)
    assert _left_in(tmp_path / "data") == []


def test_wrong_dataset_content(fake_kaggle, tmp_path):
    fake_kaggle.filename = "something else.csv"
    with pytest.raises(DataError, match=r"holds no 'A_Z Handwritten Data.csv' \(got something else.csv\)"):
        fetch_kaggle(tmp_path / "data", progress=False)
    assert _left_in(tmp_path / "data") == []


def test_interrupted_download_leaves_nothing(fake_kaggle, tmp_path):
    fake_kaggle.interrupt = True
    with pytest.raises(KeyboardInterrupt):
        fetch_kaggle(tmp_path / "data", progress=False)
    assert _left_in(tmp_path / "data") == []


def test_leftover_of_a_killed_download_is_removed_and_a_bad_file_replaced(fake_kaggle, tmp_path):
    dest = tmp_path / "data"
    stale = dest / ".kaggle-download-x1" / "download"
    stale.mkdir(parents=True)
    (stale / FILE).write_bytes(b"half")
    (dest / FILE).write_bytes(b"not the published file")
    assert fetch_kaggle(dest, progress=False).read_bytes() == fake_kaggle.payload
    assert _left_in(dest) == [FILE]


def test_missing_kaggle_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "kaggle", None)  # import kaggle now fails as if not installed
    with pytest.raises(DataError, match=r"needs the kaggle package: pip install kaggle$"):
        fetch_kaggle(tmp_path / "data", progress=False)
    with pytest.raises(DataError, match="pip install kaggle"):
        _kaggle.kaggle_api()
    assert _left_in(tmp_path / "data") == []


def test_injected_api_factory_replaces_the_package(fake_kaggle, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "kaggle", None)
    made = []

    def factory():
        made.append(fake_kaggle())
        return made[-1]

    assert fetch_kaggle(tmp_path / "data", api_factory=factory, progress=False).is_file() and len(made) == 1


def test_broken_kaggle_install_says_upgrade(fake_kaggle, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "kaggle.api.kaggle_api_extended", None)  # e.g. a dependency missing
    with pytest.raises(DataError, match=r"kaggle package is installed but cannot be imported .*pip install --upgrade kaggle"):
        fetch_kaggle(tmp_path / "data", progress=False)
    assert _left_in(tmp_path / "data") == []
