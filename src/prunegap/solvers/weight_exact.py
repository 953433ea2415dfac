"""Exact weight pruning for small d (THEORY §4, last bullet).

A weight mask that keeps unit i's output weight and the input weights of a
coordinate subset S makes the unit compute v_i relu(<u_i * 1_S, x>).  So
every weight mask is a choice, for each unit, of nothing or one of the
2^d - 1 nonempty subsets S, and the hidden sum is linear in the 0/1
indicators s_{i,S} with sum_S s_{i,S} <= 1: the same integer program as
neuron pruning (:mod:`.mip`) with 2^d - 1 columns per unit.  Neuron pruning
is the case S = all coordinates and the subset-sum construction the case
|S| = 1, so this solver's minimal width never exceeds either of theirs.

Columns grow as n (2^d - 1), so it is meant for d <= 4.
"""

from __future__ import annotations

from ..exceptions import InvalidArgument
from ..setting import Setting
from .base import register
from .mip import MIPMethod, weight_design

__all__ = ["WeightExact", "MAX_D"]

MAX_D = 4  # columns per unit: 2^d - 1


@register("weight", "exact")
class WeightExact(MIPMethod):
    """Weight pruning, exact for small d: one input subset per kept unit, cutting-plane MIP."""

    paradigm = "weight"
    name = "exact"
    design = weight_design()

    def _check(self, setting: Setting) -> None:
        super()._check(setting)
        if setting.d > MAX_D:
            raise InvalidArgument(f"d must be <= {MAX_D} for the exact weight solver (2^d - 1 columns per unit), got {setting.d}")
