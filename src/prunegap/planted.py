"""Planted tickets: random networks that hide an exact ticket (test fixtures, sanity checks).

A planted instance is the seed's random network with a few units replaced so
that a known mask computes the target *exactly* (in floating point too: the
planted weights are the target's coordinates times powers of two).  Every
solver of a pattern that contains the planted mask must then find error 0
(up to the evaluator's rounding slack), and every width search an n* no
larger than the planted width (1 + the largest planted unit).

Two plants:

``neuron``
    units p_1 < ... < p_k get u = w and output weights 2^-1, 2^-2, ...,
    2^-(k-1), 2^-(k-1) (they sum to 1 exactly): the neuron mask {p_1..p_k}
    computes relu(<w, x>).  It is also a weight mask, and a block mask when
    the units fill complete blocks.
``construction``
    for every coordinate j, one unit of the construction's group j (index
    = j mod d) gets u_j = +1, v = w_j and another u_j = -1, v = -w_j; keeping
    only those weights gives the hidden sum <w, x> exactly, so with a relu
    output the subset-sum construction (and every N:M pattern, N >= 1) has an
    exact ticket.  With a linear output <w, x> is not the target: that plant
    is for the relu output.

The remaining coordinates of planted rows stay random (they are pruned).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import streams
from ._validation import check_choice, check_int
from .exceptions import InvalidArgument
from .masks import Masks
from .network import Instance, UnitStream, draw_instance, draw_target
from .setting import Setting
from .streams import stream_generator

__all__ = ["Plant", "plant_neuron", "plant_construction", "PlantedStream", "planted_instance", "PLANTS"]

PLANTS: tuple[str, ...] = ("neuron", "construction")


@dataclass(frozen=True, eq=False)
class Plant:
    """Rows to overwrite in the unit stream, and the exact ticket they form."""

    units: np.ndarray  # (k,) unit indices, increasing
    U: np.ndarray  # (k, d) their input weights
    v: np.ndarray  # (k,) their output weights
    hidden_mask: np.ndarray  # (k, d) the ticket's rows for those units

    @property
    def width(self) -> int:
        """The planted width: the narrowest prefix holding the whole ticket."""
        return int(self.units.max()) + 1

    def masks(self, width: int, d: int) -> Masks:
        """The planted ticket on a width-``width`` network."""
        width = check_int("width", width, minimum=self.width)
        hidden = np.zeros((width, d), np.uint8)
        out = np.zeros(width, np.uint8)
        hidden[self.units] = self.hidden_mask
        out[self.units] = 1
        return Masks(hidden, out)


def _dyadic(k: int) -> np.ndarray:
    """k positive powers of two that sum to exactly 1."""
    if k == 1:
        return np.ones(1)
    v = 2.0 ** -np.arange(1, k + 1)
    v[-1] = v[-2]
    return v


def plant_neuron(w: np.ndarray, units: list[int] | np.ndarray) -> Plant:
    """The neuron plant at ``units`` (distinct indices): u = w, output weights summing to 1."""
    idx = np.asarray(sorted(int(i) for i in units), np.int64)
    if idx.size == 0 or np.unique(idx).size != idx.size or idx[0] < 0:
        raise InvalidArgument(f"units must be distinct nonnegative indices, got {list(units)!r}")
    d = w.shape[0]
    return Plant(idx, np.tile(w, (idx.size, 1)), _dyadic(idx.size), np.ones((idx.size, d), np.uint8))


def plant_construction(w: np.ndarray, rng_rows: np.ndarray, *, start: int = 0) -> Plant:
    """The construction plant in the first two rounds of groups at or after unit ``start``.

    ``rng_rows`` (2d x d) supplies the pruned coordinates of the planted rows
    (random, so that no other mask is accidentally exact)."""
    d = w.shape[0]
    base = start + (-start) % d  # the first unit of group 0 at or after start
    units, U, v, H = [], [], [], []
    for j in range(d):
        for r, sign in enumerate((1.0, -1.0)):
            i = base + r * d + j
            row = np.array(rng_rows[r * d + j], dtype=float)
            row[j] = sign
            units.append(i)
            U.append(row)
            v.append(sign * w[j])  # v * |u_j| = +-w_j exactly
            H.append(np.eye(d, dtype=np.uint8)[j])
    order = np.argsort(units)
    return Plant(np.asarray(units)[order], np.asarray(U)[order], np.asarray(v)[order], np.asarray(H)[order])


class PlantedStream(UnitStream):
    """The seed's unit stream with the plant's rows written over it (nesting is kept)."""

    def __init__(self, setting: Setting, seed: int, plant: Plant) -> None:
        super().__init__(setting, seed)
        self.plant = plant

    def take(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        U, v = super().take(width)
        inside = self.plant.units < U.shape[0]
        U[self.plant.units[inside]] = self.plant.U[inside]
        v[self.plant.units[inside]] = self.plant.v[inside]
        return U, v


def planted_instance(setting: Setting, seed: int, width: int, kind: str = "neuron", *,
                     units: list[int] | None = None, start: int = 0) -> tuple[Instance, Plant, PlantedStream]:
    """A width-``width`` planted instance, its plant and its (planted) stream.

    ``neuron``: at ``units`` (default: the last two of the width); ``construction``:
    from unit ``start`` on (2d units)."""
    check_choice("kind", kind, PLANTS)
    w = draw_target(setting, seed)
    if kind == "neuron":
        plant = plant_neuron(w, units if units is not None else [width - 2, width - 1])
    else:
        rows = stream_generator(seed, streams.PLANTED_ROWS)
        plant = plant_construction(w, rows.uniform(-1.0, 1.0, (2 * setting.d, setting.d)), start=start)
    if plant.width > width:
        raise InvalidArgument(f"width must be >= {plant.width} to hold the plant, got {width}")
    stream = PlantedStream(setting, seed, plant)
    return draw_instance(setting, seed, width, stream=stream), plant, stream
