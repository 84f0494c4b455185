"""Accuracy under MNIST-C as released: one score per corruption and their mean, the paper's headline.

Every corrupted copy of the test images is made once and shared by all models, so differences between
models are the models'. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ..data._corruptions import check_choice, corrupt
from ..data._mnist_c import MNIST_C_CORRUPTIONS, MNIST_C_SIDE
from ..errors import HwrError

#: Columns of :func:`mnist_c_accuracy`'s table.
MNIST_C_COLUMNS = ("model", "corruption", "accuracy", "n_images")
#: The row of each model that averages its corruptions (clean excluded), as MNIST-C reports.
MEAN_ROW = "mean"


def mnist_c_suite(X, corruptions: Sequence[str] = MNIST_C_CORRUPTIONS, random_state: int = 0) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``("clean", X)``, then ``(name, corrupted X)`` for each MNIST-C corruption.

    Corruption ``name`` is seeded by ``(random_state, its index in MNIST_C_CORRUPTIONS)``, so its images
    do not depend on which other corruptions are asked for.
    """
    yield "clean", X
    for name in corruptions:
        rng = np.random.default_rng([int(random_state), MNIST_C_CORRUPTIONS.index(name)])
        yield name, corrupt(X, name, random_state=rng, suite="mnist-c")


def mnist_c_accuracy(
    models,
    X,
    y,
    *,
    corruptions: Sequence[str] = MNIST_C_CORRUPTIONS,
    random_state: int = 0,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> pd.DataFrame:
    """Accuracy of fitted models on clean test images and on each MNIST-C corruption of them.

    Parameters
    ----------
    models : fitted estimator or mapping of name to fitted estimator
        Each takes raw 0-255 pixel rows of 28x28 images, as the registry's pipelines do. A single
        estimator is reported as ``"model"``.
    X : array-like of shape (n, 784) or (n, 28, 28)
        Clean test images, white ink on black, 0-255; the corrupted copies keep this form.
    y : array-like of shape (n,)
        True labels (compared as strings).
    corruptions : sequence of str, default=MNIST_C_CORRUPTIONS
        Which of MNIST-C's 15 corruptions to apply.
    random_state : int, default=0
        Seeds the corruptions.
    on_progress : callable, optional
        ``on_progress(done, total, label)`` after each image set.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MNIST_C_COLUMNS`; per model one row ``"clean"``, one per corruption, then
        :data:`MEAN_ROW`, the mean accuracy over the corruptions (clean excluded).

    Raises
    ------
    HwrError
        No models, an unknown corruption, labels that do not match the images, or images that are not
        28x28.
    """
    if not isinstance(models, Mapping):
        models = {"model": models}
    if not models:
        raise HwrError("no models to evaluate")
    for name in corruptions:
        check_choice(name, MNIST_C_CORRUPTIONS, "MNIST-C corruption")
    if not corruptions:
        raise HwrError("no MNIST-C corruptions to apply")
    X = np.asarray(X)
    y = np.asarray(y).astype(str)
    if X.ndim < 2 or int(np.prod(X.shape[1:])) != MNIST_C_SIDE**2:
        raise HwrError(f"MNIST-C needs 28x28 images (784 pixels each), got shape {X.shape}")
    if len(y) != len(X):
        raise HwrError(f"X has {len(X)} images but y has {len(y)} labels")
    total = 1 + len(corruptions)
    rows = []
    for done, (kind, images) in enumerate(mnist_c_suite(X, corruptions, random_state), start=1):
        for name, model in models.items():
            correct = np.asarray(model.predict(images)).astype(str) == y
            rows.append((name, kind, float(correct.mean()), len(y)))
        if on_progress is not None:
            on_progress(done, total, kind)
    frame = pd.DataFrame(rows, columns=list(MNIST_C_COLUMNS))
    corrupted = frame[frame["corruption"] != "clean"]
    means = corrupted.groupby("model", sort=False)["accuracy"].mean()
    mean_rows = pd.DataFrame({"model": means.index, "corruption": MEAN_ROW, "accuracy": means.to_numpy(), "n_images": len(y)})
    frame = pd.concat([frame, mean_rows], ignore_index=True)
    order = {name: i for i, name in enumerate(models)}
    return frame.sort_values("model", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
