"""Exact pruning by integer programming with cutting planes (THEORY §5): the package of the MIP solvers.

Its modules: :mod:`.options` (limits and backends), :mod:`.design` (the
columns of a paradigm), :mod:`.sample` (the sampled points and cuts),
:mod:`.program` (the bookkeeping both models share), :mod:`.highs` and
:mod:`.cpsat` (the two models), :mod:`.loop` (the cutting-plane loop) and
:mod:`.oracle` (the width oracle and the Method class).

A *design* lists the columns a paradigm may keep: column j belongs to unit
i(j) and computes phi_j(x) = v_i relu(<a_j, x>) with a_j = u_i * p_j for a 0/1
input pattern p_j.  Neuron pruning has one column per unit (p = all ones);
exact weight pruning has one per nonempty coordinate subset (2^d - 1 per
unit, at most one of them kept).  The hidden sum of a choice s in {0,1}^J is
h(x) = sum_j s_j phi_j(x) and, with f(x) = relu(<w, x>),

    relu output:   |relu(h) - f| <= eps  <=>  h <= f + eps  and  (f > eps  =>  h >= f - eps)
    linear output: |h - f| <= eps        <=>  f - eps <= h <= f + eps,

so at a point x_g the requirement is a pair of linear inequalities in s (for
a depth-1 network target F, the same with f_g = F(x_g): the hidden sum is
still linear in the mask).  At
finitely many points these are *necessary* conditions: if no s satisfies them
at the sampled points, no mask reaches eps on the sphere.  The loop

    1. solve the integer program on the sample (HiGHS or CP-SAT),
    2. infeasible -> "no";  a candidate s -> evaluate it on the whole sphere
       with prunegap's evaluator (exact in d = 2, a certified interval else),
    3. certified error <= eps -> "yes"; otherwise add the candidate's worst
       points to the sample and repeat,

is a cutting-plane method: every round removes the last candidate, and the
sample only grows: a sampled point is a valid cut at every width and every
error level, so one model serves a whole width search.  Before step 1 a
decision may try a few hundred moves of a tabu search on the same sample
(:mod:`prunegap.solvers.local`, option ``local_search``; by default for units kept whole in
d >= 3); its choices enter step 2 as candidates like the solver's, so it can
only make a "yes" come sooner.

Backends.  HiGHS (``backend="highs"``, always available) keeps one warm
model and adds rows and columns in place.  OR-Tools CP-SAT (``"cpsat"``,
used by ``"auto"`` when installed) rebuilds the model each round in
milliseconds and, on these subset-sum-like programs, proves "no" and finds
"yes" several times faster (clause learning; see benchmarks/bench_neuron.py).

Soundness.  A "no" says: the sampled system at the level L = eps +
``no_margin`` (1e-6 by default) has no 0/1 solution, so no mask reaches L
at the sampled points, hence on the sphere; the reported error_lower is
eps + margin / 2 (or a no-good's certified error, if smaller; see below).
What the infeasibility rests on depends on the backend:

- ``"cpsat"``: CP-SAT's proof, in exact integer arithmetic, on rows rounded
  outwards (:class:`SatModel`: for every 0/1 choice, each integer row, the
  short d = 2 rows included, is implied by the real point rows), so the
  proof needs no solver tolerance at all;
- ``"highs"``: never HiGHS's own "infeasible" (it works to a feasibility
  tolerance, 1e-9 here, in floating point).  The same system (sample,
  width, level, active no-goods, at-most-one rows) is handed to CP-SAT
  (:meth:`SatModel.of_points`): its proof makes the "no" (``stats["proof"]``
  "sample-infeasible (highs, verified by cpsat)"), a solution it finds is a
  candidate like any other, and a CP-SAT limit (or no OR-Tools) makes the
  answer "unknown" with limit "unverified_infeasible".  So both backends'
  "no" rest on the same exact proof; HiGHS only proposes candidates.

The margin is kept so that every "no" states the same claim and leaves room
for the float rounding of the coefficients themselves.  A candidate whose
error lies in (eps, eps + margin] cannot be cut off by a point; it is
forbidden by a no-good row instead, which is valid because the evaluator
certified that mask's error above eps (its certified lower error then caps
error_lower).  A "yes" is never taken from the solver: the mask is
re-evaluated by the target's own evaluator (:func:`prunegap.errors.target_error`).  Minimal errors
bisect on the level with the same loop: proofs raise the lower end,
certified masks lower the upper end.

Every answer is a pure function of (instance, eps, options): the sample is
deterministic (a grid in d = 2, a seeded stream otherwise), both solvers run
on one thread with a fixed seed, and the limits that make a run stop early
are counted in branch-and-bound nodes (HiGHS), conflicts (CP-SAT) and rounds;
wall-clock limits (``time_limit``, ``search_time_limit``) exist as extras.
"""

from __future__ import annotations

from .cpsat import SatModel
from .design import NEURON, Design, weight_design
from .highs import PointMIP
from .loop import CuttingPlaneSolver
from .options import BACKENDS, LOCAL_SCALES, LOCAL_SEARCH_MOVES, MIPOptions, sat_available
from .oracle import MIPMethod, WidthOracle
from .program import MIPResult, SampledProgram
from .sample import cut_points, initial_points, second_difference_rows, violation_points, witness_points

__all__ = [
    "Design",
    "NEURON",
    "weight_design",
    "BACKENDS",
    "MIPOptions",
    "LOCAL_SEARCH_MOVES",
    "LOCAL_SCALES",
    "sat_available",
    "MIPResult",
    "SampledProgram",
    "PointMIP",
    "SatModel",
    "CuttingPlaneSolver",
    "WidthOracle",
    "MIPMethod",
    "initial_points",
    "violation_points",
    "witness_points",
    "cut_points",
    "second_difference_rows",
]
