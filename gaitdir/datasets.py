"""Fetching public data sets: KU-HAR's trimmed archive, reduced to its two walking folders.

KU-HAR (Sikder & Nahid, Pattern Recognition Letters 146, 2021; Mendeley Data
DOI 10.17632/45f952y38r.5; CC BY 4.0) is the public data set with real backward walking. gaitdir
keeps only ``11.Walk`` and ``12.Walk-backwards`` of its trimmed, 100 Hz layout, which
:func:`gaitdir.recordings.read_kuhar_dataset` reads.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO

from gaitdir.errors import DatasetError

__all__ = ["KUHAR_BACKWARD_FOLDER", "KUHAR_TRIMMED_URL", "KUHAR_WALK_FOLDER", "download_kuhar"]

#: Public link to KU-HAR's ``2.Trimmed_interpolated_data`` archive (Mendeley Data, CC BY 4.0).
KUHAR_TRIMMED_URL = (
    "https://data.mendeley.com/public-files/datasets/45f952y38r/files/"
    "49c6120b-59fd-466c-97da-35d53a4be595/file_downloaded"
)
KUHAR_WALK_FOLDER = "11.Walk"
KUHAR_BACKWARD_FOLDER = "12.Walk-backwards"
_FOLDERS = (KUHAR_WALK_FOLDER, KUHAR_BACKWARD_FOLDER)
_CHUNK_BYTES = 1 << 20
# An archive may hold the trimmed data as an inner zip; one level of nesting is looked into.
_MAX_NESTING = 1

ProgressCallback = Callable[[int, "int | None"], None]


def download_kuhar(
    dest_dir: str | Path,
    *,
    url: str = KUHAR_TRIMMED_URL,
    progress: ProgressCallback | None = None,
    timeout_s: float = 30.0,
) -> Path:
    """Download KU-HAR's trimmed archive, check it, and keep only its two walking folders.

    Parameters
    ----------
    dest_dir : str or Path
        Where ``KU-HAR/11.Walk`` and ``KU-HAR/12.Walk-backwards`` are created (an existing
        ``KU-HAR`` folder is replaced only once the new one is complete).
    url : str
        The archive's address (default: the public Mendeley Data link).
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total_or_None)`` while downloading.
    timeout_s : float
        Network timeout (s) for connecting and for each read.

    Returns
    -------
    Path
        ``dest_dir/KU-HAR``, ready for :func:`gaitdir.recordings.read_kuhar_dataset`.

    Raises
    ------
    DatasetError
        The site cannot be reached (the message says the machine seems offline and gives the URL to
        fetch by hand), the server refuses, or the archive is corrupt, unsafe, or not KU-HAR's
        trimmed layout. The archive is deleted in every case.
    """
    dest = Path(dest_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create {dest}: {exc.strerror or exc}") from None
    root = dest / "KU-HAR"
    with tempfile.TemporaryDirectory(dir=dest, prefix=".kuhar-download-") as work:
        archive = Path(work) / "archive.zip"
        with archive.open("wb") as handle:
            _fetch(url, handle, progress=progress, timeout_s=timeout_s)
        staged = Path(work) / "KU-HAR"
        _extract_walking_folders(archive, staged, work_dir=Path(work), nesting=0)
        archive.unlink()
        _replace_dir(staged, root, work_dir=Path(work))
    return root


def _fetch(url: str, handle: IO[bytes], *, progress: ProgressCallback | None, timeout_s: float) -> None:
    """Stream ``url`` into ``handle``, reporting progress."""
    request = urllib.request.Request(url, headers={"User-Agent": "gaitdir (dataset download)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            if progress is not None:
                progress(done, total)
            while True:
                chunk = response.read(_CHUNK_BYTES)
                if not chunk:
                    break
                try:
                    handle.write(chunk)
                except OSError as exc:
                    raise DatasetError(f"cannot write the download: {exc.strerror or exc}") from None
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        raise DatasetError(
            f"the server answered HTTP {exc.code} ({exc.reason}) for {url}; "
            "if the link moved, download the archive by hand from KU-HAR's Mendeley Data page "
            "(DOI 10.17632/45f952y38r.5)"
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        host = urllib.parse.urlsplit(url).hostname or url
        raise DatasetError(
            f"could not reach {host} ({reason}). This machine seems to be offline or cannot reach the "
            f"site. Download the archive by hand from {url} on a machine with internet access, unzip "
            f"it, and point gaitdir at the folder that holds {KUHAR_WALK_FOLDER} and "
            f"{KUHAR_BACKWARD_FOLDER}"
        ) from None
    if total is not None and done != total:
        raise DatasetError(f"the download from {url} stopped early: {done} of {total} bytes")


def _safe_parts(name: str) -> tuple[str, ...]:
    """The member's path parts; refuses absolute paths and ``..`` (path traversal)."""
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise DatasetError(f"refusing the archive: unsafe member path {name!r}")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if any(p == ".." for p in parts):
        raise DatasetError(f"refusing the archive: member path {name!r} leaves the extraction folder")
    return parts


def _extract_walking_folders(archive: Path, target: Path, *, work_dir: Path, nesting: int) -> None:
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"the downloaded file is not a valid zip archive ({exc})") from None
    with bundle:
        try:
            broken = bundle.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise DatasetError(f"the downloaded archive is corrupt ({exc})") from None
        if broken is not None:
            raise DatasetError(f"the downloaded archive is corrupt: CRC check failed for {broken!r}")
        members = [(info, _safe_parts(info.filename)) for info in bundle.infolist()]
        prefix = _layout_prefix([parts for info, parts in members if not info.is_dir()])
        if prefix is None:
            inner = [info for info, parts in members if parts and parts[-1].lower().endswith(".zip")]
            if inner and nesting < _MAX_NESTING:
                nested = work_dir / f"inner-{nesting}.zip"
                with bundle.open(inner[0]) as source, nested.open("wb") as sink:
                    shutil.copyfileobj(source, sink, _CHUNK_BYTES)
                _extract_walking_folders(nested, target, work_dir=work_dir, nesting=nesting + 1)
                nested.unlink()
                return
            raise DatasetError(
                "the archive does not hold KU-HAR's trimmed layout: no folders "
                f"{KUHAR_WALK_FOLDER} and {KUHAR_BACKWARD_FOLDER} found in it"
            )
        target.mkdir(parents=True)
        depth = len(prefix)
        for info, parts in members:
            if info.is_dir() or len(parts) <= depth + 1 or parts[:depth] != prefix:
                continue
            if parts[depth] not in _FOLDERS:
                continue
            out = target.joinpath(*parts[depth:])
            out.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(info) as source, out.open("wb") as sink:
                shutil.copyfileobj(source, sink, _CHUNK_BYTES)


def _layout_prefix(paths: list[tuple[str, ...]]) -> tuple[str, ...] | None:
    """The shallowest folder holding files under both walking folders, or None."""
    found: dict[tuple[str, ...], set[str]] = {}
    for parts in paths:
        for i, part in enumerate(parts[:-1]):
            if part in _FOLDERS:
                found.setdefault(parts[:i], set()).add(part)
                break
    complete = [prefix for prefix, folders in found.items() if folders == set(_FOLDERS)]
    return min(complete, key=lambda p: (len(p), p)) if complete else None


def _replace_dir(staged: Path, root: Path, *, work_dir: Path) -> None:
    """Move ``staged`` to ``root``; an old ``root`` is moved aside first, then deleted."""
    old = None
    if root.exists():
        old = work_dir / "previous"
        os.replace(root, old)
    try:
        os.replace(staged, root)
    except OSError:
        if old is not None:
            os.replace(old, root)
        raise
    if old is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)
