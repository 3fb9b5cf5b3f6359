"""The fitted direction model: a numpy-only linear predictor and what the pipeline needs to use it."""

from __future__ import annotations

__all__ = ["CLASSES", "DirectionModel", "LinearDirectionPredictor", "forward_log_odds"]

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitdir.errors import ModelError
from gaitdir.features import FEATURE_NAMES

if TYPE_CHECKING:
    from gaitdir.model._classifier import DirectionClassifier

#: Class labels, in the order of ``predict_proba`` columns.
CLASSES: tuple[str, str] = ("backward", "forward")


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


def forward_log_odds(model: DirectionModel, features: np.ndarray) -> np.ndarray:
    """Per-step log-odds of forward vs backward, shape (k,), clipped to ±13.8."""
    p = np.clip(model.forward_proba(features), 1e-6, 1 - 1e-6)
    odds = 1 - p
    np.divide(p, odds, out=odds)
    return np.log(odds, out=odds)
