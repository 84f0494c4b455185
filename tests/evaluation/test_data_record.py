"""``results.json``'s data section says which source gave each class group, and flags mixed-case letters."""

import json
import string

from hwr_eval.data import load_dataset
from hwr_eval.runs import RunSpec, data_record
from hwr_eval.workflows import run_settings


def _record(dataset):
    return json.loads(json.dumps(data_record(dataset)))  # what results.json holds


def test_mixed_case_letters_are_recorded(tmp_path, data_files):
    data_files.mnist(tmp_path)
    data_files.emnist(tmp_path, "letters", string.ascii_uppercase * 2)
    record = _record(load_dataset(tmp_path, per_class=2))
    assert record["mixed_case_letters"] == {"source": "EMNIST letters", "group": "uppercase", "explicit": False}
    assert record["source_choice"]["uppercase"]["reason"] == "only mixed-case"
    assert record["source_choice"]["digits"]["source"] == "MNIST"
    merged = load_dataset(tmp_path, classes="letters-merged", per_class=2)
    assert _record(merged)["mixed_case_letters"]["explicit"] is True
    # settings.classes names the class set asked for, not "letters": the task differs.
    assert run_settings(RunSpec(models=("knn",)), merged)["classes"] == "letters-merged"


def test_uppercase_only_letters_are_not_flagged(tmp_path, data_files):
    data_files.mnist(tmp_path)
    data_files.emnist(tmp_path, "letters", string.ascii_uppercase * 2)
    data_files.emnist(tmp_path, "byclass", string.ascii_uppercase * 2 + string.ascii_lowercase)
    dataset = load_dataset(tmp_path, per_class=2)
    record = _record(dataset)
    assert record["mixed_case_letters"] is None
    assert record["source_choice"]["uppercase"]["source"] == "EMNIST byclass"
    assert run_settings(RunSpec(models=("knn",)), dataset)["classes"] == "36"
