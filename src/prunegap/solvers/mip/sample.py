"""The cutting-plane MIP's sample: its first points, the cut points of a rejected candidate, the short rows.

A sampled point x_g is a pair of linear inequalities in the column choice s
(docs/theory.md §5), necessary at every width and error level, so the
sample only grows.  The first sample is deterministic in (setting, seed,
eps, options): a grid phase-locked to the target in d = 2, seeded points
(stream ``MIP_SAMPLE``) in d >= 3.  Each rejected candidate adds its worst
points; in d = 2 CP-SAT also gets short second-difference rows, implied by
three point rows each.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ... import streams
from ...errors import ErrorBound
from ...errors.circle import circle_pieces
from ...setting import Setting
from ...streams import stream_generator
from ...targets import AnyTarget, NeuronTarget, seeded_direction
from .options import MIPOptions

__all__ = ["initial_points", "violation_points", "witness_points", "cut_points", "sample_anchor",
           "second_difference_rows"]

_TWO_PI = 2.0 * math.pi


def _unit_rows(X: np.ndarray) -> np.ndarray:
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def initial_points(setting: Setting, w: np.ndarray, seed: int, eps: float, opts: MIPOptions) -> np.ndarray:
    """The first sample: deterministic in (setting, seed, eps, options).

    d = 1: both points of the sphere (the sample is then complete).
    d = 2: a grid of about initial_density / eps angles (at most
    initial_max_points), phase-locked to w, so that the maximum of f and its
    neighbourhood are sampled.
    d >= 3: +-w, +-e_j and seeded uniform points.
    """
    d = setting.d
    if d == 1:
        return np.array([[1.0], [-1.0]])
    if d == 2:
        m = int(min(max(16, math.ceil(opts.initial_density / eps)), opts.initial_max_points))
        t = math.atan2(w[1], w[0]) + _TWO_PI * np.arange(m) / m
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    wn = w / np.linalg.norm(w)
    E = np.eye(d)
    rng = stream_generator(seed, streams.MIP_SAMPLE)
    R = _unit_rows(rng.standard_normal((opts.initial_points, d)))
    return np.vstack([wn, -wn, E, -E, R])


def violation_points(
    A: np.ndarray, b: np.ndarray, w: np.ndarray, output: str, bound: float, ticket: ErrorBound, max_points: int
) -> np.ndarray:
    """Points of the sphere where the candidate's error exceeds ``bound``, worst first.

    d = 2: one point per maximal run of violating arcs of the exact breakpoint
    decomposition (its worst point), so that every violated region is cut at
    once; d >= 3: the evaluator's witnesses above ``bound``.
    """
    d = w.shape[0]
    if d == 2:
        return _circle_violations(A, b, w, output, bound, max_points)
    return witness_points(ticket, bound, max_points, d)


def witness_points(ticket: ErrorBound, bound: float, max_points: int, d: int) -> np.ndarray:
    """The evaluator's witnesses where the error exceeds ``bound``, worst first (at most ``max_points``)."""
    if ticket.witnesses is None:
        return np.zeros((0, d))
    vals = np.abs(np.asarray(ticket.witness_values))
    X = np.asarray(ticket.witnesses)[vals > bound]
    return X[:max_points]


def cut_points(A: np.ndarray, b: np.ndarray, target: AnyTarget, output: str, bound: float, ticket: ErrorBound,
               max_points: int) -> np.ndarray:
    """Points where a candidate's error against ``target`` exceeds ``bound``: the cuts of one round.

    The one neuron: :func:`violation_points` (in d = 2, one point per violated
    region of the exact breakpoint decomposition); a network target: the
    witnesses of its evaluator (:func:`witness_points`), in every d."""
    if isinstance(target, NeuronTarget):
        return violation_points(A, b, target.w, output, bound, ticket, max_points)
    return witness_points(ticket, bound, max_points, target.d)


def sample_anchor(target: AnyTarget, seed: int) -> np.ndarray:
    """The direction the first sample is locked to (:func:`initial_points`): w for the one neuron,
    the seed's direction on the sphere (stream ``TARGET``) for a network target."""
    if isinstance(target, NeuronTarget):
        return target.w
    return seeded_direction(target.d, seed)


def _circle_violations(A, b, w, output, bound, max_points) -> np.ndarray:
    lo, hi, P, Q, F, G, _, _ = circle_pieces(np.asarray(A, float).reshape(-1, 2), np.asarray(b, float), w)
    s = np.arctan2(Q - G, P - F)[:, None]
    cand = [lo[:, None], hi[:, None], 0.5 * (lo + hi)[:, None], s, s + np.pi]
    if output == "relu":
        z = np.arctan2(Q, P)[:, None] + np.pi / 2
        pw = math.atan2(w[1], w[0])
        cand += [z, z + np.pi, np.full_like(z, pw), np.full_like(z, pw + np.pi)]
    t = np.mod(np.hstack(cand), _TWO_PI)
    t = np.where((t >= lo[:, None]) & (t <= hi[:, None]), t, np.nan)
    ct, st = np.cos(t), np.sin(t)
    h = P[:, None] * ct + Q[:, None] * st
    g = np.maximum(h, 0.0) if output == "relu" else h
    err = np.abs(g - (F[:, None] * ct + G[:, None] * st))
    err = np.where(np.isnan(err), -1.0, err)
    best = err.argmax(axis=1)
    arc_err = err[np.arange(err.shape[0]), best]
    arc_t = t[np.arange(err.shape[0]), best]
    bad = arc_err > bound
    if not bad.any():
        return np.zeros((0, 2))
    # runs of consecutive violating arcs (cyclically): keep each run's worst arc
    idx = np.flatnonzero(bad)
    runs: list[list[int]] = []
    for i in idx:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == bad.shape[0] - 1:
        runs[0] = runs.pop() + runs[0]
    picks = [max(r, key=lambda i: arc_err[i]) for r in runs]
    picks.sort(key=lambda i: -arc_err[i])
    tt = arc_t[picks[:max_points]]
    return np.stack([np.cos(tt), np.sin(tt)], axis=1)


def second_difference_rows(A: np.ndarray, b: np.ndarray, w: np.ndarray, output: str, level: float,
                           thetas: np.ndarray, deltas: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Sparse necessary conditions in d = 2, one per (theta, delta): bounds on the second difference

        D h(theta) = h(theta + delta) + h(theta - delta) - 2 cos(delta) h(theta).

    D kills a cos + b sin, and every column is b |a| relu(cos(t - alpha)), whose second
    difference is b |a| sum over its two kinks k = alpha +- pi/2 of sin(delta - |t - k|)_+:
    only the columns with a kink within delta of theta enter the row.  The bounds come from the
    point bounds lo <= h <= hi at the three angles (interval arithmetic, cos(delta) > 0), so each
    row is implied by three point rows: it never cuts a feasible mask, but it is a short row
    (a local subset sum around theta) that a solver propagates far better than the dense ones.
    Rows are ordered theta-major; a row with no finite bound constrains nothing.
    """
    A = np.asarray(A, float).reshape(-1, 2)
    c = np.asarray(b, float) * np.hypot(A[:, 0], A[:, 1])
    alpha = np.arctan2(A[:, 1], A[:, 0])
    kinks = np.stack([alpha + 0.5 * np.pi, alpha - 0.5 * np.pi], axis=1)  # (J, 2)
    T = (thetas[:, None] + 0.0 * deltas[None, :]).ravel()
    Dl = np.broadcast_to(deltas[None, :], (thetas.shape[0], deltas.shape[0])).ravel()

    def point_bounds(t):
        f = np.maximum(w[0] * np.cos(t) + w[1] * np.sin(t), 0.0)
        hi = f + level
        lo = np.where(f > level, f - level, -np.inf) if output == "relu" else f - level
        return lo, hi

    lo0, hi0 = point_bounds(T)
    lop, hip = point_bounds(T + Dl)
    lom, him = point_bounds(T - Dl)
    two_cos = 2.0 * np.cos(Dl)  # > 0: deltas stay below pi / 2
    with np.errstate(invalid="ignore"):
        upper = hip + him - two_cos * lo0
        lower = lop + lom - two_cos * hi0
    rows, cols, vals = [], [], []
    for k in range(2):
        dist = np.abs(np.mod(T[:, None] - kinks[None, :, k] + np.pi, _TWO_PI) - np.pi)  # (R, J)
        r, j = np.nonzero(dist < Dl[:, None])
        rows.append(r)
        cols.append(j)
        vals.append(c[j] * np.sin(Dl[r] - dist[r, j]))
    R = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(T.shape[0], A.shape[0]))
    R.sum_duplicates()
    return R, lower, upper
