"""The sampled program's bookkeeping, shared by its two models (HiGHS and CP-SAT).

Binary columns s_j (:mod:`.design`) and, for every sampled point x_g, the
ranged row

    lo_g(L) <= h_g = sum_j s_j phi_j(x_g) <= hi_g(L) = f_g + L,

lo_g(L) = f_g - L (relu output: only where f_g > L, else -inf), at the
error level L (eps + margin), with f_g the target's value at x_g
(docs/theory.md §5).  A model holds the columns (A, b, their unit and
pattern), the points X and f, the no-goods (masks forbidden one by one,
each certified worse than eps), the level, eps and the width (columns of
units >= width are fixed at 0).  The sample is valid at every width and
level, so it only grows.  A subclass hands each change on to its solver
(:meth:`_on_columns`, :meth:`_on_points`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...targets import AnyTarget
from .design import Design

__all__ = ["MIPResult", "SampledProgram"]


@dataclass
class MIPResult:
    status: str  # "feasible" | "infeasible" | "limit"
    x: np.ndarray | None  # column values rounded to 0/1 (feasible only)
    nodes: int
    limit: str | None = None


class SampledProgram:
    """Columns, sampled points, no-goods, level and width of one cutting-plane program."""

    def __init__(self, d: int, target: AnyTarget, output: str, design: Design, *, level: float) -> None:
        self.d, self.target, self.output, self.design = d, target, output, design
        self.level = float(level)
        self.eps = self.level  # no-goods of masks certified worse than eps are active
        self.A = np.zeros((0, design.column_dim(d)))  # effective input weights of the columns
        self.b = np.zeros(0)
        self.unit = np.zeros(0, np.int64)
        self.pat = np.zeros(0, np.int64)
        self.X = np.zeros((0, d))
        self.f = np.zeros(0)  # the target at X
        self.nogoods: list[tuple[np.ndarray, int, float]] = []  # (mask over the columns of its time, |S|, certified lower error)
        self.width = 0
        self.n_units = 0
        self.n_constraints = 0  # constraints of the last solve (a proof's size; a model with its own rows sets it)

    def copy_sample(self, other: "SampledProgram") -> None:
        """Take over another model's system as it is now: columns, points, no-goods, level, eps, width."""
        self.level, self.eps = other.level, other.eps
        self.A, self.b, self.unit, self.pat = other.A, other.b, other.unit, other.pat
        self.X, self.f = other.X, other.f
        self.nogoods = list(other.nogoods)
        self.width, self.n_units = other.width, other.n_units

    def values(self, X: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
        """phi_j(x_g) of the columns (A, b) at the points X: (m, J)."""
        return self.design.values(X, A, b)

    # -- changes ---------------------------------------------------------------
    def add_units(self, U: np.ndarray, v: np.ndarray) -> None:
        """Columns for units n_units, n_units + 1, ... (a prefix extension of the stream)."""
        if U.shape[0] == 0:
            return
        A, b, unit, pat = self.design.columns(U, v, first_unit=self.n_units)
        self._on_columns(A, b, U.shape[0])
        self.A = np.vstack([self.A, A])
        self.b = np.concatenate([self.b, b])
        self.unit = np.concatenate([self.unit, unit])
        self.pat = np.concatenate([self.pat, pat])
        self.n_units += U.shape[0]

    def add_points(self, X: np.ndarray) -> None:
        """Rows at the new points (for every column present)."""
        if X.shape[0] == 0:
            return
        f = self.target.values(X, self.output)
        self._on_points(X, f)
        self.X = np.vstack([self.X, X])
        self.f = np.concatenate([self.f, f])

    def set_level(self, level: float, eps: float | None = None) -> None:
        """Moves every point row to the error level ``level`` (eps + margin), and switches on the
        no-goods of exactly the masks proven worse than ``eps``."""
        self.eps = float(level) if eps is None else float(eps)
        self.level = float(level)

    def add_nogood(self, x: np.ndarray, certified_lower: float) -> None:
        """Forbids the one mask x (all current columns), whose error is >= certified_lower > eps:

            sum_{j in S} (1 - s_j) + sum_{j not in S} s_j >= 1.
        """
        S = x.astype(bool)
        self._on_nogood(S)
        self.nogoods.append((S.copy(), int(S.sum()), float(certified_lower)))

    def set_width(self, width: int) -> None:
        """Columns of units < width free in {0, 1}; the others fixed at 0."""
        self.width = width

    # -- hooks of a solver that keeps a model of its own ----------------------
    def _on_columns(self, A: np.ndarray, b: np.ndarray, k: int) -> None:
        """New columns (A, b) of k units, before they join the bookkeeping."""

    def _on_points(self, X: np.ndarray, f: np.ndarray) -> None:
        """New points X with target values f, before they join the bookkeeping."""

    def _on_nogood(self, S: np.ndarray) -> None:
        """A new no-good over the current columns, before it joins the bookkeeping."""
