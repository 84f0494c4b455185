"""The one door to disk: folders claimed atomically, a run's files and inputs never overwritten."""

import multiprocessing
import threading

import pytest

from hwr_eval.errors import HwrError
from hwr_eval.runs import MARKER, check_output, claim_run_dir


def test_claiming_a_new_folder_creates_it_with_its_marker(tmp_path):
    path, created = claim_run_dir(tmp_path / "a" / "run", "compare")
    assert created and (path / MARKER).is_file()


def test_an_existing_empty_folder_can_be_claimed_once(tmp_path):
    (tmp_path / "run").mkdir()
    path, created = claim_run_dir(tmp_path / "run", "compare")
    assert not created
    with pytest.raises(HwrError, match="belongs to another run"):
        claim_run_dir(tmp_path / "run", "compare")


def test_a_folder_with_files_is_refused_and_left_as_it_was(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(HwrError, match="is not empty; choose a new --out folder"):
        claim_run_dir(tmp_path / "run", "compare")
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["notes.txt"]


def test_a_file_is_refused(tmp_path):
    (tmp_path / "run").write_text("x")
    with pytest.raises(HwrError, match="is a file"):
        claim_run_dir(tmp_path / "run", "compare")


def _claim(path, barrier, results):
    barrier.wait()
    try:
        claim_run_dir(path, "compare")
        results.put("claimed")
    except HwrError as exc:
        results.put(str(exc))


@pytest.mark.parametrize("existing", [False, True])
def test_of_simultaneous_claims_exactly_one_proceeds(tmp_path, existing):
    """Eight processes released at the same moment on the same --out: one owns it, seven get one line."""
    out = tmp_path / "run"
    if existing:
        out.mkdir()
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(8), context.Queue()
    workers = [context.Process(target=_claim, args=(out, barrier, results)) for _ in range(8)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join()
    assert outcomes.count("claimed") == 1, outcomes
    assert all("another run" in o or "not empty" in o for o in outcomes if o != "claimed")


def test_default_folders_claimed_in_the_same_second_get_distinct_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(claim_run_dir(None, "compare")[0])) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(paths)) == 6


@pytest.fixture
def run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "models").mkdir(parents=True)
    for name in ("results.json", "predictions.csv", "report.html", "models/knn.joblib"):
        (run / name).write_text("x")
    return run


@pytest.mark.parametrize("target", ["results.json", "predictions.csv", "models/knn.joblib", "models/new.csv", "new.csv"])
def test_outputs_inside_a_run_folder_are_refused(run_folder, target):
    with pytest.raises(HwrError, match="is inside run folder .* whose files only that run writes"):
        check_output(run_folder / target)


def test_the_report_may_be_rebuilt_and_outside_paths_are_fine(run_folder, tmp_path):
    assert check_output(run_folder / "report.html") == run_folder / "report.html"
    assert check_output(tmp_path / "elsewhere.html") == tmp_path / "elsewhere.html"


def test_an_input_is_never_an_output(tmp_path):
    data = tmp_path / "train-images-idx3-ubyte.gz"
    data.write_bytes(b"data")
    with pytest.raises(HwrError, match="is an input of this command"):
        check_output(tmp_path / "." / data.name, inputs=[data])
    with pytest.raises(HwrError, match="is a folder"):
        check_output(tmp_path)
