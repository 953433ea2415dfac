"""Random networks as seeded unit streams (THEORY §6).

A seed fixes an infinite stream of hidden units (u_i, v_i).  The network of
width n is exactly the first n units of that stream, so every narrower
network is a prefix of every wider one with the same seed: a mask found at
width n is a mask at every width m >= n, and a minimal width is well defined.

Units are drawn from one ``numpy.random.Generator`` in fixed chunks, so the
numbers never depend on which widths were asked for, or in what order.
The target and the evaluator's Monte Carlo points use streams of their own,
so giving w by hand does not change the random network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._validation import check_int, check_seed
from .setting import Setting

__all__ = ["Instance", "UnitStream", "draw_instance", "draw_target", "stream_generator"]

# Purposes of the independent streams derived from one seed.
_TARGET, _UNITS, _EVAL = 0, 1, 2
_CHUNK = 64  # units per draw; changing it changes every network: never do.

_SAMPLERS: dict[str, Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]] = {
    "uniform": lambda rng, shape: rng.uniform(-1.0, 1.0, size=shape),
    "gaussian": lambda rng, shape: rng.standard_normal(size=shape),
}
UNITS_PURPOSE, UNIT_CHUNK, SAMPLERS = _UNITS, _CHUNK, _SAMPLERS  # public: other streams of units draw exactly as UnitStream


def stream_generator(seed: int, purpose: int, *keys: int) -> np.random.Generator:
    """The Generator of one purpose (target, units, evaluation, ...) of a seed.

    ``keys`` split a purpose further (e.g. one stream per width); without
    them the stream is the purpose's own, unchanged.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(check_seed(seed), spawn_key=(purpose, *keys))))


def draw_target(setting: Setting, seed: int) -> np.ndarray:
    """The target w: the given one, or uniform on the unit sphere from the seed."""
    if setting.w is not None:
        return np.asarray(setting.w, dtype=np.float64)
    g = stream_generator(seed, _TARGET).standard_normal(setting.d)
    return g / np.linalg.norm(g)


class UnitStream:
    """The infinite, lazily drawn stream of hidden units of one seed."""

    def __init__(self, setting: Setting, seed: int) -> None:
        self.setting = setting
        self.seed = check_seed(seed)
        self._rng = stream_generator(self.seed, _UNITS)
        self._sample = _SAMPLERS[setting.init]
        self._units = np.empty((0, setting.d + 1))

    def take(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``width`` units: U (width x d) and v (width,), fresh copies."""
        width = check_int("width", width, minimum=0)
        while self._units.shape[0] < width:
            chunk = self._sample(self._rng, (_CHUNK, self.setting.d + 1))
            self._units = np.concatenate([self._units, chunk])
        units = self._units[:width]
        return units[:, :-1].copy(), units[:, -1].copy()


@dataclass(frozen=True, eq=False)
class Instance:
    """One random network of width n and its target, from (setting, seed)."""

    setting: Setting
    seed: int
    w: np.ndarray  # (d,) target
    U: np.ndarray  # (n, d) hidden weights
    v: np.ndarray  # (n,) output weights

    @property
    def width(self) -> int:
        return int(self.U.shape[0])

    @property
    def d(self) -> int:
        return self.setting.d

    def prefix(self, width: int) -> "Instance":
        """The width-``width`` network of the same seed (width <= self.width)."""
        width = check_int("width", width, minimum=0, maximum=self.width)
        return Instance(self.setting, self.seed, self.w, self.U[:width], self.v[:width])


def draw_instance(setting: Setting, seed: int, width: int, *, stream: UnitStream | None = None) -> Instance:
    """The random network of width ``width`` and the target, from the seed.

    Pass ``stream`` to reuse units already drawn (width searches do).
    """
    width = check_int("width", width, minimum=1)
    stream = stream if stream is not None else UnitStream(setting, seed)
    U, v = stream.take(width)
    return Instance(setting, stream.seed, draw_target(setting, stream.seed), U, v)
