"""Format detection, the one entry point :func:`read_recording`, and directory expansion."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from gaitdir.errors import RecordingError, UnknownFormatError
from gaitdir.recordings import _gaitdir_csv, _ipol, _kuhar, _oxford, _polar_logger
from gaitdir.recordings._checks import check_file
from gaitdir.recordings._recording import Recording

#: Names of the formats :func:`read_recording` reads, for ``format=``.
FORMATS: tuple[str, ...] = (
    _gaitdir_csv.NAME,
    _ipol.NAME,
    _oxford.NAME,
    _kuhar.NAME,
    _polar_logger.NAME,
)
_READERS: dict[str, Callable[[Path], Recording]] = {
    _gaitdir_csv.NAME: _gaitdir_csv.read,
    _ipol.NAME: _ipol.read,
    _oxford.NAME: _oxford.read,
    _kuhar.NAME: _kuhar.read,
    _polar_logger.NAME: _polar_logger.read,
}
_DESCRIPTIONS = (
    _gaitdir_csv.DESCRIPTION,
    _ipol.DESCRIPTION,
    _oxford.DESCRIPTION,
    _kuhar.DESCRIPTION,
    _polar_logger.DESCRIPTION,
)
#: File name endings a directory expands to.
RECORDING_SUFFIXES = (".csv", ".txt")
# gaitdir's own per-step output lives next to recordings but is not one.
_OUTPUT_SUFFIXES = (".steps.csv",)
# Data sets ship their licence and notes as .txt beside the recordings (IPOL's LICENSE.txt).
_DOCUMENT_STEMS = ("readme", "license", "licence", "copying", "notice", "citation", "changelog", "authors")
_SNIFF_BYTES = 8192


def expected_formats_text() -> str:
    """One line per supported format, saying what it looks like."""
    return "\n".join(f"  - {d}" for d in _DESCRIPTIONS)


def detect_format(path: str | Path) -> str:
    """Name of the format ``path`` is in.

    Raises
    ------
    RecordingError
        Missing or empty file.
    UnknownFormatError
        The file matches no supported format; the message lists what each looks like.
    """
    path = Path(path)
    check_file(path)
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a cut multi-byte character at the end is fine
            raise _unknown(path, "it is not text") from None
        text = head[: exc.start].decode("utf-8")
    text = text.lstrip("\ufeff")
    # Detection by content first: names are only hints (files get renamed).
    if _gaitdir_csv.looks_like(text):
        return _gaitdir_csv.NAME
    if _ipol.looks_like(text):
        return _ipol.NAME
    if _polar_logger.looks_like(text):
        return _polar_logger.NAME
    if _oxford.looks_like(text):
        return _oxford.NAME
    if _kuhar.looks_like(text, path):
        return _kuhar.NAME
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    raise _unknown(path, f"its first line is {first[:80]!r}")


def _unknown(path: Path, what: str) -> UnknownFormatError:
    return UnknownFormatError(
        f"not a recording format gaitdir reads ({what}). Expected one of:\n{expected_formats_text()}",
        path=path,
        line=1,
    )


def read_recording(path: str | Path, *, format: str | None = None) -> Recording:
    """Read a recording in any supported format.

    Parameters
    ----------
    path : str or Path
        The file.
    format : str, optional
        One of :data:`FORMATS`; detected from the content when omitted.

    Returns
    -------
    Recording
        In SI units, never resampled.

    Raises
    ------
    RecordingError
        The file is missing, empty, or bad (the message names file, line and column).
    UnknownFormatError
        The format is not given and the content matches none, or ``format`` is not a known name.
    """
    path = Path(path)
    if format is None:
        name = detect_format(path)
    else:
        name = format.strip().lower()
        if name not in _READERS:
            raise UnknownFormatError(
                f"unknown format {format!r}; gaitdir reads {', '.join(FORMATS)}", path=path
            )
    return _READERS[name](path)


def iter_recordings(paths: str | Path | Iterable[str | Path]) -> Iterator[Path]:
    """The recording files that ``paths`` stand for.

    Files are yielded as given (whatever their name: the reader will judge them). A directory expands
    to the ``.csv``/``.txt`` files below it (recursively, sorted; skipped: hidden files, gaitdir's
    own ``*.steps.csv`` outputs, and documents such as ``LICENSE.txt`` or ``README.txt``); IPOL's
    ``.json`` annotation files are therefore not yielded, they are read beside their signal files.

    Raises
    ------
    RecordingError
        A path does not exist.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    for item in paths:
        path = Path(item)
        if not path.exists():
            raise RecordingError("no such file or directory", path=path)
        if not path.is_dir():
            yield path
            continue
        for child in sorted(path.rglob("*")):
            name = child.name.lower()
            if (
                child.is_file()
                and name.endswith(RECORDING_SUFFIXES)
                and not name.endswith(_OUTPUT_SUFFIXES)
                and not name.split(".")[0].startswith(_DOCUMENT_STEMS)
                and not any(part.startswith(".") for part in child.relative_to(path).parts)
            ):
                yield child
