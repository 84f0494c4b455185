"""HTML building blocks of the report: embedded figures, tables and value formatting (all escaped)."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import struct
from collections.abc import Iterable, Sequence

from matplotlib.figure import Figure

#: PNG resolution; images are displayed at 96 CSS px per inch, so 144 dpi stays sharp on HiDPI screens.
DPI = 144


esc = html.escape


def _png_size(png: bytes) -> tuple[int, int]:
    # The IHDR chunk always comes first: width and height are big-endian at bytes 16-24.
    return struct.unpack(">II", png[16:24])


def figure_html(fig: Figure, alt: str, caption: str | None = None) -> str:
    """Render ``fig`` to an embedded PNG ``<figure>`` with alt text and an optional caption."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    png = buffer.getvalue()
    width, height = _png_size(png)
    scale = 96 / DPI
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    shown = round(width * scale)
    # The caption wraps at the image's width instead of widening the figure beside other figures.
    cap = f'<figcaption style="max-width:{shown}px">{esc(caption)}</figcaption>' if caption else ""
    return (f'<figure><img src="{uri}" alt="{esc(alt)}" width="{shown}" '
            f'height="{round(height * scale)}">{cap}</figure>')


def html_table(header: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Sequence[str] | None = None,
               numeric: Sequence[bool] | None = None, caption: str | None = None) -> str:
    """A plain table; ``rows`` hold already-escaped cell HTML, ``header`` plain text."""
    numeric = list(numeric) if numeric else [False] * len(header)
    head = "".join(f'<th{" class=num" if num else ""}>{esc(h)}</th>' for h, num in zip(header, numeric))
    body = []
    for k, row in enumerate(rows):
        css = f' class="{esc(row_classes[k])}"' if row_classes and row_classes[k] else ""
        cells = "".join(f'<td{" class=num" if num else ""}>{cell}</td>' for cell, num in zip(row, numeric))
        body.append(f"<tr{css}>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _pct(value, digits: int = 1) -> str:
    try:
        return f"{100 * float(value):.{digits}f}%"
    except (TypeError, ValueError):
        return "—"


def _num(value, fmt: str = ".3f") -> str:
    try:
        return format(float(value), fmt)
    except (TypeError, ValueError):
        return "—"


def _seconds(value) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    if value >= 120:
        return f"{value / 60:.1f} min"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _int(value) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—"


def _text(value) -> str:
    """Escape any JSON value for display: strings as they are, the rest as compact JSON."""
    if value is None:
        return "—"
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return esc(", ".join(map(str, value)))
    return esc(value if isinstance(value, str) else json.dumps(value, sort_keys=True))


def _when(created) -> str:
    """ISO timestamp as "2026-11-25 10:00 UTC+00:00"; anything unparsable as it is."""
    from datetime import datetime

    try:
        stamp = datetime.fromisoformat(str(created))
    except ValueError:
        return str(created)
    zone = f" {stamp.tzname()}" if stamp.tzinfo else ""
    return stamp.strftime("%Y-%m-%d %H:%M") + zone


def _anchor(name: str, taken: set[str]) -> str:
    base = "model-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "x")
    anchor, k = base, 2
    while anchor in taken:
        anchor, k = f"{base}-{k}", k + 1
    taken.add(anchor)
    return anchor


def _dl(items: Iterable[tuple[str, str]]) -> str:
    """Definition list from (plain label, escaped value html)."""
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


# --------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------
