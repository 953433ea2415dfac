"""Certified sup error on the sphere S^{d-1} (d >= 3) by branch and bound (THEORY §3).

The error of g(x) = out(sum_i b_i relu(<A_i, x>)) against f(x) = relu(<w, x>)
is positively 1-homogeneous, so its sup over the unit ball is its sup over the
unit sphere.  We cover the sphere by cells, bound |g - f| on each, and refine
the cells whose bound is not yet within ``tol`` of the best value found.

Cells.  The surface of the cube [-1, 1]^d projects radially onto the sphere.
A cell is an axis-aligned box on one face {y : y_j = s} (centre y_c, half
widths h in the d - 1 free coordinates).  On the face ||y|| >= 1, and the
derivative of y -> y / ||y|| has norm 1 / ||y||, so every sphere point of the
cell lies in the cap {x in S : ||x - c|| <= rho} around c = y_c / ||y_c|| with
rho = ||h|| / max(1, ||y_c|| - ||h||).

Units on a cell.  Units are merged by direction, relu(<a, x>) = ||a||
relu(<a/||a||, x>) (exact duplicates only), so below every direction a is a
unit vector; the target is one more direction with coefficient -||w|| in
g - f.  On the cell u = <a, x> lies in [t - rho, t + rho], t = <a, c>, and
also in [min, max] of <a, y> / ||y|| over the box (same sign as <a, y>); the
intersection [l, U] says whether the unit is active, inactive, or crossed by
its kink on the cell.

Relaxation bound (every cell).  The triangle relaxation gives relu(u) =
lam u + mu + R with lam = U / (U - l), mu = relu(U) relu(-l) / (2 (U - l)),
|R| <= mu on [l, U] (lam in {0, 1}, mu = R = 0 for units not crossed).
Summing, h - f = <q, x> + C + R with |R| <= sum_j |beta_j| mu_j, and the
linear part is bounded exactly on the cap: with cos(alpha) = 1 - rho^2 / 2,
t = <q, c> and s = ||q - t c||,

    max_cap <q, x> = ||q||                          if t >= ||q|| cos(alpha)
                   = t cos(alpha) + s sin(alpha)    otherwise.

A relu output g = relu(h) equals h - f where h >= 0 on the cell, -f where
h <= 0, and one of them pointwise otherwise (the bound of |h - f|, of f, or
their max).  An interval bound (each unit between relu(l) and relu(U)) is
computed too and the smaller is kept.

Piecewise bound (open cells crossed by at most two kinks).  Then the cell
splits into pieces on which g - f is linear, L, and the max of +-<L, x> over
the cap cut by the pieces' half-spaces is computed: the only local maximum
of a linear function on a cap is its cap maximiser x0, so the max over a
piece is <L, x0> when x0 lies in it, and otherwise lies on a kink, where it
is the max over a smaller cap of a great sphere.  This is exact up to the
cap/cell difference, so maxima on a kink (a ridge) cost a handful of cells
instead of a layer of cells of width tol along the kink.

Lower bound.  The error is evaluated exactly at each cell centre and, in
open cells, at the maximiser of the cell's model; the largest value is
attained, hence a lower bound.  Cells whose bound is within ``tol`` of it
(or below ``eps`` when only the decision ``error <= eps`` is wanted) are
settled; the others are halved along their widest coordinates, worst first.

Rigour.  Every bound is padded by a float-rounding slack of a few dozen
ulps times sum_i |b_i| ||A_i|| + ||w||, and cap radii, box norms and kink
tests carry ulp-level padding of their own; a cell is settled only on its
padded bound, so ``upper`` is a proof up to the correctness of this code.

Rounding.  The cap reasoned about has centre c = C / ||C|| and the angle
alpha whose (cos, sin) is the unit vector nearest the computed (cosa, sina)
(within 3 ulps); the chord radius carries 16 d ulps of padding, so that cap
contains the cell.  Merged unit rows and C are unit to (d + 2) ulps.  Every
yes/no decision is proven or conservative against it: a unit is active,
inactive or crossed by <a, C> against the padded radius; a plane misses the
cap only if |<n, C>| > sin(alpha) + 16 d ulp (|<n, C>| errs by at most
(3 d + 5) ulps), and the cap then lies on the side sign <n, C>, so such a
half-space of a piece is either implied by the cap (dropped) or empties the
piece; the cap maximiser x0 counts as outside a piece only when its
computed point is outside by more than a proven bound on its error (about
ulp ||L|| / ||L - <L, c> c|| on the rim, infinite where interior and rim
cannot be told apart or the maximiser is not unique); for a relu output the
choice of h or 0 only switches between formulas that agree up to the
rounding of h.  Values (cap and face maxima) are continuous in the
geometry, so their rounding goes into pads and the slack.  No cell bound is
NaN or -inf: a piecewise bound that lost every piece falls back to the
relaxation, and every cell bound is capped by the Lipschitz bound
|g - f|(c) + (sum_i |b_i| ||A_i|| + ||w||) rho.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_choice, check_int, check_positive_float
from ..exceptions import InvalidArgument
from ..setting import OUTPUTS
from ._bound import ErrorBound
from ._caps import Face, Faces, cap_argmax_pm, cap_max, caps, piece_max_pm, rowdot, rownorm, split

__all__ = ["sup_error_sphere", "default_initial_split"]

_ULP = np.finfo(np.float64).eps
_MAX_SPLIT_AXES = 6  # at most 2^6 children per split keeps batches bounded in high d
_MAX_EXACT_KINKS = 2  # pieces per cell grow as 2^kinks
_MAX_LEVEL = 60  # halvings per axis; 2^-60 is below the padding of every bound
_CHUNK_FLOATS = 1 << 16  # (cells x directions) per evaluation chunk: small arrays stay in cache
_BATCH_CELLS = 1 << 16  # children created per branching step


_THREADPOOLS: Any = None


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """Our matrix products are small; BLAS threads only add overhead to them,
    five-fold on a busy machine.  threadpoolctl is optional."""
    global _THREADPOOLS
    try:
        if _THREADPOOLS is None:
            from threadpoolctl import ThreadpoolController

            _THREADPOOLS = ThreadpoolController()
        return _THREADPOOLS.limit(limits=1, user_api="blas")
    except Exception:  # not installed, or an unknown BLAS: run as is
        return contextlib.nullcontext()


def default_initial_split(d: int) -> int:
    """Cells per edge of each cube face at the start: 2 while that makes at
    most 4096 cells (d <= 8), else 1.  Branching is adaptive, so a coarse
    start costs little and finer ones did not pay off in benchmarks."""
    return 2 if 2 * d * 2 ** (d - 1) <= 4096 else 1


@dataclass
class _Problem:
    """Merged unit-norm directions: h = sum_j beta_j relu(<U_j, x>), f = nw relu(<U_iw, x>)."""

    U: np.ndarray  # (m, d), unit rows; row iw is w / ||w||
    beta: np.ndarray  # (m,) coefficients of the hidden sum
    iw: int
    nw: float
    relu_out: bool
    scale: float  # sum |beta_j| + nw: every value is at most this in size
    unit_scale: float  # the common factor divided out of b and w

    def __post_init__(self) -> None:
        self.absbeta = np.abs(self.beta)
        self.bU = self.beta[:, None] * self.U  # rows of the linear parts
        self.absU = np.abs(self.U)


def _row_norms(M: np.ndarray) -> np.ndarray:
    """Euclidean row norms without underflow or overflow of the squares."""
    if M.size == 0:
        return np.zeros(M.shape[0])
    big = np.abs(M).max(axis=1)
    safe = np.where(big > 0, big, 1.0)
    return big * np.linalg.norm(M / safe[:, None], axis=1)


def _merge(A: np.ndarray, b: np.ndarray, w: np.ndarray, relu_out: bool) -> _Problem:
    """Unit directions with merged coefficients, all divided by a common
    ``unit_scale`` S (the error is 1-homogeneous in (b, w), so bounds scale
    back by S): values near 1 keep squares and products far from under- or
    overflow."""
    d = w.shape[0]
    norms = _row_norms(A)
    live = (norms > 0) & (b != 0)
    dirs = A[live] / norms[live, None]
    coef = b[live] * norms[live]
    nw = float(_row_norms(w[None, :])[0])
    S = max(float(np.abs(coef).max()) if coef.size else 0.0, nw)
    if not np.isfinite(S):
        raise InvalidArgument("b_k ||A_k|| and ||w|| must be finite numbers (rescale the network)")
    S = S if S > 0 else 1.0
    what = w / nw if nw > 0 else np.eye(d)[0]  # any direction: it has coefficient 0
    dirs = np.vstack([what[None, :], dirs])
    coef = np.concatenate([[0.0], coef / S])
    # Exact duplicates only: merging near-parallel rows would not be rigorous.
    U, inv = np.unique(dirs, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    beta = np.bincount(inv, weights=coef, minlength=U.shape[0])
    iw = int(inv[0])
    keep = beta != 0
    keep[iw] = True
    newidx = np.cumsum(keep) - 1
    scale = float(np.abs(coef).sum()) + nw / S
    return _Problem(np.ascontiguousarray(U[keep]), beta[keep], int(newidx[iw]), nw / S, relu_out, scale, S)


def _few_kinks_bound(P: _Problem, C, cosa, sina, act, kinks, hlo, hhi, need, ncross_max: int):
    """Near-exact bounds on the cells in ``need`` crossed by at most ``ncross_max`` kinks.

    ``act`` (N x m) marks units active on the whole cell, ``kinks`` = (rows,
    columns) the units whose kink may cross it, in row-major order.  With the
    crossing units J known, the cell splits into 2^|J| pieces on each of
    which h and f are linear (and, for a relu output where h changes sign,
    each piece splits once more along h = 0).  |g - f| on a piece is at most
    the max of +-L over the cap cut by half-spaces (:func:`piece_max_pm`).
    Returns (bound, point) with bound = inf where not computed.
    """
    N, d = C.shape
    U, beta, iw, nw = P.U, P.beta, P.iw, P.nw
    beta_f = np.zeros_like(beta)
    beta_f[iw] = nw
    bound = np.full(N, np.inf)
    Xout = C.copy()
    if not need.any():
        return bound, Xout
    rel = beta != 0  # units that do not change the error cannot cut it into pieces
    rel[iw] = True if P.relu_out else beta[iw] != nw
    ki, kj = kinks
    keep = rel[kj] & need[ki]
    ki, kj = ki[keep], kj[keep]
    ncross = np.bincount(ki, minlength=N)
    for r in range(ncross_max + 1):
        sel = need & (ncross == r)
        if P.relu_out:
            sel &= hhi > 0.0  # where h <= 0 throughout, g = 0 and the cap bound of f is exact
            if r == 0:
                sel &= hlo < 0.0  # no kink at all: the relaxation is exact there
        elif r == 0:
            continue
        ii = np.flatnonzero(sel)
        if ii.size == 0:
            continue
        idx = kj[sel[ki]].reshape(ii.size, r)
        Cg, cg, sg = C[ii], cosa[ii], sina[ii]
        actg = act[ii]
        p0 = actg @ P.bU
        f0 = (nw * actg[:, iw])[:, None] * U[iw]
        Dir = U[idx]  # (n, r, d)
        bh, bf = beta[idx], beta_f[idx]
        faces = [Face(Cg, Dir[:, j], cg, sg) for j in range(r)]
        split = (hlo[ii] < 0.0) if P.relu_out else np.zeros(ii.size, dtype=bool)
        any_split = bool(split.any())
        on_all = np.ones(ii.size, dtype=bool)
        best = np.full(ii.size, -np.inf)
        bad = np.zeros(ii.size, dtype=bool)
        bestX = Cg.copy()
        for S in range(2**r):
            p, f, cons = p0.copy(), f0.copy(), []
            for j in range(r):
                if (S >> j) & 1:
                    p += bh[:, j, None] * Dir[:, j]
                    f += bf[:, j, None] * Dir[:, j]
                    cons.append((faces[j], 1.0, on_all))
                else:
                    cons.append((faces[j], -1.0, on_all))
            pieces = [(p - f, cons, on_all)]
            if any_split:
                npn = rownorm(p)
                with np.errstate(invalid="ignore", divide="ignore"):
                    nh = np.where((npn > 0)[:, None], p / npn[:, None], Cg)
                hface = Face(Cg, nh, cg, sg)
                pieces = [(p - f, cons + [(hface, 1.0, split)], on_all), (-f, cons + [(hface, -1.0, split)], split)]
            for L, cons_, rowmask in pieces:
                for v, X in piece_max_pm(L, Cg, cg, sg, cons_):
                    bad |= rowmask & np.isnan(v)
                    better = rowmask & (v > best)
                    best = np.where(better, v, best)
                    bestX[better] = X[better]
        # The pieces cover the cap and only provably empty ones are -inf, so
        # a row still at -inf (or with a NaN piece) means a value was lost:
        # report no piecewise bound there rather than drop the cell.
        bound[ii] = np.where(bad | (best == -np.inf), np.inf, best)
        Xout[ii] = bestX
    return bound, Xout


def _evaluate_points(P: _Problem, X: np.ndarray) -> np.ndarray:
    """Signed g - f at rows of X with the merged directions."""
    T = X @ P.U.T
    h = np.maximum(T, 0.0) @ P.beta
    g = np.maximum(h, 0.0) if P.relu_out else h
    return g - P.nw * np.maximum(T[:, P.iw], 0.0)


def _cell_bounds(P: _Problem, C: np.ndarray, rho: np.ndarray, slack: float, thr: float = -np.inf, box=None):
    """Upper bounds on sup |g - f| over cells, given their caps (centre C
    (N x d), chord radius rho) and optionally their boxes (from :func:`caps`),
    plus the exact signed error at the centres and at candidate points of
    the cells whose bound exceeds ``thr``."""
    U, beta, iw, nw = P.U, P.beta, P.iw, P.nw
    N, d = C.shape
    T = C @ U.T
    r = rho[:, None]
    # Most (cell, unit) pairs are decided by the cap alone: active where
    # <a, c> >= rho, inactive where <a, c> <= -rho.  Only the few candidates
    # in between are worked on, as a sparse list of (row, column) entries.
    act = T >= r
    cand = T > -r
    cand &= ~act
    ci, cj = np.nonzero(cand)
    del cand
    t = T[ci, cj]
    rr = rho[ci]
    lo = t - rr
    up = t + rr
    if box is not None:
        # On the cell, <a, x> has the sign of <a, y> over the cell's box, which
        # is tighter than the cap for most directions: bound <a, y> and divide
        # by the range of ||y||.
        ny, hwf, ymin, ymax = box
        nyc = ny[ci]
        ty = t * nyc
        if ci.size * 4 > T.size:  # mostly candidates (big cells): one product beats gathers
            ry = (hwf @ P.absU.T)[ci, cj]
        else:
            ry = rowdot(hwf[ci], P.absU[cj])
        ry += (8 * (d + 2) * _ULP) * nyc
        nl = ty - ry
        nu = ty + ry
        np.maximum(lo, nl / np.where(nl >= 0.0, ymax[ci], ymin[ci]), out=lo)
        np.minimum(up, nu / np.where(nu >= 0.0, ymin[ci], ymax[ci]), out=up)
    on = lo >= 0.0
    crs = (lo < 0.0) & (up > 0.0)
    width = np.where(crs, up - lo, 1.0)
    # Triangle relaxation: relu(u) = lam u + mu + R, |R| <= mu, for u in [lo, up].
    lam_s = np.where(crs, up / width, on.astype(np.float64))
    mu_s = np.where(crs, 0.5 * up * (-lo) / width, 0.0)
    bc = beta[cj]

    actf = act.astype(np.float64)
    Ph = actf @ P.bU  # linear part of h
    if ci.size:
        contrib = lam_s[:, None] * P.bU[cj]
        for k in range(d):
            Ph[:, k] += np.bincount(ci, contrib[:, k], minlength=N)
    Ch = np.bincount(ci, mu_s * bc, minlength=N)
    Eh = np.bincount(ci, mu_s * np.abs(bc), minlength=N)
    at_w = cj == iw
    lam_w = actf[:, iw].copy()
    lam_w[ci[at_w]] = lam_s[at_w]
    mu_w = np.zeros(N)
    mu_w[ci[at_w]] = mu_s[at_w]

    # Interval range of h, each unit between relu(l) and relu(U): cap-active
    # units give beta t -+ |beta| rho, candidates their own interval.
    Ta = T * actf
    hb = Ta @ beta
    Sa = actf @ P.absbeta
    rl_s = np.maximum(lo, 0.0)
    ru_s = np.maximum(up, 0.0)
    bp, bn = np.maximum(bc, 0.0), np.minimum(bc, 0.0)
    hlo = hb - rho * Sa + np.bincount(ci, rl_s * bp + ru_s * bn, minlength=N)
    hhi = hb + rho * Sa + np.bincount(ci, ru_s * bp + rl_s * bn, minlength=N)

    # Centre values: relu(t) is t on cap-active entries and 0 on inactive ones.
    tw = T[:, iw]
    hc = hb + np.bincount(ci, np.maximum(t, 0.0) * bc, minlength=N)
    gc = np.maximum(hc, 0.0) if P.relu_out else hc
    diff_c = gc - nw * np.maximum(tw, 0.0)
    if on.any():
        act[ci[on], cj[on]] = True  # the box showed these never switch off
    kinks = (ci[crs], cj[crs])

    cosa = np.maximum(1.0 - 0.5 * rho * rho, -1.0)
    sina = rho * np.sqrt(np.maximum(1.0 - 0.25 * rho * rho, 0.0))

    bw = beta[iw]
    Q = Ph - (nw * lam_w)[:, None] * U[iw]  # linear part of h - f (target merged in)
    Cd = Ch - nw * mu_w
    Ed = Eh + (abs(bw - nw) - abs(bw)) * mu_w

    tq = rowdot(Q, C)
    nq = np.linalg.norm(Q, axis=1)
    sq = np.linalg.norm(Q - tq[:, None] * C, axis=1)
    qmax = cap_max(tq, sq, nq, cosa, sina) + Cd
    qmin = -cap_max(-tq, sq, nq, cosa, sina) + Cd
    pos_side = qmax >= -qmin
    Bd = np.maximum(qmax, -qmin) + Ed  # bound on |h - f|

    # Target range on the cap (exact up to rounding).
    sw = np.linalg.norm(U[iw][None, :] - tw[:, None] * C, axis=1)
    fhi = nw * np.maximum(cap_max(tw, sw, 1.0, cosa, sina), 0.0)
    flo = nw * np.maximum(-cap_max(-tw, sw, 1.0, cosa, sina), 0.0)

    if P.relu_out:
        tp = rowdot(Ph, C)
        npn = np.linalg.norm(Ph, axis=1)
        sp = np.linalg.norm(Ph - tp[:, None] * C, axis=1)
        hlo = np.maximum(hlo, -cap_max(-tp, sp, npn, cosa, sina) + Ch - Eh)
        hhi = np.minimum(hhi, cap_max(tp, sp, npn, cosa, sina) + Ch + Eh)
        glo = np.maximum(hlo, 0.0)
        ghi = np.maximum(hhi, 0.0)
        g_is_h = hlo >= 0.0
        g_is_0 = hhi <= 0.0
        model = np.where(g_is_h, Bd, np.where(g_is_0, fhi, np.maximum(Bd, fhi)))
        interval = np.maximum(ghi - flo, fhi - glo)
        use_w = g_is_0 | (~g_is_h & (fhi > Bd))
    else:
        model = Bd
        interval = np.maximum(hhi - flo, fhi - hlo)
        use_w = np.zeros(C.shape[0], dtype=bool)
    bound = np.minimum(model, interval)
    # Only where the cheap bound leaves the cell open is the finer one worth its cost.
    need = bound + slack > thr
    few, Xfew = _few_kinks_bound(P, C, cosa, sina, act, kinks, hlo, hhi, need, _MAX_EXACT_KINKS)
    # A safe bound that needs no geometry: |g - f| is Lipschitz with
    # constant <= scale (1 + (d + 2) ulp) (unit rows to (d + 2) ulps), and
    # every point of the cell is within rho of c, c within (d + 2) ulp of C.
    # fmin also replaces a NaN model bound by it, so no cell settles on NaN.
    lip = np.abs(diff_c) + P.scale * (1.0 + 4 * (d + 2) * _ULP) * (rho + 4 * (d + 2) * _ULP)
    bound = np.fmin(np.minimum(bound, few), lip) + slack

    # Candidates, only in open cells (elsewhere they cannot lift the lower
    # bound past the threshold): the point of the cap maximising the active
    # linear model, or the piecewise maximiser where that was computed.
    ii = np.flatnonzero(need)
    Cn = C[ii]
    V = np.where(pos_side[ii, None], Q[ii], -Q[ii])
    V[use_w[ii]] = U[iw]
    X = cap_argmax_pm(V, Cn, cosa[ii], sina[ii])[0][1]
    use_few = np.isfinite(few[ii])
    X[use_few] = Xfew[ii[use_few]]
    X /= rownorm(X)[:, None]
    diff_x = _evaluate_points(P, X)
    return bound, diff_c, X, diff_x


class _Pool:
    """The n distinct points with the largest |g - f| seen so far."""

    def __init__(self, n: int, d: int) -> None:
        self.n = n
        self.X = np.empty((0, d))
        self.v = np.empty(0)

    @property
    def best(self) -> float:
        return float(np.abs(self.v[0])) if self.v.size else 0.0

    def offer(self, X: np.ndarray, v: np.ndarray) -> None:
        a = np.abs(v)
        if a.size > self.n:
            idx = np.argpartition(a, -self.n)[-self.n :]
            X, v = X[idx], v[idx]
        X = np.vstack([self.X, X])
        v = np.concatenate([self.v, v])
        X, first = np.unique(X, axis=0, return_index=True)
        v = v[first]
        order = np.argsort(-np.abs(v), kind="stable")[: self.n]
        self.X, self.v = X[order], v[order]


def sup_error_sphere(
    A: np.ndarray,
    b: np.ndarray,
    w: np.ndarray,
    *,
    output: str = "relu",
    tol: float = 1e-6,
    eps: float | None = None,
    n_witnesses: int = 1,
    max_cells: int = 2_000_000,
    initial_split: int | None = None,
) -> ErrorBound:
    """Certified [lower, upper] for sup over the unit sphere of |g(x) - f(x)|.

    g(x) = out(sum_k b_k relu(<A_k, x>)) with out = relu or the identity
    (``output``), f(x) = relu(<w, x>); A is (k x d), b (k,), w (d,), d >= 2
    (meant for d >= 3; d = 2 has the exact :func:`sup_error_circle`).  Both
    are positively 1-homogeneous, so this is also the sup over the unit ball.

    ``lower`` is the largest |g - f| at the sphere points evaluated, less a
    float-rounding slack (``witnesses[0]`` attains it); ``upper`` is a
    proven bound: the largest padded bound over cells covering the sphere
    (see the module docstring).  Stops when upper - lower <= ``tol``; with
    ``eps`` given, also as soon as upper <= eps or lower > eps; at the latest
    after ``max_cells`` cells (the 2d starting cells are always evaluated),
    with the honest, wider interval reached so far.

    ``stats``: ``stop`` ("tol", "decided" (by eps), "max_cells", or
    "precision" when ``tol`` is below the float resolution of the bounds),
    ``cells`` evaluated, ``open_cells`` left, ``iterations``, ``depth`` (most
    halvings of a cell edge), ``initial_split`` (cells per face edge at the
    start, default :func:`default_initial_split`), ``directions`` (distinct
    unit directions after merging), ``kept_units``, ``slack`` and
    ``seconds``.  Witnesses: up to ``n_witnesses`` distinct points, worst
    first, with the signed g - f there.
    """
    t_start = time.perf_counter()
    check_choice("output", output, OUTPUTS)
    tol = check_positive_float("tol", tol)
    if eps is not None:
        eps = check_positive_float("eps", eps, allow_zero=True)
    n_witnesses = check_int("n_witnesses", n_witnesses, minimum=1)
    max_cells = check_int("max_cells", max_cells, minimum=1)
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    d = w.shape[0]
    if d < 2:
        raise InvalidArgument(f"w must have dimension d >= 2, got {d}")
    A = np.asarray(A, dtype=np.float64).reshape(-1, d)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if A.shape[0] != b.shape[0]:
        raise InvalidArgument(f"A and b must have as many rows, got {A.shape[0]} and {b.shape[0]}")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b)) and np.all(np.isfinite(w))):
        raise InvalidArgument("A, b and w must contain only finite numbers")
    m0 = default_initial_split(d) if initial_split is None else check_int("initial_split", initial_split, minimum=1)

    with _single_threaded_blas():
        return _branch_and_bound(
            A, b, w, relu_out=output == "relu", tol=tol, eps=eps, n_witnesses=n_witnesses,
            max_cells=max_cells, m0=m0, t_start=t_start,
        )


def _branch_and_bound(
    A: np.ndarray,
    b: np.ndarray,
    w: np.ndarray,
    *,
    relu_out: bool,
    tol: float,
    eps: float | None,
    n_witnesses: int,
    max_cells: int,
    m0: int,
    t_start: float,
) -> ErrorBound:
    d = w.shape[0]
    P = _merge(A, b, w, relu_out)
    S = P.unit_scale  # the search runs in units of S
    tol = tol / S
    eps = None if eps is None else eps / S
    m = P.U.shape[0]
    k = A.shape[0]
    # Every computed quantity is a sum of at most ~(m + d) products bounded by scale.
    unit = (m + k + d + 4) * _ULP * P.scale
    slack_eval = 4.0 * unit  # |computed - true| of g - f at one point
    slack_bound = 32.0 * unit  # cap bounds: a few more operations, ulp-level each
    # Below a few slacks the gap cannot close (every bound carries slack_bound):
    # such a tol ends with stats["stop"] == "precision" instead of running on.
    tol_eff = max(tol - 3.0 * slack_eval, 2.0 * slack_bound + 4.0 * slack_eval)

    faces = Faces(d)
    dm1 = d - 1
    r = min(dm1, _MAX_SPLIT_AXES)
    nchild = 2**r
    cap_children = max(nchild, _BATCH_CELLS // nchild * nchild)
    chunk = max(64, _CHUNK_FLOATS // (m + d + 8))

    # Initial grid: m0^(d-1) cells on each face.
    ticks = (np.arange(m0) + 0.5) * (2.0 / m0) - 1.0
    grid = np.stack(np.meshgrid(*([ticks] * dm1), indexing="ij"), axis=-1).reshape(-1, dm1)
    face = np.repeat(np.arange(2 * d), grid.shape[0])
    z = np.tile(grid, (2 * d, 1))
    if face.shape[0] > max_cells:  # honour the budget even at the start
        m0 = 1
        face, z = np.arange(2 * d), np.zeros((2 * d, dm1))
    hw0 = 1.0 / m0
    lev = np.zeros(z.shape, dtype=np.int8)  # per-axis halvings: 1 byte, not 8, per coordinate

    pool = _Pool(n_witnesses, d)
    cells = 0
    settled_max = -np.inf
    iterations = 0
    depth = 0

    def thr_now() -> float:
        """Cells bounded at or below this are settled."""
        thr = pool.best + tol_eff
        return thr if eps is None else max(thr, eps)

    def evaluate(face, z, lev):
        nonlocal cells
        out_b = np.empty(face.shape[0])
        step = chunk
        for s in range(0, face.shape[0], step):
            sl = slice(s, s + step)
            hw = hw0 * np.exp2(-lev[sl].astype(np.float64))
            C, rho, box = caps(faces, face[sl], z[sl], hw)
            bound, dc, X, dx = _cell_bounds(P, C, rho, slack_bound, thr_now(), box)
            out_b[sl] = bound
            pool.offer(np.vstack([C, X]), np.concatenate([dc, dx]))
        cells += face.shape[0]
        return out_b

    bound = evaluate(face, z, lev)
    stop = None
    while True:
        lower_run = pool.best
        thr = thr_now()
        keep = bound > thr
        if not keep.all():
            settled_max = max(settled_max, float(bound[~keep].max()))
            face, z, lev, bound = face[keep], z[keep], lev[keep], bound[keep]
        open_max = float(bound.max()) if bound.size else -np.inf
        upper_run = max(settled_max, open_max)
        # The reported lower bound is recomputed with the caller's weights,
        # which may differ by slack_eval, and then lowered by slack_eval.
        if eps is not None and lower_run - 3 * slack_eval > eps:
            stop = "decided"
            break
        if eps is not None and upper_run * (1 + 8 * _ULP) <= eps:  # still so after scaling back
            stop = "decided"
            break
        if bound.size == 0:
            gap = upper_run * (1 + 8 * _ULP) - (lower_run - 2 * slack_eval)
            stop = "tol" if gap <= tol else "precision"
            break
        n_par = min(bound.size, cap_children // nchild, (max_cells - cells) // nchild)
        if n_par <= 0:
            stop = "max_cells"
            break
        if n_par < bound.size:
            sel = np.zeros(bound.size, dtype=bool)
            sel[np.argpartition(bound, bound.size - n_par)[bound.size - n_par :]] = True
        else:
            sel = np.ones(bound.size, dtype=bool)
        if int(lev[sel].max()) >= _MAX_LEVEL:
            stop = "precision"  # cells near the float resolution: splitting cannot help
            break
        cf, cz, clev = split(face[sel], z[sel], lev[sel], hw0, r)
        depth = max(depth, int(clev.max()))
        cb = evaluate(cf, cz, clev)
        rest = ~sel
        face = np.concatenate([face[rest], cf])
        z = np.concatenate([z[rest], cz])
        lev = np.concatenate([lev[rest], clev])
        bound = np.concatenate([bound[rest], cb])
        iterations += 1

    # Report values recomputed with the caller's own weights, in their units.
    Xw = pool.X
    diff = np.maximum(Xw @ A.T, 0.0) @ b if k else np.zeros(Xw.shape[0])
    if relu_out:
        diff = np.maximum(diff, 0.0)
    diff = diff - np.maximum(Xw @ w, 0.0)
    order = np.argsort(-np.abs(diff), kind="stable")
    Xw, diff = Xw[order], diff[order]
    best = float(np.abs(diff[0])) if diff.size else 0.0
    lower = max(0.0, best - slack_eval * S)
    upper = max(upper_run * S * (1.0 + 4 * _ULP), lower)
    return ErrorBound(
        lower=lower,
        upper=float(upper),
        method="branch-and-bound",
        witnesses=Xw,
        witness_values=diff,
        stats={
            "stop": stop,
            "cells": int(cells),
            "open_cells": int(bound.size),
            "iterations": iterations,
            "depth": depth,
            "initial_split": m0,
            "directions": m,
            "kept_units": k,
            "slack": float(slack_bound * S),
            "seconds": time.perf_counter() - t_start,
        },
    )
