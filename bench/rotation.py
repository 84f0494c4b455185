"""Rotation and position that hold: what each candidate costs in clean accuracy and gives at +-30 degrees.

The study's CNN on the reference protocol, trained over ``--seeds`` model seeds with each training
candidate (no augmentation, the ``affine`` preset, wider warps, moment-normalised input, and
``modern_cnn`` as a wider design without and with augmentation), then scored on the test split four
ways: as it is, turned by +-30 degrees (the mean of both), shifted as MNIST-C's ``translate`` does (3
pixels on each axis), and each of these again with the test-time candidates (recentring the ink's
centre of mass; averaging the probabilities over turned copies). Each finished fit is appended to
``rotation-runs.jsonl`` at once (seed-major, so every candidate has its first seeds before any has its
last) and a rerun resumes; mean +- sd over seeds go to ``rotation.json`` / ``rotation.md`` in ``--out``.

    python bench/rotation.py --data ../shared/data --seeds 3 --n-jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

import hwr_eval
from hwr_eval.data import corrupt, rotate
from hwr_eval.io import atomic_write_text
from hwr_eval.models import Augment
from hwr_eval.models._fitting import fit_with_validation

HERE = Path(__file__).resolve().parent
ANGLE = 30
TTA_ANGLES = (-30, -15, 0, 15, 30)

# training candidate: (what it is, parameters of the study's cnn, or of the registry model named by "model")
TRAINING = {
    "none": ("no augmentation (the study's CNN)", {}),
    "affine": ("the affine preset: +-30 deg, zoom 0.1, shift 0.1, half the images", dict(augment="affine")),
    "wide": ("+-45 deg, zoom 0.1, shift 0.15, 80% of the images",
             dict(augment=Augment(degrees=45.0, scale=0.1, translate=0.15, p=0.8))),
    # moment normalisation: every image (training and test) sheared upright and its ink centred
    "deskew": ("deskewed input (moment-based slant and centre normalisation)", dict(deskew=True)),
    "deskew_affine": ("deskewed input and the affine preset", dict(deskew=True, augment="affine")),
    # as "wide", trained for all its epochs: early stopping on clean validation loss cut "wide" short
    "wide_full": ("+-45 deg, zoom 0.1, shift 0.15, 80% of the images, all 50 epochs",
                  dict(augment=Augment(degrees=45.0, scale=0.1, translate=0.15, p=0.8), patience=None)),
    # moment normalisation by rotation: every image turned so its ink's principal axis is upright (or level)
    "orient": ("rotation-normalised input (moment-based orientation and centre)", dict(deskew="rotate")),
    "orient_affine": ("rotation-normalised input and the affine preset", dict(deskew="rotate", augment="affine")),
    # a rotation-robust design: the wider, batch-normalised modern_cnn, without and with the affine preset;
    # augmented, its one-cycle schedule must run to the end: early stopping once ended it at epoch 9 of 15
    "modern": ("modern_cnn, no augmentation", dict(model="modern_cnn")),
    "modern_affine": ("modern_cnn and the affine preset, all its epochs",
                      dict(model="modern_cnn", augment="affine", patience=None)),
}


def recentre(X: np.ndarray) -> np.ndarray:
    """Shift each image (whole pixels) so that its ink's centre of mass is the image centre."""
    images = X.reshape(-1, 28, 28).astype(np.float64)
    out = np.zeros_like(images)
    rows, cols = np.arange(28), np.arange(28)
    for i, img in enumerate(images):
        mass = img.sum()
        if mass == 0:
            out[i] = img
            continue
        dr = int(round(13.5 - (img.sum(1) @ rows) / mass))
        dc = int(round(13.5 - (img.sum(0) @ cols) / mass))
        out[i] = np.roll(np.roll(img, dr, 0), dc, 1)
        # what np.roll wrapped round comes from outside the image: black
        if dr > 0:
            out[i, :dr] = 0
        elif dr < 0:
            out[i, dr:] = 0
        if dc > 0:
            out[i, :, :dc] = 0
        elif dc < 0:
            out[i, :, dc:] = 0
    return out.reshape(X.shape).astype(X.dtype)


def tta_proba(model, X: np.ndarray) -> np.ndarray:
    return np.mean([model.predict_proba(rotate(X, a)) for a in TTA_ANGLES], axis=0)


def score(model, X: np.ndarray, y: np.ndarray) -> dict:
    classes = np.asarray(model.classes_).astype(str)
    y = np.asarray(y).astype(str)
    tests = {"clean": [X], "rot30": [rotate(X, ANGLE), rotate(X, -ANGLE)],
             "translate": [corrupt(X, "translate", suite="mnist-c", random_state=0)]}
    out = {}
    for name, variants in tests.items():
        for how, proba in (("plain", model.predict_proba), ("recentre", lambda Z: model.predict_proba(recentre(Z))),
                           ("tta", lambda Z: tta_proba(model, Z))):
            acc = [float(np.mean(classes[proba(Z).argmax(1)] == y)) for Z in variants]
            out[f"{name}/{how}"] = float(np.mean(acc))
    return out


def one(label: str, seed: int, ds, max_epochs: int | None) -> dict:
    import torch

    torch.set_num_threads(1)
    epochs = {} if max_epochs is None else {"max_epochs": max_epochs}
    params = dict(TRAINING[label][1])
    model = hwr_eval.make_model(params.pop("model", "cnn"), random_state=seed, **params, **epochs)
    start = time.perf_counter()
    fit_with_validation(model, ds.X_train, ds.y_train, ds.X_val, ds.y_val)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    scores = score(model, ds.X_test, ds.y_test)
    return {"training": label, "seed": seed, "fit_time_s": fit, "score_time_s": time.perf_counter() - start,
            "epochs": len(model[-1].history), **scores}


def baseline(label: str) -> str:
    """The candidate that trains the same model on plain input: what ``label``'s clean cost is measured against."""
    model = TRAINING[label][1].get("model")
    return next(other for other, (_, params) in TRAINING.items() if params == ({"model": model} if model else {}))


def markdown(frame: pd.DataFrame, meta: dict) -> str:
    cols = [c for c in frame.columns if "/" in c]
    lines = ["| training | test-time | clean | +-30 deg | MNIST-C translate |", "|---|---|---|---|---|"]
    for label in TRAINING:
        rows = frame[frame.training == label]
        if rows.empty:
            continue
        for how in ("plain", "recentre", "tta"):
            cells = []
            for test in ("clean", "rot30", "translate"):
                values = rows[f"{test}/{how}"]
                cells.append(f"{values.mean():.2%}" + (f" +- {values.std() * 100:.2f}" if len(values) > 1 else ""))
            base = frame[frame.training == baseline(label)]["clean/plain"].mean()
            cost = (rows[f"clean/{how}"].mean() - base) * 100
            lines.append(f"| {label} | {how} | {cells[0]} ({cost:+.2f}) | {cells[1]} | {cells[2]} |")
    lines += ["", "| training | what | seeds | median fit time | median epochs |", "|---|---|---|---|---|"]
    for label, (what, _) in TRAINING.items():
        rows = frame[frame.training == label]
        if len(rows):
            lines.append(f"| {label} | {what} | {len(rows)} | {rows.fit_time_s.median():.0f} s | {rows.epochs.median():.0f} |")
    lines += ["", f"The study's CNN on the reference protocol (split seed 0), model seeds 0-{meta['seeds'] - 1}: mean +- sd "
              "over seeds; in brackets the clean accuracy's change in points against the same model on plain input (`none` "
              "for the study's CNN, `modern` for modern_cnn), plain. "
              f"`recentre` shifts each test image's centre of mass to the centre; `tta` averages the probabilities "
              f"over copies turned by {', '.join(map(str, TTA_ANGLES))} degrees. {meta['machine']}, fits {meta['n_jobs']} "
              f"at a time with one thread each. Columns: {', '.join(cols)}.",
              f"`python bench/rotation.py --data DIR --seeds {meta['seeds']} --n-jobs {meta['n_jobs']}`"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--training", default=",".join(TRAINING), help="which training candidates")
    parser.add_argument("--per-class", type=int, default=2000, help="override the cap (smoke tests)")
    parser.add_argument("--max-epochs", type=int, default=None, help="override the epochs (smoke tests)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--table-only", action="store_true", help="write the tables from the logged fits, train nothing")
    args = parser.parse_args(argv)
    data_dir = args.data or os.environ.get("HWR_DATA")
    if not data_dir:
        raise SystemExit("no data: pass --data DIR or set HWR_DATA (this bench needs the real data)")
    ds = hwr_eval.load_dataset(data_dir, per_class=args.per_class, seed=0)
    labels = args.training.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "rotation-runs.jsonl"
    settings = {"per_class": args.per_class, "max_epochs": args.max_epochs}
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    rows = [r for r in rows if r.get("settings") == settings and r["training"] in labels and r["seed"] < args.seeds]
    done = {(r["training"], r["seed"]) for r in rows}
    tasks = [] if args.table_only else [(label, seed) for seed in range(args.seeds) for label in labels if (label, seed) not in done]
    print(f"{len(rows)} fits already in {log}; {len(tasks)} to train", flush=True)
    for row in Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(delayed(one)(lb, s, ds, args.max_epochs) for lb, s in tasks):
        row["settings"] = settings
        rows.append(row)
        with log.open("a") as f:  # one line per finished fit: Ctrl-C or a crash keeps it
            f.write(json.dumps(row) + "\n")
        print(f"{row['training']} seed {row['seed']}: clean {row['clean/plain']:.2%}, +-30 {row['rot30/plain']:.2%}, "
              f"tta {row['rot30/tta']:.2%}, translate {row['translate/plain']:.2%} / recentred "
              f"{row['translate/recentre']:.2%} ({row['fit_time_s']:.0f} s)", flush=True)
    frame = pd.DataFrame(rows)
    meta = {"seeds": args.seeds, "n_jobs": args.n_jobs, "machine": f"{os.cpu_count()} cores"}
    atomic_write_text(args.out / "rotation.json", json.dumps({"meta": meta, "runs": rows}, indent=1))
    atomic_write_text(args.out / "rotation.md", markdown(frame, meta))
    print((args.out / "rotation.md").read_text())


if __name__ == "__main__":
    main()
