"""Accuracy through image files vs the same images as arrays (``hwr-eval predict``'s reading path).

Held-out test images of the reference protocol are rendered as realistic scans (dark ink on light paper,
60-400 px per character, mild noise and rotation, JPEG quality 70), read back with
``hwr_eval.read_images`` and classified; the same images as arrays give the reference accuracy. Lines of
3-8 characters with varying gaps measure the segmentation. Results go to ``predict_files.json`` and
``predict_files.md`` in ``--out``. Nothing rendered is kept.

    python bench/predict_files.py --data ../shared/data --models knn,cnn
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hwr_eval.data import load_dataset, read_images, read_line, render_scan, save_scan
from hwr_eval.io import atomic_write_text
from hwr_eval.models import make_model
from hwr_eval.runs import environment

HERE = Path(__file__).resolve().parent


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $HWR_DATA)")
    parser.add_argument("--models", default="knn,knn-deskew,logreg-deskew,cnn", help="comma-separated; -deskew adds deskewing")
    parser.add_argument("--per-class", type=int, default=2000)
    parser.add_argument("--images", type=int, default=1000, help="held-out test images rendered one per file")
    parser.add_argument("--lines", type=int, default=100, help="lines of 3-8 characters")
    parser.add_argument("--rotation", type=float, default=3.0, help="largest tilt, degrees")
    parser.add_argument("--max-epochs", type=int, default=None, help="epochs of the PyTorch models (default: theirs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    return parser.parse_args(argv)


def _heights(rng, n):
    return np.exp(rng.uniform(np.log(60), np.log(400), size=n)).astype(int)


def main(argv=None) -> int:
    args = parse_args(argv)
    dataset = load_dataset(args.data, per_class=args.per_class, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    n = min(args.images, len(dataset.X_test))
    X, y = dataset.X_test[:n], dataset.y_test[:n]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths = [save_scan(render_scan(row[None], height=int(h), rotation=args.rotation, random_state=rng),
                           Path(tmp) / f"{i:05d}.jpg", quality=70) for i, (row, h) in enumerate(zip(X, _heights(rng, n)))]
        from_files = read_images(paths)
        read_s = time.perf_counter() - start
        lines = []
        for j in range(args.lines):
            pick = rng.choice(len(dataset.X_test), int(rng.integers(3, 9)), replace=False)
            scan = render_scan(dataset.X_test[pick], height=int(_heights(rng, 1)[0]), gaps=(0.1, 0.8),
                               rotation=args.rotation, random_state=rng)
            path = save_scan(scan, Path(tmp) / f"line{j:04d}.jpg", quality=70)
            lines.append((pick, read_line(path)))
    rows = []
    for spec in [m.strip() for m in args.models.split(",") if m.strip()]:
        name, _, option = spec.partition("-")
        params = {"deskew": True} if option == "deskew" else {}
        if args.max_epochs and name not in ("knn", "logreg"):
            params["max_epochs"] = args.max_epochs
        model = make_model(name, **params)
        start = time.perf_counter()
        if name in ("knn", "logreg"):
            model.fit(dataset.X_train, dataset.y_train)
        else:
            model.fit(dataset.X_train, dataset.y_train, X_val=dataset.X_val, y_val=dataset.y_val)
        fit_s = time.perf_counter() - start
        pa, pf = model.predict(X), model.predict(from_files)
        segmented = sum(len(chars) == len(pick) for pick, chars in lines)
        exact = agree = total = 0
        for pick, chars in lines:
            if len(chars) != len(pick):
                continue
            truth, read = "".join(model.predict(dataset.X_test[pick])), "".join(model.predict(chars))
            exact += truth == read
            agree += sum(a == b for a, b in zip(truth, read))
            total += len(truth)
        row = {"model": spec, "accuracy_arrays": float(np.mean(pa == y)), "accuracy_files": float(np.mean(pf == y)),
               "agreement": float(np.mean(pa == pf)), "lines_segmented_right": segmented / max(1, len(lines)),
               "lines_read_as_arrays": exact / max(1, len(lines)), "line_characters_as_arrays": agree / max(1, total),
               "fit_time_s": round(fit_s, 1)}
        row["difference_points"] = round(100 * (row["accuracy_files"] - row["accuracy_arrays"]), 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    results = {"settings": {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                            "images": n, "jpeg_quality": 70, "heights_px": [60, 400], "noise_sd": 6.0},
               "read_time_s": round(read_s, 1), "note": "timings on a shared, loaded machine",
               "environment": environment(), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "predict_files.json", json.dumps(results, indent=2) + "\n")
    md = ["| model | accuracy as arrays | through JPEG files | difference (points) | same answer | lines cut right | lines read as arrays |",
          "|---|---|---|---|---|---|---|"]
    md += [f"| {r['model']} | {r['accuracy_arrays']:.2%} | {r['accuracy_files']:.2%} | {r['difference_points']:+.2f} | "
           f"{r['agreement']:.1%} | {r['lines_segmented_right']:.0%} | {r['lines_read_as_arrays']:.0%} |" for r in rows]
    atomic_write_text(args.out / "predict_files.md", "\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
