"""The MIP as a solver: the width oracle over a nested stream, and the Method of every MIP paradigm.

Proven facts carry over between widths by nesting (docs/theory.md §6): a
certified mask is a yes at every wider width, a "no" at width m a "no" at
every narrower one, and one warm cutting-plane loop (:mod:`.loop`) serves
the whole width search.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable

from ...exceptions import InvalidArgument
from ...masks import Masks
from ...network import Instance, UnitStream, draw_instance
from ...setting import Setting
from ..base import SEARCH_TIME_LIMIT, SEARCH_WORK_LIMIT, Outcome
from .design import NEURON, Design
from .loop import CuttingPlaneSolver
from .options import MIPOptions

__all__ = ["WidthOracle", "MIPMethod"]

log = logging.getLogger("prunegap.solvers.mip")


def _resize(masks: Masks, width: int) -> Masks:
    if masks.width <= width:
        return masks.extend(width)
    if masks.canonical().unit_mask[width:].any():
        raise ValueError("mask uses units beyond the width")
    return Masks(masks.hidden_mask[:width], masks.output_mask[:width])


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
        self.solver = CuttingPlaneSolver(stream.setting, stream.seed, inst.target, inst.U, inst.v, eps, design, opts)
        self.yes: Outcome | None = None  # certified mask, at width yes_width
        self.yes_width: int | None = None
        self.no: Outcome | None = None
        self.no_width = 0
        self.calls = 0
        self.deadline = None if opts.search_time_limit is None else time.perf_counter() + opts.search_time_limit

    @property
    def work(self) -> int:
        """Conflicts (CP-SAT) or nodes (HiGHS) of every decision so far: deterministic, what the search
        cap ``search_conflict_limit`` counts."""
        return self.solver.stats.work

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
        cap = self.opts.search_conflict_limit
        if cap is not None and self.work >= cap:
            # the whole search has spent its work: deterministic, unlike the wall clock above
            return Outcome.from_bounds(self.eps, None, 0.0, math.inf, limit=SEARCH_WORK_LIMIT, stats={})
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
            if cap is not None:
                budget.nodes = min(budget.nodes, max(1, cap - self.work))
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


class MIPMethod:
    """Shared Method implementation; subclasses set ``paradigm``, ``name``, ``design``.

    Serves both targets: the one neuron and a depth-1 network target."""

    paradigm = ""
    name = ""
    proves_no = True  # its "no" is a proof (a width search may look for proofs only: bound="lower")
    design: Design = NEURON
    targets: tuple[str, ...] = ("neuron", "network")
    solver_options: tuple[str, ...] = tuple(MIPOptions.__dataclass_fields__)  # knobs a sweep may set

    def monotone(self, setting: Setting) -> bool:
        # Exact answers: yes at n is yes at every wider prefix (nesting).
        return True

    def _check(self, setting: Setting) -> None:
        if setting.norm != "sup":
            raise InvalidArgument(f"norm must be 'sup' for the {self.paradigm}/{self.name} solver, got {setting.norm!r}")

    def check_options(self, options: dict[str, Any]) -> None:
        """Raises InvalidArgument for a bad option value (a sweep checks its studies with this up front)."""
        MIPOptions.from_kwargs(options)

    def solve(self, instance: Instance, eps: float, *, objective: str = "feasible", **options: Any) -> Outcome:
        # eps and objective are validated where the caller enters (prunegap.solve)
        self._check(instance.setting)
        opts = MIPOptions.from_kwargs(options)
        t0 = time.perf_counter()
        solver = CuttingPlaneSolver(instance.setting, instance.seed, instance.target, instance.U, instance.v, eps,
                                    self.design, opts)
        if objective == "min-error":
            r = solver.min_error(instance.width)
        else:
            r, _ = solver.feasible(instance.width)
        r.stats["seconds"] = time.perf_counter() - t0
        return r

    def oracle(self, stream: UnitStream, eps: float, **options: Any) -> Callable[[int], Outcome]:
        # eps is validated where the caller enters (prunegap.width)
        self._check(stream.setting)
        return WidthOracle(stream, eps, self.design, MIPOptions.from_kwargs(options))
