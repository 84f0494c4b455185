"""Which file gives which classes: the known sources, their priority per class group, and the choice.

Uppercase means uppercase: the "uppercase" group takes, in this order, Kaggle A-Z, EMNIST byclass (its
uppercase classes only) and FEMNIST, which all hold only uppercase glyphs in their 'A'-'Z' classes.
EMNIST letters and EMNIST balanced merge upper and lower case ('A' holds handwritten 'a' too: a different,
harder task), so they are used for uppercase only when nothing else is present, and the choice is then
flagged as mixed case everywhere (command line, ``data info``, ``results.json``, report). The class sets
``letters-merged`` / ``36-merged`` ask for EMNIST letters' case-merged classes explicitly.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from . import _readers as readers
from ._drawn import drawn_files, read_drawn_set
from ._readers import ImageSet

CLASS_SETS = {
    "36": string.digits + string.ascii_uppercase,
    "digits": string.digits,
    "letters": string.ascii_uppercase,
    "62": string.digits + string.ascii_uppercase + string.ascii_lowercase,
    # EMNIST letters' 26 classes, each holding both cases ('A' = A or a), labelled 'A'-'Z'.
    "36-merged": string.digits + string.ascii_uppercase,
    "letters-merged": string.ascii_uppercase,
}
# The class groups each class set is made of; every group takes its source on its own.
CLASS_SET_GROUPS = {
    "36": ("digits", "uppercase"),
    "digits": ("digits",),
    "letters": ("uppercase",),
    "62": ("digits", "uppercase", "lowercase"),
    "36-merged": ("digits", "merged letters"),
    "letters-merged": ("merged letters",),
}
GROUP_CLASSES = {"digits": string.digits, "uppercase": string.ascii_uppercase,
                 "lowercase": string.ascii_lowercase, "merged letters": string.ascii_uppercase}


@dataclass(frozen=True)
class _Source:
    name: str
    reader: Callable[[Path], ImageSet | None]
    names: tuple[str, ...]  # file names that reveal the source (without .gz)
    normalize: bool = False  # needs NIST-style size normalisation
    finder: Callable[[Path], list[Path]] | None = None  # for a source without fixed file names

    def files(self, directory: Path) -> list[Path]:
        if self.finder is not None:
            return self.finder(directory)
        found = (readers.find_file(directory, name) for name in self.names)
        return sorted({p for p in found if p is not None})


_IDX = ("-images-idx3-ubyte", "-labels-idx1-ubyte")
SOURCES = {
    "MNIST": _Source("MNIST", readers.read_mnist, tuple(n for names in readers.MNIST_FILES.values() for n in names)),
    "Kaggle MNIST CSV": _Source("Kaggle MNIST CSV", readers.read_kaggle_mnist_csv, tuple(readers.KAGGLE_MNIST_CSV.values())),
    "Kaggle A-Z": _Source("Kaggle A-Z", readers.read_kaggle_az_csv, (readers.KAGGLE_AZ_CSV,)),
    **{
        f"EMNIST {split}": _Source(
            f"EMNIST {split}", lambda d, s=split: readers.read_emnist(d, s),
            tuple(f"emnist-{split}-{p}{k}" for p in ("train", "test") for k in _IDX) + (f"emnist-{split}-mapping.txt",),
        )
        for split in readers.EMNIST_SPLITS
    },
    "FEMNIST": _Source("FEMNIST", readers.read_femnist_npz, (readers.FEMNIST_NPZ,), normalize=True),
    # Your own labelled drawings (``hwr-eval serve --collect DIR``, or made by hand): DIR/<class>/*.png.
    "drawn": _Source("drawn", read_drawn_set, (), finder=drawn_files),
}
# Best source first for each group of classes. For uppercase, the sources whose letter classes mix cases
# come last: they answer a different question than the study's uppercase-only one.
# Drawings come last: they are used when the data folder is a folder of drawings.
PRIORITY = {
    "digits": ("MNIST", "Kaggle MNIST CSV", "EMNIST byclass", "EMNIST balanced", "drawn"),
    "uppercase": ("Kaggle A-Z", "EMNIST byclass", "FEMNIST", "EMNIST letters", "EMNIST balanced", "drawn"),
    "lowercase": ("EMNIST byclass", "FEMNIST", "EMNIST balanced", "drawn"),
    "merged letters": ("EMNIST letters",),
}
# Sources whose 'A'-'Z' classes hold lowercase glyphs too: EMNIST letters merges all 26 pairs, EMNIST
# balanced the 15 whose shapes are alike (C I J K L M O P S U V W X Y Z).
MIXED_CASE = {"EMNIST letters", "EMNIST balanced"}
# Sources whose samples carry writer information (own writer-disjoint train/test, or writer ids).
WRITER_AWARE = {"MNIST", "Kaggle MNIST CSV", "EMNIST letters", "EMNIST byclass", "EMNIST balanced", "FEMNIST"}


@dataclass(frozen=True)
class Choice:
    """The source chosen for one class group and why.

    ``reason`` is ``"priority"`` (the best source present), ``"only mixed-case"`` (uppercase from a source
    that merges cases, because nothing else is present) or ``"explicit"`` (a ``*-merged`` class set).
    """

    group: str
    source: _Source
    files: list[Path]
    reason: str
    why: str
    also_present: tuple[str, ...] = ()

    @property
    def mixed_case(self) -> bool:
        """True when this group's letter classes hold both upper- and lowercase glyphs."""
        return self.group in ("uppercase", "merged letters") and self.source.name in MIXED_CASE


def mixed_case_warning(source: str) -> str:
    """The loud line shown wherever uppercase letters come from a case-merging source."""
    return (f"MIXED-CASE letters: no uppercase-only source was found, so the letters come from {source}, whose "
            "'A'-'Z' classes hold lowercase glyphs too (a different, harder task than uppercase letters). For "
            "uppercase-only letters run `hwr-eval data fetch emnist` (EMNIST byclass) or `hwr-eval data fetch "
            "kaggle`; to ask for merged letters on purpose use --classes letters-merged or 36-merged")


def plan_sources(directory: Path, classes: str, split: str) -> dict[str, Choice]:
    """For each class group of ``classes``, the best source present in ``directory`` and why it was chosen."""
    plan = {}
    for group in CLASS_SET_GROUPS[classes]:
        order = PRIORITY[group]
        present = [name for name in order if SOURCES[name].files(directory)]
        usable = [name for name in present if split != "writer" or name in WRITER_AWARE]
        if not usable:
            extra = " with writer information" if split == "writer" else ""
            hint = " (run `hwr-eval data fetch emnist`)" if group == "merged letters" else ""
            raise DataError(f"{directory}: no source of {group}{extra} found (looked for {', '.join(order)}){hint}")
        name = usable[0]
        better = order[:order.index(name)]
        skipped = [n for n in better if n in present]
        missing = [n for n in better if n not in present]
        context = "; ".join(([f"not found: {', '.join(missing)}"] if missing else [])
                            + ([f"split=writer skips {', '.join(skipped)} (no writer ids)"] if skipped else []))
        context = f" ({context})" if context else " (first choice)"
        if group == "merged letters":
            reason, why = "explicit", f"asked for with --classes {classes}: EMNIST letters' 26 case-merged classes"
        elif group == "uppercase" and name in MIXED_CASE:
            reason, why = "only mixed-case", f"ONLY MIXED-CASE source present: {name} merges upper and lower case{context}"
        else:
            reason, why = "priority", f"best source present{context}"
        plan[group] = Choice(group, SOURCES[name], SOURCES[name].files(directory), reason, why,
                             tuple(n for n in present if n != name))
    return plan


__all__ = ["CLASS_SETS", "CLASS_SET_GROUPS", "GROUP_CLASSES", "MIXED_CASE", "PRIORITY", "SOURCES", "Choice",
           "mixed_case_warning", "plan_sources"]
