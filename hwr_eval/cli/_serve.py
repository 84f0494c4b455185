"""``hwr-eval serve``: draw a character in the browser and see what every model of a run answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import HwrError
from ._common import app, console, err_console, user_errors


@app.command("serve")
@user_errors
def serve(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by `hwr-eval compare --save-models`.",
                                            file_okay=False, show_default=False)],
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (default: a free one).",
                                             show_default=False)] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on. Anything but 127.0.0.1 / localhost "
                                      "lets everyone on the network use the server.")] = "127.0.0.1",
    collect: Annotated[Path | None, typer.Option("--collect", help="Save drawings whose label you confirm as "
                                                 "DIR/<class>/<time>-<n>.png (read back by `hwr-eval predict` and "
                                                 "read_drawn).", file_okay=False, show_default=False)] = None,
    onnx: Annotated[bool, typer.Option("--onnx", help="Answer with ONNX Runtime: each model is exported in memory "
                                       "first (needs the onnx extra).")] = False,
) -> None:
    """Serve a page to draw a character (or upload a photo) and see every saved model's answer.

    Each model shows its top 3 classes, whether it abstains at the run's target risk, and the 28x28 input
    it saw; a context choice restricts the answer to digits or letters. With --collect, confirmed drawings
    build your own test set. A JSON API (/api/predict, /api/models) is documented at /docs. Ctrl-C stops.
    """
    try:
        from ..serve import serve as run_server
    except ImportError as exc:
        raise HwrError(f"hwr-eval serve needs the serve extra: pip install 'hwr-eval[serve]' ({exc.name} is missing)") from None

    def announce(line: str) -> None:
        target = err_console if line.startswith("WARNING") else console
        style = "bold red" if line.startswith("WARNING") else None
        target.print(line, style=style, highlight=False, markup=False, soft_wrap=True)

    run_server(run_dir, host=host, port=port, collect_dir=collect, announce=announce, onnx=onnx)
