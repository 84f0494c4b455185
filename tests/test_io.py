import os
import stat

import pytest

from hwr_eval.io import atomic_path, atomic_write_text


def test_atomic_write_replaces_the_file_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "report.html"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_failed_write_leaves_neither_target_nor_temporary_file(tmp_path):
    target = tmp_path / "model.joblib"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def _full_disk_after(n_bytes: int):
    """A ``Path.write_bytes`` that writes ``n_bytes`` and then fails like a full disk (ENOSPC)."""
    import errno

    def write_bytes(self, data):
        with open(self, "wb") as fh:
            fh.write(data[:n_bytes])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write_bytes


def test_full_disk_names_the_file_and_leaves_the_old_one_whole(tmp_path, monkeypatch):
    import errno
    import pathlib

    target = tmp_path / "results.json"
    atomic_write_text(target, "old, complete")
    monkeypatch.setattr(pathlib.Path, "write_bytes", _full_disk_after(3))
    with pytest.raises(OSError) as info:
        atomic_write_text(target, "new and longer")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert str(target) in str(info.value) and "No space left on device" in str(info.value)
    monkeypatch.undo()
    assert target.read_text() == "old, complete"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no half-written temporary file


def test_full_disk_in_a_writer_that_takes_a_file_name(tmp_path):
    import errno

    import numpy as np

    target = tmp_path / "arrays.npz"
    with pytest.raises(OSError) as info:
        with atomic_path(target) as tmp:
            np.savez(tmp, x=np.arange(10))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))  # as if the last flush failed
    assert info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


def test_errors_about_other_files_keep_their_name(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(FileNotFoundError) as info:
        with atomic_path(target):
            open(tmp_path / "missing-input.txt")
    assert info.value.filename == str(tmp_path / "missing-input.txt")
    assert list(tmp_path.iterdir()) == []


def test_cache_on_a_full_disk_does_not_stop_a_load(tmp_path, monkeypatch, data_files):
    import errno

    import numpy as np

    from hwr_eval.data import load_dataset

    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "cache"))
    folder = data_files.mnist(tmp_path / "data", n_train=40, n_test=10)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", full)
    data = load_dataset(folder, classes="digits", per_class=5)
    assert data.counts().sum(axis=1).eq(5).all()
    assert not list((tmp_path / "cache").rglob("*.*"))  # no half-written cache entry either
