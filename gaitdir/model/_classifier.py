"""The scikit-learn direction estimator used to *train* models (imported only when training or unpickling).

Classifying with a saved linear model needs none of this: :func:`gaitdir.model.load_model` gives a
numpy-only :class:`gaitdir.model.LinearDirectionPredictor` for JSON models, so start-up does not pay for
importing scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from gaitdir.model._predictor import CLASSES

__all__ = ["DirectionClassifier"]


class DirectionClassifier(ClassifierMixin, BaseEstimator):
    """Per-step direction classifier; classes ``["backward", "forward"]``.

    Parameters
    ----------
    kind : {"logistic", "boosting"}, default="logistic"
        ``"logistic"``: standardised features and L2-regularised logistic regression — small, and exactly
        antisymmetric under AP mirroring when trained with the mirrored class (what the shipped model
        uses). ``"boosting"``: gradient-boosted trees, for larger sets of real backward steps where
        non-linear shape cues may help.
    C : float, default=0.1
        Inverse regularisation strength (logistic).
    max_iter : int, default=150
        Boosting iterations (boosting) or solver iterations ×10 (logistic).
    max_leaf_nodes : int, default=15
        Leaves per tree (boosting).
    random_state : int or None, default=0
        Seed of the estimator's internal randomness.

    Attributes
    ----------
    classes_ : ndarray of str, shape (2,)
        ``["backward", "forward"]``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    estimator_ : sklearn estimator
        The fitted inner estimator (predicts 1 = forward).
    """

    def __init__(
        self,
        kind: str = "logistic",
        C: float = 0.1,
        max_iter: int = 150,
        max_leaf_nodes: int = 15,
        random_state: int | None = 0,
    ) -> None:
        self.kind = kind
        self.C = C
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state

    def _make(self) -> Any:
        # Imported here, not at module level: classifying with a saved model only needs what unpickling
        # it imports, and scikit-learn's ensemble and model-selection modules cost seconds of start-up.
        if self.kind == "logistic":
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            return make_pipeline(
                StandardScaler(),
                LogisticRegression(C=self.C, max_iter=10 * self.max_iter, random_state=self.random_state),
            )
        if self.kind == "boosting":
            from sklearn.ensemble import HistGradientBoostingClassifier

            return HistGradientBoostingClassifier(
                max_iter=self.max_iter,
                max_leaf_nodes=self.max_leaf_nodes,
                l2_regularization=1.0,
                early_stopping=False,
                random_state=self.random_state,
            )
        raise ValueError(f"kind must be 'logistic' or 'boosting'; got {self.kind!r}")

    def fit(
        self, X: np.ndarray, y: Sequence[str], sample_weight: np.ndarray | None = None
    ) -> DirectionClassifier:
        """Fit on features ``X`` (k, n_features) and labels ``y`` in {"backward", "forward"}.

        Parameters
        ----------
        X : ndarray, shape (k, n_features)
        y : sequence of str, length k
        sample_weight : ndarray, shape (k,), optional
            Per-step weights; by default the two classes are balanced.

        Returns
        -------
        DirectionClassifier
            self
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y).astype(str)
        if X.ndim != 2 or X.shape[0] != y.shape[0]:
            raise ValueError(f"X must be (k, n_features) with one label per row; got {X.shape} and {y.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinite values")
        unknown = sorted(set(np.unique(y)) - set(CLASSES))
        if unknown:
            raise ValueError(f"labels must be 'backward' or 'forward'; got {unknown}")
        if len(np.unique(y)) < 2:
            raise ValueError(f"training needs both classes {list(CLASSES)}; got only {sorted(set(y))}")
        if sample_weight is None:
            # Balance the classes so that the prior does not decide ambiguous steps.
            counts = {c: int(np.sum(y == c)) for c in CLASSES}
            sample_weight = np.array([0.5 * len(y) / counts[c] for c in y])
        estimator = self._make()
        target = (y == "forward").astype(int)
        if self.kind == "logistic":
            estimator.fit(X, target, logisticregression__sample_weight=sample_weight)
        else:
            estimator.fit(X, target, sample_weight=sample_weight)
        self.estimator_ = estimator
        self.classes_ = np.array(CLASSES)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, columns ordered as ``classes_`` (backward, forward)."""
        check_is_fitted(self, "estimator_")
        X = np.asarray(X, dtype=np.float64)
        if X.shape[0] == 0:
            return np.zeros((0, 2))
        p_forward = self.estimator_.predict_proba(X)[:, 1]
        return np.column_stack([1.0 - p_forward, p_forward])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable class of each row (str)."""
        proba = self.predict_proba(X)
        return self.classes_[(proba[:, 1] >= 0.5).astype(int)]
