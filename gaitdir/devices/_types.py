"""What every sensor driver produces."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImuBatch:
    """Samples decoded from one or more frames, in SI units.

    Attributes
    ----------
    sensor_time_s : ndarray, shape (n,)
        Per-sample time on the sensor's own clock (s), increasing within a stream. Where a sensor sends
        no timestamps the driver derives them (host arrival time + nominal rate) and says so in
        ``SensorInfo.timestamps``.
    acc_mps2 : ndarray, shape (n, 3)
        Acceleration with gravity (m/s²), sensor frame.
    gyr_radps : ndarray, shape (n, 3), optional
        Angular rate (rad/s), sensor frame.
    """

    sensor_time_s: np.ndarray
    acc_mps2: np.ndarray
    gyr_radps: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.sensor_time_s.shape[0])


class EventKind(str, enum.Enum):
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"
    RECONNECTED = "reconnected"
    STOPPED_BY_SENSOR = "stopped_by_sensor"
    MALFORMED_FRAME = "malformed_frame"
    LOST_PACKETS = "lost_packets"
    ENDED = "ended"


@dataclass(frozen=True)
class StreamEvent:
    """Something that happened to the stream rather than a sample (connection state, faults).

    Attributes
    ----------
    kind : EventKind
        What happened.
    detail : str
        Human-readable explanation (which frame was malformed, why the stream ended...).
    sensor_time_s : float, optional
        Sensor time (s) the event refers to. For ``RECONNECTED`` it is the first sample after the gap.
    gap_s : float, optional
        For ``RECONNECTED``: sensor time (s) between the last sample before the drop and the first one
        after it (samples in between were lost, as on hardware).
    """

    kind: EventKind
    detail: str = ""
    sensor_time_s: float | None = None
    gap_s: float | None = None
