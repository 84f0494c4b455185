"""``hwr-eval data info | show | fetch``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ._common import (
    ClassesOpt,
    DataOpt,
    PerClassOpt,
    SeedOpt,
    SplitOpt,
    console,
    data_app,
    load_data_for_cli,
    user_errors,
)


@data_app.command("info")
@user_errors
def data_info(
    data: DataOpt = None,
    classes: ClassesOpt = "36",
    per_class: PerClassOpt = 2000,
    split: SplitOpt = "random",
    seed: SeedOpt = 0,
) -> None:
    """Per-class counts per split, the source of each class group and why, the files and their sha256."""

    dataset = load_data_for_cli(data, classes, per_class, split, seed)
    counts = dataset.counts()
    table = Table(title="Images per class and split")
    for column in ("class", "train", "validation", "test", "total"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for label, row in counts.iterrows():
        table.add_row(str(label), *(str(v) for v in row), str(int(row.sum())))
    totals = counts.sum(axis=0)
    table.add_row("all", *(str(int(v)) for v in totals), str(int(totals.sum())), style="bold")
    console.print(table)
    sources = Table(title="Sources")
    sources.add_column("source")
    sources.add_column("file", overflow="fold")
    sources.add_column("sha256", overflow="fold", min_width=64)
    sources.add_column("images used", justify="right")
    for src in dataset.provenance["sources"]:
        name = Path(src["path"]).name if src["path"] else "-"
        sources.add_row(src["name"], name, str(src["sha256"] or "-"), str(src["n_samples"]))
    console.print(f"data folder: {dataset.provenance['data_dir'] or '(none: synthetic)'}", highlight=False)
    console.print(_source_choice_table(dataset.provenance))
    console.print(sources)
    for note in dataset.provenance.get("notes", []):
        console.print(f"note: {note}", highlight=False, markup=False)


def _source_choice_table(provenance: dict) -> Table:
    """Per class group: the source chosen, why, and the images per class it has and gives."""
    table = Table(title="Source per class group")
    for column in ("group", "source", "why", "images per class (available -> used)"):
        table.add_column(column, overflow="fold", justify="right" if column.startswith("images") else "left")
    choices = provenance.get("source_choice") or {}
    if not choices:  # the synthetic demo set
        table.add_row("all", "synthetic", "no real data found", "-")

    def span(counts: dict) -> str:
        return str(counts["min"]) if counts["min"] == counts["max"] else f"{counts['min']}-{counts['max']}"

    for group, choice in choices.items():
        style = "bold red" if choice.get("mixed_case") and choice.get("reason") != "explicit" else None
        why = choice["why"] + (f"; also present: {', '.join(choice['also_present'])}" if choice.get("also_present") else "")
        table.add_row(group, choice["source"], why,
                      f"{span(choice['available_per_class'])} -> {span(choice['per_class'])}", style=style)
    return table


@data_app.command("show")
@user_errors
def data_show(
    out: Annotated[Path, typer.Option("--out", help="PNG file for the sample grid; the class-count chart "
                                      "goes beside it as <name>-counts.png.", dir_okay=False)] = Path("data.png"),
    data: DataOpt = None,
    classes: ClassesOpt = "36",
    per_class: PerClassOpt = 2000,
    split: SplitOpt = "random",
    seed: SeedOpt = 0,
    samples: Annotated[int, typer.Option("--samples", help="Images shown per class.", min=1)] = 10,
) -> None:
    """A grid of sample images per class and the class-count chart, saved as PNG."""
    import numpy as np

    from ..io import atomic_path
    from ..report import plot_class_counts, plot_sample_grid

    dataset = load_data_for_cli(data, classes, per_class, split, seed)
    label = "SYNTHETIC demo data" if dataset.synthetic else ", ".join(
        f"{g}: {s}" for g, s in dataset.provenance["groups"].items())
    X = np.concatenate([dataset.X_train, dataset.X_val, dataset.X_test])
    y = np.concatenate([dataset.y_train, dataset.y_val, dataset.y_test])
    grid = plot_sample_grid(X, y, dataset.classes, per_class=samples, seed=seed, title=f"Samples per class ({label})")
    counts_path = out.with_name(f"{out.stem}-counts{out.suffix or '.png'}")
    chart = plot_class_counts(dataset.counts(), title=f"Images per class and split ({label})")
    for fig, path in ((grid, out), (chart, counts_path)):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    console.print(f"wrote {out} and {counts_path}", highlight=False)


@data_app.command("fetch")
@user_errors
def data_fetch(
    names: Annotated[list[str] | None, typer.Argument(
        help="Datasets: mnist, emnist (public mirrors), kaggle (the study's Kaggle A-Z uppercase letters; needs "
        "`pip install kaggle` and Kaggle credentials in ~/.kaggle/kaggle.json or KAGGLE_USERNAME/KAGGLE_KEY).",
        show_default=False, metavar="NAMES")] = None,
    datasets: Annotated[str | None, typer.Option(
        "--datasets", help="Comma-separated, like NAMES. Default: mnist,emnist.", show_default=False)] = None,
    dest: Annotated[Path | None, typer.Option("--dest", help="Target folder (default: the user cache, "
                                                 "$HWR_CACHE/data).", file_okay=False, show_default=False)] = None,
) -> None:
    """Download datasets into the cache, checksum-verified: MNIST and EMNIST by default, or Kaggle A-Z."""
    from ..data import KAGGLE_AZ, data_cache_dir, fetch

    given = [*(names or []), *((datasets or "").split(","))]
    wanted = list(dict.fromkeys(n.strip().lower() for n in given if n.strip())) or ["mnist", "emnist"]
    folder = dest or data_cache_dir()
    files = fetch(wanted, dest=dest)
    console.print(f"{len(files)} files ready in {folder}", highlight=False)
    if "emnist" in wanted and "kaggle" not in wanted and not (folder / KAGGLE_AZ.filename).is_file():
        console.print("uppercase letters will come from EMNIST byclass; for the study's own Kaggle A-Z letters run "
                      "`hwr-eval data fetch kaggle` (needs a Kaggle account)", highlight=False, markup=False)

