import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

import hwr_eval
from hwr_eval import HwrError, PixelScaler, list_models, make_model
from hwr_eval.models import (
    CNN,
    MLP,
    CascadeClassifier,
    HwrPipeline,
    LeNet5,
    LinearNet,
    n_parameters,
    resolve_params,
    training_history,
    weight_maps,
)

# Small but honest training settings per model, and the test accuracy each must clear on 200 real
# MNIST images per digit (1000 test images). The study's defaults train far longer on far more data.
FAST = {
    "logreg": ({}, 0.84),
    "knn": ({}, 0.88),
    "linear": ({"max_epochs": 10, "clf__batch_size": 64, "lr": 1e-2}, 0.83),
    "mlp": ({"max_epochs": 8, "clf__batch_size": 64}, 0.87),
    "cnn": ({"max_epochs": 6, "clf__batch_size": 64, "lr": 3e-3}, 0.90),
    "lenet5": ({"max_epochs": 6, "clf__batch_size": 64, "lr": 3e-3}, 0.88),
}


def test_list_models_names_the_study_models_then_the_modern_reference():
    assert list_models() == ["logreg", "knn", "linear", "mlp", "cnn", "lenet5", "cascade", "modern_cnn"]
    assert hwr_eval.make_model is make_model


@pytest.mark.parametrize("name", list_models())
def test_every_model_is_an_unfitted_scale_then_clf_pipeline(name):
    model = make_model(name)
    assert isinstance(model, HwrPipeline)
    assert [step for step, _ in model.steps] == ["scale", "clf"]
    assert isinstance(model.named_steps["scale"], PixelScaler)
    with pytest.raises(NotFittedError):  # unfitted, whatever the estimator inside
        model.predict(np.zeros((2, 784), dtype=np.uint8))
    assert make_model(name)[-1] is not model[-1]  # every call builds new estimators, nothing shared


def test_defaults_follow_the_study():
    knn = make_model("knn")[-1]
    assert isinstance(knn, KNeighborsClassifier) and knn.n_neighbors == 3 and knn.algorithm == "brute"
    assert isinstance(make_model("logreg")[-1], LogisticRegression)
    expected_modules = {"linear": LinearNet, "mlp": MLP, "cnn": CNN, "lenet5": LeNet5}
    for name, module in expected_modules.items():
        net = make_model(name)[-1]
        assert net.module is module
        assert (net.lr, net.optimizer, net.batch_size, net.max_epochs, net.patience) == (1e-3, "adam", 512, 50, 5)
        assert (net.device, net.precision) == ("auto", "auto")
    params = make_model("cnn").get_params()
    assert params["clf__module__pool"] == "avg" and params["clf__module__hidden"] == 128
    assert make_model("mlp").get_params()["clf__module__hidden"] == 256
    cascade = make_model("cascade")[-1]
    assert isinstance(cascade, CascadeClassifier) and cascade.pair == ("O", "0")


def test_short_names_resolve_to_nested_parameters():
    model = make_model("cnn", lr=0.01, mode="positive", pool="max", hidden=64, max_epochs=3, device="cpu",
                       random_state=7)
    params = model.get_params()
    assert params["clf__lr"] == 0.01 and params["scale__mode"] == "positive"
    assert params["clf__module__pool"] == "max" and params["clf__module__hidden"] == 64
    assert params["clf__max_epochs"] == 3 and params["clf__device"] == "cpu" and params["clf__random_state"] == 7
    assert make_model("logreg", random_state=1).get_params()["clf__random_state"] == 1
    assert make_model("cnn", patience=2).get_params()["clf__patience"] == 2


def test_full_names_and_cascade_short_names_set_main_and_sub():
    model = make_model("cascade", clf__main__lr=0.01, hidden=32)
    params = model.get_params()
    assert params["clf__main__lr"] == 0.01 and params["clf__sub__lr"] == 1e-3
    assert params["clf__main__module__hidden"] == 32 and params["clf__sub__module__hidden"] == 32
    assert resolve_params(model, {"max_epochs": 2}) == {"clf__main__max_epochs": 2, "clf__sub__max_epochs": 2}


def test_ambiguous_and_unknown_short_names_are_rejected():
    two_scalers = Pipeline([("a", PixelScaler()), ("b", PixelScaler())])
    with pytest.raises(HwrError, match="ambiguous parameter 'mode'"):
        resolve_params(two_scalers, {"mode": "binary"})
    with pytest.raises(HwrError, match="unknown parameter 'hiden'"):
        make_model("mlp", hiden=10)
    with pytest.raises(HwrError, match="unknown parameter 'pool'"):
        make_model("knn", pool="max")


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("cnn", {"max_epochs": -1}, "'max_epochs' parameter of HwrNet must be an int in the range"),
        ("cnn", {"pool": "median"}, "unknown pool type 'median'"),
        ("mlp", {"clf__optimizer": "rmsprop"}, "'optimizer' parameter of HwrNet .* Got 'rmsprop'"),
        ("lenet5", {"clf__precision": "fp16"}, "'precision' parameter of HwrNet .* Got 'fp16'"),
        ("knn", {"mode": "signed"}, "'mode' parameter of PixelScaler .* Got 'signed'"),
        ("knn", {"clf__n_neighbors": 0}, "KNeighborsClassifier"),
        ("cascade", {"clf__sub__module__pool": "min"}, "unknown pool type 'min'"),
    ],
)
def test_bad_parameters_fail_at_make_model(name, params, match):
    with pytest.raises(HwrError, match=match):
        make_model(name, **params)


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(HwrError, match="unknown model 'svm'; choose one of logreg, knn"):
        make_model("svm")


@pytest.mark.parametrize("name", list(FAST))
def test_each_model_clears_an_accuracy_bar_on_real_digits(name, mnist_small):
    X, y, X_test, y_test = mnist_small
    params, bar = FAST[name]
    model = make_model(name, **params, **({"random_state": 0} if name != "knn" else {}))
    model.fit(X, y)
    assert model.classes_.tolist() == [str(d) for d in range(10)]
    accuracy = (model.predict(X_test) == y_test).mean()
    print(f"{name}: {accuracy:.3f}")
    assert accuracy > bar


def test_pipeline_scales_the_validation_set_before_the_net(mnist_small):
    X, y, X_test, y_test = mnist_small
    model = make_model("mlp", max_epochs=1, random_state=0, hidden=32, mode="positive")
    model.fit(X[:500], y[:500], X_val=X_test[:200], y_val=y_test[:200])
    history = training_history(model)
    assert len(history) == 1
    # valid_loss was computed on X_val after the pipeline scaled it: it matches the loss of predict_proba
    assert log_loss(y_test[:200], model.predict_proba(X_test[:200]), labels=model.classes_) == pytest.approx(
        history[0]["valid_loss"], rel=1e-4
    )
    knn = make_model("knn").fit(X[:500], y[:500], X_val=X_test[:10], y_val=y_test[:10])
    assert knn.predict(X_test[:3]).shape == (3,)


def test_history_weight_maps_and_parameter_counts(mnist_small):
    X, y, _, _ = mnist_small
    X, y = X[:300], y[:300]
    linear = make_model("linear", max_epochs=2, random_state=0).fit(X, y)
    logreg = make_model("logreg", clf__max_iter=20, clf__tol=1e-2).fit(X, y)
    knn = make_model("knn").fit(X, y)
    cnn = make_model("cnn", max_epochs=2, random_state=0).fit(X, y)
    history = training_history(linear)
    assert [h["epoch"] for h in history] == [1, 2]
    assert set(history[0]) == {"epoch", "train_loss", "valid_loss", "train_acc", "valid_acc", "dur"}
    assert all(isinstance(h["valid_loss"], float) for h in history)
    assert training_history(knn) is None and training_history(logreg) is None
    maps = weight_maps(logreg)
    assert maps.shape == (10, 28, 28)
    np.testing.assert_allclose(maps.reshape(10, -1), logreg[-1].coef_)
    np.testing.assert_allclose(weight_maps(linear).reshape(10, -1), linear[-1].module_.linear.weight.detach().numpy())
    assert weight_maps(cnn) is None and weight_maps(knn) is None
    assert n_parameters(linear) == n_parameters(logreg) == 784 * 10 + 10
    assert n_parameters(knn) == 300 * 784
    assert n_parameters(cnn) == sum(p.numel() for p in CNN(n_classes=10).parameters())


def test_grid_search_over_mlp_hidden_size_and_lr(mnist_small):
    X, y, _, _ = mnist_small
    model = make_model("mlp", max_epochs=2, random_state=0, clf__batch_size=128)
    search = GridSearchCV(model, {"clf__module__hidden": [16, 32], "clf__lr": [1e-3, 1e-2]}, cv=2)
    search.fit(X[:400], y[:400])
    assert len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # The grid reached the module: the refitted best model has the hidden width it was chosen with.
    first_layer = search.best_estimator_[-1].module_.net[0]
    assert first_layer.out_features == search.best_params_["clf__module__hidden"]


def test_grid_search_over_the_scaling_mode(mnist_small):
    X, y, _, _ = mnist_small
    search = GridSearchCV(make_model("knn"), {"scale__mode": ["negative", "positive", "binary"]}, cv=2)
    search.fit(X[:400], y[:400])
    assert (search.cv_results_["mean_test_score"] > 0.6).all()
    # The mode reaches the scaler: [-1, 1] is an affine map of [0, 1], so Euclidean neighbours (and
    # every fold's score) are the same, while thresholding to {0, 1} changes them.
    folds = np.column_stack([search.cv_results_[f"split{i}_test_score"] for i in range(2)])
    negative, positive, binary = folds
    np.testing.assert_array_equal(negative, positive)
    assert not np.array_equal(negative, binary)


def test_cross_validate_runs_a_pytorch_model(mnist_small):
    X, y, _, _ = mnist_small
    model = make_model("linear", max_epochs=10, clf__batch_size=64, random_state=0)
    result = cross_validate(model, X[:300], y[:300], cv=3)
    assert len(result["test_score"]) == 3 and (result["test_score"] > 0.4).all()


def test_same_seed_same_predictions_through_the_registry(mnist_small):
    X, y, X_test, _ = mnist_small
    a = make_model("cnn", max_epochs=1, random_state=5).fit(X[:300], y[:300]).predict_proba(X_test[:50])
    b = make_model("cnn", max_epochs=1, random_state=5).fit(X[:300], y[:300]).predict_proba(X_test[:50])
    np.testing.assert_array_equal(a, b)
