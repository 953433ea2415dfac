"""The cutting-plane loop of the MIP: one warm sampled program per seed, candidates certified by the evaluator.

The loop (docs/theory.md §5)

    1. solve the integer program on the sample (HiGHS or CP-SAT),
    2. infeasible -> "no";  a candidate s -> evaluate it on the whole sphere
       with prunegap's evaluator (exact in d = 2, a certified interval else),
    3. certified error <= eps -> "yes"; otherwise add the candidate's worst
       points to the sample and repeat,

serves every target: the program's rows need only the target's values at
the sampled points, and candidates are certified by the target's own
evaluator (:func:`prunegap.errors.target_error`).  See :mod:`prunegap.solvers.mip`
for the soundness of its answers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import streams
from ...errors import ErrorBound, target_error
from ...exceptions import InvalidArgument
from ...masks import Masks
from ...setting import Setting
from ...streams import stream_generator
from ...targets import AnyTarget, NeuronTarget, TargetNetwork
from ..base import Outcome
from ..local import LocalResult, local_search
from .cpsat import SatModel
from .design import Design
from .highs import PointMIP
from .options import LOCAL_SCALES, MIPOptions, sat_available
from .program import MIPResult, SampledProgram
from .sample import cut_points, initial_points, sample_anchor

__all__ = ["CuttingPlaneSolver"]

_TWO_PI = 2.0 * math.pi
_LOCAL_MAX_ENTRIES = 4_000_000  # the tabu search holds a few (points x columns) arrays: skip it beyond this


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

    def __init__(self, setting: Setting, seed: int, target: AnyTarget, U: np.ndarray, v: np.ndarray, eps: float,
                 design: Design, opts: MIPOptions) -> None:
        if isinstance(target, TargetNetwork) and target.depth != 1:
            raise InvalidArgument(
                f"target_depth must be 1 for pruning a two-layer random network (the masks enter linearly only "
                f"there), got {target.depth}; weight pruning of deeper targets: --paradigm weight --method construction"
            )
        self.setting, self.seed, self.target = setting, seed, target
        self.U, self.v = U, v
        self.eps, self.design, self.opts = eps, design, opts
        self.model: PointMIP | SatModel | None = None
        # Cuts of a one-neuron target in d = 2 come from the exact breakpoint decomposition, and in d >= 3
        # from the evaluator's witnesses; every cut of a network target is a witness, so it asks for more.
        one_neuron = isinstance(target, NeuronTarget)
        self.n_witnesses = (opts.witnesses if setting.d >= 3 else 1) if one_neuron else max(opts.witnesses, 8)
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
                self.model = SatModel(self.setting.d, self.target, self.setting.output, self.design, level=level,
                                      workers=self.opts.workers, strategy=self.opts.sat_strategy)
            else:
                self.model = PointMIP(self.setting.d, self.target, self.setting.output, self.design, level=level)
            X0 = initial_points(self.setting, sample_anchor(self.target, self.seed), self.seed, self.eps, self.opts)
            self.model.add_points(X0)
            if self.setting.d == 2 and self.opts.local_rows:
                # CP-SAT's short rows, centred on the first grid (also for re-proving a HiGHS "infeasible")
                step = _TWO_PI / X0.shape[0]
                deltas = step * np.array(LOCAL_SCALES[: self.opts.local_rows])
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
        """prunegap's own certified error of a mask against the target (:func:`prunegap.errors.target_error`)."""
        t0 = time.perf_counter()
        A, b = masks.apply(self.U[:width], self.v[:width])
        o = self.opts
        r = target_error(A, b, self.target, output=self.setting.output, norm="sup", seed=self.seed, tol=o.tol, eps=eps,
                         n_witnesses=self.n_witnesses, max_cells=o.max_cells)
        self.stats.evaluations += 1
        self.stats.seconds_eval += time.perf_counter() - t0
        return r

    def _new_points(self, model: SampledProgram, masks: Masks, width: int, ticket: ErrorBound,
                    bound: float) -> np.ndarray:
        A, b = masks.apply(self.U[:width], self.v[:width])
        X = cut_points(A, b, self.target, self.setting.output, bound, ticket, self.opts.max_new_points)
        if X.shape[0] and self.opts.near_cut < 1.0:
            # also the peaks that came close: they would stop the next, similar, candidate
            Y = cut_points(A, b, self.target, self.setting.output, self.opts.near_cut * bound, ticket,
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

    def _mip(self, model: SampledProgram, budget: _Budget, hint: np.ndarray | None) -> MIPResult:
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

    def _local(self, model: SampledProgram, width: int, eps: float, x0: np.ndarray | None,
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
                         rng=stream_generator(self.seed, streams.LOCAL_SEARCH, width))
        x = np.zeros(model.A.shape[0], np.uint8)
        x[cols] = r.x
        self.stats.local_moves += r.steps
        self.stats.seconds_local += time.perf_counter() - t0
        return LocalResult(x, r.max_violation, r.steps)

    def _stats(self, **more: Any) -> dict[str, Any]:
        m = self.model
        return {**self.stats.as_dict(), "backend": self.backend, "no_margin": self.opts.no_margin,
                "points": int(m.X.shape[0]) if m is not None else 0, "rows": int(m.n_constraints) if m is not None else 0,
                "columns": int(np.count_nonzero(m.unit < m.width)) if m is not None else 0, **more}

    def _columns_of(self, masks: Masks | None, model: SampledProgram) -> np.ndarray | None:
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
