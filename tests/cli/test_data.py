"""``hwr-eval data info | show | fetch``: bad input gives one line and exit 2; real data gives tables and figures."""

import sys

import numpy as np
import pytest
from PIL import Image


def _truncated_gzip(folder, data_files):
    data_files.mnist(folder)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    return ("train-images-idx3-ubyte.gz", "truncated gzip")


def _wrong_magic(folder, data_files):
    data_files.mnist(folder)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    (folder / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x02" + b"\x00" * 100)  # a labels-like header
    return ("t10k-images-idx3-ubyte", "2 dimensions, expected 3")


def _bad_magic_bytes(folder, data_files):
    data_files.mnist(folder)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"PK\x03\x04 not idx at all")
    return ("train-labels-idx1-ubyte.gz", "bad magic")


def _csv_wrong_columns(folder, data_files):
    (folder / "mnist_train.csv").write_text("label,p1,p2\n1,0,0\n")
    return ("mnist_train.csv", "3 columns, expected 785")


def _labels_out_of_range(folder, data_files):
    data_files.mnist(folder)
    data_files.idx(folder / "train-labels-idx1-ubyte.gz", np.full(60, 10))
    return ("train-labels-idx1-ubyte.gz", "label 10 out of range")


def _non_numeric_pixels(folder, data_files):
    path = data_files.csv(folder / "mnist_train.csv", [1, 2], np.zeros((2, 784), int), header=True)
    path.write_text(path.read_text().replace("\n1,0,", "\n1,abc,", 1))
    return ("mnist_train.csv", "non-numeric")


def _empty_file(folder, data_files):
    data_files.mnist(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    return ("t10k-labels-idx1-ubyte.gz", "empty file")


@pytest.mark.parametrize("make_bad", [_truncated_gzip, _wrong_magic, _bad_magic_bytes, _csv_wrong_columns,
                                      _labels_out_of_range, _non_numeric_pixels, _empty_file])
def test_bad_input_one_line_exit_2(invoke, one_line_error, tmp_path, data_files, make_bad, monkeypatch):
    monkeypatch.setenv("HWR_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "data"
    folder.mkdir()
    fragments = make_bad(folder, data_files)
    one_line_error(invoke("data", "info", "--data", folder, "--classes", "digits"), *fragments)


def test_missing_directory_exit_2(invoke, one_line_error, tmp_path):
    one_line_error(invoke("data", "info", "--data", tmp_path / "absent"), "absent", "missing directory")


def test_unknown_classes_exit_2(invoke, one_line_error, tmp_path, data_files):
    one_line_error(invoke("data", "info", "--data", data_files.mnist(tmp_path), "--classes", "7"),
                           "unknown classes '7'")


def test_fetch_unknown_dataset_exit_2(invoke, one_line_error, tmp_path):
    one_line_error(invoke("data", "fetch", "--datasets", "cifar", "--dest", tmp_path), "cifar")


def test_show_unwritable_out_exit_2(invoke, synthetic_env, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    result = invoke("data", "show", "--out", blocker / "data.png", "--per-class", "5", "--classes", "digits",
                  "--samples", "2")
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(blocker) in errors[0], result.stderr
    assert "Traceback" not in result.output and blocker.read_text() == "x"


def test_fetch_unwritable_dest_exit_2(invoke, one_line_error, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    one_line_error(invoke("data", "fetch", "--datasets", "mnist", "--dest", blocker / "data"), str(blocker))


def test_info_on_real_data(invoke, real_data_dir, monkeypatch):
    from hwr_eval.cli import _common as cli

    monkeypatch.setattr(cli.console, "width", 200)  # full checksums on one line
    result = invoke("data", "info", "--data", real_data_dir)
    assert result.exit_code == 0, result.output
    assert "data: " in result.stderr and "MNIST" in result.stderr and "FEMNIST" in result.stderr
    out = result.stdout
    assert "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609" in out
    assert "femnist_leaf_letters.npz" in out
    row = next(line for line in out.splitlines() if line.strip("│ ").startswith("7 "))
    assert [int(v) for v in row.replace("│", " ").split()[1:]] == [1240, 560, 200, 2000]


def test_show_writes_both_figures(invoke, real_data_dir, tmp_path):
    out = tmp_path / "figs" / "data.png"
    result = invoke("data", "show", "--data", real_data_dir, "--out", out, "--samples", "4")
    assert result.exit_code == 0, result.output
    grid, counts = Image.open(out), Image.open(tmp_path / "figs" / "data-counts.png")
    assert grid.size[1] > grid.size[0]  # one row per class: tall
    assert counts.size[0] > counts.size[1]
    assert not list(out.parent.glob(".*tmp*"))


def test_synthetic_fallback_is_announced_loudly(invoke, tmp_path, monkeypatch):
    monkeypatch.delenv("HWR_DATA", raising=False)
    monkeypatch.setenv("HWR_CACHE", str(tmp_path))
    result = invoke("data", "info", "--per-class", "5", "--classes", "digits")
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.stderr and "WARNING" in result.stderr


# --- which source gives which class group; `data fetch kaggle` ------------------------------------------


def _group_rows(stdout):
    """Rows of the "Source per class group" table: group -> the row's text."""
    lines = stdout.split("Source per class group", 1)[1].split("Sources", 1)[0].splitlines()
    rows = {}
    for line in lines:
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] in ("digits", "uppercase", "merged letters"):
            rows[cells[0]] = line
    return rows


def test_info_shows_source_reason_and_images_per_class(invoke, tmp_path, data_files, monkeypatch):
    from hwr_eval.cli import _common as cli

    monkeypatch.setattr(cli.console, "width", 300)
    data_files.mnist(tmp_path)
    data_files.emnist(tmp_path, "letters", "ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 3)
    data_files.emnist(tmp_path, "byclass", "ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 3 + "abcdefghijklmnopqrstuvwxyz" * 5)
    result = invoke("data", "info", "--data", tmp_path, "--per-class", "2")
    assert result.exit_code == 0, result.output
    rows = _group_rows(result.stdout)
    assert "MNIST" in rows["digits"] and "best source present" in rows["digits"] and "8 -> 2" in rows["digits"]
    upper = rows["uppercase"]
    assert "EMNIST byclass" in upper and "best source present" in upper and "also present: EMNIST letters" in upper
    assert "4 -> 2" in upper  # 3 train + 1 test uppercase samples per class; the lowercase ones are not counted
    assert "MIXED-CASE" not in result.output


def test_mixed_case_letters_are_announced_loudly(invoke, tmp_path, data_files, monkeypatch):
    from hwr_eval.cli import _common as cli

    monkeypatch.setattr(cli.console, "width", 300)
    data_files.mnist(tmp_path)
    data_files.emnist(tmp_path, "letters", "ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 2)
    result = invoke("data", "info", "--data", tmp_path, "--per-class", "2")
    assert result.exit_code == 0, result.output
    warning = next(line for line in result.stderr.splitlines() if line.startswith("WARNING"))
    assert "MIXED-CASE letters" in warning and "EMNIST letters" in warning and "data fetch kaggle" in warning
    assert "MIXED-CASE" in result.stderr.splitlines()[0]  # the `data:` line says it too
    assert "ONLY MIXED-CASE source present" in _group_rows(result.stdout)["uppercase"]
    merged = invoke("data", "info", "--data", tmp_path, "--per-class", "2", "--classes", "letters-merged")
    assert merged.exit_code == 0, merged.output
    assert "WARNING" not in merged.stderr and "case-merged classes ('A' = A or a), as asked" in merged.stderr
    assert "asked for with --classes letters-merged" in _group_rows(merged.stdout)["merged letters"]


def test_fetch_kaggle(invoke, fake_kaggle, tmp_path):
    result = invoke("data", "fetch", "kaggle", "--dest", tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "A_Z Handwritten Data.csv").read_bytes() == fake_kaggle.payload
    assert "1 files ready" in result.stdout


def test_fetch_kaggle_without_package_exit_2(invoke, one_line_error, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "kaggle", None)
    one_line_error(invoke("data", "fetch", "kaggle", "--dest", tmp_path), "pip install kaggle")
    assert not list(tmp_path.iterdir())


def test_fetch_kaggle_without_credentials_exit_2(invoke, one_line_error, fake_kaggle, tmp_path, monkeypatch):
    monkeypatch.delenv("KAGGLE_KEY")
    one_line_error(invoke("data", "fetch", "kaggle", "--dest", tmp_path / "data"),
                           "no Kaggle credentials", "kaggle.json", "KAGGLE_USERNAME")


def test_fetch_kaggle_refused_or_mismatched_exit_2(invoke, one_line_error, fake_kaggle, tmp_path):
    fake_kaggle.error = RuntimeError("401 Client Error: Unauthorized")
    one_line_error(invoke("data", "fetch", "kaggle", "--dest", tmp_path / "data"), "401", "run again")
    fake_kaggle.error, fake_kaggle.payload = None, fake_kaggle.payload + b"0"
    one_line_error(invoke("data", "fetch", "kaggle", "--dest", tmp_path / "data"), "published size and sha256")
    assert not list((tmp_path / "data").iterdir())


def test_fetch_kaggle_interrupted_exit_130(invoke, fake_kaggle, tmp_path):
    fake_kaggle.interrupt = True
    result = invoke("data", "fetch", "kaggle", "--dest", tmp_path / "data")
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert not list((tmp_path / "data").iterdir())
