import itertools

import numpy as np
import pytest

from conftest import sphere_points
from prunegap import Setting, draw_instance
from prunegap.api import solve, width
from prunegap.errors import evaluate, forward, network_error, target_values
from prunegap.solvers.weight import closed_form_error, closed_form_maximizers, construct


def brute_subset(values, target):
    best = abs(target)
    for r in range(1, len(values) + 1):
        for c in itertools.combinations(range(len(values)), r):
            best = min(best, abs(sum(values[list(c)]) - target))
    return best


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_closed_form_against_dense_sampling(d):
    rng = np.random.default_rng(d)
    alpha, beta = rng.normal(size=d), rng.normal(size=d)
    X = sphere_points(d, 200_000, seed=d)
    e = (np.maximum(X, 0) * alpha + np.maximum(-X, 0) * beta).sum(axis=1)
    cf = closed_form_error(alpha, beta)
    assert np.abs(e).max() <= cf + 1e-12
    # the maximizers attain it
    P = closed_form_maximizers(alpha, beta)
    e_star = (np.maximum(P, 0) * alpha + np.maximum(-P, 0) * beta).sum(axis=1)
    assert np.abs(e_star).max() == pytest.approx(cf, rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("d", [2, 3])
def test_groups_are_exact_subset_sums(seed, d):
    inst = draw_instance(Setting(d=d), seed, 6 * d)
    c = construct(inst)
    for j in range(d):
        units = np.arange(j, inst.width, d)
        u = inst.U[units, j]
        for sign, err in ((1, c.alpha[j]), (-1, c.beta[j])):
            group = units[u * sign > 0]
            vals = inst.v[group] * np.abs(inst.U[group, j])
            assert abs(err) == pytest.approx(brute_subset(vals, sign * inst.w[j]), abs=1e-13)


def _hidden_sum_error(inst, masks, w_target):
    """Exact sup |h - <w,x>| in d = 2: a linear-output network against <w,x> = relu(<w,x>) - relu(-<w,x>)."""
    A, b = masks.apply(inst.U, inst.v)
    return network_error(np.vstack([A, -inst.w]), np.append(b, 1.0), inst.w, output="linear")


@pytest.mark.parametrize("seed", range(6))
def test_closed_form_equals_generic_evaluator(seed):
    # The closed form is the exact sup of the hidden sum's error |h - <w,x>|.
    inst = draw_instance(Setting(d=2), seed, 24)
    c = construct(inst)
    exact = _hidden_sum_error(inst, c.masks, inst.w)
    assert closed_form_error(c.alpha, c.beta) == pytest.approx(exact.upper, abs=1e-12)
    assert exact.lower <= c.hidden_error


def test_linear_output_cannot_follow_the_target_kink():
    # THEORY §2: single-coordinate units have no kink on w^perp, so with a linear
    # output the error stays near ||w|| = 1 however wide the network.
    s = Setting(d=2, output="linear")
    r = solve(s, width=60, seed=1, eps=0.01)
    d = r.to_dict()
    assert d["ticket_error_lower"] > 0.9 and d["certified"] == "unknown"
    inst = draw_instance(s, 1, 60)
    c = construct(inst)
    assert d["ticket_error_lower"] >= 1.0 - c.hidden_error - 1e-12


@pytest.mark.parametrize("seed", range(5))
def test_relu_output_never_worse_than_closed_form(seed):
    inst = draw_instance(Setting(d=2), seed, 24)
    c = construct(inst)
    assert evaluate(inst, c.masks).upper <= c.hidden_error + 1e-12


def test_closed_form_equals_sampled_hidden_sum_error_d4():
    inst = draw_instance(Setting(d=4), 1, 40)
    c = construct(inst)
    A, b = c.masks.apply(inst.U, inst.v)
    X = np.vstack([closed_form_maximizers(c.alpha, c.beta), sphere_points(4, 100_000)])
    sampled = np.abs(forward(A, b, X, "linear") - X @ inst.w).max()
    assert sampled <= c.hidden_error
    assert sampled == pytest.approx(closed_form_error(c.alpha, c.beta), rel=1e-9)


def test_masks_have_the_construction_pattern():
    inst = draw_instance(Setting(d=3), 0, 60)
    m = construct(inst).masks
    rows = np.nonzero(m.output_mask)[0]
    assert np.all(m.hidden_mask.sum(axis=1)[rows] == 1)
    assert np.all(m.hidden_mask[rows, rows % 3] == 1)
    assert m.hidden_mask[m.output_mask == 0].sum() == 0


@pytest.mark.parametrize("d", [2, 3])
def test_coefficient_errors_never_grow_with_width(d):
    s = Setting(d=d)
    cs = [construct(draw_instance(s, 4, n)) for n in range(1, 80)]
    for a, b in zip(cs, cs[1:]):
        assert np.all(np.abs(b.alpha) <= np.abs(a.alpha)) and np.all(np.abs(b.beta) <= np.abs(a.beta))


def test_regression_closed_form_is_not_monotone_in_width():
    # d=2, seed 4: at width 30 beta_2 moves from +0.0017 to -0.00065 and the
    # negative part's norm grows; why the construction's n* comes from a scan.
    s = Setting(d=2)
    e29 = construct(draw_instance(s, 4, 29)).hidden_error
    e30 = construct(draw_instance(s, 4, 30)).hidden_error
    assert e30 > e29


@pytest.mark.parametrize(
    "setting",
    [
        Setting(d=2),
        Setting(d=3),
        Setting(d=2, norm="l2-sphere"),
        pytest.param(Setting(d=3, norm="l2-gaussian"), marks=pytest.mark.slow),  # Monte Carlo at every width
        Setting(d=1),
    ],
    ids=["d2-relu", "d3-relu", "d2-l2", "d3-l2-relu", "d1"],
)
def test_width_equals_linear_scan(setting):
    eps = 0.02
    r = width(setting, seed=2, eps=eps, paradigm="weight", max_width=400)
    first = next(n for n in range(1, 401) if solve(setting, width=n, seed=2, eps=eps).outcome.method_status == "yes")
    assert r.n_star == first
    assert r.certified == "yes" and r.error_upper <= eps
    assert r.to_dict()["width"] == first


def test_solve_result_brackets_ticket_error():
    r = solve(Setting(d=3), width=60, seed=0, eps=0.05)
    d = r.to_dict()
    assert d["error_lower"] == 0.0
    assert d["ticket_error_lower"] <= d["ticket_error_upper"]
    assert d["error_upper"] >= d["ticket_error_lower"]
    # a sampled check of the ticket: never above the certified error
    A, b = r.masks.apply(r.instance.U, r.instance.v)
    X = sphere_points(3, 50_000)
    assert np.abs(forward(A, b, X) - target_values(r.instance.w, X)).max() <= d["error_upper"]
