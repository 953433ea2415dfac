"""L2 errors: the arc-cosine kernel, the exact linear-output error and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prunegap.errors import network_error
from prunegap.errors.circle import l2_error_circle
from prunegap.errors.l2 import arccos_kernel, l2_error_kernel, l2_error_monte_carlo
from prunegap.exceptions import InvalidArgument

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


# --- Monte Carlo ------------------------------------------------------------


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("seed", range(6))
def test_monte_carlo_contains_exact_circle_relu(norm, seed):
    A, b, w = _instance(100 + seed, k=6, d=2, near_target=bool(seed % 2))
    exact = l2_error_circle(A, b, w, output="relu", norm=norm)
    mc = l2_error_monte_carlo(A, b, w, norm=norm, rng=np.random.default_rng(seed), n_samples=50_000, confidence=0.99999)
    assert mc.method == "monte-carlo" and mc.confidence == 0.99999
    assert mc.lower <= exact.upper and exact.lower <= mc.upper
    assert mc.lower <= mc.upper
    assert mc.stats["n_samples"] == 50_000
    assert set(mc.stats) >= {"n_samples", "mean_sq", "stderr", "z", "upper_from"}


def test_monte_carlo_reproducible():
    A, b, w = _instance(7, k=8, d=4)
    r1 = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(11), n_samples=20_000)
    r2 = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(11), n_samples=20_000)
    r3 = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(12), n_samples=20_000)
    assert (r1.lower, r1.upper, r1.stats["mean_sq"]) == (r2.lower, r2.upper, r2.stats["mean_sq"])
    assert r1.stats["mean_sq"] != r3.stats["mean_sq"]
    # the sample stream does not depend on the batch size, only the summation order does
    r4 = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(11), n_samples=20_000, batch=777)
    assert r4.stats["mean_sq"] == pytest.approx(r1.stats["mean_sq"], rel=1e-12)
    # Gaussian = d * sphere on the same samples
    rs = l2_error_monte_carlo(A, b, w, norm="l2-sphere", rng=np.random.default_rng(11), n_samples=20_000)
    assert r1.stats["mean_sq"] == pytest.approx(4 * rs.stats["mean_sq"], rel=1e-12)


def test_monte_carlo_contains_high_sample_reference_d3():
    A, b, w = _instance(21, k=10, d=3)
    ref = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(999), n_samples=2_000_000, confidence=0.99999)
    assert ref.gap < 0.01 * ref.upper
    for seed in range(3):
        mc = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(seed), n_samples=40_000, confidence=0.99999)
        assert mc.lower <= ref.upper and ref.lower <= mc.upper
        assert mc.gap > ref.gap  # fewer samples, wider interval


@pytest.mark.parametrize("near", [False, True])
def test_monte_carlo_upper_not_above_proven_bound(near):
    for seed in range(4):
        A, b, w = _instance(300 + seed, k=7, d=3, near_target=near)
        # |relu(h) - relu(<w,x>)| <= |h - <w,x>|, and h - <w,x> is the linear-output
        # network  sum b_k relu(<A_k,x>) + relu(<-w,x>)  minus relu(<w,x>)
        lin = l2_error_kernel(np.vstack([A, -w]), np.append(b, 1.0), w)
        mc = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(seed), n_samples=20_000)
        assert mc.upper <= lin.upper
        assert mc.upper <= mc.stats["proven_upper"] <= mc.stats["proven_upper_lam1"] <= lin.upper * (1 + 1e-12)
        assert mc.upper == min(mc.stats["mc_upper"], mc.stats["proven_upper"])


def test_monte_carlo_uses_proven_upper_when_tighter():
    # the target plus tiny noise units: the proven bound is nearly exact and
    # beats a few thousand samples
    r = np.random.default_rng(8)
    w = r.normal(size=2)
    A = np.vstack([w, r.normal(size=(4, 2))])
    b = np.append(1.0, 1e-3 * r.normal(size=4))
    b[1] = -abs(b[1])
    exact = l2_error_circle(A, b, w, output="relu", norm="l2-gaussian")
    mc = l2_error_monte_carlo(A, b, w, rng=np.random.default_rng(0), n_samples=2_000, confidence=0.99999)
    assert mc.stats["upper_from"] == "kernel-bound"
    assert mc.confidence == 0.99999  # the lower end is still statistical
    assert exact.lower <= mc.upper and mc.lower <= exact.upper


def test_monte_carlo_shortcut_and_linear_output():
    A, b, w = _instance(9, k=5, d=3)
    bp = np.abs(b)
    short = l2_error_monte_carlo(A, bp, w, rng=np.random.default_rng(0))
    exact = l2_error_kernel(A, bp, w)
    assert short.method == "kernel" and short.confidence == 1.0 and "shortcut" in short.stats
    assert (short.lower, short.upper) == (exact.lower, exact.upper)
    # without the shortcut the sampled interval still holds the exact value
    mc = l2_error_monte_carlo(A, bp, w, rng=np.random.default_rng(0), n_samples=30_000, confidence=0.99999, exact_when_possible=False)
    assert mc.method == "monte-carlo"
    assert mc.lower <= exact.upper and exact.lower <= mc.upper
    lin = l2_error_monte_carlo(
        A, b, w, output="linear", rng=np.random.default_rng(1), n_samples=30_000, confidence=0.99999, exact_when_possible=False
    )
    ex_lin = l2_error_kernel(A, b, w)
    assert lin.lower <= ex_lin.upper and ex_lin.lower <= lin.upper
    # the empty network has g = 0 >= 0: exact ||w|| / sqrt(2)
    e = l2_error_monte_carlo(np.zeros((0, 3)), np.zeros(0), w, rng=np.random.default_rng(0))
    assert e.lower <= np.linalg.norm(w) / math.sqrt(2) <= e.upper


def test_monte_carlo_validation():
    A, b, w = _instance(0, 3, 3)
    g = np.random.default_rng(0)
    for kwargs in ({"confidence": 1.0}, {"confidence": 0.0}, {"n_samples": 1}, {"batch": 0}, {"norm": "sup"}, {"output": "tanh"}):
        with pytest.raises(InvalidArgument):
            l2_error_monte_carlo(A, b, w, rng=g, **kwargs)


# --- dispatch ----------------------------------------------------------------


def test_network_error_dispatches_to_l2():
    A, b, w = _instance(13, k=6, d=3)
    lin = network_error(A, b, w, norm="l2-gaussian", output="linear")
    assert lin.method == "kernel"
    assert lin.upper == l2_error_kernel(A, b, w, norm="l2-gaussian").upper
    relu1 = network_error(A, b, w, norm="l2-sphere", output="relu", rng=5, n_samples=5_000)
    relu2 = network_error(A, b, w, norm="l2-sphere", output="relu", rng=5, n_samples=5_000, confidence=0.99)
    assert relu1.method == "monte-carlo" and relu1.stats["n_samples"] == 5_000
    assert relu2.confidence == 0.99 and relu2.stats["mean_sq"] == relu1.stats["mean_sq"]
    direct = l2_error_monte_carlo(A, b, w, norm="l2-sphere", rng=np.random.default_rng(5), n_samples=5_000)
    assert (direct.lower, direct.upper) == (relu1.lower, relu1.upper)
