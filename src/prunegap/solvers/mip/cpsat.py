"""The CP-SAT model of the sampled program: exact integer rows, rounded outwards (docs/theory.md §5).

OR-Tools CP-SAT (``backend="cpsat"``, used by ``"auto"`` when installed)
rebuilds the model each round in milliseconds and, on these
subset-sum-like programs, proves "no" and finds "yes" several times faster
than HiGHS (clause learning; see benchmarks/bench_neuron.py).  Its
infeasibility proof needs no solver tolerance at all, so it also re-proves
every HiGHS "infeasible" (:meth:`SatModel.of_points`).
"""

from __future__ import annotations

import math

import numpy as np

from ...targets import AnyTarget, NeuronTarget
from .design import Design
from .program import MIPResult, SampledProgram
from .sample import second_difference_rows

__all__ = ["SatModel"]

_PORTFOLIO = 4  # CP-SAT subsolvers interleaved in one thread by sat_strategy="portfolio"


class SatModel(SampledProgram):
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

    def __init__(self, d: int, target: AnyTarget, output: str, design: Design, *, level: float,
                 workers: int = 1, strategy: str = "lp") -> None:
        super().__init__(d, target, output, design, level=level)
        self.workers, self.strategy = workers, strategy
        self.H = np.zeros((0, 0))  # (points, columns) values, kept for rebuilding
        self.local_thetas: np.ndarray | None = None  # d = 2: centres and half-widths of the short rows
        self.local_deltas: np.ndarray | None = None

    @classmethod
    def of_points(cls, m: SampledProgram, *, workers: int = 1, strategy: str = "lp") -> "SatModel":
        """The system another model (HiGHS's) holds now, for CP-SAT to re-prove: the same columns, sample,
        width, level, active no-goods and at-most-one rows (``solve`` builds all of them)."""
        sat = cls(m.d, m.target, m.output, m.design, level=m.level, workers=workers, strategy=strategy)
        sat.copy_sample(m)
        sat.H = sat.values(m.X, m.A, m.b) if m.A.shape[0] else np.zeros((m.X.shape[0], 0))
        return sat

    def _on_columns(self, A: np.ndarray, b: np.ndarray, k: int) -> None:
        self.H = np.hstack([self.H, self.values(self.X, A, b)])

    def _on_points(self, X: np.ndarray, f: np.ndarray) -> None:
        self.H = np.vstack([self.H, self.values(X, self.A, self.b)])

    def _add_local_rows(self, p, cols: np.ndarray, K: float, lvl: float) -> None:
        """The short second-difference rows (see :func:`second_difference_rows`), rounded outwards."""
        assert isinstance(self.target, NeuronTarget)
        R, lower, upper = second_difference_rows(self.A[cols], self.b[cols], self.target.w, self.output, lvl,
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

    def solve(self, *, node_limit: int, time_limit: float | None, hint: np.ndarray | None = None) -> MIPResult:
        from ortools.sat.python import cp_model  # lazy: a heavy optional library

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
        one_neuron = isinstance(self.target, NeuronTarget)
        if self.local_deltas is not None and self.d == 2 and J and type(self.design) is Design and one_neuron:
            self._add_local_rows(p, cols, K, lvl)
        if self.design.one_per_unit:
            for i in np.unique(self.unit[cols]):
                p.constraints.add().at_most_one.literals.extend(np.flatnonzero(self.unit[cols] == i).tolist())
        for x, size, bad in self.nogoods:
            if bad <= self.eps:
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
        self.n_constraints = len(p.constraints)
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
