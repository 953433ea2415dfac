"""Certified sup error on the sphere S^{d-1} (d >= 3) by branch and bound (THEORY §3).

The error of g(x) = out(sum_i b_i relu(<A_i, x>)) against f(x) = relu(<w, x>)
is positively 1-homogeneous, so its sup over the unit ball is its sup over the
unit sphere.  We cover the sphere by cells and bound |g - f| on each:

Cells.  The surface of the cube [-1, 1]^d projects radially onto the sphere.
A cell is an axis-aligned box on one face {y : y_j = s} (centre y_c, half
widths h in the d - 1 free coordinates).  On the face ||y|| >= 1, and the
derivative of y -> y / ||y|| has norm 1 / ||y||, so every sphere point of the
cell lies in the cap {x in S : ||x - c|| <= rho} around c = y_c / ||y_c|| with
rho = ||h|| / max(1, ||y_c|| - ||h||).

Bound on a cap.  With u = <a, x> for a unit-norm direction a, t = <a, c>,
u lies in [l, U] = [t - rho, t + rho] on the cap and the triangle relaxation
gives relu(u) = lam u + mu + R with lam = clip(U / (U - l), 0, 1),
mu = relu(U) relu(-l) / (2 (U - l)) and |R| <= mu (lam in {0, 1}, mu = R = 0
when the kink hyperplane a^perp misses the cap).  Summing over units, any
combination sum_j beta_j relu(<a_j, x>) equals <q, x> + C + R with
|R| <= E = sum_j |beta_j| mu_j, and the linear part is bounded exactly on
the cap: with cos(alpha) = 1 - rho^2 / 2 the cap's angular radius,
t = <q, c> and s = ||q - t c||,

    max_cap <q, x> = ||q||                          if t >= ||q|| cos(alpha)
                   = t cos(alpha) + s sin(alpha)    otherwise.

That bounds h - f (for a linear output this is g - f) and the range of h.
A relu output g = relu(h) equals h - f where h >= 0 on the whole cap, equals
-f where h <= 0 on it, and is one of them pointwise otherwise, so the bound is
that of |h - f|, of f, or their max.  An interval bound (each unit between
relu(l) and relu(U)) is also computed and the smaller bound is kept.  Every
bound is inflated by a float-rounding slack, so it is a proof.

Lower bound.  The error is evaluated exactly at each cell centre and at the
point of the cap that maximises the cell's linear model; the largest value is
attained, hence a lower bound.  Cells whose bound is within ``tol`` of it (or
below ``eps`` when only the decision ``error <= eps`` is wanted) are settled;
the others are halved along their widest coordinates, worst first.

Units with the same direction are merged (relu(<a, x>) = ||a|| relu(<a/||a||, x>)),
and so is the target when a unit points along w: an exact copy of the target
then costs nothing, instead of a strip of tiny cells along w^perp.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .._validation import check_choice, check_int, check_positive_float
from ..exceptions import InvalidArgument
from ..setting import OUTPUTS
from ._bound import ErrorBound

__all__ = ["sup_error_sphere", "default_initial_split"]

_ULP = np.finfo(np.float64).eps
_MAX_SPLIT_AXES = 6  # at most 2^6 children per split keeps batches bounded in high d
_MAX_EXACT_KINKS = 2  # pieces per cell grow as 2^kinks
_BATCH_FLOATS = 1 << 21  # about (children x directions) floats per batch array: ~16 MB each


def default_initial_split(d: int) -> int:
    """Cells per edge of each cube face at the start: the largest m <= 8 with
    2 d m^(d-1) <= 4096 (at least 1)."""
    m = 8
    while m > 1 and 2 * d * m ** (d - 1) > 4096:
        m -= 1
    return m


@dataclass
class _Problem:
    """Merged unit-norm directions: h = sum_j beta_j relu(<U_j, x>), f = nw relu(<U_iw, x>)."""

    U: np.ndarray  # (m, d), unit rows; row iw is w / ||w||
    beta: np.ndarray  # (m,) coefficients of the hidden sum
    iw: int
    nw: float
    relu_out: bool
    scale: float  # sum |b_i| ||A_i|| + ||w||: every value is at most this in size

    @property
    def absbeta(self) -> np.ndarray:
        return np.abs(self.beta)


def _merge(A: np.ndarray, b: np.ndarray, w: np.ndarray, relu_out: bool) -> _Problem:
    d = w.shape[0]
    norms = np.linalg.norm(A, axis=1) if A.size else np.zeros(0)
    live = (norms > 0) & (b != 0)
    dirs = A[live] / norms[live, None]
    coef = b[live] * norms[live]
    nw = float(np.linalg.norm(w))
    what = w / nw if nw > 0 else np.eye(d)[0]  # any direction: it has coefficient 0
    dirs = np.vstack([what[None, :], dirs])
    coef = np.concatenate([[0.0], coef])
    # Exact duplicates only: merging near-parallel rows would not be rigorous.
    U, inv = np.unique(dirs, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    beta = np.bincount(inv, weights=coef, minlength=U.shape[0])
    iw = int(inv[0])
    keep = beta != 0
    keep[iw] = True
    newidx = np.cumsum(keep) - 1
    scale = float(np.abs(b[live]) @ norms[live]) + nw if live.any() else nw
    return _Problem(np.ascontiguousarray(U[keep]), beta[keep], int(newidx[iw]), nw, relu_out, scale)


def _cap_max(t: np.ndarray, s: np.ndarray, n: np.ndarray, cosa: np.ndarray, sina: np.ndarray) -> np.ndarray:
    """max of <q, x> over the cap of angular radius alpha around c, given
    t = <q, c>, s = ||q - t c||, n = ||q||."""
    return np.where(t >= n * cosa, n, np.minimum(n, t * cosa + s * sina))


def _rowdot(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X, Y)


def _rownorm(X: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", X, X))


def _cap_argmax_pm(L: np.ndarray, C: np.ndarray, cosa: np.ndarray, sina: np.ndarray):
    """For +L and for -L: (max over the cap of <+-L, x>, a point attaining it,
    whether that point is the unique maximiser).  Not unique when L = 0 or
    L is a negative multiple of c (then the whole rim attains the max)."""
    t = _rowdot(L, C)
    n = _rownorm(L)
    R = L - t[:, None] * C
    s = _rownorm(R)
    nc = n * cosa
    tc = t * cosa
    ss = s * sina
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        Lh = L / n[:, None]
        Rs = R * (sina / s)[:, None]
        Cc = C * cosa[:, None]
        for sg in (1.0, -1.0):
            inside = sg * t >= nc
            val = np.where(inside, n, np.minimum(n, sg * tc + ss))
            X = np.where(inside[:, None], sg * Lh, Cc + sg * Rs)
            ok = np.isfinite(X).all(axis=1) & (n > 0)
            X[~ok] = C[~ok]
            out.append((val, X, ok))
    return out


class _Face:
    """The part of a cap on the great sphere {<nrm, x> = 0}: itself a cap of
    that sphere, centre chat, cos/sin of its angular radius (sin rounded up)."""

    def __init__(self, C: np.ndarray, nrm: np.ndarray, cosa: np.ndarray, sina: np.ndarray) -> None:
        d = C.shape[1]
        tn = _rowdot(C, nrm)
        Cp = C - tn[:, None] * nrm
        nu = _rownorm(Cp)
        atn = np.abs(tn)
        # The face meets the cap iff ||c'|| >= cos(alpha); for alpha <= pi/2
        # that is sin(alpha) >= |<c, n>|, which rounds far better.
        self.empty = (cosa > 0) & (sina + 16 * d * _ULP < atn)
        # Near the pole of nrm the sub-cap angles are ill-conditioned; use
        # the whole great sphere there (a superset, so still a bound).
        whole = nu < 1e-2
        with np.errstate(invalid="ignore", divide="ignore"):
            self.chat = Cp / nu[:, None]
            self.cos1 = np.minimum(cosa / nu, 1.0)
            S = sina + atn
            # sin^2 = (nu^2 - cos^2) / nu^2 = (sin a - |tn|)(sin a + |tn|) / nu^2,
            # padded: near a graze the root amplifies rounding to sqrt(ulp).
            self.sin1 = np.sqrt(np.maximum(sina - atn, 0.0) * S + 8 * d * _ULP * S) / nu
        if whole.any():
            self.chat[whole] = C[whole]
            self.cos1[whole] = -1.0
            self.sin1[whole] = 0.0
        self.nrm = nrm

    def max_pm(self, L: np.ndarray):
        """For +L and -L: upper bound on the max over the face, a point near the maximiser."""
        Lp = L - _rowdot(L, self.nrm)[:, None] * self.nrm
        pad = 16 * _ULP * _rownorm(Lp)  # cos1 carries a few ulps of relative error
        return [
            (np.where(self.empty, -np.inf, val + pad), X)
            for val, X, _ in _cap_argmax_pm(Lp, self.chat, self.cos1, self.sin1)
        ]


def _piece_max_pm(L: np.ndarray, C: np.ndarray, cosa: np.ndarray, sina: np.ndarray, cons):
    """For +L and -L: upper bound on the max over the cap cut by half-spaces
    s <n, x> >= 0, and a point near the maximiser.

    ``cons`` lists (face, s, on); constraint rows with ``on`` False are
    ignored.  The only local maximum of a linear function on a cap is its cap
    maximiser x0, so the max over the piece is <L, x0> when x0 is in the
    piece, and otherwise lies on one of the faces <n, x> = 0 (where the other
    constraints are dropped, which only loosens the bound).
    """
    d = C.shape[1]
    margin = -64 * d * _ULP  # x0 counts as outside only when clearly outside
    face_max = [face.max_pm(L) for face, _, _ in cons]
    out = []
    for which, (M0, X0, ok) in enumerate(_cap_argmax_pm(L, C, cosa, sina)):
        inside = ~ok  # a degenerate maximiser: keep the safe cap bound
        if cons:
            within = np.ones_like(ok)
            for face, sg, on in cons:
                within &= ~on | (sg * _rowdot(face.nrm, X0) >= margin)
            inside |= within
        else:
            inside[:] = True
        best = np.full(L.shape[0], -np.inf)
        bestX = X0.copy()
        for (face, _, on), fm in zip(cons, face_max):
            M1, X1 = fm[which]
            better = on & (M1 > best)
            best = np.where(better, M1, best)
            bestX[better] = X1[better]
        out.append((np.where(inside, M0, best), np.where(inside[:, None], X0, bestX)))
    return out


def _few_kinks_bound(P: _Problem, C, cosa, sina, act, cross, hlo, hhi, need, ncross_max: int):
    """Near-exact bounds on the cells in ``need`` crossed by at most ``ncross_max`` kinks.

    With the crossing units J known, the cap splits into 2^|J| pieces on each
    of which h and f are linear (and, for a relu output where h changes sign,
    each piece splits once more along h = 0).  |g - f| on a piece is then
    the max of +-L over a cap cut by half-spaces (:func:`_piece_max_pm`).
    Returns (bound, point) with bound = inf where not computed.
    """
    N, d = C.shape
    U, beta, iw, nw = P.U, P.beta, P.iw, P.nw
    beta_f = np.zeros_like(beta)
    beta_f[iw] = nw
    bound = np.full(N, np.inf)
    Xout = C.copy()
    ncross = cross.sum(axis=1)
    for r in range(ncross_max + 1):
        rows = need & (ncross == r)
        if P.relu_out:
            rows &= hhi > 0.0  # where h <= 0 throughout, g = 0 and the cap bound of f is exact
            if r == 0:
                rows &= hlo < 0.0  # no kink at all: the relaxation is exact there
        elif r == 0:
            continue
        ii = np.flatnonzero(rows)
        if ii.size == 0:
            continue
        Cg, cg, sg = C[ii], cosa[ii], sina[ii]
        actg = act[ii]
        p0 = (actg * beta) @ U
        f0 = (nw * actg[:, iw])[:, None] * U[iw]
        idx = np.nonzero(cross[ii])[1].reshape(ii.size, r)
        Dir = U[idx]  # (n, r, d)
        bh, bf = beta[idx], beta_f[idx]
        faces = [_Face(Cg, Dir[:, j], cg, sg) for j in range(r)]
        split = (hlo[ii] < 0.0) if P.relu_out else np.zeros(ii.size, dtype=bool)
        any_split = bool(split.any())
        on_all = np.ones(ii.size, dtype=bool)
        best = np.full(ii.size, -np.inf)
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
                npn = _rownorm(p)
                with np.errstate(invalid="ignore", divide="ignore"):
                    nh = np.where((npn > 0)[:, None], p / npn[:, None], Cg)
                hface = _Face(Cg, nh, cg, sg)
                pieces = [(p - f, cons + [(hface, 1.0, split)], on_all), (-f, cons + [(hface, -1.0, split)], split)]
            for L, cons_, rowmask in pieces:
                for v, X in _piece_max_pm(L, Cg, cg, sg, cons_):
                    better = rowmask & (v > best)
                    best = np.where(better, v, best)
                    bestX[better] = X[better]
        bound[ii] = best
        Xout[ii] = bestX
    return bound, Xout


def _evaluate_points(P: _Problem, X: np.ndarray) -> np.ndarray:
    """Signed g - f at rows of X with the merged directions."""
    T = X @ P.U.T
    h = np.maximum(T, 0.0) @ P.beta
    g = np.maximum(h, 0.0) if P.relu_out else h
    return g - P.nw * np.maximum(T[:, P.iw], 0.0)


def _cell_bounds(P: _Problem, C: np.ndarray, rho: np.ndarray, slack: float, thr: float = -np.inf):
    """Bounds on sup |g - f| over caps (centre C (N x d), chord radius rho),
    plus the exact signed error at the centres and at one candidate point per cap."""
    U, beta, iw, nw = P.U, P.beta, P.iw, P.nw
    T = C @ U.T  # (N, m)
    r = rho[:, None]
    up = T + r
    lo = T - r
    inv2r = 1.0 / (2.0 * r)
    lam = np.clip(up * inv2r, 0.0, 1.0)
    mu = np.maximum(up, 0.0) * np.maximum(-lo, 0.0) * (0.5 * inv2r)

    # Centre values come for free from T.
    reluT = np.maximum(T, 0.0)
    hc = reluT @ beta
    gc = np.maximum(hc, 0.0) if P.relu_out else hc
    diff_c = gc - nw * reluT[:, iw]

    cosa = np.maximum(1.0 - 0.5 * rho * rho, -1.0)
    sina = rho * np.sqrt(np.maximum(1.0 - 0.25 * rho * rho, 0.0))

    lam_w = lam[:, iw]
    mu_w = mu[:, iw]
    Ph = (lam * beta) @ U  # linear part of h
    Ch = mu @ beta
    Eh = mu @ P.absbeta
    bw = beta[iw]
    Q = Ph - (nw * lam_w)[:, None] * U[iw]  # linear part of h - f (target merged in)
    Cd = Ch - nw * mu_w
    Ed = Eh + (abs(bw - nw) - abs(bw)) * mu_w

    tq = _rowdot(Q, C)
    nq = np.linalg.norm(Q, axis=1)
    sq = np.linalg.norm(Q - tq[:, None] * C, axis=1)
    qmax = _cap_max(tq, sq, nq, cosa, sina) + Cd
    qmin = -_cap_max(-tq, sq, nq, cosa, sina) + Cd
    pos_side = qmax >= -qmin
    Bd = np.maximum(qmax, -qmin) + Ed  # bound on |h - f|

    # Target range on the cap (exact up to rounding).
    tw = T[:, iw]
    sw = np.linalg.norm(U[iw][None, :] - tw[:, None] * C, axis=1)
    fhi = nw * np.maximum(_cap_max(tw, sw, 1.0, cosa, sina), 0.0)
    flo = nw * np.maximum(-_cap_max(-tw, sw, 1.0, cosa, sina), 0.0)

    # Interval range of h: each unit between relu(l) and relu(U).
    a = np.maximum(lo, 0.0) * beta
    c = np.maximum(up, 0.0) * beta
    hlo = np.minimum(a, c).sum(axis=1)
    hhi = np.maximum(a, c).sum(axis=1)

    if P.relu_out:
        tp = _rowdot(Ph, C)
        npn = np.linalg.norm(Ph, axis=1)
        sp = np.linalg.norm(Ph - tp[:, None] * C, axis=1)
        hlo = np.maximum(hlo, -_cap_max(-tp, sp, npn, cosa, sina) + Ch - Eh)
        hhi = np.minimum(hhi, _cap_max(tp, sp, npn, cosa, sina) + Ch + Eh)
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
    act = lo >= 0.0
    if P.relu_out:
        rel = beta != 0
        rel[iw] = True
    else:
        rel = beta != 0
        rel[iw] = bw != nw
    cross = (mu > 0.0) & rel
    # Only where the cheap bound leaves the cell open is the finer one worth its cost.
    need = bound + slack > thr
    few, Xfew = _few_kinks_bound(P, C, cosa, sina, act, cross, hlo, hhi, need, _MAX_EXACT_KINKS)
    bound = np.minimum(bound, few) + slack

    # Candidates, only in open cells (elsewhere they cannot lift the lower
    # bound past the threshold): the point of the cap maximising the active
    # linear model, or the piecewise maximiser where that was computed.
    ii = np.flatnonzero(need)
    Cn = C[ii]
    V = np.where(pos_side[ii, None], Q[ii], -Q[ii])
    V[use_w[ii]] = U[iw]
    (_, Xp, _), (_, Xm, _) = _cap_argmax_pm(V, Cn, cosa[ii], sina[ii])
    X = Xp
    use_few = np.isfinite(few[ii])
    X[use_few] = Xfew[ii[use_few]]
    X /= _rownorm(X)[:, None]
    diff_x = _evaluate_points(P, X)
    return bound, diff_c, X, diff_x


class _Faces:
    """Geometry of the 2d cube faces: face f = (axis f // 2, sign +/-)."""

    def __init__(self, d: int) -> None:
        self.d = d
        self.axis = np.repeat(np.arange(d), 2)
        self.sign = np.tile([1.0, -1.0], d)
        self.free = np.array([[i for i in range(d) if i != j] for j in self.axis], dtype=np.intp)

    def centres(self, face: np.ndarray, z: np.ndarray) -> np.ndarray:
        N = face.shape[0]
        Y = np.empty((N, self.d))
        Y[np.arange(N), self.axis[face]] = self.sign[face]
        Y[np.arange(N)[:, None], self.free[face]] = z
        return Y


def _caps(faces: _Faces, face: np.ndarray, z: np.ndarray, hw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    Y = faces.centres(face, z)
    ny = np.linalg.norm(Y, axis=1)
    C = Y / ny[:, None]
    nh = np.linalg.norm(hw, axis=1)
    rho = nh / np.maximum(1.0, ny - nh)
    # A few ulps of headroom: C is unit only up to rounding.
    rho = rho * (1.0 + 16 * _ULP) + 16 * faces.d * _ULP
    return C, rho


def _split(face: np.ndarray, z: np.ndarray, hw: np.ndarray, r: int):
    """Halve each cell along its r widest free coordinates: 2^r children each."""
    N, dm1 = z.shape
    if r == dm1:
        axes = np.broadcast_to(np.arange(dm1), (N, dm1))
    else:
        axes = np.argsort(-hw, axis=1, kind="stable")[:, :r]
    signs = ((np.arange(2**r)[:, None] >> np.arange(r)[None, :]) & 1) * 2.0 - 1.0  # (2^r, r)
    rows = np.arange(N)[:, None]
    half = hw[rows, axes] * 0.5  # (N, r)
    newhw = hw.copy()
    newhw[rows, axes] = half
    offs = np.zeros((2**r, N, dm1))
    offs[:, rows, axes] = signs[:, None, :] * half[None, :, :]
    cz = (z[None, :, :] + offs).reshape(-1, dm1)
    chw = np.broadcast_to(newhw, (2**r, N, dm1)).reshape(-1, dm1)
    cface = np.broadcast_to(face, (2**r, N)).reshape(-1)
    return cface, cz, np.ascontiguousarray(chw)


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
    (meant for d >= 3; d = 2 has the exact :func:`sup_error_circle`).

    ``lower`` is the largest |g - f| found at evaluated sphere points, less a
    float-rounding slack; ``upper`` is a proven bound (branch and bound over
    caps, see the module docstring).  Stops when upper - lower <= ``tol``;
    with ``eps`` given, also as soon as upper <= eps or lower > eps; at the
    latest after ``max_cells`` cells (``stats["stop"] == "max_cells"``, the
    interval is then still honest but wider than ``tol``).
    ``initial_split`` cells per face edge start the search (default
    :func:`default_initial_split`).  Witnesses are the worst points found,
    worst first, with the signed g - f there.
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

    relu_out = output == "relu"
    P = _merge(A, b, w, relu_out)
    m = P.U.shape[0]
    k = A.shape[0]
    # Every computed quantity is a sum of at most ~(m + d) products bounded by scale.
    unit = (m + k + d + 4) * _ULP * P.scale
    slack_eval = 4.0 * unit  # |computed - true| of g - f at one point
    slack_bound = 32.0 * unit  # cap bounds: a few more operations, ulp-level each
    tol_eff = max(tol - 3.0 * slack_eval, 8.0 * slack_eval)

    faces = _Faces(d)
    dm1 = d - 1
    r = min(dm1, _MAX_SPLIT_AXES)
    nchild = 2**r
    cap_children = max(nchild, _BATCH_FLOATS // (m + d + 8) // nchild * nchild)

    # Initial grid: m0^(d-1) cells on each face.
    ticks = (np.arange(m0) + 0.5) * (2.0 / m0) - 1.0
    grid = np.stack(np.meshgrid(*([ticks] * dm1), indexing="ij"), axis=-1).reshape(-1, dm1)
    face = np.repeat(np.arange(2 * d), grid.shape[0])
    z = np.tile(grid, (2 * d, 1))
    hw = np.full_like(z, 1.0 / m0)
    if face.shape[0] > max_cells:  # honour the budget even at the start
        m0 = 1
        face, z, hw = np.arange(2 * d), np.zeros((2 * d, dm1)), np.ones((2 * d, dm1))

    pool = _Pool(n_witnesses, d)
    cells = 0
    settled_max = -np.inf
    iterations = 0
    depth_min_hw = float(hw.max()) if hw.size else 1.0

    def thr_now() -> float:
        """Cells bounded at or below this are settled."""
        thr = pool.best + tol_eff
        return thr if eps is None else max(thr, eps)

    def evaluate(face, z, hw):
        nonlocal cells
        out_b = np.empty(face.shape[0])
        step = max(1, cap_children)
        for s in range(0, face.shape[0], step):
            sl = slice(s, s + step)
            C, rho = _caps(faces, face[sl], z[sl], hw[sl])
            bound, dc, X, dx = _cell_bounds(P, C, rho, slack_bound, thr_now())
            out_b[sl] = bound
            pool.offer(np.vstack([C, X]), np.concatenate([dc, dx]))
        cells += face.shape[0]
        return out_b

    bound = evaluate(face, z, hw)
    stop = None
    while True:
        lower_run = pool.best
        thr = thr_now()
        keep = bound > thr
        if not keep.all():
            settled_max = max(settled_max, float(bound[~keep].max()))
            face, z, hw, bound = face[keep], z[keep], hw[keep], bound[keep]
        open_max = float(bound.max()) if bound.size else -np.inf
        upper_run = max(settled_max, open_max)
        if eps is not None and lower_run - slack_eval > eps:
            stop = "decided"
            break
        if eps is not None and upper_run <= eps:
            stop = "decided"
            break
        if bound.size == 0:
            stop = "tol" if upper_run - (lower_run - 2 * slack_eval) <= tol else "precision"
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
        cf, cz, chw = _split(face[sel], z[sel], hw[sel], r)
        depth_min_hw = min(depth_min_hw, float(chw.min()))
        cb = evaluate(cf, cz, chw)
        rest = ~sel
        face = np.concatenate([face[rest], cf])
        z = np.concatenate([z[rest], cz])
        hw = np.concatenate([hw[rest], chw])
        bound = np.concatenate([bound[rest], cb])
        iterations += 1

    # Report values recomputed with the caller's own weights.
    Xw = pool.X
    diff = np.maximum(Xw @ A.T, 0.0) @ b if k else np.zeros(Xw.shape[0])
    if relu_out:
        diff = np.maximum(diff, 0.0)
    diff = diff - np.maximum(Xw @ w, 0.0)
    order = np.argsort(-np.abs(diff), kind="stable")
    Xw, diff = Xw[order], diff[order]
    best = float(np.abs(diff[0])) if diff.size else 0.0
    lower = max(0.0, best - slack_eval)
    upper = max(upper_run, lower)
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
            "depth": int(round(np.log2(1.0 / (m0 * depth_min_hw)))),
            "initial_split": m0,
            "directions": m,
            "kept_units": k,
            "slack": slack_bound,
            "seconds": time.perf_counter() - t_start,
        },
    )
