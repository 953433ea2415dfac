"""The target as data: the one neuron relu(<w, x>) or a bias-free ReLU network, from (setting, seed).

Both targets answer the same questions: their values at points (for the
setting's output activation), their dimension, their JSON-ready form (what
results rows and result.json store) and the arrays a ``ticket.npz`` holds.
:class:`prunegap.Instance` carries its target; the evaluators
(:mod:`prunegap.errors`) and the solvers (:func:`prunegap.solvers.base.get_method`)
dispatch on it.

The network target has L hidden layers of K units (``Setting.target_width``
K, ``target_depth`` L):

    F(x) = out(c^T y_L(x)),  y_0 = x,  y_l = relu(W_l y_{l-1}),

with the setting's output activation ``out`` (relu or the identity), so the
one-neuron target relu(<w, x>) is the case K = 1, L = 1, W_1 = w, c = 1.
Drawn from the seed (a stream of its own: the random network is the same as
for a one-neuron target): the rows of W_1 uniform on the unit sphere of R^d
(as w is), the rows of W_l (l >= 2) uniform on the sphere scaled by
1/sqrt(K) (so that ||W_l||_2 <= 1), c uniform on the unit sphere of R^K with
its sign flipped where needed so that sum(c) > 0 (so K = 1 is a one-neuron
target, and a relu output never makes the target identically zero).  Or read
from an .npz with arrays ``W1`` .. ``WL`` and ``c``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Union

import numpy as np

from . import streams
from ._npz import ArrayHeader, read_npz
from .exceptions import InvalidArgument
from .setting import MAX_TARGET_DEPTH, MAX_TARGET_WIDTH, Setting
from .streams import stream_generator

__all__ = [
    "Target",
    "NeuronTarget",
    "TargetNetwork",
    "draw_target",
    "seeded_direction",
    "draw_target_network",
    "load_target_network",
    "target_network",
    "target_of",
]


class Target(Protocol):
    """What every target offers (:class:`NeuronTarget`, :class:`TargetNetwork`)."""

    kind: str  # Setting.target: "neuron" | "network"

    @property
    def d(self) -> int: ...

    def values(self, X: np.ndarray, output: str = "relu") -> np.ndarray:
        """The target at the rows of X, for the setting's output activation."""
        ...

    def to_data(self) -> Any:
        """JSON-ready form, as results rows store it."""
        ...

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays ``ticket.npz`` stores for it."""
        ...


@dataclass(frozen=True, eq=False)
class NeuronTarget:
    """f(x) = relu(<w, x>), whatever the network's output activation."""

    w: np.ndarray  # (d,)
    kind = "neuron"

    @property
    def d(self) -> int:
        return int(self.w.shape[0])

    def values(self, X: np.ndarray, output: str = "relu") -> np.ndarray:
        return np.maximum(X @ self.w, 0.0)

    def to_data(self) -> list[float]:
        """w as a list."""
        return self.w.tolist()

    def arrays(self) -> dict[str, np.ndarray]:
        return {"w": self.w}


@dataclass(frozen=True, eq=False)
class TargetNetwork:
    """F(x) = out(c^T relu(W_L ... relu(W_1 x)))."""

    layers: tuple[np.ndarray, ...]  # W_1 (K x d), W_2 .. W_L (K x K)
    c: np.ndarray  # (K,)
    kind = "network"

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

    def values(self, X: np.ndarray, output: str = "relu") -> np.ndarray:
        t = self.pre_output(X)
        return np.maximum(t, 0.0) if output == "relu" else t

    def to_data(self) -> dict[str, Any]:
        """``{"W": [W_1, ...], "c": c}`` as lists."""
        return {"W": [W.tolist() for W in self.layers], "c": self.c.tolist()}

    def arrays(self) -> dict[str, np.ndarray]:
        return {**{f"target_W{l + 1}": W for l, W in enumerate(self.layers)}, "target_c": self.c}


AnyTarget = Union[NeuronTarget, TargetNetwork]


# --------------------------------------------------------------------------- drawing


def seeded_direction(d: int, seed: int) -> np.ndarray:
    """The seed's direction uniform on the unit sphere of R^d (stream ``TARGET``)."""
    g = stream_generator(seed, streams.TARGET).standard_normal(d)
    return g / np.linalg.norm(g)


def draw_target(setting: Setting, seed: int) -> np.ndarray:
    """The one-neuron target w: the given one, or uniform on the unit sphere from the seed."""
    if setting.w is not None:
        return np.asarray(setting.w, dtype=np.float64)
    return seeded_direction(setting.d, seed)


def _sphere_rows(rng: np.random.Generator, k: int, d: int) -> np.ndarray:
    G = rng.standard_normal((k, d))
    return G / np.linalg.norm(G, axis=1, keepdims=True)


def draw_target_network(setting: Setting, seed: int) -> TargetNetwork:
    """The seed's target network (a stream of its own: the random network does not change)."""
    K, L, d = setting.target_width, setting.target_depth, setting.d
    rng = stream_generator(seed, streams.TARGET_NETWORK)
    layers = [_sphere_rows(rng, K, d)] + [_sphere_rows(rng, K, K) / math.sqrt(K) for _ in range(L - 1)]
    c = _sphere_rows(rng, 1, K)[0]
    # sum(c) > 0: with a relu output an all-negative c is the zero function, and K = 1 is then
    # exactly a one-neuron target relu(<w_1, x>)
    c = c if c.sum() > 0 else -c
    return TargetNetwork(tuple(layers), c)


def load_target_network(path: str | Path, d: int) -> TargetNetwork:
    """A target network from an .npz with arrays W1 .. WL and c; any defect is an InvalidArgument."""
    path = Path(path)
    name = f"target file {str(path)!r}"

    def check(headers: dict[str, ArrayHeader]) -> list[str]:
        # shapes from the headers alone, before any data is read (read_npz)
        if "c" not in headers or "W1" not in headers:
            raise InvalidArgument(f"{name} must hold arrays W1 (K x d), W2 .. WL (K x K) and c (K), got {sorted(headers)}")
        L = 1
        while f"W{L + 1}" in headers:
            L += 1
        c = headers["c"].shape
        K = c[0] if len(c) == 1 else -1
        shapes = [headers[f"W{l}"].shape for l in range(1, L + 1)]
        want = [(K, d)] + [(K, K)] * (L - 1)
        if K < 1 or any(shape != s for shape, s in zip(shapes, want)):
            got = ", ".join(f"W{l + 1} {shape}" for l, shape in enumerate(shapes))
            raise InvalidArgument(f"{name}: need c (K,), W1 (K, {d}) and W2.. (K, K), got c {c}, {got}")
        if K > MAX_TARGET_WIDTH or L > MAX_TARGET_DEPTH:
            raise InvalidArgument(f"{name}: a network target has at most {MAX_TARGET_WIDTH} units per layer and "
                                  f"{MAX_TARGET_DEPTH} layers, got K = {K}, L = {L}")
        return [f"W{l}" for l in range(1, L + 1)] + ["c"]

    data = {k: a.astype(np.float64) for k, a in read_npz(path, check, what="target file").items()}
    layers = [data[k] for k in data if k != "c"]
    c = data["c"]
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


def target_of(setting: Setting, seed: int) -> AnyTarget:
    """The target of (setting, seed): the one neuron, or the network target."""
    if setting.target == "network":
        return target_network(setting, seed)
    return NeuronTarget(draw_target(setting, seed))
