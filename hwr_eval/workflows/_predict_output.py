"""Where predictions on image files go: CSV or JSON rows, and a self-contained HTML contact sheet."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import HwrError
from ..io import atomic_path, atomic_write_text
from ..runs import check_output
from ._predict import TOP_K, ImagePrediction

OUT_FORMATS = (".csv", ".json")
#: Longer side of the input previews on the sheet, in pixels.
PREVIEW_SIDE = 480


def check_predictions_path(path: str | os.PathLike | None, suffixes: Sequence[str] = OUT_FORMATS, *,
                           inputs: Sequence[str | os.PathLike] = ()) -> Path | None:
    """Check an output path before any work is done (one-line :class:`HwrError`): its format, and that it
    overwrites neither an input (an image, the model) nor a file of a run folder."""
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise HwrError(f"{path}: unknown output format {path.suffix or '(none)'!r}; use {' or '.join(suffixes)}")
    return check_output(path, inputs=inputs)


def prediction_rows(predictions: Sequence[ImagePrediction]) -> list[dict]:
    """One flat record per character: file, position, prediction ("?" = abstained), probability, top 3."""
    rows = []
    for image in predictions:
        for position, char in enumerate(image.characters, start=1):
            row = {"file": str(image.path), "position": position, "n_characters": len(image.characters),
                   "prediction": char.label, "probability": round(char.probability, 6), "abstained": char.abstained}
            for k in range(TOP_K):
                label, p = char.top[k] if k < len(char.top) else ("", float("nan"))
                row[f"top{k + 1}"] = label
                row[f"top{k + 1}_probability"] = round(p, 6)
            rows.append(row)
    return rows


def write_predictions(predictions: Sequence[ImagePrediction], path: str | os.PathLike) -> Path:
    """Write the predictions atomically: ``.csv`` (one row per character) or ``.json`` (per image)."""
    path = check_predictions_path(path)
    if path.suffix.lower() == ".csv":
        import pandas as pd

        with atomic_path(path) as tmp:
            pd.DataFrame(prediction_rows(predictions)).to_csv(tmp, index=False)
        return path
    images = [{"file": str(p.path), "text": p.text,
               "characters": [{"prediction": c.label, "probability": c.probability, "abstained": c.abstained,
                               "top": [{"class": k, "probability": v} for k, v in c.top],
                               "box": [int(v) for v in box]}
                              for c, box in zip(p.characters, p.image.boxes)]}
              for p in predictions]
    atomic_write_text(path, json.dumps({"images": images}, indent=2) + "\n")
    return path


def _png(array: np.ndarray, side: int | None = None) -> str:
    img = Image.fromarray(np.asarray(array, dtype=np.uint8))
    if side is not None and max(img.size) > side:
        img.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
.item{border:1px solid #ddd;border-radius:6px;padding:.8em;margin:1em 0}
.input img{max-width:100%;border:1px solid #ccc}.chars{display:flex;flex-wrap:wrap;gap:.6em;margin-top:.6em}
.char{text-align:center;font-size:.85em}.char img{width:84px;height:84px;image-rendering:pixelated;background:#000}
.label{font-size:1.6em;font-weight:bold}.abstained{color:#b00}.text{font-size:1.3em;font-family:monospace}"""


def write_sheet(predictions: Sequence[ImagePrediction], path: str | os.PathLike, *, title: str = "hwr-eval predict") -> Path:
    """A self-contained HTML page (PNG images embedded): each input, its normalised characters, predictions."""
    path = check_predictions_path(path, (".html", ".htm"))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             "<p>Each input as read (grey), then every character as the model saw it (28x28, white ink on black, "
             "NIST-normalised), with its prediction, probability and top 3. <b>?</b> = the model abstained.</p>"]
    for pred in predictions:
        name = html.escape(str(pred.path))
        parts.append(f"<div class='item'><h2>{name}</h2><p class='text'>read: <b>{html.escape(pred.text)}</b></p>"
                     f"<div class='input'><img alt='{name}' src='{_png(pred.image.grey, PREVIEW_SIDE)}'></div><div class='chars'>")
        for char, pixels in zip(pred.characters, pred.image.characters):
            top = ", ".join(f"{html.escape(k)} {v:.2f}" for k, v in char.top)
            css = "label abstained" if char.abstained else "label"
            parts.append(f"<div class='char'><img alt='character' src='{_png(pixels.reshape(28, 28))}'>"
                         f"<div class='{css}'>{html.escape(char.label)}</div><div>{char.probability:.2f}</div>"
                         f"<div>{top}</div></div>")
        parts.append("</div></div>")
    parts.append("</body></html>\n")
    atomic_write_text(path, "".join(parts))
    return path


__all__ = ["OUT_FORMATS", "check_predictions_path", "prediction_rows", "write_predictions", "write_sheet"]
