"""Plain words for run-record values, shared by the HTML report and the terminal summary.

Each function turns one raw record value (``results.json``, ``docs/results-schema.md``) into what a
reader needs: the device actually used, learned parameters rather than stored pixels, images per data
source rather than per file, whether a network hit its epoch limit still improving, and abstention.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

#: Pixels per stored image: a k-NN's recorded "parameters" are its training images times this.
PIXELS_PER_IMAGE = 28 * 28
#: Words in a recorded device name that mark a GPU (``torch.cuda.get_device_name``); a CPU name has none.
_GPU_WORDS = re.compile(r"nvidia|tesla|geforce|quadro|rtx|radeon|instinct|cuda", re.IGNORECASE)


def device_text(settings: Mapping, environment: Mapping) -> str:
    """The device a run used, e.g. ``"cpu (AMD EPYC 7763)"``; ``device`` None or "auto" is resolved.

    "auto" means CUDA when available, else the CPU; the environment record names the GPU when one was
    used and the CPU otherwise, which tells the two apart.
    """
    asked = settings.get("device")
    name = environment.get("device_name")
    if asked in (None, "auto"):
        used = "cuda" if name and _GPU_WORDS.search(str(name)) else "cpu"
        chosen = ", chosen automatically"
    else:
        used, chosen = str(asked), ""
    detail = [str(name)] if name and str(name) != used else []
    return used + (f" ({detail[0]}{chosen})" if detail else (f" ({chosen[2:]})" if chosen else ""))


def is_empty_setting(value) -> bool:
    """True for a setting that says nothing: None, or an empty dict, list or string (e.g. ``overrides {}``)."""
    return value is None or (isinstance(value, (dict, list, tuple, str)) and len(value) == 0)


def stores_training_set(params: Mapping) -> bool:
    """True for a model without learned weights whose "model" is its training set (k-NN)."""
    return "n_neighbors" in params


def learned_parameters_text(params: Mapping, n_parameters: int | None, short: bool = False) -> str:
    """Learned parameters, or for a k-NN "— (kNN stores 45,000 images)" (``short``: "— (kNN)").

    ``n_parameters`` (:func:`hwr_eval.models.n_parameters`) counts a k-NN's stored training pixels;
    calling those parameters would rank a lookup table as the biggest model.
    """
    if stores_training_set(params):
        if short:
            return "— (kNN)"
        images = stored_images(n_parameters)
        return f"— (kNN stores {images:,} images)" if images else "— (kNN stores its training images)"
    return "—" if n_parameters is None else f"{int(n_parameters):,}"


def stored_images(n_parameters: int | None) -> int | None:
    """Training images a k-NN stores, from its recorded stored-pixel count (None when unknown)."""
    if not n_parameters or n_parameters % PIXELS_PER_IMAGE:
        return None
    return int(n_parameters) // PIXELS_PER_IMAGE


def source_images(sources: Sequence[Mapping]) -> list[dict]:
    """One row per data source: its name, its files and the images it gives (counted once).

    ``data.sources`` lists files; ``n_samples`` is the source's count repeated on each of its files
    (images and labels alike), so it is taken once per source, never summed over files.
    """
    rows: dict[str, dict] = {}
    for s in sources:
        if not isinstance(s, Mapping):
            continue
        row = rows.setdefault(str(s.get("name")), {"name": s.get("name"), "files": [], "n_samples": s.get("n_samples")})
        row["files"].append(s)
        if row["n_samples"] is None:
            row["n_samples"] = s.get("n_samples")
    return list(rows.values())


def epoch_limit_note(history: Sequence[Mapping] | None, max_epochs: int | None = None) -> str | None:
    """A warning when a network's best validation loss came at its last epoch, else None.

    Early stopping keeps the best epoch; when that is the last one training ended at the epoch limit
    (not by early stopping) while still improving, so more epochs would likely help.
    """
    if not history:
        return None
    losses = np.array([np.nan if h.get("valid_loss") is None else float(h["valid_loss"]) for h in history])
    if len(losses) < 2 or np.isnan(losses).all():
        return None
    if max_epochs is not None and len(history) < int(max_epochs):
        return None  # ended before the limit (interrupted or stopped otherwise)
    if int(np.nanargmin(losses)) != len(losses) - 1:
        return None
    return (f"Stopped at the epoch limit ({len(history)} epochs) while the validation loss was still "
            "falling: try more epochs.")


def is_cascade(params: Mapping) -> bool:
    """True for a cascade model (a main model and a sub-model for one confusable pair)."""
    return "pair" in params and any(str(k).startswith("sub__") for k in params)


def abstention_text(name: str, selective: Mapping | None, target_risk: float | None) -> str | None:
    """One sentence on what a model answers on test at the threshold chosen on validation (None: no record)."""
    sel = selective or {}
    test = sel.get("test")
    if not sel.get("available", True) or not test:
        return None
    target = f"target risk {100 * target_risk:g}%" if target_risk is not None else "the target risk"
    if test.get("risk") is None or not test.get("coverage"):
        validation = sel.get("validation") or {}
        why = ("no threshold reaches it on validation" if not validation.get("coverage")
               else "its validation threshold accepts no test image")
        return f"{name} abstains on every test image at {target} ({why})"
    return (f"{name} answers {100 * test['coverage']:.1f}% of test images; {100 * test['risk']:.2f}% wrong "
            f"(95% bound {100 * test['risk_upper']:.2f}%)")
