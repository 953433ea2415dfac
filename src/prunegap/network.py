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
from .exceptions import InvalidArgument, MemoryBudgetExceeded
from .setting import Setting
from .streams import stream_generator
from .targets import AnyTarget, NeuronTarget, draw_target, target_of

__all__ = ["Instance", "UnitStream", "ChunkedUnits", "network_bytes", "check_width_fits", "draw_instance", "draw_target",
           "stream_generator"]

_CHUNK = 64  # units per draw; changing it changes every network: never do.

_SAMPLERS: dict[str, Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]] = {
    "uniform": lambda rng, shape: rng.uniform(-1.0, 1.0, size=shape),
    "gaussian": lambda rng, shape: rng.standard_normal(size=shape),
}
UNITS_PURPOSE, UNIT_CHUNK, SAMPLERS = streams.UNITS, _CHUNK, _SAMPLERS  # public: other streams of units draw exactly as UnitStream


class ChunkedUnits:
    """Rows drawn from one generator in chunks of :data:`UNIT_CHUNK`, the first ``rows`` on request.

    Every chunk is its own ``sample(rng, (UNIT_CHUNK, columns))`` call, exactly as the
    stream has always drawn, so the numbers never depend on which prefixes were asked
    for; they go into a buffer that grows geometrically, so drawing n rows costs O(n)
    (appending chunk by chunk to an array costs O(n^2): 54 s at a million units).
    """

    def __init__(self, rng: np.random.Generator, sample: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray],
                 columns: int) -> None:
        self._rng, self._sample, self._columns = rng, sample, columns
        self._buffer = np.empty((0, columns))
        self._drawn = 0

    @property
    def drawn(self) -> int:
        """Rows drawn so far (a multiple of :data:`UNIT_CHUNK`)."""
        return self._drawn

    def take(self, rows: int) -> np.ndarray:
        """The first ``rows`` rows (a read-only view: copy what you keep)."""
        if rows > self._drawn:
            chunks = -(-(rows - self._drawn) // _CHUNK)
            need = self._drawn + chunks * _CHUNK
            if need > self._buffer.shape[0]:
                grown = np.empty((max(need, 2 * self._buffer.shape[0]), self._columns))
                grown[:self._drawn] = self._buffer[:self._drawn]
                self._buffer = grown
            for start in range(self._drawn, need, _CHUNK):
                self._buffer[start:start + _CHUNK] = self._sample(self._rng, (_CHUNK, self._columns))
            self._drawn = need
        view = self._buffer[:rows]
        view.flags.writeable = False
        return view


def network_bytes(d: int, width: int) -> int:
    """Bytes a width-``width`` network's arrays take while drawn: the stream's buffer of
    (width x (d + 1)) float64 units, up to twice that while it grows, and the copies of U and v
    handed out -- 3 x width x (d + 1) x 8 at most."""
    return 3 * int(width) * (int(d) + 1) * 8


def check_width_fits(d: int, width: int, budget: int | None) -> None:
    """Refuses, before anything is drawn, a width whose network's arrays (:func:`network_bytes`)
    exceed the memory ``budget`` in bytes (None: no budget)."""
    need = network_bytes(d, width)
    if budget is not None and need > budget:
        raise MemoryBudgetExceeded(
            f"width {width:,} in d = {d} needs {need:,} bytes for the random network's arrays "
            f"(3 x width x (d + 1) float64), over the memory budget of {budget:,} bytes "
            f"(raise it with memory_budget, --memory-budget or PRUNEGAP_MEMORY_BUDGET, or ask for a smaller width)",
            needed_bytes=need, budget_bytes=budget,
        )


class UnitStream:
    """The infinite, lazily drawn stream of hidden units of one seed (and the seed's target).

    ``memory_budget`` (bytes, None: none): :meth:`take` refuses a width whose arrays exceed it
    (:func:`check_width_fits`) before drawing anything.
    """

    def __init__(self, setting: Setting, seed: int, *, memory_budget: int | None = None) -> None:
        self.setting = setting
        self.seed = check_seed(seed)
        self.memory_budget = memory_budget
        self._units = ChunkedUnits(stream_generator(self.seed, streams.UNITS), _SAMPLERS[setting.init], setting.d + 1)

    @cached_property
    def target(self) -> AnyTarget:
        """The target of (setting, seed), built once per stream (a network target may be read from a file)."""
        return target_of(self.setting, self.seed)

    def take(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``width`` units: U (width x d) and v (width,), fresh copies."""
        width = check_int("width", width, minimum=0)
        check_width_fits(self.setting.d, width, self.memory_budget)
        units = self._units.take(width)
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


def draw_instance(setting: Setting, seed: int, width: int, *, stream: UnitStream | None = None,
                  memory_budget: int | None = None) -> Instance:
    """The random network of width ``width`` and the target, from the seed.

    Pass ``stream`` to reuse units already drawn (width searches do); ``memory_budget``
    (bytes) refuses a width whose arrays exceed it, up front (:func:`check_width_fits`).
    """
    width = check_int("width", width, minimum=1)
    check_width_fits(setting.d, width, memory_budget)
    stream = stream if stream is not None else UnitStream(setting, seed)
    U, v = stream.take(width)
    return Instance(setting, stream.seed, stream.target, U, v)
