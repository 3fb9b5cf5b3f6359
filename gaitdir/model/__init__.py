"""The forward/backward direction model, in the parts the tree names.

* :mod:`~gaitdir.model._predictor` — the fitted model and its numpy-only linear predictor;
* :mod:`~gaitdir.model._persistence` — safe saving and loading, with the trusted-model registry;
* :mod:`gaitdir.model.front` — the wearer's front: axis parsing, where the front came from, calibration,
  and the evidence carried between steps;
* :mod:`~gaitdir.model._training` — training on labelled recordings (with the synthetic backward class);
* :mod:`~gaitdir.model._evaluation` — subject-wise evaluation.

The scikit-learn estimator (:class:`DirectionClassifier`) is imported on first use only: classifying with
a JSON model does not import scikit-learn.
"""

from __future__ import annotations

from typing import Any

from gaitdir.model._evaluation import EvaluationReport, evaluate
from gaitdir.model._persistence import (
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    default_model_path,
    file_sha256,
    load_model,
    register_trusted_model,
    save_model,
    trusted_registry_path,
)
from gaitdir.model._predictor import CLASSES, DirectionModel, LinearDirectionPredictor, forward_log_odds
from gaitdir.model._training import MIRRORED_AP, step_labels, train_model
from gaitdir.model.front import (
    BOUT_GAP_S,
    EVIDENCE_DECAY,
    BoutEvidence,
    ForwardReference,
    ap_sign_from_axis,
    calibration_decision,
    calibration_scores,
    first_bout_log_odds,
    parse_forward_axis,
    smooth_log_odds,
)

__all__ = [
    "BOUT_GAP_S",
    "CLASSES",
    "EVIDENCE_DECAY",
    "MIRRORED_AP",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "BoutEvidence",
    "DirectionClassifier",
    "DirectionModel",
    "EvaluationReport",
    "ForwardReference",
    "LinearDirectionPredictor",
    "ap_sign_from_axis",
    "calibration_decision",
    "calibration_scores",
    "default_model_path",
    "evaluate",
    "file_sha256",
    "first_bout_log_odds",
    "forward_log_odds",
    "load_model",
    "parse_forward_axis",
    "register_trusted_model",
    "save_model",
    "smooth_log_odds",
    "step_labels",
    "train_model",
    "trusted_registry_path",
]


def __getattr__(name: str) -> Any:
    # DirectionClassifier is built on scikit-learn, whose import costs seconds; it is needed only to train
    # or to unpickle a boosting model, so it is imported on first use (PEP 562).
    if name == "DirectionClassifier":
        from gaitdir.model._classifier import DirectionClassifier

        return DirectionClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "DirectionClassifier"})
