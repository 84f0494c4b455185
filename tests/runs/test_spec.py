"""RunSpec/DataSpec: validated once when built, one line per problem, saved and read back as TOML."""

import numpy as np
import pytest

from hwr_eval.errors import HwrError
from hwr_eval.runs import DataSpec, RunSpec


@pytest.mark.parametrize("changes, message", [
    ({"target_risk": 0}, "RunSpec.target_risk (--target-risk) must be a float in the range (0.0, 1.0); got 0"),
    ({"target_risk": 1.5}, "--target-risk"),
    ({"max_epochs": 0}, "RunSpec.max_epochs (--max-epochs) must be an int in the range [1, inf)"),
    ({"max_epochs": True}, "RunSpec.max_epochs must be an integer, got True"),
    ({"device": "gpu"}, "RunSpec.device (--device)"),
    ({"model_seed": -1}, "RunSpec.model_seed (--model-seed)"),
    ({"model_seed": 1.2}, "RunSpec.model_seed (--model-seed)"),
    ({"n_resamples": 0}, "RunSpec.n_resamples must be an int in the range [1, inf)"),
    ({"models": ()}, "no models given"),
    ({"params": {"cnn": 3}}, "RunSpec.params must map model names"),
    ({"params": {"mlp": {"lr": 0.1}}}, "--set names model 'mlp', which is not among the models run (knn, cnn)"),
])
def test_bad_run_options_are_one_line_errors(changes, message):
    with pytest.raises(HwrError) as info:
        RunSpec(**({"models": ("knn", "cnn")} | changes))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("changes, message", [
    ({"per_class": -1}, "DataSpec.per_class (--per-class)"),
    ({"per_class": True}, "DataSpec.per_class must be an integer"),
    ({"seed": 2**32}, "DataSpec.seed (--data-seed)"),
    ({"classes": "37"}, "DataSpec.classes (--classes)"),
    ({"split": "writers"}, "DataSpec.split (--split)"),
])
def test_bad_data_options_are_one_line_errors(changes, message):
    with pytest.raises(HwrError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DataSpec(**changes)


def test_numpy_integers_are_accepted_and_stored_as_int():
    spec = DataSpec(per_class=np.int64(50), seed=np.int32(3))
    assert spec.per_class == 50 and type(spec.per_class) is int and type(spec.seed) is int


@pytest.mark.parametrize("option, value, flag", [("max_epochs", 30, "--max-epochs"), ("device", "cpu", "--device"),
                                                 ("model_seed", 2, "--model-seed")])
def test_a_run_wide_option_and_a_per_model_override_of_it_conflict(option, value, flag):
    key = "random_state" if option == "model_seed" else option
    with pytest.raises(HwrError, match=rf"cnn.{key} is set twice: --set cnn.{key}=3 and {flag} {value}; give one"):
        RunSpec(models=("cnn",), params={"cnn": {key: 3}}, **{option: value})
    # Either one alone is fine (the override then decides for that model).
    assert RunSpec(models=("cnn",), params={"cnn": {key: 3}}).params == {"cnn": {key: 3}}


def test_model_seed_defaults_to_the_data_seed_and_can_differ():
    assert RunSpec(data=DataSpec(seed=7)).seed == 7
    spec = RunSpec(data=DataSpec(seed=7), model_seed=1)
    assert (spec.seed, spec.data.seed) == (1, 7)


def test_toml_round_trip_and_reread(tmp_path):
    spec = RunSpec(models=("knn", "cnn"), data=DataSpec(per_class=100, split="writer", seed=3), model_seed=5,
                   params={"cnn": {"lr": 0.01, "pool": "avg"}}, max_epochs=4, target_risk=0.05, context="digits",
                   out="somewhere")
    path = tmp_path / "spec.toml"
    path.write_text(spec.to_toml())
    again = RunSpec.from_toml(path)
    assert again == spec.replace(out=None)  # a rerun writes a new folder


@pytest.mark.parametrize("text, message", [
    ("models = [\n", "not a TOML run spec"),
    ('modles = ["knn"]\n', "unknown setting 'modles'"),
    ('models = ["knn"]\n[data]\nper_klass = 3\n', "unknown setting 'data.per_klass'"),
    ('models = ["knn"]\ntarget_risk = 2.0\n', "RunSpec.target_risk (--target-risk)"),
])
def test_a_bad_spec_file_names_the_file_and_the_setting(tmp_path, text, message):
    path = tmp_path / "run.toml"
    path.write_text(text)
    with pytest.raises(HwrError) as info:
        RunSpec.from_toml(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value)
    with pytest.raises(HwrError, match="cannot read it"):
        RunSpec.from_toml(tmp_path / "missing.toml")


def test_names_and_estimators_mixed_in_one_list_are_one_line():
    from sklearn.neighbors import KNeighborsClassifier

    with pytest.raises(HwrError, match="not a list holding a KNeighborsClassifier; e.g. models="):
        RunSpec(models=["knn", KNeighborsClassifier()])
    with pytest.raises(HwrError, match="a mapping must take names"):
        RunSpec(models={"knn": "knn"})
    assert RunSpec(models={"mine": KNeighborsClassifier(), "knn": KNeighborsClassifier(1)}).names == ["mine", "knn"]
