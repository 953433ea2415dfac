"""The pattern methods between the two extremes: N:M and blocks of units (docs/theory.md §4-§5).

The rules of the families (which masks a pattern allows, :class:`~prunegap.patterns.Pattern`,
:func:`~prunegap.patterns.satisfies`, ...) live in :mod:`prunegap.patterns`;
this module holds their solvers:

``nm`` (``--nm N:M``)
    A unit keeps one of the nonempty N:M-valid input subsets S, or nothing:
    THEORY §4's exact weight program with the columns restricted to those S
    (at most one per unit; :class:`NMExact`).  The subset-sum construction
    keeps one input weight per unit, so it is an N:M ticket for every
    N >= 1, and its minimal width is the weight construction's
    (:class:`NMConstruction`).

``block`` (``--block B``)
    A block of B whole units is one column of THEORY §5's program whose
    value is the sum of its B units (:class:`BlockMIP`).  Only complete
    blocks may be kept (the pattern rule): every mask of width n is a mask
    of every wider prefix (nesting holds) and n* is a multiple of B.

Width.  For every pattern the width is the number of hidden units of the
random network (a prefix of the seed's unit stream), so n* of different
patterns are comparable on the same networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .._validation import check_int
from ..exceptions import InvalidArgument
from ..masks import Masks
from ..network import Instance, UnitStream
from ..patterns import Pattern, check_block, parse_nm, satisfies, satisfies_block, satisfies_nm
from ..setting import Setting
from .base import Outcome, register
from .mip import Design, MIPMethod
from .weight import ConstructionMethod

__all__ = [
    # the rules, also importable from here (they live in prunegap.patterns)
    "Pattern",
    "parse_nm",
    "check_block",
    "satisfies",
    "satisfies_nm",
    "satisfies_block",
    # the methods
    "nm_patterns",
    "nm_design",
    "BlockDesign",
    "block_design",
    "NMExact",
    "NMConstruction",
    "BlockMIP",
    "MAX_COLUMNS",
]

#: Columns per unit of the exact N:M program (the exact weight solver's 2^4 - 1).
MAX_COLUMNS = 15

# --------------------------------------------------------------------------- N:M


def nm_patterns(d: int, n: int, m: int) -> np.ndarray:
    """Every nonempty N:M-valid subset of the d inputs, as 0/1 rows: largest first."""
    d = check_int("d", d, minimum=1)
    rows = []
    for code in range(1, 2**d):
        p = [(code >> j) & 1 for j in range(d)]
        if satisfies_nm(np.array([p]), n, m):  # the pattern's own rule (prunegap.patterns)
            rows.append(p)
    rows.sort(key=lambda p: (-sum(p), [-x for x in p]))
    return np.array(rows, np.uint8).reshape(-1, d)


def nm_design(n: int, m: int) -> Design:
    """Exact N:M pruning: each unit keeps one nonempty N:M-valid input subset, or nothing."""
    return Design(f"nm-{n}:{m}", lambda d: nm_patterns(d, n, m))


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True, eq=False)
class BlockDesign(Design):
    """One column per complete block of B units, worth the sum of their outputs.

    A column stores its B units' rows (u_i, v_i) flattened, b = 1; its
    ``unit`` is the block's *last* unit, so the column is free exactly at the
    widths that contain the whole block (the solver fixes columns with unit >=
    width at 0).
    """

    block: int = 1

    @property
    def one_per_unit(self) -> bool:
        return False

    def column_dim(self, d: int) -> int:
        return self.block * (d + 1)

    def usable_units(self, width: int) -> int:
        return width - width % self.block

    def columns(self, U: np.ndarray, v: np.ndarray, first_unit: int = 0):
        k, d = U.shape
        B = self.block
        if first_unit % B or k % B:
            raise ValueError(f"block columns need whole blocks, got units {first_unit}..{first_unit + k - 1} for B = {B}")
        nb = k // B
        A = np.concatenate([U, v[:, None]], axis=1).reshape(nb, B * (d + 1))
        unit = first_unit + B * np.arange(nb) + (B - 1)
        return A, np.ones(nb), unit, np.zeros(nb, np.int64)

    def values(self, X: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = X.shape[1]
        R = A.reshape(A.shape[0], self.block, d + 1)
        pre = np.einsum("gd,jbd->gjb", X, R[:, :, :d])
        return (np.maximum(pre, 0.0) * R[None, :, :, d]).sum(axis=2) * b

    def masks(self, chosen: np.ndarray, unit: np.ndarray, pat: np.ndarray, width: int, d: int) -> Masks:
        s = np.zeros(width, np.uint8)
        for j in np.flatnonzero(chosen):
            last = int(unit[j])
            if last < width:
                s[last - self.block + 1:last + 1] = 1
        return Masks.from_units(s, d)


def block_design(block: int) -> BlockDesign:
    return BlockDesign(f"block-{block}", lambda d: np.ones((1, d), np.uint8), block=block)


# --------------------------------------------------------------------------- methods


def _checked(outcome: Outcome, pattern: Pattern) -> Outcome:
    # A ticket outside its pattern would be a wrong answer, not a weak one: fail loudly.
    if outcome.masks is not None and not satisfies(outcome.masks, pattern):
        raise AssertionError(f"internal error: a {pattern.label} solver returned a mask outside the pattern")
    return outcome


@register("nm", "exact")
class NMExact(MIPMethod):
    """N:M pruning, exact for small d: one N:M-valid input subset per kept unit, cutting-plane MIP.

    Options: ``nm`` (required, "N:M"), and the MIP options of
    :class:`prunegap.solvers.mip.MIPOptions`.
    """

    paradigm = "nm"
    name = "exact"
    option_names = ("nm",)

    def _pattern(self, setting: Setting, nm: Any) -> Pattern:
        pattern = Pattern.of("nm", nm=nm)
        assert pattern.n is not None and pattern.m is not None
        cols = nm_patterns(setting.d, pattern.n, pattern.m).shape[0]
        if cols > MAX_COLUMNS:
            raise InvalidArgument(
                f"d must be small enough for the exact N:M solver: at most {MAX_COLUMNS} allowed input subsets per "
                f"unit, got {cols} for d = {setting.d} and nm = {pattern.n}:{pattern.m} (use --method construction)"
            )
        self.design = nm_design(pattern.n, pattern.m)
        return pattern

    def solve(self, instance: Instance, eps: float, *, objective: str = "feasible", nm: Any = None,
              **options: Any) -> Outcome:
        pattern = self._pattern(instance.setting, nm)
        return _checked(super().solve(instance, eps, objective=objective, **options), pattern)

    def oracle(self, stream: UnitStream, eps: float, *, nm: Any = None, **options: Any) -> Callable[[int], Outcome]:
        pattern = self._pattern(stream.setting, nm)
        decide = super().oracle(stream, eps, **options)
        return lambda width: _checked(decide(width), pattern)


@register("nm", "construction")
class NMConstruction(ConstructionMethod):
    """N:M pruning by the subset-sum construction: one input weight per unit, an N:M ticket for every N >= 1.

    Its tickets and minimal widths are the weight construction's (an upper
    bound on n*_nm, which itself is at least n*_weight).
    """

    paradigm = "nm"
    name = "construction"
    option_names = ("nm",)

    def solve(self, instance: Instance, eps: float, *, objective: str = "feasible", nm: Any = None,
              **options: Any) -> Outcome:
        pattern = Pattern.of("nm", nm=nm)
        return _checked(super().solve(instance, eps, objective=objective, **options), pattern)

    def oracle(self, stream: UnitStream, eps: float, *, nm: Any = None, **options: Any) -> Callable[[int], Outcome]:
        pattern = Pattern.of("nm", nm=nm)
        decide = super().oracle(stream, eps, **options)
        return lambda width: _checked(decide(width), pattern)


@register("block", "mip")
class BlockMIP(MIPMethod):
    """Block pruning, exact: one column per complete block of B units, cutting-plane MIP.

    Options: ``block`` (required, B >= 1) and the MIP options.
    """

    paradigm = "block"
    name = "mip"
    option_names = ("block",)

    def _pattern(self, block: Any) -> Pattern:
        pattern = Pattern.of("block", block=block)
        assert pattern.block is not None
        self.design = block_design(pattern.block)
        return pattern

    def solve(self, instance: Instance, eps: float, *, objective: str = "feasible", block: Any = None,
              **options: Any) -> Outcome:
        pattern = self._pattern(block)
        return _checked(super().solve(instance, eps, objective=objective, **options), pattern)

    def oracle(self, stream: UnitStream, eps: float, *, block: Any = None,
               **options: Any) -> Callable[[int], Outcome]:
        pattern = self._pattern(block)
        decide = super().oracle(stream, eps, **options)
        return lambda width: _checked(decide(width), pattern)
