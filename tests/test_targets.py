"""Network targets: evaluator against the one-neuron evaluator and dense grids, MIP against brute force,
the layer-wise construction's certified bound, planted network tickets, defaults unchanged, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from _brute import all_subsets
from prunegap import Masks, api
from prunegap.cli import main
from prunegap.errors import evaluate, network_error, network_target_error, target_error
from prunegap.exceptions import InvalidArgument
from prunegap.network import UnitStream, draw_instance, draw_target
from prunegap.planted import Plant, PlantedStream
from prunegap.search import minimal_width
from prunegap.setting import Setting
from prunegap.solvers.base import get_method
from prunegap.solvers.deep import LayerwiseConstruction, construct_deep
from prunegap.solvers.mip import NEURON, CuttingPlaneSolver, MIPMethod, MIPOptions
from prunegap.targets import (
    NeuronTarget,
    TargetNetwork,
    draw_target_network,
    load_target_network,
    target_network,
    target_of,
)

OUTPUTS = ("relu", "linear")


def _circle(m: int = 200_000) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, m, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def _sphere(d: int, m: int, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((m, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _g(A, b, X, output):
    h = np.maximum(X @ A.T, 0.0) @ b
    return np.maximum(h, 0.0) if output == "relu" else h


def _net(rng, d, K) -> TargetNetwork:
    W = rng.standard_normal((K, d))
    return TargetNetwork((W / np.linalg.norm(W, axis=1, keepdims=True),), rng.uniform(-1, 1, K))


# --- the default setting is untouched ----------------------------------------------


def test_default_setting_and_instances_are_unchanged():
    s = Setting(d=3)
    assert s.to_dict() == {"d": 3, "init": "uniform", "output": "relu", "norm": "sup", "target": "random"}
    net = Setting(d=3, target="network", target_width=4)
    for seed in (0, 7):
        a, b = draw_instance(s, seed, 70), draw_instance(net, seed, 70)
        assert np.array_equal(a.U, b.U) and np.array_equal(a.v, b.v)  # the random network does not depend on the target
        assert np.array_equal(a.U, UnitStream(s, seed).take(70)[0])
        assert np.array_equal(draw_target(s, seed), draw_target(Setting(d=3), seed))
    d = net.to_dict()
    assert d["target_kind"] == "network" and d["target_width"] == 4 and d["target_depth"] == 1


def test_target_network_is_a_pure_function_of_the_seed():
    s = Setting(d=2, target="network", target_width=3, target_depth=2)
    a, b, c = draw_target_network(s, 5), draw_target_network(s, 5), draw_target_network(s, 6)
    assert all(np.array_equal(x, y) for x, y in zip(a.layers, b.layers)) and np.array_equal(a.c, b.c)
    assert not np.array_equal(a.c, c.c)
    assert a.layers[0].shape == (3, 2) and a.layers[1].shape == (3, 3) and a.depth == 2
    assert np.allclose(np.linalg.norm(a.layers[0], axis=1), 1.0) and np.linalg.norm(a.layers[1], 2) <= 1 + 1e-12


# --- the target as data -----------------------------------------------------------------


def test_both_targets_answer_the_same_questions():
    X = _sphere(3, 500)
    neuron = target_of(Setting(d=3), 2)
    net = target_of(Setting(d=3, target="network"), 2)  # K = 1, L = 1: the neuron relu(<w_1, x>)
    assert (neuron.kind, net.kind, neuron.d, net.d) == ("neuron", "network", 3, 3)
    for output in OUTPUTS:
        np.testing.assert_array_equal(neuron.values(X, output), np.maximum(X @ neuron.w, 0.0))
        np.testing.assert_allclose(net.values(X, output), np.maximum(X @ net.layers[0][0], 0.0), rtol=0, atol=1e-15)
    # JSON-ready data, as rows store it: w as a list, a network as {"W": [...], "c": [...]}
    assert neuron.to_data() == draw_target(Setting(d=3), 2).tolist()
    deep = target_of(Setting(d=2, target="network", target_width=2, target_depth=2), 3)
    assert json.loads(json.dumps(deep.to_data())) == {"W": [W.tolist() for W in deep.layers], "c": deep.c.tolist()}
    assert set(neuron.arrays()) == {"w"} and set(deep.arrays()) == {"target_W1", "target_W2", "target_c"}


def test_the_instance_carries_its_target():
    s = Setting(d=2, target="network", target_width=3)
    inst = draw_instance(s, 5, 10)
    assert isinstance(inst.target, TargetNetwork) and np.array_equal(inst.target.c, target_network(s, 5).c)
    assert inst.prefix(4).target is inst.target
    with pytest.raises(InvalidArgument, match="no w"):
        inst.w  # noqa: B018 - a network target has no w
    one = draw_instance(Setting(d=2), 5, 10)
    assert isinstance(one.target, NeuronTarget) and one.w is one.target.w
    # the evaluator is the target's own: errors.evaluate no longer reads a network instance as one neuron
    m = Masks.full(10, 2)
    A, b = m.apply(inst.U, inst.v)
    assert evaluate(inst, m).upper == network_target_error(A, b, inst.target, output="relu", seed=5).upper
    A, b = m.apply(one.U, one.v)
    assert target_error(A, b, one.target).upper == evaluate(one, m).upper == network_error(A, b, one.w).upper


def test_one_dispatch_picks_the_targets_solver():
    net = Setting(d=2, target="network", target_width=2)
    assert isinstance(get_method("weight", setting=net), LayerwiseConstruction)
    assert isinstance(get_method("weight", "construction", setting=net), LayerwiseConstruction)
    assert not isinstance(get_method("weight", setting=Setting(d=2)), LayerwiseConstruction)
    assert isinstance(get_method("neuron", setting=net), MIPMethod)
    with pytest.raises(InvalidArgument, match="target 'network' works with"):
        get_method("nm", setting=net)
    # a solver handed a target it does not prune for refuses it rather than answer another question
    with pytest.raises(InvalidArgument, match="got target 'network'"):
        get_method("weight").solve(draw_instance(net, 0, 8), 0.1)
    with pytest.raises(InvalidArgument, match="got target 'neuron'"):
        get_method("weight", setting=net).oracle(UnitStream(Setting(d=2), 0), 0.1)


def test_the_cutting_plane_loop_asks_the_target():
    s = Setting(d=2, target="network", target_width=2)
    inst = draw_instance(s, 0, 12)
    solver = CuttingPlaneSolver(s, 0, inst.target, inst.U, inst.v, 0.3, NEURON, MIPOptions(backend="highs"))
    model = solver._model(12, 0.3)
    np.testing.assert_array_equal(model.f, inst.target.values(model.X, "relu"))  # the rows' f_g = F(x_g)
    assert solver.evaluate(Masks.full(12, 2), 12, 0.3).method == "exact-circle-network"


def test_width_reports_the_target_as_data():
    seen = []
    s = Setting(d=2, target="network", target_width=2)
    api.width(s, seed=1, eps=0.5, paradigm="weight", max_width=6, on_start=lambda monotone, data: seen.append(data))
    assert seen == [target_network(s, 1).to_data()]


# --- the evaluator --------------------------------------------------------------------


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("d", [2, 3])
def test_one_unit_network_target_is_the_neuron_target(output, d):
    rng = np.random.default_rng(d)
    for _ in range(4):
        w = rng.standard_normal(d)
        w /= np.linalg.norm(w)
        net = TargetNetwork((w[None, :],), np.ones(1))
        k = int(rng.integers(1, 6))
        A, b = rng.uniform(-1, 1, (k, d)), rng.uniform(-1, 1, k)
        mine = network_target_error(A, b, net, output=output, eps=None)
        core = network_error(A, b, w, output=output)
        assert mine.lower <= core.upper + 1e-9 and core.lower <= mine.upper + 1e-9
        if d == 2 or output == "linear":  # exact, or certified to tol: the same interval up to tol
            assert abs(mine.upper - core.upper) <= 2e-6


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), K=st.integers(1, 4), k=st.integers(0, 6), output=st.sampled_from(OUTPUTS))
def test_circle_evaluator_matches_a_dense_grid(seed, K, k, output):
    rng = np.random.default_rng(seed)
    net = _net(rng, 2, K)
    A, b = rng.uniform(-1, 1, (k, 2)), rng.uniform(-1, 1, k)
    r = network_target_error(A, b, net, output=output)
    X = _circle()
    grid = float(np.abs(_g(A, b, X, output) - net.values(X, output)).max())
    assert r.lower <= r.upper and grid <= r.upper + 1e-12
    # between grid points the error moves by at most its Lipschitz constant times the spacing
    lip = float(np.abs(b) @ np.linalg.norm(A, axis=1)) if k else 0.0
    lip += float(np.abs(net.c) @ np.linalg.norm(net.layers[0], axis=1))
    assert r.lower <= grid + lip * np.pi / X.shape[0] + 1e-12


@pytest.mark.parametrize("output", OUTPUTS)
def test_d3_bracket_holds(output):
    rng = np.random.default_rng(1)
    net = _net(rng, 3, 3)
    X = _sphere(3, 50_000)
    for _ in range(3):
        A, b = rng.uniform(-1, 1, (5, 3)), rng.uniform(-1, 1, 5)
        r = network_target_error(A, b, net, output=output)
        sampled = float(np.abs(_g(A, b, X, output) - net.values(X, output)).max())
        assert r.lower <= r.upper and sampled <= r.upper + 1e-9
        assert r.method == ("bracket:linearised+points" if output == "relu" else "branch-and-bound")


# --- the MIP against brute force, and planted network tickets -----------------------------


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("seed", [0, 1])
def test_network_target_mip_matches_brute_force(output, seed):
    setting = Setting(d=2, output=output, target="network", target_width=2)
    inst = draw_instance(setting, seed, 8)
    net = target_network(setting, seed)
    S = all_subsets(8)
    err = np.array([network_target_error(inst.U[s == 1], inst.v[s == 1], net, output=output).upper for s in S])
    best = float(err.min())
    solver = get_method("neuron")
    for eps in (best * 0.9, best * 1.001):
        out = solver.solve(inst, eps)
        assert out.status == ("yes" if best <= eps else "no"), (eps, best)
        if out.status == "yes":
            A, b = out.masks.apply(inst.U, inst.v)
            assert network_target_error(A, b, net, output=output).upper <= eps
        else:
            assert eps < out.error_lower <= best + 1e-9
    me = solver.solve(inst, best, objective="min-error")
    assert me.error_lower <= best + 1e-9 and me.error_upper <= best * (1 + 1e-4) + 2e-6


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("paradigm, options", [("neuron", {}), ("weight", {"method": "exact"}), ("block", {"block": 3})])
def test_planted_network_ticket_is_found(output, paradigm, options):
    setting = Setting(d=2, output=output, target="network", target_width=3)
    net = target_network(setting, 4)
    W, c = net.layers[0], net.c
    units = np.array([9, 10, 11])  # a complete block of 3
    plant = Plant(units, W.copy(), c.copy(), np.ones((3, 2), np.uint8))
    stream = PlantedStream(setting, 4, plant)
    inst = draw_instance(setting, 4, 12, stream=stream)
    m = plant.masks(12, 2)
    A, b = m.apply(inst.U, inst.v)
    assert network_target_error(A, b, net, output=output).upper <= 1e-12
    options = dict(options)
    method = options.pop("method", None)
    solver = get_method(paradigm, method)
    me = solver.solve(inst, 0.05, objective="min-error", **options)
    assert me.error_upper <= 2e-6
    r = minimal_width(solver.oracle(stream, 0.01, **options), max_width=64)
    assert r.n_star is not None and r.n_star <= plant.width


def test_depth_two_is_refused_for_the_mip():
    with pytest.raises(InvalidArgument, match="target_depth must be 1"):
        api.solve(Setting(d=2, target="network", target_depth=2), width=4, seed=0, eps=0.1, paradigm="neuron")


# --- the layer-wise construction ------------------------------------------------------------


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 1000), d=st.integers(1, 3), K=st.integers(1, 3), L=st.integers(1, 3),
       width=st.integers(1, 40), output=st.sampled_from(OUTPUTS))
def test_deep_construction_bound_is_proven(seed, d, K, L, width, output):
    setting = Setting(d=d, output=output, target="network", target_width=K, target_depth=L)
    net = target_network(setting, seed)
    c = construct_deep(setting, seed, net, width)
    X = _sphere(d, 20_000, seed) if d > 1 else np.array([[1.0], [-1.0]])
    X = X * np.random.default_rng(seed).uniform(0, 1, (X.shape[0], 1))  # the unit ball, not only its sphere
    sampled = float(np.abs(c.forward(X, output) - net.values(X, output)).max())
    assert c.lower <= c.upper and sampled <= c.upper * (1 + 1e-9) + 1e-12
    # each expanded unit keeps at most one input weight; the ticket is a subnetwork of a 2(L + 1)-layer net
    assert len(c.masks) == L + 1
    for (U, V), (mU, mV) in zip(c.weights, c.masks):
        assert mU.shape == U.shape and mV.shape == V.shape and np.all(mU.sum(axis=1) <= 1)


def test_deep_construction_width_search_and_ticket(tmp_path):
    setting = Setting(d=2, target="network", target_width=2, target_depth=2)
    r = api.width(setting, seed=3, eps=0.1, paradigm="weight", max_width=300)
    assert r.n_star is not None and r.error_upper <= 0.1
    net = target_network(setting, 3)
    below = construct_deep(setting, 3, net, r.n_star - 1)
    assert below.upper > 0.1  # the scan is exact for this certificate
    r.save(tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["n_star"] == r.n_star and data["random_depth"] == 6 and data["target_depth"] == 2
    with np.load(tmp_path / "ticket.npz") as z:
        assert {"U1", "V3", "mask_U1", "mask_V3", "target_W2", "target_c"} <= set(z.files)
        assert int(sum(z[f"mask_U{l}"].sum() + z[f"mask_V{l}"].sum() for l in (1, 2, 3))) == data["kept_weights"]


def test_target_file_round_trip_and_defects(tmp_path):
    net = draw_target_network(Setting(d=2, target="network", target_width=3, target_depth=2), 1)
    path = tmp_path / "t.npz"
    np.savez(path, W1=net.layers[0], W2=net.layers[1], c=net.c)
    loaded = load_target_network(path, 2)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.layers, net.layers))
    s = Setting(d=2, target="network", target_file=str(path))
    assert target_network(s, 99).width == 3
    np.savez(tmp_path / "bad.npz", W1=np.ones((3, 4)), c=np.ones(3))
    with pytest.raises(InvalidArgument, match="need c"):
        load_target_network(tmp_path / "bad.npz", 2)
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_target_network(tmp_path / "none.npz", 2)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--target-width", "3"], "--target-width applies to --target network only"),
        (["--target", "tree"], "'tree'"),
        (["--target", "network", "--target-width", "0"], "target_width"),
        (["--target", "network", "--target-depth", "2", "--paradigm", "neuron"], "target_depth must be 1"),
        (["--target", "network", "--w", "1,0"], "--w"),
    ],
)
def test_bad_target_input_is_one_line_exit_2(tmp_path, capsys, args, needle):
    base = ["--d", "2", "--seed", "0", "--eps", "0.1", "--width", "4", "--out", str(tmp_path)]
    if "--paradigm" not in args:
        base += ["--paradigm", "weight"]
    code = main(["solve", *args, *base])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


def test_setting_refuses_network_fields_on_a_neuron_target():
    for kw in ({"target_width": 2}, {"target_depth": 2}, {"target_file": "x.npz"}):
        with pytest.raises(InvalidArgument, match="applies to target 'network' only"):
            Setting(d=2, **kw)
    with pytest.raises(InvalidArgument, match="one-neuron target"):
        Setting(d=2, target="network", w=(1.0, 0.0))
    with pytest.raises(InvalidArgument, match="target"):
        Setting(d=2, target="tree")


@pytest.mark.parametrize("seed", [0, 14])
def test_backends_never_contradict_on_network_targets(seed):
    # regression: rows derived for a one-neuron target once made CP-SAT prove a false "no" here
    from prunegap.solvers.mip import sat_available

    if not sat_available():
        pytest.skip("OR-Tools is not installed")
    setting = Setting(d=2, target="network", target_width=2)
    inst = draw_instance(setting, seed, 128)
    net = target_network(setting, seed)
    answers = {}
    for backend in ("highs", "cpsat"):
        out = get_method("neuron").solve(inst, 0.1, backend=backend)
        answers[backend] = out.status
        if out.status == "yes":
            A, b = out.masks.apply(inst.U, inst.v)
            assert network_target_error(A, b, net, output="relu").upper <= 0.1
    assert set(answers.values()) != {"yes", "no"}, answers


def test_one_unit_drawn_target_is_a_neuron():
    for seed in range(10):
        net = draw_target_network(Setting(d=3, target="network"), seed)
        assert net.c.tolist() == [1.0] and np.isclose(np.linalg.norm(net.layers[0]), 1.0)
        assert draw_target_network(Setting(d=3, target="network", target_width=4), seed).c.sum() > 0
