"""scikit-learn's estimator checks over every registered model (PyTorch ones tiny and briefly trained)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from hwr_eval import PixelScaler, list_models, make_model

# Tiny networks, few epochs, but enough steps to pass the checks that demand a sensible fit.
_NET = {"max_epochs": 10, "lr": 1e-2, "batch_size": 16, "random_state": 0, "device": "cpu"}
CHECK_PARAMS = {
    "logreg": {},
    "knn": {},
    "linear": _NET,
    "mlp": {**_NET, "hidden": 16},
    "cnn": {**_NET, "clf__module__channels": (2, 4), "hidden": 8},
    "lenet5": _NET,
    "cascade": {
        **_NET,
        "clf__pair": (0, 1),
        "clf__main__module__channels": (2, 4),
        "clf__sub__module__channels": (2, 4),
        "hidden": 8,
    },
}

ESTIMATORS = [make_model(name, **CHECK_PARAMS[name]) for name in list_models()] + [PixelScaler()]

_PIPELINE_STEPS = (
    "scikit-learn's Pipeline.fit stores the fitted estimators in its `steps` parameter (a known Pipeline "
    "limitation that scikit-learn's own test suite x-fails for Pipeline)"
)
_SCALE = (
    "the first step divides by 127.5 (it expects 0-255 pixels); on the check's unit-scale features the "
    "signal shrinks ~100x, so the regularised model / briefly trained net misses the check's 0.83 accuracy bar"
)
_PAIR = (
    "the cascade needs both classes of its pair (set to 0 and 1 here); this check trains on labels without "
    "them and gets the cascade's clear error instead"
)
_PIPELINE = {"check_estimators_overwrite_params": _PIPELINE_STEPS, "check_dont_overwrite_parameters": _PIPELINE_STEPS}
EXPECTED_FAILED = {
    "logreg": {**_PIPELINE, "check_classifiers_train": _SCALE},
    "knn": _PIPELINE,
    "linear": {**_PIPELINE, "check_classifiers_train": _SCALE},
    "mlp": {**_PIPELINE, "check_classifiers_train": _SCALE},
    "cnn": {**_PIPELINE, "check_classifiers_train": _SCALE},
    "lenet5": {**_PIPELINE, "check_classifiers_train": _SCALE},
    "cascade": {
        **_PIPELINE,
        "check_classifiers_train": _SCALE,
        "check_classifier_data_not_an_array": _PAIR,
        "check_classifiers_classes": _PAIR,
        "check_estimators_dtypes": _PAIR,
        "check_fit2d_1feature": _PAIR,
        "check_fit2d_1sample": _PAIR,
    },
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED.get(_name(estimator), {})


def _name(estimator):
    for name, model in zip(list_models(), ESTIMATORS):
        if estimator is model:
            return name
    return type(estimator).__name__


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
