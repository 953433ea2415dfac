"""The layer-wise subset-sum construction: weight pruning of a network target (Pensia et al. 2020; docs/theory.md §4).

The random network is twice as deep as the target (:class:`prunegap.targets.TargetNetwork`):
each target layer T_l (W_1 .. W_L, then c as a 1 x K layer) is replaced by
two random layers, n units U^l (n x K_{l-1}) then V^l (K_l x n), with a relu
after every layer and the setting's output activation at the end.  The
width n counts the units of each expanded layer; layer l's units form their
own nested stream (stream ``DEEP_LAYERS + l``), so the width-n network is a
prefix of every wider one.  Unit i of layer l keeps one input weight U_ij
(j = i mod K_{l-1}), and target unit k keeps the output weights V_ki of a
best subset per (j, sign), exactly as :mod:`.weight` does for one neuron
(from layer 2 on the inputs are >= 0, so only the positive group is needed;
each group offers its first ``GROUP_CAP`` = 32 units to the exact subset
sum, which bounds memory and leaves the certificate untouched).  Its error
is certified by propagation: with e_l the vector of the per-unit
closed-form errors of layer l and delta_l a bound on ||yhat_l - y_l|| over
the unit ball,

    delta_l <= ||e_l|| (R_{l-1} + delta_{l-1}) + ||W_l||_2 delta_{l-1},   R_l = ||W_l||_2 R_{l-1},

and |Fhat - F| <= e_out (R_L + delta_L) + ||c|| delta_L: a proven upper
bound.  The lower bound is the largest |Fhat - F| at seeded points of the
sphere (a value attained, so a true lower bound).  The interval is labelled
``layerwise-propagation+points``: it is a bracket, not the exact error.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import streams
from .._validation import check_int
from ..errors import ErrorBound
from ..errors.network import sphere_points
from ..exceptions import MemoryBudgetExceeded
from ..network import SAMPLERS, ChunkedUnits, Instance, UnitStream
from ..setting import Setting
from ..streams import stream_generator
from ..targets import TargetNetwork
from .base import Outcome, check_target, no_ticket, register
from .weight import SubsetSumCache, closed_form_error

__all__ = ["DeepStream", "DeepConstruction", "construct_deep", "LayerwiseConstruction", "GROUP_CAP"]

_ULP = np.finfo(np.float64).eps
#: Units of one (layer, target unit, coordinate, sign) group that the exact subset sum sees: the first ones.
#: 2^-32-scale errors are far below any eps of interest, while a meet in the middle over the whole group
#: (n / 2 units in the output layer of a K = 1 target) would exhaust memory at moderate widths.
GROUP_CAP = 32


class DeepStream:
    """Nested unit streams of the expanded layers: layer l's unit i is (U^l_i, V^l_{:, i})."""

    def __init__(self, setting: Setting, seed: int, dims: list[int]) -> None:
        self.setting, self.seed, self.dims = setting, seed, dims  # dims: d, K, ..., K, 1
        # drawn as UnitStream draws (chunks of UNIT_CHUNK, a buffer that grows geometrically: linear)
        self._units = [ChunkedUnits(stream_generator(seed, streams.deep_layer(l)), SAMPLERS[setting.init],
                                    dims[l] + dims[l + 1]) for l in range(len(dims) - 1)]

    @property
    def layers(self) -> int:
        return len(self.dims) - 1

    def take(self, width: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(U^l (width x K_{l-1}), V^l (K_l x width))] for every expanded layer, fresh copies."""
        width = check_int("width", width, minimum=0)
        out = []
        for l in range(self.layers):
            k_in, k_out = self.dims[l], self.dims[l + 1]
            units = self._units[l].take(width)
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
    X = sphere_points(net.d, seed) if net.d >= 2 else np.array([[1.0], [-1.0]])
    c = DeepConstruction(weights, masks, errors, upper, 0.0)
    diff = np.abs(c.forward(X, setting.output) - net.values(X, setting.output))
    lower = max(0.0, float(diff.max()) * (1 - 1e-12) - 1e-15)
    if net.d == 1:  # the two points are the whole sphere: exact up to rounding
        upper = min(upper, float(diff.max()) * (1 + 1e-12) + 1e-15)
    return DeepConstruction(weights, masks, errors, upper, min(lower, upper),
                            stats={"subset_sum_solves": cache.solves, "points": int(X.shape[0]),
                                   "seconds": time.perf_counter() - t0})


@register("weight", "construction", target="network")
class LayerwiseConstruction:
    """Weight pruning of a network target by the layer-wise subset-sum construction on a network twice as deep."""

    paradigm = "weight"
    name = "construction"
    targets: tuple[str, ...] = ("network",)
    proves_no = False
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
        check_target(self, instance.target)
        net = instance.target
        assert isinstance(net, TargetNetwork)
        return self._outcome(construct_deep(instance.setting, instance.seed, net, instance.width,
                                            memory_budget=memory_budget), eps)

    def oracle(self, stream: UnitStream, eps: float, *, memory_budget: int | None = None,
               **options: Any) -> Callable[[int], Outcome]:
        s, seed = stream.setting, stream.seed
        check_target(self, stream.target)
        net = stream.target
        assert isinstance(net, TargetNetwork)
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
