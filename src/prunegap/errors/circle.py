"""Exact errors in d = 2 by the breakpoint method (THEORY §3).

On the circle x = (cos t, sin t) every unit b_i relu(<a_i, x>) and the target
are, between consecutive kink angles, of the form P cos t + Q sin t.  With a
relu output the network is relu(h), which adds the zeros of h on each arc as
breakpoints.  The maximum of |A cos t + B sin t| over an arc is at an end or
at the stationary angle atan2(B, A) (+ pi) when inside, so the sup is exact
up to float rounding, and so is the L2 error (each piece integrates in closed
form).  Everything is O(k log k) in the number k of kept units.
"""

from __future__ import annotations

import numpy as np

from ._bound import ErrorBound

__all__ = ["sup_error_circle", "l2_error_circle", "circle_pieces"]

_TWO_PI = 2.0 * np.pi
_ULP = np.finfo(np.float64).eps


def circle_pieces(A: np.ndarray, b: np.ndarray, w: np.ndarray):
    """Arcs [lo, hi] covering [0, 2pi] with the hidden sum h = P cos t + Q sin t
    and the target f = F cos t + G sin t on each (f is 0 where <w, x> < 0)."""
    c = b[:, None] * A  # (k, 2): unit i contributes <c_i, x> where <a_i, x> > 0
    alive = np.any(c != 0, axis=1) & np.any(A != 0, axis=1)
    A, c = A[alive], c[alive]
    phi = np.arctan2(A[:, 1], A[:, 0])
    on = np.mod(phi - np.pi / 2, _TWO_PI)  # unit switches on here, going counter-clockwise
    off = np.mod(phi + np.pi / 2, _TWO_PI)
    on[on >= _TWO_PI] = 0.0  # np.mod may round a tiny negative angle up to 2pi
    off[off >= _TWO_PI] = 0.0
    phi_w = np.arctan2(w[1], w[0])
    target_kinks = np.mod(np.array([phi_w - np.pi / 2, phi_w + np.pi / 2]), _TWO_PI)

    cuts = np.unique(np.concatenate([[0.0, _TWO_PI], on, off, target_kinks]))
    lo, hi = cuts[:-1], cuts[1:]
    mid = 0.5 * (lo + hi)

    # Coefficients on the first arc directly; then add each unit at its "on"
    # cut and remove it at its "off" cut (events at cut 0 are in arc 0 already).
    pq0 = (c * (np.cos(mid[0] - phi) > 0)[:, None]).sum(axis=0)
    delta = np.zeros((lo.shape[0], 2))
    i_on = np.searchsorted(lo, on)
    i_off = np.searchsorted(lo, off)
    np.add.at(delta, i_on, c)
    np.add.at(delta, i_off, -c)
    delta[0] = 0.0
    pq = pq0 + np.cumsum(delta, axis=0)

    active_w = np.cos(mid - phi_w) > 0
    fg = np.where(active_w[:, None], w[None, :], 0.0)
    scale = float(np.abs(b[alive]).dot(np.linalg.norm(A, axis=1)) if A.size else 0.0) + float(np.linalg.norm(w))
    return lo, hi, pq[:, 0], pq[:, 1], fg[:, 0], fg[:, 1], scale, int(A.shape[0])


def _in_arc(t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    t = np.mod(t, _TWO_PI)
    return np.where((t >= lo[:, None]) & (t <= hi[:, None]), t, np.nan)


def sup_error_circle(
    A: np.ndarray, b: np.ndarray, w: np.ndarray, *, output: str = "relu", n_witnesses: int = 1
) -> ErrorBound:
    """Exact sup over the unit disc of |g - f| for effective weights A (k x 2), b (k)."""
    lo, hi, P, Q, F, G, scale, k = circle_pieces(A, b, w)
    cand = [lo[:, None], hi[:, None]]
    s = np.arctan2(Q - G, P - F)[:, None]  # stationary angles of h - f
    cand.append(_in_arc(np.hstack([s, s + np.pi]), lo, hi))
    if output == "relu":
        z = np.arctan2(Q, P)[:, None] + np.pi / 2  # zeros of h
        cand.append(_in_arc(np.hstack([z, z + np.pi]), lo, hi))
        phi_w = np.arctan2(w[1], w[0])  # stationary angles of f, where g = 0
        cand.append(_in_arc(np.full((lo.shape[0], 2), [phi_w, phi_w + np.pi]), lo, hi))
    t = np.hstack(cand)  # (arcs, candidates)
    ct, st = np.cos(t), np.sin(t)
    h = P[:, None] * ct + Q[:, None] * st
    g = np.maximum(h, 0.0) if output == "relu" else h
    diff = g - (F[:, None] * ct + G[:, None] * st)
    absdiff = np.where(np.isnan(diff), -1.0, np.abs(diff))
    flat = absdiff.ravel()
    best = float(flat.max())
    slack = 4.0 * (k + 4) * _ULP * max(scale, 1.0)
    m = max(1, min(int(n_witnesses), flat.size))
    order = np.argsort(flat)[::-1][:m] if m > 1 else np.array([int(np.argmax(flat))])
    tw = t.ravel()[order]
    return ErrorBound(
        lower=max(0.0, best - slack),
        upper=best + slack,
        method="exact-circle",
        witnesses=np.stack([np.cos(tw), np.sin(tw)], axis=1),
        witness_values=diff.ravel()[order],
        stats={"arcs": int(lo.shape[0]), "kept_units": k},
    )


def _integral_sq(a: np.ndarray, b: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Integral of (a cos t + b sin t)^2 over [t0, t1]."""
    dt = t1 - t0
    ds2 = np.sin(2 * t1) - np.sin(2 * t0)
    dc2 = np.cos(2 * t1) - np.cos(2 * t0)
    return a * a * (dt / 2 + ds2 / 4) + b * b * (dt / 2 - ds2 / 4) - a * b * dc2 / 2


def l2_error_circle(A: np.ndarray, b: np.ndarray, w: np.ndarray, *, output: str = "relu", norm: str = "l2-sphere") -> ErrorBound:
    """Exact L2 error in d = 2: x uniform on the circle, or x ~ N(0, I_2)."""
    lo, hi, P, Q, F, G, scale, k = circle_pieces(A, b, w)
    if output == "relu":
        z = np.arctan2(Q, P)[:, None] + np.pi / 2
        z = np.mod(np.hstack([z, z + np.pi]), _TWO_PI)
        z = np.clip(z, lo[:, None], hi[:, None])  # zeros outside an arc become empty pieces
        pts = np.sort(np.hstack([lo[:, None], z, hi[:, None]]), axis=1)  # (arcs, 4)
        t0, t1 = pts[:, :-1], pts[:, 1:]
        tm = 0.5 * (t0 + t1)
        pos = (P[:, None] * np.cos(tm) + Q[:, None] * np.sin(tm)) > 0
        a = np.where(pos, P[:, None], 0.0) - F[:, None]
        bb = np.where(pos, Q[:, None], 0.0) - G[:, None]
        total = _integral_sq(a, bb, t0, t1).sum()
    else:
        total = _integral_sq(P - F, Q - G, lo, hi).sum()
    mean_sq = max(float(total) / _TWO_PI, 0.0)
    if norm == "l2-gaussian":
        mean_sq *= 2.0  # E||x||^2 = d = 2 and everything is 1-homogeneous
    slack = 8.0 * (k + 4) * _ULP * max(scale, 1.0) ** 2
    return ErrorBound(
        lower=float(np.sqrt(max(mean_sq - slack, 0.0))),
        upper=float(np.sqrt(mean_sq + slack)),
        method="exact-circle",
        stats={"arcs": int(lo.shape[0]), "kept_units": k},
    )
