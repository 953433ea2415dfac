"""The old import path of the network target's pieces, which now live where they belong.

The target itself: :mod:`prunegap.targets`; its evaluator:
:mod:`prunegap.errors.network`; the layer-wise construction:
:mod:`prunegap.solvers.deep`.  The MIP serves a network target through its
own loop (:mod:`prunegap.solvers.mip`), and :func:`prunegap.solvers.base.get_method`
picks a target's solver.
"""

from __future__ import annotations

from ..errors.network import network_target_error
from ..targets import TargetNetwork, draw_target_network, load_target_network, target_network
from .deep import GROUP_CAP, DeepConstruction, DeepStream, LayerwiseConstruction, construct_deep

__all__ = [
    "TargetNetwork",
    "target_network",
    "draw_target_network",
    "load_target_network",
    "network_target_error",
    "DeepStream",
    "DeepConstruction",
    "construct_deep",
    "LayerwiseConstruction",
    "GROUP_CAP",
]
