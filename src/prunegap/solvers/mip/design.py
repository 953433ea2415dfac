"""Designs: the columns a paradigm may keep in the cutting-plane MIP (docs/theory.md §5).

A design lists the columns one unit offers: column j belongs to unit i(j)
and computes phi_j(x) = v_i relu(<a_j, x>) with a_j = u_i * p_j for a 0/1
input pattern p_j, at most one kept per unit.  Neuron pruning has one
column per unit (p = all ones); exact weight pruning has one per nonempty
coordinate subset (2^d - 1 per unit).  :mod:`prunegap.solvers.patterns`
adds the N:M subsets and the blocks of units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...masks import Masks

__all__ = ["Design", "NEURON", "weight_design"]


@dataclass(frozen=True, eq=False)
class Design:
    """The columns one unit offers: 0/1 input patterns (p x d); at most one kept."""

    name: str
    patterns: Callable[[int], np.ndarray]  # d -> (p, d) uint8

    def columns(self, U: np.ndarray, v: np.ndarray, first_unit: int = 0):
        """Columns of units first_unit.. : effective A (J x d), b (J,), unit (J,), pattern index (J,)."""
        k, d = U.shape
        P = self.patterns(d)
        p = P.shape[0]
        A = (U[:, None, :] * P[None, :, :]).reshape(k * p, d)
        b = np.repeat(v, p)
        unit = np.repeat(np.arange(first_unit, first_unit + k), p)
        pat = np.tile(np.arange(p), k)
        return A, b, unit, pat

    def masks(self, chosen: np.ndarray, unit: np.ndarray, pat: np.ndarray, width: int, d: int) -> Masks:
        """The Masks of a 0/1 column choice on a width-``width`` network."""
        P = self.patterns(d)
        hidden = np.zeros((width, d), np.uint8)
        out = np.zeros(width, np.uint8)
        for j in np.flatnonzero(chosen):
            i = int(unit[j])
            if i < width:
                hidden[i] = P[pat[j]]
                out[i] = 1
        return Masks(hidden, out)

    @property
    def one_per_unit(self) -> bool:
        return self.name != "neuron"

    # Hooks for designs whose columns are not single units (solvers/patterns.py: blocks).
    def column_dim(self, d: int) -> int:
        """Length of a column's stored row (its effective input weights)."""
        return d

    def values(self, X: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
        """phi_j(x_g) for the columns (A, b) at the points X: (m, J)."""
        return np.maximum(X @ A.T, 0.0) * b

    def usable_units(self, width: int) -> int:
        """Units of a width-``width`` prefix that columns may use (all, unless columns span several)."""
        return width


NEURON = Design("neuron", lambda d: np.ones((1, d), np.uint8))


def _subset_patterns(d: int) -> np.ndarray:
    """All nonempty subsets of the d coordinates, full set first, then by size."""
    pats = [[(m >> j) & 1 for j in range(d)] for m in range(1, 2**d)]
    pats.sort(key=lambda p: (-sum(p), [-x for x in p]))
    return np.array(pats, np.uint8)


def weight_design() -> Design:
    """Exact weight pruning: each unit keeps one nonempty subset of its inputs, or nothing."""
    return Design("weight-exact", _subset_patterns)
