"""The error of a two-layer network against the one neuron relu(<w, x>): one entry, dispatched by norm and d.

The table of methods is in :mod:`prunegap.errors`; this module picks the
evaluator (:mod:`.circle`, :mod:`.sphere`, :mod:`.l2`, or the two points of
d = 1) and holds the plain forward pass.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from .._validation import as_generator, check_choice, check_positive_float
from ..setting import NORMS, OUTPUTS
from ._bound import ErrorBound
from ._scale import rescaled_instance, scale_back
from .circle import l2_error_circle, sup_error_circle
from .l2 import l2_error_kernel, l2_error_monte_carlo
from .sphere import sup_error_sphere

__all__ = ["network_error", "forward", "target_values", "DEFAULT_TOL"]

DEFAULT_TOL = 1e-6  # absolute width of a certified sup interval in d >= 3


def forward(A: np.ndarray, b: np.ndarray, X: np.ndarray, output: str = "relu") -> np.ndarray:
    """g(X) for effective weights A (k x d), b (k) at the rows of X (m x d)."""
    h = np.maximum(X @ A.T, 0.0) @ b
    return np.maximum(h, 0.0) if output == "relu" else h


def target_values(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    return np.maximum(X @ w, 0.0)


def _points_error(A, b, w, X, output, weights=None) -> tuple[float, np.ndarray]:
    diff = forward(A, b, X, output) - target_values(w, X)
    return diff, np.abs(diff)


def _error_d1(A: np.ndarray, b: np.ndarray, w: np.ndarray, output: str, norm: str, n_witnesses: int) -> ErrorBound:
    """d = 1: the sphere is {-1, +1}, so both norms are exact up to rounding.

    Computed on the instance rescaled by an exact power of two (no square
    over- or underflows at any scale), then scaled back outwards.  Rounding:
    each of the k products and the sum err by at most (k + 2) eps S with
    S = sum_k |b_k A_k| + |w| (then the difference, the square and the
    root add a few eps of the value, itself <= S): 4 (k + 2) eps S covers it.
    """
    keep = (b != 0) & (A[:, 0] != 0)
    A, b, w, exp = rescaled_instance(A[keep], b[keep], w)
    X = np.array([[1.0], [-1.0]])
    diff, ad = _points_error(A, b, w, X, output)
    if norm == "sup":
        val = float(ad.max())
    else:  # both signs equally likely; E x^2 = 1 for the Gaussian
        val = float(np.sqrt(np.mean(diff**2)))
    slack = 4 * (A.shape[0] + 2) * float(np.finfo(float).eps) * (float(np.abs(b) @ np.abs(A[:, 0])) + abs(float(w[0])))
    order = np.argsort(ad)[::-1][: max(1, n_witnesses)]
    with np.errstate(over="ignore"):
        values = np.ldexp(diff[order], exp)
    return ErrorBound(scale_back(max(0.0, val - slack), exp, up=False), scale_back(val + slack, exp, up=True),
                      "exact-points", witnesses=X[order], witness_values=values)


def _accepted(func: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options ``func`` takes: callers pass one bag of options to every method."""
    params = inspect.signature(func).parameters
    return {k: v for k, v in options.items() if k in params}


def network_error(
    A: np.ndarray,
    b: np.ndarray,
    w: np.ndarray,
    *,
    output: str = "relu",
    norm: str = "sup",
    tol: float = DEFAULT_TOL,
    eps: float | None = None,
    rng: Any = 0,
    n_witnesses: int = 1,
    **options: Any,
) -> ErrorBound:
    """Certified error of g(x) = out(sum_k b_k relu(<A_k, x>)) against relu(<w, x>).

    ``tol`` is the largest gap upper - lower the caller accepts where the
    answer is not exact; with ``eps`` given, a certified evaluation may stop
    as soon as the interval decides ``<= eps`` either way.  ``rng`` seeds the
    Monte Carlo estimate (the only random method; it only fills
    ``ErrorBound.estimate``, never the proven [lower, upper]).
    """
    check_choice("output", output, OUTPUTS)
    check_choice("norm", norm, NORMS)
    tol = check_positive_float("tol", tol)
    A = np.asarray(A, dtype=np.float64).reshape(-1, np.shape(w)[0])
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    w = np.asarray(w, dtype=np.float64)
    d = w.shape[0]
    if d == 1:
        return _error_d1(A, b, w, output, norm, n_witnesses)
    if norm == "sup":
        if d == 2:
            return sup_error_circle(A, b, w, output=output, n_witnesses=n_witnesses)
        return sup_error_sphere(
            A, b, w, output=output, tol=tol, eps=eps, n_witnesses=n_witnesses, **_accepted(sup_error_sphere, options)
        )
    if output == "linear":
        return l2_error_kernel(A, b, w, norm=norm)
    if d == 2:
        return l2_error_circle(A, b, w, output=output, norm=norm)
    return l2_error_monte_carlo(
        A, b, w, output=output, norm=norm, rng=as_generator(rng), **_accepted(l2_error_monte_carlo, options)
    )
