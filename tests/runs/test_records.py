"""The one reader: every malformed, truncated, older or foreign results.json is one line naming file and field."""

import json
import shutil

import numpy as np
import pytest

from hwr_eval.errors import HwrError
from hwr_eval.runs import SCHEMA_VERSION, open_run, read_record


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, small_synthetic):
    """A real compare run folder (kNN and logistic regression on the small synthetic set)."""
    from hwr_eval.workflows import run_compare

    return run_compare(["knn"], small_synthetic, tmp_path_factory.mktemp("run") / "run", report=False)


def _broken(real_run, tmp_path, edit):
    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    path = run / "results.json"
    obj = json.loads(path.read_text())
    edited = edit(obj)
    path.write_text(edited if isinstance(edited, str) else json.dumps(obj))
    return run


def _pop(*keys):
    def edit(obj):
        for key in keys[:-1]:
            obj = obj[key]
        obj.pop(keys[-1])
    return edit


def _set(value, *keys):
    def edit(obj):
        for key in keys[:-1]:
            obj = obj[key]
        obj[keys[-1]] = value
    return edit


MALFORMED = {
    "truncated": (lambda obj: json.dumps(obj)[:200], "not valid JSON"),
    "empty": (lambda obj: "", "not valid JSON"),
    "a list": (lambda obj: "[1, 2]", "the top level must be a JSON object, got list"),
    "foreign object": (lambda obj: '{"accuracy": 0.9}', "missing field 'schema_version'"),
    "no models": (_pop("models"), "missing field 'models'"),
    "no kind": (_pop("kind"), "missing field 'kind'"),
    "models a list": (_set([], "models"), "field 'models' should be dict, got list"),
    "no classes": (_pop("data", "classes"), "missing field 'data.classes'"),
    "classes not names": (_set([1, 2], "data", "classes"), "data.classes should be a non-empty list"),
    "metrics missing": (_pop("models", "knn", "metrics"), "missing field 'models.knn.metrics'"),
    "accuracy a string": (_set("high", "models", "knn", "metrics", "accuracy"),
                          "field 'models.knn.metrics.accuracy' should be int or float or list, got str"),
    "interval short": (_set([0.5], "models", "knn", "metrics", "accuracy_ci95"), "accuracy_ci95 should be [low, high]"),
    "confusion shape": (_set([[1]], "models", "knn", "confusion_matrix"), "models.knn.confusion_matrix should be 36 x 36"),
    "files not paths": (_set(3, "models", "knn", "files", "per_class"), "models.knn.files.per_class should be a path or null"),
    "status unknown": (_set("done", "status"), "field status should be complete or incomplete"),
    "status a number": (_set(1, "status"), "field 'status' should be str, got int"),
    "schema bool": (_set(True, "schema_version"), "field 'schema_version' should be int, got bool"),
    "newer schema": (_set(SCHEMA_VERSION + 1, "schema_version"), "written by a newer hwr-eval; upgrade it"),
    "unknown schema": (_set(0, "schema_version"), "not a version this hwr-eval knows"),
    "robustness broken": (_set({"corruptions": []}, "robustness"), "field robustness.severities is missing"),
    "file outside": (_set("../../etc/passwd", "models", "knn", "files", "probabilities"), "points outside the run folder"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_results_json_is_one_line_naming_file_and_field(case, real_run, tmp_path):
    edit, expected = MALFORMED[case]
    run = _broken(real_run, tmp_path, edit)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(HwrError) as info:
        open_run(run)
    message = str(info.value)
    assert message.startswith(str(run)) and expected in message and "\n" not in message
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # nothing written


def test_a_truncated_test_set_is_one_line(real_run, tmp_path):
    run = _broken(real_run, tmp_path, lambda obj: None)
    (run / "test_set.npz").write_bytes((run / "test_set.npz").read_bytes()[:300])
    with pytest.raises(HwrError, match="test_set.npz: not a readable .npz file"):
        open_run(run)


def test_older_version_is_read_and_its_prediction_columns_found(make_run_dir, tmp_path):
    run_dir = make_run_dir(tmp_path / "v2", models=("knn", "cnn"), n_test_per_class=2)
    run = open_run(run_dir)
    assert run.record.schema_version == 2 and list(run.predictions.columns) == ["knn", "cnn"]
    assert run.record.spec is None  # older runs have no spec: readers show it as absent


def test_the_record_round_trips_unchanged(real_run):
    obj = json.loads((real_run / "results.json").read_text())
    assert read_record(real_run).to_json() == obj


def test_models_named_like_prediction_columns_keep_their_own_predictions(small_synthetic, tmp_path):
    from sklearn.dummy import DummyClassifier
    from sklearn.neighbors import KNeighborsClassifier

    from hwr_eval.workflows import run_compare

    models = {"y_true": DummyClassifier(strategy="most_frequent"), "index": KNeighborsClassifier(3)}
    run = open_run(run_compare(models, small_synthetic, tmp_path / "run", report=False))
    y = np.asarray(small_synthetic.y_test).astype(str)
    assert list(run.y_test) == list(y)
    assert set(run.predictions["y_true"]) == {models["y_true"].fit(small_synthetic.X_train, small_synthetic.y_train).predict(y[:1])[0]}
    for name in models:
        assert run.record.models[name].accuracy == pytest.approx(np.mean(run.predictions[name].to_numpy() == y))
    assert run.record.models["y_true"].accuracy < 0.1 < run.record.models["index"].accuracy


def test_results_follow_an_update_of_the_record(real_run, tmp_path):
    from hwr_eval.runs import RunFolder

    run = _broken(real_run, tmp_path, lambda obj: None)
    folder = RunFolder(run, read_record(run))
    assert folder.results["grid"] is None
    folder.update(grid={"model": "knn"})
    assert folder.results["grid"] == {"model": "knn"} == read_record(run).grid
