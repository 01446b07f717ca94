"""Floors every model must beat: the mean predictor and ridge on inverse distances."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from equilens.data import Frames


def inverse_distances(frames: Frames) -> np.ndarray:
    """(n_frames, n_pairs) 1/r_ij (1/Å) of every atom pair i<j; frames must be uniform."""
    pos = frames.positions_3d()
    i, j = np.triu_indices(pos.shape[1], k=1)
    return 1.0 / np.linalg.norm(pos[:, i] - pos[:, j], axis=-1)


def mean_predictor(train: Frames, target: Frames) -> np.ndarray:
    """Predict the training mean energy for every target frame (kcal/mol)."""
    return np.full(len(target), train.energy.mean())


def ridge_inverse_distances(train: Frames, target: Frames) -> np.ndarray | None:
    """Ridge regression (alpha by CV) of energy on inverse distances; None if frames differ."""
    if not (train.uniform and target.uniform and
            np.array_equal(train.frame_numbers(0), target.frame_numbers(0))):
        return None
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-6, 3, 19)))
    model.fit(inverse_distances(train), train.energy)
    return model.predict(inverse_distances(target))
