"""Exact pruning by integer programming with cutting planes (THEORY §5).

A *design* lists the columns a paradigm may keep: column j belongs to unit
i(j) and computes phi_j(x) = v_i relu(<a_j, x>) with a_j = u_i * p_j for a 0/1
input pattern p_j.  Neuron pruning has one column per unit (p = all ones);
exact weight pruning has one per nonempty coordinate subset (2^d - 1 per
unit, at most one of them kept).  The hidden sum of a choice s in {0,1}^J is
h(x) = sum_j s_j phi_j(x) and, with f(x) = relu(<w, x>),

    relu output:   |relu(h) - f| <= eps  <=>  h <= f + eps  and  (f > eps  =>  h >= f - eps)
    linear output: |h - f| <= eps        <=>  f - eps <= h <= f + eps,

so at a point x_g the requirement is a pair of linear inequalities in s.  At
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
(:mod:`.local`, option ``local_search``; by default for units kept whole in
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
re-evaluated by :func:`prunegap.errors.network_error`.  Minimal errors
bisect on the level with the same loop: proofs raise the lower end,
certified masks lower the upper end.

Every answer is a pure function of (instance, eps, options): the sample is
deterministic (a grid in d = 2, a seeded stream otherwise), both solvers run
on one thread with a fixed seed, and the limits that make a run stop early
are counted in branch-and-bound nodes (HiGHS), conflicts (CP-SAT) and rounds;
wall-clock limits (``time_limit``, ``search_time_limit``) exist as extras.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from .._validation import check_choice, check_int, check_positive_float
from ..errors import ErrorBound, network_error
from ..masks import Masks
from ..network import Instance, UnitStream, draw_instance, stream_generator
from ..setting import Setting
from .base import OBJECTIVES, SEARCH_TIME_LIMIT, Outcome
from .local import LocalResult, local_search

__all__ = [
    "Design",
    "NEURON",
    "weight_design",
    "MIPOptions",
    "PointMIP",
    "CuttingPlaneSolver",
    "WidthOracle",
    "MIPMethod",
    "initial_points",
    "violation_points",
]

BACKENDS: tuple[str, ...] = ("auto", "highs", "cpsat")
log = logging.getLogger(__name__)
_SAMPLE_STREAM = 17  # purpose of the seeded sample points in d >= 3 (see network.stream_generator)
_PORTFOLIO = 4  # CP-SAT subsolvers interleaved in one thread by sat_strategy="portfolio"
_TWO_PI = 2.0 * math.pi
LOCAL_SEARCH_MOVES = 300  # default tabu-search moves per decision in d >= 3
_LOCAL_STREAM = 20  # purpose of the tabu search's tenures (split by width)
_LOCAL_MAX_ENTRIES = 4_000_000  # the tabu search holds a few (points x columns) arrays: skip it beyond this
_LOCAL_SCALES = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0)  # half-widths, in grid steps


# --------------------------------------------------------------------------- designs


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


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class MIPOptions:
    """Limits and knobs of the cutting-plane solver (all deterministic but ``time_limit``)."""

    backend: str = "auto"  # "highs", "cpsat" (OR-Tools, when installed) or "auto" (cpsat if installed)
    node_limit: int = 1_000_000  # HiGHS: branch-and-bound nodes of all MIP solves of one decision
    conflict_limit: int = 5_000_000  # CP-SAT: conflicts of all solves of one decision (HiGHS: of its re-proofs)
    workers: int = 1  # CP-SAT threads (1: deterministic)
    sat_strategy: str = "lp"  # CP-SAT: "portfolio" (interleaved subsolvers), "sat" (no LP), "lp"
    max_rounds: int = 400  # cutting-plane rounds of one decision
    time_limit: float | None = None  # seconds of one decision (wall clock: an extra, not reproducible)
    no_margin: float = 1e-6  # "no" is proven for eps + no_margin (absorbs the solver's tolerance)
    initial_density: float = 2.0  # d = 2: the first sample is a grid of about initial_density / eps points
    initial_points: int = 512  # d >= 3: seeded points on the sphere in the first sample
    witnesses: int = 16  # d >= 3: worst points asked of the evaluator per candidate
    max_new_points: int = 64  # points added per round, worst first
    near_cut: float = 1.0  # also add the peaks above near_cut * eps of a rejected candidate (1: only violations)
    min_error_rtol: float = 1e-4  # min-error stops when upper - lower <= rtol * upper (+ no_margin)
    tol: float = 1e-6  # evaluator interval width accepted in d >= 3
    max_cells: int = 400_000  # evaluator cells in d >= 3
    descend: bool = False  # width search: attack the width right below the best yes (see WidthOracle)
    search_time_limit: float | None = None  # width search: wall-clock seconds for all decisions together
    local_rows: int = 8  # d = 2, CP-SAT: short second-difference rows at this many scales (0: none)
    gallop_share: float = 0.25  # with search_time_limit: share of the time left for one width while no yes is known
    local_search: int | None = None  # tabu-search moves tried before the exact solver per decision (0: off;
    # None: LOCAL_SEARCH_MOVES for neuron and block pruning in d >= 3, else off: elsewhere CP-SAT found the
    # same tickets as fast or faster, see BENCHMARKS.md)

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> "MIPOptions":
        """Picks the options this solver knows; others (e.g. memory_budget) are ignored."""
        known = {k: options[k] for k in cls.__dataclass_fields__ if k in options and options[k] is not None}
        o = cls(**known)
        check_choice("backend", o.backend, BACKENDS)
        if o.backend == "cpsat" and not sat_available():
            from ..exceptions import InvalidArgument

            raise InvalidArgument("backend 'cpsat' needs OR-Tools (pip install ortools), which is not installed")
        check_int("node_limit", o.node_limit, minimum=1)
        check_int("conflict_limit", o.conflict_limit, minimum=1)
        check_int("workers", o.workers, minimum=1)
        check_choice("sat_strategy", o.sat_strategy, ("portfolio", "sat", "lp"))
        check_int("max_rounds", o.max_rounds, minimum=1)
        if o.time_limit is not None:
            check_positive_float("time_limit", o.time_limit)
        if o.search_time_limit is not None:
            check_positive_float("search_time_limit", o.search_time_limit)
        check_positive_float("no_margin", o.no_margin)
        check_positive_float("initial_density", o.initial_density)
        check_int("initial_points", o.initial_points, minimum=1)
        check_int("witnesses", o.witnesses, minimum=1)
        check_int("max_new_points", o.max_new_points, minimum=1)
        check_positive_float("min_error_rtol", o.min_error_rtol, allow_zero=True)
        check_positive_float("near_cut", o.near_cut, maximum=1.0)
        check_positive_float("gallop_share", o.gallop_share, maximum=1.0)
        check_int("local_rows", o.local_rows, minimum=0, maximum=len(_LOCAL_SCALES))
        if o.local_search is not None:
            check_int("local_search", o.local_search, minimum=0)
        check_positive_float("tol", o.tol)
        return o

    def resolved_backend(self) -> str:
        if self.backend == "auto":
            return "cpsat" if sat_available() else "highs"
        return self.backend

    def resolved_local_search(self, d: int, design: "Design") -> int:
        """Tabu-search moves per decision: the option, or by default LOCAL_SEARCH_MOVES where it was
        measured to help (BENCHMARKS.md: units kept whole, d >= 3) and 0 elsewhere."""
        if self.local_search is not None:
            return self.local_search
        return LOCAL_SEARCH_MOVES if d >= 3 and not design.one_per_unit else 0


# --------------------------------------------------------------------------- sample points


def _unit_rows(X: np.ndarray) -> np.ndarray:
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def initial_points(setting: Setting, w: np.ndarray, seed: int, eps: float, opts: MIPOptions) -> np.ndarray:
    """The first sample: deterministic in (setting, seed, eps, options).

    d = 1: both points of the sphere (the sample is then complete).
    d = 2: a grid of about initial_density / eps angles, phase-locked to w,
    so that the maximum of f and its neighbourhood are sampled.
    d >= 3: +-w, +-e_j and seeded uniform points.
    """
    d = setting.d
    if d == 1:
        return np.array([[1.0], [-1.0]])
    if d == 2:
        m = int(min(max(16, math.ceil(opts.initial_density / eps)), 200_000))
        t = math.atan2(w[1], w[0]) + _TWO_PI * np.arange(m) / m
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    wn = w / np.linalg.norm(w)
    E = np.eye(d)
    rng = stream_generator(seed, _SAMPLE_STREAM)
    R = _unit_rows(rng.standard_normal((opts.initial_points, d)))
    return np.vstack([wn, -wn, E, -E, R])


def violation_points(
    A: np.ndarray, b: np.ndarray, w: np.ndarray, output: str, bound: float, ticket: ErrorBound, max_points: int
) -> np.ndarray:
    """Points of the sphere where the candidate's error exceeds ``bound``, worst first.

    d = 2: one point per maximal run of violating arcs of the exact breakpoint
    decomposition (its worst point), so that every violated region is cut at
    once; d >= 3: the evaluator's witnesses above ``bound``.
    """
    d = w.shape[0]
    if d == 2:
        return _circle_violations(A, b, w, output, bound, max_points)
    if ticket.witnesses is None:
        return np.zeros((0, d))
    vals = np.abs(np.asarray(ticket.witness_values))
    X = np.asarray(ticket.witnesses)[vals > bound]
    return X[:max_points]


def _circle_violations(A, b, w, output, bound, max_points) -> np.ndarray:
    from ..errors.circle import circle_pieces

    lo, hi, P, Q, F, G, _, _ = circle_pieces(np.asarray(A, float).reshape(-1, 2), np.asarray(b, float), w)
    s = np.arctan2(Q - G, P - F)[:, None]
    cand = [lo[:, None], hi[:, None], 0.5 * (lo + hi)[:, None], s, s + np.pi]
    if output == "relu":
        z = np.arctan2(Q, P)[:, None] + np.pi / 2
        pw = math.atan2(w[1], w[0])
        cand += [z, z + np.pi, np.full_like(z, pw), np.full_like(z, pw + np.pi)]
    t = np.mod(np.hstack(cand), _TWO_PI)
    t = np.where((t >= lo[:, None]) & (t <= hi[:, None]), t, np.nan)
    ct, st = np.cos(t), np.sin(t)
    h = P[:, None] * ct + Q[:, None] * st
    g = np.maximum(h, 0.0) if output == "relu" else h
    err = np.abs(g - (F[:, None] * ct + G[:, None] * st))
    err = np.where(np.isnan(err), -1.0, err)
    best = err.argmax(axis=1)
    arc_err = err[np.arange(err.shape[0]), best]
    arc_t = t[np.arange(err.shape[0]), best]
    bad = arc_err > bound
    if not bad.any():
        return np.zeros((0, 2))
    # runs of consecutive violating arcs (cyclically): keep each run's worst arc
    idx = np.flatnonzero(bad)
    runs: list[list[int]] = []
    for i in idx:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == bad.shape[0] - 1:
        runs[0] = runs.pop() + runs[0]
    picks = [max(r, key=lambda i: arc_err[i]) for r in runs]
    picks.sort(key=lambda i: -arc_err[i])
    tt = arc_t[picks[:max_points]]
    return np.stack([np.cos(tt), np.sin(tt)], axis=1)


def second_difference_rows(A: np.ndarray, b: np.ndarray, w: np.ndarray, output: str, level: float,
                           thetas: np.ndarray, deltas: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Sparse necessary conditions in d = 2, one per (theta, delta): bounds on the second difference

        D h(theta) = h(theta + delta) + h(theta - delta) - 2 cos(delta) h(theta).

    D kills a cos + b sin, and every column is b |a| relu(cos(t - alpha)), whose second
    difference is b |a| sum over its two kinks k = alpha +- pi/2 of sin(delta - |t - k|)_+:
    only the columns with a kink within delta of theta enter the row.  The bounds come from the
    point bounds lo <= h <= hi at the three angles (interval arithmetic, cos(delta) > 0), so each
    row is implied by three point rows: it never cuts a feasible mask, but it is a short row
    (a local subset sum around theta) that a solver propagates far better than the dense ones.
    Rows are ordered theta-major; a row with no finite bound constrains nothing.
    """
    A = np.asarray(A, float).reshape(-1, 2)
    c = np.asarray(b, float) * np.hypot(A[:, 0], A[:, 1])
    alpha = np.arctan2(A[:, 1], A[:, 0])
    kinks = np.stack([alpha + 0.5 * np.pi, alpha - 0.5 * np.pi], axis=1)  # (J, 2)
    T = (thetas[:, None] + 0.0 * deltas[None, :]).ravel()
    Dl = np.broadcast_to(deltas[None, :], (thetas.shape[0], deltas.shape[0])).ravel()

    def point_bounds(t):
        f = np.maximum(w[0] * np.cos(t) + w[1] * np.sin(t), 0.0)
        hi = f + level
        lo = np.where(f > level, f - level, -np.inf) if output == "relu" else f - level
        return lo, hi

    lo0, hi0 = point_bounds(T)
    lop, hip = point_bounds(T + Dl)
    lom, him = point_bounds(T - Dl)
    two_cos = 2.0 * np.cos(Dl)  # > 0: deltas stay below pi / 2
    with np.errstate(invalid="ignore"):
        upper = hip + him - two_cos * lo0
        lower = lop + lom - two_cos * hi0
    rows, cols, vals = [], [], []
    for k in range(2):
        dist = np.abs(np.mod(T[:, None] - kinks[None, :, k] + np.pi, _TWO_PI) - np.pi)  # (R, J)
        r, j = np.nonzero(dist < Dl[:, None])
        rows.append(r)
        cols.append(j)
        vals.append(c[j] * np.sin(Dl[r] - dist[r, j]))
    R = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(T.shape[0], A.shape[0]))
    R.sum_duplicates()
    return R, lower, upper


# --------------------------------------------------------------------------- the HiGHS model


_HIGHS_BANNER_DONE = False
_HIGHS_BANNER_LOCK = threading.Lock()


def _new_highs():
    """highspy.Highs() without its banner on stdout.

    HiGHS writes "Running HiGHS ..." to file descriptor 1 from the first
    constructor of a process, before any option can silence it; it would
    land in a notebook's output, between a sweep's progress lines, or in
    anything a script prints to stdout for another tool.  The first
    construction runs with fd 1 pointed at /dev/null (later ones print
    nothing); the lock keeps two threads from saving each other's
    redirection as "the" stdout.
    """
    global _HIGHS_BANNER_DONE
    import highspy

    with _HIGHS_BANNER_LOCK:
        if _HIGHS_BANNER_DONE:
            return highspy.Highs()
        _HIGHS_BANNER_DONE = True
        sys.stdout.flush()
        try:
            saved = os.dup(1)
        except OSError:  # no fd 1 to protect
            return highspy.Highs()
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                try:
                    return highspy.Highs()
                finally:
                    os.dup2(saved, 1)
        finally:
            os.close(saved)


def _highs():
    h = _new_highs()
    h.silent()
    for k, v in (
        ("threads", 1),
        ("random_seed", 0),
        ("primal_feasibility_tolerance", 1e-9),
        ("mip_feasibility_tolerance", 1e-9),
        ("mip_rel_gap", 0.0),
        ("mip_abs_gap", 1e-12),
    ):
        h.setOptionValue(k, v)
    return h


@dataclass
class MIPResult:
    status: str  # "feasible" | "infeasible" | "limit"
    x: np.ndarray | None  # column values rounded to 0/1 (feasible only)
    nodes: int
    limit: str | None = None


class PointMIP:
    """The HiGHS backend: binary columns s_j, and one ranged row per sampled point,

        lo_g(L) <= h_g = sum_j s_j phi_j(x_g) <= hi_g(L) = f_g + L,

    lo_g(L) = f_g - L (relu output: only where f_g > L, else -inf), at the
    error level L (eps + margin).  Columns, rows, the level and the width
    (columns of units >= width are fixed at 0) change in place: the model
    stays warm, and the sample is valid at every width and level.
    """

    def __init__(self, d: int, w: np.ndarray, output: str, design: Design, *, level: float) -> None:
        import highspy

        self._hs = highspy
        self.inf = highspy.kHighsInf
        self.d, self.w, self.output, self.design = d, np.asarray(w, float), output, design
        self.level = float(level)
        self.h = _highs()
        self.A = np.zeros((0, design.column_dim(d)))  # effective input weights of the columns
        self.b = np.zeros(0)
        self.unit = np.zeros(0, np.int64)
        self.pat = np.zeros(0, np.int64)
        self.X = np.zeros((0, d))
        self.f = np.zeros(0)
        self.rows = np.zeros(0, np.int64)  # model row of each point
        self.nogoods: list[tuple[int, int, float]] = []  # (row, |S|, the mask's certified lower error)
        self.nogood_masks: list[np.ndarray] = []  # the forbidden masks, over the columns of their time
        self.target = self.level
        self.n_rows = 0
        self.width = 0
        self.n_units = 0

    # -- structure -----------------------------------------------------------
    def _values(self, X: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.design.values(X, A, b)  # (m, J)

    def target_values(self, X: np.ndarray) -> np.ndarray:
        """f at the points (the one-neuron target; solvers/targets.py swaps in a network)."""
        return np.maximum(X @ self.w, 0.0)

    def _bounds(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lvl = self.level
        hi = f + lvl
        if self.output == "relu":
            lo = np.where(f > lvl, f - lvl, -self.inf)
        else:
            lo = f - lvl
        return lo, hi

    def add_units(self, U: np.ndarray, v: np.ndarray) -> None:
        """Columns for units n_units, n_units + 1, ... (a prefix extension of the stream)."""
        if U.shape[0] == 0:
            return
        A, b, unit, pat = self.design.columns(U, v, first_unit=self.n_units)
        J0, J = self.A.shape[0], A.shape[0]
        if self.X.shape[0]:
            C = sp.csc_matrix(self._values(self.X, A, b))
            index = self.rows[C.indices].astype(np.int32)
            self.h.addCols(J, np.zeros(J), np.zeros(J), np.zeros(J), C.nnz, C.indptr[:-1].astype(np.int32), index,
                           C.data.astype(float))
        else:
            self.h.addVars(J, np.zeros(J), np.zeros(J))
        idx = np.arange(J0, J0 + J, dtype=np.int32)
        self.h.changeColsIntegrality(J, idx, np.full(J, self._hs.HighsVarType.kInteger))
        for row, _, _ in self.nogoods:  # a no-good forbids one mask: new columns are outside it
            for j in idx:
                self.h.changeCoeff(row, int(j), 1.0)
        self.A = np.vstack([self.A, A])
        self.b = np.concatenate([self.b, b])
        self.unit = np.concatenate([self.unit, unit])
        self.pat = np.concatenate([self.pat, pat])
        if self.design.one_per_unit:
            p = self.design.patterns(self.d).shape[0]
            k = U.shape[0]
            self.h.addRows(k, np.full(k, -self.inf), np.ones(k), J, (np.arange(k) * p).astype(np.int32), idx, np.ones(J))
            self.n_rows += k
        self.n_units += U.shape[0]

    def add_points(self, X: np.ndarray) -> None:
        """Rows at the new points (for every column present)."""
        k = X.shape[0]
        if k == 0:
            return
        f = self.target_values(X)
        lo, hi = self._bounds(f)
        H = self._values(X, self.A, self.b) if self.A.shape[0] else np.zeros((k, 0))
        R = sp.csr_matrix(H)
        self.h.addRows(k, lo, hi, R.nnz, R.indptr[:-1].astype(np.int32), R.indices.astype(np.int32),
                       R.data.astype(float))
        self.X = np.vstack([self.X, X])
        self.f = np.concatenate([self.f, f])
        self.rows = np.concatenate([self.rows, np.arange(self.n_rows, self.n_rows + k)])
        self.n_rows += k

    def set_level(self, level: float, target: float | None = None) -> None:
        """Moves every point row to the error level ``level`` (target + margin), and
        switches on the no-goods of exactly the masks proven worse than ``target``."""
        self.target = level if target is None else float(target)
        for row, size, bad in self.nogoods:
            self.h.changeRowBounds(row, float(1 - size) if bad > self.target else -self.inf, self.inf)
        if level == self.level:
            return
        self.level = float(level)
        k = self.rows.shape[0]
        if k:
            lo, hi = self._bounds(self.f)
            self.h.changeRowsBounds(k, self.rows.astype(np.int32), lo, hi)

    def add_nogood(self, x: np.ndarray, certified_lower: float) -> None:
        """Forbids the one mask x (all current columns), whose error is >= certified_lower > target:

            sum_{j in S} (1 - s_j) + sum_{j not in S} s_j >= 1.
        """
        S = x.astype(bool)
        coef = np.where(S, -1.0, 1.0)
        size = int(S.sum())
        idx = np.arange(x.shape[0], dtype=np.int32)
        self.h.addRow(float(1 - size), self.inf, x.shape[0], idx, coef)
        self.nogoods.append((self.n_rows, size, float(certified_lower)))
        self.nogood_masks.append(S.copy())
        self.n_rows += 1

    def set_width(self, width: int) -> None:
        """Columns of units < width free in {0, 1}; the others fixed at 0."""
        J = self.A.shape[0]
        self.width = width
        if J:
            self.h.changeColsBounds(J, np.arange(J, dtype=np.int32), np.zeros(J), (self.unit < width).astype(float))

    # -- solving -------------------------------------------------------------
    def solve(self, *, node_limit: int, time_limit: float | None, hint: np.ndarray | None = None) -> MIPResult:
        hs = self._hs
        h = self.h
        h.setOptionValue("mip_max_nodes", int(max(1, node_limit)))
        h.setOptionValue("time_limit", float(time_limit) if time_limit is not None else self.inf)
        if hint is not None and hint.shape[0] == self.A.shape[0]:
            h.setSolution(hint.shape[0], np.arange(hint.shape[0], dtype=np.int32), hint.astype(float))
        h.run()
        st = h.getModelStatus()
        info = h.getInfo()
        nodes = int(getattr(info, "mip_node_count", 0) or 0)
        M = hs.HighsModelStatus
        if st == M.kOptimal:
            sol = np.asarray(h.getSolution().col_value)
            return MIPResult("feasible", (sol > 0.5).astype(np.uint8), nodes)
        if st in (M.kInfeasible, M.kUnboundedOrInfeasible):
            # every column is bounded, so "unbounded or infeasible" is infeasible
            return MIPResult("infeasible", None, nodes)
        limit = {M.kTimeLimit: "time_limit", M.kSolutionLimit: "node_limit", M.kInterrupt: "interrupted"}.get(
            st, f"highs:{h.modelStatusToString(st)}")
        return MIPResult("limit", None, nodes, limit)


class SatModel:
    """The same sampled program for OR-Tools CP-SAT (integer arithmetic, clause learning).

    CP-SAT needs integer coefficients.  Row g is scaled by K (a power of two
    that brings the largest |coefficient| near 1e9) and rounded:
    a_gj = round(K H_gj).  For every 0/1 choice s,
    |sum_j a_gj s_j - K h_g(s)| <= R_g = sum_j |a_gj - K H_gj| (+ 1 for the
    rounding of K H and K f), so the integer row with bounds widened by R_g
    is implied by the real one: its infeasibility proves the real system
    infeasible, exactly, with no solver tolerance at all (R_g / K ~ 1e-8 is
    far inside the margin).  The model is rebuilt at each solve (milliseconds);
    hints carry the last mask over.  Work is counted in conflicts, which is
    deterministic for one worker.
    """

    def __init__(self, d: int, w: np.ndarray, output: str, design: Design, *, level: float,
                 workers: int = 1, strategy: str = "lp") -> None:
        self.d, self.w, self.output, self.design = d, np.asarray(w, float), output, design
        self.level = float(level)
        self.target = self.level
        self.workers, self.strategy = workers, strategy
        self.A = np.zeros((0, design.column_dim(d)))
        self.b = np.zeros(0)
        self.unit = np.zeros(0, np.int64)
        self.pat = np.zeros(0, np.int64)
        self.X = np.zeros((0, d))
        self.f = np.zeros(0)
        self.H = np.zeros((0, 0))  # (points, columns) values, kept for rebuilding
        self.nogoods: list[tuple[np.ndarray, int, float]] = []  # (mask over the columns of its time, |S|, lower error)
        self.width = 0
        self.n_units = 0
        self.local_thetas: np.ndarray | None = None  # d = 2: centres and half-widths of the short rows
        self.local_deltas: np.ndarray | None = None

    @classmethod
    def of_points(cls, m: PointMIP, *, workers: int = 1, strategy: str = "lp") -> "SatModel":
        """The system a HiGHS model holds now, for CP-SAT to re-prove: the same columns, sample,
        width, level, active no-goods and at-most-one rows (``solve`` builds all of them)."""
        sat = cls(m.d, m.w, m.output, m.design, level=m.level, workers=workers, strategy=strategy)
        if "target_values" in m.__dict__:  # a network target (solvers/targets.py): no one-neuron local rows
            sat.target_values = m.target_values  # type: ignore[method-assign]
        sat.target = m.target
        sat.A, sat.b, sat.unit, sat.pat = m.A, m.b, m.unit, m.pat
        sat.X, sat.f = m.X, m.f
        sat.H = sat._values(m.X, m.A, m.b) if m.A.shape[0] else np.zeros((m.X.shape[0], 0))
        sat.nogoods = [(x, size, bad) for x, (_, size, bad) in zip(m.nogood_masks, m.nogoods)]
        sat.width, sat.n_units = m.width, m.n_units
        return sat

    def _values(self, X: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.design.values(X, A, b)

    def target_values(self, X: np.ndarray) -> np.ndarray:
        return np.maximum(X @ self.w, 0.0)

    def add_units(self, U: np.ndarray, v: np.ndarray) -> None:
        if U.shape[0] == 0:
            return
        A, b, unit, pat = self.design.columns(U, v, first_unit=self.n_units)
        self.H = np.hstack([self.H, self._values(self.X, A, b)])
        self.A = np.vstack([self.A, A])
        self.b = np.concatenate([self.b, b])
        self.unit = np.concatenate([self.unit, unit])
        self.pat = np.concatenate([self.pat, pat])
        self.n_units += U.shape[0]

    def add_points(self, X: np.ndarray) -> None:
        if X.shape[0] == 0:
            return
        self.H = np.vstack([self.H, self._values(X, self.A, self.b)])
        self.X = np.vstack([self.X, X])
        self.f = np.concatenate([self.f, self.target_values(X)])

    def set_level(self, level: float, target: float | None = None) -> None:
        self.level = float(level)
        self.target = self.level if target is None else float(target)

    def _add_local_rows(self, p, cols: np.ndarray, K: float, lvl: float) -> None:
        """The short second-difference rows (see :func:`second_difference_rows`), rounded outwards."""
        R, lower, upper = second_difference_rows(self.A[cols], self.b[cols], self.w, self.output, lvl,
                                                 self.local_thetas, self.local_deltas)
        for g in range(R.shape[0]):
            j = R.indices[R.indptr[g]:R.indptr[g + 1]]
            if j.size == 0:
                continue
            KR = K * R.data[R.indptr[g]:R.indptr[g + 1]]
            a = np.rint(KR)
            slack = float(np.abs(a - KR).sum()) + 1.0
            total = float(np.abs(a).sum()) + 1.0
            lo = math.ceil(K * lower[g] - slack) if np.isfinite(lower[g]) else -total
            hi = math.floor(K * upper[g] + slack) if np.isfinite(upper[g]) else total
            lo, hi = max(lo, -total), min(hi, total)
            if lo <= -total and hi >= total:
                continue
            if lo > hi:  # a bound beyond every reachable value: the row alone proves "no" (keep its domain valid)
                lo = hi = int(total) if lo > total - 1 else -int(total)
            c = p.constraints.add().linear
            c.vars.extend(j.tolist())
            c.coeffs.extend(a.astype(np.int64).tolist())
            c.domain.extend([int(lo), int(hi)])

    def set_width(self, width: int) -> None:
        self.width = width

    def add_nogood(self, x: np.ndarray, certified_lower: float) -> None:
        self.nogoods.append((x.astype(bool).copy(), int(x.sum()), float(certified_lower)))

    def solve(self, *, node_limit: int, time_limit: float | None, hint: np.ndarray | None = None) -> MIPResult:
        from ortools.sat.python import cp_model

        cols = np.flatnonzero(self.unit < self.width)
        J = cols.shape[0]
        M = cp_model.CpModel()
        p = M.Proto()
        for _ in range(J):
            p.variables.add().domain.extend([0, 1])
        H = self.H[:, cols]
        lvl = self.level
        scale = max(float(np.abs(H).max(initial=0.0)), float(self.f.max(initial=0.0)) + lvl, 1e-300)
        K = 2.0 ** math.floor(math.log2(1e9 / scale))
        KH = K * H
        a = np.rint(KH)
        slack = np.abs(a - KH).sum(axis=1) + 1.0
        total = np.abs(a).sum(axis=1) + 1.0
        hi = np.floor(K * (self.f + lvl) + slack)
        if self.output == "relu":
            need = self.f > lvl
        else:
            need = np.ones(self.f.shape[0], bool)
        lo = np.where(need, np.ceil(K * (self.f - lvl) - slack), -total)
        ai = a.astype(np.int64)
        for g in range(H.shape[0]):
            nz = np.flatnonzero(ai[g])
            c = p.constraints.add().linear
            c.vars.extend(nz.tolist())
            c.coeffs.extend(ai[g, nz].tolist())
            c.domain.extend([int(lo[g]), int(hi[g])])
        # the rows are derived for one-relu columns and the one-neuron target relu(<w, x>)
        one_neuron = "target_values" not in self.__dict__
        if self.local_deltas is not None and self.d == 2 and J and type(self.design) is Design and one_neuron:
            self._add_local_rows(p, cols, K, lvl)
        if self.design.one_per_unit:
            for i in np.unique(self.unit[cols]):
                p.constraints.add().at_most_one.literals.extend(np.flatnonzero(self.unit[cols] == i).tolist())
        for x, size, bad in self.nogoods:
            if bad <= self.target:
                continue
            full = np.zeros(self.A.shape[0], bool)
            full[: x.shape[0]] = x
            if full[np.flatnonzero(self.unit >= self.width)].any():
                continue  # the forbidden mask uses units beyond the width: nothing to forbid here
            coef = np.where(full[cols], -1, 1)
            c = p.constraints.add().linear
            c.vars.extend(range(J))
            c.coeffs.extend(coef.tolist())
            c.domain.extend([1 - size, J + 1])
        if hint is not None and hint.shape[0] == self.A.shape[0]:
            p.solution_hint.vars.extend(range(J))
            p.solution_hint.values.extend(hint[cols].astype(int).tolist())
        S = cp_model.CpSolver()
        prm = S.parameters
        prm.random_seed = 0
        if self.strategy == "portfolio" and self.workers == 1:
            # several search strategies interleaved in one thread: deterministic, and robust for both
            # answers (clause learning without LP proves "no" fastest, LP-guided search finds "yes")
            prm.interleave_search = True
            prm.num_workers = _PORTFOLIO
        else:
            prm.num_workers = int(self.workers)
            prm.linearization_level = 0 if self.strategy == "sat" else 1
        prm.max_number_of_conflicts = int(max(1, node_limit))
        if time_limit is not None:
            prm.max_time_in_seconds = float(time_limit)
        st = S.Solve(M)
        conflicts = int(S.NumConflicts())
        if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            x = np.zeros(self.A.shape[0], np.uint8)
            x[cols] = np.asarray(list(S.ResponseProto().solution)[:J], np.int64) > 0
            return MIPResult("feasible", x, conflicts)
        if st == cp_model.INFEASIBLE:
            return MIPResult("infeasible", None, conflicts)
        if st == cp_model.MODEL_INVALID:
            raise RuntimeError(f"CP-SAT rejected the model: {M.Validate()}")
        limit = "time_limit" if time_limit is not None and S.WallTime() >= 0.99 * time_limit else "conflict_limit"
        return MIPResult("limit", None, conflicts, limit)


def sat_available() -> bool:
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- the cutting-plane loop


@dataclass
class _Budget:
    nodes: int  # B&B nodes (HiGHS) or conflicts (CP-SAT) left
    rounds: int
    deadline: float | None
    work_name: str = "node_limit"
    verify: int = 0  # HiGHS backend: CP-SAT conflicts left for re-proving its "infeasible"

    def time_left(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.perf_counter())

    def exhausted(self) -> str | None:
        if self.nodes <= 0:
            return self.work_name
        if self.rounds <= 0:
            return "max_rounds"
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            return "time_limit"
        return None


@dataclass
class _Stats:
    rounds: int = 0
    work: int = 0  # HiGHS branch-and-bound nodes or CP-SAT conflicts
    evaluations: int = 0
    points_added: int = 0
    nogoods: int = 0
    seconds_mip: float = 0.0
    seconds_eval: float = 0.0
    local_moves: int = 0  # moves of the tabu search
    local_candidates: int = 0  # its choices with no violation on the sample (each then certified or cut)
    seconds_local: float = 0.0
    verifications: int = 0  # HiGHS backend: its "infeasible" re-proved by CP-SAT
    verify_conflicts: int = 0
    verify_candidates: int = 0  # ... where CP-SAT found a solution instead
    seconds_verify: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class CuttingPlaneSolver:
    """The cutting-plane loop over one growing unit prefix (one seed).

    Keeps one warm model for every width and error level asked: a sampled
    point is a valid cut at every width and every level, so the sample only
    grows, and the level (eps + margin) only moves row bounds.
    """

    def __init__(self, setting: Setting, seed: int, w: np.ndarray, U: np.ndarray, v: np.ndarray, eps: float,
                 design: Design, opts: MIPOptions) -> None:
        self.setting, self.seed, self.w = setting, seed, np.asarray(w, float)
        self.U, self.v = U, v
        self.eps, self.design, self.opts = eps, design, opts
        self.model: PointMIP | SatModel | None = None
        self.target_values: Callable[[np.ndarray], np.ndarray] | None = None  # f(X) of a network target
        self.backend = opts.resolved_backend()
        self.stats = _Stats()
        self.local_grid: tuple[np.ndarray, np.ndarray] | None = None  # d = 2: (thetas, deltas) of the short rows

    # -- helpers -------------------------------------------------------------
    def extend_units(self, U: np.ndarray, v: np.ndarray) -> None:
        """The stream grew: U, v are the first units (a prefix extension of the current ones)."""
        self.U, self.v = U, v

    def _model(self, width: int, eps: float) -> PointMIP | SatModel:
        level = eps + self.opts.no_margin
        if self.model is None:
            if self.backend == "cpsat":
                self.model = SatModel(self.setting.d, self.w, self.setting.output, self.design, level=level,
                                      workers=self.opts.workers, strategy=self.opts.sat_strategy)
            else:
                self.model = PointMIP(self.setting.d, self.w, self.setting.output, self.design, level=level)
            if self.target_values is not None:
                self.model.target_values = self.target_values  # type: ignore[method-assign]
            X0 = initial_points(self.setting, self.w, self.seed, self.eps, self.opts)
            self.model.add_points(X0)
            if self.setting.d == 2 and self.opts.local_rows:
                # CP-SAT's short rows, centred on the first grid (also for re-proving a HiGHS "infeasible")
                step = _TWO_PI / X0.shape[0]
                deltas = step * np.array(_LOCAL_SCALES[: self.opts.local_rows])
                self.local_grid = (np.arctan2(X0[:, 1], X0[:, 0]), deltas[deltas < 0.45 * np.pi])
            if isinstance(self.model, SatModel) and self.local_grid is not None:
                self.model.local_thetas, self.model.local_deltas = self.local_grid
        m = self.model
        m.set_level(level, eps)
        upto = self.design.usable_units(width)
        if m.n_units < upto:
            m.add_units(self.U[m.n_units:upto], self.v[m.n_units:upto])
        m.set_width(width)
        return m

    def evaluate(self, masks: Masks, width: int, eps: float | None) -> ErrorBound:
        """prunegap's own certified error of a mask (exact in d <= 2)."""
        t0 = time.perf_counter()
        A, b = masks.apply(self.U[:width], self.v[:width])
        s = self.setting
        extra: dict[str, Any] = {"max_cells": self.opts.max_cells} if s.d >= 3 else {}
        r = network_error(A, b, self.w, output=s.output, norm="sup", tol=self.opts.tol, eps=eps,
                          n_witnesses=self.opts.witnesses if s.d >= 3 else 1, **extra)
        self.stats.evaluations += 1
        self.stats.seconds_eval += time.perf_counter() - t0
        return r

    def _new_points(self, model: PointMIP, masks: Masks, width: int, ticket: ErrorBound, bound: float) -> np.ndarray:
        A, b = masks.apply(self.U[:width], self.v[:width])
        X = violation_points(A, b, self.w, self.setting.output, bound, ticket, self.opts.max_new_points)
        if X.shape[0] and self.opts.near_cut < 1.0:
            # also the peaks that came close: they would stop the next, similar, candidate
            Y = violation_points(A, b, self.w, self.setting.output, self.opts.near_cut * bound, ticket,
                                 self.opts.max_new_points)
            X = np.vstack([X, Y])
        if X.shape[0] and model.X.shape[0]:
            # a point already in the sample cannot cut the candidate off again
            dist = np.min(np.linalg.norm(X[:, None, :] - model.X[None, :, :], axis=2), axis=1)
            X = X[dist > 1e-12]
        return X

    def budget(self) -> _Budget:
        o = self.opts
        work = o.conflict_limit if self.backend == "cpsat" else o.node_limit
        return _Budget(work, o.max_rounds, None if o.time_limit is None else time.perf_counter() + o.time_limit,
                       "conflict_limit" if self.backend == "cpsat" else "node_limit",
                       verify=o.conflict_limit if self.backend == "highs" else 0)

    def _mip(self, model: PointMIP, budget: _Budget, hint: np.ndarray | None) -> MIPResult:
        t0 = time.perf_counter()
        r = model.solve(node_limit=budget.nodes, time_limit=budget.time_left(), hint=hint)
        if r.limit == "node_limit" and budget.work_name != "node_limit":
            r.limit = budget.work_name
        budget.nodes -= max(r.nodes, 1)
        budget.rounds -= 1
        self.stats.rounds += 1
        self.stats.work += r.nodes
        self.stats.seconds_mip += time.perf_counter() - t0
        return r

    def _reprove(self, model: PointMIP, budget: _Budget, hint: np.ndarray | None) -> MIPResult:
        """CP-SAT on the system a HiGHS "infeasible" is about (docs/theory.md section 5: every "no"
        is checked independently of solver tolerances): "infeasible" is then a proof in exact
        integer arithmetic, "feasible" a candidate HiGHS missed, "limit" no proof at all."""
        if not sat_available():
            return MIPResult("limit", None, 0, "ortools_missing")
        if budget.verify <= 0:
            return MIPResult("limit", None, 0, "conflict_limit")
        t0 = time.perf_counter()
        sat = SatModel.of_points(model, workers=self.opts.workers, strategy=self.opts.sat_strategy)
        if self.local_grid is not None:
            sat.local_thetas, sat.local_deltas = self.local_grid
        r = sat.solve(node_limit=budget.verify, time_limit=budget.time_left(), hint=hint)
        budget.verify -= max(r.nodes, 1)
        self.stats.verifications += 1
        self.stats.verify_conflicts += r.nodes
        self.stats.verify_candidates += r.status == "feasible"
        self.stats.seconds_verify += time.perf_counter() - t0
        return r

    def _local(self, model: PointMIP | SatModel, width: int, eps: float, x0: np.ndarray | None,
               moves: int) -> LocalResult | None:
        """The tabu search on the current sample at level eps (None when the arrays would be too large)."""
        cols = np.flatnonzero(model.unit < width)
        m = model.X.shape[0]
        if cols.size == 0 or m * cols.size > _LOCAL_MAX_ENTRIES:
            return None
        t0 = time.perf_counter()
        if isinstance(model, SatModel) and model.H.shape == (m, model.A.shape[0]):
            H = model.H[:, cols]
        else:
            H = self.design.values(model.X, model.A[cols], model.b[cols])
        f = model.f
        hi = f + eps
        lo = np.where(f > eps, f - eps, -np.inf) if self.setting.output == "relu" else f - eps
        r = local_search(H, lo, hi, group=model.unit[cols], x0=None if x0 is None else x0[cols], steps=moves,
                         rng=stream_generator(self.seed, _LOCAL_STREAM, width))
        x = np.zeros(model.A.shape[0], np.uint8)
        x[cols] = r.x
        self.stats.local_moves += r.steps
        self.stats.seconds_local += time.perf_counter() - t0
        return LocalResult(x, r.max_violation, r.steps)

    def _stats(self, **more: Any) -> dict[str, Any]:
        return {**self.stats.as_dict(), "backend": self.backend, "no_margin": self.opts.no_margin,
                "points": int(self.model.X.shape[0]) if self.model is not None else 0, **more}

    def _columns_of(self, masks: Masks | None, model: PointMIP) -> np.ndarray | None:
        """The column vector of a mask (None when the design cannot express it)."""
        if masks is None:
            return None
        P = self.design.patterns(self.setting.d)
        x = np.zeros(model.A.shape[0], np.uint8)
        live = masks.canonical()
        for i in np.flatnonzero(live.output_mask):
            hit = np.flatnonzero(np.all(P == live.hidden_mask[i], axis=1))
            cols = np.flatnonzero((model.unit == i) & (model.pat == (hit[0] if hit.size else -1)))
            if cols.size == 0:
                return None
            x[cols] = 1
        return x

    # -- feasibility ---------------------------------------------------------
    def feasible(self, width: int, eps: float | None = None, *, budget: _Budget | None = None,
                 hint: Masks | None = None, local: bool = True) -> tuple[Outcome, tuple[Masks, ErrorBound] | None]:
        """yes (certified mask), no (proof on the sample at eps + margin) or unknown (a limit).

        Also returns the best candidate seen (mask and certified error), whatever the status.
        ``local=False`` skips the tabu search whatever the options say.
        """
        eps = self.eps if eps is None else eps
        budget = budget if budget is not None else self.budget()
        model = self._model(width, eps)
        best: tuple[Masks, ErrorBound] | None = None
        hint_x = self._columns_of(hint, model)
        # tabu-search moves left for this decision
        moves = self.opts.resolved_local_search(self.setting.d, self.design) if local else 0
        while True:
            stop = budget.exhausted()
            if stop is not None:
                return self._unknown(eps, width, best, stop), best
            found = None
            if moves > 0:
                # first the cheap heuristic; the exact solver takes over for good once it fails
                tabu = self._local(model, width, eps, hint_x, moves)
                moves = 0 if tabu is None or tabu.max_violation > 0.0 else moves - max(tabu.steps, 1)
                if tabu is not None and tabu.max_violation == 0.0:
                    found = tabu.x
                    self.stats.local_candidates += 1
            from_local = found is not None
            proof = "sample-infeasible"
            if from_local:
                r = MIPResult("feasible", found, 0)
            else:
                r = self._mip(model, budget, hint_x)
                if r.status == "infeasible" and isinstance(model, PointMIP):
                    # HiGHS works to a tolerance: its "infeasible" is no certificate until CP-SAT, exact on
                    # outward-rounded rows, proves the same system infeasible; a solution it finds is a
                    # candidate like any other
                    r = self._reprove(model, budget, hint_x)
                    if r.status == "limit":
                        return self._unknown(eps, width, best, "unverified_infeasible", unverified=r.limit), best
                    proof = "sample-infeasible (highs, verified by cpsat)"
                hint_x = None
                found = r.x
            if r.status == "infeasible":
                # sampled constraints are necessary: no mask reaches eps + margin anywhere,
                # but for the few masks excluded one by one, each certified above eps
                lower = min([eps + 0.5 * self.opts.no_margin] + [bad for _, _, bad in model.nogoods if bad > eps])
                o = Outcome.from_bounds(eps, None, lower, math.inf, stats=self._stats(
                    proof=proof, proof_width=width,
                    nogoods=sum(bad > eps for _, _, bad in model.nogoods)))
                return o, best
            if found is None:
                return self._unknown(eps, width, best, r.limit or "node_limit"), best
            masks = self.design.masks(found, model.unit, model.pat, width, self.setting.d)
            ticket = self.evaluate(masks, width, eps)
            if best is None or ticket.upper < best[1].upper:
                best = (masks, ticket)
            if ticket.upper <= eps:
                return Outcome.from_bounds(eps, masks, 0.0, ticket.upper, ticket_error=ticket,
                                           stats=self._stats()), best
            if from_local:
                # the heuristic's rejected candidate starts its next round (and is CP-SAT's hint should
                # that round fail)
                hint_x = found
            X = self._new_points(model, masks, width, ticket, eps)
            if X.shape[0] == 0:
                moves = 0  # the heuristic ignores no-goods: it would find this mask again
                if ticket.lower > eps:
                    # its error is in (eps, eps + margin] at sampled points: no point cuts it, a no-good does
                    model.add_nogood(found, ticket.lower)
                    self.stats.nogoods += 1
                    continue
                if from_local:
                    continue  # the exact solver may find a candidate the evaluator can place
                # d >= 3: the evaluator's interval straddles eps and shows no point above it
                return self._unknown(eps, width, best, "evaluator_undecided"), best
            model.add_points(X)
            self.stats.points_added += X.shape[0]

    def _unknown(self, eps: float, width: int, best, limit: str, **more: Any) -> Outcome:
        masks, ticket = best if best is not None else (None, None)
        upper = ticket.upper if ticket is not None else math.inf
        return Outcome.from_bounds(eps, masks, 0.0, upper, ticket_error=ticket, limit=limit,
                                   stats=self._stats(**more))

    # -- minimal error -------------------------------------------------------
    def min_error(self, width: int) -> Outcome:
        """The smallest sup error over all masks of the design at this width, as [lower, upper].

        Bisection on the level z with the feasibility loop: a certified mask
        of error e lowers upper to e; a proof at z + margin raises lower to
        z + margin / 2 (every mask's error exceeds it).  The first probe is
        eps, so the verdict against eps is settled first.  Stops when
        upper - lower <= min_error_rtol * upper + no_margin, or at a limit.
        """
        o = self.opts
        budget = self.budget()
        d = self.setting.d
        best_m = Masks.empty(width, d)
        best_t = self.evaluate(best_m, width, None)
        lower = 0.0
        limit = None
        z = self.eps
        probes = 0
        while best_t.upper - lower > o.min_error_rtol * best_t.upper + o.no_margin:
            if not lower < z < best_t.upper:
                z = 0.5 * (lower + best_t.upper)
            r, seen = self.feasible(width, z, budget=budget, hint=best_m if best_m.kept_units else None)
            probes += 1
            if seen is not None and seen[1].upper < best_t.upper:
                best_m, best_t = seen
            if r.status == "no":
                lower = max(lower, r.error_lower)
            elif r.status == "unknown" and r.limit != "evaluator_undecided":
                limit = r.limit
                break
            elif r.status == "unknown" and (seen is None or seen[1].upper > z + o.no_margin):
                limit = r.limit  # d >= 3: the evaluator cannot place the candidate against z
                break
            z = 0.5 * (lower + best_t.upper)
        lower = min(lower, best_t.upper)
        return Outcome.from_bounds(self.eps, best_m, lower, best_t.upper, ticket_error=best_t, limit=limit,
                                   stats=self._stats(objective="min-error", probes=probes))


def cutting_plane_solver(setting: Setting, seed: int, w: np.ndarray, U: np.ndarray, v: np.ndarray, eps: float,
                         design: Design, opts: MIPOptions) -> CuttingPlaneSolver:
    """The loop for the setting's target: one neuron here, a network in :mod:`.targets`."""
    if getattr(setting, "target", "neuron") == "network":
        from .targets import NetworkCuttingPlaneSolver

        return NetworkCuttingPlaneSolver(setting, seed, w, U, v, eps, design, opts)
    return CuttingPlaneSolver(setting, seed, w, U, v, eps, design, opts)


def _resize(masks: Masks, width: int) -> Masks:
    if masks.width <= width:
        return masks.extend(width)
    if masks.canonical().unit_mask[width:].any():
        raise ValueError("mask uses units beyond the width")
    return Masks(masks.hidden_mask[:width], masks.output_mask[:width])


# --------------------------------------------------------------------------- width search


class WidthOracle:
    """decide(n) on the nested stream, reusing everything between calls.

    Proven facts carry over by nesting: a certified mask with largest live
    unit k - 1 is a yes at every width >= k (its error does not depend on
    the width), and a "no" at width m is a "no" at every width <= m.  The
    sample grows monotonically and is valid at every width, and so is the
    HiGHS model (units beyond the width are fixed to 0).

    With ``descend`` on, a question about width n below the narrowest known
    yes n_u is answered by attacking n_u - 1 instead: a "no" there settles
    n (and every width up to n_u - 1) with the one proof the search needs,
    a "yes" lowers n_u to the new mask's smallest width.
    """

    def __init__(self, stream: UnitStream, eps: float, design: Design, opts: MIPOptions) -> None:
        self.stream, self.eps, self.design, self.opts = stream, eps, design, opts
        self.setting = stream.setting
        inst = draw_instance(stream.setting, stream.seed, 1, stream=stream)
        self.w = inst.w
        self.solver = cutting_plane_solver(stream.setting, stream.seed, self.w, inst.U, inst.v, eps, design, opts)
        self.yes: Outcome | None = None  # certified mask, at width yes_width
        self.yes_width: int | None = None
        self.no: Outcome | None = None
        self.no_width = 0
        self.calls = 0
        self.deadline = None if opts.search_time_limit is None else time.perf_counter() + opts.search_time_limit

    def _grow(self, width: int) -> None:
        if self.solver.U.shape[0] < width:
            U, v = self.stream.take(width)
            self.solver.extend_units(U, v)

    def _from_yes(self, width: int) -> Outcome:
        y = self.yes
        assert y is not None and y.masks is not None
        return Outcome(y.status, _resize(y.masks, width), y.error_lower, y.error_upper, ticket_error=y.ticket_error,
                       limit=None, stats={**y.stats, "reused_from_width": self.yes_width})

    def _from_no(self, width: int) -> Outcome:
        n = self.no
        assert n is not None
        return Outcome(n.status, None, n.error_lower, math.inf, limit=None,
                       stats={**n.stats, "proof_width": self.no_width})

    def _record(self, width: int, r: Outcome) -> None:
        if r.status == "yes" and r.masks is not None:
            k = max(1, r.masks.support_width)
            if self.yes_width is None or k < self.yes_width:
                self.yes, self.yes_width = r, k
        elif r.status == "no" and width > self.no_width:
            self.no, self.no_width = r, width

    def __call__(self, width: int) -> Outcome:
        self.calls += 1
        if self.yes_width is not None and width >= self.yes_width:
            return self._from_yes(width)
        if width <= self.no_width:
            return self._from_no(width)
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            # the whole search is out of time: say so without solving (the search stops on this limit)
            return Outcome.from_bounds(self.eps, None, 0.0, math.inf, limit=SEARCH_TIME_LIMIT, stats={})
        descend = self.opts.descend
        while True:
            target = width
            if descend and self.yes_width is not None and self.yes_width - 1 > width:
                target = self.yes_width - 1
            self._grow(target)
            hint = self.yes.masks if self.yes is not None and self.yes.masks is not None else None
            if hint is not None and hint.support_width > target:
                hint = None
            t0 = time.perf_counter()
            work0 = self.solver.stats.work
            budget = self.solver.budget()
            if self.deadline is not None:
                left = self.deadline - t0
                if self.yes_width is None:
                    # no width is certified yet: a width near n* can eat any budget, while a wider one is
                    # usually quick; spend a share here and let the galloping move on
                    left *= self.opts.gallop_share
                budget.deadline = t0 + left if budget.deadline is None else min(budget.deadline, t0 + left)
            # the tabu search gives the first upper bound; below it CP-SAT's own tickets are the more compact
            r, _ = self.solver.feasible(target, budget=budget, local=self.yes is None)
            log.debug("width %d (asked %d): %s in %.2fs, work %d, points %d, best error %.6g", target, width, r.status,
                      time.perf_counter() - t0, self.solver.stats.work - work0, self.solver._stats()["points"],
                      r.error_upper)
            self._record(target, r)
            if self.yes_width is not None and width >= self.yes_width:
                return self._from_yes(width)
            if width <= self.no_width:
                return self._from_no(width)
            if r.status == "unknown":
                if target > width:
                    descend = False  # the proof one below n_u did not close: decide n itself
                    continue
                return r
            # a yes at target above width lowered yes_width: loop and attack the new n_u - 1


# --------------------------------------------------------------------------- the Method classes


class MIPMethod:
    """Shared Method implementation; subclasses set ``paradigm``, ``name``, ``design``."""

    paradigm = ""
    name = ""
    design: Design = NEURON
    solver_options: tuple[str, ...] = tuple(MIPOptions.__dataclass_fields__)  # knobs a sweep may set

    def monotone(self, setting: Setting) -> bool:
        # Exact answers: yes at n is yes at every wider prefix (nesting).
        return True

    def _check(self, setting: Setting) -> None:
        from ..exceptions import InvalidArgument

        if setting.norm != "sup":
            raise InvalidArgument(f"norm must be 'sup' for the {self.paradigm}/{self.name} solver, got {setting.norm!r}")

    def check_options(self, options: dict[str, Any]) -> None:
        """Raises InvalidArgument for a bad option value (a sweep checks its studies with this up front)."""
        MIPOptions.from_kwargs(options)

    def solve(self, instance: Instance, eps: float, *, objective: str = "feasible", **options: Any) -> Outcome:
        check_choice("objective", objective, OBJECTIVES)
        eps = check_positive_float("eps", eps)
        self._check(instance.setting)
        opts = MIPOptions.from_kwargs(options)
        t0 = time.perf_counter()
        solver = cutting_plane_solver(instance.setting, instance.seed, instance.w, instance.U, instance.v, eps,
                                    self.design, opts)
        if objective == "min-error":
            r = solver.min_error(instance.width)
        else:
            r, _ = solver.feasible(instance.width)
        r.stats["seconds"] = time.perf_counter() - t0
        return r

    def oracle(self, stream: UnitStream, eps: float, **options: Any) -> Callable[[int], Outcome]:
        eps = check_positive_float("eps", eps)
        self._check(stream.setting)
        return WidthOracle(stream, eps, self.design, MIPOptions.from_kwargs(options))
