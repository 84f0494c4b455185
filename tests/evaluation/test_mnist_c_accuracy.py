"""mnist_c_accuracy: one accuracy per MNIST-C corruption and their mean, for one or several fitted models."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from hwr_eval.data import MNIST_C_CORRUPTIONS, corrupt, make_synthetic
from hwr_eval.errors import HwrError
from hwr_eval.evaluation import MEAN_ROW, MNIST_C_COLUMNS, mnist_c_accuracy, mnist_c_suite


@pytest.fixture(scope="module")
def fitted():
    data = make_synthetic(n_per_class=12, classes="0178", seed=5)
    X, y = data.images.reshape(len(data.images), -1), data.labels
    models = {
        "knn": KNeighborsClassifier(n_neighbors=1).fit(X[::2], y[::2]),
        "logreg": LogisticRegression(max_iter=300).fit(X[::2], y[::2]),
    }
    return models, X[1::2], y[1::2]


def test_table_has_clean_each_corruption_and_their_mean(fitted):
    models, X, y = fitted
    table = mnist_c_accuracy(models, X, y, random_state=3)
    assert tuple(table.columns) == MNIST_C_COLUMNS
    expected_rows = ["clean", *MNIST_C_CORRUPTIONS, MEAN_ROW]
    for name, model in models.items():
        rows = table[table["model"] == name].set_index("corruption")
        assert list(rows.index) == expected_rows and (rows["n_images"] == len(y)).all()
        assert rows.loc[MEAN_ROW, "accuracy"] == pytest.approx(rows.loc[list(MNIST_C_CORRUPTIONS), "accuracy"].mean())
        # Each accuracy is the model's on the images the suite makes for that corruption and seed.
        for kind, images in mnist_c_suite(X, random_state=3):
            assert rows.loc[kind, "accuracy"] == pytest.approx(np.mean(model.predict(images) == y))
    stripe = corrupt(X, "stripe", suite="mnist-c")  # deterministic: needs no seed to recompute
    knn = table[table["model"] == "knn"].set_index("corruption")
    assert knn.loc["stripe", "accuracy"] == pytest.approx(np.mean(models["knn"].predict(stripe) == y))


def test_a_single_model_and_a_subset_of_corruptions(fitted):
    models, X, y = fitted
    table = mnist_c_accuracy(models["knn"], X, y, corruptions=["fog", "zigzag"], random_state=0)
    assert list(table["model"].unique()) == ["model"]
    assert list(table["corruption"]) == ["clean", "fog", "zigzag", MEAN_ROW]
    # A corruption's images do not depend on which others are asked for.
    full = mnist_c_accuracy(models["knn"], X, y, random_state=0).set_index("corruption")
    assert table.set_index("corruption").loc["zigzag", "accuracy"] == full.loc["zigzag", "accuracy"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"models": {}}, "no models"),
        ({"corruptions": ["zigzg"]}, "did you mean 'zigzag'"),
        ({"y": np.array(["0"])}, "labels"),
        ({"X": np.zeros((4, 196), dtype=np.uint8)}, "28x28"),
    ],
)
def test_bad_input_is_one_line_error(fitted, change, message):
    models, X, y = fitted
    args = {"models": models, "X": X, "y": y, **change}
    if "X" in change:
        args["y"] = y[:4]
    with pytest.raises(HwrError, match=message):
        mnist_c_accuracy(args.pop("models"), args.pop("X"), args.pop("y"), **args)
