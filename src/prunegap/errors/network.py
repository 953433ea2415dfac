"""The error of a two-layer network against a depth-1 network target, as [lower, upper] (docs/theory.md §3, §5).

The target is F(x) = out(c^T relu(W x)) (:class:`prunegap.targets.TargetNetwork`
with one hidden layer); the network is g(x) = out(sum_k b_k relu(<A_k, x>)):

- linear output: g - F is itself a sum of bias-free relus, so its sup error
  is exact in d = 2 and certified by branch and bound in d >= 3 (the
  one-neuron evaluator, :func:`prunegap.errors.network_error`);
- relu output, d = 2: exact by breakpoints (kinks of both networks and the
  zeros of both pre-activations);
- relu output, d >= 3: bracketed: |relu(h) - relu(t)| <= |h - t| gives a
  certified upper bound, seeded points a lower one (method
  ``bracket:linearised+points``).  A "yes" needs the upper bound below eps,
  so a solver may answer "unknown" where the bracket is loose.
"""

from __future__ import annotations

import numpy as np

from .. import streams
from ..exceptions import InvalidArgument
from ..streams import stream_generator
from ..targets import TargetNetwork
from ._bound import ErrorBound
from .neuron import network_error

__all__ = ["network_target_error", "sphere_points", "POINTS"]

_ULP = np.finfo(np.float64).eps
POINTS = 4096  # seeded points of a sampled lower bound


def sphere_points(d: int, seed: int, m: int = POINTS) -> np.ndarray:
    """+-e_j and m seeded points uniform on the sphere (stream ``EVAL``): where sampled lower bounds look."""
    X = stream_generator(seed, streams.EVAL).standard_normal((m, d))
    return np.vstack([np.eye(d), -np.eye(d), X / np.linalg.norm(X, axis=1, keepdims=True)])


def _circle_relu_error(A: np.ndarray, b: np.ndarray, net: TargetNetwork, n_witnesses: int) -> ErrorBound:
    """Exact sup over the circle of |relu(h) - relu(t)| for a depth-1 target (d = 2).

    Between consecutive kinks of either network, h and t are sinusoids; so is
    the difference on each sub-arc between their zeros, and its maximum there
    is at an end or at its stationary angle: every such point is a candidate."""
    W, c = net.layers[0], net.c
    rows = np.vstack([A, W]) if A.size else W
    phi = np.arctan2(rows[:, 1], rows[:, 0])
    cuts = np.unique(np.mod(np.concatenate([[0.0], phi - np.pi / 2, phi + np.pi / 2]), 2 * np.pi))
    cuts = np.append(cuts, 2 * np.pi)
    lo, hi = cuts[:-1], cuts[1:]
    mid = 0.5 * (lo + hi)
    M = np.stack([np.cos(mid), np.sin(mid)], axis=1)
    PQ = ((M @ A.T) > 0) @ (b[:, None] * A) if A.size else np.zeros((mid.shape[0], 2))
    FG = ((M @ W.T) > 0) @ (c[:, None] * W)
    cand = [lo, hi]
    for a in (PQ, FG, PQ - FG):  # stationary angles of h, t, h - t
        s = np.arctan2(a[:, 1], a[:, 0])
        cand += [s, s + np.pi]
    for a in (PQ, FG):  # zeros of h and t
        z = np.arctan2(a[:, 1], a[:, 0]) + np.pi / 2
        cand += [z, z + np.pi]
    T = np.mod(np.stack(cand, axis=1), 2 * np.pi)
    T = np.where((T >= lo[:, None]) & (T <= hi[:, None]), T, lo[:, None])
    ct, st = np.cos(T), np.sin(T)
    h = PQ[:, :1] * ct + PQ[:, 1:] * st
    t = FG[:, :1] * ct + FG[:, 1:] * st
    diff = np.maximum(h, 0.0) - np.maximum(t, 0.0)
    flat = np.abs(diff).ravel()
    order = np.argsort(flat)[::-1][: max(1, n_witnesses)]
    val = float(flat[order[0]])
    scale = float(np.abs(b) @ np.linalg.norm(A, axis=1)) if A.size else 0.0
    scale += float(np.abs(c) @ np.linalg.norm(W, axis=1))
    slack = 16 * _ULP * (rows.shape[0] + 2) * max(scale, 1.0)
    Tw = T.ravel()[order]
    return ErrorBound(max(0.0, val - slack), val + slack, "exact-circle-network",
                      witnesses=np.stack([np.cos(Tw), np.sin(Tw)], axis=1), witness_values=diff.ravel()[order])


def network_target_error(A: np.ndarray, b: np.ndarray, net: TargetNetwork, *, output: str, seed: int = 0,
                         tol: float = 1e-6, eps: float | None = None, n_witnesses: int = 1,
                         max_cells: int = 400_000) -> ErrorBound:
    """[lower, upper] for sup over the unit ball of |out(sum_k b_k relu(<A_k, x>)) - F(x)| (F of depth 1).

    Exact (d <= 2) or certified by branch and bound (linear output, d >= 3);
    bracketed for a relu output in d >= 3 (method ``bracket:linearised+points``)."""
    if net.depth != 1:
        raise InvalidArgument(f"target_depth must be 1 to compare with a two-layer network, got {net.depth}")
    d = net.d
    A = np.asarray(A, float).reshape(-1, d)
    b = np.asarray(b, float).reshape(-1)
    W, c = net.layers[0], net.c
    if d == 2 and output == "relu":
        return _circle_relu_error(A, b, net, n_witnesses)
    # g - F as one linear-output network against a dummy target relu(<w0, x>) added back as a unit:
    # h - t = (sum b relu(Ax) - sum c relu(Wx) + relu(<w0, x>)) - relu(<w0, x>)
    w0 = W[0]
    A2 = np.vstack([A, W, w0[None, :]])
    b2 = np.concatenate([b, -c, [1.0]])
    extra = {"max_cells": max_cells} if d >= 3 else {}
    lin = network_error(A2, b2, w0, output="linear", norm="sup", tol=tol, eps=eps, n_witnesses=n_witnesses, **extra)
    if output == "linear":
        return lin
    # relu output (d = 1 or d >= 3): |relu(h) - relu(t)| <= |h - t| bounds above; points bound below
    X = sphere_points(d, seed) if d >= 2 else np.array([[1.0], [-1.0]])
    if lin.witnesses is not None:
        X = np.vstack([np.asarray(lin.witnesses), X])
    h = np.maximum(X @ A.T, 0.0) @ b if A.size else np.zeros(X.shape[0])
    diff = np.maximum(h, 0.0) - np.maximum(net.pre_output(X), 0.0)
    order = np.argsort(np.abs(diff))[::-1][: max(1, n_witnesses)]
    slack = 16 * _ULP * (A2.shape[0] + 2) * max(float(np.abs(b2) @ np.linalg.norm(A2, axis=1)), 1.0)
    lower = max(0.0, float(np.abs(diff[order[0]])) - slack)
    if d == 1:  # the two points are the whole sphere
        return ErrorBound(lower, float(np.abs(diff[order[0]])) + slack, "exact-points", witnesses=X[order],
                          witness_values=diff[order])
    return ErrorBound(lower, max(lower, lin.upper), "bracket:linearised+points", witnesses=X[order],
                      witness_values=diff[order], stats={"linearised": lin.method})
