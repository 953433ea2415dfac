"""The HiGHS model of the sampled program: one warm MIP, changed in place (docs/theory.md §5).

HiGHS (``backend="highs"``, always available) keeps one model and adds rows
and columns in place.  It works to a feasibility tolerance (1e-9 here, in
floating point), so its "infeasible" is never a certificate by itself: the
loop has CP-SAT re-prove it on the same system (:meth:`SatModel.of_points`).
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import scipy.sparse as sp

from ...targets import AnyTarget
from .design import Design
from .program import MIPResult, SampledProgram

__all__ = ["PointMIP"]


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
    import highspy  # lazy: a heavy library, needed only once a MIP is solved

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


class PointMIP(SampledProgram):
    """The HiGHS backend: binary columns s_j, and one ranged row per sampled point (:mod:`.program`).

    Columns, rows, the level and the width (columns of units >= width are
    fixed at 0) change in place: the model stays warm, and the sample is
    valid at every width and level.
    """

    def __init__(self, d: int, target: AnyTarget, output: str, design: Design, *, level: float) -> None:
        import highspy  # lazy: a heavy library, needed only once a MIP is solved

        super().__init__(d, target, output, design, level=level)
        self._hs = highspy
        self.inf = highspy.kHighsInf
        self.h = _highs()
        self.rows = np.zeros(0, np.int64)  # model row of each point
        self.nogood_rows: list[int] = []  # model row of each no-good
        self.n_rows = 0

    def _bounds(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lvl = self.level
        hi = f + lvl
        if self.output == "relu":
            lo = np.where(f > lvl, f - lvl, -self.inf)
        else:
            lo = f - lvl
        return lo, hi

    def _on_columns(self, A: np.ndarray, b: np.ndarray, k: int) -> None:
        J0, J = self.A.shape[0], A.shape[0]
        if self.X.shape[0]:
            C = sp.csc_matrix(self.values(self.X, A, b))
            index = self.rows[C.indices].astype(np.int32)
            self.h.addCols(J, np.zeros(J), np.zeros(J), np.zeros(J), C.nnz, C.indptr[:-1].astype(np.int32), index,
                           C.data.astype(float))
        else:
            self.h.addVars(J, np.zeros(J), np.zeros(J))
        idx = np.arange(J0, J0 + J, dtype=np.int32)
        self.h.changeColsIntegrality(J, idx, np.full(J, self._hs.HighsVarType.kInteger))
        for row in self.nogood_rows:  # a no-good forbids one mask: new columns are outside it
            for j in idx:
                self.h.changeCoeff(row, int(j), 1.0)
        if self.design.one_per_unit:
            p = self.design.patterns(self.d).shape[0]
            self.h.addRows(k, np.full(k, -self.inf), np.ones(k), J, (np.arange(k) * p).astype(np.int32), idx, np.ones(J))
            self.n_rows += k

    def _on_points(self, X: np.ndarray, f: np.ndarray) -> None:
        k = X.shape[0]
        lo, hi = self._bounds(f)
        H = self.values(X, self.A, self.b) if self.A.shape[0] else np.zeros((k, 0))
        R = sp.csr_matrix(H)
        self.h.addRows(k, lo, hi, R.nnz, R.indptr[:-1].astype(np.int32), R.indices.astype(np.int32),
                       R.data.astype(float))
        self.rows = np.concatenate([self.rows, np.arange(self.n_rows, self.n_rows + k)])
        self.n_rows += k

    def set_level(self, level: float, eps: float | None = None) -> None:
        before = self.level
        super().set_level(level, eps)
        for row, (_, size, bad) in zip(self.nogood_rows, self.nogoods):
            self.h.changeRowBounds(row, float(1 - size) if bad > self.eps else -self.inf, self.inf)
        k = self.rows.shape[0]
        if self.level != before and k:
            lo, hi = self._bounds(self.f)
            self.h.changeRowsBounds(k, self.rows.astype(np.int32), lo, hi)

    def _on_nogood(self, S: np.ndarray) -> None:
        coef = np.where(S, -1.0, 1.0)
        size = int(S.sum())
        idx = np.arange(S.shape[0], dtype=np.int32)
        self.h.addRow(float(1 - size), self.inf, S.shape[0], idx, coef)
        self.nogood_rows.append(self.n_rows)
        self.n_rows += 1

    def set_width(self, width: int) -> None:
        super().set_width(width)
        J = self.A.shape[0]
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
        self.n_constraints = 2 * self.X.shape[0] + len(self.nogoods)  # each point is a ranged row (two inequalities)
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
