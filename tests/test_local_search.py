"""The tabu search that the exact solvers try first: what it returns, and that it never decides alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from prunegap import api
from prunegap.errors import network_error
from prunegap.exceptions import InvalidArgument
from prunegap.network import draw_instance
from prunegap.setting import Setting
from prunegap.solvers.base import get_method
from prunegap.solvers.local import local_search, violation


def _planted(rng, m, J, groups, slack):
    """Rows lo <= H x <= hi that a random choice x* (at most one column per group) satisfies with room."""
    H = rng.uniform(-1, 1, (m, J))
    x = np.zeros(J, bool)
    for g in np.unique(groups):
        cols = np.flatnonzero(groups == g)
        k = rng.integers(-1, cols.size)
        if k >= 0:
            x[cols[k]] = True
    h = H @ x
    lo = np.where(rng.random(m) < 0.3, -np.inf, h - slack)
    return H, lo, h + slack, x


@settings(max_examples=40)
@given(seed=st.integers(0, 10_000), m=st.integers(1, 30), units=st.integers(1, 12), per=st.integers(1, 3),
       steps=st.integers(0, 60), start=st.booleans())
def test_result_is_a_valid_choice_with_its_true_violation(seed, m, units, per, steps, start):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(units), per)
    H, lo, hi, _ = _planted(rng, m, groups.size, groups, slack=0.05)
    x0 = rng.random(groups.size) < 0.5 if start else None
    r = local_search(H, lo, hi, group=groups, x0=x0, steps=steps, rng=np.random.default_rng(seed))
    assert r.x.dtype == np.uint8 and r.x.shape == (groups.size,) and set(np.unique(r.x)) <= {0, 1}
    assert np.all(np.bincount(groups, weights=r.x) <= 1), "two columns of one group kept"
    assert r.max_violation == pytest.approx(violation(H @ r.x, lo, hi).max(initial=0.0), abs=1e-12)
    assert 0 <= r.steps <= steps
    if r.max_violation > 0:
        assert r.steps == steps  # it stops early only on a feasible choice


def test_finds_a_planted_solution_and_stops_there():
    rng = np.random.default_rng(3)
    groups = np.arange(40)
    H, lo, hi, _ = _planted(rng, 60, 40, groups, slack=0.3)
    r = local_search(H, lo, hi, group=groups, x0=None, steps=2000, rng=np.random.default_rng(0))
    assert r.max_violation == 0.0 and r.steps < 2000
    h = H @ r.x
    assert np.all(h <= hi) and np.all(h >= lo)


def test_no_moves_returns_the_start():
    rng = np.random.default_rng(1)
    groups = np.arange(5)
    H, lo, hi, _ = _planted(rng, 8, 5, groups, slack=0.01)
    x0 = np.array([1, 0, 1, 0, 0], bool)
    r = local_search(H, lo, hi, group=groups, x0=x0, steps=0, rng=np.random.default_rng(0))
    assert np.array_equal(r.x, x0.astype(np.uint8)) and r.steps == 0


def test_is_a_pure_function_of_its_arguments():
    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(10), 3)
    H, lo, hi, _ = _planted(rng, 25, 30, groups, slack=0.02)
    a, b = (local_search(H, lo, hi, group=groups, x0=None, steps=50, rng=np.random.default_rng(5)) for _ in range(2))
    assert np.array_equal(a.x, b.x) and a.steps == b.steps and a.max_violation == b.max_violation


# --- inside the cutting-plane solver ---------------------------------------------------------


def test_d3_wide_network_yes_comes_from_the_search_and_is_certified():
    # d = 3 far above n*: the search finds a candidate in a few moves; the evaluator certifies it
    setting = Setting(d=3)
    inst = draw_instance(setting, 0, 486)
    out = get_method("neuron", "mip").solve(inst, 0.05, conflict_limit=20_000)
    assert out.status == "yes" and out.stats["local_candidates"] >= 1 and out.stats["work"] == 0
    A, b = out.masks.apply(inst.U, inst.v)
    assert network_error(A, b, inst.w, eps=0.05).upper <= 0.05
    off = get_method("neuron", "mip").solve(inst, 0.05, conflict_limit=500, max_rounds=2, local_search=0)
    assert off.stats["local_moves"] == 0 and off.status in ("yes", "unknown")


@settings(max_examples=25)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 10), output=st.sampled_from(["relu", "linear"]),
       scale=st.floats(0.5, 2.0))
def test_answers_with_the_search_agree_with_brute_force(seed, n, output, scale):
    from _brute import neuron_errors

    inst = draw_instance(Setting(d=2, output=output), seed, n)
    _, err = neuron_errors(inst.U, inst.v, inst.w, output)
    eps = max(float(err.min()) * scale, 1e-3)
    out = get_method("neuron", "mip").solve(inst, eps, local_search=300)
    if out.status != "unknown":
        assert out.status == ("yes" if err.min() <= eps else "no")
    if out.status == "yes":
        A, b = out.masks.apply(inst.U, inst.v)
        assert network_error(A, b, inst.w, output=output).upper <= eps


def test_width_search_uses_the_search_only_until_its_first_yes():
    from prunegap.network import UnitStream

    decide = get_method("neuron", "mip").oracle(UnitStream(Setting(d=3), 0), 0.05, conflict_limit=300)
    first = decide(486)
    assert first.status == "yes" and first.stats["local_candidates"] >= 1
    below = decide(200)  # CP-SAT alone from now on: the solver's move count stays where it was
    assert below.status in ("no", "unknown") and below.stats["local_moves"] == first.stats["local_moves"]


@pytest.mark.parametrize("output", ["relu", "linear"])
@pytest.mark.parametrize("seed", [0, 3])
def test_width_search_gives_the_same_n_star_with_and_without_the_search(output, seed):
    setting = Setting(d=2, output=output)
    kw = dict(seed=seed, eps=0.05, paradigm="neuron", max_width=512)
    on = api.width(setting, **kw, local_search=300)  # off by default in d = 2
    off = api.width(setting, **kw)
    assert on.n_star is not None and on.n_star == off.n_star


def test_weight_exact_keeps_one_pattern_per_unit_with_the_search():
    setting = Setting(d=2)
    r = api.width(setting, seed=2, eps=0.05, paradigm="weight", method="exact", max_width=256, local_search=300)
    off = api.width(setting, seed=2, eps=0.05, paradigm="weight", method="exact", max_width=256)
    assert r.n_star is not None and r.n_star == off.n_star
    assert np.all(r.masks.hidden_mask.sum(axis=1)[r.masks.output_mask.astype(bool)] >= 1)


def test_default_is_on_in_d3_and_off_in_d2():
    solver = get_method("neuron", "mip")
    d2 = solver.solve(draw_instance(Setting(d=2), 0, 64), 0.05)
    d3 = solver.solve(draw_instance(Setting(d=3), 0, 64), 0.3, conflict_limit=2000)
    assert d2.stats["local_moves"] == 0 and d3.stats["local_moves"] > 0


def test_negative_moves_are_refused():
    inst = draw_instance(Setting(d=2), 0, 8)
    with pytest.raises(InvalidArgument, match="local_search"):
        get_method("neuron", "mip").solve(inst, 0.5, local_search=-1)
