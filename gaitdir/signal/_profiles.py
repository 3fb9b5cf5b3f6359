"""The step detector's parameters per placement (see :class:`gaitdir.signal.StepDetector`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class _Profile:
    signal: str
    band_hz: tuple[float, float]
    min_step_interval_s: float
    max_step_interval_s: float
    confirm_s: float
    rel_threshold: float
    min_peak_mps2: float
    min_bout_steps: int
    regularity: float
    ic_offset_s: float
    fill_missed: bool
    per_stride: bool
    closing_step: bool = True
    early_emit: float = 1.3
    weak_rel_threshold: float = 0.0
    weak_min_peak_mps2: float = 0.0
    weak_window: tuple[float, float] = (0.0, 0.0)
    initiation_ratio: float = 0.0
    closing_rel_threshold: float = 0.0
    max_weak_run: int = 1 << 30
    half_step_check: bool = False
    lead_swing_radps: float = 0.0
    stance_gyro_mps2_per_radps: float = 0.0
    stance_noise_factor: float = 0.0


_TRUNK = _Profile(
    signal="vertical",
    band_hz=(0.5, 3.0),
    min_step_interval_s=0.3,
    max_step_interval_s=1.3,
    confirm_s=0.15,
    rel_threshold=0.8,
    min_peak_mps2=0.4,
    min_bout_steps=2,
    regularity=1.8,
    ic_offset_s=-0.08,
    fill_missed=True,
    per_stride=False,
    early_emit=1.2,
    weak_rel_threshold=0.15,
    weak_min_peak_mps2=0.1,
    weak_window=(0.85, 1.25),
    initiation_ratio=0.45,
    closing_rel_threshold=0.06,
    max_weak_run=1,
    half_step_check=True,
)
_FOOT = _Profile(
    signal="stance",
    band_hz=(0.0, 8.0),
    min_step_interval_s=0.6,
    max_step_interval_s=2.2,
    confirm_s=0.15,
    rel_threshold=4.0,
    min_peak_mps2=1.5,
    min_bout_steps=2,
    regularity=1.8,
    ic_offset_s=0.15,
    fill_missed=True,
    per_stride=True,
    early_emit=1.05,
    lead_swing_radps=5.5,
    stance_gyro_mps2_per_radps=0.3,
    stance_noise_factor=2.0,
)
# a phone on a limb (arm, hand, thigh): the trunk's profile, without the half-step check
_PHONE = dataclasses.replace(_TRUNK, half_step_check=False)

#: Placement names accepted by :class:`StepDetector` and the profile each maps to.
PLACEMENTS: dict[str, str] = {
    "auto": "trunk",
    "trunk": "trunk",
    "lower_back": "trunk",
    "back": "trunk",
    "waist": "trunk",
    "chest": "trunk",
    "neck": "trunk",
    "neckpouch": "trunk",
    "bag": "trunk",
    "foot": "foot",
    "left_foot": "foot",
    "right_foot": "foot",
    "shoe": "foot",
    "arm": "phone",
    "armband": "phone",
    "hand": "phone",
    "pocket": "phone",
    "frontpocket": "phone",
    "backpocket": "phone",
    "thigh": "phone",
}
_PROFILES = {"trunk": _TRUNK, "foot": _FOOT, "phone": _PHONE}
