"""Signal stage: resampling, gravity/orientation, filtering, step detection (offline and causal)."""

from gaitdir.signal._detector import (
    PLACEMENTS,
    StepDetector,
    detect_steps,
    recording_chunks,
    recording_placement,
)
from gaitdir.signal._metrics import StepMatch, match_steps
from gaitdir.signal._orientation import BodyFrameEstimator
from gaitdir.signal._resample import GridResampler
from gaitdir.signal._types import BodySignal, StepBatch

__all__ = [
    "PLACEMENTS",
    "BodyFrameEstimator",
    "BodySignal",
    "GridResampler",
    "StepBatch",
    "StepDetector",
    "StepMatch",
    "detect_steps",
    "match_steps",
    "recording_chunks",
    "recording_placement",
]
