"""Assemble and write ``report.html`` from a run folder."""

from __future__ import annotations

from pathlib import Path

from ..io import atomic_write_text
from ..runs import RunFolder, check_output, open_run
from ._html import _anchor, _text, _when, esc
from ._reliability import reliability_section
from ._robustness import robustness_section
from ._sections import _banners, _comparison_section, _data_section, _grid_section, _model_section, _summary_section
from ._seeds import SECTION_ID as SEEDS_ID
from ._seeds import seeds_section
from ._unknowns import SECTION_ID as UNKNOWN_ID
from ._unknowns import SECTION_TITLE as UNKNOWN_TITLE
from ._unknowns import unknown_section

CSS = """
:root { --fg:#1d2430; --muted:#5b6675; --line:#dde2e8; --accent:#2f5f9e; --bg:#ffffff; --soft:#f5f7fa; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; color:var(--fg); background:var(--bg); }
.wrap, main { max-width:1240px; margin:0 auto; padding-left:32px; padding-right:32px; }
header { background:#1f3552; color:#fff; padding:18px 0; }
header h1 { margin:0; font-size:24px; }
header p { margin:4px 0 0; color:#c9d6e6; font-size:14px; word-break:break-word; }
header code { color:#fff; }
nav { position:sticky; top:0; z-index:2; background:var(--soft); border-bottom:1px solid var(--line); padding:8px 0; font-size:14px; }
nav a { margin-right:14px; white-space:nowrap; }
main { padding-top:8px; padding-bottom:48px; }
section { border-bottom:1px solid var(--line); padding:8px 0 20px; }
h2 { font-size:21px; margin:22px 0 10px; color:#1f3552; }
h3 { font-size:16px; margin:20px 0 8px; }
a { color:var(--accent); }
code { font:13px/1.4 ui-monospace,"DejaVu Sans Mono",monospace; word-break:break-all; }
.banner { margin:16px 0 0; padding:12px 16px; border-radius:6px; border:1px solid; font-size:15px; }
.banner.synthetic { background:#fff4d6; border-color:#e0b54a; color:#5c4300; }
.banner.incomplete { background:#fde3e1; border-color:#d9534f; color:#6b1a17; }
.banner.mixed-case { background:#fff4d6; border-color:#e0b54a; color:#5c4300; }
.cols { display:flex; flex-wrap:wrap; gap:24px; align-items:flex-start; }
.cols > * { min-width:0; }
figure { margin:8px 0; max-width:100%; }
figure img { max-width:100%; height:auto; display:block; }
figcaption { color:var(--muted); font-size:13px; margin-top:4px; }
table { border-collapse:collapse; margin:8px 0; font-size:13.5px; }
caption { text-align:left; color:var(--muted); font-size:13px; padding-bottom:4px; }
th, td { padding:3px 10px; border-bottom:1px solid var(--line); text-align:left; }
th { background:var(--soft); font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
tr.best td { font-weight:600; background:#eef5ff; }
tr.weak td { background:#fde3e1; color:#6b1a17; font-weight:600; }
dl { display:grid; grid-template-columns:max-content minmax(0,1fr); gap:3px 16px; margin:8px 0; max-width:720px; }
dt { color:var(--muted); }
dd { margin:0; word-break:break-word; }
details { margin:8px 0; }
summary { cursor:pointer; color:var(--accent); }
.headline { font-size:15px; background:var(--soft); padding:8px 12px; border-radius:6px; }
.note { color:var(--muted); font-size:13px; margin:4px 0; max-width:300px; }
.per-class { max-height:820px; overflow-y:auto; }
.per-class table { margin-top:0; font-size:12.5px; }
.per-class th, .per-class td { padding:1px 8px; line-height:1.35; }
.note.wide { max-width:none; }
.samples { display:grid; grid-template-columns:repeat(auto-fit, minmax(300px, 1fr)); gap:16px; }
.hash { font-size:12px; }
.top { text-align:right; font-size:13px; margin:0; }
"""

# Records, for humans and for the headless-browser test, that every image decoded and nothing failed.
SCRIPT = """
(function () {
  var root = document.documentElement, errors = 0;
  window.addEventListener("error", function () { root.dataset.errors = String(++errors); }, true);
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var ok = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
    root.dataset.imagesLoaded = ok + "/" + images.length;
  });
})();
"""


def render_report(run: RunFolder) -> str:
    """The complete HTML document for a loaded run folder."""
    results = run.results
    names = list(results["models"])
    taken: set[str] = set()
    anchors = {name: _anchor(name, taken) for name in names}
    toc = ['<a href="#summary">Summary</a>', '<a href="#data">Data</a>', '<a href="#comparison">Comparison</a>']
    toc.append('<a href="#reliability">Abstention</a>')
    if isinstance(results.get("grid"), dict):
        toc.append('<a href="#grid">Grid search</a>')
    if results.get("robustness") is not None or results.get("mnist_c") is not None:
        toc.append('<a href="#robustness">Robustness</a>')
    if run.seeds is not None:
        toc.append(f'<a href="#{SEEDS_ID}">Across runs</a>')
    if run.unknowns is not None:
        toc.append(f'<a href="#{UNKNOWN_ID}">{UNKNOWN_TITLE}</a>')
    toc += [f'<a href="#{anchors[n]}">{esc(n)}</a>' for n in names]
    title = f"hwr-eval {results.get('kind', 'run')} report — {_when(results.get('created'))}"
    body = [
        _summary_section(results),
        _data_section(run),
        _comparison_section(run, anchors),
        reliability_section(run),
        _grid_section(run),
        robustness_section(run),
        seeds_section(run.seeds, run.comparisons) if run.seeds is not None else "",
        unknown_section(run),
        *(_model_section(run, name, anchors[name]) for name in names),
    ]
    if not names:
        body.append('<section id="models"><h2>Models</h2><p>No model finished.</p></section>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style><script>{SCRIPT}</script></head>"
        f'<body><header id="top"><div class="wrap"><h1>{esc(title)}</h1>'
        f'<p><code>{_text(results.get("command"))}</code></p></div></header>'
        f'<nav aria-label="Contents"><div class="wrap">{"".join(toc)}</div></nav>'
        f'<main>{_banners(results)}{"".join(body)}</main>'
        "</body></html>\n"
    )


def build_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Build the self-contained HTML report of a run folder and write it atomically.

    Parameters
    ----------
    run_dir : str or Path
        Folder written by ``hwr-eval compare`` or ``grid`` (see ``docs/results-schema.md``).
    out : str or Path, optional
        Where to write the report; default ``RUN_DIR/report.html``.

    Returns
    -------
    Path
        The written report.

    Raises
    ------
    HwrError
        When the folder, ``results.json`` or a file it names is missing or malformed; nothing is written.
    """
    run = open_run(run_dir)
    out = check_output(out, what="report --out") if out is not None else run.path / "report.html"
    document = render_report(run)
    atomic_write_text(out, document)
    return out
