"""Brute-force references for the exact pruning solvers (d = 2): every mask, exact errors.

Independent of the solvers and of :mod:`prunegap.errors.circle`: all masks
are evaluated at once on the common breakpoints of every column (where each
column is a fixed sinusoid between consecutive global kinks), with the same
candidate points as the breakpoint method (arc ends, stationary angles of
h - f and of f, zeros of h).  Exact up to float rounding.  Since it shares
that method's idea, it is itself checked against the dense-sample oracle of
:mod:`_oracle` (tests/test_patterns.py::test_brute_force_agrees_with_the_oracle).
"""

from __future__ import annotations

import itertools

import numpy as np

TWO_PI = 2 * np.pi


def all_subsets(n: int) -> np.ndarray:
    """(2^n, n) 0/1 rows, every subset of n units."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(np.uint8)


def sup_errors(A: np.ndarray, b: np.ndarray, w: np.ndarray, output: str, S: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Exact sup over the circle of |g_s - f| for each row s of S (columns A (J x 2), b (J))."""
    J = A.shape[0]
    phi = np.arctan2(A[:, 1], A[:, 0])
    live = np.linalg.norm(A, axis=1) > 0
    pw = np.arctan2(w[1], w[0])
    kinks = np.concatenate([phi[live] - np.pi / 2, phi[live] + np.pi / 2, [pw - np.pi / 2, pw + np.pi / 2]])
    cuts = np.unique(np.concatenate([[0.0, TWO_PI], np.mod(kinks, TWO_PI)]))
    lo, hi = cuts[:-1], cuts[1:]
    keep = hi - lo > 0
    lo, hi = lo[keep], hi[keep]
    mid = 0.5 * (lo + hi)
    X = np.stack([np.cos(mid), np.sin(mid)], axis=1)
    active = (X @ A.T) > 0  # (arcs, J)
    coef = active[:, :, None] * (b[:, None] * A)[None, :, :]  # (arcs, J, 2)
    fw = ((X @ w) > 0)[:, None] * w[None, :]  # (arcs, 2)
    out = np.empty(S.shape[0])
    for k0 in range(0, S.shape[0], chunk):
        s = S[k0:k0 + chunk].astype(float)
        PQ = np.einsum("mj,ajc->mac", s, coef)  # (M, arcs, 2)
        P, Q = PQ[..., 0], PQ[..., 1]
        F, G = fw[None, :, 0], fw[None, :, 1]
        st = np.arctan2(Q - G, P - F)
        cands = [np.broadcast_to(lo, P.shape), np.broadcast_to(hi, P.shape), st, st + np.pi]
        if output == "relu":
            z = np.arctan2(Q, P) + np.pi / 2
            cands += [z, z + np.pi, np.full(P.shape, pw), np.full(P.shape, pw + np.pi)]
        best = np.zeros(P.shape[0])
        for t in cands:
            t = np.mod(t, TWO_PI)
            t = np.where((t >= lo) & (t <= hi), t, lo)  # outside the arc: fall back to an end (already counted)
            c, sn = np.cos(t), np.sin(t)
            h = P * c + Q * sn
            g = np.maximum(h, 0.0) if output == "relu" else h
            e = np.abs(g - (F * c + G * sn))
            best = np.maximum(best, e.max(axis=1))
        out[k0:k0 + chunk] = best
    return out


def neuron_errors(U: np.ndarray, v: np.ndarray, w: np.ndarray, output: str) -> tuple[np.ndarray, np.ndarray]:
    """(masks, errors) for all 2^n neuron masks."""
    S = all_subsets(U.shape[0])
    return S, sup_errors(U, v, w, output, S)


def weight_patterns(d: int) -> np.ndarray:
    return np.array([p for p in itertools.product([0, 1], repeat=d) if any(p)], np.uint8)


def weight_errors(U: np.ndarray, v: np.ndarray, w: np.ndarray, output: str) -> tuple[np.ndarray, np.ndarray]:
    """(choices, errors) for all (2^d)^n weight masks: choice[i] = 0 (drop) or 1 + pattern index."""
    n, d = U.shape
    P = weight_patterns(d)
    p = P.shape[0]
    A = (U[:, None, :] * P[None, :, :]).reshape(n * p, d)
    b = np.repeat(v, p)
    choices = np.array(list(itertools.product(range(p + 1), repeat=n)), np.int64)  # (M, n)
    S = np.zeros((choices.shape[0], n * p), np.uint8)
    for i in range(n):
        c = choices[:, i]
        on = c > 0
        S[np.flatnonzero(on), i * p + c[on] - 1] = 1
    return choices, sup_errors(A, b, w, output, S)


def smallest_width(support_max: np.ndarray, errors: np.ndarray, eps: float) -> int | None:
    """Brute-force n*: the least width (>= 1) that holds a mask with error <= eps."""
    ok = errors <= eps
    return max(1, int(support_max[ok].min())) if ok.any() else None


def support_max(S: np.ndarray) -> np.ndarray:
    """1 + the largest used unit of each row (0 for the empty mask)."""
    n = S.shape[1]
    used = S > 0
    return np.where(used.any(axis=1), n - np.argmax(used[:, ::-1], axis=1), 0)
