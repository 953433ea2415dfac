"""Data for edge-popup: scikit-learn's digits, and a planted teacher network.

Both are pure functions of their arguments; numpy only (the training loop
moves them to torch).  Randomness comes from prunegap's seeded streams
(:mod:`prunegap.streams`: ``DATA`` and ``TEACHER``), purposes of their own,
so a data set never shifts the random network and vice versa.

* ``digits``: the 1797 8x8 images bundled with scikit-learn (no download),
  64 features, 10 classes.  A stratified split (``test_fraction`` of each
  class to the test set, drawn from ``data_seed``), then each feature is
  standardised with the *training* mean and standard deviation (features
  constant on the training set are only centred).
* ``teacher``: regression on a planted bias-free ReLU teacher
  f(x) = (1/k) sum_j relu(<w_j, x>) with k = ``teacher_width``; w_1 is
  prunegap's target for (setting, seed) (:func:`prunegap.draw_target`), so
  with k = 1 the teacher is exactly the single neuron of the certified
  solvers.  Inputs are uniform on the unit sphere S^(d-1) (every function
  here is positively homogeneous, so the sphere carries the sup norm over
  the ball), drawn from ``data_seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import streams
from .._validation import check_choice, check_int, check_seed
from ..exceptions import InvalidArgument
from ..setting import Setting
from ..streams import stream_generator
from ..targets import draw_target

__all__ = ["DATASETS", "Dataset", "digits", "teacher", "PURPOSE_DATA", "PURPOSE_TEACHER"]

#: The data sets ``popup`` knows.
DATASETS: tuple[str, ...] = ("digits", "teacher")
# Stream purposes (the table: prunegap.streams); fixed forever: changing one changes every data set.
PURPOSE_DATA = streams.DATA  # split of digits / input points of the teacher (from data_seed)
PURPOSE_TEACHER = streams.TEACHER  # the teacher's units beyond w_1 (from seed)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split; ``y`` is int64 labels (classification) or float64 values (regression)."""

    name: str
    task: str  # "classification" or "regression"
    X_train: np.ndarray  # (m_train, d) float64
    y_train: np.ndarray  # (m_train,)
    X_test: np.ndarray  # (m_test, d) float64
    y_test: np.ndarray  # (m_test,)
    outputs: int  # network outputs: classes, or 1
    w: np.ndarray | None = None  # (d,) the single-neuron target (teacher with k = 1)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def d(self) -> int:
        return int(self.X_train.shape[1])


def _stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    test: list[np.ndarray] = []
    for c in np.unique(y):
        idx = np.nonzero(y == c)[0]
        idx = idx[rng.permutation(idx.shape[0])]
        test.append(idx[: int(round(test_fraction * idx.shape[0]))])
    is_test = np.zeros(y.shape[0], bool)
    is_test[np.concatenate(test)] = True
    return np.nonzero(~is_test)[0], np.nonzero(is_test)[0]


def digits(*, test_fraction: float = 0.2, data_seed: int = 0) -> Dataset:
    """scikit-learn's bundled digits, split and standardised (see the module's docstring)."""
    if not 0.0 < float(test_fraction) < 1.0:
        raise InvalidArgument(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise InvalidArgument(f"dataset 'digits' needs scikit-learn ({exc}); install the extra: pip install 'prunegap[torch]'") from None
    bunch = load_digits()
    X = np.asarray(bunch.data, np.float64)
    y = np.asarray(bunch.target, np.int64)
    train, test = _stratified_split(y, float(test_fraction), stream_generator(check_seed(data_seed, "data_seed"), PURPOSE_DATA))
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    Xs = (X - mean) / std
    info = {"n_train": int(train.size), "n_test": int(test.size), "classes": 10, "test_fraction": float(test_fraction),
            "data_seed": int(data_seed), "standardised": True}
    return Dataset("digits", "classification", Xs[train], y[train], Xs[test], y[test], 10, None, info)


def sphere_points(m: int, d: int, rng: np.random.Generator) -> np.ndarray:
    g = rng.standard_normal((m, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def teacher(*, d: int = 2, seed: int = 0, n_train: int = 1024, n_test: int = 1024, teacher_width: int = 1,
            data_seed: int = 0, init: str = "uniform") -> Dataset:
    """Regression on the planted teacher (see the module's docstring)."""
    d = check_int("d", d, minimum=1)
    seed = check_seed(seed)
    n_train = check_int("n_train", n_train, minimum=1)
    n_test = check_int("n_test", n_test, minimum=1)
    k = check_int("teacher_width", teacher_width, minimum=1)
    w1 = draw_target(Setting(d=d, init=init), seed)
    extra = sphere_points(k - 1, d, stream_generator(seed, PURPOSE_TEACHER)) if k > 1 else np.empty((0, d))
    W = np.vstack([w1, extra])  # (k, d)
    rng = stream_generator(check_seed(data_seed, "data_seed"), PURPOSE_DATA)
    X = sphere_points(n_train + n_test, d, rng)
    y = np.maximum(X @ W.T, 0.0).mean(axis=1)
    info = {"n_train": n_train, "n_test": n_test, "teacher_width": k, "data_seed": int(data_seed), "inputs": "unit sphere"}
    return Dataset("teacher", "regression", X[:n_train], y[:n_train], X[n_train:], y[n_train:], 1,
                   w1 if k == 1 else None, info)


def load(name: str, **options: Any) -> Dataset:
    """The data set ``name`` with its options (those of :func:`digits` or :func:`teacher`)."""
    check_choice("dataset", name, DATASETS)
    return digits(**options) if name == "digits" else teacher(**options)
