"""Exact weight pruning (one input subset per kept unit): brute force and the n* ordering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from _brute import neuron_errors, support_max, weight_errors
from prunegap import api
from prunegap.errors import network_error
from prunegap.exceptions import InvalidArgument
from prunegap.network import draw_instance
from prunegap.setting import Setting
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
    elif out.status == "no":
        assert err.min() > eps


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


def test_d3_exact_is_certified():
    setting = Setting(d=3)
    inst = draw_instance(setting, 0, 6)
    out = get_method("weight", "exact").solve(inst, 0.6)
    if out.status == "yes":
        A, b = out.masks.apply(inst.U, inst.v)
        assert network_error(A, b, inst.w, eps=0.6).upper <= 0.6
    assert out.status in ("yes", "no", "unknown")
