"""Edge-popup: pattern and density of its masks, reproducibility, data sets, certification, CLI."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from prunegap import InvalidArgument, Setting, UnitStream, draw_instance  # noqa: E402
from prunegap.cli import main  # noqa: E402
from prunegap.io import read_ticket  # noqa: E402
from prunegap.torch.data import digits, teacher  # noqa: E402
from prunegap.torch.patterns import (  # noqa: E402
    densities, element_counts, kept_count, n_blocks, nm_capacity, parse_nm, pattern_violation, satisfies)
from prunegap.torch.popup import PopupConfig, _nm_mask, _straight_through, _topk_mask, draw_network, popup  # noqa: E402

FAST = {"epochs": 2, "batch_size": 64}
TEACHER = {"dataset": "teacher", "n_train": 128, "n_test": 64, "epochs": 3, "batch_size": 32}


@pytest.fixture(scope="module")
def digits_data():
    return digits()


# patterns and counts ------------------------------------------------------------
@pytest.mark.parametrize("density,total,k", [(0.5, 3, 2), (0.25, 10, 3), (0.01, 10, 1), (1.0, 7, 7), (0.3, 10, 3), (0.35, 10, 4)])
def test_kept_count_rounds_half_up_and_keeps_one(density, total, k):
    assert kept_count(density, total) == k


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, math.nan, math.inf, "x"])
def test_density_outside_unit_interval_refused(bad):
    with pytest.raises(InvalidArgument, match="density must be a number in \\(0, 1\\]"):
        PopupConfig(density=bad)


def test_parse_nm_and_capacity():
    assert parse_nm("2:4") == (2, 4) and parse_nm((1, 1)) == (1, 1)
    for bad in ("4:2", "2-4", "0:3", "a:b"):
        with pytest.raises(InvalidArgument):
            parse_nm(bad)
    assert nm_capacity(8, (2, 4)) == 4 and nm_capacity(5, (2, 3)) == 4 and nm_capacity(5, (2, 4)) == 3
    assert n_blocks(10, 4) == 2  # an incomplete last block is pruned (prunegap.patterns)


def test_pattern_checker():
    h = np.array([[1, 1, 0, 0, 1], [0, 0, 0, 0, 0]])
    assert satisfies("nm", h, np.array([1, 0]), nm=(2, 4))
    assert not satisfies("nm", h, np.array([1, 1]), nm=(2, 4))  # output weight without its row
    assert "group 0" in pattern_violation("nm", np.array([[1, 1, 1, 0]]), np.array([1]), nm=(2, 4))
    assert satisfies("block", np.ones((4, 2)) * np.array([[1], [1], [0], [0]]), np.array([1, 1, 0, 0]), block=2)
    assert "block 0" in pattern_violation("block", np.array([[1], [0]]), np.array([1, 0]), block=2)
    assert not satisfies("neuron", np.array([[1, 0]]), np.array([1]))
    d = densities(np.array([[1, 1], [1, 0], [0, 0]]), np.array([[1, 0], [0, 0], [1, 1]]))
    assert d["kept_units"] == 1 and d["kept_weights"] == 3 and d["total_weights"] == 12 and d["mask_density"] == 6 / 12


def test_topk_and_nm_selection():
    s = torch.tensor([[0.9, 0.1, 0.8, 0.7, 0.6], [0.5, 0.4, 0.3, 0.2, 0.05]], dtype=torch.float64)
    assert _topk_mask(s, 3).sum() == 3 and _topk_mask(s, 3)[0, [0, 2, 3]].all()
    m = _nm_mask(s, 1, 2, 5)  # groups {0,1} {2,3} {4}: the best of each group -> 3 per row, 5 of those 6
    assert m.tolist() == [[1, 0, 1, 0, 1], [1, 0, 1, 0, 0]]
    assert satisfies("nm", m.numpy(), m.numpy().any(1), nm=(1, 2))


def test_straight_through_gradient():
    st = _straight_through()
    s = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    w = torch.tensor([2.0, 3.0, 5.0], dtype=torch.float64)
    out = (st.apply(s.abs(), mask) * w).sum()
    assert out.item() == 5.0
    out.backward()
    assert s.grad.tolist() == [2.0, -3.0, 5.0]  # dL/dmask = w, through |s|


# the network and the data --------------------------------------------------------
def test_network_is_prunegaps_stream():
    U, V = draw_network(3, 100, 1, 7)
    U2, v2 = UnitStream(Setting(d=3), 7).take(100)
    assert np.array_equal(U, U2) and np.array_equal(V[:, 0], v2)
    Ua, Va = draw_network(64, 70, 10, 1, "gaussian")
    Ub, Vb = draw_network(64, 200, 10, 1, "gaussian")
    assert np.array_equal(Ua, Ub[:70]) and np.array_equal(Va, Vb[:70])  # prefixes nest


def test_data_sets(digits_data):
    d = digits_data
    assert d.X_train.shape[1] == 64 and d.outputs == 10
    assert d.X_train.shape[0] + d.X_test.shape[0] == 1797
    np.testing.assert_allclose(d.X_train.mean(0), 0, atol=1e-12)
    assert set(np.unique(d.y_test)) == set(range(10))
    assert np.array_equal(d.X_test, digits().X_test)
    t = teacher(d=3, seed=4, n_train=50, n_test=20)
    np.testing.assert_allclose(np.linalg.norm(t.X_train, axis=1), 1.0)
    np.testing.assert_allclose(t.y_train, np.maximum(t.X_train @ t.w, 0))
    assert np.array_equal(t.w, draw_instance(Setting(d=3), 4, 1).w)


# popup's masks ---------------------------------------------------------------------
CASES = [
    {"paradigm": "weight"},
    {"paradigm": "neuron"},
    {"paradigm": "nm", "nm": "2:4"},
    {"paradigm": "block", "block": 3},
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["paradigm"])
@pytest.mark.parametrize("density", [0.3, 0.5])
def test_popup_masks_have_pattern_and_exact_density_digits(case, density, digits_data):
    cfg = PopupConfig(dataset="digits", width=40, density=density, seed=1, **case, **FAST)
    r = popup(cfg, data=digits_data)
    net = r.network
    assert net.hidden_mask.shape == (40, 64) and net.output_mask.shape == (40, 10)
    assert satisfies(cfg.paradigm, net.hidden_mask, net.output_mask, **cfg.pattern())
    counts = element_counts(cfg.paradigm, 40, 64, 10, **cfg.pattern())
    k = {name: kept_count(density, total) for name, total in counts.items()}
    assert r.metrics["kept_elements"] == k
    if cfg.paradigm == "weight":
        assert net.hidden_mask.sum() == k["hidden"] and net.output_mask.sum() == k["output"]
    elif cfg.paradigm == "nm":
        assert net.hidden_mask.sum() == k["hidden"]
    elif cfg.paradigm == "neuron":
        assert net.output_mask[:, 0].sum() == k["units"] == r.metrics["kept_units"]
    else:
        assert net.output_mask[:, 0].reshape(-1)[::3].sum() == k["blocks"]  # first unit of each block
    for key in ("weight_density", "unit_density", "mask_density", "train_accuracy", "test_accuracy", "seconds_per_epoch"):
        assert key in r.metrics


@pytest.mark.parametrize("case", [{"paradigm": "nm", "nm": "2:3"}, {"paradigm": "block", "block": 4}], ids=["nm", "block"])
def test_patterns_when_sizes_do_not_divide(case):
    cfg = PopupConfig(width=10, density=0.6, seed=0, d=5, **case, **TEACHER)  # 3 does not divide 5, 4 does not divide 10
    net = popup(cfg).network
    assert satisfies(cfg.paradigm, net.hidden_mask, net.output_mask, **cfg.pattern())
    if cfg.paradigm == "nm":
        assert net.hidden_mask.sum() == kept_count(0.6, 50)
    else:
        kept = net.output_mask[:, 0]
        assert kept.sum() == 4 and not kept[8:].any()  # 1 of the 2 whole blocks; units 8, 9 are no block


def test_nm_density_above_capacity_refused():
    with pytest.raises(InvalidArgument, match="keeps at most"):
        PopupConfig(paradigm="nm", nm="1:4", density=0.3, width=8)
    with pytest.raises(InvalidArgument, match="needs N:M"):
        PopupConfig(paradigm="nm", width=8)
    with pytest.raises(InvalidArgument, match="needs a block size"):
        PopupConfig(paradigm="block", width=8)
    with pytest.raises(InvalidArgument, match="applies to paradigm 'block' only"):
        PopupConfig(paradigm="weight", block=2, width=8)


def test_reproducible_and_seeded(digits_data):
    cfg = PopupConfig(dataset="digits", paradigm="weight", width=32, density=0.4, seed=3, **FAST)
    before = torch.random.get_rng_state().clone()
    a, b = popup(cfg, data=digits_data), popup(cfg, data=digits_data)
    assert torch.equal(before, torch.random.get_rng_state())  # no global RNG touched
    assert np.array_equal(a.network.hidden_mask, b.network.hidden_mask)
    assert np.array_equal(a.network.output_mask, b.network.output_mask)
    assert a.history == b.history and a.metrics["test_accuracy"] == b.metrics["test_accuracy"]
    c = popup(cfg.replace(seed=4), data=digits_data)
    assert not np.array_equal(a.network.hidden_mask, c.network.hidden_mask)


def test_scale_is_explicit_and_constant_per_layer(digits_data):
    cfg = PopupConfig(dataset="digits", paradigm="neuron", width=16, density=0.5, seed=0, **FAST)
    assert cfg.scale == "kaiming" and cfg.output == "linear"
    assert PopupConfig(**TEACHER).scale == "none"
    r = popup(cfg, data=digits_data)
    U, V = draw_network(64, 16, 10, 0)
    np.testing.assert_allclose(r.network.U, U * r.metrics["layer_scale_hidden"], rtol=0, atol=0)
    np.testing.assert_allclose(r.network.V, V * r.metrics["layer_scale_output"], rtol=0, atol=0)


def test_teacher_ticket_is_a_prunegap_instance_and_certifies(tmp_path):
    from prunegap.torch.certify import certify_ticket

    r = popup(PopupConfig(paradigm="weight", width=12, density=0.5, seed=2, **TEACHER))
    inst = draw_instance(Setting(d=2), 2, 12)
    assert np.array_equal(r.instance().U, inst.U) and np.array_equal(r.instance().w, inst.w)
    bound = certify_ticket(r)
    assert 0 <= bound.lower <= bound.upper and bound.method.startswith("exact")
    assert bound.upper >= r.metrics["test_max_error"] - 1e-12  # the sup bounds every sampled error
    r.save(tmp_path)
    t = read_ticket(tmp_path / "ticket.npz")
    assert np.array_equal(t.masks.hidden_mask, r.masks.hidden_mask)
    data = json.loads((tmp_path / "result.json").read_text())
    for key in ("dataset", "paradigm", "width", "density", "seed", "train_loss", "test_loss", "weight_density",
                "unit_density", "seconds", "seconds_per_epoch", "epochs", "scale", "torch_version", "ticket"):
        assert key in data, key
    assert data["ticket"] == "ticket.npz"


def test_exported_popup_ticket_matches_its_metrics(tmp_path, digits_data):
    from prunegap.torch.export import export_ticket, load_ticket
    from prunegap.torch.popup import evaluate_network

    r = popup(PopupConfig(dataset="digits", paradigm="nm", nm="2:4", width=24, density=0.5, seed=0, **FAST), data=digits_data)
    r.save(tmp_path / "run")
    assert (tmp_path / "run" / "multi_ticket.npz").is_file()
    m = load_ticket(export_ticket(tmp_path / "run", tmp_path / "t.pt"))
    with torch.no_grad():
        pred = m(torch.from_numpy(digits_data.X_test)).argmax(1).numpy()
    assert np.mean(pred == digits_data.y_test) == r.metrics["test_accuracy"] == evaluate_network(r.network, digits_data)["test_accuracy"]


def test_compare_certified_small():
    from prunegap.torch.certify import compare_certified

    c = compare_certified(widths=(6,), densities=(0.5,), seeds=(0,), paradigms=("weight", "neuron", "nm", "block"),
                          n_train=64, n_test=32, epochs=2, batch_size=32)
    assert len(c.rows) == 4
    for row in c.rows:
        assert row["ticket_error_lower"] <= row["ticket_error_upper"]
        if row["optimum_upper"] is not None:  # a ticket is never better than the certified optimum
            assert row["ticket_error_upper"] >= row["optimum_lower"] - 1e-9
    assert "| weight | 6 |" in c.markdown()


# sweeps -------------------------------------------------------------------------------
def test_trials_rows_and_figure(tmp_path):
    from prunegap.torch.study import figure_popup, popup_trials, run_popup_trial, summarize_popup, write_popup_figure

    trials = popup_trials(dataset="teacher", paradigms=("weight", "nm"), widths=(4, 8), densities=(0.5, 0.9),
                          seeds=(0, 1), nm="1:2", n_train=32, n_test=16, epochs=1, batch_size=16)
    assert len(trials) == 2 * 2 * 2 * 2 - 4  # nm 1:2 cannot keep 90 %
    import pickle

    assert pickle.loads(pickle.dumps(trials[0])) == trials[0]
    rows = [run_popup_trial(t) for t in trials]
    assert all(r["status"] == "ok" for r in rows)
    assert len({r["key"] for r in rows}) == len(rows)
    s = summarize_popup(rows)
    assert {g["n"] for g in s} == {2} and all(g["ci_low"] <= g["mean"] <= g["ci_high"] for g in s)
    assert figure_popup(rows) is not None
    assert write_popup_figure(rows, tmp_path / "f.png").stat().st_size > 0
    failed = run_popup_trial(trials[0].replace(device="cuda:999"))  # no machine has that device
    assert failed["status"] == "failed" and "not available" in failed["reason"] and failed["key"] == rows[0]["key"]


# devices -------------------------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(digits_data):
    cfg = PopupConfig(dataset="digits", paradigm="weight", width=64, density=0.5, seed=0, epochs=3)
    a = popup(cfg, data=digits_data)
    b = popup(cfg.replace(device="cuda"), data=digits_data)
    np.testing.assert_allclose(a.history, b.history, rtol=1e-9)
    assert np.mean(a.network.hidden_mask == b.network.hidden_mask) > 0.999
    assert abs(a.metrics["test_accuracy"] - b.metrics["test_accuracy"]) <= 0.01


def test_cuda_unavailable_is_bad_input(monkeypatch):
    # runs on every machine: a device index beyond those present, and (simulated) no CUDA at all
    with pytest.raises(InvalidArgument, match="'cuda:999' is not available"):
        popup(PopupConfig(device="cuda:999", width=4, **TEACHER))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:0"):
        with pytest.raises(InvalidArgument, match="is_available\\(\\) is False"):
            popup(PopupConfig(device=device, width=4, **TEACHER))


# command line ----------------------------------------------------------------------------
def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


BASE = ["popup", "--dataset", "teacher", "--paradigm", "weight", "--width", "8", "--density", "0.5", "--seed", "0"]


def test_cli_popup_writes_ticket(tmp_path, capsys):
    code, out, err = run([*BASE, "--epochs", "2", "--n-train", "32", "--n-test", "16", "--out", str(tmp_path), "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data == json.loads((tmp_path / "result.json").read_text())
    assert read_ticket(tmp_path / "ticket.npz").U.shape == (8, 2)


@pytest.mark.parametrize("change", [
    ("--density", "0"), ("--density", "1.5"), ("--density", "abc"), ("--dataset", "mnist"), ("--paradigm", "filter"),
    ("--width", "0"), ("--seed", "-1"), ("--device", "tpu"), ("--scale", "xavier"), ("--paradigm", "nm"),
    ("--paradigm", "block"), ("--epochs", "0"),
])
def test_cli_popup_bad_input(tmp_path, capsys, change):
    args = list(BASE)
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += list(change)
    code, out, err = run([*args, "--out", str(tmp_path)], capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("prunegap: error:"), err
    assert not (tmp_path / "result.json").exists()


# learning ------------------------------------------------------------------------------
def _untrained(cfg):
    """The same run with a learning rate too small to move any score: the initial top-k masks."""
    return cfg.replace(lr=1e-12, epochs=1)


def test_popup_learns_on_digits(digits_data):
    # the masks edge-popup learns classify far better than chance (0.1) and than the untrained
    # scores' masks (measured 0.90 against 0.06), and the training loss falls
    cfg = PopupConfig(dataset="digits", paradigm="weight", width=64, density=0.5, seed=0, epochs=3, batch_size=64)
    r = popup(cfg, data=digits_data)
    u = popup(_untrained(cfg), data=digits_data)
    assert r.metrics["test_accuracy"] >= 0.6 and r.metrics["test_accuracy"] >= u.metrics["test_accuracy"] + 0.4
    assert r.history[-1] < 0.6 * r.history[0]
    assert not np.array_equal(r.network.hidden_mask, u.network.hidden_mask)


def test_popup_learns_the_teacher():
    # regression on the single-neuron teacher: the learnt ticket's test loss is a small fraction
    # of the untrained masks' (measured 0.0055 against 1.38)
    cfg = PopupConfig(dataset="teacher", paradigm="weight", width=64, density=0.5, seed=0, epochs=10,
                      batch_size=32, n_train=256, n_test=256)
    r, u = popup(cfg), popup(_untrained(cfg))
    assert r.metrics["test_loss"] <= 0.05 * u.metrics["test_loss"]
    assert r.history[-1] < 0.1 * r.history[0]


@pytest.mark.slow
def test_weight_scores_reach_90_percent_on_digits(digits_data):
    r = popup(PopupConfig(dataset="digits", paradigm="weight", width=1024, density=0.5, seed=0), data=digits_data)
    assert r.metrics["test_accuracy"] >= 0.90
