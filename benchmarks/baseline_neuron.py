"""The straightforward neuron-pruning width search, kept only as a benchmark reference.

For each width asked by galloping + bisection (prunegap.search.minimal_width):
build a HiGHS MILP from scratch on a fixed grid of ceil(8 / eps) circle points,
solve it, and check the candidate on 200,000 circle points.  Infeasible ->
"no"; a candidate within eps on the check points -> "yes".  A candidate the
check rejects has its violated check points (one per violated run, at most
50) added to that width's grid, and the MILP is solved again from scratch
(at most ``max_rounds`` times, then the width counts as "unknown").

Nothing is reused between widths, no rounding margin is used, and the check
is a sample, not a certificate: this is the reference for speed, not for
correctness.  d = 2 only.  Run as a script for one (eps, seed) or import
:func:`baseline_width`.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from prunegap.network import UnitStream, draw_instance
from prunegap.search import minimal_width
from prunegap.setting import Setting
from prunegap.solvers.base import Outcome

__all__ = ["baseline_width"]

CHECK_POINTS = 200_000


class _Deadline(Exception):
    pass


def _milp(H: np.ndarray, lo: np.ndarray, hi: np.ndarray, time_limit: float) -> tuple[str, np.ndarray | None]:
    import highspy
    import scipy.sparse as sp

    m, n = H.shape
    h = highspy.Highs()
    h.silent()
    h.setOptionValue("time_limit", max(0.01, float(time_limit)))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = np.zeros(n)
    lp.col_lower_, lp.col_upper_ = np.zeros(n), np.ones(n)
    lp.row_lower_ = np.where(np.isfinite(lo), lo, -highspy.kHighsInf)
    lp.row_upper_ = hi
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    A = sp.csc_matrix(H)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
    h.passModel(lp)
    h.run()
    st = h.getModelStatus()
    if st == highspy.HighsModelStatus.kOptimal:
        return "feasible", (np.asarray(h.getSolution().col_value) > 0.5)
    if st == highspy.HighsModelStatus.kInfeasible:
        return "infeasible", None
    return "limit", None


def baseline_width(setting: Setting, seed: int, eps: float, *, max_width: int = 4096, time_limit: float = 600.0,
                   max_rounds: int = 20) -> dict:
    """n* by the straightforward method; stops (``timed_out``) after ``time_limit`` seconds."""
    if setting.d != 2:
        raise ValueError("the baseline is for d = 2")
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    stream = UnitStream(setting, seed)
    m = math.ceil(8 / eps)
    t = 2 * np.pi * np.arange(m) / m
    grid = np.stack([np.cos(t), np.sin(t)], axis=1)
    tc = 2 * np.pi * np.arange(CHECK_POINTS) / CHECK_POINTS
    check = np.stack([np.cos(tc), np.sin(tc)], axis=1)
    relu = setting.output == "relu"

    def bounds(f):
        lo = np.where(f > eps, f - eps, -np.inf) if relu else f - eps
        return lo, f + eps

    def decide(n: int) -> Outcome:
        inst = draw_instance(setting, seed, n, stream=stream)
        X = grid
        fc = np.maximum(check @ inst.w, 0.0)
        for _ in range(max_rounds):
            left = deadline - time.perf_counter()
            if left <= 0:
                raise _Deadline
            H = np.maximum(X @ inst.U.T, 0.0) * inst.v
            lo, hi = bounds(np.maximum(X @ inst.w, 0.0))
            status, s = _milp(H, lo, hi, left)
            if status == "infeasible":
                return Outcome("no", None, eps, math.inf)
            if status == "limit":
                raise _Deadline
            h = np.maximum(check @ inst.U[s].T, 0.0) @ inst.v[s]
            g = np.maximum(h, 0.0) if relu else h
            err = np.abs(g - fc)
            if err.max() <= eps:
                return Outcome("yes", None, 0.0, float(err.max()))
            bad = err > eps
            starts = np.flatnonzero(bad & ~np.roll(bad, 1))
            ends = np.flatnonzero(bad & ~np.roll(bad, -1))
            if starts.size == 0:  # the whole circle violates
                starts, ends = np.array([0]), np.array([CHECK_POINTS - 1])
            picks = []
            for a, b in zip(starts, ends):
                idx = np.arange(a, b + 1) if b >= a else np.r_[np.arange(a, CHECK_POINTS), np.arange(0, b + 1)]
                picks.append(idx[np.argmax(err[idx])])
            picks = sorted(picks, key=lambda i: -err[i])[:50]
            X = np.vstack([X, check[picks]])
        return Outcome("unknown", None, 0.0, math.inf, limit="max_rounds")

    try:
        r = minimal_width(decide, max_width=max_width)
        return {"n_star": r.n_star, "n_lower": r.n_lower, "n_upper": r.n_upper, "seconds": time.perf_counter() - t0,
                "timed_out": False, "steps": r.steps}
    except _Deadline:
        return {"n_star": None, "n_lower": None, "n_upper": None, "seconds": time.perf_counter() - t0,
                "timed_out": True, "steps": []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eps", type=float, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", default="relu")
    ap.add_argument("--time-limit", type=float, default=600.0)
    a = ap.parse_args()
    print(baseline_width(Setting(d=2, output=a.output), a.seed, a.eps, time_limit=a.time_limit))


if __name__ == "__main__":
    main()
