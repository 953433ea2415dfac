import math

import pytest
from hypothesis import given, strategies as st

from prunegap.solvers.base import Outcome
from prunegap.search import minimal_width


def oracle(statuses: dict[int, str] | None = None, threshold: int | None = None, calls: list | None = None):
    def decide(n: int) -> Outcome:
        if calls is not None:
            calls.append(n)
        if statuses is not None and n in statuses:
            s = statuses[n]
        else:
            s = "yes" if threshold is not None and n >= threshold else "no"
        return Outcome(s, None, 0.0, math.inf)

    return decide


@given(threshold=st.integers(1, 3000), max_width=st.integers(1, 4000), start=st.integers(1, 50))
def test_monotone_threshold_is_found_exactly(threshold, max_width, start):
    calls: list[int] = []
    r = minimal_width(oracle(threshold=threshold, calls=calls), max_width=max_width, start=start)
    if threshold <= max_width:
        assert r.n_star == threshold == r.n_lower == r.n_upper
        assert r.outcome.status == "yes" and r.width == threshold
    else:
        assert r.n_star is None and r.n_upper is None and r.n_lower == max_width + 1
    assert len(calls) == len(set(calls))  # never asks twice
    assert len(calls) <= 2 * math.ceil(math.log2(max_width + 1)) + 3


def test_unknowns_leave_an_honest_bracket():
    # true threshold 40, but widths 30..45 are undecided by the method
    statuses = {n: "unknown" for n in range(30, 46)}
    r = minimal_width(oracle(statuses, threshold=40), max_width=200)
    assert r.n_star is None
    assert r.n_lower == 30 and r.n_upper == 46
    assert r.stats["unknown_widths"] > 0


def test_unknown_midpoint_moves_the_probe():
    statuses = {n: "unknown" for n in (48, 40, 44)}
    r = minimal_width(oracle(statuses, threshold=37), max_width=64)
    assert r.n_star == 37


def test_non_monotone_scans_narrower_widths():
    # yes at 5, no at 6..9, yes from 10: bisection alone would stop at 10
    statuses = {5: "yes", 6: "no", 7: "no", 8: "no", 9: "no"}
    r = minimal_width(oracle(statuses, threshold=10), max_width=64, monotone=False)
    assert r.n_star == 5
    r = minimal_width(oracle(statuses, threshold=10), max_width=64, monotone=True)
    assert r.n_upper in (5, 10)


def test_max_steps_budget():
    r = minimal_width(oracle(threshold=1000), max_width=4096, max_steps=5)
    assert r.n_star is None and len(r.steps) == 5
    assert r.n_lower <= 1000 and (r.n_upper is None or r.n_upper >= 1000)


def test_scan_strategy_finds_first_yes_without_overshoot():
    calls: list[int] = []
    statuses = {7: "yes", 8: "no"}
    r = minimal_width(oracle(statuses, threshold=20, calls=calls), max_width=100, strategy="scan")
    assert r.n_star == 7 and calls == list(range(1, 8))
    calls.clear()
    r = minimal_width(oracle({3: "unknown"}, threshold=20, calls=calls), max_width=100, strategy="scan")
    assert r.n_star is None and r.n_lower == 3 and r.n_upper == 20 and max(calls) == 20


@pytest.mark.parametrize("after", [1, 3, 6, 9])
def test_an_exhausted_search_time_limit_stops_the_search(after):
    from prunegap.solvers.base import SEARCH_TIME_LIMIT

    calls: list[int] = []

    def decide(n: int) -> Outcome:
        calls.append(n)
        if len(calls) > after:  # out of time: every later question gets the same non-answer
            return Outcome("unknown", None, 0.0, math.inf, limit=SEARCH_TIME_LIMIT)
        return Outcome("yes" if n >= 100 else "no", None, 0.0, math.inf)

    r = minimal_width(decide, max_width=4096)
    assert len(calls) == after + 1  # the first out-of-time answer ends it
    honest = minimal_width(oracle(threshold=100), max_width=4096, max_steps=after)
    assert (r.n_lower, r.n_upper) == (honest.n_lower, honest.n_upper)
    assert r.n_lower <= 100 and (r.n_upper is None or r.n_upper >= 100)


def test_a_yes_whose_ticket_uses_fewer_units_is_asked_at_its_support():
    import numpy as np

    from prunegap.masks import Masks

    support, calls = 37, []

    def decide(n: int) -> Outcome:  # one ticket, units 0..36 (the last live), exists from width 37 on
        calls.append(n)
        if n < support:
            return Outcome("no", None, 1.0, math.inf)
        live = np.zeros(n, np.uint8)
        live[[0, 5, support - 1]] = 1
        return Outcome("yes", Masks.from_units(live, 2), 0.0, 0.01)

    r = minimal_width(decide, max_width=4096)
    assert r.n_star == support and r.outcome.masks.support_width == support
    assert calls[:8] == [1, 2, 4, 8, 16, 32, 64, support]  # straight to the support after the first yes
    assert len(calls) == len(set(calls))


def test_an_undecided_gallop_step_is_bisected_down_to_the_last_no():
    # n* = 217, but no width from 150 on can be decided (tickets too hard to find there):
    # galloping alone would stop at [129, inf]; the proofs below 150 raise the lower end
    statuses = {n: "unknown" for n in range(150, 5000)}
    calls: list[int] = []
    r = minimal_width(oracle(statuses, threshold=217, calls=calls), max_width=4096)
    assert r.n_star is None and r.n_upper is None
    assert r.n_lower == 150
    assert len(calls) == len(set(calls))
    assert calls[:9] == [1, 2, 4, 8, 16, 32, 64, 128, 256]  # then down: 192, 160, 144, ...
    assert calls[9:11] == [192, 160]


@given(threshold=st.integers(1, 600), a=st.integers(1, 700), b=st.integers(0, 300), seed=st.integers(0, 2**16))
def test_brackets_with_undecided_bands_always_hold_the_threshold(threshold, a, b, seed):
    import random

    rnd = random.Random(seed)
    statuses = {n: "unknown" for n in range(a, a + b)}
    statuses.update({n: "unknown" for n in rnd.sample(range(1, 800), 20)})
    calls: list[int] = []
    r = minimal_width(oracle(statuses, threshold=threshold, calls=calls), max_width=1024)
    assert r.n_lower <= threshold and (r.n_upper is None or r.n_upper >= threshold)
    if r.n_star is not None:
        assert r.n_star == threshold
    assert len(calls) == len(set(calls))


def test_step_seconds_time_each_step_in_order():
    import time

    slow = 24

    def decide(n: int) -> Outcome:
        if n == slow:
            time.sleep(0.2)
        return Outcome("yes" if n >= 20 else "no", None, 0.0, math.inf)

    r = minimal_width(decide, max_width=64)
    seconds = r.stats["step_seconds"]
    assert len(seconds) == len(r.steps) and all(t >= 0.0 for t in seconds)
    widths = [w for w, _ in r.steps]
    assert slow in widths
    assert seconds[widths.index(slow)] >= 0.2 > max(t for w, t in zip(widths, seconds) if w != slow)
