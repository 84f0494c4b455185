"""``hwr-eval export``: every saved model of a run folder as an ONNX file, ``OUT/<model>.onnx``.

>>> export_run("reports/compare-x", "onnx")            # doctest: +SKIP
[PosixPath('onnx/knn.onnx'), PosixPath('onnx/cnn.onnx')]
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import HwrError
from ..models._onnx import check_new_file, require_onnx, to_onnx, write_new_file
from ..runs import RunFolder, check_output, read_record

#: Export formats (``--format``); ONNX is the one there is.
EXPORT_FORMATS = ("onnx",)


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *, models: Sequence[str] | None = None,
               fmt: str = "onnx") -> list[Path]:
    """Export the saved models of ``run_dir`` (``RUN/models/<name>.joblib``) as ``out_dir/<name>.onnx``.

    Parameters
    ----------
    run_dir : path-like
        A run folder written with ``--save-models``.
    out_dir : path-like
        Folder for the files (made if missing); not inside a run folder.
    models : sequence of str, optional
        Names of the run's models to export; default: every saved one.
    fmt : {"onnx"}, default="onnx"
        The export format.

    Returns
    -------
    list of Path
        The files written, in the run's model order.

    Raises
    ------
    HwrError
        Before any export: an unknown format, the onnx extra missing, a run without saved models, an unknown
        or unsaved model name, an output file that exists. Then: a model with no ONNX form. All models are
        converted before the first file is written, so a failure leaves no file behind; each file is
        written whole under a temporary name and linked into place, never replacing one.
    """
    if fmt not in EXPORT_FORMATS:
        raise HwrError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    require_onnx()
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    record = read_record(run_dir)
    folder = RunFolder(run_dir, record)
    saved = [name for name, result in record.models.items() if result.files.get("model")]
    if not saved:
        raise HwrError(f"{run_dir}: no saved models (RUN/models/<name>.joblib); rerun with --save-models")
    names = list(models) if models else saved
    for name in names:
        if name not in record.models:
            close = difflib.get_close_matches(str(name), list(record.models), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise HwrError(f"{run_dir}: no model {name!r} in this run{hint}; it has {', '.join(record.models)}")
        if Path(name).name != name or name in ("", ".", ".."):
            raise HwrError(f"{run_dir / 'results.json'}: model name {name!r} is not a plain file name")
    targets = [out_dir / f"{name}.{fmt}" for name in names]
    inputs = [folder.model_file(name) for name in names]  # also: one line for a model that was not saved
    for target in targets:
        check_output(target, inputs=inputs, what="--out")
        check_new_file(target)
    exported = [_with_selective(to_onnx(folder.load_model(name), name=name), record.models[name].selective).SerializeToString()
                for name in names]
    for target, data in zip(targets, exported):
        write_new_file(target, data)
    return targets


def _with_selective(proto, selective):
    """Add the run's stored abstention setting (``results.json`` -> ``models.NAME.selective``) as the ``selective``
    metadata, so ``hwr-eval predict --abstain`` works with the file alone."""
    if isinstance(selective, dict) and isinstance(selective.get("threshold"), (int, float)):
        entry = proto.metadata_props.add()
        entry.key, entry.value = "selective", json.dumps(selective)
    return proto


def stored_selective_onnx(model) -> dict:
    """The abstention setting an export carries (see :func:`export_run`), or one line saying there is none."""
    try:
        selective = json.loads(model.metadata.get("selective") or "null")
    except ValueError:
        selective = None
    if not isinstance(selective, dict) or not isinstance(selective.get("threshold"), (int, float)):
        raise HwrError(f"{model.name}: no abstention threshold stored in this ONNX file (exported from a run whose "
                       "results.json holds one, it carries it); give --threshold P")
    return selective


__all__ = ["EXPORT_FORMATS", "export_run", "stored_selective_onnx"]
