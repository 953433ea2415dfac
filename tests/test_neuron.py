"""Neuron pruning by cutting-plane MIP: every certified answer against brute force (d = 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from _brute import all_subsets, neuron_errors, smallest_width, sup_errors, support_max
from _oracle import check_answers, check_ticket, family_bounds, sup_estimate
from prunegap import InvalidArgument, Masks, Setting, UnitStream, api, draw_instance
from prunegap.errors import network_error
from prunegap.planted import planted_instance
from prunegap.solvers.base import get_method
from prunegap.solvers.mip import MIPOptions, initial_points, sat_available, violation_points

OUTPUTS = ("relu", "linear")
BACKENDS = ["highs"] + (["cpsat"] if sat_available() else [])


def _brute(setting: Setting, seed: int, n: int):
    inst = draw_instance(setting, seed, n)
    S, err = neuron_errors(inst.U, inst.v, inst.w, setting.output)
    return inst, S, err


def _check_outcome(outcome, inst, eps, err_all):
    """The certification rules, against the exact errors of every mask."""
    best = float(err_all.min())
    if outcome.status == "yes":
        m = outcome.masks
        assert m is not None and m.width == inst.width and m.is_neuron_pattern()
        A, b = m.apply(inst.U, inst.v)
        true = network_error(A, b, inst.w, output=inst.setting.output).upper
        assert true <= eps + 1e-12
        assert outcome.error_upper <= eps
        assert outcome.ticket_error is not None and outcome.ticket_error.upper == outcome.error_upper
    elif outcome.status == "no":
        assert best > eps, "a 'no' contradicted by brute force"
        assert outcome.error_lower > eps
        assert outcome.stats["no_margin"] > 0
    assert outcome.error_lower <= best + 1e-12, "error_lower is not a lower bound of every mask"
    if outcome.masks is not None:
        A, b = outcome.masks.apply(inst.U, inst.v)
        assert network_error(A, b, inst.w, output=inst.setting.output).upper <= outcome.error_upper + 1e-12


# --- the sample and the cuts ---------------------------------------------------


def test_initial_points_are_deterministic_unit_vectors():
    s2, s3 = Setting(d=2), Setting(d=3)
    w2, w3 = np.array([0.6, 0.8]), np.array([0.0, 0.6, 0.8])
    o = MIPOptions()
    X = initial_points(s2, w2, 0, 0.05, o)
    assert X.shape[0] == math.ceil(o.initial_density / 0.05)
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0)
    assert np.allclose(X[0], w2)  # the grid is phase-locked to the target
    Y1, Y2 = initial_points(s3, w3, 7, 0.05, o), initial_points(s3, w3, 7, 0.05, o)
    assert np.array_equal(Y1, Y2) and np.allclose(np.linalg.norm(Y1, axis=1), 1.0)
    assert not np.array_equal(Y1, initial_points(s3, w3, 8, 0.05, o))
    assert np.array_equal(initial_points(Setting(d=1), np.array([1.0]), 0, 0.1, o), [[1.0], [-1.0]])


@pytest.mark.parametrize("output", OUTPUTS)
def test_violation_points_are_violated_and_cover_each_region(output):
    inst = draw_instance(Setting(d=2, output=output), 5, 12)
    A, b = inst.U[[1, 4, 7]], inst.v[[1, 4, 7]]
    ticket = network_error(A, b, inst.w, output=output)
    bound = 0.5 * ticket.upper
    X = violation_points(A, b, inst.w, output, bound, ticket, 100)
    assert X.shape[0] >= 1
    from prunegap.errors import forward, target_values

    vals = np.abs(forward(A, b, X, output) - target_values(inst.w, X))
    assert np.all(vals > bound)
    assert vals[0] == pytest.approx(ticket.upper, abs=1e-9)  # worst first, and it is the sup
    assert violation_points(A, b, inst.w, output, ticket.upper + 1e-9, ticket, 100).shape[0] == 0


# --- solve: feasible and min-error against brute force ---------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_solve_matches_brute_force(output, seed, backend):
    setting = Setting(d=2, output=output)
    inst, S, err = _brute(setting, seed, 12)
    best = float(err.min())
    solver = get_method("neuron", "mip")
    # thresholds around the optimum, and one far on each side
    for eps in (best * 0.5, best * 0.999, best * 1.001, best * 1.5, 1.2):
        out = solver.solve(inst, eps, backend=backend)
        _check_outcome(out, inst, eps, err)
        assert out.status == ("yes" if best <= eps else "no"), (eps, best)
        assert out.stats["backend"] == backend
    me = solver.solve(inst, 0.3, objective="min-error", backend=backend)
    _check_outcome(me, inst, 0.3, err)
    assert me.limit is None
    assert me.error_lower <= best <= me.error_upper
    assert me.error_upper - me.error_lower <= 1e-4 * me.error_upper + 2e-6
    A, b = me.masks.apply(inst.U, inst.v)
    assert network_error(A, b, inst.w, output=output).upper == pytest.approx(me.error_upper, abs=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("output", OUTPUTS)
def test_width_matches_brute_force(output, backend):
    setting = Setting(d=2, output=output)
    n_max = 14
    for seed in range(6):
        inst, S, err = _brute(setting, seed, n_max)
        widths = support_max(S)
        # an eps that some prefix of <= n_max units reaches: the best error of the first 10 units
        eps = float(err[widths <= 10].min()) * 1.0001
        if eps >= 1.0:  # the empty mask (error max f = 1) would do: ask for something harder
            r_ = np.unique(err[err < 1.0])
            eps = float(0.5 * (r_[0] + r_[1])) if r_.size > 1 else 0.5
        want = smallest_width(widths, err, eps)
        r = api.width(setting, seed=seed, eps=eps, paradigm="neuron", max_width=n_max, backend=backend)
        assert r.n_star == want, (seed, r.search.steps)
        o = r.outcome
        if want is None:
            assert r.search.n_lower == n_max + 1 and o.status == "no"
        else:
            assert o.status == "yes" and o.masks is not None and o.masks.width == want
        # every step's answer agrees with brute force at that width
        for n, status in r.search.steps:
            best_n = float(err[widths <= n].min())
            assert status == ("yes" if best_n <= eps else "no"), (seed, n, status, best_n, eps)


def test_width_reports_no_width_up_to_the_cap():
    setting = Setting(d=2)
    inst, S, err = _brute(setting, 4, 10)
    eps = float(err.min()) * 0.9  # unreachable with 10 units
    r = api.width(setting, seed=4, eps=eps, paradigm="neuron", max_width=10)
    assert r.n_star is None and r.search.n_upper is None and r.search.n_lower == 11


# --- property tests --------------------------------------------------------------


@settings(max_examples=30)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 11),
    output=st.sampled_from(OUTPUTS),
    scale=st.floats(0.3, 1.7),
    backend=st.sampled_from(BACKENDS),
)
def test_property_no_yes_is_false_and_no_no_is_contradicted(seed, n, output, scale, backend):
    setting = Setting(d=2, output=output)
    inst, S, err = _brute(setting, seed, n)
    eps = max(float(err.min()) * scale, 1e-3)
    out = get_method("neuron", "mip").solve(inst, eps, node_limit=50_000, backend=backend)
    _check_outcome(out, inst, eps, err)
    if out.status != "unknown":
        assert out.status == ("yes" if err.min() <= eps else "no")


@settings(max_examples=12)
@given(seed=st.integers(0, 10_000), output=st.sampled_from(OUTPUTS), q=st.floats(0.05, 0.6),
       backend=st.sampled_from(BACKENDS))
def test_property_width_search_is_exact(seed, output, q, backend):
    setting = Setting(d=2, output=output)
    n_max = 11
    inst, S, err = _brute(setting, seed, n_max)
    widths = support_max(S)
    reachable = np.unique(err[err < 1.0])
    # eps in the middle of a real gap between masks' errors: errors equal up to rounding (1 - 1e-16
    # and 1 - 2e-16, seed 321) leave no room for a certified verdict either way
    gaps = np.flatnonzero(np.diff(reachable) > 1e-5)
    assume(gaps.size > 0)
    k = int(gaps[min(int(q * gaps.size), gaps.size - 1)])
    eps = float(0.5 * (reachable[k] + reachable[k + 1]))
    want = smallest_width(widths, err, eps)
    r = api.width(setting, seed=seed, eps=eps, paradigm="neuron", max_width=n_max, backend=backend)
    assert r.n_star == want
    for n, status in r.search.steps:
        assert status == ("yes" if float(err[widths <= n].min()) <= eps else "no")


# --- determinism, options, limits, other dimensions ------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_answers_are_pure_functions_of_their_inputs(backend):
    setting = Setting(d=2)
    inst = draw_instance(setting, 11, 40)
    solver = get_method("neuron", "mip")
    a = solver.solve(inst, 0.08, backend=backend)
    b = solver.solve(inst, 0.08, backend=backend)
    assert a.status == b.status
    assert (a.masks is None) == (b.masks is None)
    if a.masks is not None:
        assert np.array_equal(a.masks.output_mask, b.masks.output_mask)
    assert a.stats["rounds"] == b.stats["rounds"] and a.stats["work"] == b.stats["work"]


def test_unknown_options_are_ignored_and_bad_ones_rejected():
    inst = draw_instance(Setting(d=2), 0, 8)
    solver = get_method("neuron", "mip")
    solver.solve(inst, 0.5, memory_budget=10**9, tol=1e-6, something_else=3)
    with pytest.raises(InvalidArgument):
        solver.solve(inst, 0.5, node_limit=0)
    with pytest.raises(InvalidArgument):
        solver.solve(inst, 0.5, backend="gurobi")
    with pytest.raises(InvalidArgument, match="objective"):  # validated where the caller enters
        api.solve(Setting(d=2), width=8, seed=0, eps=0.5, paradigm="neuron", objective="fastest")
    with pytest.raises(InvalidArgument):
        solver.solve(draw_instance(Setting(d=2, norm="l2-sphere"), 0, 8), 0.5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_limits_give_unknown_with_the_limit_named(backend):
    setting = Setting(d=2)
    inst = draw_instance(setting, 0, 150)
    out = get_method("neuron", "mip").solve(inst, 0.02, max_rounds=1, backend=backend)  # the first candidate fails
    assert out.status == "unknown" and out.limit == "max_rounds"
    assert out.error_lower == 0.0
    if out.masks is not None:  # the best candidate, with its certified error
        A, b = out.masks.apply(inst.U, inst.v)
        assert network_error(A, b, inst.w).upper == pytest.approx(out.error_upper)


def test_oracle_reuses_proofs_between_widths():
    setting = Setting(d=2)
    decide = get_method("neuron", "mip").oracle(UnitStream(setting, 0), 0.05)
    yes = decide(64)
    assert yes.status == "yes"
    k = int(np.flatnonzero(yes.masks.unit_mask)[-1]) + 1
    again = decide(k)  # the same certified mask, on the narrower prefix, for free
    assert again.status == "yes" and again.masks.width == k and again.stats.get("reused_from_width") == k
    no = decide(20)
    assert no.status == "no"
    assert decide(10).stats.get("proof_width", 0) >= 20


def test_d1_is_exact():
    setting = Setting(d=1, w=(1.0,))
    inst = draw_instance(setting, 2, 6)
    out = get_method("neuron", "mip").solve(inst, 0.05)
    # brute force: the sphere is {+1, -1}
    best = min(
        network_error(inst.U[np.array(s, bool)], inst.v[np.array(s, bool)], inst.w).upper
        for s in np.ndindex(*(2,) * 6)
    )
    assert out.status == ("yes" if best <= 0.05 else "no")


# d = 3: against the independent oracle of tests/_oracle.py (dense sample + local optimisation);
# (output, seed, width): networks whose best neuron mask keeps units and errs well below 1
D3_CASES = [("relu", 4, 10), ("linear", 4, 10), ("relu", 1, 10)]


@pytest.mark.parametrize("output, seed, n", D3_CASES)
def test_d3_matches_brute_force(output, seed, n):
    inst = draw_instance(Setting(d=3, output=output), seed, n)
    fam = family_bounds(inst.U, inst.v, inst.w, output, all_subsets(n), seed=seed)  # 2^n neuron masks
    assert fam.estimate < 0.9 and fam.best.sum() >= 1
    solver = get_method("neuron", "mip")
    check_answers(lambda eps, **kw: solver.solve(inst, eps, **kw), inst, fam, seed=seed)
    assert solver.solve(inst, fam.upper).masks.is_neuron_pattern()


@pytest.mark.parametrize("output", OUTPUTS)
def test_d3_finds_a_planted_ticket(output):
    # units 3 and 7 compute the target exactly (prunegap.planted): optimum 0, non-trivial ticket
    inst, plant, _ = planted_instance(Setting(d=3, output=output), 2, 9, "neuron", units=[3, 7])
    A, b = plant.masks(9, 3).apply(inst.U, inst.v)
    assert sup_estimate(A, b, inst.w, output, seed=2) <= 1e-12
    solver = get_method("neuron", "mip")
    for eps in (0.05, 0.01):
        out = solver.solve(inst, eps)
        assert out.status == "yes" and out.masks.kept_units >= 1 and out.masks.is_neuron_pattern()
        check_ticket(inst, out, eps, seed=2)
    me = solver.solve(inst, 0.05, objective="min-error")
    assert me.limit is None and me.error_lower <= 1e-9 and me.error_upper <= 3e-6
    check_ticket(inst, me, seed=2)


def test_masks_and_api_roundtrip(tmp_path):
    import json

    from prunegap.io import read_ticket

    setting = Setting(d=2)
    r = api.solve(setting, width=30, seed=1, eps=0.1, paradigm="neuron")
    # a ticket exists here (7 units, error 0.0994): the answer is "yes", and brute force's exact
    # evaluator (independent of prunegap's) confirms the ticket read back from disk
    assert r.certified == "yes" and isinstance(r.masks, Masks) and r.masks.is_neuron_pattern()
    r.save(tmp_path)
    t = read_ticket(tmp_path / "ticket.npz")
    assert np.array_equal(t.masks.output_mask, r.masks.output_mask)
    A, b = t.masks.apply(t.U, t.v)
    exact = sup_errors(A, b, t.w, "relu", np.ones((1, A.shape[0]), np.uint8))[0]
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["certified"] == "yes" and exact <= data["error_upper"] + 1e-12 and data["error_upper"] <= 0.1


@pytest.mark.parametrize("backend", BACKENDS)
def test_masks_in_the_margin_are_cut_by_no_goods(backend):
    # eps just below the optimum: the best mask violates by less than the margin at sampled points,
    # so only a no-good can remove it; the answer must still be a sound "no"
    setting = Setting(d=2)
    inst, S, err = _brute(setting, 4, 12)  # 16 masks tie (to 1e-6) at the optimum
    best = float(err.min())
    out = get_method("neuron", "mip").solve(inst, best - 1e-9, backend=backend)
    assert out.status == "no"
    assert best - 1e-9 < out.error_lower <= best  # a no-good's bound is that mask's certified error
    assert out.stats["nogoods"] >= 1


def test_search_time_limit_bounds_a_width_search():
    import time

    t0 = time.perf_counter()
    r = api.width(Setting(d=2), seed=1, eps=0.003, paradigm="neuron", max_width=4096, search_time_limit=3.0)
    assert time.perf_counter() - t0 < 30
    assert r.n_star is None or r.search.n_lower == r.search.n_upper


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("seed", [5, 6])
def test_min_error_matches_brute_force_at_n14(output, seed):
    setting = Setting(d=2, output=output)
    inst, S, err = _brute(setting, seed, 14)
    best = float(err.min())
    me = get_method("neuron", "mip").solve(inst, 0.1, objective="min-error")
    assert me.limit is None
    assert me.error_lower <= best <= me.error_upper <= best + 1e-4 * best + 2e-6
    assert me.status == ("yes" if best <= 0.1 else "no") or abs(best - 0.1) < 1e-4


def _many_seeds(seed, n, output, scale, backend):
    """Feasibility and min-error on a random instance against brute force over all 2^n masks."""
    setting = Setting(d=2, output=output)
    inst, S, err = _brute(setting, seed, n)
    best = float(err.min())
    eps = max(best * scale, 1e-3)
    solver = get_method("neuron", "mip")
    out = solver.solve(inst, eps, backend=backend)
    _check_outcome(out, inst, eps, err)
    if abs(best - eps) > 1e-5 * max(best, 1e-3):  # off a tie the exact solver decides, and rightly
        assert out.status == ("yes" if best <= eps else "no"), (out.status, out.limit, eps, best)
    me = solver.solve(inst, eps, objective="min-error", backend=backend)
    _check_outcome(me, inst, eps, err)
    assert me.limit is None
    assert me.error_lower <= best <= me.error_upper <= best * (1 + 1e-4) + 2e-6


@settings(max_examples=10)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 10),
    output=st.sampled_from(OUTPUTS),
    scale=st.floats(0.2, 2.0),
    backend=st.sampled_from(BACKENDS),
)
def test_property_many_seeds(seed, n, output, scale, backend):
    # the fast twin of test_property_many_seeds_slow: the same checks, fewer and smaller instances
    _many_seeds(seed, n, output, scale, backend)


@pytest.mark.slow
@settings(max_examples=300)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 14),
    output=st.sampled_from(OUTPUTS),
    scale=st.floats(0.2, 2.0),
    backend=st.sampled_from(BACKENDS),
)
def test_property_many_seeds_slow(seed, n, output, scale, backend):
    _many_seeds(seed, n, output, scale, backend)


def test_highs_backend_keeps_stdout_clean():
    """HiGHS prints a banner on fd 1 from its first constructor; stdout must carry only what the caller prints."""
    import subprocess
    import sys

    code = ("from prunegap import api; from prunegap.setting import Setting; "
            "r = api.solve(Setting(d=2), seed=0, eps=0.1, width=12, paradigm='neuron', backend='highs'); "
            "print(r.certified)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # exactly the one line printed, and the answer brute force gives (the best of 12 units misses 0.1)
    inst, S, err = _brute(Setting(d=2), 0, 12)
    assert out == ("yes" if err.min() <= 0.1 else "no") + "\n", out
