"""Minimal width: galloping, then bisection, on the nested unit stream (THEORY §6).

Widths are prefixes of one unit stream, so every mask at width n is a mask at
every m >= n.  For a certificate that is monotone in n, "yes at n" settles
every wider width and "no at n" every narrower one: galloping (1, 2, 4, ...)
finds a yes, bisection closes the bracket, and each step reuses what the last
proved.  A gallop step left undecided is first bisected down to the last "no"
(proofs far below n* are cheap), then galloping goes on.  ``unknown``
answers (a limit fired) leave a bracket [n_lower, n_upper] instead of a
point.  A certificate that is not monotone is checked at every narrower
width before its n* is called exact.

``bound="lower"`` searches for proofs only (the certified frontier,
docs/theory.md §6): it gallops up while the answer is "no" and bisects
between the last "no" and the first width that is not, so its n_lower is as
high as the work limits allow; a ticket met on the way is kept as n_upper.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ._validation import check_choice, check_int
from .solvers.base import BOUNDS, SEARCH_LIMITS, Outcome

__all__ = ["WidthResult", "minimal_width"]


@dataclass(frozen=True, eq=False)
class WidthResult:
    """n* for one seed, or the bracket n_lower <= n* <= n_upper.

    ``n_upper`` is None when no width up to ``max_width`` was certified;
    ``n_star`` is set only when n_lower == n_upper.  ``outcome`` is the
    solver's answer at n_upper (at the widest width tried when none).
    """

    n_star: int | None
    n_lower: int
    n_upper: int | None
    width: int  # the width of ``outcome``
    outcome: Outcome
    steps: list[tuple[int, str]] = field(default_factory=list)  # (width, status) in order tried
    stats: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        # the bracket and the answer at its width; the steps and their timings stay attributes
        o = self.outcome
        return (f"WidthResult(n_star={self.n_star}, n_lower={self.n_lower}, n_upper={self.n_upper}, "
                f"width={self.width}, widths_tried={len(self.steps)}, status={o.search_status!r}, "
                f"error=[{o.error_lower:.6g}, {o.error_upper:.6g}])")


def minimal_width(
    decide: Callable[[int], Outcome],
    *,
    max_width: int,
    monotone: bool = True,
    start: int = 1,
    max_steps: int | None = None,
    strategy: str = "gallop",
    bound: str = "both",
    resolution: float = 0.0,
) -> WidthResult:
    """The smallest width at which ``decide`` answers ``yes``.

    ``decide(n)`` must be a pure function of n (on the nested stream).
    ``max_steps`` caps the number of calls; hitting it leaves a bracket.
    ``strategy="scan"`` tries start, start+1, ... instead: exact for any
    certificate, best for cheap methods whose cost grows fast with the width.
    ``bound="lower"`` (monotone certificates only) raises n_lower instead of
    looking for n*: see the module's docstring.  Its bisection stops once
    the bracket (last "no", first other answer) is at most ``resolution``
    times the last "no" wide (0: down to one unit).
    """
    max_width = check_int("max_width", max_width, minimum=1)
    start = min(check_int("start", start, minimum=1), max_width)
    check_choice("strategy", strategy, ("gallop", "scan"))
    check_choice("bound", bound, BOUNDS)
    if bound == "lower" and (strategy != "gallop" or not monotone):
        raise ValueError("bound='lower' needs a monotone certificate searched by galloping")
    tested: dict[int, Outcome] = {}
    steps: list[tuple[int, str]] = []
    step_seconds: list[float] = []  # wall clock of each step: where a search's time went
    unknown: list[int] = []  # sorted
    budget = [max_steps if max_steps is not None else 10**9]

    def ask(n: int) -> Outcome:
        t0 = time.perf_counter()
        r = decide(n)
        step_seconds.append(time.perf_counter() - t0)
        tested[n] = r
        steps.append((n, r.search_status))
        budget[0] -= 1
        if r.search_status == "unknown":
            bisect.insort(unknown, n)
        if r.limit in SEARCH_LIMITS:
            budget[0] = 0  # every later question would get the same answer: stop with the bracket
        return r

    def narrowest_yes(n: int, r: Outcome) -> int:
        """A yes at n whose ticket lives in the first k < n units is a yes at k (nesting): ask k."""
        k = r.masks.support_width if r.masks is not None else n
        if monotone and lo < k < n and k not in tested and budget[0] > 0 and ask(k).search_status == "yes":
            return k
        return n

    lo, hi = 0, None  # lo: widest certified "no" (0: none); hi: narrowest "yes"
    n = start
    if bound == "lower":
        lo, hi = _raise_lower(ask, narrowest_yes, start, max_width, budget, resolution)
        strategy = "lower"  # neither loop below runs: the bracket is all this search proves
    if strategy == "scan":
        monotone = False  # the scan below checks every narrower width itself
        start = 1
    while strategy == "gallop" and budget[0] > 0:
        r = ask(n)
        if r.search_status == "yes":
            hi = narrowest_yes(n, r)
            break
        if r.search_status == "no":
            lo = max(lo, n)
        elif monotone:
            # Undecided: before galloping on, bisect [lo, n] for proofs.  A "no" well below n*
            # is cheap where a ticket above it may not be found at all, and it is the lower end
            # of the bracket the search leaves if no ticket ever comes.
            top = n
            while budget[0] > 0 and top - lo > 1:
                mid = (lo + top) // 2
                if mid in tested:
                    break
                rm = ask(mid)
                if rm.search_status == "yes":
                    hi = narrowest_yes(mid, rm)
                    break
                if rm.search_status == "no":
                    lo = mid
                else:
                    top = mid
            if hi is not None:
                break
        if n >= max_width:
            break
        n = min(2 * n, max_width)

    if hi is not None and strategy == "gallop":
        # Bisection; an unknown midpoint moves the probe to the nearest untested width.
        while budget[0] > 0 and hi - lo > 1:
            mid = _untested_near((lo + hi) // 2, lo, hi, tested)
            if mid is None:
                break
            r = ask(mid)
            if r.search_status == "yes":
                hi = narrowest_yes(mid, r)
            elif r.search_status == "no":
                lo = mid
    if not monotone:
        # A narrower yes may hide below a no: check every narrower width.
        for m in range(1, hi if hi is not None else max_width + 1):
            if budget[0] <= 0:
                break
            r = tested.get(m) or ask(m)
            if r.search_status == "yes":
                hi = m
                break

    if monotone:
        undecided = [u for u in unknown if lo < u < (hi if hi is not None else max_width + 1)]
        n_lower = lo + 1
    else:
        below = [m for m in range(1, hi if hi is not None else max_width + 1) if tested.get(m) is None or tested[m].search_status != "no"]
        n_lower = below[0] if below else (hi if hi is not None else max_width + 1)
        undecided = below
    exact = hi is not None and n_lower == hi
    where = hi if hi is not None else max(tested)
    return WidthResult(
        n_star=hi if exact else None,
        n_lower=n_lower,
        n_upper=hi,
        width=where,
        outcome=tested[where],
        steps=steps,
        stats={"calls": len(steps), "unknown_widths": len(undecided), "monotone": monotone,
               "step_seconds": step_seconds},
    )


def _raise_lower(ask: Callable[[int], Outcome], narrowest_yes: Callable[[int, Outcome], int], start: int,
                 max_width: int, budget: list[int], resolution: float) -> tuple[int, int | None]:
    """Gallop on "no", then bisect (last "no", first other answer): the widest "no" and any yes."""
    lo, hi, top = 0, None, None
    n = start
    while budget[0] > 0:
        r = ask(n)
        if r.search_status != "no":
            top = n
            if r.search_status == "yes":
                hi = top = narrowest_yes(n, r)
            break
        lo = n
        if n >= max_width:
            return lo, hi
        n = min(2 * n, max_width)
    while top is not None and budget[0] > 0 and top - lo > max(1, int(resolution * lo)):
        mid = (lo + top) // 2
        r = ask(mid)
        if r.search_status == "no":
            lo = mid
        elif r.search_status == "yes":
            hi = top = narrowest_yes(mid, r)
        else:
            top = mid
    return lo, hi


def _untested_near(mid: int, lo: int, hi: int, tested: dict[int, Outcome]) -> int | None:
    for delta in range(0, hi - lo):
        for m in (mid - delta, mid + delta):
            if lo < m < hi and m not in tested:
                return m
    return None
