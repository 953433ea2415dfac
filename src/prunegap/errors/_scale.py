"""Exact power-of-two rescaling, shared by the evaluators (THEORY §3).

Every error here is positively 1-homogeneous: scaling A and w by s > 0 (b
fixed) scales g - f by s, and b_k relu(<A_k, x>) = (2^-e b_k) relu(<2^e A_k, x>).
So an instance can be computed on at a scale where no square under- or
overflows, and its bounds scaled back.  Multiplying by a power of two is exact
in the normal range; only the two ends need care, and those are rounded
outwards (:func:`scale_back`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["unit_power", "scale_back", "rescaled_instance"]

_TINY = float(np.finfo(np.float64).tiny)  # the smallest normal number
_MAX = float(np.finfo(np.float64).max)


def unit_power(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """X = 2^e * Xhat row-wise, with max |Xhat| in [1/2, 1) (exact: a power of two).

    A zero row has e = 0 and stays zero.
    """
    e = np.frexp(np.max(np.abs(X), axis=1))[1].astype(np.int64)
    return np.ldexp(X, -e[:, None].astype(np.int32)), e


def scale_back(x: float, exp: int, up: bool) -> float:
    """2^exp x rounded outwards (x >= 0): exact unless it leaves the normal range.

    Below it the result is rounded to the subnormal grid and then moved one
    step outwards (so a lower bound can become 0, never more than the exact
    value); above it an upper bound is inf and a lower bound the largest float.
    """
    if x == 0.0:
        return 0.0
    if math.isinf(x) or math.frexp(x)[1] + exp > 1024:  # 2^exp x >= 2^1024
        return math.inf if up else _MAX
    y = math.ldexp(x, exp)  # cannot overflow now
    if abs(y) < _TINY:
        y = math.nextafter(y, math.inf if up else 0.0)
    return max(y, 0.0)


def rescaled_instance(A: np.ndarray, b: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(A', b', w', exp) with g' - f' = 2^-exp (g - f) for both outputs.

    b'_k = 2^-eb_k b_k in [1/2, 1) in modulus, A'_k = 2^(eb_k - exp) A_k and
    w' = 2^-exp w, with exp the largest exponent of b_k max|A_k| or of
    max|w|: every entry of A' and w' is below 1 in modulus and the largest
    b'_k ||A'_k|| or ||w'|| is at least 1/4, so no square of a norm under- or
    overflows.  Entries pushed below the normal range (more than 2^1021 below
    that top) round to the subnormal grid, within 2^-1075 each: at most
    (k + 1) sqrt(d) 2^-1075 on g' - f', far below every rounding allowance of
    the evaluators, which are at least eps times that top.  Rows of A must be
    nonzero (zero units are dropped before).
    """
    tops = []
    if A.shape[0]:
        _, ea = unit_power(A)
        bh, eb = unit_power(b[:, None])
        tops.append(int((ea + eb).max()))
    if np.any(w != 0):
        tops.append(int(unit_power(w[None, :])[1][0]))
    exp = max(tops) if tops else 0
    if A.shape[0]:
        # eb - exp is at most -ea, so A' stays below 1; clipped, an exponent far
        # below only flushes to 0, which it does anyway
        shift = np.clip(eb - exp, -2200, 2200).astype(np.int32)
        A, b = np.ldexp(A, shift[:, None]), bh[:, 0]
    return A, b, np.ldexp(w, int(np.clip(-exp, -2200, 2200))), exp
