"""Exact errors in d = 2 by the breakpoint method (THEORY §3).

On the circle x = (cos t, sin t) every unit b_i relu(<a_i, x>) and the target
are, between consecutive kink angles, of the form P cos t + Q sin t.  With a
relu output the network is relu(h), which adds the zeros of h on each arc as
breakpoints.  The maximum of |A cos t + B sin t| over an arc is at an end or
at the stationary angle atan2(B, A) (+ pi) when inside, and each piece of
the squared error integrates in closed form.  Everything is O(k log k) in the
number k of kept units.

What is exact, and what the slack covers.  The kink angles are rounded to
floats, and every activity (of each unit and of the target, on each arc) is
decided from those rounded cuts alone: a unit is on from its rounded "on" cut
to its rounded "off" cut, counter-clockwise, a purely combinatorial fact of
the sorted cut list.  So the function evaluated, g~ - f~, is the true g - f
with every kink moved by its rounding (at most 6 eps, about 1.3e-15 rad,
see :func:`_angle`); the two differ only within that distance of a kink, and
there by at most |c_i| times the angle error for each moved kink (c_i = b_i
a_i; the target counts with ||w||).  The coefficients P, Q on each arc are
prefix sums computed exactly up to one rounding (:func:`_prefix_sums`), and
the remaining errors are those of evaluating sines and cosines and of the
candidate angles.  The returned [lower, upper] widens the float value by a
bound on all of these (stated at :data:`_SUP_ULPS` and :data:`_L2_ULPS`),
proportional to S = sum_i |b_i| ||a_i|| + ||w||, so it contains the true
error.  To keep squares from overflowing or underflowing, everything is
computed on the instance rescaled by an exact power of two (:func:`_pieces`)
and the bounds are scaled back with outward rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..exceptions import InvalidArgument
from ._bound import ErrorBound
from ._scale import scale_back as _scale_back, unit_power as _unit_power
from .l2 import _check_instance

__all__ = ["sup_error_circle", "l2_error_circle", "circle_pieces"]

_TWO_PI = 2.0 * np.pi  # below the true 2pi by 2.4e-16 (1.1 ulp of 1)
_ULP = float(np.finfo(np.float64).eps)

# Rounding allowances, in units of eps * S (sup) and eps * S^2 (mean square),
# S = sum_i |c_i| + ||w|| on the rescaled instance.  With delta <= 6 eps the
# error of a rounded kink angle or candidate angle (:func:`_angle`, plus the
# rounding of the coefficients it is computed from):
#   sup: kinks moved (S delta <= 6) + the sliver between the float 2pi and 2pi
#   (1.1) + coefficients P, Q, F, G (<= 2 eps per component from c_i = b_i a_i
#   and the prefix sums, 6 in all on h - f) + candidate angles (first order,
#   S times their error: 8) + evaluating cos, sin, the products and |g - f|
#   (6): about 27, rounded up to 40.
#   mean square (integral / 2pi): the moved kinks and misplaced zeros of h cost
#   only O(k eps^2 S^2) (a sliver of width O(eps) where the integrand is off by
#   O(eps S^2)), counted separately by :data:`_L2_SECOND_ORDER`; the sliver at
#   2pi (2 / 2pi), the coefficients (2 * 6 = 12 on the integrand), the
#   closed form of each piece (8, proportional to its length: :func:`_integral_sq`),
#   the correctly rounded sum and the division (2): about 23, rounded up to 32.
_SUP_ULPS = 40.0
_L2_ULPS = 32.0
_L2_SECOND_ORDER = 1.0e4  # times (k + 2) eps^2 S^2: slivers of width <= 24 eps near kinks and zeros


def _angle(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The angle of the vector (x, y) in [0, 2pi).

    atan2 is within 1 ulp (<= 2 eps on [-pi, pi]); adding the float 2pi to a
    negative angle adds at most half an ulp of 2pi (2 eps) and the error of
    the float 2pi itself (1.1 eps): within 6 eps of the true angle, measured
    around the circle.  A tiny negative angle can round up to 2pi: it is 0
    then (the same point); ``+ 0.0`` turns -0.0 into 0.0.
    """
    t = np.arctan2(y, x)
    t = np.where(t < 0.0, t + _TWO_PI, t) + 0.0
    return np.where(t >= _TWO_PI, 0.0, t)


def _prefix_sums(idx: np.ndarray, vals: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    """Row j: the sum of the events ``vals`` (m, 2) at indices ``idx`` <= j, for j < n.

    Each value splits exactly into a multiple of the quantum q = 2^(e - 50),
    2^e > sum |vals|, and a remainder of at most q / 2.  Partial sums of the
    multiples are below 2^53 q, so they are exact in any order; the
    remainders add at most m * eps * m q / 2 (returned as the second value).
    So each row is its exact sum up to one final rounding, whatever the number
    of events, and no drift builds up along the circle.
    """
    out = np.zeros((n, 2))
    total = float(np.abs(vals).sum())
    if idx.size == 0 or total == 0.0:
        return out, 0.0
    q_exp = int(np.frexp(total)[1]) + 1 - 50
    coarse = np.ldexp(np.round(np.ldexp(vals, -q_exp)), q_exp)
    fine = vals - coarse
    d_coarse = np.zeros((n, 2))
    d_fine = np.zeros((n, 2))
    np.add.at(d_coarse, idx, coarse)
    np.add.at(d_fine, idx, fine)
    out = np.cumsum(d_coarse, axis=0) + np.cumsum(d_fine, axis=0)
    m = float(idx.size)
    return out, m * m * _ULP * math.ldexp(1.0, q_exp)


def _active(i_on: np.ndarray, i_off: np.ndarray, on: np.ndarray, off: np.ndarray, n: int) -> np.ndarray:
    """(units, arcs) activity from the cut indices alone: on from the "on" cut
    to the "off" cut, counter-clockwise (wrapping through 0 when on > off)."""
    j = np.arange(n)[None, :]
    inside = (j >= i_on[:, None]) & (j < i_off[:, None])
    outside = (j >= i_on[:, None]) | (j < i_off[:, None])
    return np.where((on < off)[:, None], inside, outside)


@dataclass(frozen=True)
class _Pieces:
    """The breakpoint decomposition of the instance rescaled by 2^-exp."""

    lo: np.ndarray  # arcs [lo, hi] tile [0, 2pi]
    hi: np.ndarray
    P: np.ndarray  # hidden sum h = P cos t + Q sin t on each arc
    Q: np.ndarray
    F: np.ndarray  # target f = F cos t + G sin t on each arc
    G: np.ndarray
    w: np.ndarray  # the rescaled target vector
    S: float  # sum |c_i| + ||w|| of the rescaled instance
    pq_err: float  # absolute error of the prefix sums beyond their final rounding
    k: int  # kept units (b_i != 0 and a_i != 0)
    exp: int  # the instance is 2^exp times the rescaled one


def _pieces(A: np.ndarray, b: np.ndarray, w: np.ndarray) -> _Pieces:
    """Arcs and coefficients of g and f on the instance rescaled by an exact power of two.

    Unit i contributes <c_i, x> with c_i = b_i a_i where <a_i, x> > 0: from
    its "on" kink, where <a_i, x(t)> turns positive going counter-clockwise
    (x along (a_i1, -a_i0), a quarter turn clockwise of a_i: exact), to its
    "off" kink (x along (-a_i1, a_i0)).
    """
    keep = (b != 0) & np.any(A != 0, axis=1)  # (already done by _check; kept for direct callers)
    A, b = A[keep], b[keep]
    k = int(A.shape[0])
    # Exact rescaling: a_i = 2^ea a^, b_i = 2^eb b^, w = 2^ew w^, all hats in
    # [1/2, 1) by their largest component; the whole instance is divided by
    # 2^exp, the largest 2^(ea + eb) or 2^ew, so S is in [1/4, 2 (k + 1)].
    Ah, ea = _unit_power(A)
    bh, eb = _unit_power(b[:, None])
    e_units = ea + eb
    w_nonzero = bool(np.any(w != 0))
    if w_nonzero:
        wh, ew = _unit_power(w[None, :])
        wh, ew_ = wh[0], int(ew[0])
    else:
        wh, ew_ = np.zeros(2), None
    tops = [int(e_units.max())] if k else []
    if ew_ is not None:
        tops.append(ew_)
    exp = max(tops) if tops else 0
    # Far below the top the product underflows (to 0 or a subnormal): an
    # absolute error below k 2^-1074, negligible next to eps S >= eps / 4.
    shift = np.clip(e_units - exp, -1100, 0).astype(np.int32)
    c = np.ldexp(bh * Ah, shift[:, None])
    wn = np.ldexp(wh, int(np.clip(ew_ - exp, -1100, 0))) if ew_ is not None else wh

    on = _angle(-Ah[:, 0], Ah[:, 1])
    off = _angle(Ah[:, 0], -Ah[:, 1])
    cut_list = [np.array([0.0, _TWO_PI]), on, off]
    if w_nonzero:
        w_on, w_off = _angle(-wh[0], wh[1]), _angle(wh[0], -wh[1])
        cut_list.append(np.array([w_on, w_off]))
    cuts = np.unique(np.concatenate(cut_list))
    lo, hi = cuts[:-1], cuts[1:]
    n = int(lo.shape[0])

    # Every activity from the rounded cuts alone (never a separate test at an
    # arc's midpoint, which can disagree with the cuts on an arc of 1e-16):
    # +c at the on cut, -c at the off cut, and +c from arc 0 when the unit
    # wraps through angle 0.  on and off are members of lo (both < 2pi).
    i_on = np.searchsorted(lo, on)
    i_off = np.searchsorted(lo, off)
    wrap = on > off
    idx = np.concatenate([i_on, i_off, np.zeros(int(wrap.sum()), dtype=i_on.dtype)])
    vals = np.concatenate([c, -c, c[wrap]])
    pq, pq_err = _prefix_sums(idx, vals, n)

    fg = np.zeros((n, 2))
    if w_nonzero:
        act_w = _active(np.searchsorted(lo, [w_on]), np.searchsorted(lo, [w_off]),
                        np.array([w_on]), np.array([w_off]), n)[0]
        fg[act_w] = wn
    S = float(np.hypot(c[:, 0], c[:, 1]).sum() + np.hypot(wn[0], wn[1]))
    return _Pieces(lo, hi, pq[:, 0], pq[:, 1], fg[:, 0], fg[:, 1], wn, S, pq_err, k, exp)


def _check(A, b, w) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    if w.shape[0] != 2:
        raise InvalidArgument(f"the circle evaluators need d = 2, got w of length {w.shape[0]}")
    A = np.asarray(A, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    return _check_instance(A, b, w)  # shapes, finiteness; drops b_i = 0 and a_i = 0


def circle_pieces(A: np.ndarray, b: np.ndarray, w: np.ndarray):
    """Arcs [lo, hi] covering [0, 2pi] with the hidden sum h = P cos t + Q sin t
    and the target f = F cos t + G sin t on each (f is 0 where <w, x> < 0).

    Returns (lo, hi, P, Q, F, G, scale, k): scale = sum |b_i| ||a_i|| + ||w||
    over the k kept units (b_i != 0, a_i != 0).  Activities follow the rounded
    kink angles exactly (see the module docstring).
    """
    A, b, w = _check(A, b, w)
    pc = _pieces(A, b, w)
    P, Q, F, G = (np.ldexp(x, pc.exp) for x in (pc.P, pc.Q, pc.F, pc.G))
    scale = float(np.abs(b) @ np.hypot(A[:, 0], A[:, 1]) if A.size else 0.0) + float(np.hypot(w[0], w[1]))
    return pc.lo, pc.hi, P, Q, F, G, scale, pc.k


def _in_arc(t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Candidate angles (arcs, m) in [0, 2pi), NaN where outside their arc."""
    return np.where((t >= lo[:, None]) & (t <= hi[:, None]), t, np.nan)


def sup_error_circle(
    A: np.ndarray, b: np.ndarray, w: np.ndarray, *, output: str = "relu", n_witnesses: int = 1
) -> ErrorBound:
    """Exact sup over the unit disc of |g - f| for effective weights A (k x 2), b (k)."""
    A, b, w = _check(A, b, w)
    pc = _pieces(A, b, w)
    lo, hi, P, Q, F, G = pc.lo, pc.hi, pc.P, pc.Q, pc.F, pc.G
    n = lo.shape[0]
    a, c = P - F, Q - G
    # Candidates, each an angle of an exact rotation or negation of a vector:
    # the arc ends, the stationary angles of h - f (along +-(a, c)) and, for a
    # relu output, the zeros of h (along +-(-Q, P)) and the stationary angles
    # of f (along +-w), where g = 0.
    cand = [lo[:, None], hi[:, None], _in_arc(np.stack([_angle(c, a), _angle(-c, -a)], axis=1), lo, hi)]
    if output == "relu":
        cand.append(_in_arc(np.stack([_angle(P, -Q), _angle(-P, Q)], axis=1), lo, hi))
        tw = np.array([_angle(pc.w[1], pc.w[0]), _angle(-pc.w[1], -pc.w[0])], dtype=float)
        cand.append(_in_arc(np.broadcast_to(tw, (n, 2)), lo, hi))
    t = np.hstack(cand)  # (arcs, candidates)
    ct, st = np.cos(t), np.sin(t)
    h = P[:, None] * ct + Q[:, None] * st
    g = np.maximum(h, 0.0) if output == "relu" else h
    diff = g - (F[:, None] * ct + G[:, None] * st)
    absdiff = np.where(np.isnan(diff), -1.0, np.abs(diff))
    flat = absdiff.ravel()
    best = float(flat.max())
    slack = _SUP_ULPS * _ULP * pc.S + pc.pq_err  # see _SUP_ULPS
    m = max(1, min(int(n_witnesses), flat.size))
    order = np.argsort(flat)[::-1][:m] if m > 1 else np.array([int(np.argmax(flat))])
    tw_ = t.ravel()[order]
    return ErrorBound(
        lower=_scale_back(max(0.0, best - slack), pc.exp, up=False),
        upper=_scale_back(best + slack, pc.exp, up=True),
        method="exact-circle",
        witnesses=np.stack([np.cos(tw_), np.sin(tw_)], axis=1),
        witness_values=np.ldexp(diff.ravel()[order], pc.exp),
        stats={"arcs": int(n), "kept_units": pc.k, "slack": _scale_back(slack, pc.exp, up=True)},
    )


def _integral_sq(a: np.ndarray, b: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Integral of (a cos t + b sin t)^2 over [t0, t1].

    In product form, (a^2 + b^2) dt / 2 + sin(dt) ((a^2 - b^2) cos(t0 + t1)
    + 2 a b sin(t0 + t1)) / 2 with dt = t1 - t0, so the rounding error of
    each piece is at most about 8 eps (a^2 + b^2) dt: proportional to its
    length, unlike the difference sin(2 t1) - sin(2 t0), which errs by eps
    however short the piece.
    """
    dt = t1 - t0
    sm = t0 + t1
    return (a * a + b * b) * (0.5 * dt) + 0.5 * np.sin(dt) * ((a * a - b * b) * np.cos(sm) + 2.0 * a * b * np.sin(sm))


def l2_error_circle(A: np.ndarray, b: np.ndarray, w: np.ndarray, *, output: str = "relu", norm: str = "l2-sphere") -> ErrorBound:
    """Exact L2 error in d = 2: x uniform on the circle, or x ~ N(0, I_2)."""
    A, b, w = _check(A, b, w)
    pc = _pieces(A, b, w)
    lo, hi, P, Q, F, G = pc.lo, pc.hi, pc.P, pc.Q, pc.F, pc.G
    if output == "relu":
        # Split each arc at the zeros of h (along +-(-Q, P)); h keeps one sign
        # on each part, read at its midpoint.  A wrong sign is only possible on
        # a part shorter than about 24 eps next to a zero, where |h| is below
        # 24 eps S: a second-order error (_L2_SECOND_ORDER).
        z = np.stack([_angle(P, -Q), _angle(-P, Q)], axis=1)
        z = np.clip(z, lo[:, None], hi[:, None])  # zeros outside an arc become empty pieces
        pts = np.sort(np.hstack([lo[:, None], z, hi[:, None]]), axis=1)  # (arcs, 4)
        t0, t1 = pts[:, :-1], pts[:, 1:]
        tm = 0.5 * (t0 + t1)
        pos = (P[:, None] * np.cos(tm) + Q[:, None] * np.sin(tm)) > 0
        a = np.where(pos, P[:, None], 0.0) - F[:, None]
        bb = np.where(pos, Q[:, None], 0.0) - G[:, None]
        pieces = _integral_sq(a, bb, t0, t1)
    else:
        pieces = _integral_sq(P - F, Q - G, lo, hi)
    mean_sq = max(math.fsum(pieces.ravel().tolist()) / _TWO_PI, 0.0)
    S2 = pc.S * pc.S
    slack = _L2_ULPS * _ULP * S2 + _L2_SECOND_ORDER * (pc.k + 2) * _ULP * _ULP * S2  # see _L2_ULPS
    factor = 2.0 if norm == "l2-gaussian" else 1.0  # E||x||^2 = d = 2 and everything is 1-homogeneous
    low = math.nextafter(math.sqrt(max(mean_sq - slack, 0.0) * factor), 0.0)  # sqrt(0) = 0 stays 0
    up = math.sqrt((mean_sq + slack) * factor)
    up = math.nextafter(up, math.inf) if up > 0.0 else 0.0
    return ErrorBound(
        lower=_scale_back(max(low, 0.0), pc.exp, up=False),
        upper=_scale_back(up, pc.exp, up=True),
        method="exact-circle",
        stats={"arcs": int(lo.shape[0]), "kept_units": pc.k},
    )
