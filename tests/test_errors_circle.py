import numpy as np
import pytest
from hypothesis import given, strategies as st

from conftest import circle_points
from prunegap.errors import forward, network_error, target_values
from prunegap.errors.circle import circle_pieces, l2_error_circle, sup_error_circle
from prunegap.exceptions import InvalidArgument

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


# --- kinks on the first cut (a unit or the target within 1e-16 rad of +-pi/2) ---------
#
# The activity of each unit on each arc must follow the rounded cuts alone: a
# unit whose kink bounds an arc shorter than 2e-16 used to be counted twice
# or never removed, shifting every arc's coefficients.


def test_first_cut_kink_example_sup_relu_and_linear():
    U, v, w = np.array([[-1e-16, 1.0]]), np.array([0.5]), np.array([0.0, 1.0])
    # |g - f| = 0.5 relu(<w, x>) up to 1e-16 for both outputs: sup 0.5
    for output in ("relu", "linear"):
        r = network_error(U, v, w, output=output)
        assert r.method == "exact-circle"
        assert r.lower <= 0.5 + 1e-15 and r.upper >= 0.5 - 1e-15 and r.upper - r.lower < 1e-13
        assert r.verdict(0.1) == "no"


def test_first_cut_kink_example_l2_both_norms_both_outputs():
    U, v, w = np.array([[-1e-16, 1.0]]), np.array([0.5]), np.array([0.0, 1.0])
    # ||0.5 relu(<w, x>)||: 0.25 on the circle (E relu(cos)^2 = 1/4), sqrt(2) times that for N(0, I_2)
    for norm, truth in (("l2-sphere", 0.25), ("l2-gaussian", 0.25 * np.sqrt(2))):
        for output in ("relu", "linear"):
            r = network_error(U, v, w, output=output, norm=norm)
            assert r.lower <= truth + 1e-12 <= r.upper + 2e-12 and r.upper - r.lower < 1e-9
        r = l2_error_circle(U, v, w, output="linear", norm=norm)  # network_error sends linear to the kernel
        assert r.lower <= truth + 1e-12 <= r.upper + 2e-12 and r.upper - r.lower < 1e-9


def test_first_cut_kink_exact_ticket_is_not_refuted():
    # v = 1: g = f up to 1e-16; the unit counted twice used to give [1, 1], a wrong "no"
    U, v, w = np.array([[-1e-16, 1.0]]), np.array([1.0]), np.array([0.0, 1.0])
    for output in ("relu", "linear"):
        r = network_error(U, v, w, output=output)
        assert r.lower == 0.0 and r.upper < 1e-13 and r.verdict(0.1) == "yes"
        for norm in ("l2-sphere", "l2-gaussian"):
            assert network_error(U, v, w, output=output, norm=norm).upper < 1e-6
            assert l2_error_circle(U, v, w, output=output, norm=norm).upper < 1e-6


_AXES = [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)]


@pytest.mark.parametrize("axis", _AXES)
@pytest.mark.parametrize("tilt", [0.0, -0.0, 1e-16, -1e-16, 5e-17, -5e-17, 5e-324, -5e-324, 1e-300])
@pytest.mark.parametrize("target_tilt", [0.0, 1e-16, -1e-16])
@pytest.mark.parametrize("v", [0.5, 1.0, -0.5])
def test_first_cut_kink_closed_forms_near_every_axis(axis, tilt, target_tilt, v):
    # a unit and the target both within 1e-16 rad of the same axis: g - f is
    # (v - 1) relu(<w, x>) (relu output with v < 0: -relu(<w, x>)) up to 2e-16
    def tilted(t):
        return np.array([axis[0] or t, axis[1] or t])

    U, w, vv = tilted(tilt)[None], tilted(target_tilt), np.array([v])
    for output in ("relu", "linear"):
        c = 1.0 if (output == "relu" and v < 0) else abs(v - 1.0)
        for norm, truth in (("sup", c), ("l2-sphere", c / 2), ("l2-gaussian", c / np.sqrt(2))):
            r = network_error(U, vv, w, output=output, norm=norm)
            assert r.lower <= truth + 1e-12 and r.upper >= truth - 1e-12, (output, norm, r)
            if norm != "sup":
                r = l2_error_circle(U, vv, w, output=output, norm=norm)
                assert r.lower <= truth + 1e-12 and r.upper >= truth - 1e-12, (output, norm, r)


@pytest.mark.parametrize("s", [-1070, -1000, -600, 600])
@pytest.mark.parametrize("output", ["relu", "linear"])
def test_tiny_and_huge_scales_are_homogeneous(s, output):
    # scaling A and w by 2^s scales the error by 2^s exactly; squares of 2^600
    # overflow and those of 2^-600 underflow, so the evaluators rescale first
    rng = np.random.default_rng(7)
    A, b, w = rng.uniform(-1, 1, (6, 2)), rng.uniform(-1, 1, 6), rng.standard_normal(2)
    A[0] = [0.0, 1e-300]  # a subnormal at 2^-1070 scale, and a near-axis unit
    As, ws = np.ldexp(A, s), np.ldexp(w, s)
    Ao, wo = np.ldexp(As, -s), np.ldexp(ws, -s)  # the instance actually evaluated, at scale 1
    for norm in ("sup", "l2-sphere", "l2-gaussian"):
        ref = network_error(Ao, b, wo, output=output, norm=norm)
        if norm == "sup":
            got = sup_error_circle(As, b, ws, output=output)
        else:
            got = l2_error_circle(As, b, ws, output=output, norm=norm)
        assert np.isfinite(got.upper) and got.upper > 0
        lo, hi = np.ldexp(got.lower, -s), np.ldexp(got.upper, -s)
        assert lo <= ref.upper * (1 + 1e-12) and hi >= ref.lower * (1 - 1e-12)
        if s > -1020:  # near 2^-1070 the results are subnormals, with few bits
            assert hi - lo <= 2 * (ref.upper - ref.lower)


def test_circle_inputs_validated():
    with pytest.raises(InvalidArgument):
        sup_error_circle(np.array([[np.nan, 1.0]]), np.array([1.0]), np.array([0.0, 1.0]))
    with pytest.raises(InvalidArgument):
        l2_error_circle(np.zeros((1, 3)), np.array([1.0]), np.array([0.0, 1.0, 0.0]))


@given(seed=st.integers(0, 10_000), k=st.integers(0, 8))
def test_circle_pieces_follow_the_cuts(seed, k):
    # the pieces solvers use (mip's violation search): on every arc longer than
    # 1e-9 the coefficients are the sum of the units active at its midpoint,
    # also for twins and units within 1e-16 of the axes
    rng = np.random.default_rng(seed)
    A = rng.uniform(-1, 1, (k, 2))
    A[rng.random(k) < 0.3] = np.array([[-1e-16, 1.0]])  # on the first cut
    if k > 1:
        A[-1] = -A[0] * (1 + 2**-52)  # an antiparallel twin
    b, w = rng.uniform(-1, 1, k), np.array([1e-16, -1.0]) if seed % 2 else rng.standard_normal(2)
    lo, hi, P, Q, F, G, scale, kept = circle_pieces(A, b, w)
    assert lo[0] == 0.0 and hi[-1] == 2 * np.pi and np.all(hi > lo) and np.all(lo[1:] == hi[:-1])
    assert kept == int(np.sum((b != 0) & np.any(A != 0, axis=1)))
    assert scale == pytest.approx(np.abs(b) @ np.linalg.norm(A, axis=1) + np.linalg.norm(w))
    long = hi - lo > 1e-9
    mid = 0.5 * (lo + hi)[long]
    X = np.stack([np.cos(mid), np.sin(mid)], axis=1)
    PQ = (X @ A.T > 0) @ (b[:, None] * A)
    FG = (X @ w > 0)[:, None] * w[None, :]
    np.testing.assert_allclose(np.stack([P, Q], 1)[long], PQ, atol=1e-14)
    np.testing.assert_array_equal(np.stack([F, G], 1)[long], FG)
