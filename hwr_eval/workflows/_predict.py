"""Apply a saved model to a user's image files: characters or whole lines, class context, abstention.

>>> model = load_model("reports/compare-x/models/cnn.joblib")
>>> [p.text for p in predict_images(model, ["a7b3.jpg"], context="36")]
['A7B3']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import CharacterImage, read_image_files
from ..errors import HwrError
from ..evaluation import REJECT_LABEL, SCORES, UNKNOWN_LABEL, confidence_scores, resolve_context, restrict_proba, temperature_scale_proba
from ..runs import load_model, read_record

#: Printed (and written) for a character the model abstains on: "I don't know".
ABSTAIN = REJECT_LABEL
TOP_K = 3


@dataclass
class CharacterPrediction:
    """One character's prediction: ``label`` is :data:`ABSTAIN` when the model abstained."""

    label: str
    best: str
    probability: float
    top: list[tuple[str, float]]
    abstained: bool
    #: True when an unknown-input rejector (``--unknown``) judged the character none of the classes.
    unknown: bool = False
    #: The rejector's known-score of the character (None without one).
    unknown_score: float | None = None


@dataclass
class ImagePrediction:
    """The predictions for one image file, left to right; ``text`` joins their labels."""

    path: Path
    characters: list[CharacterPrediction]
    image: CharacterImage = field(repr=False)

    @property
    def text(self) -> str:
        return "".join(c.label for c in self.characters)


def stored_selective(model_path: str | os.PathLike) -> dict:
    """The abstention setting stored for a model saved in a run folder (``RUN/models/NAME.joblib``).

    Reads ``RUN/results.json`` -> ``models.NAME.selective`` (``threshold``, ``target_risk``,
    ``temperature``, ``calibrated``; written by the selective-prediction evaluation). Raises a one-line
    :class:`HwrError` saying what is missing.
    """
    path = Path(model_path)
    run_dir = path.parent.parent
    if path.parent.name != "models" or not (run_dir / "results.json").is_file():
        raise HwrError(f"{path}: no run folder around this model (expected RUN/models/{path.name} beside "
                       "RUN/results.json), so no stored abstention threshold; give --threshold P")
    record = read_record(run_dir)
    result = record.models.get(path.stem)
    selective = result.selective if result is not None else None
    if not isinstance(selective, dict) or not isinstance(selective.get("threshold"), (int, float)):
        raise HwrError(f"{run_dir / 'results.json'}: no abstention threshold stored for model {path.stem!r} "
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
    rejector=None,
) -> list[ImagePrediction]:
    """Read image files and predict every character, left to right.

    Parameters
    ----------
    model : fitted classifier with ``predict_proba`` on (n, 784) uint8 rows (see :func:`load_model`)
    paths : path, folder, glob, or a list of them (see :func:`~hwr_eval.data.expand_paths`)
    segment : bool, default=True
        Cut each image into characters (a lone character comes back as one); False: one per image.
    context : str or sequence, optional
        Allowed classes (see :func:`~hwr_eval.evaluation.resolve_context`); probabilities are
        renormalised over them.
    threshold : float, optional
        Abstain (label :data:`ABSTAIN`) when the confidence score is below it.
    temperature : float, optional
        Temperature-scale the probabilities first (as the stored threshold was chosen on them).
    score : {"max_proba", "margin"}, default="max_proba"
        Confidence compared with ``threshold``: the top probability, or top minus second.
    rejector : UnknownRejector, optional
        A fitted unknown-input rejector (:func:`~hwr_eval.workflows.load_rejector`): a character it rejects
        gets the label ``"unknown"``.

    All files are read before anything is predicted: a bad file fails the whole call, with one line.
    """
    threshold = _check_threshold(threshold)
    if score not in SCORES:
        raise HwrError(f"unknown confidence score {score!r}; choose one of {', '.join(SCORES)}")
    if context is not None:
        resolve_context(context, [str(c) for c in model.classes_])  # a bad context fails before reading files
    images = read_image_files(paths, segment=segment)
    chars = iter(predict_characters(model, np.concatenate([im.characters for im in images]), context=context,
                                    threshold=threshold, temperature=temperature, score=score, rejector=rejector))
    return [ImagePrediction(path=image.path, characters=[next(chars) for _ in range(len(image.characters))], image=image)
            for image in images]


def predict_characters(model, X: np.ndarray, *, context: str | Sequence[str] | None = None,
                       threshold: float | None = None, temperature: float | None = None,
                       score: str = "max_proba", rejector=None) -> list[CharacterPrediction]:
    """The answer for each preprocessed character row of ``X`` ((n, 784) uint8): the one implementation of
    context and abstention that ``predict``, ``serve`` and the Python API share.

    Parameters are as in :func:`predict_images`.
    """
    threshold = _check_threshold(threshold)
    classes = [str(c) for c in model.classes_]
    allowed = None if context is None else [str(c) for c in resolve_context(context, classes)]
    # The stored threshold was chosen on temperature-scaled probabilities: scale them the same way.
    proba = model.predict_proba(X) if temperature is None else temperature_scale_proba(model, X, temperature)
    # Abstain on the scores the threshold was chosen on (all classes), whatever the context then allows:
    # renormalised, restricted probabilities are higher and would abstain less often than promised.
    confidence = confidence_scores(np.asarray(proba, dtype=np.float32), score)
    names = classes
    if allowed is not None:
        kept = [classes.index(c) for c in allowed]
        proba, names = restrict_proba(proba, classes, allowed)[:, kept], allowed
    order = np.argsort(-proba, axis=1, kind="stable")[:, :TOP_K]
    # The rejector's own threshold_ decides (is_unknown), on the same scores shown.
    known_scores = None if rejector is None else np.asarray(rejector.score_known(X), dtype=float)
    out = []
    for row in range(len(proba)):
        top = [(names[j], float(proba[row, j])) for j in order[row]]
        abstained = threshold is not None and bool(confidence[row] < threshold)
        unknown = known_scores is not None and bool(known_scores[row] < rejector.threshold_)
        label = UNKNOWN_LABEL if unknown else ABSTAIN if abstained else top[0][0]
        out.append(CharacterPrediction(label=label, best=top[0][0], probability=top[0][1], top=top, abstained=abstained,
                                       unknown=unknown,
                                       unknown_score=None if known_scores is None else float(known_scores[row])))
    return out


__all__ = ["ABSTAIN", "CharacterPrediction", "ImagePrediction", "load_model", "predict_characters", "predict_images",
           "stored_selective"]
