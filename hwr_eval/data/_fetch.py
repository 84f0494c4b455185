"""``hwr-eval data fetch``: download MNIST and EMNIST into the user cache, verified and resumable.

``kaggle`` (the study's Kaggle A-Z letters) goes through the ``kaggle`` package instead: see :mod:`._kaggle`.

Files go to ``cache_dir() / "data"`` (``$HWR_CACHE``, else ``$XDG_CACHE_HOME/hwr-eval``, else
``~/.cache/hwr-eval``), where :func:`hwr_eval.load_dataset` looks when no data directory is given.
A download is written to ``<name>.part`` and resumed with an HTTP Range request after an interruption;
the file only takes its final name once its checksum matches. Files already present are checked again.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError

CHUNK = 1 << 20
KAGGLE = "kaggle"


def cache_dir() -> Path:
    """The user cache folder of hwr-eval: ``$HWR_CACHE``, ``$XDG_CACHE_HOME/hwr-eval`` or ``~/.cache/hwr-eval``."""
    if os.environ.get("HWR_CACHE"):
        return Path(os.environ["HWR_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "hwr-eval"


def data_cache_dir() -> Path:
    """Where ``hwr-eval data fetch`` puts the downloaded datasets."""
    return cache_dir() / "data"


@dataclass(frozen=True)
class Resource:
    """One file to download: its name, mirror URLs tried in order, and its published checksum.

    ``sha256`` is checked when known; EMNIST's distributor publishes only an md5, checked then.
    ``extract`` lists the members to take out of a zip archive (then the archive itself is deleted).
    """

    filename: str
    urls: tuple[str, ...]
    sha256: str | None = None
    md5: str | None = None
    extract: tuple[str, ...] = ()


_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
_MNIST = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_EMNIST_MEMBERS = tuple(
    f"gzip/emnist-{split}-{part}-{kind}-ubyte.gz"
    for split in ("letters", "byclass") for part in ("train", "test") for kind in ("images-idx3", "labels-idx1")
) + ("gzip/emnist-byclass-mapping.txt", "gzip/emnist-letters-mapping.txt")

RESOURCES: dict[str, list[Resource]] = {
    "mnist": [Resource(name, tuple(m + name for m in _MNIST_MIRRORS), sha256=digest) for name, digest in _MNIST.items()],
    "emnist": [
        Resource(
            "emnist-gzip.zip",
            ("https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",),
            md5="58c8d27c78d21e728a6bc7b3cc06412e",
            extract=_EMNIST_MEMBERS,
        )
    ],
}


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:  # hashlib.file_digest would need Python 3.11
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _mismatch(path: Path, resource: Resource) -> str | None:
    """The first published checksum ``path`` does not match, else None."""
    for algorithm in ("sha256", "md5"):
        expected = getattr(resource, algorithm)
        if expected and file_digest(path, algorithm) != expected:
            return algorithm
    return None


def _verify(path: Path, resource: Resource) -> None:
    algorithm = _mismatch(path, resource)
    if algorithm:
        path.unlink(missing_ok=True)
        raise DataError(f"{resource.filename}: {algorithm} mismatch after download (file removed; run again)")


def download(
    url: str,
    dest: Path,
    progress: Callable[[int, int | None], object] | None = None,
    timeout: float = 30.0,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Download ``url`` to ``dest``, resuming a previous ``dest.part`` with an HTTP Range request.

    ``progress``, if given, is called as ``progress(done_bytes, total_bytes_or_None)``. ``check``, if
    given, is called on the complete ``.part`` file and raises :class:`DataError` to refuse it; only a
    file it accepts is renamed to ``dest``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "hwr-eval"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # already complete
            return _finish(part, dest, check)
        raise DataError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"{url}: cannot download ({getattr(exc, 'reason', exc)})") from None
    with response:
        resumed = response.status == 206
        length = response.headers.get("Content-Length")
        total = (int(length) + (have if resumed else 0)) if length else None
        done = have if resumed else 0
        with open(part, "ab" if resumed else "wb") as fh:
            if progress:
                progress(done, total)
            try:
                while chunk := response.read(CHUNK):
                    fh.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            except (OSError, http.client.HTTPException) as exc:
                # Timeouts, resets, IncompleteRead (or a full disk): keep the .part for a resume; let fetch try
                # the next mirror (it only catches DataError).
                raise DataError(f"{url}: download interrupted after {done} bytes ({type(exc).__name__}: {exc}); "
                                "run again to resume") from None
    if total is not None and done != total:
        raise DataError(f"{url}: connection closed after {done} of {total} bytes (run again to resume)")
    return _finish(part, dest, check)


def _finish(part: Path, dest: Path, check: Callable[[Path], None] | None) -> Path:
    if check is not None:
        check(part)  # raises (and removes the bad .part) before the file takes its final name
    os.replace(part, dest)
    return dest


def fetch(
    names: Sequence[str] = ("mnist", "emnist"),
    dest: str | Path | None = None,
    resources: dict[str, list[Resource]] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Download the named datasets into ``dest`` (default :func:`data_cache_dir`); skip verified files.

    Parameters
    ----------
    names : sequence of str
        Keys of ``resources``: ``"mnist"``, ``"emnist"``; ``"kaggle"`` downloads Kaggle A-Z through the
        ``kaggle`` package and the user's Kaggle credentials (:func:`~hwr_eval.data.fetch_kaggle`).
    dest : path-like, optional
        Target folder.
    resources : dict, optional
        Name -> list of :class:`Resource`; defaults to the public mirrors in ``RESOURCES``.
    progress : bool, default=True
        Show a rich progress bar.

    Returns
    -------
    list of Path
        The files now present for those datasets.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    resources = RESOURCES if resources is None else resources
    dest = Path(dest) if dest is not None else data_cache_dir()
    known = {**resources, KAGGLE: []} if KAGGLE not in resources else resources
    unknown = [n for n in names if n not in known]
    if unknown:
        raise DataError(f"unknown dataset {unknown[0]!r} to fetch; choose from {', '.join(known)}")
    dest.mkdir(parents=True, exist_ok=True)
    got: list[Path] = []
    kaggle = KAGGLE in names and KAGGLE not in resources
    names = [n for n in names if n != KAGGLE or not kaggle]
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=False) as bar:
        for name in names:
            for res in resources[name]:
                target = dest / res.filename
                # Extracted members were written atomically from a verified archive; re-hashing them
                # would need checksums nobody publishes.
                if res.extract and all((dest / Path(m).name).exists() for m in res.extract):
                    got.extend(dest / Path(m).name for m in res.extract)
                    continue
                # A file already present is re-checked (MNIST hashes in milliseconds): a corrupted or
                # foreign file is downloaded again instead of being trusted.
                if target.exists() and _mismatch(target, res) is None:
                    if res.extract:
                        got.extend(_extract(target, res.extract, dest))
                        target.unlink()
                    else:
                        got.append(target)
                    continue
                target.unlink(missing_ok=True)
                task = bar.add_task(res.filename, total=None)
                errors = []
                for url in res.urls:
                    try:
                        download(url, target, progress=lambda done, total, task=task: bar.update(task, completed=done, total=total),
                                 check=lambda path, res=res: _verify(path, res))
                        break
                    except DataError as exc:
                        errors.append(str(exc))
                else:
                    raise DataError(f"{res.filename}: every mirror failed; last: {errors[-1]}")
                if res.extract:
                    got.extend(_extract(target, res.extract, dest))
                    target.unlink()
                else:
                    got.append(target)
    if kaggle:  # last: it needs credentials, the public mirrors do not
        from ._kaggle import fetch_kaggle

        got.append(fetch_kaggle(dest, progress=progress))
    return got


def _extract(archive: Path, members: Sequence[str], dest: Path) -> list[Path]:
    out = []
    tmp: Path | None = None
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in members:
                target = dest / Path(member).name
                tmp = target.with_name(target.name + ".part")
                with zf.open(member) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
                os.replace(tmp, target)
                out.append(target)
    # zlib.error: corrupt deflate data; OSError: disk full, permissions; BadZipFile: bad CRC or header.
    except (zipfile.BadZipFile, KeyError, zlib.error, EOFError, OSError) as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise DataError(f"{archive}: cannot extract ({exc})") from None
    return out


__all__ = ["Resource", "RESOURCES", "cache_dir", "data_cache_dir", "download", "fetch", "file_digest"]
