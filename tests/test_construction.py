import itertools

import numpy as np
import pytest

from _brute import all_subsets, sup_errors
from _oracle import difference, sup_estimate
from conftest import sphere_points
from prunegap import Masks, Setting, draw_instance
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


def _best_subsets(values: np.ndarray, target: float) -> tuple[np.ndarray, float]:
    """(indicator, signed error) of the subset of ``values`` whose sum is closest to ``target``:
    every subset by enumeration (tiny groups only), independently of prunegap.subsetsum."""
    S = all_subsets(values.size).astype(float)
    err = S @ values - target
    i = int(np.argmin(np.abs(err)))
    return S[i].astype(bool), float(err[i])


def _reference_construction(inst):
    """The construction's ticket, alpha and beta, rebuilt from docs/theory.md section 4 alone:
    unit i serves coordinate i mod d, and each (coordinate, sign) group keeps its best subset."""
    n, d = inst.U.shape
    hidden = np.zeros((n, d), np.uint8)
    alpha, beta = np.zeros(d), np.zeros(d)
    for j in range(d):
        units = np.arange(j, n, d)
        for sign, coef in ((1.0, alpha), (-1.0, beta)):
            group = units[sign * inst.U[units, j] > 0]
            keep, err = _best_subsets(inst.v[group] * np.abs(inst.U[group, j]), sign * inst.w[j])
            hidden[group[keep], j] = 1
            coef[j] = err
    return Masks(hidden, hidden.any(axis=1).astype(np.uint8)), alpha, beta


def _reference_certificate(setting, inst) -> float:
    """The construction's certified error at one width, without prunegap's construction or evaluators.

    Relu output, sup norm: the closed form max(||max(alpha, beta)_+||, ||min(alpha, beta)_-||)
    bounds the error (docs/theory.md section 4); in d <= 2 the ticket's exact error (at most that)
    is certified, which the brute force's evaluator (d = 2) or the two points of the sphere (d = 1)
    give.  L2 on the circle: the ticket's exact L2 error, here by a fine midpoint rule.  L2 Gaussian
    in d >= 3 (relu output): |relu(h) - relu(<w,x>)| <= |h - <w,x>| = |sum_j alpha_j relu(x_j) +
    beta_j relu(-x_j)|, whose mean square is sum_j (alpha_j^2 + beta_j^2) / 2 +
    sum_{j != k} (alpha_j + beta_j)(alpha_k + beta_k) / (2 pi) for independent N(0, 1) coordinates."""
    masks, alpha, beta = _reference_construction(inst)
    A, b = masks.apply(inst.U, inst.v)
    if setting.norm == "l2-gaussian":
        c = alpha + beta
        return float(np.sqrt(((alpha**2 + beta**2) / 2).sum() + (c.sum() ** 2 - (c**2).sum()) / (2 * np.pi)))
    if setting.norm == "l2-sphere":
        t = (np.arange(1 << 16) + 0.5) * (2 * np.pi / (1 << 16))  # error ~1e-10 here
        X = np.stack([np.cos(t), np.sin(t)], axis=1)
        return float(np.sqrt(np.mean(difference(A, b, inst.w, setting.output, X) ** 2)))
    hi = np.maximum(np.maximum(alpha, beta), 0.0)
    lo = np.minimum(np.minimum(alpha, beta), 0.0)
    closed = float(max(np.linalg.norm(hi), np.linalg.norm(lo)))
    if setting.d >= 3:
        return closed
    if setting.d == 2:
        return min(closed, float(sup_errors(A, b, inst.w, setting.output, np.ones((1, A.shape[0]), np.uint8))[0]))
    return min(closed, float(np.abs(difference(A, b, inst.w, setting.output, np.array([[1.0], [-1.0]]))).max()))


# seeds whose n* at eps = 0.02 keeps every subset-sum group small enough to enumerate (<= 2^12)
@pytest.mark.parametrize(
    "setting, seed",
    [
        (Setting(d=2), 5),
        (Setting(d=3), 4),
        (Setting(d=2, norm="l2-sphere"), 5),
        (Setting(d=3, norm="l2-gaussian"), 4),
        (Setting(d=1), 0),
    ],
    ids=["d2-relu", "d3-relu", "d2-l2", "d3-l2-relu", "d1"],
)
def test_width_equals_linear_scan(setting, seed):
    # n* against an upward scan of the reference certificate, which shares no code with the solver
    eps = 0.02
    r = width(setting, seed=seed, eps=eps, paradigm="weight", max_width=400)
    ref = []
    for n in range(1, 400):
        ref.append(_reference_certificate(setting, draw_instance(setting, seed, n)))
        if ref[-1] <= eps:
            break
    first = len(ref)
    assert ref[-1] <= eps and all(abs(e - eps) > 1e-6 for e in ref)  # no width is a near tie with eps
    assert r.n_star == first, (r.n_star, first, ref[-5:])
    assert r.certified == "yes" and r.to_dict()["width"] == first
    assert r.error_upper <= eps and r.error_upper == pytest.approx(ref[-1], abs=1e-8)
    assert [list(s) for s in r.search.steps] == [[n, "yes" if n == first else "no"] for n in range(1, first + 1)]
    # solve() at one width answers as the search did
    assert solve(setting, width=first, seed=seed, eps=eps).outcome.method_status == "yes"
    if first > 1:
        assert solve(setting, width=first - 1, seed=seed, eps=eps).outcome.method_status == "no"
    masks, _, _ = _reference_construction(r.instance)
    assert np.array_equal(r.masks.hidden_mask, masks.hidden_mask)  # the same (unique) best subsets
    if setting.norm == "sup":
        A, b = r.masks.apply(r.instance.U, r.instance.v)
        assert sup_estimate(A, b, r.instance.w, setting.output, seed=seed) <= r.error_upper + 1e-12


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
