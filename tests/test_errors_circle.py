import numpy as np
import pytest
from hypothesis import given, strategies as st

from conftest import circle_points
from prunegap.errors import forward, network_error, target_values

X = circle_points()


def dense(A, b, w, output):
    diff = forward(A, b, X, output) - target_values(w, X)
    return np.abs(diff).max(), np.sqrt(np.mean(diff[:-1] ** 2))


@pytest.mark.parametrize("output", ["relu", "linear"])
@pytest.mark.parametrize("k", [0, 1, 2, 5, 30, 300])
def test_sup_matches_dense_sampling(output, k):
    rng = np.random.default_rng(k)
    for _ in range(3):
        A, b = rng.uniform(-1, 1, (k, 2)), rng.uniform(-1, 1, k)
        w = rng.standard_normal(2)
        r = network_error(A, b, w, output=output)
        ref, _ = dense(A, b, w, output)
        assert r.lower <= r.upper and r.upper - r.lower < 1e-10
        assert ref <= r.upper + 1e-12
        # the grid misses the maximum by at most Lipschitz * half a step
        lip = np.abs(b) @ np.linalg.norm(A, axis=1) + np.linalg.norm(w) if k else np.linalg.norm(w)
        assert r.lower <= ref + lip * np.pi / (len(X) - 1) + 1e-12
        # the witness attains the lower bound
        x = r.witnesses[0]
        val = forward(A, b, x[None], output)[0] - target_values(w, x[None])[0]
        assert abs(abs(val) - r.lower) < 1e-9


def test_hand_made_cases():
    w = np.array([0.6, 0.8])
    # the empty network: sup relu(<w,x>) = ||w||
    r = network_error(np.zeros((0, 2)), np.zeros(0), w)
    assert r.lower == pytest.approx(1.0) and r.upper == pytest.approx(1.0)
    # exact ticket: 0, for both outputs; also split into two half units
    for output in ("relu", "linear"):
        assert network_error(w[None], np.array([1.0]), w, output=output).upper < 1e-12
        assert network_error(np.array([w, w]), np.array([0.5, 0.5]), w, output=output).upper < 1e-12
    # linear output 2 relu(<w,x>): error ||w||; relu output the same
    assert network_error(w[None], np.array([2.0]), w, output="linear").lower == pytest.approx(1.0)
    # negative unit: relu output clips it to 0, linear does not
    assert network_error(w[None], np.array([-1.0]), w, output="relu").upper == pytest.approx(1.0)
    assert network_error(w[None], np.array([-1.0]), w, output="linear").upper == pytest.approx(2.0)
    # the mirror unit relu(-<w,x>) under a linear output: |g - f| = |x.w| -> 1
    assert network_error(-w[None], np.array([1.0]), w, output="linear").upper == pytest.approx(1.0)
    # a rotated copy: sup |relu(cos(t - a)) - relu(cos t)| = sin(a), reached at the kink t = pi/2
    a = 0.3
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    r = network_error((R @ w)[None], np.array([1.0]), w, output="linear")
    assert r.upper == pytest.approx(np.sin(a), abs=1e-12)


@pytest.mark.parametrize("output", ["relu", "linear"])
@pytest.mark.parametrize("norm", ["l2-sphere", "l2-gaussian"])
def test_l2_circle_matches_integration(output, norm):
    rng = np.random.default_rng(3)
    for k in (0, 1, 4, 40):
        A, b, w = rng.uniform(-1, 1, (k, 2)), rng.uniform(-1, 1, k), rng.standard_normal(2)
        r = network_error(A, b, w, output=output, norm=norm)
        _, ref = dense(A, b, w, output)
        ref = ref * (np.sqrt(2) if norm == "l2-gaussian" else 1)
        assert r.lower <= r.upper < r.lower + 1e-9
        assert r.lower == pytest.approx(ref, rel=1e-6, abs=1e-9)


def test_l2_closed_form_empty():
    # E_sphere relu(<w,x>)^2 = ||w||^2 / (2 d); Gaussian: ||w||^2 / 2
    w = np.array([3.0, 4.0])
    assert network_error(np.zeros((0, 2)), np.zeros(0), w, norm="l2-sphere").upper == pytest.approx(np.sqrt(25 / 4))
    assert network_error(np.zeros((0, 2)), np.zeros(0), w, norm="l2-gaussian").upper == pytest.approx(np.sqrt(25 / 2))


def test_d1_exact():
    w = np.array([0.7])
    A, b = np.array([[0.5], [-0.2]]), np.array([1.0, 2.0])
    # at x=1: g = relu(0.5) = 0.5, f = 0.7; at x=-1: g = relu(2*0.2) = 0.4, f = 0
    r = network_error(A, b, w, output="relu")
    assert r.lower == pytest.approx(0.4) and r.upper == pytest.approx(0.4)
    r = network_error(A, b, w, output="relu", norm="l2-sphere")
    assert r.upper == pytest.approx(np.sqrt((0.2**2 + 0.4**2) / 2))


@given(
    k=st.integers(0, 12),
    seed=st.integers(0, 10_000),
    output=st.sampled_from(["relu", "linear"]),
)
def test_sup_property_upper_dominates_every_point(k, seed, output):
    rng = np.random.default_rng(seed)
    A, b, w = rng.standard_normal((k, 2)), rng.standard_normal(k), rng.standard_normal(2)
    r = network_error(A, b, w, output=output, n_witnesses=5)
    t = rng.uniform(0, 2 * np.pi, 2000)
    P = np.stack([np.cos(t), np.sin(t)], 1)
    vals = np.abs(forward(A, b, P, output) - target_values(w, P))
    assert vals.max() <= r.upper + 1e-12
    assert r.lower <= r.upper
    # witnesses are sorted worst first and their values are real
    wv = np.abs(r.witness_values)
    assert np.all(np.diff(wv) <= 1e-12)
    real = np.abs(forward(A, b, r.witnesses, output) - target_values(w, r.witnesses))
    np.testing.assert_allclose(real, wv, atol=1e-9)
