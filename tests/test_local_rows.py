"""The short second-difference rows of the d = 2 solver are implied by the point rows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prunegap.solvers.mip import second_difference_rows


def _H(t: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    X = np.stack([np.cos(t), np.sin(t)], axis=1)
    return np.maximum(X @ A.T, 0.0) * b


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), output=st.sampled_from(["relu", "linear"]))
def test_rows_equal_the_second_difference_of_every_column(seed: int, output: str) -> None:
    rng = np.random.default_rng(seed)
    J = int(rng.integers(1, 40))
    A = rng.uniform(-1, 1, (J, 2))
    b = rng.uniform(-1, 1, J)
    w = rng.uniform(-1, 1, 2)
    th = rng.uniform(0, 2 * np.pi, 30)
    de = np.array([1e-3, 0.02, 0.3, 1.0, 1.4])
    R, lo, hi = second_difference_rows(A, b, w, "linear", 0.01, th, de)
    T, D = np.repeat(th, de.size), np.tile(de, th.size)
    ref = _H(T + D, A, b) + _H(T - D, A, b) - 2 * np.cos(D)[:, None] * _H(T, A, b)
    assert np.abs(R.toarray() - ref).max() < 1e-12
    # sparsity is the point of the rows: a column enters only with a kink within delta
    alpha = np.arctan2(A[:, 1], A[:, 0])
    for r in range(0, T.size, 7):
        dist = np.abs(np.mod(T[r] - alpha[None, :] + np.array([[-0.5], [0.5]]) * np.pi + np.pi, 2 * np.pi) - np.pi)
        far = (dist >= D[r]).all(axis=0)
        assert np.all(R.toarray()[r, far] == 0.0)


@pytest.mark.parametrize("output", ["relu", "linear"])
@pytest.mark.parametrize("seed", range(6))
def test_every_mask_that_meets_the_points_meets_the_rows(seed: int, output: str) -> None:
    # brute force over all 2^10 masks: the rows never cut a mask that satisfies the three point rows
    rng = np.random.default_rng(seed)
    A = rng.uniform(-1, 1, (10, 2))
    b = rng.uniform(-1, 1, 10)
    w = rng.uniform(-1, 1, 2)
    level = 0.1 * float(np.linalg.norm(w))
    th = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    de = np.array([0.05, 0.1, 0.3, 0.6])
    R, lo, hi = second_difference_rows(A, b, w, output, level, th, de)
    T, D = np.repeat(th, de.size), np.tile(de, th.size)

    def point_ok(t, h):
        f = np.maximum(w[0] * np.cos(t) + w[1] * np.sin(t), 0.0)
        ok_hi = h <= f + level
        ok_lo = np.where(f > level, h >= f - level, True) if output == "relu" else h >= f - level
        return ok_hi & ok_lo

    cut = 0
    for s in itertools.product([0, 1], repeat=10):
        s = np.array(s, float)
        vals = R @ s
        holds = (vals >= lo - 1e-12) & (vals <= hi + 1e-12)
        meets = point_ok(T, _H(T, A, b) @ s) & point_ok(T + D, _H(T + D, A, b) @ s) & point_ok(T - D, _H(T - D, A, b) @ s)
        assert np.all(holds[meets])
        cut += int((~holds).sum())
    assert cut > 0  # the rows do constrain something
