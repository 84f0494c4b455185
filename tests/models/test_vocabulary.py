"""One parameter vocabulary: the short names of make_model work in set_params, grids and clones alike."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from hwr_eval import make_model
from hwr_eval.errors import HwrError


def _pixels(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.integers(0, 60, size=(n, 784)).astype(np.uint8)
    X[:, :50] += (150 * (y[:, None] == 0)).astype(np.uint8)
    X[:, 50:100] += (150 * (y[:, None] == 1)).astype(np.uint8)
    return X, y


def test_verbose_means_per_epoch_lines(capsys):
    X, y = _pixels()
    model = make_model("mlp", verbose=1, max_epochs=2, hidden=8, random_state=0, device="cpu")
    assert model.get_params()["clf__verbose"] == 1 and "verbose" not in model.get_params()
    model.fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()]
    assert len(lines) == 2


@pytest.mark.parametrize(
    ("name", "short", "full", "value"),
    [
        ("cnn", "lr", "clf__lr", 0.05),
        ("cnn", "pool", "clf__module__pool", "max"),
        ("mlp", "hidden", "clf__module__hidden", 32),
        ("knn", "mode", "scale__mode", "binary"),
        ("mlp", "verbose", "clf__verbose", 1),
        ("cascade", "lr", "clf__main__lr", 0.05),
    ],
)
def test_short_names_mean_the_same_in_make_model_and_set_params(name, short, full, value):
    made = make_model(name, **{short: value})
    assert made.get_params()[full] == value
    reset = make_model(name).set_params(**{short: value})
    assert reset.get_params()[full] == value
    assert clone(reset).get_params()[full] == value  # get_params / clone stay exact
    if name == "cascade":
        assert reset.get_params()["clf__sub__lr"] == value


def test_short_names_in_search_grids():
    X, y = _pixels()
    grid = {"n_neighbors": [1, 5], "mode": ["positive", "binary"]}
    search = GridSearchCV(make_model("knn"), grid, cv=2).fit(X, y)
    assert set(search.best_params_) == {"n_neighbors", "mode"}
    best = search.best_estimator_.get_params()
    assert (best["clf__n_neighbors"], best["scale__mode"]) == (search.best_params_["n_neighbors"], search.best_params_["mode"])
    tried = {(p["n_neighbors"], p["mode"]) for p in search.cv_results_["params"]}
    assert len(tried) == 4
    randomized = RandomizedSearchCV(
        make_model("linear", max_epochs=1, device="cpu"), {"lr": [1e-3, 1e-2], "batch_size": [8]}, n_iter=2, cv=2,
        random_state=0,
    ).fit(X, y)
    assert randomized.best_estimator_.get_params()["clf__lr"] == randomized.best_params_["lr"]
    assert randomized.best_estimator_.get_params()["clf__batch_size"] == 8


def test_unknown_and_ambiguous_short_names_fail_in_set_params():
    with pytest.raises(HwrError, match="unknown parameter 'widht'"):
        make_model("cnn").set_params(widht=3)
    with pytest.raises(HwrError, match="unknown parameter 'verbose'"):
        make_model("knn", verbose=1)
