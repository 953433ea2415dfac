"""Exact weight pruning (one input subset per kept unit): brute force (d = 2 exact, d = 3 against the
independent oracle of tests/_oracle.py), planted tickets and the n* ordering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from _brute import neuron_errors, sup_errors, support_max, weight_errors
from _oracle import check_answers, check_ticket, choice_masks, family_bounds, sup_estimate, weight_choices, weight_columns
from prunegap import InvalidArgument, Setting, api, draw_instance
from prunegap.errors import network_error
from prunegap.planted import planted_instance
from prunegap.solvers.base import get_method
from prunegap.solvers.mip import weight_design
from prunegap.solvers.weight_exact import MAX_D

OUTPUTS = ("relu", "linear")


def _weight_brute(setting: Setting, seed: int, n: int):
    inst = draw_instance(setting, seed, n)
    choices, err = weight_errors(inst.U, inst.v, inst.w, setting.output)
    return inst, choices, err


def test_patterns_are_every_nonempty_subset():
    for d in range(1, 5):
        P = weight_design().patterns(d)
        assert P.shape == (2**d - 1, d)
        assert len({tuple(p) for p in P}) == 2**d - 1 and P.sum(axis=1).min() == 1
        assert P[0].sum() == d  # the neuron column first


def test_d_above_four_is_rejected():
    with pytest.raises(InvalidArgument, match="d must be <= 4"):
        get_method("weight", "exact").solve(draw_instance(Setting(d=MAX_D + 1), 0, 3), 0.5)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_solve_matches_brute_force(output, seed):
    setting = Setting(d=2, output=output)
    inst, choices, err = _weight_brute(setting, seed, 6)  # 4^6 weight masks
    best = float(err.min())
    solver = get_method("weight", "exact")
    for eps in (best * 0.7, best * 0.999, best * 1.001, best * 1.4):
        out = solver.solve(inst, eps)
        assert out.status == ("yes" if best <= eps else "no"), (eps, best)
        if out.status == "yes":
            m = out.masks
            assert m.width == inst.width
            assert np.all(m.hidden_mask.sum(axis=1)[m.output_mask == 1] >= 1)
            A, b = m.apply(inst.U, inst.v)
            assert network_error(A, b, inst.w, output=output).upper <= eps
        else:
            assert out.error_lower > eps and out.error_lower <= best + 1e-12
    me = solver.solve(inst, best, objective="min-error")
    assert me.limit is None
    assert me.error_lower <= best <= me.error_upper <= best * (1 + 1e-4) + 2e-6


@settings(max_examples=8)
@given(seed=st.integers(0, 5000), output=st.sampled_from(OUTPUTS), scale=st.floats(0.5, 1.5))
def test_property_weight_exact_never_wrong(seed, output, scale):
    setting = Setting(d=2, output=output)
    inst, choices, err = _weight_brute(setting, seed, 5)
    eps = max(float(err.min()) * scale, 1e-3)
    out = get_method("weight", "exact").solve(inst, eps)
    if out.status == "yes":
        A, b = out.masks.apply(inst.U, inst.v)
        assert network_error(A, b, inst.w, output=output).upper <= eps
        assert sup_errors(A, b, inst.w, output, np.ones((1, A.shape[0]), np.uint8))[0] <= eps + 1e-12
    elif out.status == "no":
        assert err.min() > eps and out.error_lower <= err.min() + 1e-12
    if abs(float(err.min()) - eps) > 1e-5:  # away from a tie with eps the exact solver decides, and rightly
        assert out.status == ("yes" if err.min() <= eps else "no"), (out.status, out.limit, eps, err.min())


def test_weight_exact_is_at_least_as_good_as_neuron_masks():
    # neuron masks are weight masks with S = all coordinates: min errors are ordered
    setting = Setting(d=2)
    inst = draw_instance(setting, 3, 9)
    S, err_neuron = neuron_errors(inst.U, inst.v, inst.w, "relu")
    me = get_method("weight", "exact").solve(inst, 0.5, objective="min-error")
    assert me.error_lower <= err_neuron.min() + 1e-12
    assert me.error_upper <= err_neuron.min() * (1 + 1e-4) + 2e-6


@pytest.mark.parametrize("output", OUTPUTS)
def test_width_matches_brute_force(output):
    setting = Setting(d=2, output=output)
    n_max = 6
    for seed in range(3):
        inst, choices, err = _weight_brute(setting, seed, n_max)
        widths = support_max(choices)
        vals = np.unique(err[err < 1.0])
        if vals.size < 2:
            continue
        eps = float(0.5 * (vals[vals.size // 3] + vals[vals.size // 3 + 1]))
        ok = err <= eps
        want = max(1, int(widths[ok].min()))
        r = api.width(setting, seed=seed, eps=eps, paradigm="weight", method="exact", max_width=n_max)
        assert r.n_star == want, (seed, r.search.steps)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_exact_n_star_never_exceeds_construction_or_neuron(seed):
    setting = Setting(d=2)
    eps = 0.1
    exact = api.width(setting, seed=seed, eps=eps, paradigm="weight", method="exact", max_width=256)
    neuron = api.width(setting, seed=seed, eps=eps, paradigm="neuron", max_width=256)
    assert exact.n_star is not None and neuron.n_star is not None
    assert exact.n_star <= neuron.n_star
    try:
        construction = api.width(setting, seed=seed, eps=eps, paradigm="weight", method="construction", max_width=256)
    except ModuleNotFoundError:  # the construction's subset-sum module is not there yet
        construction = None
    if construction is not None and construction.n_star is not None:
        assert exact.n_star <= construction.n_star
    # the exact ticket really is a weight ticket with error <= eps
    m = exact.masks
    A, b = m.apply(exact.instance.U, exact.instance.v)
    assert network_error(A, b, exact.instance.w).upper <= eps


# --- d = 3: against the independent oracle (dense sample + local optimisation) ----------------


def _d3_family(inst, seed):
    """Brute force over every weight mask of a tiny d = 3 network (8^n masks)."""
    A, b, P = weight_columns(inst.U, inst.v)
    S = choice_masks(weight_choices(inst.width, P.shape[0]), P.shape[0])
    return family_bounds(A, b, inst.w, inst.setting.output, S, seed=seed)


# (output, seed, width): tiny networks whose best weight mask is non-trivial (error well below 1)
D3_CASES = [("relu", 0, 3), ("relu", 2, 4), ("linear", 3, 3), ("linear", 1, 4)]


@pytest.mark.parametrize("output, seed, n", D3_CASES)
def test_d3_exact_matches_brute_force(output, seed, n):
    inst = draw_instance(Setting(d=3, output=output), seed, n)
    fam = _d3_family(inst, seed)
    assert fam.estimate < 0.95 and fam.best.sum() >= 1  # the optimum is not the empty mask
    solver = get_method("weight", "exact")
    check_answers(lambda eps, **kw: solver.solve(inst, eps, **kw), inst, fam, seed=seed)
    # every ticket is a weight mask: one nonempty input subset per kept unit
    m = solver.solve(inst, fam.upper).masks
    assert np.all(m.hidden_mask.sum(axis=1)[m.output_mask == 1] >= 1)


# the construction plant computes <w, x>, the target only under a relu output
@pytest.mark.parametrize("kind, width, output", [("neuron", 7, "relu"), ("neuron", 7, "linear"), ("construction", 8, "relu")])
def test_d3_exact_finds_a_planted_ticket(kind, width, output):
    # a planted mask computes the target exactly: the optimum is 0 and the solver must certify
    # a small eps with a non-empty ticket that the oracle confirms
    setting = Setting(d=3, output=output)
    inst, plant, _ = planted_instance(setting, 5, width, kind, **({"units": [2, 6]} if kind == "neuron" else {}))
    A, b = plant.masks(width, 3).apply(inst.U, inst.v)
    assert sup_estimate(A, b, inst.w, output, seed=5) <= 1e-12  # the plant itself, independently
    solver = get_method("weight", "exact")
    for eps in (0.05, 0.01):
        out = solver.solve(inst, eps)
        assert out.status == "yes" and out.masks.kept_weights >= 1
        check_ticket(inst, out, eps, seed=5)
    me = solver.solve(inst, 0.05, objective="min-error")
    assert me.limit is None and me.error_lower <= 1e-9
    assert me.error_upper <= 3e-6  # the planted optimum, to the evaluator's tolerance
    check_ticket(inst, me, seed=5)
