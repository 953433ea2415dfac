"""Fuzzing the exact d = 2 evaluators on near-degenerate kinks.

Instances are drawn with kinks within a few ulps of +-pi/2, of 0, of pi and
of each other (twins, antiparallel and orthogonal pairs, also of w), with
mixed signs of v, zero rows, zero output weights, and tiny or huge scales.
Every interval must contain the truth, bracketed independently of
:mod:`prunegap.errors.circle`:

- sup: the largest |g - f| over a dense angle grid plus the exact kink points
  (a lower end M), and a Lipschitz bound over the gaps between those points,
  refined where it exceeds M (an upper end U): M <= sup <= U;
- L2: Gauss-Legendre quadrature between the exact kinks and the zeros of h,
  with the activity of each unit read at the midpoint of each gap (robust: gaps
  shorter than 1e-9 are not integrated but bounded), and a stated error bound.

:func:`sup_truth_circle` and :func:`l2_truth_circle` are also used by
``benchmarks/fuzz_evaluators.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from prunegap.errors import forward, network_error, target_values
from prunegap.errors.circle import l2_error_circle, sup_error_circle

TWO_PI = 2.0 * np.pi
EPS = float(np.finfo(float).eps)


def lipschitz(A: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    """sum |b_k| ||A_k|| + ||w||: bounds |g - f| on the circle and its derivative in t."""
    return float(np.abs(b) @ np.hypot(A[:, 0], A[:, 1]) + np.hypot(w[0], w[1])) if A.size else float(np.hypot(*w))


def kink_points(A: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Points on the kinks of every nonzero row of A and of w: +-(a_1, -a_0) / ||a||.

    The rotation is exact and the normalisation only rounds each component,
    so these are the true kink points to within an ulp (rows are first brought
    to [1/2, 1) by an exact power of two, so subnormal rows lose nothing).
    """
    V = np.vstack([A.reshape(-1, 2), w[None, :]])
    V = V[np.any(V != 0, axis=1)]
    if V.shape[0] == 0:
        return np.zeros((0, 2))
    e = np.frexp(np.max(np.abs(V), axis=1))[1]
    V = np.ldexp(V, -e[:, None])
    R = np.stack([V[:, 1], -V[:, 0]], axis=1)
    R /= np.hypot(R[:, 0], R[:, 1])[:, None]
    return np.vstack([R, -R])


def _angles(X: np.ndarray) -> np.ndarray:
    return np.mod(np.arctan2(X[:, 1], X[:, 0]), TWO_PI)


def sup_truth_circle(A, b, w, output, *, m: int = 1 << 13, rounds: int = 6, width: int = 256, split: int = 32):
    """(M, U, tol): M <= sup |g - f| <= U, each up to the float rounding ``tol`` of the evaluation.

    M: the max over an m-point angle grid and the exact kink points.  U: on a
    gap of length L between sampled angles with values v1, v2, a Lipschitz-Lip
    function stays below (v1 + v2 + Lip L) / 2; gaps whose bound exceeds M are
    split (``split`` parts, the ``width`` worst each round).  Every gap keeps a
    valid bound, refined or not, so U is always an upper end.
    """
    A, b, w = np.asarray(A, float).reshape(-1, 2), np.asarray(b, float), np.asarray(w, float)
    lip = lipschitz(A, b, w)
    K = kink_points(A, w)
    t = np.concatenate([TWO_PI * np.arange(m) / m, _angles(K)])
    X = np.vstack([np.stack([np.cos(t[:m]), np.sin(t[:m])], axis=1), K])
    vals = np.abs(forward(A, b, X, output) - target_values(w, X))
    order = np.argsort(t, kind="stable")
    t, vals = t[order], vals[order]
    start, v0 = t, vals
    length = np.diff(np.append(t, t[0] + TWO_PI))
    v1 = np.roll(vals, -1)
    M = float(vals.max())
    # forward's rounding (a dot product and a sum of k terms) and the ulp-level
    # mismatch between a kink point and its angle
    tol = 8.0 * (A.shape[0] + 4) * EPS * lip
    for _ in range(rounds):
        ub = 0.5 * (v0 + v1 + lip * length)
        bad = np.flatnonzero(ub > M + tol)
        if bad.size == 0:
            break
        bad = bad[np.argsort(-ub[bad])[:width]]
        frac = np.arange(1, split) / split
        ts = start[bad, None] + length[bad, None] * frac[None, :]  # (B, split - 1)
        Xs = np.stack([np.cos(ts.ravel()), np.sin(ts.ravel())], axis=1)
        vs = np.abs(forward(A, b, Xs, output) - target_values(w, Xs)).reshape(ts.shape)
        M = max(M, float(vs.max()))
        s_new = np.hstack([start[bad, None], ts]).ravel()
        a_new = np.hstack([v0[bad, None], vs]).ravel()
        b_new = np.hstack([vs, v1[bad, None]]).ravel()
        l_new = np.repeat(length[bad] / split, split)
        keep = np.ones(start.shape[0], bool)
        keep[bad] = False
        start, v0, v1, length = (np.concatenate([x[keep], y]) for x, y in
                                 ((start, s_new), (v0, a_new), (v1, b_new), (length, l_new)))
    U = float(np.max(0.5 * (v0 + v1 + lip * length)))
    return M, max(U, M), tol


def _gauss_legendre_bound(n: int, L: np.ndarray, R2: float) -> np.ndarray:
    """Remainder of n-point Gauss-Legendre on [0, L] for R^2 cos^2(t - theta):
    L^(2n+1) (n!)^4 / ((2n+1) ((2n)!)^3) max |f^(2n)|, with |f^(2n)| <= R^2 2^(2n-1)."""
    const = math.factorial(n) ** 4 / ((2 * n + 1) * math.factorial(2 * n) ** 3) * 2.0 ** (2 * n - 1)
    return const * R2 * L ** (2 * n + 1)


def l2_truth_circle(A, b, w, output, *, n_nodes: int = 8, max_piece: float = 0.25, min_gap: float = 1e-9):
    """(mean_sq, err): the mean over the circle of (g - f)^2 is within err of mean_sq.

    Between consecutive exact kinks, each unit's activity is read at the gap's
    midpoint (at least min_gap / 2 from every kink, far above the rounding),
    which gives h = P cos t + Q sin t and f there; a relu output is split again
    at the zeros of h.  Each piece is cut to at most ``max_piece`` and
    integrated by n_nodes-point Gauss-Legendre, evaluating out(h) - f at the
    nodes.  err adds: the quadrature remainder, the gaps below min_gap (not
    integrated; the integrand is at most Lip^2), slivers of a few ulps around
    each rounded kink, and the rounding of the sums.
    """
    A, b, w = np.asarray(A, float).reshape(-1, 2), np.asarray(b, float), np.asarray(w, float)
    lip = lipschitz(A, b, w)
    S2 = lip * lip
    cuts = np.unique(np.concatenate([[0.0, TWO_PI], _angles(kink_points(A, w))]))
    lo, hi = cuts[:-1], cuts[1:]
    short = hi - lo < min_gap
    err = float(np.sum((hi - lo)[short])) * S2
    lo, hi = lo[~short], hi[~short]
    mid = 0.5 * (lo + hi)
    Xm = np.stack([np.cos(mid), np.sin(mid)], axis=1)
    c = b[:, None] * A
    PQ = (Xm @ A.T > 0).astype(float) @ c if A.size else np.zeros((lo.shape[0], 2))
    FG = (Xm @ w > 0)[:, None] * w[None, :]
    ends = [lo[:, None], hi[:, None]]
    if output == "relu":
        z = np.stack([_angles(np.stack([-PQ[:, 1], PQ[:, 0]], 1)), _angles(np.stack([PQ[:, 1], -PQ[:, 0]], 1))], 1)
        ends.append(np.clip(z, lo[:, None], hi[:, None]))
    pts = np.sort(np.hstack(ends), axis=1)
    t0, t1 = pts[:, :-1].ravel(), pts[:, 1:].ravel()
    arc = np.repeat(np.arange(lo.shape[0]), pts.shape[1] - 1)
    # cut every piece into equal parts of at most max_piece
    parts = np.maximum(1, np.ceil((t1 - t0) / max_piece)).astype(int)
    j = np.repeat(np.arange(t0.shape[0]), parts)
    r = np.arange(j.shape[0]) - np.repeat(np.cumsum(parts) - parts, parts)
    L = (t1 - t0)[j] / parts[j]
    a0 = t0[j] + r * L
    x, wts = np.polynomial.legendre.leggauss(n_nodes)
    tn = a0[:, None] + 0.5 * L[:, None] * (x[None, :] + 1.0)
    P, Q = PQ[arc[j], 0][:, None], PQ[arc[j], 1][:, None]
    F, G = FG[arc[j], 0][:, None], FG[arc[j], 1][:, None]
    h = P * np.cos(tn) + Q * np.sin(tn)
    g = np.maximum(h, 0.0) if output == "relu" else h
    y = (g - (F * np.cos(tn) + G * np.sin(tn))) ** 2
    total = math.fsum((0.5 * L[:, None] * wts[None, :] * y).ravel().tolist())
    err += float(np.sum(_gauss_legendre_bound(n_nodes, L, S2)))
    # rounded kinks and zeros of h: slivers of width <= 4 eps around each, where
    # the integrand is off by at most 2 Lip * (4 eps Lip); the float 2pi, 1.1 eps
    # short of 2pi; node evaluations and sums: (k + 4) eps relative
    n_slivers = cuts.shape[0] + 2 * lo.shape[0]
    err += n_slivers * 4 * EPS * 8 * EPS * S2 + 2 * EPS * S2 + 4 * (A.shape[0] + 4) * EPS * TWO_PI * S2
    return total / TWO_PI, err / TWO_PI


# --------------------------------------------------------------------------- strategies

_AXES = [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)]
_TILTS = [0.0, -0.0, 1e-16, -1e-16, 5e-17, -5e-17, 2.0**-53, -(2.0**-53), 1e-300, -1e-300, 5e-324, -5e-324]


def _nudge(x: float, ulps: int) -> float:
    for _ in range(abs(ulps)):
        x = math.nextafter(x, math.inf if ulps > 0 else -math.inf)
    return x


@st.composite
def _direction(draw, pool: list[np.ndarray]) -> np.ndarray:
    kinds = ["axis", "axis", "axis", "random", "zero"] + (["twin", "twin", "anti", "orth"] if pool else [])
    kind = draw(st.sampled_from(kinds))
    r = draw(st.floats(0.125, 4.0))
    if kind == "zero":
        return np.zeros(2)
    if kind == "random":
        th = draw(st.floats(0.0, TWO_PI))
        return r * np.array([np.cos(th), np.sin(th)])
    if kind == "axis":
        ax = draw(st.sampled_from(_AXES))
        tilt = draw(st.sampled_from(_TILTS + _TILTS + _TILTS) | st.floats(-1e-14, 1e-14))
        return np.array([ax[0] * r or tilt * r, ax[1] * r or tilt * r])
    p = pool[draw(st.integers(0, len(pool) - 1))]
    q = {"twin": p, "anti": -p, "orth": np.array([-p[1], p[0]])}[kind]
    q = q * draw(st.sampled_from([1.0, 0.5, 3.0]))  # exact: same direction
    i, ulps = draw(st.integers(0, 1)), draw(st.integers(-4, 4))
    q = q.copy()
    q[i] = _nudge(float(q[i]), ulps)
    return q


@st.composite
def degenerate_instances(draw, max_units: int = 7):
    """(A, b, w, s): kinks near the axes and near each other; the instance to
    evaluate is (2^s A, b, 2^s w) (A and w scaled by the same power of two)."""
    w = draw(_direction([]))
    pool = [w] if np.any(w != 0) else []
    k = draw(st.integers(0, max_units))
    rows, vs = [], []
    for _ in range(k):
        a = draw(_direction(pool))
        rows.append(a)
        if np.any(a != 0):
            pool.append(a)
        mode = draw(st.sampled_from(["free", "free", "zero", "one", "neg_prev", "same_prev"]))
        if mode == "free" or not vs and mode in ("neg_prev", "same_prev"):
            v = draw(st.floats(-2.0, 2.0))
        elif mode == "zero":
            v = 0.0
        elif mode == "one":
            v = draw(st.sampled_from([1.0, -1.0, 0.5]))
        else:
            v = -vs[-1] if mode == "neg_prev" else vs[-1]
        vs.append(v)
    A = np.array(rows).reshape(-1, 2)
    s = draw(st.sampled_from([0, 0, 0, 0, 600, -600, -1000, -1065]))
    return A, np.array(vs, dtype=float), w, s


# --------------------------------------------------------------------------- the checks


def reference_instance(A, b, w):
    """(A_o, b_o, w_o, p): the function of (A, b, w) times 2^p, with b_o = sign(b),
    A_o = 2^p |b| A (one rounding per entry) and p making the largest |b_i| ||a_i||
    or ||w|| of order 1, so that no square below under- or overflows."""
    live = (b != 0) & np.any(A != 0, axis=1)
    A, b = A[live], b[live]
    ea = np.frexp(np.max(np.abs(A), axis=1))[1] if A.size else np.zeros(0, int)
    mb, eb = np.frexp(b)
    tops = list(ea + eb) + ([int(np.frexp(np.max(np.abs(w)))[1])] if np.any(w != 0) else [])
    p = -int(max(tops)) if tops else 0
    Ao = np.ldexp(np.ldexp(A, -ea[:, None]) * np.abs(mb)[:, None], (ea + eb + p)[:, None])
    return Ao, np.sign(b), np.ldexp(w, p), p


def _check_all(A, b, w, s):
    """Evaluate (2^s A, b, 2^s w); the references run on :func:`reference_instance`
    of (A1, b, w1) = (2^-s (2^s A), b, 2^-s (2^s w)), exactly the evaluated instance
    scaled by 2^-s.  Evaluator results times 2^(p - s) are in the references' units."""
    As, ws = np.ldexp(A, s), np.ldexp(w, s)
    A1, w1 = np.ldexp(As, -s), np.ldexp(ws, -s)
    Ao, bo, wo, p = reference_instance(A1, b, w1)
    lip = lipschitz(Ao, bo, wo)

    def unscale(r):
        return math.ldexp(r.lower, p - s), math.ldexp(r.upper, p - s)

    # results that are subnormals at the evaluated scale keep few bits
    coarse = math.ldexp(2.0**-1074, p - s)
    for output in ("relu", "linear"):
        M, U, tol = sup_truth_circle(Ao, bo, wo, output)
        r = network_error(As, b, ws, output=output, norm="sup", n_witnesses=3)
        assert r.method == "exact-circle"
        lo, up = unscale(r)
        assert up >= M - tol - coarse, (output, "sup upper below the sampled max", lo, up, M)
        assert lo <= U + tol + coarse, (output, "sup lower above the sampled bound", lo, up, U)
        assert 0.0 <= lo <= up and up - lo <= 100 * EPS * lip + 4 * coarse
        if s == 0 and p == 0:  # the witnesses are real points with the values claimed
            real = forward(A, b, r.witnesses, output) - target_values(w, r.witnesses)
            np.testing.assert_allclose(real, r.witness_values, atol=tol)
            assert abs(r.witness_values[0]) >= lo - tol
        T, err = l2_truth_circle(Ao, bo, wo, output)
        for norm, factor in (("l2-sphere", 1.0), ("l2-gaussian", 2.0)):
            hi_t = math.sqrt(factor * (T + err)) * (1 + 4 * EPS)
            lo_t = math.sqrt(factor * max(T - err, 0.0)) * (1 - 4 * EPS)
            results = [l2_error_circle(As, b, ws, output=output, norm=norm)]
            # network_error: the kernel of errors/l2.py for a linear output (rescaled like the circle)
            results.append(network_error(As, b, ws, output=output, norm=norm))
            for r in results:
                lo, up = unscale(r)
                assert lo <= hi_t + coarse and up >= lo_t - coarse, (output, norm, r.method, lo, up, lo_t, hi_t)
            lo, up = unscale(results[0])
            if coarse > 1e-300:
                assert up - lo <= math.sqrt(factor * 200 * EPS) * lip + 4 * coarse
            else:
                assert up * up - lo * lo <= factor * 200 * EPS * lip * lip


@settings(max_examples=200)
@given(degenerate_instances())
def test_fuzz_intervals_contain_the_truth(inst):
    _check_all(*inst)


@pytest.mark.slow
@settings(max_examples=3000)
@given(degenerate_instances(max_units=12))
def test_fuzz_intervals_contain_the_truth_many(inst):
    _check_all(*inst)


def test_truth_oracles_are_sharp_on_closed_forms():
    # the references themselves: sup |relu(<w, x>)| = ||w||, E relu(<w, x>)^2 = ||w||^2 / 4 on the circle
    w = np.array([0.6, 0.8])
    M, U, _ = sup_truth_circle(np.zeros((0, 2)), np.zeros(0), w, "relu")
    assert M == pytest.approx(1.0, abs=1e-15) and U - M < 1e-6
    T, err = l2_truth_circle(np.zeros((0, 2)), np.zeros(0), w, "relu")
    assert abs(T - 0.25) <= err + 1e-15 and err < 1e-12
    # a rotated unit: sup sin(a) at the kink, reached by the kink points
    a = 0.3
    A = np.array([[np.cos(np.arctan2(0.8, 0.6) + a), np.sin(np.arctan2(0.8, 0.6) + a)]])
    M, U, _ = sup_truth_circle(A, np.array([1.0]), w, "linear")
    assert M == pytest.approx(np.sin(a), abs=1e-12) and U - M < 1e-6
