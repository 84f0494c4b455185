import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from hwr_eval import HwrError, make_model
from hwr_eval.models import MLP, CascadeClassifier, HwrNet


@pytest.fixture(scope="module")
def digits_and_o(mnist_small, letters_o):
    X, y, X_test, y_test = mnist_small
    X_o, y_o = letters_o
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X_o))
    train, test = order[:200], order[200:300]
    X_train = np.vstack([X, X_o[train]])
    y_train = np.concatenate([y, y_o[train]])
    X_eval = np.vstack([X_test, X_o[test]])
    y_eval = np.concatenate([y_test, y_o[test]])
    return X_train, y_train, X_eval, y_eval


def _small_cascade(**params):
    return make_model("cascade", max_epochs=3, random_state=0, clf__main__batch_size=64, clf__sub__batch_size=64,
                      lr=3e-3, **params)


@pytest.fixture(scope="module")
def fitted(digits_and_o):
    # A briefly trained main model confuses O and 0 now and then; the specialist, trained longer on the
    # pair alone, should overturn some of those calls.
    X, y, _, _ = digits_and_o
    return _small_cascade(clf__main__max_epochs=2, clf__sub__max_epochs=6).fit(X, y)


def test_the_sub_model_decides_whenever_main_says_o_or_zero(fitted, digits_and_o):
    _, _, X_eval, y_eval = digits_and_o
    cascade = fitted[-1]
    Xs = fitted[0].transform(X_eval)
    main_pred = cascade.main_.predict(Xs)
    sub_pred = cascade.sub_.predict(Xs)
    pred = fitted.predict(X_eval)
    routed = np.isin(main_pred, ["O", "0"])
    assert routed.sum() > 50
    np.testing.assert_array_equal(pred[routed], sub_pred[routed])
    np.testing.assert_array_equal(pred[~routed], main_pred[~routed])
    changed = pred != main_pred
    assert changed.any(), "the sub-model should overturn some of the main model's O/0 decisions"
    assert set(np.unique(np.concatenate([pred[changed], main_pred[changed]]))) <= {"O", "0"}
    in_pair = np.isin(y_eval, ["O", "0"])
    assert (pred == y_eval)[in_pair].mean() >= (main_pred == y_eval)[in_pair].mean()
    assert sorted(cascade.sub_.classes_) == ["0", "O"]


def test_predict_proba_puts_the_routed_decision_on_top(fitted, digits_and_o):
    # The label predict_proba ranks first is the routing decision worked out from main_ and sub_ alone:
    # the main model's class, or the sub-model's wherever the main model said O or 0.
    _, _, X_eval, _ = digits_and_o
    cascade = fitted[-1]
    Xs = fitted[0].transform(X_eval)
    main_pred = cascade.main_.classes_[cascade.main_.predict_proba(Xs).argmax(axis=1)]
    sub_pred = cascade.sub_.classes_[cascade.sub_.predict_proba(Xs).argmax(axis=1)]
    expected = np.where(np.isin(main_pred, ["O", "0"]), sub_pred, main_pred)
    proba = fitted.predict_proba(X_eval)
    assert proba.shape == (len(X_eval), 11)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(fitted.classes_[proba.argmax(axis=1)], expected)


class _Fixed(ClassifierMixin, BaseEstimator):
    """A stand-in model whose probabilities are the same given row for every image."""

    def __init__(self, row=None):
        self.row = row

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.tile(np.asarray(self.row, dtype=float), (len(X), 1))


def test_a_third_class_never_outscores_the_sub_models_choice():
    # Main (classes 0, A, O, Z): 0.10, 0.39, 0.40, 0.11 -> routed, its top class is O. Sub (0, O): 0.6, 0.4,
    # so the pair's 0.5 becomes 0: 0.30 and O: 0.20, and A (0.39) would beat the sub-model's 0 unguarded.
    X = np.zeros((8, 4))
    y = np.array(["0", "A", "O", "Z"] * 2)
    cascade = CascadeClassifier(main=_Fixed([0.10, 0.39, 0.40, 0.11]), sub=_Fixed([0.6, 0.4])).fit(X, y)
    proba = cascade.predict_proba(X[:1])[0]
    labels = list(cascade.classes_)
    assert labels == ["0", "A", "O", "Z"]
    assert cascade.predict(X[:1]).tolist() == ["0"]
    assert proba[labels.index("0")] > proba[labels.index("A")] > proba[labels.index("Z")]
    assert proba[labels.index("0")] / proba[labels.index("O")] == pytest.approx(0.6 / 0.4)
    assert proba.sum() == pytest.approx(1.0)


def test_pair_mass_is_split_by_the_sub_model(fitted, digits_and_o):
    _, _, X_eval, _ = digits_and_o
    cascade = fitted[-1]
    Xs = fitted[0].transform(X_eval)
    main_proba = cascade.main_.predict_proba(Xs)
    proba = fitted.predict_proba(X_eval)
    routed = np.isin(cascade.main_.predict(Xs), ["O", "0"])
    pair = [list(fitted.classes_).index(c) for c in ("0", "O")]
    others = [i for i in range(len(fitted.classes_)) if i not in pair]
    np.testing.assert_allclose(proba[~routed], main_proba[~routed], rtol=1e-6)
    sub = cascade.sub_.predict_proba(Xs[routed])
    ratio = proba[routed][:, pair] / proba[routed][:, pair].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ratio, sub, rtol=1e-4, atol=1e-6)
    assert (proba[routed][:, pair].max(axis=1) > proba[routed][:, others].max(axis=1)).all()


def test_the_cascade_works_with_any_class_set_holding_the_pair():
    rng = np.random.default_rng(0)
    y = np.array(["0", "O", "Q", "7"])[np.arange(160) % 4]
    X = rng.normal(size=(160, 784)).astype(np.float32) + 2 * (y == "O")[:, None]
    net = HwrNet(MLP, max_epochs=2, module__hidden=8, random_state=0)
    cascade = CascadeClassifier(main=net, sub=net).fit(X, y)
    assert cascade.classes_.tolist() == ["0", "7", "O", "Q"]
    assert cascade.predict_proba(X).shape == (160, 4)
    assert net.initialized_ is False, "main and sub are cloned, the given estimators stay untouched"


def test_missing_o_or_zero_is_a_clear_error(mnist_small):
    X, y, _, _ = mnist_small
    with pytest.raises(HwrError, match=r"needs both 'O' and '0' among the classes; missing 'O'"):
        _small_cascade().fit(X[:100], y[:100])


def test_main_and_sub_parameters_are_tunable_separately():
    model = make_model("cascade", clf__main__max_epochs=7, clf__sub__module__pool="max")
    params = model.get_params()
    assert params["clf__main__max_epochs"] == 7 and params["clf__sub__max_epochs"] == 50
    assert params["clf__sub__module__pool"] == "max" and params["clf__main__module__pool"] == "avg"
