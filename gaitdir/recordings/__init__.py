"""Recordings: the in-memory type, readers for every supported format, and writers."""

from gaitdir.recordings._recording import LABELS, Recording

__all__ = ["LABELS", "Recording"]
