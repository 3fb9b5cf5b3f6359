"""Recordings: the in-memory type, readers for every supported format, and writers.

>>> from gaitdir.recordings import read_recording, sample_recording_path
>>> recording = read_recording(sample_recording_path())
>>> recording.meta["placement"]
'chest'
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from gaitdir.recordings._detect import FORMATS, detect_format, iter_recordings, read_recording
from gaitdir.recordings._kuhar import read_dataset as read_kuhar_dataset
from gaitdir.recordings._recording import LABELS, Recording
from gaitdir.recordings._writers import (
    PARTIAL_SUFFIX,
    RecordingWriter,
    write_recording_csv,
    write_steps_csv,
)

__all__ = [
    "FORMATS",
    "LABELS",
    "PARTIAL_SUFFIX",
    "Recording",
    "RecordingWriter",
    "detect_format",
    "iter_recordings",
    "read_kuhar_dataset",
    "read_recording",
    "sample_recording_path",
    "write_recording_csv",
    "write_steps_csv",
]


def sample_recording_path() -> Path:
    """Path of the bundled sample: ~75 s of real walking, phone in a neck pouch (Oxford, CC BY 4.0).

    Returns
    -------
    Path
        A gaitdir CSV file inside the installed package.
    """
    return Path(str(resources.files("gaitdir") / "_data" / "sample_walk.csv"))
