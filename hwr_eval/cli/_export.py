"""``hwr-eval export RUN --format onnx --out DIR``: a run's saved models as ONNX files for ONNX Runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import app, console, user_errors


@app.command("export")
@user_errors
def export_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by `hwr-eval compare --save-models`.",
                                            file_okay=False, show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Folder for the files, one <model>.onnx per model (made if "
                                      "missing; an existing file is never replaced).", file_okay=False,
                                      show_default=False)],
    model: Annotated[list[str] | None, typer.Option("--model", help="Export only this model of the run "
                                                    "(repeatable, or a comma list; default: every saved model).",
                                                    show_default=False, metavar="NAME")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Export format: onnx.", metavar="FORMAT")] = "onnx",
) -> None:
    """Export a run's saved models as ONNX files that take raw pixels and give probabilities and labels.

    Each file holds the model's pixel scaling, so it takes (n, 784) float32 pixels like the model; the
    class names and the hwr-eval version are in its metadata. Run one with ONNX Runtime, or with
    `hwr-eval predict --model DIR/NAME.onnx IMAGE`.
    """
    from ..workflows import export_run

    names = [name.strip() for item in model or [] for name in item.split(",") if name.strip()] or None
    written = export_run(run_dir, out, models=names, fmt=fmt)
    for path in written:
        console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", highlight=False, markup=False, soft_wrap=True)
    console.print(f"read images with one: hwr-eval predict --model {written[0]} IMAGE...  (ONNX Runtime)",
                  highlight=False, markup=False, soft_wrap=True)
