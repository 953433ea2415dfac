"""L2 errors: the arc-cosine kernel, the exact linear-output error, and the
proven bounds and statistical estimate of Monte Carlo."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from prunegap import solve
from prunegap.errors import forward, network_error, target_values, verdict
from prunegap.errors.circle import l2_error_circle
from prunegap.errors.l2 import arccos_kernel, l2_error_kernel, l2_error_monte_carlo
from prunegap.exceptions import InvalidArgument
from prunegap.setting import Setting

NORMS = ("l2-gaussian", "l2-sphere")


def _instance(seed: int, k: int, d: int, *, near_target: bool = False):
    r = np.random.default_rng(seed)
    A = r.normal(size=(k, d))
    b = r.normal(size=k)
    w = r.normal(size=d)
    if near_target:  # the target itself plus small noise units: errors well below 1
        A = np.vstack([A, w])
        b = np.append(0.05 * b, 1.0)
    return A, b, w


# --- the kernel -------------------------------------------------------------


def test_kernel_hand_cases():
    a = np.array([1.0, 2.0, 3.0])
    assert arccos_kernel(a, a)[0, 0] == pytest.approx(a @ a / 2, rel=1e-15)
    assert arccos_kernel(a, 2 * a)[0, 0] == pytest.approx(a @ a, rel=1e-15)
    assert arccos_kernel(a, -a)[0, 0] == pytest.approx(0.0, abs=1e-300)
    assert 0.0 <= arccos_kernel(a, -0.3 * a)[0, 0] < 1e-30
    x, y = np.array([[3.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 2.0]])
    assert arccos_kernel(x, y)[0, 0] == pytest.approx(3 * 2 / (2 * np.pi), rel=1e-15)
    # 60 degrees: (sin + (pi - theta) cos) / (2 pi) with theta = pi / 3
    th = np.pi / 3
    v = np.array([np.cos(th), np.sin(th), 0.0])
    want = (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)
    assert arccos_kernel(np.array([1.0, 0.0, 0.0]), v)[0, 0] == pytest.approx(want, rel=1e-14)


def test_kernel_zero_rows_shapes_symmetry_psd():
    r = np.random.default_rng(0)
    X = r.normal(size=(6, 4))
    X[2] = 0.0
    K = arccos_kernel(X, X)
    assert K.shape == (6, 6)
    assert np.all(K[2] == 0) and np.all(K[:, 2] == 0)
    assert np.allclose(K, K.T, rtol=0, atol=1e-15)
    assert np.linalg.eigvalsh(K).min() > -1e-12
    assert np.all(K >= 0)
    assert arccos_kernel(X, X[:3]).shape == (6, 3)
    with pytest.raises(InvalidArgument):
        arccos_kernel(X, np.ones((2, 3)))


def test_kernel_matches_monte_carlo():
    r = np.random.default_rng(1)
    X, Y = r.normal(size=(3, 4)), r.normal(size=(2, 4))
    Y[1] = -X[0] + 0.1 * r.normal(size=4)  # nearly antiparallel pair too
    Z = np.random.default_rng(2).standard_normal((400_000, 4))
    fx, fy = np.maximum(Z @ X.T, 0), np.maximum(Z @ Y.T, 0)
    prod = fx[:, :, None] * fy[:, None, :]
    mc = prod.mean(axis=0)
    se = prod.std(axis=0) / math.sqrt(Z.shape[0])
    K = arccos_kernel(X, Y)
    assert np.all(np.abs(K - mc) <= 5 * se + 1e-12)


def test_kernel_stable_near_parallel_and_antiparallel():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40

    def ref(a, b):
        a = [mp.mpf(float(x)) for x in a]
        b = [mp.mpf(float(x)) for x in b]
        na, nb = mp.sqrt(sum(x * x for x in a)), mp.sqrt(sum(x * x for x in b))
        dn = mp.sqrt(sum((x / na - y / nb) ** 2 for x, y in zip(a, b)))
        sn = mp.sqrt(sum((x / na + y / nb) ** 2 for x, y in zip(a, b)))
        th = 2 * mp.atan2(dn, sn)
        return na * nb * (mp.sin(th) + (mp.pi - th) * mp.cos(th)) / (2 * mp.pi)

    r = np.random.default_rng(3)
    for t in range(80):
        d = int(r.integers(2, 6))
        a = r.normal(size=d)
        e = 10.0 ** r.uniform(-12, 0)
        b = a * r.uniform(0.1, 3.0) + e * r.normal(size=d)
        if t % 2:
            b = -b
        got = arccos_kernel(a, b)[0, 0]
        assert abs(mp.mpf(got) - ref(a, b)) <= 1e-15 * np.linalg.norm(a) * np.linalg.norm(b)
        assert got >= 0


# --- exact linear-output error ---------------------------------------------


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("seed", range(8))
def test_kernel_error_matches_circle_linear(norm, seed):
    A, b, w = _instance(seed, k=int(3 + seed), d=2, near_target=bool(seed % 2))
    ours = l2_error_kernel(A, b, w, norm=norm)
    exact = l2_error_circle(A, b, w, output="linear", norm=norm)
    assert ours.method == "kernel" and ours.confidence == 1.0
    mid, ref = 0.5 * (ours.lower + ours.upper), 0.5 * (exact.lower + exact.upper)
    assert abs(mid - ref) <= 1e-12 * max(1.0, ref)
    assert ours.lower <= exact.upper and exact.lower <= ours.upper


@pytest.mark.parametrize("d", [2, 3, 7])
def test_kernel_error_homogeneity_and_closed_forms(d):
    A, b, w = _instance(10 + d, k=5, d=d)
    g = l2_error_kernel(A, b, w, norm="l2-gaussian")
    s = l2_error_kernel(A, b, w, norm="l2-sphere")
    assert g.upper == pytest.approx(math.sqrt(d) * s.upper, rel=1e-12)
    # empty network: ||f|| = ||w|| / sqrt(2) for the Gaussian
    e = l2_error_kernel(np.zeros((0, d)), np.zeros(0), w, norm="l2-gaussian")
    assert e.lower <= np.linalg.norm(w) / math.sqrt(2) <= e.upper
    # exact reconstruction, also when split into parallel pieces: error 0
    z = l2_error_kernel(np.vstack([w, 2 * w, 4 * w]), np.array([0.5, 0.125, 0.0625]), w)
    assert z.lower == 0.0 and z.upper < 1e-6 * np.linalg.norm(w)
    # zero units and zero weights change nothing
    A2 = np.vstack([A, np.zeros(d), np.ones(d)])
    b2 = np.append(b, [3.0, 0.0])
    assert l2_error_kernel(A2, b2, w).upper == pytest.approx(g.upper, rel=1e-13)


def test_kernel_error_interval_contains_high_precision_value():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40

    def k(a, b):
        na, nb = mp.sqrt(sum(x * x for x in a)), mp.sqrt(sum(x * x for x in b))
        dn = mp.sqrt(sum((x / na - y / nb) ** 2 for x, y in zip(a, b)))
        sn = mp.sqrt(sum((x / na + y / nb) ** 2 for x, y in zip(a, b)))
        th = 2 * mp.atan2(dn, sn)
        return na * nb * (mp.sin(th) + (mp.pi - th) * mp.cos(th)) / (2 * mp.pi)

    r = np.random.default_rng(4)
    for t in range(12):
        d, n = 3, 6
        w = r.normal(size=d)
        # near-exact reconstructions: the hardest case for cancellation
        A = np.outer(np.ones(n), w) + 10.0 ** r.uniform(-12, -4) * r.normal(size=(n, d))
        b = r.dirichlet(np.ones(n))
        U = [[mp.mpf(float(x)) for x in row] for row in np.vstack([A, w])]
        c = [mp.mpf(float(x)) for x in b] + [mp.mpf(-1)]
        ref = sum(c[i] * c[j] * k(U[i], U[j]) for i in range(n + 1) for j in range(n + 1))
        res = l2_error_kernel(A, b, w)
        assert res.lower**2 <= ref <= res.upper**2


def test_kernel_error_large_k():
    A, b, w = _instance(5, k=2000, d=5)
    b = b / 2000
    res = l2_error_kernel(A, b, w)
    assert np.isfinite(res.upper) and res.gap < 1e-6
    # agrees with an independent evaluation through the full Gram matrix
    U = np.vstack([A, w])
    c = np.append(b, -1.0)
    assert 0.5 * (res.lower + res.upper) == pytest.approx(math.sqrt(c @ arccos_kernel(U, U) @ c), rel=1e-10)


def test_kernel_error_validation():
    A, b, w = _instance(0, 3, 3)
    with pytest.raises(InvalidArgument):
        l2_error_kernel(A, b, w, norm="sup")
    with pytest.raises(InvalidArgument):
        l2_error_kernel(A, b[:2], w)


# --- Monte Carlo: proven bounds decide, the estimate is statistical ---------
#
# References are exact, never another Monte Carlo run: the d = 2 angular
# integration (l2_error_circle) for a relu output, and the kernel
# (l2_error_kernel) for networks equal to their linear output.


def _sup_bound_ref(A, b, w, output):
    """The crude sup bound of |g - f| on the sphere: 0 <= relu(<a, u>) <= ||a||."""
    an = np.linalg.norm(A, axis=1)
    P, N, wn = float(np.maximum(b, 0) @ an), float(np.maximum(-b, 0) @ an), float(np.linalg.norm(w))
    return max(P, wn) if output == "relu" else max(P, N + wn)


def _contains(lo, hi, exact):
    return lo <= exact.upper and exact.lower <= hi


def _maurer_pontil_half_width(n, var, B, confidence):
    # Maurer & Pontil (2009), Thm 4, on Y / B in [0, 1], at delta / 2 per side
    L = math.log(2.0 / ((1.0 - confidence) / 2.0))
    return math.sqrt(2.0 * var * L / n) + 7.0 * B * L / (3.0 * (n - 1))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("seed", range(6))
def test_monte_carlo_contains_exact_circle_relu(norm, seed):
    A, b, w = _instance(100 + seed, k=6, d=2, near_target=bool(seed % 2))
    b[np.argmin(b)] = -abs(b).max()  # a negative output weight: relu(h) != h
    exact = l2_error_circle(A, b, w, output="relu", norm=norm)
    mc = l2_error_monte_carlo(A, b, w, norm=norm, rng=np.random.default_rng(seed), n_samples=50_000, confidence=0.99999)
    assert mc.method == "monte-carlo" and mc.confidence == 1.0
    # the proven interval holds the exact value always, the estimate at its confidence
    assert _contains(mc.lower, mc.upper, exact)
    est = mc.estimate
    assert est.method == "empirical-bernstein" and est.confidence == 0.99999 and est.n_samples == 50_000
    assert _contains(est.lower, est.upper, exact)
    assert _contains(mc.stats["mc_lower"], mc.stats["mc_upper"], exact)
    assert mc.lower <= est.lower <= est.upper <= mc.upper
    assert mc.stats["n_samples"] == 50_000
    assert set(mc.stats) >= {"n_samples", "mean_sq", "sample_var", "sample_bound_sq", "half_width_sq", "upper_from"}


def test_verdict_never_decided_by_the_estimate():
    # d = 3, three units, a negative output weight: the sampled interval is
    # ~[0.285, 0.291] while the proven upper bound is ~1.56.  An eps between
    # them is not certified either way.
    A, b, w = _instance(113, k=3, d=3)
    res = l2_error_monte_carlo(A, b, w, norm="l2-sphere", rng=np.random.default_rng(0), n_samples=200_000)
    eps = 1.0
    assert res.verdict(eps) == "unknown"
    assert res.estimate.upper < eps < res.upper
    assert res.confidence == 1.0 and not res.exact
    # upper is the better of the two proven bounds
    lam1 = l2_error_kernel(np.vstack([A, -w]), np.append(b, 1.0), w, norm="l2-sphere").upper
    assert res.upper <= lam1 * (1 + 1e-12) and res.upper <= _sup_bound_ref(A, b, w, "relu") * (1 + 1e-12)
    assert res.upper == res.stats["proven_upper"] == min(res.stats["proven_upper_kernel"], res.stats["proven_upper_sup"])
    # every verdict follows the proven ends alone
    for e in np.linspace(0.0, 2.0 * res.upper, 81):
        assert res.verdict(e) == verdict(res.lower, res.upper, e)
    d = res.to_dict()
    assert (d["error_lower"], d["error_upper"], d["error_confidence"]) == (res.lower, res.upper, 1.0)
    assert d["error_method"] == "monte-carlo" and d["error_estimate_method"] == "empirical-bernstein"
    assert (d["error_estimate_lower"], d["error_estimate_upper"]) == (res.estimate.lower, res.estimate.upper)
    assert d["error_estimate_confidence"] == 0.999
    assert "error_estimate_lower" not in l2_error_kernel(A, b, w).to_dict()


def test_proven_lower_bound_closed_form_and_exact_references():
    # b < 0 everywhere: h <= 0, g = 0, and the error is ||f|| = ||w|| / sqrt(2) (Gaussian)
    r = np.random.default_rng(31)
    for d in (2, 3, 5):
        A, w = r.normal(size=(4, d)), r.normal(size=d)
        res = l2_error_monte_carlo(A, -r.uniform(0.1, 1, 4), w, rng=np.random.default_rng(0), n_samples=100)
        assert res.lower == pytest.approx(np.linalg.norm(w) / math.sqrt(2), rel=1e-12)
        assert res.lower <= np.linalg.norm(w) / math.sqrt(2) * (1 + 1e-15) <= res.upper
    # never above the exact value: d = 2 circle, and d >= 3 with relu(h) = h
    for t in range(60):
        d = 2 if t % 2 else int(r.integers(3, 6))
        near = t % 3 == 0
        A, b, w = _instance(400 + t, k=int(r.integers(1, 6)), d=d, near_target=near)
        b = np.abs(b)
        if d == 2:
            b[0] = -b[0]
        for norm in NORMS:
            res = l2_error_monte_carlo(A, b, w, norm=norm, rng=np.random.default_rng(t), n_samples=50, exact_when_possible=False)
            exact = l2_error_kernel(A, b, w, norm=norm) if d > 2 else l2_error_circle(A, b, w, output="relu", norm=norm)
            assert _contains(res.lower, res.upper, exact)
            if d == 2:
                assert res.stats["lower_from"] == "test-functions"


def test_sup_bound_is_an_upper_bound_of_every_sample():
    r = np.random.default_rng(32)
    for t in range(30):
        d = int(r.integers(2, 5))
        A, b, w = _instance(500 + t, k=int(r.integers(1, 8)), d=d, near_target=bool(t % 2))
        b[0] = -abs(b[0])
        for output in ("relu", "linear"):
            res = l2_error_monte_carlo(
                A, b, w, output=output, norm="l2-sphere", rng=np.random.default_rng(t), n_samples=4000, exact_when_possible=False
            )
            B = res.stats["sample_bound_sq"]
            assert res.stats["sample_max_sq"] <= B <= _sup_bound_ref(A, b, w, output) ** 2 * (1 + 1e-12)
            Z = r.standard_normal((20_000, d))
            X = Z / np.linalg.norm(Z, axis=1, keepdims=True)
            diff = forward(A, b, X, output) - target_values(w, X)
            assert float(np.max(diff**2)) <= B
    # units that cancel: the bound sees through relu(t) - relu(-t) = t
    w = np.array([0.3, -0.4, 1.2])
    E = np.eye(3)
    A = np.vstack([E, -E])
    b = np.concatenate([w, -w]) * (1 + 1e-3)  # h = 1.001 <w, x>
    res = l2_error_monte_carlo(
        A, b, w, output="linear", norm="l2-sphere", rng=np.random.default_rng(0), n_samples=100, exact_when_possible=False
    )
    # h - relu(<w, u>) = 1.001 <w, u> - relu(<w, u>): sup 1.001 ||w|| at u = -w / ||w||,
    # while the crude bound is 1.001 ||w||_1 + ||w||
    assert res.stats["sample_bound_sq"] == pytest.approx((1.001 * np.linalg.norm(w)) ** 2, rel=1e-12)


def test_estimate_half_width_is_two_sided_maurer_pontil():
    # Recompute the samples, their mean and variance, and the half-width from
    # the closed form; a one-sided deviation (delta instead of delta / 2 per
    # side) or a normal quantile would not match.
    for seed, (k, d, norm, output, conf) in enumerate(
        [(3, 3, "l2-sphere", "relu", 0.999), (5, 4, "l2-gaussian", "relu", 0.9), (4, 3, "l2-sphere", "linear", 0.99)]
    ):
        A, b, w = _instance(600 + seed, k=k, d=d)
        b[0] = -abs(b[0])
        n = 3000
        res = l2_error_monte_carlo(
            A, b, w, output=output, norm=norm, rng=np.random.default_rng(seed), n_samples=n, confidence=conf,
            exact_when_possible=False,
        )
        Z = np.random.default_rng(seed).standard_normal((n, d))
        U = Z / np.linalg.norm(Z, axis=1, keepdims=True)
        Y = (d if norm == "l2-gaussian" else 1) * (forward(A, b, U, output) - target_values(w, U)) ** 2
        s = res.stats
        assert s["n_samples"] == n and res.estimate.confidence == conf
        assert s["mean_sq"] == pytest.approx(Y.mean(), rel=1e-12)
        assert s["sample_var"] == pytest.approx(Y.var(ddof=1), rel=1e-10)
        B = s["sample_bound_sq"]
        half = _maurer_pontil_half_width(n, Y.var(ddof=1), B, conf)
        assert s["half_width_sq"] == pytest.approx(half, rel=1e-9)
        assert s["mc_upper"] ** 2 == pytest.approx(min(Y.mean() + half, B), rel=1e-9)
        assert s["mc_lower"] ** 2 == pytest.approx(max(Y.mean() - half, 0.0), rel=1e-9, abs=1e-15)
        # the estimate is the raw interval clipped into the proven one
        assert res.estimate.lower == min(max(s["mc_lower"], res.lower), res.upper)
        assert res.estimate.upper == min(max(s["mc_upper"], res.estimate.lower), res.upper)


def test_estimate_coverage_against_exact_references():
    # 200 independent runs each, few samples, at confidence 0.9: the interval
    # must hold the exact value in at least 90% of them (a rigorous bound
    # like this one essentially always).
    conf, n, runs = 0.9, 200, 200
    configs = []
    A, b, w = _instance(700, k=5, d=2)
    b[:2] = -np.abs(b[:2])
    configs.append(((A, b, w), "relu", "l2-sphere", l2_error_circle(A, b, w, output="relu", norm="l2-sphere")))
    A, b, w = _instance(701, k=4, d=3, near_target=True)
    configs.append(((A, np.abs(b), w), "relu", "l2-gaussian", l2_error_kernel(A, np.abs(b), w, norm="l2-gaussian")))
    A, b, w = _instance(702, k=6, d=3)
    configs.append(((A, b, w), "linear", "l2-sphere", l2_error_kernel(A, b, w, norm="l2-sphere")))
    seeds = np.random.SeedSequence(2024).spawn(runs)
    for (A, b, w), output, norm, exact in configs:
        raw_miss = est_miss = 0
        for ss in seeds:
            res = l2_error_monte_carlo(A, b, w, output=output, norm=norm, rng=np.random.default_rng(ss), n_samples=n,
                                       confidence=conf, exact_when_possible=False)
            raw_miss += not _contains(res.stats["mc_lower"], res.stats["mc_upper"], exact)
            est_miss += not _contains(res.estimate.lower, res.estimate.upper, exact)
            assert _contains(res.lower, res.upper, exact)  # proven: always
        assert raw_miss <= (1 - conf) * runs and est_miss <= raw_miss


def test_monte_carlo_reproducible():
    A, b, w = _instance(7, k=8, d=4)
    r1 = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(11), n_samples=20_000)
    r2 = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(11), n_samples=20_000)
    r3 = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(12), n_samples=20_000)
    assert (r1.lower, r1.upper, r1.stats["mean_sq"], r1.estimate) == (r2.lower, r2.upper, r2.stats["mean_sq"], r2.estimate)
    assert r1.stats["mean_sq"] != r3.stats["mean_sq"]
    # the proven interval does not depend on the samples
    assert (r1.lower, r1.upper) == (r3.lower, r3.upper)
    # the sample stream does not depend on the batch size, only the summation order does
    r4 = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(11), n_samples=20_000, batch=777)
    assert r4.stats["mean_sq"] == pytest.approx(r1.stats["mean_sq"], rel=1e-12)
    # Gaussian = d * sphere on the same samples
    rs = l2_error_monte_carlo(A, b, w, norm="l2-sphere", rng=np.random.default_rng(11), n_samples=20_000)
    assert r1.stats["mean_sq"] == pytest.approx(4 * rs.stats["mean_sq"], rel=1e-12)
    assert r1.upper == pytest.approx(2 * rs.upper, rel=1e-12)


@pytest.mark.parametrize("near", [False, True])
def test_monte_carlo_upper_not_above_proven_bound(near):
    for seed in range(4):
        A, b, w = _instance(300 + seed, k=7, d=3, near_target=near)
        # |relu(h) - relu(<w,x>)| <= |h - <w,x>|, and h - <w,x> is the linear-output
        # network  sum b_k relu(<A_k,x>) + relu(<-w,x>)  minus relu(<w,x>)
        lin = l2_error_kernel(np.vstack([A, -w]), np.append(b, 1.0), w)
        mc = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(seed), n_samples=2_000)
        assert mc.upper <= mc.stats["proven_upper_lam1"] <= lin.upper * (1 + 1e-12)
        assert mc.stats["proven_upper_kernel"] <= min(mc.stats["proven_upper_lam1"], mc.stats["proven_upper_lam0"])
        assert mc.upper == mc.stats["proven_upper"] == min(mc.stats["proven_upper_kernel"], mc.stats["proven_upper_sup"])
        assert mc.lower == mc.stats["proven_lower"]
        assert mc.stats["upper_from"] in ("kernel-bound", "sup-bound")
        assert mc.estimate.upper <= mc.upper


def test_monte_carlo_proven_bounds_near_exact():
    # the target plus tiny noise units
    r = np.random.default_rng(8)
    w = r.normal(size=2)
    A = np.vstack([w, r.normal(size=(4, 2))])
    b = np.append(1.0, 1e-3 * r.normal(size=4))
    b[1] = -abs(b[1])
    exact = l2_error_circle(A, b, w, output="relu", norm="l2-gaussian")
    mc = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(0), n_samples=2_000, confidence=0.99999)
    assert mc.stats["upper_from"] == "kernel-bound"
    assert _contains(mc.lower, mc.upper, exact)
    # both proven ends are tight here: the kernel bound is nearly exact, and so is
    # the test function relu(<w, x>) below
    assert mc.upper <= 1.001 * exact.upper and mc.lower >= 0.9 * exact.lower
    assert mc.stats["lower_from"] == "test-functions"


def test_monte_carlo_shortcut_and_linear_output():
    A, b, w = _instance(9, k=5, d=3)
    bp = np.abs(b)
    short = l2_error_monte_carlo(A, bp, w, rng=np.random.default_rng(0))
    exact = l2_error_kernel(A, bp, w)
    assert short.method == "kernel" and short.estimate is None and "shortcut" in short.stats
    assert (short.lower, short.upper) == (exact.lower, exact.upper)
    # without the shortcut: the proven interval is the exact kernel one, and
    # the sampled interval still holds the exact value
    mc = l2_error_monte_carlo(A, bp, w, rng=np.random.default_rng(0), n_samples=30_000, confidence=0.99999, exact_when_possible=False)
    assert mc.method == "monte-carlo" and mc.stats["upper_from"] == "kernel"
    assert (mc.lower, mc.upper) == (exact.lower, exact.upper) and mc.exact
    assert _contains(mc.stats["mc_lower"], mc.stats["mc_upper"], exact)
    lin = l2_error_monte_carlo(
        A, b, w, output="linear", rng=np.random.default_rng(1), n_samples=30_000, confidence=0.99999, exact_when_possible=False
    )
    ex_lin = l2_error_kernel(A, b, w)
    assert (lin.lower, lin.upper) == (ex_lin.lower, ex_lin.upper)
    assert _contains(lin.stats["mc_lower"], lin.stats["mc_upper"], ex_lin)
    # the empty network has g = 0 >= 0: exact ||w|| / sqrt(2)
    e = l2_error_monte_carlo(np.zeros((0, 3)), np.zeros(0), w, rng=np.random.default_rng(0))
    assert e.lower <= np.linalg.norm(w) / math.sqrt(2) <= e.upper


def test_monte_carlo_validation():
    A, b, w = _instance(0, 3, 3)
    g = np.random.default_rng(0)
    for kwargs in ({"confidence": 1.0}, {"confidence": 0.0}, {"n_samples": 1}, {"batch": 0}, {"norm": "sup"}, {"output": "tanh"}):
        with pytest.raises(InvalidArgument):
            l2_error_monte_carlo(A, b, w, rng=g, **kwargs)


# --- the construction's L2 certificate in d = 3 (fast twin of the slow scan) --


@pytest.mark.parametrize("norm", NORMS)
def test_construction_l2_relu_certifies_on_a_proven_bound(norm):
    s = Setting(d=3, norm=norm)
    r = solve(s, width=61, seed=2, eps=1.0, paradigm="weight")
    d = r.to_dict()
    assert d["ticket_error_method"] == "monte-carlo" and d["ticket_error_confidence"] == 1.0
    est = d["ticket_error_estimate"]
    assert est["method"] == "empirical-bernstein" and est["upper"] <= d["ticket_error_upper"]
    # the certificate is the linearised kernel bound, recomputed here
    A, b = r.masks.apply(r.instance.U, r.instance.v)
    w = r.instance.w
    proven = l2_error_kernel(np.vstack([A, -w]), np.append(b, 1.0), w, norm=norm).upper
    assert r.error_upper == pytest.approx(proven, rel=1e-12)
    assert d["ticket_error_lower"] <= d["ticket_error_upper"] <= proven * (1 + 1e-12)
    # an eps the sample clears but the proof does not is not certified
    assert est["upper"] < proven
    eps = 0.5 * (est["upper"] + proven)
    tight = solve(s, width=61, seed=2, eps=eps, paradigm="weight")
    assert tight.certified == verdict(0.0, tight.error_upper, eps) == "unknown"
    assert tight.outcome.method_status == "no"
    ok = solve(s, width=61, seed=2, eps=proven * (1 + 1e-9), paradigm="weight")
    assert ok.certified == "yes"


# --- dispatch ----------------------------------------------------------------


def test_network_error_dispatches_to_l2():
    A, b, w = _instance(13, k=6, d=3)
    lin = network_error(A, b, w, norm="l2-gaussian", output="linear")
    assert lin.method == "kernel"
    assert lin.upper == l2_error_kernel(A, b, w, norm="l2-gaussian").upper
    relu1 = network_error(A, b, w, norm="l2-sphere", output="relu", rng=5, n_samples=5_000)
    relu2 = network_error(A, b, w, norm="l2-sphere", output="relu", rng=5, n_samples=5_000, confidence=0.99)
    assert relu1.method == "monte-carlo" and relu1.stats["n_samples"] == 5_000
    assert relu2.estimate.confidence == 0.99 and relu2.stats["mean_sq"] == relu1.stats["mean_sq"]
    assert relu1.confidence == relu2.confidence == 1.0 and (relu1.lower, relu1.upper) == (relu2.lower, relu2.upper)
    direct = l2_error_monte_carlo(A, b, w, norm="l2-sphere", rng=np.random.default_rng(5), n_samples=5_000)
    assert (direct.lower, direct.upper) == (relu1.lower, relu1.upper)


# --- scale safety: every L2 error here is 1-homogeneous in (A, w) ------------
#
# g - f scales by s when A and w do (b fixed), so the interval at scale 2^s
# must be 2^s times the one at scale 1, rounded outwards: squares of 2^600
# overflow and those of 2^-600 underflow, so the evaluators rescale first.
# The reference at scale 1 is the instance actually evaluated,
# 2^-s (2^s A) (at 2^-1060 the entries are subnormals with few bits).

SCALES = (-1060, -600, -100, 0, 100, 600, 1000)
_DBL_MAX = float(np.finfo(np.float64).max)
_SUB = Fraction(2) ** -1074  # the smallest subnormal: the spacing of the results near 0
_ULPS = Fraction(4) * Fraction(2) ** -52


def _assert_scaled(got: float, ref: float, s: int, *, up: bool, what: str) -> None:
    """``got`` (at scale 2^s) against 2^s ``ref`` (at scale 1): on the outer side, and
    at most a few ulps (or subnormal steps) away; inf only where 2^s ref overflows,
    0 only where it underflows."""
    assert math.isfinite(ref) and ref >= 0.0 and got >= 0.0, (what, got, ref)
    exact = Fraction(ref) * Fraction(2) ** s
    if math.isinf(got):
        assert up and exact > Fraction(_DBL_MAX) * (1 - _ULPS), (what, got, ref, s)
        return
    g = Fraction(got)
    if up:
        assert exact <= g <= exact * (1 + _ULPS) + 2 * _SUB, (what, got, float(exact), s)
    else:
        assert min(exact * (1 - _ULPS), Fraction(_DBL_MAX)) - 2 * _SUB <= g <= exact, (what, got, float(exact), s)


def _assert_interval_scaled(got, ref, s: int, what: str) -> None:
    _assert_scaled(got.lower, ref.lower, s, up=False, what=f"{what} lower")
    _assert_scaled(got.upper, ref.upper, s, up=True, what=f"{what} upper")
    if ref.estimate is not None or got.estimate is not None:
        _assert_scaled(got.estimate.lower, ref.estimate.lower, s, up=False, what=f"{what} estimate lower")
        _assert_scaled(got.estimate.upper, ref.estimate.upper, s, up=True, what=f"{what} estimate upper")


def _mp_error_sq(A, b, w, norm: str) -> Fraction:
    """c'Kc (divided by d on the sphere) at 50 digits: the exact linear-output
    error squared, as a Fraction (within 1e-45 relative)."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(50):
        units = [[mp.mpf(float(x)) for x in row] for row in np.vstack([A, w[None, :]])]
        c = [mp.mpf(float(x)) for x in b] + [mp.mpf(-1)]
        norms = [mp.sqrt(mp.fsum(x * x for x in u)) for u in units]

        def k(i, j):
            if norms[i] == 0 or norms[j] == 0:
                return mp.mpf(0)
            cos = mp.fsum(x * y for x, y in zip(units[i], units[j])) / (norms[i] * norms[j])
            th = mp.acos(max(min(cos, 1), -1))
            return norms[i] * norms[j] * (mp.sin(th) + (mp.pi - th) * mp.cos(th)) / (2 * mp.pi)

        n = len(units)
        sq = mp.fsum(c[i] * c[j] * k(i, j) for i in range(n) for j in range(n))
        if norm == "l2-sphere":
            sq /= len(w)
        m, e = mp.frexp(sq)
        return Fraction(int(mp.nint(m * 2**200))) * Fraction(2) ** (int(e) - 200)


def _assert_holds(res, truth_sq: Fraction) -> None:
    assert Fraction(res.lower) ** 2 <= truth_sq, (res, float(truth_sq))
    assert res.upper == math.inf or truth_sq <= Fraction(res.upper) ** 2, (res, float(truth_sq))


def _wide_range_instance(seed: int, k: int, d: int, *, negative: bool):
    """Units over a wide dynamic range: rows times 2^-300 .. 2^20, output
    weights times 2^-500 .. 2^300 (so b_k ||A_k|| spans 2^-800 .. 2^320, more
    than the 2^1021 an exact rescaling keeps in the normal range), the target
    down to 2^-800, and zero rows and zero weights now and then."""
    r = np.random.default_rng(seed)
    A = r.normal(size=(k, d)) * np.exp2(r.choice([-300, -40, 0, 0, 0, 20], size=k))[:, None]
    b = r.normal(size=k) * np.exp2(r.choice([-500, -300, 0, 0, 0, 300], size=k))
    w = r.normal(size=d) * float(np.exp2(r.choice([-800, -40, 0, 0, 20])))
    if k:
        A[r.random(k) < 0.1] = 0.0
        b[r.random(k) < 0.1] = 0.0
        if negative:
            b[0] = -abs(b[0]) - 0.5
    if r.random() < 0.2:
        w[r.integers(d)] = 0.0
    return A, b, w


def _at_scale(A, w, s: int):
    """(2^s A, 2^s w) and the instance it really is at scale 1, 2^-s (2^s A, 2^s w)."""
    As, ws = np.ldexp(A, s), np.ldexp(w, s)
    return As, ws, np.ldexp(As, -s), np.ldexp(ws, -s)


def test_kernel_tiny_scale_is_not_zero():
    # the fuzz case: a single unit against the target, both at 2^-600
    a, w = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    th = np.pi / 4
    k_aw = np.linalg.norm(a) * (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)
    truth_sq_unit = (a @ a / 2 - 2 * k_aw + 0.5) / 2  # c'Kc / d on the sphere, at scale 1
    truth = math.ldexp(math.sqrt(truth_sq_unit), -600)  # ~ 7.9e-182
    for res in (
        network_error(np.ldexp([[0.5, 0.5]], -600), [1.0], np.ldexp([1.0, 0.0], -600), output="linear", norm="l2-sphere"),
        l2_error_kernel(np.ldexp([[0.5, 0.5]], -600), [1.0], np.ldexp([1.0, 0.0], -600), norm="l2-sphere"),
    ):
        assert 0.0 < res.lower <= truth <= res.upper <= truth * (1 + 1e-12), res


@pytest.mark.parametrize("s", [-1060, -600, 600, 1000])
def test_empty_network_at_extreme_scales(s):
    # g = 0: the error is ||f|| = ||w|| / sqrt(2) (Gaussian) and ||w|| / sqrt(2 d) (sphere)
    for d in (2, 3):
        w = np.ldexp(np.eye(d)[0], s)
        for norm, truth in (("l2-gaussian", math.ldexp(1 / math.sqrt(2), s)), ("l2-sphere", math.ldexp(1 / math.sqrt(2 * d), s))):
            results = [
                l2_error_kernel(np.zeros((0, d)), np.zeros(0), w, norm=norm),
                l2_error_monte_carlo(np.zeros((0, d)), np.zeros(0), w, norm=norm, rng=np.random.default_rng(0), n_samples=100),
                l2_error_monte_carlo(np.zeros((0, d)), np.zeros(0), w, norm=norm, rng=np.random.default_rng(0), n_samples=100,
                                     exact_when_possible=False),
            ]
            for res in results:
                assert np.isfinite(res.upper) and res.lower <= truth <= res.upper, (d, norm, res)
                assert res.lower >= truth * (1 - 1e-7) - 1e-320 and res.upper <= truth * (1 + 1e-7) + 1e-320


@pytest.mark.parametrize("s", [-600, 600])
def test_monte_carlo_relu_d3_at_extreme_scales(s):
    # a negative output weight, so neither the shortcut nor relu(h) = h applies
    A, b, w = _instance(113, k=3, d=3)
    ref = l2_error_monte_carlo(A, b, w, norm="l2-sphere", rng=np.random.default_rng(0), n_samples=2_000)
    got = l2_error_monte_carlo(np.ldexp(A, s), b, np.ldexp(w, s), norm="l2-sphere", rng=np.random.default_rng(0),
                               n_samples=2_000)
    assert ref.lower > 0 and got.lower > 0 and np.isfinite(got.upper)
    _assert_interval_scaled(got, ref, s, "monte-carlo")
    assert got.stats["upper_from"] == ref.stats["upper_from"] and got.stats["lower_from"] == ref.stats["lower_from"]


def test_overflowing_errors_are_inf_above_and_finite_below():
    # finite inputs whose error is beyond the float range: upper = inf, and the
    # lower bound stays below the truth (here 2^1100 times the error at scale 1:
    # A times 2^500 and b times 2^600)
    A, b, w = _instance(113, k=3, d=3)
    big_A, big_b = np.ldexp(A, 500), np.ldexp(b, 600)
    ref_k = l2_error_kernel(A, b, 0 * w)
    got_k = l2_error_kernel(big_A, big_b, 0 * w)
    _assert_interval_scaled(got_k, ref_k, 1100, "kernel")
    assert got_k.upper == math.inf and got_k.lower == _DBL_MAX
    ref = l2_error_monte_carlo(A, b, 0 * w, rng=np.random.default_rng(0), n_samples=500)
    got = l2_error_monte_carlo(big_A, big_b, 0 * w, rng=np.random.default_rng(0), n_samples=500)
    _assert_interval_scaled(got, ref, 1100, "monte-carlo")
    assert got.upper == math.inf


def test_non_finite_inputs_refused():
    A, b, w = _instance(0, 3, 3)
    for bad in (np.nan, np.inf, -np.inf):
        for which in range(3):
            args = [A.copy(), b.copy(), w.copy()]
            args[which].flat[1] = bad
            with pytest.raises(InvalidArgument):
                l2_error_kernel(*args)
            with pytest.raises(InvalidArgument):
                l2_error_monte_carlo(*args, rng=np.random.default_rng(0), n_samples=10)
            with pytest.raises(InvalidArgument):
                network_error(*args, output="linear", norm="l2-sphere")
        with pytest.raises(InvalidArgument):
            arccos_kernel(np.array([[1.0, bad]]), A)


@settings(max_examples=60)
@given(seed=st.integers(0, 2**31), k=st.integers(0, 6), d=st.integers(2, 5), s=st.sampled_from(SCALES),
       norm=st.sampled_from(NORMS))
def test_kernel_homogeneous_in_scale(seed, k, d, s, norm):
    A, b, w = _wide_range_instance(seed, k, d, negative=bool(seed % 2))
    As, ws, A1, w1 = _at_scale(A, w, s)
    ref = l2_error_kernel(A1, b, w1, norm=norm)
    got = l2_error_kernel(As, b, ws, norm=norm)
    _assert_interval_scaled(got, ref, s, "kernel")
    # and the interval holds the high-precision value, at every scale (mpmath
    # has no exponent range to leave)
    ref_sq = _mp_error_sq(As, b, ws, norm)
    _assert_holds(got, ref_sq)


@settings(max_examples=60)
@given(seed=st.integers(0, 2**31), k=st.integers(0, 6), s=st.sampled_from(SCALES), norm=st.sampled_from(NORMS),
       output=st.sampled_from(["relu", "linear"]))
def test_circle_l2_homogeneous_in_scale(seed, k, s, norm, output):
    A, b, w = _wide_range_instance(seed, k, 2, negative=True)
    As, ws, A1, w1 = _at_scale(A, w, s)
    ref = l2_error_circle(A1, b, w1, output=output, norm=norm)
    got = l2_error_circle(As, b, ws, output=output, norm=norm)
    _assert_interval_scaled(got, ref, s, f"circle {output}")


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31), k=st.integers(1, 5), d=st.integers(2, 4), s=st.sampled_from(SCALES),
       norm=st.sampled_from(NORMS), output=st.sampled_from(["relu", "relu", "linear"]))
def test_monte_carlo_homogeneous_in_scale(seed, k, d, s, norm, output):
    # the proven bounds, the estimate and the sample bound all scale; the same
    # rng gives the same sample directions at every scale
    A, b, w = _wide_range_instance(seed, k, d, negative=True)
    As, ws, A1, w1 = _at_scale(A, w, s)
    kw = dict(output=output, norm=norm, n_samples=300, exact_when_possible=False)
    ref = l2_error_monte_carlo(A1, b, w1, rng=np.random.default_rng(seed), **kw)
    got = l2_error_monte_carlo(As, b, ws, rng=np.random.default_rng(seed), **kw)
    _assert_interval_scaled(got, ref, s, f"monte-carlo {output}")
    # and the proven interval holds the exact value: the circle's in d = 2, the kernel's for a linear output
    if d == 2 and output == "relu":
        exact = l2_error_circle(As, b, ws, output="relu", norm=norm)
        assert got.lower <= exact.upper and exact.lower <= got.upper
    if output == "linear":
        ref_sq = _mp_error_sq(As, b, ws, norm)
        _assert_holds(got, ref_sq)


@pytest.mark.parametrize("scale", [-1000, -600, 0, 600, 1000])
@pytest.mark.parametrize("norm", ["sup", "l2-sphere", "l2-gaussian"])
@pytest.mark.parametrize("output", ["relu", "linear"])
def test_d1_errors_at_every_scale_contain_the_exact_value(scale, norm, output):
    # d = 1: the sphere is {-1, +1}, so the truth is a closed form; at 2^600 the squares used to
    # overflow (lower = inf: a wrong "no" at every eps) and at 2^-600 a "+ 1" in the slack made the
    # interval [0, 1.8e-15]
    from fractions import Fraction

    A = np.array([[0.5], [-0.25], [0.75]])
    b = np.array([1.0, -0.5, 0.3])
    w = np.array([0.9])
    r = network_error(np.ldexp(A, scale), b, np.ldexp(w, scale), norm=norm, output=output)
    diffs = []
    for x in (1, -1):
        h = sum(Fraction(float(bk)) * max(Fraction(float(ak)) * x, Fraction(0)) for ak, bk in zip(A[:, 0], b))
        g = max(h, Fraction(0)) if output == "relu" else h
        diffs.append(g - max(Fraction(float(w[0])) * x, Fraction(0)))
    exact1 = float(max(abs(t) for t in diffs)) if norm == "sup" else math.sqrt(float(sum(t * t for t in diffs) / 2))
    exact = math.ldexp(exact1, scale)
    assert math.isfinite(r.lower) and math.isfinite(r.upper)
    assert r.lower <= exact <= r.upper
    if exact > 1e-300:
        assert r.upper - r.lower <= 1e-12 * exact
