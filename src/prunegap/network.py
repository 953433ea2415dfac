"""Random networks as seeded unit streams (THEORY §6).

A seed fixes an infinite stream of hidden units (u_i, v_i).  The network of
width n is exactly the first n units of that stream, so every narrower
network is a prefix of every wider one with the same seed: a mask found at
width n is a mask at every width m >= n, and a minimal width is well defined.

Units are drawn from one ``numpy.random.Generator`` in fixed chunks, so the
numbers never depend on which widths were asked for, or in what order.
The target (:mod:`.targets`) and the evaluator's points use streams of their
own (:mod:`.streams`), so giving w by hand does not change the random network.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from . import streams
from ._validation import check_int, check_seed
from .exceptions import InvalidArgument
from .setting import Setting
from .streams import stream_generator
from .targets import AnyTarget, NeuronTarget, draw_target, target_of

__all__ = ["Instance", "UnitStream", "draw_instance", "draw_target", "stream_generator"]

_CHUNK = 64  # units per draw; changing it changes every network: never do.

_SAMPLERS: dict[str, Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]] = {
    "uniform": lambda rng, shape: rng.uniform(-1.0, 1.0, size=shape),
    "gaussian": lambda rng, shape: rng.standard_normal(size=shape),
}
UNITS_PURPOSE, UNIT_CHUNK, SAMPLERS = streams.UNITS, _CHUNK, _SAMPLERS  # public: other streams of units draw exactly as UnitStream


class UnitStream:
    """The infinite, lazily drawn stream of hidden units of one seed (and the seed's target)."""

    def __init__(self, setting: Setting, seed: int) -> None:
        self.setting = setting
        self.seed = check_seed(seed)
        self._rng = stream_generator(self.seed, streams.UNITS)
        self._sample = _SAMPLERS[setting.init]
        self._units = np.empty((0, setting.d + 1))

    @cached_property
    def target(self) -> AnyTarget:
        """The target of (setting, seed), built once per stream (a network target may be read from a file)."""
        return target_of(self.setting, self.seed)

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
    """One random network of width n and its target, from (setting, seed).

    ``target`` may be given as the one-neuron target's w (an array): it is
    read as :class:`~prunegap.targets.NeuronTarget`.
    """

    setting: Setting
    seed: int
    target: AnyTarget  # the target (targets.py); an array w is the one neuron relu(<w, x>)
    U: np.ndarray  # (n, d) hidden weights
    v: np.ndarray  # (n,) output weights

    def __post_init__(self) -> None:
        if not hasattr(self.target, "kind"):
            object.__setattr__(self, "target", NeuronTarget(np.asarray(self.target, dtype=np.float64)))

    @property
    def w(self) -> np.ndarray:
        """The one-neuron target's w (d,); a network target has none."""
        if not isinstance(self.target, NeuronTarget):
            raise InvalidArgument(f"this instance's target is a {self.target.kind}, which has no w: use instance.target")
        return self.target.w

    @property
    def width(self) -> int:
        return int(self.U.shape[0])

    @property
    def d(self) -> int:
        return self.setting.d

    def prefix(self, width: int) -> "Instance":
        """The width-``width`` network of the same seed (width <= self.width)."""
        width = check_int("width", width, minimum=0, maximum=self.width)
        return Instance(self.setting, self.seed, self.target, self.U[:width], self.v[:width])


def draw_instance(setting: Setting, seed: int, width: int, *, stream: UnitStream | None = None) -> Instance:
    """The random network of width ``width`` and the target, from the seed.

    Pass ``stream`` to reuse units already drawn (width searches do).
    """
    width = check_int("width", width, minimum=1)
    stream = stream if stream is not None else UnitStream(setting, seed)
    U, v = stream.take(width)
    return Instance(setting, stream.seed, stream.target, U, v)
