"""L2 errors in any dimension: exact kernel method and Monte Carlo (THEORY §3).

The setting: g(x) = out(h(x)) with h(x) = sum_k b_k relu(<A_k, x>), the
target f(x) = relu(<w, x>), and the error sqrt(E (g - f)^2) for x ~ N(0, I_d)
(``"l2-gaussian"``) or x uniform on the unit sphere S^{d-1} (``"l2-sphere"``).
(g - f)^2 is positively 2-homogeneous and ||x||^2 ~ chi^2_d is independent of
x / ||x||, so E_gauss = d * E_sphere.

For x ~ N(0, I_d) and the angle theta between a and b,

    k(a, b) = E[relu(<a, x>) relu(<b, x>)]
            = ||a|| ||b|| (sin theta + (pi - theta) cos theta) / (2 pi),

the degree-1 arc-cosine kernel halved.  A linear-output difference
h - f = sum_j c_j relu(<a_j, x>) therefore has E (h - f)^2 = c' K c exactly.

A relu output has no closed form, so :func:`l2_error_monte_carlo` samples it,
and caps the statistical upper end with a proven one: relu is 1-Lipschitz and
relu(t) = f whenever t = relu(<w, x>) - lam relu(<-w, x>) with lam >= 0, so

    |relu(h) - f| <= |h - relu(<w, x>) + lam relu(<-w, x>)|   pointwise,

and the right side is a linear-output network whose L2 norm is exact through
the kernel; it is minimised over lam >= 0 in closed form (lam = 1 is
|h - <w, x>|, lam = 0 is the linear-output error itself).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import as_generator, check_choice, check_int
from ..exceptions import InvalidArgument
from ..setting import OUTPUTS
from ._bound import ErrorBound

__all__ = ["arccos_kernel", "l2_error_kernel", "l2_error_monte_carlo"]

_EPS = float(np.finfo(np.float64).eps)
_L2_NORMS = ("l2-gaussian", "l2-sphere")
# Above this |cos theta| arccos loses digits (its derivative blows up at +-1),
# so those pairs get their angle from Kahan's difference formula instead.
_NEAR = 0.9
# Below this angle distance from pi, sin d - d cos d ~ d^3 / 3 cancels; use its series.
_SERIES_DELTA = 0.1
_CHUNK = 1 << 20  # pairs / sample rows per vectorised chunk, bounds temporary memory


def _rows(name: str, X: Any) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2:
        raise InvalidArgument(f"{name} must be a 2-d array of row vectors, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise InvalidArgument(f"{name} must contain only finite numbers")
    return X


def _unit_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.linalg.norm(X, axis=1)
    U = X / np.where(n > 0, n, 1.0)[:, None]  # zero rows stay zero and give k = 0 below
    return U, n


def _j_of_delta(delta: np.ndarray) -> np.ndarray:
    """sin(delta) - delta cos(delta), which is J at theta = pi - delta, without cancellation."""
    out = np.sin(delta) - delta * np.cos(delta)
    small = delta < _SERIES_DELTA
    if np.any(small):
        t = delta[small]
        t2 = t * t
        # Taylor series; the first omitted term is below 1e-14 relative at t = 0.1.
        out[small] = t * t2 * (1 / 3 + t2 * (-1 / 30 + t2 * (1 / 840 + t2 * (-1 / 45360 + t2 / 3991680))))
    return out


def arccos_kernel(X: Any, Y: Any) -> np.ndarray:
    """Gram matrix K[i, j] = E_{x ~ N(0, I)}[relu(<X_i, x>) relu(<Y_j, x>)].

    K[i, j] = ||a|| ||b|| (sin theta + (pi - theta) cos theta) / (2 pi) with
    a = X_i, b = Y_j and theta their angle; a zero row gives 0.  For x uniform
    on the unit sphere the same expectation is K / d.

    theta = arccos(cos theta) is used only where |cos theta| <= 0.9; closer to
    parallel or antiparallel the angle comes from Kahan's stable
    theta = 2 atan2(||u - v||, ||u + v||) on the unit vectors u, v, and near
    theta = pi the factor is evaluated as sin(delta) - delta cos(delta) with
    delta = pi - theta = 2 atan2(||u + v||, ||u - v||), by its series when small.
    1-d inputs are taken as single rows.
    """
    X, Y = _rows("X", X), _rows("Y", Y)
    if X.shape[1] != Y.shape[1]:
        raise InvalidArgument(f"X and Y must have the same number of columns, got {X.shape[1]} and {Y.shape[1]}")
    UX, nx = _unit_rows(X)
    UY, ny = _unit_rows(Y)
    c = np.clip(UX @ UY.T, -1.0, 1.0)
    J = np.sqrt(np.maximum((1.0 - c) * (1.0 + c), 0.0)) + (np.pi - np.arccos(c)) * c

    alive = (nx > 0)[:, None] & (ny > 0)[None, :]
    ii, jj = np.nonzero(alive & (np.abs(c) > _NEAR))
    step = max(1, _CHUNK // max(X.shape[1], 1))
    for s in range(0, ii.shape[0], step):
        i, j = ii[s : s + step], jj[s : s + step]
        u, v = UX[i], UY[j]
        dn = np.linalg.norm(u - v, axis=1)
        sn = np.linalg.norm(u + v, axis=1)
        near_par = dn <= sn
        theta = 2.0 * np.arctan2(dn, sn)
        delta = 2.0 * np.arctan2(sn, dn)
        # Near theta = 0 the value is ~ pi: no cancellation, the direct formula is fine.
        vals = np.where(near_par, np.sin(theta) + (np.pi - theta) * np.cos(theta), 0.0)
        far = ~near_par
        vals[far] = _j_of_delta(delta[far])
        J[i, j] = vals
    return (nx[:, None] * ny[None, :]) * J / (2.0 * np.pi)


def _check_instance(A: Any, b: Any, w: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    d = w.shape[0]
    if d == 0:
        raise InvalidArgument("w must be a nonempty vector, got length 0")
    A = np.asarray(A, dtype=np.float64).reshape(-1, d)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if b.shape[0] != A.shape[0]:
        raise InvalidArgument(f"b must have one entry per row of A ({A.shape[0]}), got {b.shape[0]}")
    for name, x in (("A", A), ("b", b), ("w", w)):
        if not np.all(np.isfinite(x)):
            raise InvalidArgument(f"{name} must contain only finite numbers")
    # Units with b_k = 0 or A_k = 0 contribute nothing; dropping them keeps K small.
    keep = (b != 0) & np.any(A != 0, axis=1)
    return A[keep], b[keep], w


def _rounding_slack(n_units: int, d: int, scale: float) -> float:
    """Float-rounding allowance on a squared Gaussian L2 norm c'Kc.

    Each K[i, j] is within about (d + 8)/2 * eps * ||a_i|| ||a_j|| of the truth
    (norms, a length-d dot product, and a kernel factor whose derivative in
    cos theta is at most pi), and summing c'Kc adds about n * eps * S^2 / 2
    with S = sum |c_i| ||a_i||.  Four times that, to stay on the safe side.
    """
    return 4.0 * (n_units + d + 16) * _EPS * scale * scale


def _quad(K: np.ndarray, c: np.ndarray, e: np.ndarray | None = None) -> float:
    return float(c @ (K @ (c if e is None else e)))


def l2_error_kernel(A: Any, b: Any, w: Any, *, norm: str = "l2-gaussian") -> ErrorBound:
    """Exact L2 error of the LINEAR-output network g(x) = sum_k b_k relu(<A_k, x>).

    err^2 = b'Kb - 2 b'k_w + k(w, w) with K = arccos_kernel(A, A) and
    k_w = arccos_kernel(A, w), for x ~ N(0, I_d); divided by d for x uniform
    on the sphere.  The returned [lower, upper] only widens the value by a
    float-rounding allowance on err^2 (see :func:`_rounding_slack`), clipped
    at 0 before the square root, so ``confidence`` is 1.
    """
    check_choice("norm", norm, _L2_NORMS)
    A, b, w = _check_instance(A, b, w)
    d = w.shape[0]
    units = np.vstack([A, w[None, :]])
    coef = np.concatenate([b, [-1.0]])
    K = arccos_kernel(units, units)
    mean_sq = _quad(K, coef)
    scale = float(np.abs(coef) @ np.linalg.norm(units, axis=1))
    slack = _rounding_slack(units.shape[0], d, scale)
    if norm == "l2-sphere":
        mean_sq, slack = mean_sq / d, slack / d
    return ErrorBound(
        lower=math.sqrt(max(mean_sq - slack, 0.0)),
        upper=math.sqrt(max(mean_sq, 0.0) + slack),
        method="kernel",
        stats={"mean_sq": mean_sq, "rounding_slack": slack, "kept_units": int(A.shape[0])},
    )


def _proven_relu_upper(A: np.ndarray, b: np.ndarray, w: np.ndarray, norm: str) -> dict[str, float]:
    """Proven upper bounds on ||relu(h) - f|| through linear-output networks.

    With c0 = (b, -1, 0) on units (A, w, -w) and e = (0, 0, 1):
    ||h - relu(<w,x>) + lam relu(<-w,x>)||^2 = e0 + 2 lam p + lam^2 q, where
    e0 = c0'Kc0, p = c0'Ke, q = e'Ke = ||w||^2 / 2.  Minimised at
    lam* = max(0, -p / q).
    """
    d = w.shape[0]
    units = np.vstack([A, w[None, :], -w[None, :]])
    K = arccos_kernel(units, units)
    c0 = np.concatenate([b, [-1.0, 0.0]])
    e = np.zeros_like(c0)
    e[-1] = 1.0
    e0, p, q = _quad(K, c0), _quad(K, c0, e), _quad(K, e)
    lam = max(0.0, -p / q) if q > 0 else 0.0
    best_sq = e0 + 2.0 * lam * p + lam * lam * q
    unit_norms = np.linalg.norm(units, axis=1)
    base = float(np.abs(c0) @ unit_norms)
    wn = float(np.linalg.norm(w))

    def upper(sq: float, lam_: float) -> float:
        slack = _rounding_slack(units.shape[0], d, base + lam_ * wn)
        if norm == "l2-sphere":
            sq, slack = sq / d, slack / d
        return math.sqrt(max(sq, 0.0) + slack)

    return {
        "bound": upper(best_sq, lam),
        "lam": lam,
        "bound_lam1": upper(e0 + 2.0 * p + q, 1.0),  # the |h - <w, x>| bound
        "bound_lam0": upper(e0, 0.0),  # the linear-output error itself
    }


def _default_batch(k: int, d: int) -> int:
    # A few (batch x (k + d)) float64 temporaries: keep each near 16 MiB.
    return int(min(65_536, max(256, (2 << 20) // max(k + d, 1))))


def l2_error_monte_carlo(
    A: Any,
    b: Any,
    w: Any,
    *,
    output: str = "relu",
    norm: str = "l2-gaussian",
    rng: Any,
    n_samples: int = 200_000,
    confidence: float = 0.999,
    batch: int | None = None,
    exact_when_possible: bool = True,
) -> ErrorBound:
    """L2 error of g(x) = out(sum_k b_k relu(<A_k, x>)) against relu(<w, x>) by Monte Carlo.

    Samples u uniform on S^{d-1} (normalised Gaussian vectors drawn from
    ``rng``, ``batch`` rows at a time) and estimates m = E Y with
    Y = (g(u) - f(u))^2 for ``"l2-sphere"`` and Y = d (g(u) - f(u))^2 for
    ``"l2-gaussian"`` (E_gauss = d E_sphere by homogeneity; sampling the
    sphere removes the chi^2 radial noise and keeps Y bounded).  With the
    sample mean m_n, standard error s_n and z = Phi^{-1}((1 + confidence)/2),
    the interval for m is [max(m_n - z s_n, 0), m_n + z s_n] (CLT), and the
    returned interval is its square root.

    For a relu output the upper end is replaced by the proven bound
    min_{lam >= 0} ||h - relu(<w,x>) + lam relu(<-w,x>)|| (exact via the
    kernel, plus rounding slack) when that is smaller; for a linear output
    by the exact kernel error.  ``confidence`` stays the Monte Carlo level
    because the lower end is statistical.  ``stats["upper_from"]`` says
    which upper end was used.

    With ``exact_when_possible`` (default), when g equals the linear-output
    network -- a linear output, or all kept b_k >= 0 so that h >= 0 -- the
    exact :func:`l2_error_kernel` result is returned instead (method
    ``"kernel"``, confidence 1, ``stats["shortcut"]`` set).

    The same ``rng`` state and arguments give the same answer.
    """
    check_choice("output", output, OUTPUTS)
    check_choice("norm", norm, _L2_NORMS)
    n_samples = check_int("n_samples", n_samples, minimum=2)
    try:
        confidence = float(confidence)
    except (TypeError, ValueError):
        raise InvalidArgument(f"confidence must be a number in (0, 1), got {confidence!r}") from None
    if not 0.0 < confidence < 1.0:
        raise InvalidArgument(f"confidence must be a number in (0, 1), got {confidence}")
    A, b, w = _check_instance(A, b, w)
    k, d = A.shape[0], w.shape[0]
    batch = _default_batch(k, d) if batch is None else check_int("batch", batch, minimum=1)
    gen = as_generator(rng)

    linear_equivalent = output == "linear" or bool(np.all(b >= 0))
    if exact_when_possible and linear_equivalent:
        res = l2_error_kernel(A, b, w, norm=norm)
        reason = "linear output" if output == "linear" else "all output weights >= 0, so relu(h) = h"
        return ErrorBound(res.lower, res.upper, "kernel", stats={**res.stats, "shortcut": reason})

    from scipy.stats import norm as _normal

    factor = float(d) if norm == "l2-gaussian" else 1.0
    AT = A.T
    # Chan et al.'s pairwise merge of (count, mean, M2): stable for large n.
    n_tot, mean, m2 = 0, 0.0, 0.0
    worst_abs, worst_u, worst_val = -1.0, None, 0.0
    remaining = n_samples
    while remaining > 0:
        m = min(batch, remaining)
        remaining -= m
        Z = gen.standard_normal((m, d))
        r = np.linalg.norm(Z, axis=1)
        r[r == 0] = 1.0  # probability zero; keeps the row finite (it then scores 0)
        U = Z / r[:, None]
        h = np.maximum(U @ AT, 0.0) @ b if k else np.zeros(m)
        g = np.maximum(h, 0.0) if output == "relu" else h
        diff = g - np.maximum(U @ w, 0.0)
        Y = factor * diff * diff
        bm = float(Y.mean())
        bm2 = float(((Y - bm) ** 2).sum())
        n_new = n_tot + m
        delta = bm - mean
        mean += delta * m / n_new
        m2 += bm2 + delta * delta * n_tot * m / n_new
        n_tot = n_new
        i = int(np.argmax(np.abs(diff)))
        if abs(diff[i]) > worst_abs:
            worst_abs, worst_u, worst_val = float(abs(diff[i])), U[i].copy(), float(diff[i])

    var = m2 / (n_tot - 1)
    stderr = math.sqrt(max(var, 0.0) / n_tot)
    z = float(_normal.ppf(0.5 + 0.5 * confidence))
    lo_sq = max(mean - z * stderr, 0.0)
    hi_sq = max(mean + z * stderr, 0.0)
    mc_lower, mc_upper = math.sqrt(lo_sq), math.sqrt(hi_sq)

    if output == "relu":
        proven = _proven_relu_upper(A, b, w, norm)
        proven_upper = proven["bound"]
    else:
        proven = {}
        proven_upper = l2_error_kernel(A, b, w, norm=norm).upper
    upper_from = "kernel-bound" if proven_upper < mc_upper else "monte-carlo"
    upper = min(mc_upper, proven_upper)
    # The proven end can fall below the statistical lower end only by chance.
    lower = min(mc_lower, upper)

    stats: dict[str, Any] = {
        "n_samples": n_tot,
        "mean_sq": mean,
        "stderr": stderr,
        "z": z,
        "upper_from": upper_from,
        "mc_lower": mc_lower,
        "mc_upper": mc_upper,
        "proven_upper": proven_upper,
        "kept_units": k,
    }
    if proven:
        stats.update(
            {
                "proven_lam": proven["lam"],
                "proven_upper_lam1": proven["bound_lam1"],
                "proven_upper_lam0": proven["bound_lam0"],
            }
        )
    witness = None if worst_u is None else worst_u[None, :]
    return ErrorBound(
        lower=lower,
        upper=upper,
        method="monte-carlo",
        confidence=confidence,
        witnesses=witness,
        witness_values=None if worst_u is None else np.array([worst_val]),
        stats=stats,
    )
