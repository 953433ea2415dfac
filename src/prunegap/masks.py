"""Masks beside untouched weights (1 = keep), and density accounting.

A ticket never edits the random weights: it is a pair of 0/1 masks, one on
the hidden weights U (n x d) and one on the output weights v (n).  *Density*
is the fraction of the n*(d+1) weights kept, *sparsity* the fraction removed.
Only live weights count: a hidden row whose output weight is dropped (or an
output weight whose row is all dropped) computes nothing, and
:meth:`Masks.canonical` clears it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .exceptions import InvalidArgument

__all__ = ["Masks", "pack_mask", "unpack_mask"]


def _as_mask(name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(value)
    if m.shape != shape:
        raise InvalidArgument(f"{name} must have shape {shape}, got {m.shape}")
    if m.size and not np.all((m == 0) | (m == 1)):
        raise InvalidArgument(f"{name} must contain only 0 and 1")
    return m.astype(np.uint8)


@dataclass(frozen=True, eq=False)
class Masks:
    """Hidden mask (n x d) and output mask (n), 0/1, 1 = keep."""

    hidden_mask: np.ndarray  # (n, d) uint8
    output_mask: np.ndarray  # (n,) uint8

    def __post_init__(self) -> None:
        out = np.asarray(self.output_mask)
        if out.ndim != 1:
            raise InvalidArgument(f"output_mask must be a vector, got shape {out.shape}")
        hid = np.asarray(self.hidden_mask)
        if hid.ndim != 2 or hid.shape[0] != out.shape[0]:
            raise InvalidArgument(f"hidden_mask must have shape ({out.shape[0]}, d), got {hid.shape}")
        object.__setattr__(self, "output_mask", _as_mask("output_mask", out, out.shape))
        object.__setattr__(self, "hidden_mask", _as_mask("hidden_mask", hid, hid.shape))

    def __repr__(self) -> str:
        # counts, never the arrays: a wide ticket's masks would fill the screen
        return (f"Masks(width={self.width}, d={self.d}, kept_units={self.kept_units}, "
                f"kept_weights={self.kept_weights} of {self.total_weights}, density={self.density:.4g})")

    # constructors --------------------------------------------------------
    @classmethod
    def full(cls, width: int, d: int) -> "Masks":
        return cls(np.ones((width, d), np.uint8), np.ones(width, np.uint8))

    @classmethod
    def empty(cls, width: int, d: int) -> "Masks":
        return cls(np.zeros((width, d), np.uint8), np.zeros(width, np.uint8))

    @classmethod
    def from_units(cls, unit_mask: np.ndarray, d: int) -> "Masks":
        """Neuron pruning: keep whole units (row and output weight) where unit_mask is 1."""
        s = _as_mask("unit_mask", unit_mask, np.shape(unit_mask))
        return cls(np.repeat(s[:, None], d, axis=1), s)

    # shape and accounting --------------------------------------------------
    @property
    def width(self) -> int:
        return int(self.output_mask.shape[0])

    @property
    def d(self) -> int:
        return int(self.hidden_mask.shape[1])

    def canonical(self) -> "Masks":
        """The same function with dead weights cleared (it only removes)."""
        live = (self.output_mask == 1) & self.hidden_mask.any(axis=1)
        return Masks(self.hidden_mask * live[:, None].astype(np.uint8), live.astype(np.uint8))

    @property
    def unit_mask(self) -> np.ndarray:
        """1 for the units that compute something (live output and row)."""
        return ((self.output_mask == 1) & self.hidden_mask.any(axis=1)).astype(np.uint8)

    @property
    def kept_units(self) -> int:
        return int(self.unit_mask.sum())

    @property
    def support_width(self) -> int:
        """1 + the index of the last live unit (0 when none): the narrowest prefix holding the ticket."""
        live = np.flatnonzero(self.unit_mask)
        return int(live[-1]) + 1 if live.size else 0

    @property
    def kept_weights(self) -> int:
        c = self.canonical()
        return int(c.hidden_mask.sum() + c.output_mask.sum())

    @property
    def total_weights(self) -> int:
        return self.width * (self.d + 1)

    @property
    def density(self) -> float:
        """Fraction of weights kept (live ones only)."""
        return self.kept_weights / self.total_weights if self.total_weights else 0.0

    @property
    def sparsity(self) -> float:
        """Fraction of weights removed: 1 - density."""
        return 1.0 - self.density

    def is_neuron_pattern(self) -> bool:
        """True when whole units are kept or dropped (neuron pruning)."""
        c = self.canonical()
        return bool(np.all(c.hidden_mask == c.output_mask[:, None]))

    def is_subset_of(self, other: "Masks") -> bool:
        return bool(np.all(self.hidden_mask <= other.hidden_mask) and np.all(self.output_mask <= other.output_mask))

    def extend(self, width: int) -> "Masks":
        """The same ticket on a wider prefix of the stream (new units dropped)."""
        if width < self.width:
            raise InvalidArgument(f"width must be >= {self.width} to extend a ticket, got {width}")
        pad = width - self.width
        return Masks(
            np.concatenate([self.hidden_mask, np.zeros((pad, self.d), np.uint8)]),
            np.concatenate([self.output_mask, np.zeros(pad, np.uint8)]),
        )

    def apply(self, U: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Effective weights of the live units: A (k x d) and b (k,)."""
        live = self.unit_mask.astype(bool)
        return (U * self.hidden_mask)[live], (v * self.output_mask)[live]


def pack_mask(mask: object) -> bytes:
    """A 0/1 array as bits (np.packbits of the flattened array): how results rows store masks."""
    return np.packbits(np.asarray(mask, dtype=np.uint8).ravel()).tobytes()


def unpack_mask(blob: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`pack_mask`."""
    n = int(np.prod(shape)) if shape else 1
    return np.unpackbits(np.frombuffer(blob, dtype=np.uint8), count=n).reshape(shape)
