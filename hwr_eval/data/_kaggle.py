"""``hwr-eval data fetch kaggle``: the study's own uppercase letters, Kaggle's "A-Z Handwritten Alphabets".

Kaggle serves datasets only to signed-in users, so this goes through the official ``kaggle`` package
(imported lazily: it is not a dependency of hwr-eval) and the user's API credentials. The dataset is
downloaded into a scratch folder inside the target folder, two levels down so that
:func:`hwr_eval.load_dataset` never sees a partial file there, checked against the published size and
sha256, and only then renamed to its final name. Failures and Ctrl-C remove the scratch folder.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import DataError
from ._fetch import CHUNK, data_cache_dir, file_digest

SCRATCH_PREFIX = ".kaggle-download-"
CREDENTIALS_HELP = ("create an API token at https://www.kaggle.com/settings, save it as ~/.kaggle/kaggle.json "
                    "(or set KAGGLE_USERNAME and KAGGLE_KEY), then run again")


@dataclass(frozen=True)
class KaggleFile:
    """One file of a Kaggle dataset and its published size and sha256."""

    dataset: str  # "owner/slug"
    filename: str
    size: int
    sha256: str


KAGGLE_AZ = KaggleFile(
    "sachinpatel21/az-handwritten-alphabets-in-csv-format",
    "A_Z Handwritten Data.csv",
    698_907_044,
    "75dc66675c0ec478b46d74769c6e5866d0568025fe20f5fffc46b3769b5b43dc",
)


class KaggleApiLike(Protocol):
    """The two calls of ``kaggle.api.kaggle_api_extended.KaggleApi`` that the download uses."""

    def authenticate(self) -> None: ...

    def dataset_download_files(self, dataset: str, path: str | None = None, force: bool = False,
                               quiet: bool = True, unzip: bool = False) -> None: ...


def kaggle_credentials() -> str | None:
    """Where the Kaggle credentials are (an environment variable or a file), else None.

    Looks where the ``kaggle`` package does: ``KAGGLE_USERNAME`` + ``KAGGLE_KEY``, ``KAGGLE_API_TOKEN``,
    then ``kaggle.json`` / ``access_token`` / ``credentials.json`` in ``$KAGGLE_CONFIG_DIR``,
    ``~/.kaggle`` or ``$XDG_CONFIG_HOME/kaggle``.
    """
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    home = Path.home()
    folders = [Path(os.environ["KAGGLE_CONFIG_DIR"])] if os.environ.get("KAGGLE_CONFIG_DIR") else []
    folders += [home / ".kaggle", Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"]
    for folder in folders:
        for name in ("kaggle.json", "access_token", "credentials.json"):
            if (folder / name).is_file():
                return str(folder / name)
    return None


def _kaggle_installed() -> bool:
    try:
        return importlib.util.find_spec("kaggle") is not None
    except (ImportError, ValueError):
        return False


def kaggle_api() -> KaggleApiLike:
    """A new ``KaggleApi`` of the installed ``kaggle`` package (imported here, when needed)."""
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError as exc:
        if not _kaggle_installed():
            raise DataError("the Kaggle download needs the kaggle package: pip install kaggle") from None
        raise DataError(f"the kaggle package is installed but cannot be imported ({_short(exc)}): "
                        "pip install --upgrade kaggle") from None
    except (OSError, SystemExit) as exc:  # kaggle < 2 authenticates when imported
        raise DataError(f"Kaggle did not accept the credentials ({_short(exc)}); {CREDENTIALS_HELP}") from None
    return KaggleApi()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    first = first if len(first) <= 160 else first[:157] + "..."  # requests' errors run to 400 characters
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _matches(path: Path, resource: KaggleFile) -> str | None:
    """Why ``path`` is not the published file (size first: hashing 700 MB takes seconds), else None."""
    size = path.stat().st_size
    if size != resource.size:
        return f"{size:,} bytes, expected {resource.size:,}"
    if file_digest(path) != resource.sha256:
        return "sha256 mismatch"
    return None


def _find(folder: Path, filename: str) -> Path | None:
    """``filename`` anywhere under ``folder``, taken out of a zip archive there if need be."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name == filename:
            return path
    for archive in sorted(folder.rglob("*.zip")):
        try:
            with zipfile.ZipFile(archive) as zf:
                member = next((m for m in zf.namelist() if Path(m).name == filename), None)
                if member is not None:
                    target = archive.parent / f"unzipped-{filename}"
                    with zf.open(member) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)
                    return target
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataError(f"{archive.name} from Kaggle cannot be read ({_short(exc)}); run again") from None
    return None


def fetch_kaggle(
    dest: str | Path | None = None,
    resource: KaggleFile | None = None,
    api_factory: Callable[[], KaggleApiLike] | None = None,
    progress: bool = True,
) -> Path:
    """Download a Kaggle dataset file into ``dest`` (default :func:`data_cache_dir`), verified; return its path.

    Parameters
    ----------
    dest : path-like, optional
        Target folder; :func:`hwr_eval.load_dataset` finds the file there.
    resource : KaggleFile, optional
        Dataset, file name and published size / sha256; default ``KAGGLE_AZ`` (looked up at call time).
    api_factory : callable, optional
        Returns an object with ``authenticate()`` and ``dataset_download_files(dataset, path=, quiet=,
        unzip=)``; default: the ``kaggle`` package's ``KaggleApi``.
    progress : bool, default=True
        Let the ``kaggle`` package show its progress bar.

    Raises
    ------
    DataError
        The ``kaggle`` package or the credentials are missing, Kaggle refused the download, or the file
        does not match its published size and sha256. Nothing is left behind.
    """
    resource = KAGGLE_AZ if resource is None else resource
    dest = Path(dest) if dest is not None else data_cache_dir()
    target = dest / resource.filename
    if target.is_file() and _matches(target, resource) is None:
        return target
    if api_factory is None:
        if not _kaggle_installed():
            raise DataError("the Kaggle download needs the kaggle package: pip install kaggle")
        api_factory = kaggle_api
    # Checked before the package is imported: kaggle >= 2 prints a page of help when it finds none.
    if kaggle_credentials() is None:
        raise DataError(f"no Kaggle credentials found: {CREDENTIALS_HELP}")
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.glob(SCRATCH_PREFIX + "*"):  # left by a killed download
        shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=dest))
    try:
        api = api_factory()
        try:
            api.authenticate()
        except (Exception, SystemExit) as exc:  # kaggle calls exit(1) or raises on bad credentials
            raise DataError(f"Kaggle did not accept the credentials ({_short(exc)}); {CREDENTIALS_HELP}") from None
        download = scratch / "download"  # two levels below dest: never mistaken for data by load_dataset
        download.mkdir()
        try:
            api.dataset_download_files(resource.dataset, path=str(download), quiet=not progress, unzip=True)
        except (Exception, SystemExit) as exc:
            # The kaggle package raises HTTP errors of requests, its SDK's own errors, ValueError, ...: all
            # mean the same to the user. KeyboardInterrupt is not caught: it propagates after the cleanup.
            raise DataError(f"Kaggle refused or broke off the download of {resource.dataset} ({_short(exc)}); "
                            f"check the network and that https://www.kaggle.com/datasets/{resource.dataset} "
                            "opens when signed in, then run again") from None
        found = _find(download, resource.filename)
        if found is None:
            names = ", ".join(sorted(p.name for p in download.rglob("*") if p.is_file())) or "nothing"
            raise DataError(f"the Kaggle download of {resource.dataset} holds no {resource.filename!r} "
                            f"(got {names}); nothing was kept")
        problem = _matches(found, resource)
        if problem:
            raise DataError(f"{resource.filename} from Kaggle does not match its published size and sha256 ({problem}); "
                            "nothing was kept: run again, and report it if it persists")
        os.replace(found, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


__all__ = ["KAGGLE_AZ", "KaggleFile", "fetch_kaggle", "kaggle_api", "kaggle_credentials"]
