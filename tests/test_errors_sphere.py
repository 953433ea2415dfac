import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import sphere_points
from prunegap.errors import forward, network_error, target_values
from prunegap.errors.circle import sup_error_circle
from prunegap.errors.sphere import sup_error_sphere
from prunegap.exceptions import InvalidArgument


def abs_err(A, b, w, X, output):
    return np.abs(forward(A, b, X, output) - target_values(w, X))


def climbed_max(A, b, w, output, X, rng, rounds=6):
    """Dense sampling, then random local refinement around the best points:
    a lower estimate of the sup that gets close to it."""
    vals = abs_err(A, b, w, X, output)
    best = float(vals.max())
    top = X[np.argsort(-vals)[:16]]
    for step in np.repeat(10.0 ** -np.arange(2, 2 + rounds), 2):
        Y = np.repeat(top, 128, axis=0) + step * rng.standard_normal((16 * 128, X.shape[1]))
        Y /= np.linalg.norm(Y, axis=1, keepdims=True)
        v = abs_err(A, b, w, Y, output)
        best = max(best, float(v.max()))
        top = Y[np.argsort(-v)[:16]]
    return best


def random_rotation(d, rng):
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.sign(np.diag(R))


@pytest.mark.parametrize("output", ["relu", "linear"])
@pytest.mark.parametrize("d", [3, 4])
@pytest.mark.parametrize("k", [0, 1, 5, 20])
def test_interval_brackets_dense_sampling(output, d, k):
    rng = np.random.default_rng(100 * d + k)
    X = sphere_points(d, 100_000, seed=k)
    for _ in range(2):
        A, b = rng.uniform(-1, 1, (k, d)), rng.uniform(-1, 1, k)
        w = rng.standard_normal(d)
        tol = 1e-5
        r = sup_error_sphere(A, b, w, output=output, tol=tol)
        assert r.method == "branch-and-bound" and r.stats["stop"] == "tol"
        assert 0.0 <= r.lower <= r.upper and r.upper - r.lower <= tol
        ref = climbed_max(A, b, w, output, X, rng)
        assert ref <= r.upper + 1e-12
        assert r.lower <= ref + 1e-3  # sampling gets close (slowly where the sup sits on a kink)
        # the first witness attains the lower bound
        x = r.witnesses[0]
        val = forward(A, b, x[None], output)[0] - target_values(w, x[None])[0]
        assert val == pytest.approx(r.witness_values[0], abs=1e-12)
        assert abs(val) >= r.lower
        assert np.linalg.norm(x) == pytest.approx(1.0)


@pytest.mark.parametrize("output", ["relu", "linear"])
@pytest.mark.parametrize("d", [3, 4])
def test_hand_made_cases(output, d):
    rng = np.random.default_rng(d)
    w = rng.standard_normal(d)
    nw = np.linalg.norm(w)
    tol = 1e-7

    def sup(A, b):
        r = sup_error_sphere(np.asarray(A, float).reshape(-1, d), np.asarray(b, float), w, output=output, tol=tol)
        assert r.lower <= r.upper and r.upper - r.lower <= tol
        return r

    # an exact ticket, also split into two half units: error 0
    assert sup([w], [1.0]).upper <= tol
    assert sup([w, w], [0.5, 0.5]).upper <= tol
    assert sup([2 * w], [0.5]).upper <= tol
    # no units, or only dead ones: sup relu(<w, x>) = ||w||
    for A, b in (([], []), (np.zeros((3, d)), [1.0, 2.0, 3.0]), ([w, -w], [0.0, 0.0])):
        r = sup(A, b)
        assert r.lower <= nw <= r.upper
    # 2 relu(<w, x>): error relu(<w, x>), for both outputs
    r = sup([w], [2.0])
    assert r.lower <= nw <= r.upper
    # relu(<-w, x>): g - f = -<w, x> for both outputs
    r = sup([-w], [1.0])
    assert r.lower <= nw <= r.upper
    # -relu(<w, x>): the relu output clips g to 0, the linear one doubles the error
    r = sup([w], [-1.0])
    want = nw if output == "relu" else 2 * nw
    assert r.lower <= want <= r.upper
    # a unit turned by an angle a from w: sup = ||w|| sin(a), reached on a kink
    a = 0.3
    u = rng.standard_normal(d)
    u -= (u @ w) / nw**2 * w
    turned = np.cos(a) * w + np.sin(a) * nw * u / np.linalg.norm(u)
    r = sup([turned], [1.0])
    assert r.lower <= nw * np.sin(a) <= r.upper


@pytest.mark.parametrize("output", ["relu", "linear"])
def test_planar_instances_embedded_in_higher_d_match_the_exact_circle(output):
    # g and f depend on x only through two coordinates and are homogeneous,
    # so their sup over S^{d-1} is the sup over the circle.
    rng = np.random.default_rng(7)
    for d in (3, 4):
        for k in (1, 3, 12):
            A2, b, w2 = rng.uniform(-1, 1, (k, 2)), rng.uniform(-1, 1, k), rng.standard_normal(2)
            exact = sup_error_circle(A2, b, w2, output=output)
            Q = random_rotation(d, rng)
            A = np.hstack([A2, np.zeros((k, d - 2))]) @ Q.T
            w = np.concatenate([w2, np.zeros(d - 2)]) @ Q.T
            r = sup_error_sphere(A, b, w, output=output, tol=1e-8)
            assert r.lower <= exact.upper + 1e-12 and exact.lower <= r.upper + 1e-12
            assert r.upper - r.lower <= 1e-8


@pytest.mark.parametrize("output", ["relu", "linear"])
def test_eps_stops_early_with_a_consistent_verdict(output):
    rng = np.random.default_rng(3)
    A, b, w = rng.uniform(-1, 1, (20, 3)), rng.uniform(-1, 1, 20), rng.standard_normal(3)
    full = sup_error_sphere(A, b, w, output=output, tol=1e-9)
    for eps, want in ((0.5 * full.lower, "no"), (2.0 * full.upper, "yes"), (full.upper + 1e-4, "yes")):
        r = sup_error_sphere(A, b, w, output=output, tol=1e-9, eps=eps)
        assert r.verdict(eps) == want
        assert r.stats["stop"] == "decided"
        assert r.stats["cells"] <= full.stats["cells"]
        assert r.lower <= full.upper and full.lower <= r.upper


def test_max_cells_returns_an_honest_interval():
    rng = np.random.default_rng(5)
    d = 5
    A, b, w = rng.uniform(-1, 1, (60, d)), rng.uniform(-1, 1, 60), rng.standard_normal(d)
    r = sup_error_sphere(A, b, w, tol=1e-9, max_cells=3000)
    assert r.stats["stop"] == "max_cells"
    assert r.stats["cells"] <= 3000
    assert r.lower < r.upper
    ref = abs_err(A, b, w, sphere_points(d, 100_000), "relu").max()
    assert ref <= r.upper


def test_high_dimension_stays_honest_and_bounded():
    rng = np.random.default_rng(9)
    d = 10
    A, b, w = rng.uniform(-1, 1, (8, d)), rng.uniform(-1, 1, 8), rng.standard_normal(d)
    r = sup_error_sphere(A, b, w, tol=1e-4, max_cells=20_000)
    assert r.stats["cells"] <= 20_000
    ref = abs_err(A, b, w, sphere_points(d, 50_000), "relu").max()
    assert r.lower <= r.upper and ref <= r.upper


def test_witnesses_are_distinct_and_sorted():
    rng = np.random.default_rng(11)
    A, b, w = rng.uniform(-1, 1, (10, 3)), rng.uniform(-1, 1, 10), rng.standard_normal(3)
    r = sup_error_sphere(A, b, w, n_witnesses=5, tol=1e-6)
    assert r.witnesses.shape == (5, 3) and r.witness_values.shape == (5,)
    assert len({tuple(x) for x in r.witnesses}) == 5
    assert np.all(np.diff(np.abs(r.witness_values)) <= 0)
    assert np.allclose(np.linalg.norm(r.witnesses, axis=1), 1.0)
    assert np.allclose(forward(A, b, r.witnesses) - target_values(w, r.witnesses), r.witness_values, atol=1e-12)


def test_initial_split_and_d2_agree():
    rng = np.random.default_rng(13)
    A, b, w = rng.uniform(-1, 1, (15, 3)), rng.uniform(-1, 1, 15), rng.standard_normal(3)
    rs = [sup_error_sphere(A, b, w, tol=1e-7, initial_split=m) for m in (1, 3, 8)]
    for r in rs:
        assert max(q.lower for q in rs) <= r.upper and r.upper - r.lower <= 1e-7
    A2, w2 = A[:, :2], w[:2]
    exact = sup_error_circle(A2, b, w2)
    r = sup_error_sphere(A2, b, w2, tol=1e-9)
    assert r.lower <= exact.upper + 1e-12 and exact.lower <= r.upper + 1e-12


def test_tolerance_below_float_resolution_stops_on_precision():
    rng = np.random.default_rng(17)
    A, b, w = rng.uniform(-1, 1, (20, 3)), rng.uniform(-1, 1, 20), rng.standard_normal(3)
    r = sup_error_sphere(A, b, w, tol=1e-15)
    assert r.stats["stop"] in ("tol", "precision")
    assert r.upper - r.lower < 1e-10


def test_scale_invariance_down_to_tiny_and_up_to_huge_weights():
    # The error is 1-homogeneous in (b, w) and in each row of A; squares of
    # tiny or huge values must not underflow or overflow on the way.
    rng = np.random.default_rng(29)
    A, b, w = rng.uniform(-1, 1, (10, 3)), rng.uniform(-1, 1, 10), rng.standard_normal(3)
    ref = sup_error_sphere(A, b, w, tol=1e-7)
    for sc in (1e-250, 1e-120, 1e120, 1e250):
        r = sup_error_sphere(A * sc, b, w * sc, tol=1e-7 * sc)
        assert r.lower / sc == pytest.approx(ref.lower, rel=1e-9)
        assert r.upper / sc == pytest.approx(ref.upper, rel=1e-9)
    r = sup_error_sphere(np.zeros((0, 3)), np.zeros(0), np.array([0.0, 0.0, 1e-300]))
    assert r.lower <= 1e-300 <= r.upper


def test_network_error_dispatches_in_d3():
    rng = np.random.default_rng(19)
    A, b, w = rng.uniform(-1, 1, (12, 3)), rng.uniform(-1, 1, 12), rng.standard_normal(3)
    r = network_error(A, b, w, norm="sup", tol=1e-6, n_witnesses=2)
    assert r.method == "branch-and-bound" and r.upper - r.lower <= 1e-6
    assert r.witnesses.shape == (2, 3)
    direct = sup_error_sphere(A, b, w, tol=1e-6)
    assert r.lower <= direct.upper and direct.lower <= r.upper
    r = network_error(A, b, w, norm="sup", output="linear", eps=10.0)
    assert r.verdict(10.0) == "yes"


@pytest.mark.parametrize("output", ["relu", "linear"])
def test_every_cell_bound_covers_points_sampled_in_its_cell(output):
    # The proof rests on the per-cell bound; test it directly (without the
    # rounding slack) on small cells placed on kinks, where it is tightest.
    from prunegap.errors import sphere as S

    rng = np.random.default_rng(23)
    for trial in range(40):
        d, k = int(rng.integers(3, 6)), int(rng.integers(1, 12))
        A, b, w = rng.uniform(-1, 1, (k, d)), rng.uniform(-1, 1, k), rng.standard_normal(d)
        if trial % 3 == 0:
            A[0] = w * rng.uniform(0.5, 2.0)
        if trial % 4 == 0:
            A[-1] = w + 1e-3 * rng.standard_normal(d)
        P = S._merge(A, b, w, output == "relu")
        faces = S._Faces(d)
        N, M = 60, 400
        V = np.vstack([A, w])
        x = rng.standard_normal((N, d))
        a = V[rng.integers(0, len(V), N)]
        x -= ((x * a).sum(1) / (a * a).sum(1))[:, None] * a  # on a kink
        x += rng.standard_normal((N, d)) * 10.0 ** rng.uniform(-6, -1, (N, 1))
        ax = np.abs(x).argmax(1)
        face = 2 * ax + (x[np.arange(N), ax] < 0)
        y = x / np.abs(x).max(1, keepdims=True)
        z = np.stack([np.delete(y[i], ax[i]) for i in range(N)])
        hw = (10.0 ** rng.uniform(-4, 0, N))[:, None] * rng.choice([1.0, 0.5], (N, d - 1))
        z = np.clip(z, -1 + hw, 1 - hw)
        C, rho, box = S._caps(faces, face, z, hw)
        bound = S._cell_bounds(P, C, rho, 0.0, -np.inf, box)[0] * P.unit_scale
        u = rng.uniform(-1, 1, (N, M, d - 1))
        u[:, :16] = np.sign(u[:, :16])  # corners too
        Y = faces.centres(np.repeat(face, M), (z[:, None, :] + u * hw[:, None, :]).reshape(-1, d - 1))
        Xs = Y / np.linalg.norm(Y, axis=1, keepdims=True)
        sampled = abs_err(A, b, w, Xs, output).reshape(N, M).max(1)
        assert np.all(sampled <= bound + 1e-13)


def test_invalid_arguments():
    w = np.ones(3)
    with pytest.raises(InvalidArgument):
        sup_error_sphere(np.ones((2, 3)), np.ones(2), w, output="tanh")
    with pytest.raises(InvalidArgument):
        sup_error_sphere(np.ones((2, 3)), np.ones(3), w)
    with pytest.raises(InvalidArgument):
        sup_error_sphere(np.ones((2, 3)), np.ones(2), w, tol=0.0)
    with pytest.raises(InvalidArgument):
        sup_error_sphere(np.ones((2, 3)), np.array([1.0, np.nan]), w)
    with pytest.raises(InvalidArgument):
        sup_error_sphere(np.ones((2, 1)), np.ones(2), np.ones(1))


_X3 = sphere_points(3, 20_000, seed=1)
_X4 = sphere_points(4, 20_000, seed=2)
_coef = st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False)


@settings(max_examples=100)
@given(
    d=st.sampled_from([3, 4]),
    k=st.integers(0, 6),
    output=st.sampled_from(["relu", "linear"]),
    data=st.data(),
)
def test_property_samples_never_exceed_the_upper_bound(d, k, output, data):
    A = np.array(data.draw(st.lists(_coef, min_size=k * d, max_size=k * d)), dtype=float).reshape(k, d)
    b = np.array(data.draw(st.lists(_coef, min_size=k, max_size=k)), dtype=float)
    w = np.array(data.draw(st.lists(_coef, min_size=d, max_size=d)), dtype=float)
    if data.draw(st.booleans()) and k:
        A[0] = w * data.draw(st.sampled_from([1.0, 2.0, -1.0]))  # units aligned with the target
    r = sup_error_sphere(A, b, w, output=output, tol=1e-4, max_cells=50_000)
    assert 0.0 <= r.lower <= r.upper
    X = _X3 if d == 3 else _X4
    assert abs_err(A, b, w, X, output).max() <= r.upper
    assert abs_err(A, b, w, r.witnesses, output).max() >= r.lower
