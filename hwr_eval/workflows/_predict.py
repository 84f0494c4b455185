"""Apply a saved model to a user's image files: characters or whole lines, class context, abstention.

>>> model = load_model("reports/compare-x/models/cnn.joblib")
>>> [p.text for p in predict_images(model, ["a7b3.jpg"], context="36")]
['A7B3']
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import CharacterImage, read_image_files
from ..errors import HwrError
from ..evaluation import restrict_proba, temperature_scale_proba

#: Named class contexts for ``context=``; anything else is a list of classes ("0,1,A" or "01A").
CONTEXTS = {"digits": string.digits, "letters": string.ascii_uppercase, "36": string.digits + string.ascii_uppercase}
#: Printed (and written) for a character the model abstains on: "I don't know".
ABSTAIN = "?"
TOP_K = 3


@dataclass
class CharacterPrediction:
    """One character's prediction: ``label`` is :data:`ABSTAIN` when the model abstained."""

    label: str
    best: str
    probability: float
    top: list[tuple[str, float]]
    abstained: bool


@dataclass
class ImagePrediction:
    """The predictions for one image file, left to right; ``text`` joins their labels."""

    path: Path
    characters: list[CharacterPrediction]
    image: CharacterImage = field(repr=False)

    @property
    def text(self) -> str:
        return "".join(c.label for c in self.characters)


def load_model(path: str | os.PathLike):
    """Load a fitted hwr-eval model saved with joblib (``hwr-eval compare --save-models``).

    Only load files you trust: joblib files are pickles, and unpickling runs code. Raises a one-line
    :class:`HwrError` for a missing file, a file that is not a joblib pickle, and an object that is not a
    fitted classifier of 28x28 (784-pixel) images with probabilities.
    """
    import joblib

    path = Path(path)
    if not path.is_file():
        raise HwrError(f"{path}: no such model file")
    what = "not a hwr-eval model (save one with `hwr-eval compare --save-models`)"
    try:
        model = joblib.load(path)
    except Exception as exc:  # unpickling a foreign file fails in many ways: all mean "not a model"
        raise HwrError(f"{path}: {what}: {type(exc).__name__}") from None
    classes = getattr(model, "classes_", None)
    if not (hasattr(model, "predict_proba") and classes is not None and getattr(model, "n_features_in_", None) == 784):
        raise HwrError(f"{path}: {what}: {type(model).__name__} is not a fitted classifier of 28x28 images")
    if not all(isinstance(c, str) and len(c) == 1 for c in classes):
        raise HwrError(f"{path}: {what}: its classes are not single characters")
    return model


def context_classes(context: str | Sequence[str] | None, model_classes: Sequence[str]) -> list[str] | None:
    """The classes ``context`` allows, in the model's order; None for no restriction.

    The command line's vocabulary: ``"digits"``, ``"letters"``, ``"36"``, a comma-separated list
    (``"0,1,A"``), a string of characters (``"01A"``) or a sequence; lower-case names match upper-case
    classes. Every named class must be one the model was trained on.
    """
    if context is None:
        return None
    if isinstance(context, str):
        text = context.strip()
        named = CONTEXTS.get(text.lower(), None)
        wanted = list(named) if named else [c.strip() for c in text.split(",")] if "," in text else list(text)
    else:
        wanted = [str(c) for c in context]
    wanted = [c.upper() if c.upper() in model_classes and c not in model_classes else c for c in wanted if c]
    if not wanted:
        raise HwrError("--context names no class; give digits, letters, 36 or a list such as 0,1,A")
    unknown = sorted(set(wanted) - set(model_classes), key=wanted.index)
    if unknown:
        raise HwrError(f"--context {context!r} names classes the model was not trained on ({''.join(unknown)}); "
                       f"the model knows {''.join(model_classes)}")
    return [c for c in model_classes if c in set(wanted)]


def stored_selective(model_path: str | os.PathLike) -> dict:
    """The abstention setting stored for a model saved in a run folder (``RUN/models/NAME.joblib``).

    Reads ``RUN/results.json`` -> ``models.NAME.selective`` (``threshold``, ``target_risk``,
    ``temperature``, ``calibrated``; written by the selective-prediction evaluation). Raises a one-line
    :class:`HwrError` saying what is missing.
    """
    path = Path(model_path)
    results_path = path.parent.parent / "results.json"
    if path.parent.name != "models" or not results_path.is_file():
        raise HwrError(f"{path}: no run folder around this model (expected RUN/models/{path.name} beside "
                       "RUN/results.json), so no stored abstention threshold; give --threshold P")
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HwrError(f"{results_path}: cannot read it ({exc})") from None
    record = (results.get("models") or {}).get(path.stem) or {}
    selective = record.get("selective")
    if not isinstance(selective, dict) or not isinstance(selective.get("threshold"), (int, float)):
        raise HwrError(f"{results_path}: no abstention threshold stored for model {path.stem!r} "
                       "(models.<name>.selective.threshold); give --threshold P")
    return selective


def _check_threshold(threshold: float | None) -> float | None:
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise HwrError(f"threshold must be a probability between 0 and 1, got {threshold}")
    return None if threshold is None else float(threshold)


def predict_images(
    model,
    paths,
    *,
    segment: bool = True,
    context: str | Sequence[str] | None = None,
    threshold: float | None = None,
    temperature: float | None = None,
    score: str = "max_proba",
) -> list[ImagePrediction]:
    """Read image files and predict every character, left to right.

    Parameters
    ----------
    model : fitted classifier with ``predict_proba`` on (n, 784) uint8 rows (see :func:`load_model`)
    paths : path, folder, glob, or a list of them (see :func:`~hwr_eval.data.expand_paths`)
    segment : bool, default=True
        Cut each image into characters (a lone character comes back as one); False: one per image.
    context : str or sequence, optional
        Allowed classes (:func:`context_classes`); probabilities are renormalised over them.
    threshold : float, optional
        Abstain (label :data:`ABSTAIN`) when the confidence score is below it.
    temperature : float, optional
        Temperature-scale the probabilities first (as the stored threshold was chosen on them).
    score : {"max_proba", "margin"}, default="max_proba"
        Confidence compared with ``threshold``: the top probability, or top minus second.

    All files are read before anything is predicted: a bad file fails the whole call, with one line.
    """
    threshold = _check_threshold(threshold)
    if score not in ("max_proba", "margin"):
        raise HwrError(f"unknown confidence score {score!r}; choose max_proba or margin")
    classes = [str(c) for c in model.classes_]
    allowed = context_classes(context, classes)
    images = read_image_files(paths, segment=segment)
    X = np.concatenate([im.characters for im in images])
    # The stored threshold was chosen on temperature-scaled probabilities: scale them the same way.
    proba = model.predict_proba(X) if temperature is None else temperature_scale_proba(model, X, temperature)
    names = classes
    if allowed is not None:
        kept = [classes.index(c) for c in allowed]
        proba, names = restrict_proba(proba, classes, allowed)[:, kept], allowed
    order = np.argsort(-proba, axis=1, kind="stable")[:, :TOP_K]
    out, row = [], 0
    for image in images:
        chars = []
        for _ in range(len(image.characters)):
            top = [(names[j], float(proba[row, j])) for j in order[row]]
            confidence = top[0][1] - (top[1][1] if score == "margin" and len(top) > 1 else 0.0)
            abstained = threshold is not None and confidence < threshold
            chars.append(CharacterPrediction(label=ABSTAIN if abstained else top[0][0], best=top[0][0],
                                             probability=top[0][1], top=top, abstained=abstained))
            row += 1
        out.append(ImagePrediction(path=image.path, characters=chars, image=image))
    return out


__all__ = ["ABSTAIN", "CONTEXTS", "CharacterPrediction", "ImagePrediction", "context_classes", "load_model",
           "predict_images", "stored_selective"]
