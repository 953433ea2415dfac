"""Neuron pruning by integer programming with cutting planes (THEORY §5).

A mask s in {0,1}^n keeps whole hidden units.  At a point x_g the kept sum
h_g = sum_i s_i v_i relu(<u_i, x_g>) must satisfy

    relu output:   h_g <= f_g + eps,  and  h_g >= f_g - eps  where f_g > eps,
    linear output: |h_g - f_g| <= eps,

with f_g = relu(<w, x_g>): linear in s, so the sampled problem is an integer
program.  :mod:`.mip` solves it with cutting planes (candidates are checked
on the whole sphere by prunegap's evaluator, their worst points added), and
answers

- ``yes``: a mask whose certified error_upper <= eps;
- ``no``: the sampled program is infeasible at eps + margin (sampled
  constraints are necessary, so no mask of any width-n subnetwork reaches
  eps; ``stats["no_margin"]``);
- ``unknown``: a node, round or time limit fired (``limit``), with the best
  mask found and its certified error.

``objective="min-error"`` brackets the smallest sup error at this width:
error_upper is the exact error of the best mask, error_lower the dual bound
of the sampled min-error program less the margin.
"""

from __future__ import annotations

from .base import register
from .mip import NEURON, MIPMethod

__all__ = ["NeuronMIP"]


@register("neuron", "mip")
class NeuronMIP(MIPMethod):
    """Neuron pruning, exact: cutting-plane integer program (CP-SAT, or HiGHS) certified by prunegap's evaluator.

    Options (keyword arguments of ``solve``/``oracle``; unknown ones are ignored):
    ``node_limit``, ``max_rounds``, ``time_limit``, ``no_margin``,
    ``initial_density``, ``initial_points``, ``witnesses``, ``max_new_points``,
    ``min_error_rtol``, ``tol``, ``max_cells``, ``descend`` (see
    :class:`prunegap.solvers.mip.MIPOptions`).
    """

    paradigm = "neuron"
    name = "mip"
    design = NEURON
