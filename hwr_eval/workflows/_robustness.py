"""``run_robustness``: score a run folder's saved models under the corruption suite and rotation sweep.

The results join the run folder: ``robustness.csv`` (the tidy table) and the optional ``robustness``
key of ``results.json`` (``docs/results-schema.md``), both written atomically, then the report is rebuilt.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from ..data._corruptions import CORRUPTIONS, ROTATION_ANGLES, SEVERITIES
from ..errors import HwrError
from ..evaluation._robustness import Progress, evaluate_robustness, robustness_record
from ..runs import RunFolder, json_value, read_record, read_test_set

ROBUSTNESS_FILE = "robustness.csv"
MNIST_C_FILE = "mnist_c.csv"
#: Which suites ``run_robustness`` and ``compare --robustness`` score: the severity sweep, MNIST-C as released.
SUITES = ("sweep", "mnist-c", "both")


def mnist_c_results(models: Mapping[str, object], X, y, folder: RunFolder, *, seed: int = 0,
                    on_progress: Progress | None = None) -> dict:
    """Score ``models`` on MNIST-C as released, write ``mnist_c.csv``; return the ``mnist_c`` record.

    The record holds, per model, the clean accuracy, the accuracy per corruption and their mean (MNIST-C's
    headline: the mean over its 15 corruptions at the released settings).
    """
    from ..evaluation import MEAN_ROW, mnist_c_accuracy

    progress = None if on_progress is None else lambda done, total, label: on_progress(done, total, f"MNIST-C: {label}")
    frame = mnist_c_accuracy(dict(models), X, y, random_state=seed, on_progress=progress)
    folder.write_table(MNIST_C_FILE, frame)
    per_model = {}
    for name, rows in frame.groupby("model", sort=False):
        accuracy = dict(zip(rows["corruption"], rows["accuracy"]))
        per_model[name] = {"clean": accuracy.pop("clean"), "mean": accuracy.pop(MEAN_ROW), "per_corruption": accuracy}
    corruptions = [c for c in frame["corruption"].unique() if c not in ("clean", MEAN_ROW)]
    return json_value({"file": MNIST_C_FILE, "seed": seed, "corruptions": corruptions, "models": per_model})


def robustness_results(
    models: Mapping[str, object],
    X,
    y,
    folder: RunFolder,
    *,
    corruptions: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = SEVERITIES,
    angles: Sequence[float] = ROTATION_ANGLES,
    seed: int = 0,
    on_progress: Progress | None = None,
) -> dict:
    """Evaluate ``models`` on the suite, write ``robustness.csv`` into the folder; return the ``robustness`` record."""
    progress = None if on_progress is None else lambda done, total, label: on_progress(done, total, f"robustness: {label}")
    frame = evaluate_robustness(models, X, y, corruptions=corruptions, severities=severities, angles=angles,
                                random_state=seed, on_progress=progress)
    folder.write_table(ROBUSTNESS_FILE, frame)
    return json_value(robustness_record(frame, seed, ROBUSTNESS_FILE))


def run_robustness(
    run_dir: str | os.PathLike,
    *,
    corruptions: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = SEVERITIES,
    angles: Sequence[float] = ROTATION_ANGLES,
    seed: int | None = None,
    report: bool = True,
    on_progress: Progress | None = None,
    suite: str = "sweep",
) -> dict:
    """Evaluate the models saved in a run folder (``compare --save-models``) on its test split.

    Parameters
    ----------
    run_dir : path
        A run folder with ``results.json``, ``test_set.npz`` and ``models/<name>.joblib``.
    corruptions, severities, angles : sequences
        The suite (default: every corruption at severities 1-5, rotations -90..+90 in 15-degree steps).
    seed : int, optional
        Seed of the corruptions; default: the run's seed.
    suite : {"sweep", "mnist-c", "both"}, default="sweep"
        hwr-eval's severity sweep (``robustness`` in ``results.json``), MNIST-C as released
        (``mnist_c``: its 15 corruptions at the published settings, comparable with the literature), or both.
    report : bool, default=True
        Rebuild ``report.html`` afterwards.
    on_progress : callable, optional
        ``on_progress(done, total, label)`` after each corrupted set.

    Returns
    -------
    dict
        The ``robustness`` record now in ``results.json`` (the ``mnist_c`` record for ``suite="mnist-c"``).

    Raises
    ------
    HwrError
        No such run folder, no saved models (rerun with ``--save-models``), unreadable files, or
        corrupted sets that the suite does not know.
    """
    from ..data._corruptions import check_choice

    check_choice(suite, SUITES, "robustness suite")
    record = read_record(run_dir)
    folder = RunFolder(run_dir, record)
    saved = record.saved_models()
    if not saved:
        raise HwrError(f"{run_dir}: no saved models to evaluate; rerun the comparison with --save-models")
    unknown = [c for c in corruptions if c not in CORRUPTIONS]
    if unknown:
        raise HwrError(f"unknown corruption {unknown[0]!r}; choose from {', '.join(CORRUPTIONS)}")
    X, y = read_test_set(run_dir)
    models = {name: folder.load_model(name) for name in saved}
    if seed is None:
        seed = int(record.settings.get("model_seed", record.settings.get("seed")) or 0)
    result = {}
    if suite in ("sweep", "both"):
        result = robustness_results(models, X, y, folder, corruptions=corruptions, severities=severities,
                                    angles=angles, seed=seed, on_progress=on_progress)
        folder.update(robustness=result)
    if suite in ("mnist-c", "both"):
        mnist_c = mnist_c_results(models, X, y, folder, seed=seed, on_progress=on_progress)
        folder.update(mnist_c=mnist_c)
        result = result or mnist_c
    if report:
        from ..report import build_report  # matplotlib loads only when drawing

        build_report(run_dir)
    return result
