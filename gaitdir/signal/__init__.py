"""Signal stage: resampling, gravity/orientation, filtering, step detection (offline and causal)."""

from gaitdir.signal._detector import Conditioned, StepDetector
from gaitdir.signal._filters import preload
from gaitdir.signal._metrics import StepMatch, match_steps, matched_references, score_recording
from gaitdir.signal._orientation import BodyFrameEstimator
from gaitdir.signal._profiles import PLACEMENTS
from gaitdir.signal._recording_steps import (
    conditioned_ahead,
    detect_steps,
    recording_chunks,
    recording_placement,
)
from gaitdir.signal._resample import GridResampler
from gaitdir.signal._types import BodySignal, StepBatch

__all__ = [
    "PLACEMENTS",
    "BodyFrameEstimator",
    "BodySignal",
    "Conditioned",
    "GridResampler",
    "StepBatch",
    "StepDetector",
    "StepMatch",
    "conditioned_ahead",
    "detect_steps",
    "match_steps",
    "matched_references",
    "preload",
    "recording_chunks",
    "recording_placement",
    "score_recording",
]
