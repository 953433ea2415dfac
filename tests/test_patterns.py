"""N:M and block patterns: allowed masks, brute force (d = 2), n* orderings, tickets on disk, bad input."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from _brute import all_subsets, sup_errors, support_max, weight_patterns
from _oracle import choice_masks, sup_estimate
from prunegap import InvalidArgument, Masks, Setting, api, draw_instance
from prunegap.cli import main
from prunegap.errors import network_error
from prunegap.io import read_ticket
from prunegap.patterns import (
    Pattern,
    check_block,
    element_counts,
    n_blocks,
    parse_nm,
    pattern_violation,
    satisfies,
    satisfies_block,
    satisfies_nm,
)
from prunegap.solvers.base import get_method
from prunegap.solvers import patterns as solver_side
from prunegap.solvers.patterns import block_design, nm_patterns
from prunegap.torch import patterns as torch_side
from prunegap.torch.popup import PopupConfig, popup

OUTPUTS = ("relu", "linear")


# --- the pattern families -------------------------------------------------------


def _nm_ok(row, n, m) -> bool:
    """Reference: groups of m consecutive entries, the last one shorter."""
    return all(sum(row[g:g + m]) <= n for g in range(0, len(row), m))


@settings(max_examples=40, deadline=None)
@given(d=st.integers(1, 7), m=st.integers(1, 5), data=st.data())
def test_nm_patterns_are_exactly_the_valid_nonempty_subsets(d, m, data):
    n = data.draw(st.integers(1, m))
    P = nm_patterns(d, n, m)
    want = {p for p in itertools.product((0, 1), repeat=d) if any(p) and _nm_ok(p, n, m)}
    assert {tuple(int(x) for x in p) for p in P} == want
    assert P.shape[0] == len(want)  # no duplicates
    # count: product over groups of sum_k<=n C(size, k), less the empty subset
    sizes = [min(m, d - g) for g in range(0, d, m)]
    assert P.shape[0] == math.prod(sum(math.comb(s, k) for k in range(min(n, s) + 1)) for s in sizes) - 1
    if n >= m:
        assert P.shape[0] == 2**d - 1  # N:M with N >= M is weight pruning
    assert np.all(np.diff(P.sum(axis=1).astype(int)) <= 0)  # largest subsets first


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 4), d=st.integers(1, 7), m=st.integers(1, 4), n=st.integers(1, 4), data=st.data())
def test_satisfies_nm_pads_the_last_group(rows, d, m, n, data):
    H = np.array(data.draw(st.lists(st.lists(st.integers(0, 1), min_size=d, max_size=d), min_size=rows, max_size=rows)))
    assert satisfies_nm(H, n, m) == all(_nm_ok(list(r), n, m) for r in H)


def test_parse_nm_and_block_accept_and_refuse():
    assert parse_nm("2:4") == (2, 4) and parse_nm(" 1 : 2 ") == (1, 2) and parse_nm((3, 3)) == (3, 3)
    for bad in ("5:4", "0:4", "2", "a:b", "2:4:8", "-1:2", ""):
        with pytest.raises(InvalidArgument, match="1 <= N <= M"):
            parse_nm(bad)
    assert check_block(3) == 3 and check_block("2") == 2
    for bad in (0, -2, "x", 1.5, True):
        with pytest.raises(InvalidArgument, match="integer >= 1"):
            check_block(bad)


def test_pattern_parameters_belong_to_their_paradigm():
    assert Pattern.of("nm", nm="2:4").to_dict() == {"nm": "2:4"}
    assert Pattern.of("block", block=2).to_dict() == {"block": 2}
    assert Pattern.of("weight").to_dict() == {}
    with pytest.raises(InvalidArgument, match="needs nm"):
        Pattern.of("nm")
    with pytest.raises(InvalidArgument, match="needs block"):
        Pattern.of("block")
    with pytest.raises(InvalidArgument, match="nm applies to paradigm 'nm' only"):
        Pattern.of("weight", nm="2:4")
    with pytest.raises(InvalidArgument, match="block applies to paradigm 'block' only"):
        Pattern.of("neuron", block=2)


def test_satisfies_block():
    s = np.array([1, 1, 0, 0, 1, 1, 1], np.uint8)  # the incomplete last block (unit 6) is kept: not allowed
    assert not satisfies_block(Masks.from_units(s, 2), 2)
    s[6] = 0
    assert satisfies_block(Masks.from_units(s, 2), 2)
    assert not satisfies_block(Masks.from_units(np.array([1, 0, 0, 0], np.uint8), 2), 2)
    assert satisfies_block(Masks.from_units(np.array([1, 0, 1, 1], np.uint8), 1), 1)
    half = Masks(np.array([[1, 0], [1, 1]], np.uint8), np.array([1, 1], np.uint8))  # a partial row
    assert not satisfies_block(half, 2) and not satisfies(half, Pattern("neuron"))
    assert satisfies(half, Pattern("weight"))


# --- one rule for the solvers and edge-popup (prunegap.patterns) ---------------------------


def _block_ok(units: np.ndarray, B: int) -> bool:
    """Reference block rule: complete blocks of B kept or dropped whole, an incomplete last block pruned."""
    full = len(units) // B * B
    return not units[full:].any() and all(len(set(units[k:k + B])) == 1 for k in range(0, full, B))


def test_an_incomplete_last_block_is_pruned_on_both_sides():
    # width 5, B = 2: units 0-1 and 2-3 are blocks, unit 4 is an incomplete block
    tail = Masks.from_units(np.array([1, 1, 0, 0, 1], np.uint8), 2)
    whole = Masks.from_units(np.array([1, 1, 0, 0, 0], np.uint8), 2)
    block = Pattern("block", block=2)
    assert not satisfies(tail, block) and satisfies(whole, block)  # a solver's ticket
    # edge-popup's masks: raw arrays with C outputs, the same rule
    outputs = np.repeat(tail.output_mask[:, None], 3, axis=1)
    assert not satisfies("block", tail.hidden_mask, outputs, block=2)
    assert "incomplete last block" in pattern_violation("block", tail.hidden_mask, outputs, block=2)
    assert satisfies("block", whole.hidden_mask, np.repeat(whole.output_mask[:, None], 3, axis=1), block=2)
    # popup scores the complete blocks only, and the block MIP's columns are the complete blocks
    assert n_blocks(5, 2) == 2 and element_counts("block", 5, 2, block=2) == {"blocks": 2}
    assert block_design(2).usable_units(5) == 4


@settings(max_examples=60, deadline=None)
@given(units=st.lists(st.integers(0, 1), min_size=1, max_size=12), B=st.integers(1, 5))
def test_block_rule_is_one_rule(units, B):
    s = np.array(units, np.uint8)
    m = Masks.from_units(s, 3)
    want = _block_ok(s, B)
    assert satisfies(m, Pattern("block", block=B)) == want == satisfies_block(m, B)
    assert satisfies("block", m.hidden_mask, m.output_mask, block=B) == want


def test_edge_popup_prunes_an_incomplete_last_block():
    pytest.importorskip("torch")
    cfg = PopupConfig(dataset="teacher", paradigm="block", block=4, width=10, density=0.6, d=2, seed=0, epochs=1,
                      n_train=32, n_test=16, batch_size=16)
    net = popup(cfg).network
    assert satisfies("block", net.hidden_mask, net.output_mask, block=4)
    # kept_count(0.6, 2 complete blocks) = 1 block; units 8 and 9 form an incomplete block: pruned
    assert net.output_mask[:, 0].sum() == 4 and not net.output_mask[8:].any()


def test_the_rules_have_one_home():
    assert solver_side.parse_nm is torch_side.parse_nm is parse_nm
    assert solver_side.satisfies is torch_side.satisfies is satisfies
    assert parse_nm([2, 4]) == (2, 4) and parse_nm(("1", "3")) == (1, 3)
    with pytest.raises(InvalidArgument, match="N:M"):
        parse_nm((2, 4, 6))


# --- brute force, d = 2 ---------------------------------------------------------


def _nm_brute(inst, n, m):
    """(choices, errors) over every N:M mask: choice[i] = 0 (drop) or 1 + index into the valid patterns."""
    P = np.array([p for p in weight_patterns(2) if _nm_ok(list(p), n, m)], np.uint8)
    k, p = inst.width, P.shape[0]
    A = (inst.U[:, None, :] * P[None, :, :]).reshape(k * p, 2)
    b = np.repeat(inst.v, p)
    choices = np.array(list(itertools.product(range(p + 1), repeat=k)), np.int64)
    S = np.zeros((choices.shape[0], k * p), np.uint8)
    for i in range(k):
        on = choices[:, i] > 0
        S[np.flatnonzero(on), i * p + choices[on, i] - 1] = 1
    return choices, sup_errors(A, b, inst.w, inst.setting.output, S)


def _block_brute(inst, B):
    """(unit masks, errors) over every block mask (complete blocks only)."""
    nb = inst.width // B
    S = np.zeros((2**nb, inst.width), np.uint8)
    S[:, : nb * B] = np.repeat(all_subsets(nb), B, axis=1)
    return S, sup_errors(inst.U, inst.v, inst.w, inst.setting.output, S)


def _exact(A, b, w, output):
    """The brute force's exact sup error of one network (independent of prunegap's evaluator)."""
    return float(sup_errors(A, b, w, output, np.ones((1, A.shape[0]), np.uint8))[0])


def _eps_between(err, frac=3):
    vals = np.unique(err[err < 1.0])
    if vals.size < 2:
        return None
    i = vals.size // frac
    return float(0.5 * (vals[i] + vals[i + 1]))


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nm_exact_matches_brute_force(output, seed):
    inst = draw_instance(Setting(d=2, output=output), seed, 7)  # 3^7 masks of 1:2
    choices, err = _nm_brute(inst, 1, 2)
    best = float(err.min())
    solver = get_method("nm", "exact")
    for eps in (best * 0.8, best * 0.999, best * 1.001, best * 1.3):
        out = solver.solve(inst, eps, nm="1:2")
        assert out.status == ("yes" if best <= eps else "no"), (eps, best)
        if out.status == "yes":
            assert satisfies_nm(out.masks.hidden_mask, 1, 2)
            A, b = out.masks.apply(inst.U, inst.v)
            assert network_error(A, b, inst.w, output=output).upper <= eps
            assert _exact(A, b, inst.w, output) <= eps + 1e-12
        else:
            assert eps < out.error_lower <= best + 1e-12
    me = solver.solve(inst, best, objective="min-error", nm="1:2")
    assert me.error_lower <= best <= me.error_upper <= best * (1 + 1e-4) + 2e-6


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("B", [2, 3])
def test_block_matches_brute_force(output, B):
    for seed in range(3):
        inst = draw_instance(Setting(d=2, output=output), seed, 4 * B + 1)  # one unit beyond the last block
        S, err = _block_brute(inst, B)
        best = float(err.min())
        solver = get_method("block")
        for eps in (best * 0.9, best * 1.001):
            out = solver.solve(inst, eps, block=B)
            assert out.status == ("yes" if best <= eps else "no"), (seed, eps, best)
            if out.status == "yes":
                assert satisfies_block(out.masks, B) and out.masks.width == inst.width
                A, b = out.masks.apply(inst.U, inst.v)
                assert network_error(A, b, inst.w, output=output).upper <= eps
                assert _exact(A, b, inst.w, output) <= eps + 1e-12
        me = solver.solve(inst, best, objective="min-error", block=B)
        assert me.error_lower <= best <= me.error_upper <= best * (1 + 1e-4) + 2e-6


@pytest.mark.parametrize("output", OUTPUTS)
def test_widths_match_brute_force(output):
    setting = Setting(d=2, output=output)
    for seed in range(3):
        inst = draw_instance(setting, seed, 7)
        choices, err = _nm_brute(inst, 1, 2)
        eps = _eps_between(err)
        if eps is not None:
            want = max(1, int(support_max(choices)[err <= eps].min()))
            r = api.width(setting, seed=seed, eps=eps, paradigm="nm", method="exact", nm="1:2", max_width=7)
            assert r.n_star == want, (seed, r.search.steps)
        inst = draw_instance(setting, seed, 12)
        S, err = _block_brute(inst, 2)
        eps = _eps_between(err)
        if eps is not None:
            want = int(support_max(S)[err <= eps].min())
            r = api.width(setting, seed=seed, eps=eps, paradigm="block", block=2, max_width=12)
            assert r.n_star == want and r.n_star % 2 == 0, (seed, r.search.steps)
            assert satisfies_block(r.masks, 2)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 5000), output=st.sampled_from(OUTPUTS), scale=st.floats(0.5, 1.5))
def test_property_block_never_wrong(seed, output, scale):
    inst = draw_instance(Setting(d=2, output=output), seed, 8)
    S, err = _block_brute(inst, 2)
    eps = max(float(err.min()) * scale, 1e-3)
    out = get_method("block").solve(inst, eps, block=2)
    if out.status == "yes":
        A, b = out.masks.apply(inst.U, inst.v)
        assert network_error(A, b, inst.w, output=output).upper <= eps and satisfies_block(out.masks, 2)
        assert _exact(A, b, inst.w, output) <= eps + 1e-12
    elif out.status == "no":
        assert err.min() > eps and out.error_lower <= err.min() + 1e-12
    if abs(float(err.min()) - eps) > 1e-5:  # away from a tie with eps the exact solver decides, and rightly
        assert out.status == ("yes" if err.min() <= eps else "no"), (out.status, out.limit, eps, err.min())


# --- orderings of n* between the extremes ------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_n_star_orderings(seed):
    # masks of a finer family include those of a coarser one, so n* are ordered
    setting = Setting(d=2)
    eps = 0.15
    kw = dict(seed=seed, eps=eps, max_width=128)
    weight = api.width(setting, paradigm="weight", method="exact", **kw).n_star
    nm12 = api.width(setting, paradigm="nm", method="exact", nm="1:2", **kw).n_star
    nm22 = api.width(setting, paradigm="nm", method="exact", nm="2:2", **kw).n_star
    neuron = api.width(setting, paradigm="neuron", **kw).n_star
    block1 = api.width(setting, paradigm="block", block=1, **kw).n_star
    block2 = api.width(setting, paradigm="block", block=2, **kw).n_star
    block4 = api.width(setting, paradigm="block", block=4, **kw).n_star
    construction = api.width(setting, paradigm="nm", method="construction", nm="1:2", **kw).n_star
    weight_construction = api.width(setting, paradigm="weight", method="construction", **kw).n_star
    assert None not in (weight, nm12, nm22, neuron, block1, block2)
    assert nm22 == weight  # 2:2 allows every subset
    assert block1 == neuron  # blocks of one unit are neuron pruning
    assert weight <= nm12 <= construction == weight_construction
    assert weight <= neuron <= block2
    if block4 is not None:
        assert block2 <= block4 and block4 % 4 == 0


# --- tickets on disk and the command line ---------------------------------------------


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--paradigm", "nm", "--nm", "1:2", "--method", "exact"], Pattern("nm", n=1, m=2)),
        (["--paradigm", "nm", "--nm", "2:4"], Pattern("nm", n=2, m=4)),
        (["--paradigm", "block", "--block", "3"], Pattern("block", block=3)),
    ],
)
def test_tickets_on_disk_satisfy_the_pattern(tmp_path, capsys, args, pattern):
    for cmd, extra in (("solve", ["--width", "13"]), ("width", ["--max-width", "64"])):
        out = tmp_path / cmd
        d = "3" if pattern.m == 4 else "2"
        code = main([cmd, *args, "--d", d, "--seed", "4", "--eps", "0.3", *extra, "--out", str(out), "--json"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        data = json.loads(captured.out)
        assert data["paradigm"] == pattern.kind
        assert {k: data[k] for k in pattern.to_dict()} == pattern.to_dict()
        t = read_ticket(out / "ticket.npz")
        assert satisfies(t.masks, pattern)
        assert t.masks.kept_units == data["kept_units"]
        if cmd == "width":
            assert data["certified"] == "yes" and data["n_star"] is not None  # reached well within 64 units
        if data["certified"] == "yes":
            A, b = t.masks.apply(t.U, t.v)
            assert network_error(A, b, t.w, eps=0.3).upper <= 0.3
            assert sup_estimate(A, b, t.w, "relu", seed=4) <= data["error_upper"] + 1e-12 and data["error_upper"] <= 0.3
        if cmd == "width" and pattern.kind == "block" and data["n_star"] is not None:
            assert data["n_star"] % 3 == 0


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--paradigm", "nm", "--nm", "5:4"], "'5:4'"),
        (["--paradigm", "nm", "--nm", "two:four"], "'two:four'"),
        (["--paradigm", "nm"], "needs nm"),
        (["--paradigm", "block", "--block", "0"], "got 0"),
        (["--paradigm", "weight", "--nm", "2:4"], "paradigm 'nm' only"),
        (["--paradigm", "neuron", "--block", "2"], "paradigm 'block' only"),
    ],
)
def test_bad_pattern_input_is_one_line_exit_2(tmp_path, capsys, args, needle):
    for cmd, extra in (("solve", ["--width", "4"]), ("width", ["--max-width", "4"])):
        code = main([cmd, *args, "--d", "2", "--seed", "0", "--eps", "0.3", *extra, "--out", str(tmp_path)])
        _, err = capsys.readouterr()
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err
    assert not (tmp_path / "ticket.npz").exists()


def test_exact_nm_refuses_too_many_columns():
    with pytest.raises(InvalidArgument, match="at most 15 allowed input subsets"):
        get_method("nm", "exact").solve(draw_instance(Setting(d=5), 0, 3), 0.5, nm="3:5")


def test_nm_construction_ticket_is_the_weight_construction(tmp_path):
    setting = Setting(d=3)
    a = api.solve(setting, width=30, seed=2, eps=0.2, paradigm="nm", nm="1:4")
    b = api.solve(setting, width=30, seed=2, eps=0.2, paradigm="weight")
    assert np.array_equal(a.masks.hidden_mask, b.masks.hidden_mask) and a.error_upper == b.error_upper
    assert satisfies_nm(a.masks.hidden_mask, 1, 4)


def test_gap_study_accepts_pattern_options():
    import tomllib

    from prunegap.sweep.config import parse_config

    cfg = parse_config(tomllib.loads(
        'seeds = 2\ndims = [2]\neps = [0.3]\n'
        '[[studies]]\nname = "nm-1:2"\nparadigm = "nm"\nmethod = "exact"\noptions = { nm = "1:2" }\n'
        '[[studies]]\nname = "block-2"\nparadigm = "block"\noptions = { block = 2 }\n'
    ))
    trials = list(cfg.trials())
    assert {t.paradigm for t in trials} == {"nm", "block"}
    assert any(dict(t.options).get("nm") == "1:2" for t in trials)
    assert any(dict(t.options).get("block") == 2 for t in trials)


@pytest.mark.parametrize("seed", [5, 6])
def test_brute_force_agrees_with_the_oracle(seed):
    # The d = 2 brute force above is the reference of every exact solver here; check it against
    # the oracle of tests/_oracle.py, which shares no code with it (dense sample + local
    # optimisation: a lower estimate, within ~1e-13 of the true sup in every measurement):
    # the best masks of each family, and a few others, for both outputs.
    rng = np.random.default_rng(seed)
    for output in OUTPUTS:
        inst = draw_instance(Setting(d=2, output=output), seed, 6)
        fams = [_block_brute(inst, 1), _block_brute(inst, 2)]
        choices, err = _nm_brute(inst, 1, 2)
        P = np.array([p for p in weight_patterns(2) if _nm_ok(list(p), 1, 2)], np.uint8)
        A_nm = (inst.U[:, None, :] * P[None, :, :]).reshape(-1, 2)
        S_nm = choice_masks(choices, P.shape[0])
        cases = [(S, e, inst.U, inst.v) for S, e in fams] + [(S_nm, err, A_nm, np.repeat(inst.v, P.shape[0]))]
        for S, e, A, b in cases:
            rows = list(np.argsort(e)[:3]) + list(rng.choice(S.shape[0], 3, replace=False))
            for r in rows:
                sel = S[r] == 1
                est = sup_estimate(A[sel], b[sel], inst.w, output, seed=seed)
                assert est <= e[r] + 1e-12 and est >= e[r] - 1e-9, (output, r, est, e[r])


@pytest.mark.parametrize("paradigm, options", [("block", {"block": 3}), ("nm", {"nm": "1:2", "method": "exact"})])
def test_backends_agree(paradigm, options):
    from prunegap.solvers.mip import sat_available

    if not sat_available():
        pytest.skip("OR-Tools is not installed")
    setting = Setting(d=2)
    a = api.width(setting, seed=1, eps=0.1, paradigm=paradigm, backend="highs", max_width=200, **options)
    b = api.width(setting, seed=1, eps=0.1, paradigm=paradigm, backend="cpsat", max_width=200, **options)
    assert a.n_star == b.n_star and a.n_star is not None


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 8), m=st.integers(1, 5), width=st.integers(1, 60), data=st.data())
def test_property_construction_tickets_are_nm_tickets(seed, d, m, width, data):
    n = data.draw(st.integers(1, m))
    eps = 0.1
    r = api.solve(Setting(d=d), width=width, seed=seed, eps=eps, paradigm="nm", nm=(n, m))
    assert satisfies(r.masks, Pattern("nm", n=n, m=m))
    _check_construction(r, eps)


def _check_construction(r, eps):
    """A construction's answer: certified by its own upper bound, which the oracle may not beat.

    It proves nothing about other masks (error_lower 0), so it answers "yes" exactly when its
    certified upper bound is <= eps, else "unknown" (never "no"); the oracle's lower estimate of
    the ticket's error may exceed neither that bound nor, for a "yes", eps."""
    assert r.error_lower == 0.0
    assert r.certified == ("yes" if r.error_upper <= eps else "unknown"), (r.certified, r.error_upper)
    inst = r.instance
    A, b = r.masks.apply(inst.U, inst.v)
    est = sup_estimate(A, b, inst.w, inst.setting.output, seed=inst.seed, n=4000, starts=3)
    assert est <= r.error_upper + 1e-12, (est, r.error_upper)
    if r.certified == "yes":
        assert est <= eps + 1e-12


@pytest.mark.parametrize("d, nm, width", [(2, (1, 2), 42), (3, (1, 3), 85), (3, (2, 4), 90), (4, (1, 2), 100)])
def test_construction_nm_tickets_certify_against_the_oracle(d, nm, width):
    # the property above, at widths where the construction does certify eps (a "yes" to check)
    eps = 0.1
    r = api.solve(Setting(d=d), width=width, seed=1, eps=eps, paradigm="nm", nm=nm)
    assert r.certified == "yes" and r.masks.kept_weights >= 1
    assert satisfies(r.masks, Pattern("nm", n=nm[0], m=nm[1]))
    _check_construction(r, eps)


@pytest.mark.parametrize("options, needle", [('{ nm = "5:4" }', "'5:4'"), ("{}", "needs nm")])
def test_gap_study_refuses_a_bad_pattern_at_load(options, needle):
    import tomllib

    from prunegap.sweep.config import parse_config

    text = f'seeds = 2\ndims = [2]\neps = [0.3]\n[[studies]]\nparadigm = "nm"\nmethod = "exact"\noptions = {options}\n'
    with pytest.raises(InvalidArgument, match=needle):
        parse_config(tomllib.loads(text))
