"""The geometry of the sphere's branch and bound: caps, cube-face cells, and maxima of linear functions on them.

:mod:`.sphere` covers S^{d-1} by cells, the radial projections of boxes on
the faces of the cube [-1, 1]^d; every cell lies in a cap {x in S :
||x - c|| <= rho} (:func:`caps`) and is halved exactly in binary
(:func:`split`).  On a cap, the max of a linear function <q, x> is in closed
form (:func:`cap_max`, :func:`cap_argmax_pm`), and so is its max on the part
of the cap on a great sphere {<n, x> = 0} (:class:`Face`) and on the cap cut
by half-spaces (:func:`piece_max_pm`).  Every decision here is proven or
conservative against float rounding; the padding is derived in the
"Rounding" paragraph of :mod:`.sphere`'s docstring.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cap_max", "rowdot", "rownorm", "cap_argmax_pm", "Face", "piece_max_pm", "Faces", "caps", "split"]

_ULP = np.finfo(np.float64).eps


def cap_max(t: np.ndarray, s: np.ndarray, n: np.ndarray, cosa: np.ndarray, sina: np.ndarray) -> np.ndarray:
    """max of <q, x> over the cap of angular radius alpha around c, given
    t = <q, c>, s = ||q - t c||, n = ||q||."""
    return np.where(t >= n * cosa, n, np.minimum(n, t * cosa + s * sina))


def rowdot(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X, Y)


def rownorm(X: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", X, X))


def cap_argmax_pm(L: np.ndarray, C: np.ndarray, cosa: np.ndarray, sina: np.ndarray):
    """For +L and for -L: (max over the cap of <+-L, x>, a point X near a
    maximiser, err) with err a proven bound on ||X - x0|| for every maximiser
    x0 of the cap (module docstring, "Rounding"), inf where no bound is known:
    L = 0, L a negative multiple of c (the whole rim attains the max), or
    <+-L, c> too close to ||L|| cos(alpha) to tell an interior maximiser from
    a rim one."""
    d = L.shape[1]
    t = rowdot(L, C)
    n = rownorm(L)
    R = L - t[:, None] * C
    s = rownorm(R)
    nc = n * cosa
    tc = t * cosa
    ss = s * sina
    # e bounds the error of gap = +-t - n cosa against +-<L, c> - ||L|| cos(alpha)
    # (at most (2 d + 8) ulp ||L||) and ||R - R*|| with R* = L - <L, c> c (at
    # most (3 d + 6) ulp ||L||): dot products, norms and differences over d
    # terms of size <= ||L||, with C and cos(alpha) exact to (d + 2) and 3 ulps.
    e = 4 * (d + 4) * _ULP * n
    # X = L / n: |1 - ||L|| / n| <= (d + 2) ulp.  X = C cos(a) + R sin(a) / s:
    # ||R / s - R* / ||R*|| || <= 2 ||R - R*|| / ||R|| + (d + 2) ulp, so its
    # error is sin(a) 2 e / s + ulps (>= the rim's diameter when R* = 0).
    err_in = 4 * (d + 4) * _ULP
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        err_rim = np.where(sina > 0, sina * (2.5 * e / s), 0.0) + err_in
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        Lh = L / n[:, None]
        Rs = R * (sina / s)[:, None]
        Cc = C * cosa[:, None]
        for sg in (1.0, -1.0):
            gap = sg * t - nc
            inside = gap >= 0.0
            val = np.where(inside, n, np.minimum(n, sg * tc + ss))
            X = np.where(inside[:, None], sg * Lh, Cc + sg * Rs)
            ok = np.isfinite(X).all(axis=1) & (n > 0)
            X[~ok] = C[~ok]
            err = np.where(gap > e, err_in, np.where(gap < -e, err_rim, np.inf))
            err = np.where(ok & ~np.isnan(err), err, np.inf)
            out.append((val, X, err))
    return out


class Face:
    """The part of a cap on the great sphere {<nrm, x> = 0}: itself a cap of
    that sphere, centre chat, cos/sin of its angular radius (sin rounded up).

    ``tn`` = <c, nrm>.  ``empty``: the plane provably misses the cap, which
    then lies wholly on the side sign(tn) (so a half-space constraint of a
    piece is either implied by the cap or contradicts it)."""

    def __init__(self, C: np.ndarray, nrm: np.ndarray, cosa: np.ndarray, sina: np.ndarray) -> None:
        d = C.shape[1]
        tn = rowdot(C, nrm)
        Cp = C - tn[:, None] * nrm
        nu = rownorm(Cp)
        atn = np.abs(tn)
        # The face meets the cap iff ||c'|| >= cos(alpha); for alpha <= pi/2
        # that is sin(alpha) >= |<c, n>|, which rounds far better.  With C
        # and nrm unit to (d + 2) ulps, |atn - |<c, n>|| <= (3 d + 5) ulp and
        # |sina - sin(alpha)| <= 3 ulp, so the margin 16 d ulp makes "empty"
        # a proof.
        self.empty = (cosa > 0) & (sina + 16 * d * _ULP < atn)
        # Near the pole of nrm the sub-cap angles are ill-conditioned; use
        # the whole great sphere there (a superset, so still a bound).
        whole = nu < 1e-2
        with np.errstate(invalid="ignore", divide="ignore"):
            self.chat = Cp / nu[:, None]
            self.cos1 = np.minimum(cosa / nu, 1.0)
            S = sina + atn
            # sin^2 = (nu^2 - cos^2) / nu^2 = (sin a - |tn|)(sin a + |tn|) / nu^2.
            # With D = (3 d + 8) ulp bounding the errors of sina and atn
            # together, the computed product is short of the true one by at
            # most 2 D S + D^2 + 4 ulp S: padded by that, sin1 is rounded up
            # (near a graze the root amplifies rounding to sqrt(ulp)).
            D = (3 * d + 8) * _ULP
            self.sin1 = np.sqrt(np.maximum(sina - atn, 0.0) * S + (2 * D + 4 * _ULP) * S + D * D) / nu
            # chat and nu are exact to (5 d + 11) ulp / nu (relative): the
            # rim value t cos1 + s sin1 errs by a few times that times ||Lp||.
            self.geom = (5 * d + 11) * _ULP / nu
        if whole.any():
            self.chat[whole] = C[whole]
            self.cos1[whole] = -1.0
            self.sin1[whole] = 0.0
            self.geom[whole] = 0.0
        self.nrm = nrm
        self.tn = tn

    def max_pm(self, L: np.ndarray):
        """For +L and -L: upper bound on the max over the face, a point near the maximiser."""
        d = L.shape[1]
        Lp = L - rowdot(L, self.nrm)[:, None] * self.nrm
        nLp = rownorm(Lp)
        # <Lp, x> = <L, x> on the face up to 4 ulp ||L|| (left to the
        # caller's slack); cos1, sin1, chat add (d + 12) ulp and 12 geom, relative.
        pad = ((d + 12) * _ULP + 12 * self.geom) * nLp
        return [
            (np.where(self.empty, -np.inf, val + pad), X)
            for val, X, _ in cap_argmax_pm(Lp, self.chat, self.cos1, self.sin1)
        ]


def piece_max_pm(L: np.ndarray, C: np.ndarray, cosa: np.ndarray, sina: np.ndarray, cons):
    """For +L and -L: upper bound on the max over the cap cut by half-spaces
    s <n, x> >= 0, and a point near the maximiser.

    ``cons`` lists (face, s, on); constraint rows with ``on`` False are
    ignored.  The only local maximum of a linear function on a cap is its cap
    maximiser x0, so the max over the piece is <L, x0> when x0 is in the
    piece, and otherwise lies on one of the faces <n, x> = 0 (where the other
    constraints are dropped, which only loosens the bound).

    Every decision here is sound or conservative: x0 counts as outside only
    when its computed point is outside by more than its proven error bound
    (:func:`cap_argmax_pm`); a constraint whose plane provably misses the
    cap is decided by the sign of <n, c> alone (implied by the cap: ignored;
    contradicting it: the piece is empty, bound -inf, which is exact).
    """
    d = C.shape[1]
    face_max = [face.max_pm(L) for face, _, _ in cons]
    implied = []
    void = np.zeros(L.shape[0], dtype=bool)
    for face, sg, on in cons:
        miss = on & face.empty
        holds = sg * face.tn > 0.0  # |tn| > 16 d ulp where empty: the sign is certain
        implied.append(miss & holds)
        void |= miss & ~holds
    out = []
    for which, (M0, X0, err) in enumerate(cap_argmax_pm(L, C, cosa, sina)):
        # |<n, X0> - <n, x0>| <= ||n|| err + d ulp ||n|| ||X0||, ||n|| <= 1 + (d + 2) ulp.
        margin = 1.01 * err + 2 * (d + 2) * _ULP
        inside = np.ones(L.shape[0], dtype=bool)
        for (face, sg, on), imp in zip(cons, implied):
            inside &= ~on | imp | (sg * rowdot(face.nrm, X0) >= -margin)
        best = np.full(L.shape[0], -np.inf)
        bestX = X0.copy()
        for (face, _, on), fm in zip(cons, face_max):
            M1, X1 = fm[which]
            better = on & ~face.empty & (M1 > best)
            best = np.where(better, M1, best)
            bestX[better] = X1[better]
        # Outside, x0 violates a constraint whose face meets the cap, so
        # some term of ``best`` is finite and the max lies on such a face.
        val = np.where(inside, M0, best)
        out.append((np.where(void, -np.inf, val), np.where(inside[:, None], X0, bestX)))
    return out


class Faces:
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


def caps(faces: Faces, face: np.ndarray, z: np.ndarray, hw: np.ndarray):
    """Cap centre and chord radius of each cell, and its box (||y_c||, half
    widths in all d coordinates, min and max of ||y|| over the box)."""
    Y = faces.centres(face, z)
    ny = rownorm(Y)
    C = Y / ny[:, None]
    nh = rownorm(hw)
    rho = nh / np.maximum(1.0, ny - nh)
    # A few ulps of headroom: C is unit only up to rounding.
    rho = rho * (1.0 + 16 * _ULP) + 16 * faces.d * _ULP
    az = np.abs(z)
    ymin = np.sqrt(1.0 + (np.maximum(az - hw, 0.0) ** 2).sum(axis=1)) * (1.0 - 4 * faces.d * _ULP)
    ymax = np.sqrt(1.0 + ((az + hw) ** 2).sum(axis=1)) * (1.0 + 4 * faces.d * _ULP)
    hwf = np.zeros_like(Y)
    hwf[np.arange(Y.shape[0])[:, None], faces.free[face]] = hw
    return C, rho, (ny, hwf, ymin, ymax)


def split(face: np.ndarray, z: np.ndarray, lev: np.ndarray, hw0: float, r: int):
    """Halve each cell along its r widest free coordinates: 2^r children each.

    Half widths are stored as levels, hw = hw0 * 2^-lev: halving is exact in
    binary, so the children tile their parent up to the rounding of z (which
    the padding of every bound covers)."""
    N, dm1 = z.shape
    if r == dm1:
        axes = np.broadcast_to(np.arange(dm1), (N, dm1))
    else:
        axes = np.argsort(lev, axis=1, kind="stable")[:, :r]
    signs = ((np.arange(2**r)[:, None] >> np.arange(r)[None, :]) & 1) * 2.0 - 1.0  # (2^r, r)
    rows = np.arange(N)[:, None]
    newlev = lev.copy()
    newlev[rows, axes] += 1
    half = hw0 * np.exp2(-newlev[rows, axes].astype(np.float64))  # (N, r)
    offs = np.zeros((2**r, N, dm1))
    offs[:, rows, axes] = signs[:, None, :] * half[None, :, :]
    cz = (z[None, :, :] + offs).reshape(-1, dm1)
    clev = np.broadcast_to(newlev, (2**r, N, dm1)).reshape(-1, dm1)
    cface = np.broadcast_to(face, (2**r, N)).reshape(-1)
    return cface, cz, np.ascontiguousarray(clev)
