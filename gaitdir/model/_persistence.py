"""Safe saving and loading of direction models, with the trusted-model registry.

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
import os
import tempfile
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from gaitdir.errors import ModelError
from gaitdir.features import FEATURE_NAMES
from gaitdir.model._predictor import CLASSES, DirectionModel, LinearDirectionPredictor

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "default_model_path",
    "file_sha256",
    "load_model",
    "register_trusted_model",
    "save_model",
    "trusted_registry_path",
]


_DEFAULT_MODEL_FILE = "default_model.json"
_DEFAULT_HASH_FILE = "default_model.sha256"
_REGISTRY_FILE = "trusted_models.json"


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


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


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
        text = json.dumps(doc, indent=1, allow_nan=False, default=json_default)
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
