"""``compare --unknown``: how well each model says "I don't know what that is" to input of none of its classes.

Per run: the unknown sets, checked before the run folder is claimed and loaded once (:func:`check_unknown_options`,
:func:`run_unknown_sets`). Per model, right after it is scored (:func:`unknown_results`): the rows of
:func:`~hwr_eval.evaluation.unknown_table` appended to ``unknowns.csv``; the known-scores of the best detector
(highest mean AUROC over the sets) and the unknown images it finds most "known" in ``unknowns/<name>.npz``, for
the report; with ``save_models`` the rejectors of ``models/<name>.unknown.joblib`` for ``predict`` and ``serve``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import FAR_UNKNOWN_SETS, NEAR_UNKNOWN_LETTERS, Dataset, folder_unknowns, load_unknowns
from ..errors import HwrError
from ..evaluation import DETECTORS, UnknownRejector, check_detector, detectors_for, known_threshold, score_unknowns
from ..evaluation._unknowns import DEFAULT_KEEP
from ..runs import RunFolder, RunSpec, json_value

#: The run folder's table of every model x detector x unknown set (columns: ``TABLE_COLUMNS``).
UNKNOWNS_FILE = "unknowns.csv"
#: Unknown images per generated set; the lowercase letters are capped near the same total.
N_UNKNOWN = 1000
#: How many of the unknown images scored most "known" the report shows per model.
GALLERY_SIZE = 12
#: Version tag of ``models/<name>.unknown.joblib`` (a dict: rejector per detector, validation scores).
REJECTORS_FORMAT = "hwr-eval unknown rejectors 1"


def check_unknown_options(spec: RunSpec, estimators) -> np.ndarray | None:
    """Refuse, before the run folder is claimed, a detector name that does not exist or that a model cannot use,
    and an empty or unreadable ``spec.unknown_dir``; return that folder's images (None without one).

    Only detectors named in ``spec.unknown_detectors`` are checked against the models; by default each model
    gets the detectors it supports.
    """
    if not spec.unknown:
        return None
    for detector in spec.unknown_detectors or ():
        if detector not in DETECTORS:
            try:
                check_detector(None, detector)
            except HwrError as exc:
                raise HwrError(f"--unknown-detectors: {exc}") from None
    for name, model in estimators.items():
        for detector in spec.unknown_detectors or ():
            try:
                check_detector(model, detector)
            except HwrError as exc:
                raise HwrError(f"--unknown-detectors: model {name}: {exc}") from None
    return None if spec.unknown_dir is None else folder_unknowns(spec.unknown_dir)


def _lowercase_dir(dataset: Dataset) -> str | None:
    """The run's data folder when it holds a source of lowercase letters (the near unknowns), else None."""
    from ..data._sources import PRIORITY, SOURCES

    directory = dataset.provenance.get("data_dir")
    if not directory or dataset.provenance.get("synthetic"):
        return None
    return directory if any(SOURCES[s].files(Path(directory)) for s in PRIORITY["lowercase"]) else None


def run_unknown_sets(spec: RunSpec, dataset: Dataset, own: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The unknown sets of a run, loaded once with the run's data folder and data seed.

    ``lowercase`` when the data folder has lowercase letters (at most about ``N_UNKNOWN`` in all), the
    generated sets, and ``folder``: ``own``, the images of ``spec.unknown_dir`` (:func:`check_unknown_options`).
    """
    lowercase = _lowercase_dir(dataset)
    names = (["lowercase"] if lowercase else []) + list(FAR_UNKNOWN_SETS)
    sets = load_unknowns(names, data_dir=lowercase, n_generated=N_UNKNOWN,
                         per_class=math.ceil(N_UNKNOWN / len(NEAR_UNKNOWN_LETTERS)), seed=spec.data.seed)
    return sets if own is None else {**sets, "folder": own}


def _gallery(model, detector_scores: dict[str, np.ndarray], sets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``GALLERY_SIZE`` unknown images with the highest known-score, their set and the class the model gives."""
    names = list(sets)
    scores = np.concatenate([detector_scores[n] for n in names])
    which = np.concatenate([np.full(len(sets[n]), i) for i, n in enumerate(names)])
    images = np.concatenate([sets[n] for n in names])
    top = np.argsort(-scores, kind="stable")[:GALLERY_SIZE]
    return {"gallery_X": images[top].astype(np.uint8), "gallery_score": scores[top],
            "gallery_set": np.asarray([names[i] for i in which[top]]),
            "gallery_pred": np.asarray(model.predict(images[top])).astype(str)}


def unknown_results(name: str, model, dataset: Dataset, spec: RunSpec, folder: RunFolder,
                    sets: dict[str, np.ndarray]) -> dict | None:
    """Score one fitted model on the run's unknown sets, write its files; return its ``unknowns`` record.

    None when the model supports no detector (it has neither logits nor probabilities).
    """
    detectors = list(spec.unknown_detectors or detectors_for(model))
    if not detectors:
        return None
    scored = score_unknowns(model, dataset, sets, detectors=detectors, name=name, keep=DEFAULT_KEEP)
    table = scored.table
    folder.unknowns = table if folder.unknowns is None else pd.concat([folder.unknowns, table], ignore_index=True)
    folder.write_table(UNKNOWNS_FILE, folder.unknowns)
    mean_auroc = table.groupby("detector", sort=False)["auroc"].mean()
    best = str(mean_auroc.idxmax())
    arrays = {"known": scored.test[best],
              "threshold": float(table.loc[table["detector"] == best, "threshold"].iloc[0]),
              **{f"set_{n}": s for n, s in scored.sets[best].items()}, **_gallery(model, scored.sets[best], sets)}
    record = {"file": UNKNOWNS_FILE, "scores": folder.write_npz(f"unknowns/{name}.npz", arrays),
              "detectors": detectors, "sets": list(sets), "keep": DEFAULT_KEEP, "best_detector": best,
              "mean_auroc": mean_auroc.to_dict(), "rejectors": None}
    if spec.save_models:
        record["rejectors"] = folder.write_model(f"{name}.unknown", fitted_rejectors(model, scored, best))
    return json_value(record)


def run_unknowns(run_dir: str | Path, *, unknown_dir: str | Path | None = None, detectors=None,
                 report: bool = True, on_progress=None) -> dict[str, dict | None]:
    """Score the models saved in a run folder (``compare --save-models``) on the unknown sets, after the fact.

    The run's data is loaded again from its recorded spec (the training split fits the detectors' statistics,
    the validation split their thresholds) and must give back the run's saved test split exactly. Writes
    ``unknowns.csv`` (replacing an earlier one), ``unknowns/<name>.npz``, the rejectors beside each saved model
    (for ``predict --unknown``), each model's ``unknowns`` record in ``results.json``, and the report.

    Parameters
    ----------
    run_dir : path
        A run folder with ``results.json``, ``test_set.npz`` and ``models/<name>.joblib``.
    unknown_dir : path, optional
        A folder of your own unknown images, scored as the set ``folder``.
    detectors : sequence of str, optional
        Default: every detector each model supports.
    report : bool, default=True
        Rebuild ``report.html`` afterwards.
    on_progress : callable, optional
        ``on_progress(done, total, label)`` after each model.

    Returns
    -------
    dict
        Model name -> its ``unknowns`` record (None for a model no detector applies to).

    Raises
    ------
    HwrError
        No such run folder or no saved models, a run without a recorded spec, a bad detector or folder (before
        any data is loaded), or data that no longer gives the run's test split.
    """
    from ..runs import read_record, read_test_set

    record = read_record(run_dir)
    folder = RunFolder(Path(run_dir), record)
    saved = record.saved_models()
    if not saved:
        raise HwrError(f"{run_dir}: no saved models to score; rerun the comparison with --save-models")
    if record.spec is None:
        raise HwrError(f"{run_dir}: the run records no spec to load its data again from; rerun the comparison "
                       "with --unknown")
    spec = RunSpec.from_dict(record.spec, where=f"{run_dir}/results.json: spec").replace(
        unknown=True, unknown_dir=unknown_dir, unknown_detectors=detectors, save_models=True)
    models = {name: folder.load_model(name) for name in saved}
    own = check_unknown_options(spec, models)
    dataset = spec.data.load()
    X_test, y_test = read_test_set(run_dir)
    if not (np.array_equal(np.asarray(dataset.X_test), X_test)
            and np.array_equal(np.asarray(dataset.y_test).astype(str), y_test.astype(str))):
        raise HwrError(f"{run_dir}: the data at {dataset.provenance.get('data_dir') or 'the recorded source'} no longer "
                       "gives this run's test split; the detectors cannot be fitted on the run's training split")
    sets = run_unknown_sets(spec, dataset, own)
    folder.unknowns = None  # this scoring replaces any earlier unknowns.csv whole
    out = {}
    for done, (name, model) in enumerate(models.items(), 1):
        out[name] = record.models[name].unknowns = unknown_results(name, model, dataset, spec, folder, sets)
        folder.write_results()
        if on_progress is not None:
            on_progress(done, len(models), f"unknown input: {name}")
    if report:
        from ..report import build_report  # matplotlib loads only when drawing

        build_report(run_dir)
    return out


def fitted_rejectors(model, scored, best: str) -> dict:
    """An :class:`~hwr_eval.evaluation.UnknownRejector` per detector around the fitted ``model``, built from the
    run's scorers (thresholds on the validation split), with the validation scores so another ``keep`` can be
    chosen later."""
    rejectors = {d: UnknownRejector(model, detector=d, keep=DEFAULT_KEEP, prefit=True)._set_fitted(model, scorer, scored.val[d])
                 for d, scorer in scored.scorers.items()}
    val_scores = {d: np.asarray(v, dtype=np.float64) for d, v in scored.val.items()}
    return {"format": REJECTORS_FORMAT, "best": best, "rejectors": rejectors, "val_scores": val_scores}


def rejector_path(model_path: str | Path) -> Path:
    """Where ``compare --save-models --unknown`` saves the rejectors of ``RUN/models/NAME.joblib``."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}.unknown.joblib")


def load_rejector(model_path: str | Path, detector: str | None = None, keep: float | None = None) -> UnknownRejector:
    """The saved rejector of a model: ``detector`` (default: the run's best) with its threshold at ``keep``.

    The threshold for another ``keep`` is chosen on the stored validation-split scores, as in the run.
    Only load run folders you trust (joblib files are pickles). Raises one :class:`HwrError` line for a missing
    or foreign file, or a detector the run did not score.
    """
    import joblib

    path = rejector_path(model_path)
    if not path.is_file():
        raise HwrError(f"{path}: no saved unknown-input rejector beside {Path(model_path).name}; rerun the comparison "
                       "with --save-models --unknown")
    try:
        bundle = joblib.load(path)
    except Exception as exc:  # unpickling a foreign file fails in many ways: all mean "not a rejector file"
        raise HwrError(f"{path}: not an hwr-eval rejector file: {type(exc).__name__}") from None
    if not isinstance(bundle, dict) or bundle.get("format") != REJECTORS_FORMAT:
        raise HwrError(f"{path}: not an hwr-eval rejector file (written by compare --save-models --unknown)")
    detector = bundle["best"] if detector is None else detector
    rejector = bundle["rejectors"].get(detector)
    if rejector is None:
        if detector not in DETECTORS:
            check_detector(None, detector)  # the did-you-mean line
        raise HwrError(f"{path}: no rejector for detector {detector!r}; this run scored "
                       f"{', '.join(bundle['rejectors'])}")
    if keep is not None and keep != rejector.keep:
        rejector.set_params(keep=keep)
        rejector.threshold_ = known_threshold(bundle["val_scores"][detector], keep)
    return rejector


__all__ = ["GALLERY_SIZE", "N_UNKNOWN", "UNKNOWNS_FILE", "check_unknown_options", "fitted_rejectors", "load_rejector",
           "rejector_path", "run_unknown_sets", "run_unknowns", "unknown_results"]
