"""The cutting-plane MIP's options (limits and knobs) and its backends.

Every answer is a pure function of (instance, eps, options): the limits that
make a run stop early are counted in branch-and-bound nodes (HiGHS),
conflicts (CP-SAT) and rounds; wall-clock limits (``time_limit``,
``search_time_limit``) exist as extras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..._validation import check_choice, check_int, check_positive_float
from ...exceptions import InvalidArgument
from .design import Design

__all__ = ["BACKENDS", "MIPOptions", "LOCAL_SEARCH_MOVES", "LOCAL_SCALES", "sat_available"]

BACKENDS: tuple[str, ...] = ("auto", "highs", "cpsat")
LOCAL_SEARCH_MOVES = 300  # default tabu-search moves per decision in d >= 3
#: d = 2, CP-SAT: half-widths of the short second-difference rows, in grid steps (``local_rows`` of them).
LOCAL_SCALES = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0)


def sat_available() -> bool:
    """Whether OR-Tools' CP-SAT is installed (the ``cpsat`` backend; the re-proof of HiGHS's "infeasible")."""
    try:
        import ortools.sat.python.cp_model  # noqa: F401 - lazy: a heavy optional library
    except ImportError:
        return False
    return True


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
    initial_max_points: int = 200_000  # d = 2: at most this many grid points in the first sample
    witnesses: int = 16  # d >= 3: worst points asked of the evaluator per candidate
    max_new_points: int = 64  # points added per round, worst first
    near_cut: float = 1.0  # also add the peaks above near_cut * eps of a rejected candidate (1: only violations)
    min_error_rtol: float = 1e-4  # min-error stops when upper - lower <= rtol * upper (+ no_margin)
    tol: float = 1e-6  # evaluator interval width accepted in d >= 3
    max_cells: int = 400_000  # evaluator cells in d >= 3
    descend: bool = False  # width search: attack the width right below the best yes (see WidthOracle)
    search_time_limit: float | None = None  # width search: wall-clock seconds for all decisions together
    search_conflict_limit: int | None = None  # width search: conflicts (HiGHS: nodes) of all decisions together
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
        if o.search_conflict_limit is not None:
            check_int("search_conflict_limit", o.search_conflict_limit, minimum=1)
        check_positive_float("no_margin", o.no_margin)
        check_positive_float("initial_density", o.initial_density)
        check_int("initial_points", o.initial_points, minimum=1)
        check_int("initial_max_points", o.initial_max_points, minimum=16)
        check_int("witnesses", o.witnesses, minimum=1)
        check_int("max_new_points", o.max_new_points, minimum=1)
        check_positive_float("min_error_rtol", o.min_error_rtol, allow_zero=True)
        check_positive_float("near_cut", o.near_cut, maximum=1.0)
        check_positive_float("gallop_share", o.gallop_share, maximum=1.0)
        check_int("local_rows", o.local_rows, minimum=0, maximum=len(LOCAL_SCALES))
        if o.local_search is not None:
            check_int("local_search", o.local_search, minimum=0)
        check_positive_float("tol", o.tol)
        return o

    def resolved_backend(self) -> str:
        if self.backend == "auto":
            return "cpsat" if sat_available() else "highs"
        return self.backend

    def resolved_local_search(self, d: int, design: Design) -> int:
        """Tabu-search moves per decision: the option, or by default LOCAL_SEARCH_MOVES where it was
        measured to help (BENCHMARKS.md: units kept whole, d >= 3) and 0 elsewhere."""
        if self.local_search is not None:
            return self.local_search
        return LOCAL_SEARCH_MOVES if d >= 3 and not design.one_per_unit else 0
