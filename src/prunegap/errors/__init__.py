"""Errors of pruned networks against their target, always as [lower, upper]: the evaluators' one entry.

[lower, upper] is always PROVEN (up to float-rounding allowances), and
``ErrorBound.verdict`` decides on it alone.  Only the L2 error of a relu
output in d >= 3 is also sampled: its Monte Carlo interval is kept apart as
``ErrorBound.estimate`` (an :class:`Estimate` with its confidence and method),
a statistical statement that never decides a verdict.

=========  ========  ==============================  =========================
norm       d         proven [lower, upper]           statistical ``estimate``
=========  ========  ==============================  =========================
sup        1         exact: the sphere is {-1, +1}   none
sup        2         exact breakpoint method         none
                     (:mod:`.circle`)
sup        >= 3      certified branch and bound on   none
                     the sphere (:mod:`.sphere`)
l2-*       any       exact arc-cosine kernel for a   none
                     linear output (:mod:`.l2`)
l2-*       2         exact angular integration for   none
                     a relu output
l2-*       >= 3      relu output: test-function      empirical Bernstein
                     lower and kernel upper bounds   interval on Monte Carlo
                                                     samples, at its stated
                                                     confidence
=========  ========  ==============================  =========================

A network target (:class:`prunegap.targets.TargetNetwork`, depth 1) has its
own evaluator, :mod:`.network` (sup norm only); :func:`target_error` and
:func:`evaluate` pick the evaluator of a target.

All functions here are positively 1-homogeneous, so the sup over the unit
ball is the sup over the unit sphere, and the Gaussian L2 error is sqrt(d)
times the spherical one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import InvalidArgument
from ..masks import Masks
from ..network import Instance
from ..targets import NeuronTarget, TargetNetwork
from ._bound import VERDICTS, ErrorBound, Estimate, verdict
from .network import network_target_error
from .neuron import DEFAULT_TOL, forward, network_error, target_values

__all__ = ["ErrorBound", "Estimate", "verdict", "VERDICTS", "network_error", "network_target_error", "target_error",
           "evaluate", "forward", "target_values", "DEFAULT_TOL"]


def target_error(A: np.ndarray, b: np.ndarray, target: NeuronTarget | TargetNetwork, *, output: str = "relu",
                 norm: str = "sup", seed: int = 0, **options: Any) -> ErrorBound:
    """Certified error of g(x) = out(sum_k b_k relu(<A_k, x>)) against ``target``, by the target's evaluator.

    The one neuron: :func:`network_error` (every norm; ``seed`` is not used);
    a network target: :func:`network_target_error` (sup norm; ``seed`` picks
    the points of a sampled lower bound).  ``options`` go to the evaluator.
    """
    if isinstance(target, NeuronTarget):
        return network_error(A, b, target.w, output=output, norm=norm, **options)
    if norm != "sup":
        raise InvalidArgument(f"norm must be 'sup' for a network target, got {norm!r}")
    return network_target_error(A, b, target, output=output, seed=seed, **options)


def evaluate(instance: Instance, masks: Masks, **kwargs: Any) -> ErrorBound:
    """Certified error of ``masks`` applied to ``instance`` in its own setting, against its own target."""
    A, b = masks.apply(instance.U, instance.v)
    s = instance.setting
    kwargs.setdefault("output", s.output)
    kwargs.setdefault("norm", s.norm)
    kwargs.setdefault("seed", instance.seed)
    return target_error(A, b, instance.target, **kwargs)
