"""``hwr-eval predict``: a saved model reads image files; ``hwr-eval data sample-image`` makes one to try."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import HwrError
from ._common import ClassesOpt, DataOpt, SeedOpt, app, console, data_app, err_console, load_data_for_cli, user_errors


def _top(char) -> str:
    return ", ".join(f"{label} {p:.2f}" for label, p in char.top)


def _answer(c, rejector) -> str:
    """The printed answer: the label, or why the character is taken for none of the classes."""
    if c.unknown:
        return (f"unknown ({rejector.scorer_.detector} score {c.unknown_score:.4g} below threshold "
                f"{rejector.threshold_:.4g}; best class {c.best})")
    return c.label


def _print_predictions(predictions, rejector=None) -> None:
    for pred in predictions:
        if len(pred.characters) == 1:
            c = pred.characters[0]
            console.print(f"{pred.path}: {_answer(c, rejector)}  p={c.probability:.2f}  top 3: {_top(c)}",
                          highlight=False, markup=False, soft_wrap=True)
            continue
        console.print(f"{pred.path}: {pred.text}  ({len(pred.characters)} characters)", highlight=False, markup=False,
                      soft_wrap=True)
        for position, c in enumerate(pred.characters, start=1):
            console.print(f"  {position:>2} {_answer(c, rejector)}  p={c.probability:.2f}  top 3: {_top(c)}",
                          highlight=False, markup=False, soft_wrap=True)


@app.command("predict")
@user_errors
def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, TIFF, BMP, GIF), folders or globs.",
                                                 show_default=False)],
    model: Annotated[Path, typer.Option("--model", help="A saved model: RUN/models/NAME.joblib from "
                                        "`hwr-eval compare --save-models`, or NAME.onnx from `hwr-eval export` "
                                        "(run with ONNX Runtime).", dir_okay=False, show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", help="Also write the predictions: .csv (one row per "
                                             "character) or .json (per image).", dir_okay=False)] = None,
    context: Annotated[str | None, typer.Option("--context", help="Allowed classes: digits, letters, 36, or a "
                                                "list such as 0,1,A (probabilities renormalised over them).")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Print ? (I don't know) when the top "
                                                    "probability is below P (0 to 1).")] = None,
    abstain: Annotated[bool, typer.Option("--abstain", help="Abstain with the threshold stored for this model's "
                                          "target risk in RUN/results.json (selective prediction).")] = False,
    single: Annotated[bool, typer.Option("--single", help="Each image is one character (no segmentation "
                                         "into a line of characters).")] = False,
    show: Annotated[Path | None, typer.Option("--show", help="Write an HTML sheet: each input, its normalised "
                                              "characters and the predictions.", dir_okay=False)] = None,
    unknown: Annotated[str | None, typer.Option("--unknown", help="Answer 'unknown' for characters of none of the "
                                                "classes, by this detector (msp, energy, ...): the rejector saved "
                                                "beside the model by `compare --save-models --unknown`.",
                                                show_default=False)] = None,
    unknown_keep: Annotated[float | None, typer.Option("--unknown-keep", help="Share of known validation images "
                                                       "the --unknown threshold keeps (default: the run's, 0.95).",
                                                       show_default=False)] = None,
) -> None:
    """Read handwritten characters or short lines from image files with a saved model.

    Dark ink on light paper (or the reverse), any size; each image is one line of characters, cut into
    characters left to right (touching characters are not split). Prints the prediction, its probability
    and the top 3 per image, or per character for lines.
    """
    from ..workflows import (
        check_predictions_path,
        load_model,
        predict_images,
        stored_selective,
        stored_selective_onnx,
        write_predictions,
        write_sheet,
    )

    inputs = [model, *images]
    check_predictions_path(out, inputs=inputs)
    check_predictions_path(show, (".html", ".htm"), inputs=inputs)
    if out is not None and show is not None and out.resolve() == show.resolve():
        raise HwrError(f"--out and --show are the same file {out}; give two")
    if threshold is not None and abstain:
        raise HwrError("give --threshold P or --abstain, not both")
    if threshold is not None and not 0.0 <= threshold <= 1.0:  # checked here: typer's range check prints a box
        raise HwrError(f"--threshold {threshold:g}: must be a probability between 0 and 1")
    rejector = None
    if unknown_keep is not None and unknown is None:
        raise HwrError("--unknown-keep needs --unknown DETECTOR")
    if unknown is not None:
        from ..evaluation._unknowns import check_keep
        from ..workflows import load_rejector

        try:
            keep = None if unknown_keep is None else check_keep(unknown_keep)
        except HwrError as exc:
            raise HwrError(f"--unknown-keep: {exc}") from None
        rejector = load_rejector(model, unknown, keep)
        err_console.print(f"unknown below {rejector.scorer_.detector} score {rejector.threshold_:.4g} (keeps "
                          f"{rejector.keep:g} of the known validation images)", highlight=False, soft_wrap=True)
    onnx = model.suffix.lower() == ".onnx"
    if onnx:
        from ..models import RUNTIME_NAME, OnnxClassifier

        estimator = OnnxClassifier(model)
        err_console.print(f"{model}: running with {RUNTIME_NAME}", highlight=False, markup=False, soft_wrap=True)
    else:
        estimator = load_model(model)
    temperature, score = None, "max_proba"
    if abstain:
        selective = stored_selective_onnx(estimator) if onnx else stored_selective(model)
        threshold = float(selective["threshold"])
        if selective.get("calibrated") and selective.get("temperature"):
            temperature = float(selective["temperature"])
        score = selective.get("score", "max_proba")
        risk = selective.get("target_risk")
        err_console.print(f"abstaining below {score} {threshold:.3f}" + (f" (target risk {risk:g})" if risk else "")
                          + (f", temperature {temperature:.3f}" if temperature else ""), highlight=False)
    predictions = predict_images(estimator, images, segment=not single, context=context, threshold=threshold,
                                 temperature=temperature, score=score, rejector=rejector)
    _print_predictions(predictions, rejector)
    if out is not None:
        write_predictions(predictions, out)
        console.print(f"wrote {out}", highlight=False)
    if show is not None:
        write_sheet(predictions, show, title=f"hwr-eval predict: {model.name}")
        console.print(f"wrote {show}", highlight=False)


@data_app.command("sample-image")
@user_errors
def sample_image(
    text: Annotated[str, typer.Option("--text", help="Characters to write, e.g. A7B3 (each must be a class of the data).")],
    out: Annotated[Path, typer.Option("--out", help="Image file to write (.jpg, .png, .tif, .bmp, .gif).",
                                      dir_okay=False)] = Path("sample.jpg"),
    height: Annotated[int, typer.Option("--height", help="Pixels per character frame.", min=28, max=2000)] = 120,
    data: DataOpt = None,
    classes: ClassesOpt = "36",
    seed: SeedOpt = 0,
) -> None:
    """Write an example "scan": test-split characters of your data as dark ink on paper, tilted, JPEG.

    Something to try `hwr-eval predict` on. The characters come from the test split (never trained on).
    """
    import numpy as np

    from ..data import render_scan, save_scan

    text = text.strip().upper()
    if not text:
        raise HwrError("--text is empty; give characters such as A7B3")
    dataset = load_data_for_cli(data, classes, 2000, "random", 0)
    rng = np.random.default_rng(seed)
    picks = []
    for char in text:
        where = np.flatnonzero(dataset.y_test == char)
        if where.size == 0:
            raise HwrError(f"--text {text!r}: {char!r} is not a class of this data ({''.join(dataset.classes)})")
        picks.append(dataset.X_test[rng.choice(where)])
    image = render_scan(np.stack(picks), height=height, random_state=rng)
    save_scan(image, out)
    console.print(f"wrote {out} ({image.width}x{image.height} px, '{text}' from the test split)", highlight=False)
