"""Targets beyond one neuron: a bias-free ReLU network (issue 6).

The target network has L hidden layers of K units (``Setting.target_width``
K, ``target_depth`` L):

    F(x) = out(c^T y_L(x)),  y_0 = x,  y_l = relu(W_l y_{l-1}),

with the setting's output activation ``out`` (relu or the identity), so the
one-neuron target relu(<w, x>) is the case K = 1, L = 1, W_1 = w, c = 1.
Drawn from the seed (its own stream: the random network is the same as for
a one-neuron target): the rows of W_1 uniform on the unit sphere of R^d (as
w is), the rows of W_l (l >= 2) uniform on the sphere scaled by 1/sqrt(K)
(so that ||W_l||_2 <= 1), c uniform on the unit sphere of R^K with its
sign flipped where needed so that sum(c) > 0 (so K = 1 is a one-neuron
target, and a relu output never makes the target identically zero).  Or read from
an .npz with arrays ``W1`` .. ``WL`` and ``c``.

Two ways to prune for it:

**Weight pruning, the layer-wise subset-sum construction** (Pensia et al.
2020).  The random network is twice as deep: each target layer T_l (W_1 ..
W_L, then c as a 1 x K layer) is replaced by two random layers, n units
U^l (n x K_{l-1}) then V^l (K_l x n), with a relu after every layer and the
setting's output activation at the end.  The width n counts the units of
each expanded layer; layer l's units form their own nested stream, so the
width-n network is a prefix of every wider one.  Unit i of layer l keeps
one input weight U_ij (j = i mod K_{l-1}), and target unit k keeps the
output weights V_ki of a best subset per (j, sign), exactly as
:mod:`.weight` does for one neuron (from layer 2 on the inputs are >= 0,
so only the positive group is needed; each group offers its first
``GROUP_CAP`` = 32 units to the exact subset sum, which bounds memory and
leaves the certificate untouched).  Its error is certified by
propagation: with e_l the vector of the per-unit closed-form errors of layer
l and delta_l a bound on ||yhat_l - y_l|| over the unit ball,

    delta_l <= ||e_l|| (R_{l-1} + delta_{l-1}) + ||W_l||_2 delta_{l-1},   R_l = ||W_l||_2 R_{l-1},

and |Fhat - F| <= e_out (R_L + delta_L) + ||c|| delta_L: a proven upper
bound.  The lower bound is the largest |Fhat - F| at seeded points of the
sphere (a value attained, so a true lower bound).  The interval is labelled
``layerwise-propagation+points``: it is a bracket, not the exact error.

**Neuron pruning (and every pattern of the MIP) of a random network of
matching depth** (L = 1: the ordinary two-layer random network).  The
hidden sum of a mask is still linear in the mask, and the constraints of
THEORY §5 hold with f_g = F(x_g), so the cutting-plane MIP of :mod:`.mip`
applies unchanged with the evaluator below:

- linear output: g - F is itself a sum of bias-free relus, so its sup error
  is exact in d = 2 and certified by branch and bound in d >= 3;
- relu output, d = 2: exact by breakpoints (kinks of both networks and the
  zeros of both pre-activations);
- relu output, d >= 3: bracketed: |relu(h) - relu(t)| <= |h - t| gives a
  certified upper bound, seeded points a lower one.  A "yes" needs the upper
  bound below eps, so the solver may answer "unknown" where the bracket is
  loose.

Depth L >= 2 with neuron pruning is not a linear program in the masks and is
refused.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._validation import check_choice, check_int
from ..errors import ErrorBound, network_error
from ..exceptions import InvalidArgument, MemoryBudgetExceeded
from ..masks import Masks
from ..network import _SAMPLERS, Instance, UnitStream, stream_generator
from ..setting import Setting
from .base import OBJECTIVES, Outcome, no_ticket
from .mip import CuttingPlaneSolver
from .weight import SubsetSumCache, closed_form_error

__all__ = [
    "TargetNetwork",
    "target_network",
    "draw_target_network",
    "load_target_network",
    "network_target_error",
    "NetworkCuttingPlaneSolver",
    "DeepStream",
    "DeepConstruction",
    "construct_deep",
    "LayerwiseConstruction",
    "target_method",
]

_TARGET_NET = 3  # stream purpose of the target network (network.stream_generator)
_DEEP = 1000  # stream purposes 1000 + l: units of the expanded layer l
_EVAL = 2  # the evaluator's points (as network.py)
_CHUNK = 64  # units per draw of a deep layer stream; changing it changes every deep network
_ULP = np.finfo(np.float64).eps
_POINTS = 4096  # seeded points of a sampled lower bound
#: Units of one (layer, target unit, coordinate, sign) group that the exact subset sum sees: the first ones.
#: 2^-32-scale errors are far below any eps of interest, while a meet in the middle over the whole group
#: (n / 2 units in the output layer of a K = 1 target) would exhaust memory at moderate widths.
GROUP_CAP = 32


# --------------------------------------------------------------------------- the target


@dataclass(frozen=True, eq=False)
class TargetNetwork:
    """F(x) = out(c^T relu(W_L ... relu(W_1 x)))."""

    layers: tuple[np.ndarray, ...]  # W_1 (K x d), W_2 .. W_L (K x K)
    c: np.ndarray  # (K,)

    @property
    def d(self) -> int:
        return int(self.layers[0].shape[1])

    @property
    def width(self) -> int:
        return int(self.c.shape[0])

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def matrices(self) -> list[np.ndarray]:
        """W_1 .. W_L and c as a 1 x K layer."""
        return [*self.layers, self.c[None, :]]

    def pre_output(self, X: np.ndarray) -> np.ndarray:
        """t(X) = c^T y_L(X) at the rows of X."""
        Y = X
        for W in self.layers:
            Y = np.maximum(Y @ W.T, 0.0)
        return Y @ self.c

    def values(self, X: np.ndarray, output: str) -> np.ndarray:
        t = self.pre_output(X)
        return np.maximum(t, 0.0) if output == "relu" else t

    def arrays(self) -> dict[str, np.ndarray]:
        return {**{f"target_W{l + 1}": W for l, W in enumerate(self.layers)}, "target_c": self.c}

    def to_dict(self) -> dict[str, Any]:
        return {"W": [W.tolist() for W in self.layers], "c": self.c.tolist()}


def _sphere_rows(rng: np.random.Generator, k: int, d: int) -> np.ndarray:
    G = rng.standard_normal((k, d))
    return G / np.linalg.norm(G, axis=1, keepdims=True)


def draw_target_network(setting: Setting, seed: int) -> TargetNetwork:
    """The seed's target network (a stream of its own: the random network does not change)."""
    K, L, d = setting.target_width, setting.target_depth, setting.d
    rng = stream_generator(seed, _TARGET_NET)
    layers = [_sphere_rows(rng, K, d)] + [_sphere_rows(rng, K, K) / math.sqrt(K) for _ in range(L - 1)]
    c = _sphere_rows(rng, 1, K)[0]
    # sum(c) > 0: with a relu output an all-negative c is the zero function, and K = 1 is then
    # exactly a one-neuron target relu(<w_1, x>)
    c = c if c.sum() > 0 else -c
    return TargetNetwork(tuple(layers), c)


def load_target_network(path: str | Path, d: int) -> TargetNetwork:
    """A target network from an .npz with arrays W1 .. WL and c; any defect is an InvalidArgument."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: np.asarray(z[k], dtype=np.float64) for k in z.files}
    except FileNotFoundError:
        raise InvalidArgument(f"target file {str(path)!r} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - every defect of the archive means the same
        raise InvalidArgument(f"target file {str(path)!r} is not a readable .npz ({type(exc).__name__}: {exc})") from None
    if "c" not in data or "W1" not in data:
        raise InvalidArgument(f"target file {str(path)!r} must hold arrays W1 (K x d), W2 .. WL (K x K) and c (K), got {sorted(data)}")
    L = 1
    while f"W{L + 1}" in data:
        L += 1
    layers = [data[f"W{l}"] for l in range(1, L + 1)]
    c = data["c"]
    K = c.shape[0] if c.ndim == 1 else -1
    want = [(K, d)] + [(K, K)] * (L - 1)
    if K < 1 or any(W.shape != s for W, s in zip(layers, want)):
        got = ", ".join(f"W{l + 1} {W.shape}" for l, W in enumerate(layers))
        raise InvalidArgument(f"target file {str(path)!r}: need c (K,), W1 (K, {d}) and W2.. (K, K), got c {c.shape}, {got}")
    if not all(np.all(np.isfinite(a)) for a in (*layers, c)):
        raise InvalidArgument(f"target file {str(path)!r} has non-finite values")
    return TargetNetwork(tuple(layers), c)


def target_network(setting: Setting, seed: int) -> TargetNetwork:
    """The network target of a setting: read from ``target_file`` or drawn from the seed."""
    if setting.target != "network":
        raise InvalidArgument(f"target must be 'network' here, got {setting.target!r}")
    if setting.target_file is None:
        return draw_target_network(setting, seed)
    net = load_target_network(setting.target_file, setting.d)
    for name, have, want in (("target_width", setting.target_width, net.width), ("target_depth", setting.target_depth, net.depth)):
        if have not in (1, want):
            raise InvalidArgument(f"{name} = {have} differs from the target file's ({want}); leave it out or match it")
    return net


# --------------------------------------------------------------------------- errors of two-layer networks


def _sphere_points(d: int, seed: int, m: int = _POINTS) -> np.ndarray:
    X = stream_generator(seed, _EVAL).standard_normal((m, d))
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
    X = _sphere_points(d, seed) if d >= 2 else np.array([[1.0], [-1.0]])
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


class NetworkCuttingPlaneSolver(CuttingPlaneSolver):
    """The cutting-plane loop of :mod:`.mip` against a depth-1 network target.

    The constraints at a point need only F(x_g) (the models' ``target_values``);
    candidates are certified by :func:`network_target_error` and cut off at its
    witnesses."""

    def __init__(self, setting: Setting, seed: int, w: np.ndarray, U: np.ndarray, v: np.ndarray, eps: float,
                 design: Any, opts: Any) -> None:
        super().__init__(setting, seed, w, U, v, eps, design, opts)
        self.net = target_network(setting, seed)
        if self.net.depth != 1:
            raise InvalidArgument(
                f"target_depth must be 1 for pruning a two-layer random network (the masks enter linearly only "
                f"there), got {self.net.depth}; weight pruning of deeper targets: --paradigm weight --method construction"
            )
        output = setting.output
        self.target_values = lambda X: self.net.values(X, output)

    def evaluate(self, masks: Masks, width: int, eps: float | None) -> ErrorBound:
        t0 = time.perf_counter()
        A, b = masks.apply(self.U[:width], self.v[:width])
        r = network_target_error(A, b, self.net, output=self.setting.output, seed=self.seed, tol=self.opts.tol,
                                 eps=eps, n_witnesses=max(self.opts.witnesses, 8), max_cells=self.opts.max_cells)
        self.stats.evaluations += 1
        self.stats.seconds_eval += time.perf_counter() - t0
        return r

    def _new_points(self, model: Any, masks: Masks, width: int, ticket: ErrorBound, bound: float) -> np.ndarray:
        if ticket.witnesses is None:
            return np.zeros((0, self.setting.d))
        vals = np.abs(np.asarray(ticket.witness_values))
        X = np.asarray(ticket.witnesses)[vals > bound][: self.opts.max_new_points]
        if X.shape[0] and model.X.shape[0]:
            dist = np.min(np.linalg.norm(X[:, None, :] - model.X[None, :, :], axis=2), axis=1)
            X = X[dist > 1e-12]
        return X


# --------------------------------------------------------------------------- the deep random network


class DeepStream:
    """Nested unit streams of the expanded layers: layer l's unit i is (U^l_i, V^l_{:, i})."""

    def __init__(self, setting: Setting, seed: int, dims: list[int]) -> None:
        self.setting, self.seed, self.dims = setting, seed, dims  # dims: d, K, ..., K, 1
        self._rngs = [stream_generator(seed, _DEEP + l) for l in range(len(dims) - 1)]
        self._units = [np.empty((0, dims[l] + dims[l + 1])) for l in range(len(dims) - 1)]
        self._sample = _SAMPLERS[setting.init]

    @property
    def layers(self) -> int:
        return len(self.dims) - 1

    def take(self, width: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(U^l (width x K_{l-1}), V^l (K_l x width))] for every expanded layer, fresh copies."""
        width = check_int("width", width, minimum=0)
        out = []
        for l in range(self.layers):
            k_in, k_out = self.dims[l], self.dims[l + 1]
            while self._units[l].shape[0] < width:
                self._units[l] = np.concatenate([self._units[l], self._sample(self._rngs[l], (_CHUNK, k_in + k_out))])
            units = self._units[l][:width]
            out.append((units[:, :k_in].copy(), units[:, k_in:].T.copy()))
        return out


@dataclass(frozen=True, eq=False)
class DeepConstruction:
    """The layer-wise construction's ticket on a width-n deep random network, with its certified bracket."""

    weights: list[tuple[np.ndarray, np.ndarray]]  # (U^l, V^l)
    masks: list[tuple[np.ndarray, np.ndarray]]  # (mask of U^l, mask of V^l), 0/1 uint8
    layer_errors: list[np.ndarray]  # per layer, the closed-form error bound of each target unit
    upper: float  # proven bound on sup |Fhat - F| over the unit ball
    lower: float  # largest |Fhat - F| at the points examined
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.weights[0][0].shape[0])

    @property
    def kept_weights(self) -> int:
        return int(sum(int(mU.sum()) + int(mV.sum()) for mU, mV in self.masks))

    @property
    def total_weights(self) -> int:
        return int(sum(U.size + V.size for U, V in self.weights))

    @property
    def kept_units(self) -> int:
        """Units of the expanded layers that keep a weight."""
        return int(sum(int(mU.any(axis=1).sum()) for mU, _ in self.masks))

    def forward(self, X: np.ndarray, output: str) -> np.ndarray:
        Y = X
        for l, ((U, V), (mU, mV)) in enumerate(zip(self.weights, self.masks)):
            Z = np.maximum(Y @ (U * mU).T, 0.0) @ (V * mV).T
            last = l == len(self.weights) - 1
            Y = Z if last else np.maximum(Z, 0.0)
        t = Y[:, 0]
        return np.maximum(t, 0.0) if output == "relu" else t

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for l, ((U, V), (mU, mV)) in enumerate(zip(self.weights, self.masks), start=1):
            out.update({f"U{l}": U, f"V{l}": V, f"mask_U{l}": mU, f"mask_V{l}": mV})
        return out


def _construct_layer(l: int, U: np.ndarray, V: np.ndarray, T: np.ndarray, signed_inputs: bool,
                     cache: SubsetSumCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks of one expanded layer approximating x -> T x, and each target unit's closed-form error."""
    n, k_in = U.shape
    k_out = T.shape[0]
    mU = np.zeros((n, k_in), np.uint8)
    mV = np.zeros((k_out, n), np.uint8)
    err = np.zeros(k_out)
    signs = (1, -1) if signed_inputs else (1,)
    for k in range(k_out):
        alpha, beta = np.zeros(k_in), np.zeros(k_in)
        rounding = 0.0
        for j in range(k_in):
            units = np.arange(j, n, k_in)
            u = U[units, j]
            for sign in signs:
                group = units[(u * sign) > 0][:GROUP_CAP]  # a prefix: nested in the width
                products = V[k, group] * np.abs(U[group, j])
                res = cache.get((l, k, j, sign, group.shape[0]), products, float(sign * T[k, j]))
                chosen = group[res.indices]
                mU[chosen, j] = 1
                mV[k, chosen] = 1
                (alpha if sign == 1 else beta)[j] = res.value - sign * T[k, j]
                rounding += 2 * _ULP * float(np.abs(products[res.indices]).sum())
        # inputs >= 0 (after a relu): only relu(z_j) = z_j is seen, and beta stays 0
        e = closed_form_error(alpha, beta)
        err[k] = e + rounding + 4 * _ULP * max(e, 1.0)
    return mU, mV, err


def construct_deep(setting: Setting, seed: int, net: TargetNetwork, width: int, *, stream: DeepStream | None = None,
                   cache: SubsetSumCache | None = None, memory_budget: int | None = None) -> DeepConstruction:
    """The layer-wise construction on the width-``width`` deep random network of the seed."""
    t0 = time.perf_counter()
    dims = [net.d] + [net.width] * net.depth + [1]
    stream = stream if stream is not None else DeepStream(setting, seed, dims)
    cache = cache if cache is not None else SubsetSumCache(memory_budget)
    weights = stream.take(width)
    masks, errors = [], []
    delta, radius = 0.0, 1.0  # bounds on ||yhat_l - y_l|| and ||y_l|| over the unit ball
    upper = math.inf
    for l, ((U, V), T) in enumerate(zip(weights, net.matrices)):
        mU, mV, e = _construct_layer(l, U, V, T, signed_inputs=(l == 0), cache=cache)
        masks.append((mU, mV))
        errors.append(e)
        if l < net.depth:
            S = float(np.linalg.norm(T, 2)) * (1 + 1e-12)
            delta = float(np.linalg.norm(e)) * (radius + delta) + S * delta
            radius *= S
        else:  # the output layer; |out(a) - out(b)| <= |a - b| for out = relu or identity
            upper = float(e[0]) * (radius + delta) + float(np.linalg.norm(net.c)) * delta
    upper = upper * (1 + 1e-12) + 1e-15
    X = _sphere_points(net.d, seed) if net.d >= 2 else np.array([[1.0], [-1.0]])
    c = DeepConstruction(weights, masks, errors, upper, 0.0)
    diff = np.abs(c.forward(X, setting.output) - net.values(X, setting.output))
    lower = max(0.0, float(diff.max()) * (1 - 1e-12) - 1e-15)
    if net.d == 1:  # the two points are the whole sphere: exact up to rounding
        upper = min(upper, float(diff.max()) * (1 + 1e-12) + 1e-15)
    return DeepConstruction(weights, masks, errors, upper, min(lower, upper),
                            stats={"subset_sum_solves": cache.solves, "points": int(X.shape[0]),
                                   "seconds": time.perf_counter() - t0})


class LayerwiseConstruction:
    """Weight pruning of a network target by the layer-wise subset-sum construction on a network twice as deep."""

    paradigm = "weight"
    name = "construction"
    search = "scan"  # the propagated bound is not monotone in the width (as for one neuron)

    def monotone(self, setting: Setting) -> bool:
        return False

    def _outcome(self, c: DeepConstruction, eps: float) -> Outcome:
        ticket = ErrorBound(c.lower, c.upper, "layerwise-propagation+points")
        return Outcome.from_bounds(eps, None, 0.0, c.upper, ticket_error=ticket,
                                   method_status="yes" if c.upper <= eps else "no",
                                   stats={**c.stats, "layer_errors": [e.tolist() for e in c.layer_errors],
                                          "kept_weights": c.kept_weights, "total_weights": c.total_weights})

    def solve(self, instance: Instance, eps: float, *, objective: str = "feasible", memory_budget: int | None = None,
              **options: Any) -> Outcome:
        check_choice("objective", objective, OBJECTIVES)
        s = instance.setting
        net = target_network(s, instance.seed)
        return self._outcome(construct_deep(s, instance.seed, net, instance.width, memory_budget=memory_budget), eps)

    def oracle(self, stream: UnitStream, eps: float, *, memory_budget: int | None = None,
               **options: Any) -> Callable[[int], Outcome]:
        s, seed = stream.setting, stream.seed
        net = target_network(s, seed)
        deep = DeepStream(s, seed, [net.d] + [net.width] * net.depth + [1])
        cache = SubsetSumCache(memory_budget)
        too_wide: list[int] = []

        def decide(width: int) -> Outcome:
            if too_wide and width >= too_wide[0]:
                return no_ticket(eps, limit=f"memory budget (width >= {too_wide[0]})")
            try:
                return self._outcome(construct_deep(s, seed, net, width, stream=deep, cache=cache), eps)
            except MemoryBudgetExceeded as exc:
                too_wide[:] = [width]
                return no_ticket(eps, limit=f"memory budget: {exc}")

        return decide


def target_method(paradigm: str, method: str | None, setting: Setting) -> Any:
    """The solver of (paradigm, method) for a network target."""
    from .base import get_method
    from .mip import MIPMethod

    if paradigm == "weight" and method in (None, "construction"):
        return LayerwiseConstruction()
    solver = get_method(paradigm, method)
    if isinstance(solver, MIPMethod):
        if setting.target_depth != 1 and setting.target_file is None:
            raise InvalidArgument(
                f"target_depth must be 1 for --paradigm {paradigm} (a two-layer random network; the masks enter "
                f"linearly only there), got {setting.target_depth}; deeper targets: --paradigm weight --method construction"
            )
        return solver
    raise InvalidArgument(
        f"target 'network' works with --paradigm weight (construction) and the integer programs "
        f"(neuron mip, weight exact, nm exact, block mip), got {paradigm}/{solver.name}"
    )
