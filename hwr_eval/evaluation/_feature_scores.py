"""Detectors fitted on a network's training-split features: Mahalanobis, deep kNN, and kNN over its layers.

Each is fitted on the training split's features (:func:`~hwr_eval.evaluation.fit_scorer` computes them
with :func:`~hwr_eval.evaluation.model_outputs`) and scores new rows: higher means "more like the known
classes".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import HwrError

#: Neighbours of the ``knn`` detector: the deep-kNN paper's choice for CIFAR-10, whose 50,000 training
#: images are about the reference protocol's 44,640.
DEFAULT_K = 50
#: Training images whose leave-one-out neighbour distances standardise each layer of ``layerwise_knn``.
N_REFERENCE = 5000


class MahalanobisScore:
    """Class-conditional Gaussians with one shared covariance, on features of the training split.

    The score is minus half the smallest squared Mahalanobis distance to a class mean. The covariance is
    the maximum-likelihood estimate (sum of the class-centred outer products over n); its pseudo-inverse
    (:func:`scipy.linalg.pinvh`, via scikit-learn's ``EmpiricalCovariance``) copes with features that
    never fire (a dead ReLU unit is a zero-variance direction).
    """

    def fit(self, features, y) -> MahalanobisScore:
        """Fit the class means and the shared covariance on training ``features`` and labels ``y``."""
        from sklearn.covariance import EmpiricalCovariance

        features = np.asarray(features, dtype=np.float64)
        y = np.asarray(y)
        if features.ndim != 2 or len(features) != len(y) or len(y) == 0:
            raise HwrError(f"need features (n, d) with one label per row; got {features.shape} and {len(y)} labels")
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.means_ = np.stack([features[codes == k].mean(axis=0) for k in range(len(self.classes_))])
        covariance = EmpiricalCovariance(assume_centered=True).fit(features - self.means_[codes])
        self.precision_ = covariance.precision_
        return self

    def score(self, features) -> np.ndarray:
        """Minus half the smallest squared Mahalanobis distance of each row to a class mean."""
        features = np.asarray(features, dtype=np.float64)
        projected = features @ self.precision_
        # d_k = f'Pf - 2 f'P mu_k + mu_k'P mu_k, for all classes at once.
        squared = (np.einsum("ij,ij->i", projected, features)[:, None] - 2.0 * projected @ self.means_.T
                   + np.einsum("kj,kj->k", self.means_ @ self.precision_, self.means_)[None, :])
        return -0.5 * np.maximum(squared.min(axis=1), 0.0)


class KNNScore:
    """Deep nearest neighbours: distance of L2-normalised features to their k-th nearest training feature."""

    def __init__(self, k: int = DEFAULT_K):
        self.k = k

    def fit(self, features) -> KNNScore:
        """Index the L2-normalised training ``features``."""
        from sklearn.neighbors import NearestNeighbors

        features = _unit(features)
        if not isinstance(self.k, (int, np.integer)) or isinstance(self.k, bool) or self.k < 1:
            raise HwrError(f"k must be a positive integer, got {self.k!r}")
        if self.k > len(features):
            raise HwrError(f"k={self.k} neighbours but only {len(features):,} training images; lower k")
        self.index_ = NearestNeighbors(n_neighbors=int(self.k)).fit(features)
        return self

    def score(self, features) -> np.ndarray:
        """Minus the distance to the k-th nearest training feature (both L2-normalised)."""
        distances, _ = self.index_.kneighbors(_unit(features))
        return -distances[:, -1]


def _unit(features) -> np.ndarray:
    """Rows scaled to unit length, in float32: the kNN detectors keep the training split's rows, and float32
    halves a saved rejector (scikit-learn's neighbour search accumulates in float64: distances move by
    about 1e-7)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise HwrError(f"features must have shape (n_samples, n_features), got {features.shape}")
    return (features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def joined_layers(layer_outputs: Sequence[np.ndarray]) -> np.ndarray:
    """Layer outputs joined with equal weight: each L2-normalised, side by side, over ``sqrt(n_layers)``.

    Each row then has unit length, and a layer's share of a squared distance does not depend on its width.
    """
    if not len(layer_outputs):
        raise HwrError("no layer outputs to join")
    return np.hstack([_unit(layer) for layer in layer_outputs]) / np.float32(np.sqrt(len(layer_outputs)))


class LayerwiseKNNScore:
    """Deep kNN in every layer on its own: each layer's distance standardised on known images, then summed.

    ``layer_knn`` measures one distance in the layers joined side by side, so the penultimate layer -- which
    sees a filled blob much as a "0" -- can outvote the early layers that see no pen stroke in it. Here
    each layer has its own :class:`KNNScore` distance, turned into a z-score with the mean and standard
    deviation of the same distance for up to ``n_reference`` training images (each left out of its own
    neighbours), and the score is minus their sum: an image far out in any layer scores low.
    """

    def __init__(self, k: int = DEFAULT_K, n_reference: int = N_REFERENCE, random_state: int = 0):
        self.k = k
        self.n_reference = n_reference
        self.random_state = random_state

    def fit(self, layer_outputs: Sequence[np.ndarray]) -> LayerwiseKNNScore:
        """Index each layer of the training split, and standardise its distances on training images."""
        if not len(layer_outputs):
            raise HwrError("no layer outputs to fit on")
        self.layers_ = [KNNScore(self.k).fit(layer) for layer in layer_outputs]  # checks k
        n = len(layer_outputs[0])
        if self.k >= n:  # each reference image needs k neighbours besides itself
            raise HwrError(f"k={self.k} neighbours but only {n:,} training images; lower k below {n:,}")
        rows = np.random.default_rng(self.random_state).choice(n, size=min(self.n_reference, n), replace=False)
        self.means_, self.scales_ = [], []
        for knn, layer in zip(self.layers_, layer_outputs):
            # k + 1 neighbours: the nearest is the image itself
            distances = knn.index_.kneighbors(_unit(np.asarray(layer)[rows]), n_neighbors=int(self.k) + 1)[0][:, -1]
            self.means_.append(float(distances.mean()))
            self.scales_.append(max(float(distances.std()), 1e-12))
        return self

    def score(self, layer_outputs: Sequence[np.ndarray]) -> np.ndarray:
        """Minus the sum over layers of the standardised distance to the k-th nearest training image."""
        if len(layer_outputs) != len(self.layers_):
            raise HwrError(f"got {len(layer_outputs)} layer outputs; the detector was fitted on {len(self.layers_)}")
        z = [(-knn.score(layer) - mean) / scale
             for knn, layer, mean, scale in zip(self.layers_, layer_outputs, self.means_, self.scales_)]
        return -np.sum(z, axis=0)
