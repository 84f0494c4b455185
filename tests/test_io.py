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
