"""Accuracy of fitted models under the corruption suite and the rotation sweep, as one tidy table.

Every corrupted copy of the test images is made once and shared by all models, so the models see the
same images and differences between them are the models'. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from numbers import Integral

import numpy as np
import pandas as pd

from ..data._corruptions import CORRUPTIONS, ROTATION_ANGLES, SEVERITIES, corrupt, rotate
from ..errors import HwrError

#: Columns of :func:`evaluate_robustness`'s table.
COLUMNS = ("model", "corruption", "severity", "angle", "accuracy", "n_images")
#: Rotation (degrees, both signs averaged) reported beside mCA in the summary.
SUMMARY_ANGLE = 30

Progress = Callable[[int, int, str], None]


def corruption_suite(
    X,
    corruptions: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = SEVERITIES,
    angles: Sequence[float] = ROTATION_ANGLES,
    random_state: int = 0,
) -> Iterator[tuple[str, float, float, np.ndarray]]:
    """Yield ``(corruption, severity, angle, images)``: the clean images, every corruption at every
    severity, then every rotation angle (``corruption="rotation"``; unused fields are NaN).

    Corruption ``i`` at severity ``s`` is seeded by ``(random_state, i, s)``, so each cell is
    reproducible on its own and independent of the others.
    """
    unknown = [c for c in corruptions if c not in CORRUPTIONS]
    if unknown:
        raise HwrError(f"unknown corruption {unknown[0]!r}; choose from {', '.join(CORRUPTIONS)}")
    X = np.asarray(X)
    yield "clean", 0.0, np.nan, X
    for kind in corruptions:
        for severity in severities:
            rng = np.random.default_rng([int(random_state), CORRUPTIONS.index(kind), int(severity)])
            yield kind, float(severity), np.nan, corrupt(X, kind, int(severity), random_state=rng)
    for angle in angles:
        yield "rotation", np.nan, float(angle), rotate(X, angle)


def evaluate_robustness(
    models: Mapping[str, object],
    X,
    y,
    *,
    corruptions: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = SEVERITIES,
    angles: Sequence[float] = ROTATION_ANGLES,
    random_state: int = 0,
    on_progress: Progress | None = None,
) -> pd.DataFrame:
    """Accuracy of each fitted model on the clean, corrupted and rotated test images.

    Parameters
    ----------
    models : mapping of name to fitted estimator
        Each takes raw 0-255 pixel rows, as the registry's pipelines do.
    X : array-like of shape (n, side*side)
        Clean test images, white ink on black, 0-255.
    y : array-like of shape (n,)
        True labels (compared as strings).
    corruptions, severities, angles : sequences
        The suite; default: all of :data:`~hwr_eval.data.CORRUPTIONS` at severities 1-5, rotations
        -90..+90 degrees in 15-degree steps.
    random_state : int, default=0
        Seeds the corruptions.
    on_progress : callable, optional
        ``on_progress(done, total, label)`` after each corrupted set.

    Returns
    -------
    pandas.DataFrame
        One row per model and condition, columns :data:`COLUMNS`: ``corruption`` is ``"clean"``, a
        corruption name or ``"rotation"``; ``severity`` (0 for clean) and ``angle`` are NaN where they
        do not apply.
    """
    if not models:
        raise HwrError("no models to evaluate")
    X, y = np.asarray(X), np.asarray(y).astype(str)
    if len(y) != len(X):
        raise HwrError(f"X has {len(X)} images but y has {len(y)} labels")
    if len(y) == 0:
        raise HwrError("no test images to evaluate: every accuracy would be NaN")
    if X.dtype.kind not in "uif" or not np.isfinite(X).all():
        raise HwrError("the test images hold NaN, infinite or non-numeric values: give 0-255 pixels")
    bad_severity = [s for s in severities if not isinstance(s, Integral) or isinstance(s, bool) or s not in SEVERITIES]
    if bad_severity:
        raise HwrError(f"severity {bad_severity[0]!r} does not exist; choose from {', '.join(map(str, SEVERITIES))}")
    total = 1 + len(corruptions) * len(severities) + len(angles)
    rows = []
    for done, (kind, severity, angle, images) in enumerate(
        corruption_suite(X, corruptions, severities, angles, random_state), start=1
    ):
        for name, model in models.items():
            if kind == "clean":
                _check_finite_proba(name, model, images)  # before any corrupted set is made
            correct = np.asarray(model.predict(images)).astype(str) == y
            rows.append((name, kind, severity, angle, float(correct.mean()), len(y)))
        if on_progress is not None:
            label = kind if kind != "rotation" else f"rotation {angle:+.0f}°"
            on_progress(done, total, label if np.isnan(severity) or kind == "clean" else f"{kind} {severity:.0f}")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _check_finite_proba(name: str, model, X: np.ndarray) -> None:
    """Refuse a model whose probabilities are NaN (a diverged network): its argmax is a silent first class."""
    if not hasattr(model, "predict_proba"):
        return
    proba = np.asarray(model.predict_proba(X[:256]), dtype=np.float64)
    if not np.isfinite(proba).all():
        raise HwrError(f"model {name!r} gives NaN or infinite probabilities (training diverged? retrain it with a "
                       "lower lr); its predictions would be meaningless")


def robustness_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model: clean accuracy, mean corruption accuracy (mCA), relative drop and rotation accuracy.

    ``mca`` is the mean accuracy over every corruption and severity (the rotation sweep is reported on
    its own); ``relative_drop`` is ``(clean - mca) / clean``; ``rotation_30`` is the mean accuracy at
    -30 and +30 degrees (NaN when the sweep has neither); ``worst`` names the corruption with the lowest
    mean accuracy. Rows are sorted by mCA, best first.
    """
    out = {}
    for name, rows in frame.groupby("model", sort=False):
        clean = rows.loc[rows["corruption"] == "clean", "accuracy"]
        corrupted = rows[~rows["corruption"].isin(["clean", "rotation"])]
        rotated = rows[(rows["corruption"] == "rotation") & rows["angle"].abs().eq(SUMMARY_ANGLE)]
        per_kind = corrupted.groupby("corruption", sort=False)["accuracy"].mean()
        clean_acc = float(clean.iloc[0]) if len(clean) else np.nan
        mca = float(corrupted["accuracy"].mean()) if len(corrupted) else np.nan
        out[name] = {
            "clean_accuracy": clean_acc,
            "mca": mca,
            "relative_drop": (clean_acc - mca) / clean_acc if clean_acc else np.nan,
            f"rotation_{SUMMARY_ANGLE}": float(rotated["accuracy"].mean()) if len(rotated) else np.nan,
            "worst": per_kind.idxmin() if len(per_kind) else None,
        }
    summary = pd.DataFrame.from_dict(out, orient="index")
    summary.index.name = "model"
    return summary.sort_values("mca", ascending=False, kind="stable")


def robustness_record(frame: pd.DataFrame, random_state: int, file: str | None) -> dict:
    """The ``robustness`` entry of ``results.json`` (see ``docs/results-schema.md``)."""
    corruptions = [c for c in dict.fromkeys(frame["corruption"]) if c not in ("clean", "rotation")]
    severities = sorted({int(s) for s in frame["severity"].dropna() if s > 0})
    angles = sorted({float(a) for a in frame["angle"].dropna()})
    summary = robustness_summary(frame)
    models = {}
    for name, rows in frame.groupby("model", sort=False):
        cells = rows.set_index(["corruption", "severity"])["accuracy"]
        rotation = rows[rows["corruption"] == "rotation"].set_index("angle")["accuracy"]
        # NaN (no rotation at 30 degrees, no corruption, a clean accuracy of 0) is null in results.json.
        record = {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in summary.loc[name].to_dict().items()}
        record["per_corruption"] = {c: [float(cells[(c, float(s))]) for s in severities] for c in corruptions}
        record["rotation"] = [float(rotation[a]) for a in angles]
        models[name] = record
    return {
        "seed": int(random_state),
        "corruptions": corruptions,
        "severities": severities,
        "angles": angles,
        "file": file,
        "models": models,
    }

