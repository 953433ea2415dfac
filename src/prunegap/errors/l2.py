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

A relu output has no closed form.  :func:`l2_error_monte_carlo` returns
PROVEN bounds as [lower, upper], and these alone decide a verdict:

* above: relu is 1-Lipschitz and relu(t) = f whenever
  t = relu(<w, x>) - lam relu(<-w, x>) with lam >= 0, so

      |relu(h) - f| <= |h - relu(<w, x>) + lam relu(<-w, x>)|   pointwise,

  and the right side is a linear-output network whose L2 norm is exact
  through the kernel; it is minimised over lam >= 0 in closed form (lam = 1
  is |h - <w, x>|, lam = 0 is the linear-output error itself);
* below: ||g - f|| >= E[(g - f) phi] / ||phi|| for test functions phi >= 0,
  bounded through h <= relu(h) <= h_+ by kernel-exact quantities
  (:func:`_proven_relu_bounds`).

Beside them it returns a STATISTICAL interval, ``ErrorBound.estimate``: the
two-sided empirical Bernstein bound (Maurer & Pontil 2009, Thm 4) on the
sampled mean of the bounded (g - f)^2, rigorous at its stated confidence on
every instance (no normal approximation), but never a certificate.

Scale.  Squares of norms of 2^600 overflow and those of 2^-600 underflow, so
every evaluation runs on the instance rescaled by an exact power of two
(:func:`._scale.rescaled_instance`: the largest b_k ||A_k|| or ||w|| near 1)
and its bounds are scaled back with outward rounding (:func:`._scale.scale_back`);
the error is 1-homogeneous in (A, w), so this changes nothing else.

=================  ==========================  ============================
case               proven [lower, upper]       statistical ``estimate``
=================  ==========================  ============================
linear output      exact kernel                (only without the shortcut)
relu, all b >= 0   exact kernel (relu(h) = h)  (only without the shortcut)
relu, d = 2        exact angular integration   none (:mod:`.circle`)
relu, d >= 3       test-function lower bound,  empirical Bernstein
                   kernel upper bound
=================  ==========================  ============================
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import as_generator, check_choice, check_int
from ..exceptions import InvalidArgument
from ..setting import OUTPUTS
from ._bound import ErrorBound, Estimate
from ._scale import rescaled_instance, scale_back, unit_power

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


def _row_norms(X: np.ndarray) -> np.ndarray:
    """Euclidean row norms with no square that under- or overflows (each row
    is scaled by a power of two first, exactly)."""
    Xh, e = unit_power(X)
    with np.errstate(over="ignore"):  # a norm beyond the float range is inf
        return np.ldexp(np.linalg.norm(Xh, axis=1), e.astype(np.int32))


def _unit_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions and norms of the rows, both free of under- and overflow."""
    Xh, e = unit_power(X)
    nh = np.linalg.norm(Xh, axis=1)
    U = Xh / np.where(nh > 0, nh, 1.0)[:, None]  # zero rows stay zero and give k = 0 below
    with np.errstate(over="ignore"):
        return U, np.ldexp(nh, e.astype(np.int32))


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
    with np.errstate(over="ignore", under="ignore"):  # K itself may leave the float range
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
    On a rescaled instance (S >= 1/4) this also covers the products that
    underflow, each within 2^-1074.
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
    k = int(A.shape[0])
    A, b, w, exp = rescaled_instance(A, b, w)  # g - f = 2^exp times that of (A, b, w) now
    lower, upper, mean_sq, slack = _kernel_interval(A, b, w, norm)
    return ErrorBound(
        lower=scale_back(lower, exp, up=False),
        upper=scale_back(upper, exp, up=True),
        method="kernel",
        stats={"mean_sq": _ldexp(mean_sq, 2 * exp), "rounding_slack": _ldexp(slack, 2 * exp), "kept_units": k},
    )


def _ldexp(x: float, exp: int) -> float:
    """2^exp x to nearest, inf or 0 outside the range (for stats, not for bounds)."""
    with np.errstate(over="ignore", under="ignore"):
        return float(np.ldexp(x, exp))


def _kernel_interval(A: np.ndarray, b: np.ndarray, w: np.ndarray, norm: str) -> tuple[float, float, float, float]:
    """(lower, upper, mean_sq, slack) of the linear-output error on a rescaled instance."""
    d = w.shape[0]
    units = np.vstack([A, w[None, :]])
    coef = np.concatenate([b, [-1.0]])
    K = arccos_kernel(units, units)
    mean_sq = _quad(K, coef)
    scale = float(np.abs(coef) @ _row_norms(units))
    slack = _rounding_slack(units.shape[0], d, scale)
    if norm == "l2-sphere":
        mean_sq, slack = mean_sq / d, slack / d
    return math.sqrt(max(mean_sq - slack, 0.0)), math.sqrt(max(mean_sq, 0.0) + slack), mean_sq, slack


def _proven_relu_bounds(A: np.ndarray, b: np.ndarray, w: np.ndarray, norm: str) -> dict[str, float]:
    """Proven bounds on ||relu(h) - f|| through linear-output networks.

    Upper: with c0 = (b, -1, 0) on units (A, w, -w) and e = (0, 0, 1),
    ||h - relu(<w,x>) + lam relu(<-w,x>)||^2 = e0 + 2 lam p + lam^2 q, where
    e0 = c0'Kc0, p = c0'Ke, q = e'Ke = ||w||^2 / 2.  Minimised at
    lam* = max(0, -p / q).

    Lower, by test functions: for any phi >= 0 with ||phi|| > 0,
    Cauchy-Schwarz gives ||g - f|| >= |E[(g - f) phi]| / ||phi||.  Pointwise
    h <= g = relu(h) <= h_+ := sum_{b_k > 0} b_k relu(<A_k, x>) (h_+ >= 0 and
    h_+ >= h), so E[(g - f) phi] >= E[(h - f) phi] and
    E[(f - g) phi] >= E[(f - h_+) phi], and both right sides are exact through
    the kernel when phi is a nonnegative combination of units.  The phi tried:
    each unit relu(<u, x>), u in (A, w, -w), and h_+ and h_- (the units with
    b_k < 0, weighted by |b_k|).  Numerators lose their rounding allowance and
    denominators gain theirs, so the quotient stays a lower bound.
    (A, b, w) is a rescaled instance (:func:`._scale.rescaled_instance`).
    """
    d = w.shape[0]
    units = np.vstack([A, w[None, :], -w[None, :]])
    n_u = units.shape[0]
    K = arccos_kernel(units, units)
    c0 = np.concatenate([b, [-1.0, 0.0]])
    e = np.zeros_like(c0)
    e[-1] = 1.0
    e0, p, q = _quad(K, c0), _quad(K, c0, e), _quad(K, e)
    lam = max(0.0, -p / q) if q > 0 else 0.0
    best_sq = e0 + 2.0 * lam * p + lam * lam * q
    unit_norms = _row_norms(units)
    base = float(np.abs(c0) @ unit_norms)
    wn = float(unit_norms[-1])

    def upper(sq: float, lam_: float) -> float:
        slack = _rounding_slack(n_u, d, base + lam_ * wn)
        if norm == "l2-sphere":
            sq, slack = sq / d, slack / d
        return math.sqrt(max(sq, 0.0) + slack)

    # Test functions: every unit (phi = relu(<u, x>), its own Gram diagonal),
    # then h_+ and h_- as nonnegative coefficient columns on the units.
    k = A.shape[0]
    C = np.zeros((n_u, 2))
    C[:k, 0] = np.maximum(b, 0.0)
    C[:k, 1] = np.maximum(-b, 0.0)
    cp = np.concatenate([np.maximum(b, 0.0), [-1.0, 0.0]])  # h_+ - f
    Kc0, Kcp = K @ c0, K @ cp
    r0 = np.concatenate([Kc0, C.T @ Kc0])  # E[(h - f) phi]
    rp = np.concatenate([Kcp, C.T @ Kcp])  # E[(h_+ - f) phi]
    phi_sq = np.concatenate([np.diag(K), np.einsum("it,it->t", C, K @ C)])
    scale = np.concatenate([unit_norms, C.T @ unit_norms])  # sum |coef| ||unit|| of each phi
    num = np.maximum(r0, -rp)
    # the bilinear forms' rounding, as in _rounding_slack with one factor per side
    rel = 4.0 * (n_u + d + 16) * _EPS
    num_low = num - rel * base * scale
    den_high = np.sqrt(phi_sq + rel * scale * scale)
    ok = (num_low > 0) & (den_high > 0)
    lower = float(np.max(num_low[ok] / den_high[ok])) if np.any(ok) else 0.0
    if norm == "l2-sphere":
        lower /= math.sqrt(d)  # every product is 2-homogeneous: E_sphere = E_gauss / d
    lower *= 1.0 - 16.0 * _EPS  # the last divisions and square roots

    return {
        "bound": upper(best_sq, lam),
        "lam": lam,
        "bound_lam1": upper(e0 + 2.0 * p + q, 1.0),  # the |h - <w, x>| bound
        "bound_lam0": upper(e0, 0.0),  # the linear-output error itself
        "lower": lower,
    }


def _sup_of_network(U: np.ndarray, c: np.ndarray) -> float:
    """A proven bound on sup_{||u|| = 1} |sum_j c_j relu(<U_j, u>)|.

    relu(t) = (t + |t|) / 2, and |<U_j, u>| = ||U_j|| |<n_G, u>| for the
    direction n_G = +-U_j / ||U_j|| shared by a group G of (anti)parallel
    rows.  So the sum is <m, u> + sum_G c_G |<n_G, u>| with
    m = sum_j c_j U_j / 2 and c_G = sum_{j in G} c_j ||U_j|| / 2, and by
    Cauchy-Schwarz its modulus is at most ||m|| + sum_G |c_G|.  Cancelling
    groups (a target written as relu(<w, x>) - relu(<-w, x>), or a
    construction's units on +-e_j) make this far below sum_j |c_j| ||U_j||.
    Rows are grouped on exactly equal float directions; the allowance covers
    the rounding and directions that agree only to the last bit.
    """
    norms = _row_norms(U)
    live = norms > 0
    U, c, norms = U[live], c[live], norms[live]
    if U.shape[0] == 0:
        return 0.0
    n = U / norms[:, None]
    lead = n[np.arange(n.shape[0]), np.argmax(n != 0, axis=1)]  # first nonzero entry
    n = n * np.sign(lead)[:, None]
    _, group = np.unique(n, axis=0, return_inverse=True)
    c_g = np.bincount(group.reshape(-1), weights=c * norms / 2.0)
    m = (c / 2.0) @ U
    scale = float(np.abs(c) @ norms)
    bound = float(np.linalg.norm(m)) + float(np.abs(c_g).sum())
    return min(bound, scale) + 4.0 * (U.shape[0] + U.shape[1] + 8) * _EPS * scale


def _sup_bound(A: np.ndarray, b: np.ndarray, w: np.ndarray, output: str) -> float:
    """A proven bound on sup |g(u) - f(u)| over the unit sphere.

    Linear output: g - f is the network (b, -1) on the units (A, w).  Relu
    output: relu is 1-Lipschitz and relu(t) = f for t = relu(<w, u>) - lam
    relu(<-w, u>), lam >= 0, so |g - f| <= |h - t|, a network on (A, w, -w)
    with coefficients (b, -1, lam); lam = 0 and lam = 1 are tried.  Also
    0 <= relu(<a, u>) <= ||a||, so g lies in [0, P] with
    P = sum_{b_k > 0} b_k ||A_k||, f in [0, ||w||], and |g - f| <= max(P, ||w||).
    A linear output has h in [-N, P] with N = sum_{b_k < 0} |b_k| ||A_k||,
    so |g - f| <= max(P, N + ||w||).  The crude bound also gets an absolute
    allowance eps (P + N + ||w||), like every other bound here: on a rescaled
    instance that covers the entries flushed below the normal range even when
    P and ||w|| are nothing but such entries.
    """
    an = _row_norms(A)
    P, N = float(np.maximum(b, 0.0) @ an), float(np.maximum(-b, 0.0) @ an)
    wn = float(_row_norms(w[None, :])[0])
    rel = 4.0 * (A.shape[0] + 8) * _EPS
    crude = (max(P, wn) if output == "relu" else max(P, N + wn)) * (1.0 + rel) + rel * (P + N + wn)
    if output == "linear":
        return min(crude, _sup_of_network(np.vstack([A, w[None, :]]), np.append(b, -1.0)))
    units = np.vstack([A, w[None, :], -w[None, :]])
    return min(crude, *(_sup_of_network(units, np.append(b, [-1.0, lam])) for lam in (0.0, 1.0)))


def _bernstein_half_width(n: int, sample_var: float, bound: float, confidence: float) -> float:
    """Two-sided empirical Bernstein deviation for the mean of Y in [0, bound].

    Maurer & Pontil (2009), Theorem 4: for n >= 2 i.i.d. Z_i in [0, 1] and
    delta in (0, 1), with probability >= 1 - delta,
    E Z <= mean + sqrt(2 V_n ln(2/delta) / n) + 7 ln(2/delta) / (3 (n - 1)),
    V_n the unbiased sample variance.  Applied to Z = Y / bound and to
    1 - Z at delta / 2 each (a union bound), both sides hold together with
    probability >= confidence = 1 - delta; so the log term is ln(4 / delta).
    """
    log_term = math.log(4.0 / (1.0 - confidence))
    return math.sqrt(2.0 * max(sample_var, 0.0) * log_term / n) + 7.0 * bound * log_term / (3.0 * (n - 1))


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
    """L2 error of g(x) = out(sum_k b_k relu(<A_k, x>)) against relu(<w, x>):
    proven bounds, plus a Monte Carlo estimate.

    ``lower`` / ``upper`` are proven, and decide :meth:`ErrorBound.verdict`:
    for a relu output the test-function lower bound and the lam-minimised
    kernel upper bound of :func:`_proven_relu_bounds`; for a linear output, or
    a relu output with all kept b_k >= 0 (so relu(h) = h), the exact kernel
    interval of :func:`l2_error_kernel`.  The upper end is also capped by
    the sup bound sqrt(B) below (an L2 error is at most the sup);
    ``stats["lower_from"]`` and ``stats["upper_from"]`` say which held.

    ``estimate`` is statistical.  Samples u uniform on S^{d-1} (normalised
    Gaussian vectors drawn from ``rng``, ``batch`` rows at a time) give
    Y = (g(u) - f(u))^2 for ``"l2-sphere"`` and Y = d (g(u) - f(u))^2 for
    ``"l2-gaussian"`` (E_gauss = d E_sphere by homogeneity; sampling the
    sphere removes the chi^2 radial noise).  Y lies in [0, B] with
    B = factor * :func:`_sup_bound` ^ 2, so the two-sided empirical
    Bernstein interval (:func:`_bernstein_half_width`) around the sample mean,
    cut to [0, B], holds E Y with probability >= ``confidence`` for every
    distribution -- no normal approximation.  Its square root, clipped into
    the proven [lower, upper], is ``estimate`` (method
    ``"empirical-bernstein"``); clipping keeps it a statement of the same
    confidence, never a proof.  ``stats`` keeps the raw interval
    (``mc_lower``, ``mc_upper``) and its inputs (``n_samples``, ``mean_sq``,
    ``sample_var``, ``sample_bound_sq``, ``half_width_sq``).

    With ``exact_when_possible`` (default), when g equals the linear-output
    network the exact :func:`l2_error_kernel` result is returned instead
    (method ``"kernel"``, no estimate, ``stats["shortcut"]`` set).

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

    # Everything below runs on the rescaled instance, whose g - f is 2^-exp
    # times ours, and is scaled back at the end: the samples too (the same
    # directions u at every scale), so ``estimate`` scales with the bounds.
    A, b, w, exp = rescaled_instance(A, b, w)
    AT = A.T

    # The proven interval, which alone decides.
    proven: dict[str, float] = {}
    if output == "relu":
        proven = _proven_relu_bounds(A, b, w, norm)
        proven_lower, proven_upper = proven["lower"], proven["bound"]
        lower_from, upper_from = "test-functions", "kernel-bound"
    else:
        proven_lower, proven_upper = math.inf, math.inf
    if linear_equivalent:
        kern_lower, kern_upper, _, _ = _kernel_interval(A, b, w, norm)
        proven_lower = kern_lower if output == "linear" else max(proven_lower, kern_lower)
        proven_upper = min(proven_upper, kern_upper)
        lower_from = upper_from = "kernel"
    # Y = factor (g - f)^2 <= y_bound on the sphere (tau: room for rounding),
    # and an L2 error is at most the sup: sqrt(E Y) <= sqrt(y_bound).
    factor = float(d) if norm == "l2-gaussian" else 1.0
    tau = 4.0 * (k + d + 8) * _EPS
    y_bound = factor * _sup_bound(A, b, w, output) ** 2 * (1.0 + tau)
    proven_upper_kernel = proven_upper
    if math.sqrt(y_bound) < proven_upper:
        proven_upper, upper_from = math.sqrt(y_bound), "sup-bound"
    proven_lower = min(proven_lower, proven_upper)  # equal truths; only rounding could cross them

    # Chan et al.'s pairwise merge of (count, mean, M2): stable for large n.
    n_tot, mean, m2, n_batches = 0, 0.0, 0.0, 0
    y_max = 0.0
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
        n_batches += 1
        y_max = max(y_max, float(Y.max()))
        i = int(np.argmax(np.abs(diff)))
        if abs(diff[i]) > worst_abs:
            worst_abs, worst_u, worst_val = float(abs(diff[i])), U[i].copy(), float(diff[i])

    var = max(m2 / (n_tot - 1), 0.0)
    # Float rounding, so that the interval is the one the exact samples give:
    # each computed Y_i is within tau * B of the exact one (normalisation, k + d
    # products and sums), and the mean and M2 sums (pairwise within a batch,
    # one merge per batch) lose at most sum_rel relative to B and to M2.  The
    # sample standard deviation is 1-Lipschitz in ||Y - Y'||_2 / sqrt(n - 1),
    # so the exact samples' one is at most sd_high.
    sum_rel = 4.0 * (math.log2(n_tot) + n_batches + 8) * _EPS
    mean_slack = (tau + sum_rel) * y_bound
    sd_high = math.sqrt(var) * (1.0 + sum_rel) + 2.0 * tau * y_bound
    half = _bernstein_half_width(n_tot, sd_high * sd_high, y_bound, confidence)
    lo_sq = max(mean - half - mean_slack, 0.0)
    hi_sq = min(mean + half + mean_slack, y_bound)
    mc_lower, mc_upper = math.sqrt(lo_sq), math.sqrt(max(hi_sq, lo_sq))
    # E Y is in [proven_lower^2, proven_upper^2] for sure, so clipping keeps the confidence.
    est_lower = min(max(mc_lower, proven_lower), proven_upper)
    est_upper = min(max(mc_upper, est_lower), proven_upper)

    # Back to the caller's scale: bounds outwards (lower ends down, upper ends
    # up; monotone, so the order lower <= estimate <= upper survives), the
    # rest to nearest.  Squares scale by 2^(2 exp), the variance by 2^(4 exp).
    def down(x: float) -> float:
        return scale_back(x, exp, up=False)

    def up(x: float) -> float:
        return scale_back(x, exp, up=True)

    stats: dict[str, Any] = {
        "n_samples": n_tot,
        "mean_sq": _ldexp(mean, 2 * exp),
        "sample_var": _ldexp(var, 4 * exp),
        "stderr": _ldexp(math.sqrt(var / n_tot), 2 * exp),
        "sample_bound_sq": _ldexp(y_bound, 2 * exp),
        "sample_max_sq": _ldexp(y_max, 2 * exp),
        "half_width_sq": _ldexp(half, 2 * exp),
        "mean_slack_sq": _ldexp(mean_slack, 2 * exp),
        "lower_from": lower_from,
        "upper_from": upper_from,
        "mc_lower": down(mc_lower),
        "mc_upper": up(mc_upper),
        "proven_lower": down(proven_lower),
        "proven_upper": up(proven_upper),
        "proven_upper_kernel": up(proven_upper_kernel),
        "proven_upper_sup": up(math.sqrt(y_bound)),
        "kept_units": k,
    }
    if proven:
        stats.update(
            {
                "proven_lam": proven["lam"],
                "proven_upper_lam1": up(proven["bound_lam1"]),
                "proven_upper_lam0": up(proven["bound_lam0"]),
            }
        )
    witness = None if worst_u is None else worst_u[None, :]
    return ErrorBound(
        lower=stats["proven_lower"],
        upper=stats["proven_upper"],
        method="monte-carlo",
        witnesses=witness,
        witness_values=None if worst_u is None else np.array([_ldexp(worst_val, exp)]),
        stats=stats,
        estimate=Estimate(down(est_lower), up(est_upper), confidence, "empirical-bernstein", n_tot),
    )
