"""The forward/backward direction classifier: estimator, training, subject-wise evaluation, safe save/load.

Training data and the synthetic backward class
-----------------------------------------------
:func:`train_model` takes real per-sample labels from the recordings (each step gets the majority label of
its samples; steps labelled ``other`` are left out). When the training set holds **no real backward step**
and ``synthetic_backward="auto"`` (the default), a backward class is made from the real forward steps by
**mirroring the AP axis** (AP → −AP, :func:`gaitdir.features.mirror_features`; this is not a time
reversal). The model's metadata records that it did so, and :func:`evaluate` reports figures on mirrored
steps separately from figures on real labels. With real backward data (KU-HAR, a user's own labelled
recordings) the same call trains on the real labels only.

Orienting training steps
------------------------
Features are signed along the wearer's front, so each training step needs the AP sign that points to the
front. In order of priority: the recording's ``forward_axis`` metadata (compared with the detector's AP
axis in sensor coordinates); for a recording with forward-labelled steps, the sign under which the trunk
slows down from contact to mid-stance along the front (inverted-pendulum mechanics,
:func:`gaitdir.features.pendular_index`);
for a recording with no forward steps (e.g. a KU-HAR "Walk-backwards" file), the forward axis in sensor
coordinates found on the same subject's forward recordings, else on recordings of the same format.

Safe loading
------------
Linear (logistic) models, including the shipped default, are saved as JSON: data only (scaler mean and
scale, coefficients, intercept, classes, feature names, detector parameters, metadata and a format
version), which cannot run code. :func:`load_model` validates such a file strictly (schema, shapes, finite
numbers, version) and predicts with the numpy-only :class:`LinearDirectionPredictor`, so classifying does
not import scikit-learn. Other models (boosting) are joblib pickles, and unpickling can run code:
:func:`load_model` hashes such a file (SHA-256) *before* unpickling and requires the hash to be trusted;
:func:`save_model` (used by ``gaitdir train``) appends the hash of each model it writes to a per-user
registry (``trusted_models.json`` in the user config directory, or ``$GAITDIR_CONFIG_DIR``). Any other
pickle is refused with :class:`~gaitdir.errors.ModelError` unless ``trust=True``. The shipped model's hash
is recorded in the package and checked too, so that a modified installation is noticed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from gaitdir import __version__
from gaitdir.errors import ModelError
from gaitdir.features import FEATURE_NAMES, mirror_features, pendular_index, step_features
from gaitdir.recordings import Recording
from gaitdir.signal import StepBatch, detect_steps, match_steps

if TYPE_CHECKING:
    from gaitdir._classifier import DirectionClassifier

__all__ = [
    "CLASSES",
    "EVIDENCE_DECAY",
    "MIRRORED_AP",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "DirectionClassifier",
    "DirectionModel",
    "EvaluationReport",
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

logger = logging.getLogger(__name__)

#: Class labels, in the order of ``predict_proba`` columns.
CLASSES: tuple[str, str] = ("backward", "forward")
#: Name of the transform that makes the synthetic backward class (recorded in model metadata).
MIRRORED_AP: str = "mirrored-AP (AP -> -AP of real forward steps; not time reversal)"

_DEFAULT_MODEL_FILE = "default_model.json"
_DEFAULT_HASH_FILE = "default_model.sha256"
_REGISTRY_FILE = "trusted_models.json"
_LABEL_CODES = {"forward": 0, "backward": 1, "other": 2}
#: Weight of the previous step's direction evidence within a bout (see :func:`smooth_log_odds`).
EVIDENCE_DECAY: float = 0.5
# A step continues the bout when it starts where the previous one ended (s).
_CONTINUATION_TOL_S = 0.05


# ----------------------------------------------------------------------------------------------------
# Estimator


def __getattr__(name: str) -> Any:
    # DirectionClassifier is built on scikit-learn, whose import costs seconds; it is needed only to train
    # or to unpickle a boosting model, so it is imported on first use (PEP 562).
    if name == "DirectionClassifier":
        from gaitdir._classifier import DirectionClassifier

        return DirectionClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "DirectionClassifier"})


class LinearDirectionPredictor:
    """A fitted linear direction classifier in plain numpy (what a JSON model file holds).

    Gives the same probabilities as a ``DirectionClassifier(kind="logistic")`` (standardisation, then
    logistic regression) without importing scikit-learn.

    Parameters
    ----------
    scaler_mean : ndarray, shape (n_features,)
        Per-feature mean removed before scaling (feature units).
    scaler_scale : ndarray, shape (n_features,)
        Per-feature scale (feature units; > 0).
    coef : ndarray, shape (n_features,)
        Logistic-regression weights on the standardised features (forward positive).
    intercept : float
        Logistic-regression intercept (log-odds of forward).
    params : dict, optional
        The hyper-parameters it was trained with (informational).

    Attributes
    ----------
    classes_ : ndarray of str, shape (2,)
        ``["backward", "forward"]``.
    n_features_in_ : int
        Number of features expected.
    """

    kind: str = "logistic"

    def __init__(
        self,
        scaler_mean: np.ndarray,
        scaler_scale: np.ndarray,
        coef: np.ndarray,
        intercept: float,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.scaler_mean = scaler_mean
        self.scaler_scale = scaler_scale
        self.coef = coef
        self.intercept = intercept
        self.params = params

    @property
    def classes_(self) -> np.ndarray:
        return np.array(CLASSES)

    @property
    def n_features_in_(self) -> int:
        return int(np.asarray(self.coef).shape[0])

    @classmethod
    def from_classifier(cls, classifier: Any) -> LinearDirectionPredictor:
        """The numpy form of a fitted ``DirectionClassifier(kind="logistic")`` (or of another predictor).

        Raises
        ------
        ModelError
            The classifier is not a fitted linear (logistic) one.
        """
        if isinstance(classifier, LinearDirectionPredictor):
            return classifier
        pipeline = getattr(classifier, "estimator_", None)
        steps = getattr(pipeline, "named_steps", None)
        if getattr(classifier, "kind", None) != "logistic" or steps is None:
            raise ModelError(
                "only fitted logistic direction classifiers have a linear form; got "
                f"{type(classifier).__name__}"
            )
        scaler, logistic = steps["standardscaler"], steps["logisticregression"]
        return cls(
            scaler_mean=np.asarray(scaler.mean_, dtype=np.float64).copy(),
            scaler_scale=np.asarray(scaler.scale_, dtype=np.float64).copy(),
            coef=np.asarray(logistic.coef_, dtype=np.float64).ravel().copy(),
            intercept=float(np.asarray(logistic.intercept_).ravel()[0]),
            params={k: v for k, v in classifier.get_params().items() if k in ("kind", "C", "max_iter")},
        )

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Forward log-odds of each row of ``X`` (k, n_features), shape (k,)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must be (k, {self.n_features_in_}); got shape {X.shape}")
        # The same operations, in the same order, as StandardScaler.transform and
        # LogisticRegression.decision_function, so that results agree to rounding (in place where that
        # only saves temporaries).
        standardised = X - self.scaler_mean
        standardised /= self.scaler_scale
        z = standardised @ np.asarray(self.coef, dtype=np.float64)[:, None]
        z += self.intercept
        return z.ravel()

    def forward_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability of the forward class for each row of ``X``, shape (k,).

        The second column of :meth:`predict_proba`, without building the two-column array.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.shape[0] == 0:
            return np.zeros(0)
        z = self.decision_function(X)
        # Logistic function written to avoid overflow of exp for large |z|: 1 / (1 + e) for z >= 0,
        # e / (1 + e) otherwise, with e = exp(-|z|).
        e = np.abs(z)
        np.negative(e, out=e)
        np.exp(e, out=e)
        one_plus_e = 1.0 + e
        p_forward = np.divide(e, one_plus_e, out=e)
        np.divide(1.0, one_plus_e, out=p_forward, where=z >= 0)
        return p_forward

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, columns ordered as ``classes_`` (backward, forward)."""
        X = np.asarray(X, dtype=np.float64)
        if X.shape[0] == 0:
            return np.zeros((0, 2))
        p_forward = self.forward_proba(X)
        return np.column_stack([1.0 - p_forward, p_forward])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable class of each row (str)."""
        proba = self.predict_proba(X)
        return self.classes_[(proba[:, 1] >= 0.5).astype(int)]


# ----------------------------------------------------------------------------------------------------
# The model as shipped and saved


@dataclass
class DirectionModel:
    """A fitted direction classifier with what the pipeline needs to use it.

    Attributes
    ----------
    classifier : DirectionClassifier or LinearDirectionPredictor
        Fitted estimator on :data:`gaitdir.features.FEATURE_NAMES` (a model loaded from JSON holds the
        numpy-only :class:`LinearDirectionPredictor`).
    feature_names : tuple of str
        The feature columns it was trained on (checked on load).
    detector_params : dict
        Keyword arguments for :class:`gaitdir.signal.StepDetector` used in training and to be used
        with this model.
    metadata : dict
        JSON-able facts: gaitdir version, training subjects and step counts per class and
        source, ``synthetic_backward`` (bool) and the transform used for it.
    """

    classifier: DirectionClassifier | LinearDirectionPredictor
    feature_names: tuple[str, ...] = FEATURE_NAMES
    detector_params: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def forward_proba(self, features: np.ndarray) -> np.ndarray:
        """Probability that each step is a forward step, shape (k,)."""
        if isinstance(self.classifier, LinearDirectionPredictor):
            return self.classifier.forward_proba(features)
        return self.classifier.predict_proba(features)[:, 1]


def default_model_path() -> Path:
    """Path of the shipped default model inside the installed package."""
    return Path(str(resources.files("gaitdir") / "_data" / _DEFAULT_MODEL_FILE))


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _config_dir() -> Path:
    env = os.environ.get("GAITDIR_CONFIG_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("gaitdir"))


def trusted_registry_path() -> Path:
    """The per-user registry of trusted model hashes (``$GAITDIR_CONFIG_DIR`` overrides the directory)."""
    return _config_dir() / _REGISTRY_FILE


def _read_registry(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data.get("models", []) if isinstance(data, dict) else []
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("sha256"), str)]
    except (OSError, ValueError) as e:
        raise ModelError(f"the trusted-model registry {path} cannot be read ({e}); fix or delete it") from e


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def register_trusted_model(path: str | Path) -> str:
    """Add a model file's SHA-256 to the per-user trusted registry.

    Parameters
    ----------
    path : str or Path
        The model file.

    Returns
    -------
    str
        The file's SHA-256 hex digest.
    """
    path = Path(path)
    digest = file_sha256(path)
    registry = trusted_registry_path()
    entries = _read_registry(registry)
    if not any(e["sha256"] == digest for e in entries):
        entries.append(
            {"sha256": digest, "path": str(path.resolve()), "added": datetime.now(timezone.utc).isoformat()}
        )
        _atomic_write_bytes(registry, json.dumps({"models": entries}, indent=1).encode("utf-8"))
    return digest


def _shipped_hashes() -> set[str]:
    text = (resources.files("gaitdir") / "_data" / _DEFAULT_HASH_FILE).read_text(encoding="utf-8")
    return {line.split()[0] for line in text.splitlines() if line.strip() and not line.startswith("#")}


#: ``format`` value of a JSON model file.
MODEL_FORMAT: str = "gaitdir-direction-model"
#: Version of the JSON model schema this gaitdir writes and reads.
MODEL_FORMAT_VERSION: int = 1
_JSON_KEYS = {"format", "format_version", "classifier", "feature_names", "detector_params", "metadata"}
_JSON_CLASSIFIER_KEYS = {
    "kind",
    "classes",
    "n_features",
    "scaler_mean",
    "scaler_scale",
    "coef",
    "intercept",
    "params",
}


def _is_linear(classifier: Any) -> bool:
    return isinstance(classifier, LinearDirectionPredictor) or getattr(classifier, "kind", None) == "logistic"


def _model_to_json(model: DirectionModel) -> bytes:
    linear = LinearDirectionPredictor.from_classifier(model.classifier)
    doc = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "classifier": {
            "kind": "logistic",
            "classes": list(CLASSES),
            "n_features": linear.n_features_in_,
            "scaler_mean": [float(v) for v in linear.scaler_mean],
            "scaler_scale": [float(v) for v in linear.scaler_scale],
            "coef": [float(v) for v in linear.coef],
            "intercept": float(linear.intercept),
            "params": dict(linear.params or {}),
        },
        "feature_names": list(model.feature_names),
        "detector_params": dict(model.detector_params),
        "metadata": dict(model.metadata),
    }
    try:
        # allow_nan=False: a model with a non-finite number is broken and must not be written.
        text = json.dumps(doc, indent=1, allow_nan=False, default=_json_default)
    except ValueError as e:
        raise ModelError(f"the model cannot be saved as JSON: {e}") from e
    return (text + "\n").encode("utf-8")


def save_model(model: DirectionModel, path: str | Path, *, trust: bool = True) -> Path:
    """Write a model (atomically): JSON for linear models, a joblib pickle otherwise.

    A logistic model (``DirectionClassifier(kind="logistic")`` or :class:`LinearDirectionPredictor`) is
    written as data only (JSON: scaler mean/scale, coefficients, intercept, classes, feature names,
    detector parameters, metadata and a format version), which cannot run code when loaded. Other models
    (boosting) are joblib pickles and must be trusted to load.

    Parameters
    ----------
    model : DirectionModel
    path : str or Path
        Destination file (the content decides the format, not the suffix; ``.json`` / ``.joblib`` are
        the conventional names).
    trust : bool, default=True
        Record the file's hash in the per-user trusted registry so that :func:`load_model` accepts it
        (needed only for pickles; harmless for JSON).

    Returns
    -------
    Path
        The written file.
    """
    if not isinstance(model, DirectionModel):
        raise ModelError(f"save_model expects a DirectionModel; got {type(model).__name__}")
    path = Path(path)
    if _is_linear(model.classifier):
        data = _model_to_json(model)
    else:
        import joblib

        buf = io.BytesIO()
        joblib.dump(model, buf, compress=3)
        data = buf.getvalue()
    _atomic_write_bytes(path, data)
    if trust:
        register_trusted_model(path)
    return path


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def _finite_vector(value: Any, n: int, what: str, file: Path) -> np.ndarray:
    if (
        not isinstance(value, list)
        or len(value) != n
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ModelError(f"{file}: JSON model field {what} must be a list of {n} numbers")
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ModelError(f"{file}: JSON model field {what} holds a non-finite number")
    return arr


def _model_from_json(data: bytes, file: Path) -> DirectionModel:
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ModelError(f"{file} is not a valid gaitdir JSON model: {e}") from e
    if not isinstance(doc, dict) or doc.get("format") != MODEL_FORMAT:
        raise ModelError(f'{file} is not a gaitdir JSON model (no "format": "{MODEL_FORMAT}")')
    version = doc.get("format_version")
    if version != MODEL_FORMAT_VERSION or isinstance(version, bool):
        raise ModelError(
            f"{file} has JSON model format version {version!r}; this gaitdir reads version "
            f"{MODEL_FORMAT_VERSION} (upgrade gaitdir or retrain the model with 'gaitdir train')"
        )
    if set(doc) != _JSON_KEYS:
        raise ModelError(f"{file}: JSON model fields must be exactly {sorted(_JSON_KEYS)}; got {sorted(doc)}")
    clf = doc["classifier"]
    if not isinstance(clf, dict) or set(clf) != _JSON_CLASSIFIER_KEYS:
        got = sorted(clf) if isinstance(clf, dict) else type(clf).__name__
        raise ModelError(
            f"{file}: JSON model classifier fields must be {sorted(_JSON_CLASSIFIER_KEYS)}; got {got}"
        )
    if clf["kind"] != "logistic":
        raise ModelError(f"{file}: JSON models hold logistic classifiers only; got kind {clf['kind']!r}")
    if clf["classes"] != list(CLASSES):
        raise ModelError(f"{file}: JSON model classes must be {list(CLASSES)}; got {clf['classes']!r}")
    names = doc["feature_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ModelError(f"{file}: JSON model field feature_names must be a list of strings")
    n = clf["n_features"]
    if not isinstance(n, int) or isinstance(n, bool) or n != len(names) or n < 1:
        raise ModelError(f"{file}: JSON model n_features {n!r} does not match its {len(names)} feature names")
    mean = _finite_vector(clf["scaler_mean"], n, "classifier.scaler_mean", file)
    scale = _finite_vector(clf["scaler_scale"], n, "classifier.scaler_scale", file)
    if np.any(scale <= 0):
        raise ModelError(f"{file}: JSON model field classifier.scaler_scale must be positive")
    coef = _finite_vector(clf["coef"], n, "classifier.coef", file)
    intercept = _finite_vector([clf["intercept"]], 1, "classifier.intercept", file)[0]
    for key in ("params", "detector_params", "metadata"):
        value = clf[key] if key == "params" else doc[key]
        if not isinstance(value, dict):
            raise ModelError(f"{file}: JSON model field {key} must be an object")
    if tuple(names) != FEATURE_NAMES:
        raise ModelError(
            f"{file} was trained on different features than this gaitdir version computes; retrain it with "
            "'gaitdir train'"
        )
    predictor = LinearDirectionPredictor(
        scaler_mean=mean, scaler_scale=scale, coef=coef, intercept=float(intercept), params=clf["params"]
    )
    return DirectionModel(
        classifier=predictor,
        feature_names=tuple(names),
        detector_params=doc["detector_params"],
        metadata=doc["metadata"],
    )


def load_model(path: str | Path | None = None, *, trust: bool = False) -> DirectionModel:
    """Load a direction model: JSON (data only, schema-checked) or a hash-verified joblib pickle.

    The file's content decides: a JSON document is parsed and validated strictly (format and version,
    fields, shapes, finite numbers) and needs no trust, since it cannot run code; anything else is a
    pickle, loaded only when its SHA-256 is trusted. The shipped default model is also checked against
    its recorded hash, so that a modified installation is noticed.

    Parameters
    ----------
    path : str or Path, optional
        Model file; None loads the shipped default model.
    trust : bool, default=False
        Load a pickle even if the file's hash is unknown (only for files you made or trust: unpickling can
        run code); for the default model, skip its hash check.

    Returns
    -------
    DirectionModel

    Raises
    ------
    ModelError
        The file is missing, a malformed JSON model, an unknown/tampered pickle (and ``trust`` is False),
        or not a gaitdir model.
    """
    file = default_model_path() if path is None else Path(path)
    try:
        data = file.read_bytes()
    except OSError as e:
        raise ModelError(f"cannot read model file {file}: {e.strerror or e}") from e
    digest = hashlib.sha256(data).hexdigest()
    if path is None and not trust and digest not in _shipped_hashes():
        raise ModelError(
            f"refusing to load model {file}: the shipped default model was modified (sha256 "
            f"{digest[:16]}…); reinstall gaitdir, or pass --trust-model (Python: trust=True)."
        )
    if data.lstrip()[:1] == b"{":
        # Parse the bytes that were read, not the file again (it could change in between).
        return _model_from_json(data, file)
    if not trust and path is not None:
        # The user's registry is read only when needed, so a damaged one never blocks the shipped model.
        trusted = digest in _shipped_hashes() or any(
            e["sha256"] == digest for e in _read_registry(trusted_registry_path())
        )
        if not trusted:
            raise ModelError(
                f"refusing to load model {file}: its hash is not trusted (sha256 {digest[:16]}…). Model "
                "files that are pickles can run code when loaded. Models written by 'gaitdir train' on this "
                "account are trusted automatically; if you trust this file, pass --trust-model (Python: "
                "trust=True)."
            )
    try:
        import joblib

        # Unpickle the bytes that were hashed, not the file again (it could change in between).
        model = joblib.load(io.BytesIO(data))
    except Exception as e:
        raise ModelError(f"{file} is not a readable gaitdir model: {e}") from e
    if not isinstance(model, DirectionModel):
        raise ModelError(f"{file} holds a {type(model).__name__}, not a gaitdir DirectionModel")
    if tuple(model.feature_names) != FEATURE_NAMES:
        raise ModelError(
            f"{file} was trained on different features than this gaitdir version computes; retrain it with "
            "'gaitdir train'"
        )
    return model


# ----------------------------------------------------------------------------------------------------
# Labels, orientation and features of recordings


def parse_forward_axis(axis: str | Sequence[float] | np.ndarray | None) -> np.ndarray | None:
    """Parse a forward axis given as ``"+x"``, ``"-y"``, ``"z"``, ``"0,0.7,0.7"`` or a 3-vector.

    Parameters
    ----------
    axis : str, sequence of 3 floats, or None
        The sensor axis that points to the wearer's front, in sensor coordinates.

    Returns
    -------
    ndarray, shape (3,), or None
        Unit vector, or None when ``axis`` is None or empty.

    Raises
    ------
    ModelError
        The value cannot be read as an axis.
    """
    if axis is None:
        return None
    if isinstance(axis, str):
        text = axis.strip().lower()
        if not text:
            return None
        if text.lstrip("+-") in ("x", "y", "z"):
            vec = np.zeros(3)
            vec["xyz".index(text[-1])] = -1.0 if text.startswith("-") else 1.0
            return vec
        try:
            values = [float(p) for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
        except ValueError:
            values = []
    else:
        values = [float(v) for v in np.asarray(axis, dtype=float).ravel()]
    vec = np.asarray(values, dtype=float)
    if vec.shape != (3,) or not np.all(np.isfinite(vec)) or np.linalg.norm(vec) == 0:
        raise ModelError(
            f"forward axis {axis!r} is not an axis: use '+x', '-x', '+y', '-y', '+z', '-z' or three numbers"
        )
    return vec / np.linalg.norm(vec)


def _ap_axis(batch: StepBatch) -> np.ndarray | None:
    axis = getattr(batch, "ap_axis_sensor", None)
    if axis is None:
        return None
    axis = np.asarray(axis, dtype=float).ravel()
    norm = float(np.linalg.norm(axis)) if axis.shape == (3,) else 0.0
    return axis / norm if norm > 0 else None


def ap_sign_from_axis(forward_axis_sensor: np.ndarray, batch: StepBatch, *, min_cosine: float = 0.2) -> float:
    """+1/−1: does the batch's AP axis point along ``forward_axis_sensor``? 0 when undecidable.

    Parameters
    ----------
    forward_axis_sensor : ndarray, shape (3,)
        Unit vector of the wearer's front in sensor coordinates.
    batch : StepBatch
        Detector output carrying ``ap_axis_sensor``.
    min_cosine : float, default=0.2
        Below this |cosine| between the two axes the answer is 0 (nearly perpendicular: no information).
    """
    ap = _ap_axis(batch)
    if ap is None:
        return 0.0
    cos = float(np.dot(forward_axis_sensor, ap))
    return float(np.sign(cos)) if abs(cos) >= min_cosine else 0.0


def step_labels(recording: Recording, start_s: np.ndarray, end_s: np.ndarray) -> np.ndarray:
    """Majority per-sample label of each step's span ``[start_s, end_s)``.

    Parameters
    ----------
    recording : Recording
        With per-sample ``labels`` (None gives "other" for every step).
    start_s, end_s : ndarray, shape (k,)
        Step spans (s, recording time base).

    Returns
    -------
    ndarray of str, shape (k,)
        ``forward``/``backward``/``other``; "other" also for steps with no labelled sample. Ties go to
        "other".
    """
    k = len(start_s)
    if recording.labels is None or k == 0:
        return np.full(k, "other", dtype=object)
    codes = np.array([_LABEL_CODES.get(str(lab), 2) for lab in recording.labels], dtype=np.int64)
    onehot = np.zeros((codes.size + 1, 3), dtype=np.int64)
    onehot[np.arange(1, codes.size + 1), codes] = 1
    cum = np.cumsum(onehot, axis=0)
    i0 = np.searchsorted(recording.time_s, start_s, side="left")
    i1 = np.searchsorted(recording.time_s, end_s, side="left")
    counts = cum[i1] - cum[i0]
    best = np.argmax(counts[:, ::-1], axis=1)  # reversed so that ties prefer "other", then "backward"
    best = 2 - best
    names = np.array(["forward", "backward", "other"], dtype=object)
    out = names[best]
    out[counts.sum(axis=1) == 0] = "other"
    return out


@dataclass
class _RecordingSteps:
    """Steps of one recording, featurised along the detector's AP axis (ap_sign = +1)."""

    recording: Recording
    batches: list[StepBatch]
    start_s: np.ndarray
    end_s: np.ndarray
    features: np.ndarray  # (k, n) with ap_sign = +1 for every step
    batch_of_step: np.ndarray  # (k,) index into batches
    labels: np.ndarray  # (k,) str
    ap_sign: np.ndarray | None = None  # (k,) +1/-1 once oriented (wearer's front)


def _detect(recording: Recording, detector_params: dict[str, Any]) -> _RecordingSteps:
    batches = [b for b in detect_steps(recording, **detector_params) if len(b)]
    if batches:
        start = np.concatenate([b.start_s for b in batches])
        end = np.concatenate([b.end_s for b in batches])
        feats = np.concatenate([step_features(b) for b in batches])
        which = np.concatenate([np.full(len(b), i) for i, b in enumerate(batches)])
    else:
        start = end = np.zeros(0)
        feats = np.zeros((0, len(FEATURE_NAMES)))
        which = np.zeros(0, dtype=int)
    return _RecordingSteps(recording, batches, start, end, feats, which, step_labels(recording, start, end))


def _mean_axis(rs: _RecordingSteps, signs: np.ndarray) -> np.ndarray | None:
    """Forward axis in sensor coordinates implied by per-step signs (mean of sign × AP axis)."""
    vecs = [signs[i] * _ap_axis(b) for i, b in enumerate(rs.batches) if _ap_axis(b) is not None]
    if not vecs:
        return None
    mean = np.mean(vecs, axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else None


def _orient(items: list[_RecordingSteps]) -> None:
    """Set ``ap_sign`` of every step so that signed features point to the wearer's front."""
    axes_by_subject: dict[str, list[np.ndarray]] = {}
    axes_by_format: dict[str, list[np.ndarray]] = {}
    pending: list[_RecordingSteps] = []
    for rs in items:
        n_batches = len(rs.batches)
        meta_axis = parse_forward_axis(rs.recording.meta.get("forward_axis"))
        batch_sign: np.ndarray | None = None
        if meta_axis is not None:
            batch_sign = np.array([ap_sign_from_axis(meta_axis, b) for b in rs.batches])
            if n_batches and np.all(batch_sign == 0):
                batch_sign = None
        forward = rs.labels == "forward"
        if batch_sign is None and forward.any():
            # Along the direction of travel the trunk slows from contact to mid-stance (pendulum).
            swing = float(np.median(pendular_index(rs.features[forward])))
            batch_sign = np.full(n_batches, 1.0 if swing >= 0 else -1.0)
        if batch_sign is None:
            pending.append(rs)
            continue
        batch_sign[batch_sign == 0] = 1.0
        rs.ap_sign = batch_sign[rs.batch_of_step] if rs.batch_of_step.size else np.zeros(0)
        axis = _mean_axis(rs, batch_sign)
        if axis is not None:
            axes_by_subject.setdefault(str(rs.recording.meta.get("subject")), []).append(axis)
            axes_by_format.setdefault(str(rs.recording.meta.get("format")), []).append(axis)
    for rs in pending:
        if not np.isin(rs.labels, CLASSES).any():
            # No labelled step: nothing is trained or scored on it, so no orientation is needed.
            rs.ap_sign = np.ones(rs.batch_of_step.shape[0])
            continue
        known = axes_by_subject.get(str(rs.recording.meta.get("subject"))) or axes_by_format.get(
            str(rs.recording.meta.get("format"))
        )
        if known:
            axis = np.mean(known, axis=0)
            batch_sign = np.array([ap_sign_from_axis(axis, b, min_cosine=0.0) for b in rs.batches])
            batch_sign[batch_sign == 0] = 1.0
        else:
            # Nothing tells where this wearer's front is. Fall back on the pendular model for the
            # labelled direction of travel (backward travel = towards the back), and say so.
            src = rs.recording.meta.get("source", "?")
            warnings.warn(
                f"{src}: no forward axis and no forward steps of the same subject or format; orienting its "
                "steps by the pendular velocity swing relative to the labelled direction of travel",
                stacklevel=3,
            )
            backward = rs.labels == "backward"
            swing = float(np.median(pendular_index(rs.features[backward]))) if backward.any() else 0.0
            batch_sign = np.full(len(rs.batches), -1.0 if swing >= 0 else 1.0)
        rs.ap_sign = batch_sign[rs.batch_of_step] if rs.batch_of_step.size else np.zeros(0)


def _oriented_features(rs: _RecordingSteps) -> np.ndarray:
    """Features with signed columns along the wearer's front (recomputing would give the same)."""
    assert rs.ap_sign is not None
    out = rs.features.copy()
    flip = rs.ap_sign < 0
    out[flip] = mirror_features(out[flip])
    return out


# ----------------------------------------------------------------------------------------------------
# Training


def train_model(
    recordings: Iterable[Recording],
    *,
    synthetic_backward: Literal["auto"] | bool = "auto",
    detector_params: dict[str, Any] | None = None,
    classifier: DirectionClassifier | None = None,
) -> DirectionModel:
    """Fit a direction model on labelled recordings.

    Parameters
    ----------
    recordings : iterable of Recording
        Recordings with per-sample labels (unlabelled ones contribute nothing).
    synthetic_backward : "auto" or bool, default="auto"
        Add AP-mirrored copies of the real forward steps as a synthetic backward class: "auto" does so
        only when there is no real backward step; True always; False never.
    detector_params : dict, optional
        Keyword arguments for the step detector (stored in the model for the pipeline to use).
    classifier : DirectionClassifier, optional
        Unfitted estimator to use (default parameters otherwise); it is cloned, not modified.

    Returns
    -------
    DirectionModel

    Raises
    ------
    ModelError
        No labelled forward/backward step was found, or only one class and no synthetic class allowed.
    """
    params = dict(detector_params or {})
    items = [_detect(r, params) for r in recordings]
    return _fit(items, synthetic_backward=synthetic_backward, detector_params=params, classifier=classifier)


def _fit(
    items: list[_RecordingSteps],
    *,
    synthetic_backward: Literal["auto"] | bool,
    detector_params: dict[str, Any],
    classifier: DirectionClassifier | None,
) -> DirectionModel:
    from sklearn.base import clone

    if synthetic_backward not in ("auto", True, False):
        raise ModelError(f"synthetic_backward must be 'auto', True or False; got {synthetic_backward!r}")
    _orient([rs for rs in items if rs.ap_sign is None])
    xs, ys, subjects = [], [], set()
    per_class = {"forward": 0, "backward": 0}
    for rs in items:
        keep = np.isin(rs.labels, CLASSES)
        if not keep.any():
            continue
        xs.append(_oriented_features(rs)[keep])
        ys.append(rs.labels[keep].astype(str))
        subjects.add(str(rs.recording.meta.get("subject", rs.recording.meta.get("source", "?"))))
        for c in CLASSES:
            per_class[c] += int(np.sum(rs.labels[keep] == c))
    if not xs:
        raise ModelError("no labelled forward or backward steps in the training recordings")
    X = np.concatenate(xs)
    y = np.concatenate(ys)
    add_mirror = synthetic_backward is True or (synthetic_backward == "auto" and per_class["backward"] == 0)
    n_mirrored = 0
    if add_mirror:
        fwd = X[y == "forward"]
        if fwd.shape[0] == 0:
            raise ModelError("cannot build the mirrored backward class: no real forward steps")
        X = np.concatenate([X, mirror_features(fwd)])
        y = np.concatenate([y, np.full(fwd.shape[0], "backward")])
        n_mirrored = int(fwd.shape[0])
    elif per_class["backward"] == 0 or per_class["forward"] == 0:
        raise ModelError(
            f"training needs forward and backward steps; got {per_class} and synthetic_backward=False"
        )
    from gaitdir._classifier import DirectionClassifier

    est = clone(classifier) if classifier is not None else DirectionClassifier()
    est.fit(X, y)
    backward_source = (
        "real" if n_mirrored == 0 else ("mirrored-ap" if per_class["backward"] == 0 else "real+mirrored-ap")
    )
    metadata = {
        "gaitdir_version": __version__,
        "n_recordings": len(items),
        "subjects": sorted(subjects),
        "real_steps": per_class,
        "synthetic_backward": bool(n_mirrored),
        "synthetic_backward_transform": MIRRORED_AP if n_mirrored else None,
        "synthetic_backward_steps": n_mirrored,
        "backward_source": backward_source,
        "classifier": type(est).__name__,
        "classifier_params": est.get_params(),
    }
    return DirectionModel(
        classifier=est, feature_names=FEATURE_NAMES, detector_params=detector_params, metadata=metadata
    )


# ----------------------------------------------------------------------------------------------------
# Calibration shared with the pipeline


def calibration_scores(model: DirectionModel, features: np.ndarray) -> np.ndarray:
    """Per-step evidence that the detector's AP axis (+1) rather than its mirror points to the front.

    Assumes the steps are forward steps (the start of a session). Positive favours ap_sign = +1.

    Parameters
    ----------
    model : DirectionModel
    features : ndarray, shape (k, n_features)
        Features computed with ap_sign = +1.

    Returns
    -------
    ndarray, shape (k,)
        logit P(forward | +1) − logit P(forward | −1) of each step.
    """
    if features.shape[0] == 0:
        return np.zeros(0)
    eps = 1e-6
    p_plus = np.clip(model.forward_proba(features), eps, 1 - eps)
    p_minus = np.clip(model.forward_proba(mirror_features(features)), eps, 1 - eps)
    return np.log(p_plus / (1 - p_plus)) - np.log(p_minus / (1 - p_minus))


def calibration_decision(
    scores: np.ndarray,
    *,
    min_steps: int = 2,
    max_steps: int = 8,
    margin: float = 4.0,
    final: bool = False,
) -> float | None:
    """First-bout calibration rule shared by the pipeline and :func:`evaluate`.

    The first one or two steps of a bout (gait initiation) are often atypical, so a single strong step
    does not decide. The AP sign is decided as soon as the last ``min_steps`` steps all favour the same
    sign by at least ``margin`` and the median over all held steps agrees; otherwise after ``max_steps``
    steps (or at the end of the stream) by the sign of the median.

    Parameters
    ----------
    scores : ndarray, shape (k,)
        :func:`calibration_scores` of the steps held so far, in order.
    min_steps, max_steps : int
        Earliest and latest decision (steps).
    margin : float
        Per-step log-odds margin that counts as clear evidence.
    final : bool
        The stream ended: decide with what there is.

    Returns
    -------
    float or None
        +1.0 or −1.0 once decided, None to keep waiting.
    """
    k = scores.shape[0]
    if k == 0:
        return None
    median = float(np.median(scores))
    sign = 1.0 if median >= 0 else -1.0
    if k >= max_steps or final:
        return sign
    if k >= min_steps:
        recent = scores[-min_steps:] * sign
        if np.all(recent >= margin):
            return sign
    return None


def forward_log_odds(model: DirectionModel, features: np.ndarray) -> np.ndarray:
    """Per-step log-odds of forward vs backward, shape (k,), clipped to ±13.8."""
    p = np.clip(model.forward_proba(features), 1e-6, 1 - 1e-6)
    odds = 1 - p
    np.divide(p, odds, out=odds)
    return np.log(odds, out=odds)


def smooth_log_odds(
    log_odds: np.ndarray,
    start_s: np.ndarray,
    end_s: np.ndarray,
    *,
    decay: float = EVIDENCE_DECAY,
    carry: tuple[float, float] | None = None,
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Carry direction evidence from step to step within a walking bout (causal).

    ``s_i = l_i + decay · s_(i−1)`` when step i starts where step i−1 ended (the same bout), else
    ``s_i = l_i``. A walker does not reverse direction mid-bout without stopping, so atypical single
    steps (turns, the last steps of a bout) follow the bout; a real reversal still flips the label as soon
    as one step's evidence outweighs the decayed history.

    Parameters
    ----------
    log_odds : ndarray, shape (k,)
        Per-step log-odds (forward positive), in time order.
    start_s, end_s : ndarray, shape (k,)
        Step spans (s).
    decay : float, default=EVIDENCE_DECAY
        Weight of the previous step's smoothed evidence (0 = no smoothing).
    carry : (float, float), optional
        ``(end_s, smoothed log-odds)`` of the step before these (from a previous call).

    Returns
    -------
    smoothed : ndarray, shape (k,)
    carry : (float, float) or None
        To pass to the next call.
    """
    out = np.asarray(log_odds, dtype=float).copy()
    k = out.shape[0]
    if k == 0:
        return out, carry
    prev_end, prev = carry if carry is not None else (-np.inf, 0.0)
    if not decay > 0:
        return out, (float(end_s[k - 1]), float(out[k - 1]))
    if not all(isinstance(value, (float, int)) for value in (decay, prev_end, prev)):
        # Other scalar types (np.float32...) follow numpy's promotion rules: keep numpy scalars.
        for i in range(k):
            if abs(float(start_s[i]) - prev_end) <= _CONTINUATION_TOL_S:
                out[i] += decay * prev
            prev_end, prev = float(end_s[i]), float(out[i])
        return out, (prev_end, prev)
    # The recursion is sequential, so it runs over Python floats: reading and writing numpy elements one
    # at a time costs several times more. The operations, hence the float64 results, are the same.
    starts = np.asarray(start_s, dtype=float)[:k].tolist()
    ends = np.asarray(end_s, dtype=float)[:k].tolist()
    decay = float(decay)
    smoothed: list[float] = []
    append = smoothed.append
    for value, start, end in zip(out.tolist(), starts, ends, strict=True):
        if abs(start - prev_end) <= _CONTINUATION_TOL_S:
            value += decay * prev
        append(value)
        prev_end, prev = end, value
    return np.array(smoothed), (float(prev_end), float(prev))


def first_bout_log_odds(
    model: DirectionModel,
    features: np.ndarray,
    start_s: np.ndarray,
    end_s: np.ndarray,
    *,
    decay: float = EVIDENCE_DECAY,
    min_steps: int = 2,
    max_steps: int = 8,
    margin: float = 4.0,
    final: bool = False,
    hold: bool = False,
    settle_steps: int = 2,
) -> tuple[np.ndarray, int | None, float]:
    """Label the first steps of a session under first-bout calibration, one step at a time.

    The same rule whether the steps arrive one by one or all at once: after each step the calibration
    (:func:`calibration_decision`) either decides the AP sign or not. Before it decides, each step is
    labelled under the current best sign (``hold=False``) or not yet (``hold=True``, NaN); from the
    deciding step on, every step is labelled under the decided sign with evidence carried from the first
    step (:func:`smooth_log_odds`).

    Parameters
    ----------
    model : DirectionModel
    features : ndarray, shape (k, n_features)
        Features of the session's steps so far, in order, at ap_sign = +1.
    start_s, end_s : ndarray, shape (k,)
    decay : float
        Evidence carried within bouts.
    min_steps, max_steps, margin : see :func:`calibration_decision`
    final : bool
        The stream ended: decide with what there is.
    hold : bool
        Leave steps before the decision unlabelled (NaN) instead of labelling them provisionally.
    settle_steps : int, default=2
        The session's first steps do not count towards the decision (unless nothing else is there at
        the end): gait initiation is atypical, and the detector's AP axis is still settling then (on
        rotated IPOL recordings its direction can still turn by more than 90° over the first steps).

    Returns
    -------
    log_odds : ndarray, shape (k,)
        Forward log-odds each step is labelled with (NaN where not labelled yet).
    decided_at : int or None
        Index of the step after which the sign was decided (None: not yet).
    sign : float
        The decided sign, or the current best one.
    """
    k = features.shape[0]
    out = np.full(k, np.nan)
    if k == 0:
        return out, None, 1.0
    scores = calibration_scores(model, features)
    mirrored = mirror_features(features)

    def carried(sign: float, n: int) -> np.ndarray:
        lo = forward_log_odds(model, features[:n] if sign > 0 else mirrored[:n])
        return smooth_log_odds(lo, start_s[:n], end_s[:n], decay=decay)[0]

    rule = {"min_steps": min_steps, "max_steps": max_steps, "margin": margin}

    def usable(n: int) -> np.ndarray:
        return scores[settle_steps:n] if n > settle_steps else scores[:0]

    for j in range(k):
        sign = calibration_decision(usable(j + 1), **rule)
        if sign is not None:
            values = carried(sign, k)
            first = 0 if hold else j
            out[first:] = values[first:]
            return out, j, sign
        if not hold:
            evidence = usable(j + 1) if j + 1 > settle_steps else scores[: j + 1]
            best = 1.0 if np.median(evidence) >= 0 else -1.0
            out[j] = carried(best, j + 1)[j]
    evidence = usable(k) if k > settle_steps else scores
    best = 1.0 if np.median(evidence) >= 0 else -1.0
    if final:
        values = carried(best, k)
        if hold:
            out[:] = values
        return out, k - 1, best
    return out, None, best


# ----------------------------------------------------------------------------------------------------
# Evaluation


@dataclass
class EvaluationReport:
    """Subject-wise evaluation figures.

    Attributes
    ----------
    split : str
        How train and test were separated.
    folds : list of dict
        Per fold: test subjects and step counts.
    step_detection : dict
        Pooled over recordings with annotated steps: ``recordings``, ``reference_steps``,
        ``detected_steps``, ``true_positives``, ``precision``, ``recall``, ``f1``, ``count_error``
        ((detected − reference) / reference), ``tolerance_s``.
    direction : dict
        ``real``: per real label (forward/backward), ``n_steps``, ``correct``, ``accuracy`` (None when no
        step), labelled as the pipeline does (evidence carried within bouts) with the forward reference
        known (metadata axis, or the pendular orientation of the recording's labelled steps);
        ``real_first_bout``: the same with the pipeline's first-bout calibration (first steps assumed
        forward); ``first_bout_sessions``: recordings starting with forward steps, and how many of them
        calibration oriented the wrong way round; ``real_per_step``: each step alone (no carried
        evidence), reference known;
        ``mirrored``: accuracy on AP-mirrored real forward steps — synthetic, not real backward walking.
    model : dict
        Metadata of the evaluated model (or of the fold models' training).
    """

    split: str
    folds: list[dict[str, Any]]
    step_detection: dict[str, Any]
    direction: dict[str, Any]
    model: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the report."""
        return json.loads(json.dumps(self.__dict__, default=_json_default))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _tally() -> dict[str, dict[str, int]]:
    return {c: {"n_steps": 0, "correct": 0} for c in ("forward", "backward")}


def _finish(tally: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    return {
        c: {**v, "accuracy": (v["correct"] / v["n_steps"]) if v["n_steps"] else None}
        for c, v in tally.items()
    }


def _predict_bouts(
    model: DirectionModel, features: np.ndarray, rs: _RecordingSteps, decay: float
) -> np.ndarray:
    """Labels as the pipeline gives them: per-step log-odds carried within bouts."""
    log_odds, _ = smooth_log_odds(forward_log_odds(model, features), rs.start_s, rs.end_s, decay=decay)
    return np.where(log_odds >= 0, "forward", "backward")


def evaluate(
    recordings: Sequence[Recording],
    *,
    model: DirectionModel | None = None,
    n_splits: int = 5,
    synthetic_backward: Literal["auto"] | bool = "auto",
    tolerance_s: float = 0.2,
    calibration_steps: int = 8,
    decay: float = EVIDENCE_DECAY,
) -> EvaluationReport:
    """Subject-wise evaluation: step detection and direction accuracy on people not trained on.

    Parameters
    ----------
    recordings : sequence of Recording
        Recordings with ``meta["subject"]`` (recordings without a subject count as their own subject).
    model : DirectionModel, optional
        Score this model on all recordings (it must not have been trained on them). None: train a fresh
        model per fold on the other subjects (GroupKFold by subject).
    n_splits : int, default=5
        Folds (reduced to the number of subjects when there are fewer).
    synthetic_backward : "auto" or bool, default="auto"
        Passed to training when ``model`` is None.
    tolerance_s : float, default=0.2
        Step-matching tolerance (s).
    calibration_steps : int, default=8
        Steps used by the first-bout calibration figure.
    decay : float, default=EVIDENCE_DECAY
        Evidence carried within bouts, as in the pipeline (:func:`smooth_log_odds`).

    Returns
    -------
    EvaluationReport
    """
    recordings = list(recordings)
    if not recordings:
        raise ModelError("evaluate needs at least one recording")
    params = dict(model.detector_params) if model is not None else {}
    items = [_detect(r, params) for r in recordings]
    subjects = np.array(
        [
            str(r.meta.get("subject") or r.meta.get("source") or f"recording-{i}")
            for i, r in enumerate(recordings)
        ]
    )

    # Step detection (does not depend on the direction model).
    match = None
    n_scored = 0
    for rs in items:
        rec = rs.recording
        if rec.reference_steps_s is None:
            continue
        m = match_steps(
            rs.start_s, rec.reference_steps_s, tolerance_s=tolerance_s, window_s=rec.reference_window_s
        )
        match = m if match is None else match + m
        n_scored += 1
    step_detection: dict[str, Any] = {"recordings": n_scored, "tolerance_s": tolerance_s}
    if match is not None:
        step_detection.update(
            reference_steps=match.n_reference,
            detected_steps=match.n_detected,
            true_positives=match.tp,
            precision=match.precision,
            recall=match.recall,
            f1=match.f1,
            count_error=match.count_error,
        )

    real, first_bout, mirrored, per_step = _tally(), _tally(), _tally(), _tally()
    sessions = {"sessions": 0, "swapped": 0}
    folds: list[dict[str, Any]] = []
    unique = np.unique(subjects)
    if model is not None:
        splits = [(np.zeros(0, dtype=int), np.arange(len(items)))]
        split = "given model scored on all recordings (none may be in its training data)"
    else:
        if unique.size < 2:
            raise ModelError("subject-wise evaluation needs recordings of at least two subjects")
        k = min(n_splits, unique.size)
        from sklearn.model_selection import GroupKFold

        splits = list(GroupKFold(n_splits=k).split(np.zeros(len(items)), groups=subjects))
        split = f"GroupKFold({k}) by subject: each subject is tested by a model trained without them"
    _orient(items)
    fold_meta: dict[str, Any] = {}
    for train_idx, test_idx in splits:
        if model is None:
            fold_model = _fit(
                [items[i] for i in train_idx],
                synthetic_backward=synthetic_backward,
                detector_params=params,
                classifier=None,
            )
            fold_meta = fold_model.metadata
        else:
            fold_model = model
            fold_meta = model.metadata
        n_fold = {"forward": 0, "backward": 0}
        for i in test_idx:
            rs = items[i]
            keep = np.isin(rs.labels, CLASSES)
            if not keep.any():
                continue
            truth = rs.labels[keep].astype(str)
            X = _oriented_features(rs)
            pred = _predict_bouts(fold_model, X, rs, decay)[keep]
            single = fold_model.classifier.predict(X[keep])
            # First-bout calibration as the pipeline does it: the first steps are assumed forward.
            cal_log_odds, _, cal_sign = first_bout_log_odds(
                fold_model,
                rs.features,
                rs.start_s,
                rs.end_s,
                decay=decay,
                max_steps=calibration_steps,
                final=True,
            )
            pred_cal = np.where(cal_log_odds >= 0, "forward", "backward")[keep]
            if rs.ap_sign is not None and rs.ap_sign.size and truth[0] == "forward":
                # A session that starts forward is calibrated right when it finds the known orientation.
                sessions["sessions"] += 1
                sessions["swapped"] += int(cal_sign != rs.ap_sign[0])
            for c in CLASSES:
                sel = truth == c
                n_fold[c] += int(sel.sum())
                for tally, p in ((real, pred), (first_bout, pred_cal), (per_step, single)):
                    tally[c]["n_steps"] += int(sel.sum())
                    tally[c]["correct"] += int(np.sum(p[sel] == c))
            pred_m = _predict_bouts(fold_model, mirror_features(X), rs, decay)[keep][truth == "forward"]
            mirrored["backward"]["n_steps"] += int(pred_m.shape[0])
            mirrored["backward"]["correct"] += int(np.sum(pred_m == "backward"))
        folds.append({"test_subjects": sorted(set(subjects[test_idx])), "test_steps": n_fold})
    mirrored_out = _finish(mirrored)
    del mirrored_out["forward"]
    direction = {
        "real": _finish(real),
        "real_first_bout": _finish(first_bout),
        "first_bout_sessions": sessions,
        "real_per_step": _finish(per_step),
        "mirrored": {
            "note": "AP-mirrored real forward steps (synthetic); not accuracy on real backward walking",
            **mirrored_out,
        },
        "backward_on_real_backward_walking": (
            "unvalidated" if real["backward"]["n_steps"] == 0 else "see real.backward"
        ),
    }
    return EvaluationReport(
        split=split, folds=folds, step_detection=step_detection, direction=direction, model=fold_meta
    )
