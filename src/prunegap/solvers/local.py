"""A primal heuristic for the sampled pruning programs: tabu search with breakout weights.

The integer programs of :mod:`prunegap.solvers.mip` ask for a 0/1 choice x of
columns with lo <= H x <= hi at the sampled points (at most one column per
group: a unit's input patterns).  Exact solvers prove "no" well but can fail
to find any "yes" at widths far above n*, where tickets are plentiful (d = 3,
eps = 0.05, seed 1: CP-SAT finds no ticket at widths 128 to 4096 in 5 to 22 s
each; this search finds one at 1024 in 11 moves).  So each decision may first try a few
hundred moves of this search:

* a move flips one column (adding a column drops the other column of its
  group, if any);
* the move taken minimizes the weighted sum of the row violations, where a
  row's weight grows by one each step it stays violated (breakout: the search
  leaves local minima by making their violated rows dearer);
* a flipped column is tabu for a few moves, unless flipping it back would
  give the smallest maximum violation seen (aspiration).

It is a heuristic and never decides anything: a choice with no violation on
the sample is only a candidate, which the caller certifies on the whole
sphere like any solver's candidate.  Pure function of its arguments (the
Generator only draws the tabu tenures).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LocalResult", "local_search", "violation"]


@dataclass(frozen=True)
class LocalResult:
    x: np.ndarray  # best choice seen (uint8, one entry per column)
    max_violation: float  # its largest row violation (0: feasible on the sample)
    steps: int  # moves made


def violation(h: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Row violations max(h - hi, lo - h, 0) (lo may be -inf)."""
    return np.maximum(np.maximum(h - hi, lo - h), 0.0)


def local_search(H: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, group: np.ndarray, x0: np.ndarray | None,
                 steps: int, rng: np.random.Generator, tenure: tuple[int, int] = (3, 10)) -> LocalResult:
    """Search x in {0,1}^J, at most one column per ``group`` value, with lo <= H x <= hi.

    Stops at the first choice with no violation, or after ``steps`` moves.
    """
    m, J = H.shape
    x = np.zeros(J, bool) if x0 is None else np.asarray(x0, bool).copy()
    groups = np.unique(group, return_inverse=True)[1] if J else np.zeros(0, np.int64)
    active = np.full(int(groups.max(initial=-1)) + 1, -1, np.int64)  # the kept column of each group
    for j in np.flatnonzero(x):
        if active[groups[j]] >= 0:
            x[j] = False  # keep the first column of a group that has several
        else:
            active[groups[j]] = j
    h = H @ x.astype(float)
    v = violation(h, lo, hi)
    best_x, best = x.copy(), float(v.max(initial=0.0))
    weight = np.ones(m)
    tabu = np.zeros(J, np.int64)
    shared = len(active) < J  # some group has several columns
    step = 0
    while step < steps and best > 0.0 and J:
        D = np.where(x, -H, H)
        if shared:
            other = active[groups]
            swap = ~x & (other >= 0)
            D[:, swap] -= H[:, other[swap]]
        Hn = h[:, None] + D
        V = np.maximum(Hn - hi[:, None], 0.0)
        V += np.maximum(lo[:, None] - Hn, 0.0)
        score = weight @ V
        allowed = (tabu <= step) | (V.max(axis=0) < best)
        if not allowed.any():
            allowed = tabu == tabu.min()
        score[~allowed] = np.inf
        j = int(np.argmin(score))
        g = groups[j]
        if x[j]:
            x[j] = False
            active[g] = -1
        else:
            if active[g] >= 0:
                x[active[g]] = False
            x[j] = True
            active[g] = j
        h = h + D[:, j]
        tabu[j] = step + 1 + int(rng.integers(tenure[0], tenure[1] + 1))
        step += 1
        v = violation(h, lo, hi)
        worst = float(v.max(initial=0.0))
        if worst < best:
            best, best_x = worst, x.copy()
        weight += v > 0.0
    return LocalResult(best_x.astype(np.uint8), best, step)
