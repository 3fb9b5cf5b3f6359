"""Signal stage: resampling, gravity/orientation, filtering, step detection (offline and causal)."""

from gaitdir.signal._types import BodySignal, StepBatch

__all__ = ["BodySignal", "StepBatch"]
