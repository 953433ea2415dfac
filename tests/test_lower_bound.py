"""The proofs-only width search (bound="lower"): every proven "no" against brute force, the bracket against n*.

A "no" at width w claims that no mask of the paradigm in the first w units
is within eps.  Here every such claim on a small width is checked against the
exact errors of *every* mask (tests/_brute.py, d = 2), n_lower against the
brute-force and the certified n*, planted tickets are never refuted, and the
search core is checked on fake deciders whose threshold is known.
"""

from __future__ import annotations

import functools
import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from _brute import all_subsets, neuron_errors, sup_errors, support_max
from prunegap import api
from prunegap.cli import main
from prunegap.exceptions import InvalidArgument
from prunegap.masks import Masks
from prunegap.network import draw_instance
from prunegap.planted import planted_instance
from prunegap.search import minimal_width
from prunegap.setting import Setting
from prunegap.solvers.base import SEARCH_WORK_LIMIT, Outcome, get_method

import prunegap

OUTPUTS = ("relu", "linear")
PROOF_KEYS = ("width", "points", "rows", "columns", "conflicts", "margin", "error_lower", "proof")


# --- brute force: the best error of every paradigm at every narrow width -------------------------


def _choice_errors(U, v, w, output, P):
    """(choices, errors) of every per-unit choice among the rows of P (0 = drop the unit)."""
    n, d = U.shape
    p = P.shape[0]
    A = (U[:, None, :] * P[None, :, :]).reshape(n * p, d)
    b = np.repeat(v, p)
    choices = np.array(list(itertools.product(range(p + 1), repeat=n)), np.int64)
    S = np.zeros((choices.shape[0], n * p), np.uint8)
    for i in range(n):
        c = choices[:, i]
        on = np.flatnonzero(c > 0)
        S[on, i * p + c[on] - 1] = 1
    return choices, sup_errors(A, b, w, output, S)


@functools.lru_cache(maxsize=None)
def best_by_width(paradigm: str, output: str, seed: int, wmax: int) -> tuple[float, ...]:
    """best[w - 1]: the least exact sup error over every mask of the paradigm in the first w units."""
    inst = draw_instance(Setting(d=2, output=output), seed, wmax)
    U, v, w = inst.U, inst.v, inst.w
    if paradigm == "neuron":
        S, err = neuron_errors(U, v, w, output)
        used = support_max(S)
    elif paradigm == "weight":  # every nonempty subset of the two inputs per unit
        S, err = _choice_errors(U, v, w, output, np.array([[1, 0], [0, 1], [1, 1]], np.uint8))
        used = support_max(S)
    elif paradigm == "nm":  # 1:2 in d = 2: one input weight per unit at most
        S, err = _choice_errors(U, v, w, output, np.array([[1, 0], [0, 1]], np.uint8))
        used = support_max(S)
    elif paradigm == "block":  # blocks of 2 consecutive units, whole
        nb = wmax // 2
        S = np.repeat(all_subsets(nb), 2, axis=1)
        err = sup_errors(U[: 2 * nb], v[: 2 * nb], w, output, S)
        used = support_max(S)
    else:
        raise AssertionError(paradigm)
    return tuple(float(err[used <= k].min()) for k in range(1, wmax + 1))


def brute_n_star(best: tuple[float, ...], eps: float) -> int | None:
    ok = [k for k, e in enumerate(best, start=1) if e <= eps]
    return ok[0] if ok else None


def check_against_brute(r: dict, best: tuple[float, ...], eps: float, label) -> int | None:
    """Every claim of a proofs-only search that brute force can see, and n_lower <= n* <= n_upper."""
    wmax = len(best)
    steps = [tuple(s) for s in r["steps"]]
    no_widths = [wd for wd, s in steps if s == "no"]
    for wd, status in steps:
        if wd > wmax:
            continue
        if status == "no":
            assert best[wd - 1] > eps, f"SOUNDNESS: 'no' at width {wd} but a mask has error {best[wd - 1]} <= {eps}: {label}"
        elif status == "yes":
            assert best[wd - 1] <= eps, (label, wd)
    for p in r["proofs"]:
        assert set(PROOF_KEYS) <= set(p), p
        assert p["width"] in no_widths, (label, p["width"], steps)
        assert p["margin"] > 0 and p["error_lower"] > eps, (label, p)
        if p["width"] <= wmax:
            # error_lower is a lower bound on every mask at that width
            assert p["error_lower"] <= best[p["width"] - 1] + 1e-9, (label, p, best[p["width"] - 1])
    lo = r["n_lower"] - 1
    assert lo == 0 or lo in no_widths, (label, r["n_lower"], steps)
    if lo >= 1:
        assert lo in [p["width"] for p in r["proofs"]], "the widest 'no' has no proof entry"
    n_star = brute_n_star(best, eps)
    if n_star is not None:
        assert r["n_lower"] <= n_star, f"SOUNDNESS: n_lower {r['n_lower']} > brute-force n* {n_star}: {label}"
        assert all(p["width"] < n_star for p in r["proofs"]), (label, n_star, r["proofs"])
        if r["n_upper"] is not None:
            assert r["n_upper"] >= n_star, (label, r["n_upper"], n_star)
        if r["n_star"] is not None:
            assert r["n_star"] == n_star, (label, r["n_star"], n_star)
    elif r["n_upper"] is not None:
        assert r["n_upper"] > wmax, (label, r["n_upper"])
    assert r["certified"] == ("yes" if r["n_star"] is not None else "unknown")
    assert (r["n_star"] is not None) == (r["n_upper"] is not None and r["n_upper"] == r["n_lower"])
    return n_star


# --- 1. soundness against brute force ----------------------------------------------------------

SEEDS = range(12)
EPSS = (0.2, 0.3, 0.5)
NEURON_WMAX = 14


@pytest.mark.parametrize("output", OUTPUTS)
def test_neuron_lower_search_is_sound_against_brute_force(output):
    exact_seen = 0
    for seed in SEEDS:
        best = best_by_width("neuron", output, seed, NEURON_WMAX)
        for eps in EPSS:
            label = ("neuron", output, seed, eps)
            r = prunegap.width(Setting(d=2, output=output), seed=seed, eps=eps, paradigm="neuron",
                               bound="lower", max_width=128).to_dict()
            n_star = check_against_brute(r, best, eps, label)
            # bisected to one unit with every answer decided, the bracket closes on the brute-force n*
            r0 = prunegap.width(Setting(d=2, output=output), seed=seed, eps=eps, paradigm="neuron",
                                bound="lower", resolution=0, max_width=128).to_dict()
            check_against_brute(r0, best, eps, label + ("resolution=0",))
            if n_star is not None and all(s != "unknown" for _, s in r0["steps"]):
                assert r0["n_lower"] == r0["n_upper"] == r0["n_star"] == n_star, (label, r0["steps"])
                exact_seen += 1
    assert exact_seen >= 3  # the cases above include several with a small n*


@pytest.mark.parametrize("output", OUTPUTS)
def test_starved_lower_search_stays_sound(output):
    """Tiny work limits and a thin first sample leave 'unknown's, never a wrong 'no'."""
    starved = dict(conflict_limit=1, search_conflict_limit=5, max_rounds=1, initial_max_points=16)
    for seed in (1, 6, 7, 9, 11):
        best = best_by_width("neuron", output, seed, NEURON_WMAX)
        for eps in (0.2, 0.3):
            r = prunegap.width(Setting(d=2, output=output), seed=seed, eps=eps, paradigm="neuron", bound="lower",
                               resolution=0, **starved).to_dict()
            check_against_brute(r, best, eps, ("starved", output, seed, eps))
            assert r["solver_options"]["conflict_limit"] == 1 and r["solver_options"]["max_rounds"] == 1


# (paradigm, options, brute-force width)
PATTERNS = [
    ("weight", {"method": "exact"}, 7),
    ("nm", {"method": "exact", "nm": "1:2"}, 9),
    ("block", {"block": 2}, 16),
]


@pytest.mark.parametrize("paradigm, options, wmax", PATTERNS)
def test_pattern_lower_searches_are_sound_against_brute_force(paradigm, options, wmax):
    for seed, output, eps in itertools.product((0, 5, 6, 7, 9), OUTPUTS, (0.2, 0.3)):
        best = best_by_width(paradigm, output, seed, wmax)
        r = prunegap.width(Setting(d=2, output=output), seed=seed, eps=eps, paradigm=paradigm, bound="lower",
                           resolution=0, max_width=128, **options).to_dict()
        check_against_brute(r, best, eps, (paradigm, output, seed, eps))


def test_weight_proofs_never_pass_a_neuron_ticket():
    """A neuron mask is a weight mask and a 1:2 mask is a weight mask: weight proofs stay below both n*."""
    for seed in (0, 3, 5, 7):
        s = Setting(d=2)
        lower = prunegap.width(s, seed=seed, eps=0.3, paradigm="weight", method="exact", bound="lower",
                               resolution=0).to_dict()
        for paradigm, opts in (("neuron", {}), ("nm", {"method": "exact", "nm": "1:2"})):
            n_star = prunegap.width(s, seed=seed, eps=0.3, paradigm=paradigm, **opts).n_star
            assert n_star is not None
            assert lower["n_lower"] <= n_star, (seed, paradigm, lower["steps"], n_star)
            assert all(p["width"] < n_star for p in lower["proofs"])


# --- 2. against the certified n* on larger instances ------------------------------------------

GENEROUS = {"conflict_limit": 200_000, "search_conflict_limit": 2_000_000}
LARGER = [(2, 0.05, 0), (2, 0.05, 1), (2, 0.05, 2), (2, 0.05, 3), (3, 0.2, 1), (3, 0.2, 3)]


@pytest.mark.parametrize("d, eps, seed", LARGER)
def test_lower_search_against_certified_n_star(d, eps, seed):
    s = Setting(d=d)
    both = prunegap.width(s, seed=seed, eps=eps, paradigm="neuron")
    n_star = both.n_star
    assert n_star is not None and both.certified == "yes"
    for res, limits in ((None, {}), (None, GENEROUS), (0, GENEROUS)):
        r = prunegap.width(s, seed=seed, eps=eps, paradigm="neuron", bound="lower", resolution=res,
                           **limits).to_dict()
        label = (d, eps, seed, res, bool(limits))
        assert r["n_lower"] <= n_star, f"SOUNDNESS: n_lower {r['n_lower']} > certified n* {n_star}: {label}"
        assert all(p["width"] < n_star for p in r["proofs"]), label
        assert all(wd < n_star for wd, st_ in r["steps"] if st_ == "no"), label
        assert all(wd >= n_star for wd, st_ in r["steps"] if st_ == "yes"), label
        if r["n_upper"] is not None:
            assert r["n_upper"] >= n_star
        if r["n_star"] is not None:
            assert r["n_star"] == n_star
        if limits:
            # the whole-search limit cannot fire: bisection stops only at the resolution
            assert r["resolution"] == (api.LOWER_RESOLUTION if res is None else 0.0)
            lo = r["n_lower"] - 1
            top = min(wd for wd, st_ in r["steps"] if st_ != "no" and wd > lo)
            assert top - lo <= max(1, int(r["resolution"] * lo)), (label, r["steps"])
            if res == 0 and all(st_ != "unknown" for _, st_ in r["steps"]):
                assert r["n_lower"] == n_star, (label, r["steps"])


# --- 3. planted tickets are never refuted ---------------------------------------------------

PLANT_METHODS = [
    ("neuron", "mip", {}),
    ("weight", "exact", {}),
    ("block", "mip", {"block": 2}),
    ("nm", "exact", {"nm": "2:2"}),
]


def _planted_lower(paradigm, method, opts, setting, seed, width, units, eps):
    inst, plant, stream = planted_instance(setting, seed, width, "neuron", units=units)
    solver = get_method(paradigm, method)
    decide = solver.oracle(stream, eps, **opts, **api.LOWER_LIMITS)
    r = minimal_width(decide, max_width=128, monotone=solver.monotone(setting), bound="lower", resolution=0.0)
    return inst, plant, solver, r


@pytest.mark.parametrize("paradigm, method, opts", PLANT_METHODS)
@pytest.mark.parametrize("output", OUTPUTS)
def test_planted_ticket_is_never_refuted(paradigm, method, opts, output):
    setting = Setting(d=2, output=output)
    for eps in (0.01, 0.1):
        inst, plant, solver, r = _planted_lower(paradigm, method, opts, setting, 5, 10, [8, 9], eps)
        for wd in (plant.width, plant.width + 3, 16):
            wide, _, _ = planted_instance(setting, 5, wd, "neuron", units=[8, 9])
            assert solver.solve(wide, eps, **opts).status != "no", (paradigm, output, eps, wd)
        assert solver.solve(inst, eps, **opts).status != "no"
        assert r.n_lower <= plant.width, (paradigm, output, eps, r.steps)
        assert all(wd < plant.width for wd, s in r.steps if s == "no"), r.steps


def test_planted_ticket_far_below_the_random_n_star():
    """Seed 2 needs 56 units at eps 0.2; a plant at units 20 and 27 must pull every proof below 28."""
    setting = Setting(d=2)
    plain = prunegap.width(setting, seed=2, eps=0.2, paradigm="neuron", bound="lower")
    assert plain.to_dict()["n_lower"] > 28  # without the plant the proofs go well past 28
    for eps in (0.2, 0.05):
        inst, plant, solver, r = _planted_lower("neuron", "mip", {}, setting, 2, 28, [20, 27], eps)
        assert plant.width == 28
        assert solver.solve(inst, eps).status == "yes"
        assert r.n_lower <= 28 and all(wd < 28 for wd, s in r.steps if s == "no"), r.steps
        assert r.n_upper is not None and r.n_upper <= 28


# --- 4. the search core on fake deciders -----------------------------------------------------


def fake(T: int, U: int | None = None, *, ticket: bool = False, limit_at: int | None = None, calls=None):
    """"no" below T, "unknown" on [T, U), "yes" from U (never when U is None).

    ``ticket``: a yes carries a mask living in the first U units.  ``limit_at``:
    the answer there says the whole search is out of work."""

    def decide(n: int) -> Outcome:
        if calls is not None:
            calls.append(n)
        if n < T:
            return Outcome("no", None, 1.0, math.inf)
        if U is not None and n >= U:
            masks = None
            if ticket:
                hidden = np.zeros((n, 2), np.uint8)
                out = np.zeros(n, np.uint8)
                hidden[U - 1] = 1
                out[U - 1] = 1
                masks = Masks(hidden, out)
            return Outcome("yes", masks, 0.0, 0.0)
        return Outcome("unknown", None, 0.0, math.inf, limit=SEARCH_WORK_LIMIT if n == limit_at else None)

    return decide


def _lower(decide, max_width=4096, resolution=0.0):
    return minimal_width(decide, max_width=max_width, bound="lower", resolution=resolution)


def test_gallop_then_bisect_to_one_unit():
    r = _lower(fake(11), max_width=64)
    assert r.steps == [(1, "no"), (2, "no"), (4, "no"), (8, "no"), (16, "unknown"), (12, "unknown"), (10, "no"),
                       (11, "unknown")]
    assert r.n_lower == 11 and r.n_upper is None and r.n_star is None


def test_a_yes_on_the_way_closes_the_bracket():
    r = _lower(fake(11, 11), max_width=64)
    assert r.steps == [(1, "no"), (2, "no"), (4, "no"), (8, "no"), (16, "yes"), (12, "yes"), (10, "no"), (11, "yes")]
    assert r.n_lower == r.n_upper == r.n_star == 11
    assert r.width == 11 and r.outcome.status == "yes"


def test_a_ticket_support_is_asked_first():
    r = _lower(fake(40, 40, ticket=True), max_width=4096)
    assert r.steps == [(1, "no"), (2, "no"), (4, "no"), (8, "no"), (16, "no"), (32, "no"), (64, "yes"), (40, "yes"),
                       (36, "no"), (38, "no"), (39, "no")]
    assert r.n_star == 40


def test_a_yes_beyond_the_first_unknown_is_not_looked_for():
    r = _lower(fake(30, 50), max_width=64)
    # proofs only: the search stops at the first answer that is not "no" and bisects below it
    assert [w for w, _ in r.steps] == [1, 2, 4, 8, 16, 32, 24, 28, 30, 29]
    assert r.n_lower == 30 and r.n_upper is None and r.n_star is None


def test_resolution_stops_the_bisection():
    r = _lower(fake(100), resolution=1 / 16)
    assert [w for w, _ in r.steps] == [1, 2, 4, 8, 16, 32, 64, 128, 96, 112, 104, 100]
    assert r.n_lower == 97  # the bracket [96, 100] is 4 <= 96 / 16 wide
    r0 = _lower(fake(100), resolution=0.0)
    assert [w for w, _ in r0.steps] == [1, 2, 4, 8, 16, 32, 64, 128, 96, 112, 104, 100, 98, 99]
    assert r0.n_lower == 100
    # resolution 1: stops as soon as the bracket is no wider than the last "no"
    r1 = _lower(fake(100), resolution=1.0)
    assert [w for w, _ in r1.steps] == [1, 2, 4, 8, 16, 32, 64, 128] and r1.n_lower == 65


def test_all_no_up_to_max_width():
    r = _lower(fake(10**6), max_width=20)
    assert [w for w, _ in r.steps] == [1, 2, 4, 8, 16, 20]
    assert r.n_lower == 21 and r.n_upper is None and r.n_star is None


def test_a_search_limit_ends_the_search():
    calls: list[int] = []
    r = _lower(fake(10, limit_at=16, calls=calls), max_width=64)
    assert calls == [1, 2, 4, 8, 16]  # no bisection after the whole search ran out of work
    assert r.n_lower == 9 and r.n_upper is None


def test_lower_needs_a_monotone_gallop():
    with pytest.raises(ValueError):
        minimal_width(fake(5), max_width=16, bound="lower", monotone=False)
    with pytest.raises(ValueError):
        minimal_width(fake(5), max_width=16, bound="lower", strategy="scan")
    with pytest.raises(InvalidArgument, match="'both', 'lower'"):
        minimal_width(fake(5), max_width=16, bound="upper")


@settings(max_examples=300)
@given(T=st.integers(1, 3000), gap=st.one_of(st.none(), st.integers(0, 500)), max_width=st.integers(1, 4000),
       resolution=st.sampled_from([0.0, 1 / 64, 1 / 16, 0.25, 1.0]), ticket=st.booleans())
def test_lower_search_invariants(T, gap, max_width, resolution, ticket):
    U = None if gap is None else T + gap
    calls: list[int] = []
    r = _lower(fake(T, U, ticket=ticket, calls=calls), max_width=max_width, resolution=resolution)
    again = _lower(fake(T, U, ticket=ticket), max_width=max_width, resolution=resolution)
    assert again.steps == r.steps and again.n_lower == r.n_lower and again.n_upper == r.n_upper  # deterministic
    assert len(calls) == len(set(calls)) and all(1 <= c <= max_width for c in calls)
    assert len(calls) <= 2 * math.ceil(math.log2(max_width + 1)) + 3
    for wd, s in r.steps:
        assert s == ("no" if wd < T else "yes" if U is not None and wd >= U else "unknown")
    lo = r.n_lower - 1
    assert lo == 0 or (lo, "no") in r.steps
    assert r.n_lower <= T  # sound: every width below n_lower was answered "no"
    if T > max_width:
        assert r.n_lower == max_width + 1 and r.n_upper is None
        return
    top = min(wd for wd, s in r.steps if s != "no")
    assert top > lo and top - lo <= max(1, int(resolution * lo))
    if resolution == 0.0:
        assert r.n_lower == T
    if r.n_upper is not None:
        assert U is not None and r.n_upper >= U and (r.n_upper, "yes") in r.steps
    elif U is not None:
        assert U > max_width or all(s != "yes" for _, s in r.steps)
    assert r.n_star == (r.n_upper if r.n_upper == r.n_lower else None)
    if U == T and resolution == 0.0:
        assert r.n_star == T


# --- 5. determinism of the real search -------------------------------------------------------

def _strip(d: dict) -> dict:
    return {k: d[k] for k in ("n_lower", "n_upper", "n_star", "steps", "proofs", "certified", "width", "bound",
                              "resolution", "error_lower", "error_upper", "kept_units")}


@pytest.mark.parametrize("d, eps, seed", [(2, 0.1, 0), (3, 0.2, 1)])
def test_real_lower_search_is_deterministic(d, eps, seed):
    a = prunegap.width(Setting(d=d), seed=seed, eps=eps, paradigm="neuron", bound="lower").to_dict()
    b = prunegap.width(Setting(d=d), seed=seed, eps=eps, paradigm="neuron", bound="lower").to_dict()
    assert _strip(a) == _strip(b)
    assert len(a["proofs"]) >= 3 and len(a["step_seconds"]) == len(a["steps"])


# --- 6. bad input; the pattern paradigms ----------------------------------------------------


@pytest.mark.parametrize("kw, needles", [
    (dict(paradigm="neuron", bound="upper"), ("bound", "'upper'", "'both', 'lower'")),
    (dict(paradigm="neuron", bound="banana"), ("'banana'", "'both', 'lower'")),
    (dict(paradigm="weight", bound="lower"), ("lower", "weight/construction")),
    (dict(paradigm="weight", method="construction", bound="lower"), ("lower", "weight/construction")),
    (dict(paradigm="nm", nm="1:2", bound="lower"), ("lower", "nm/construction")),
    (dict(paradigm="neuron", bound="lower", resolution=2.0), ("resolution",)),
    (dict(paradigm="neuron", bound="lower", resolution=-0.1), ("resolution",)),
])
def test_api_refuses_bad_bounds(kw, needles):
    with pytest.raises(InvalidArgument) as e:
        prunegap.width(Setting(d=2), seed=0, eps=0.1, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def _cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("extra, needle", [
    (["--paradigm", "neuron", "--bound", "banana"], "banana"),
    (["--paradigm", "weight", "--bound", "lower"], "lower"),
    (["--paradigm", "nm", "--nm", "1:2", "--bound", "lower"], "lower"),
])
def test_cli_refuses_bad_bounds(tmp_path, capsys, extra, needle):
    code, out, err = _cli(["width", "--d", "2", "--seed", "0", "--eps", "0.1", *extra, "--out", str(tmp_path)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "result.json").exists()


@pytest.mark.parametrize("paradigm, opts, seed", [
    ("block", {"block": 2}, 9),
    ("nm", {"nm": "1:2", "method": "exact"}, 9),
    ("nm", {"nm": "1:2", "method": "exact"}, 0),
])
def test_pattern_lower_search_below_n_star(paradigm, opts, seed):
    s = Setting(d=2)
    both = prunegap.width(s, seed=seed, eps=0.2, paradigm=paradigm, **opts)
    assert both.n_star is not None
    for res in (None, 0):
        r = prunegap.width(s, seed=seed, eps=0.2, paradigm=paradigm, bound="lower", resolution=res, **opts).to_dict()
        assert r["n_lower"] <= both.n_star, (paradigm, seed, res, r["steps"], both.n_star)
        assert all(p["width"] < both.n_star for p in r["proofs"])
        assert r["proofs"] and all(p["margin"] > 0 for p in r["proofs"])
        if r["n_upper"] is not None:
            assert r["n_upper"] >= both.n_star
            if paradigm == "block":
                assert r["n_upper"] % 2 == 0


# --- 7. result.json of the command line -----------------------------------------------------


def test_cli_result_json_contract(tmp_path, capsys):
    base = ["width", "--paradigm", "neuron", "--d", "2", "--seed", "0", "--eps", "0.1", "--bound", "lower"]
    # every width up to 16 is refuted: nothing certified, n_upper null
    code, out, err = _cli([*base, "--max-width", "16", "--out", str(tmp_path / "a"), "--json"], capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "a" / "result.json").read_text())
    assert json.loads(out) == data
    assert data["n_lower"] == 17 and data["n_upper"] is None and data["n_star"] is None
    assert data["certified"] == "unknown" and data["bound"] == "lower" and data["resolution"] == api.LOWER_RESOLUTION
    assert data["steps"] == [[1, "no"], [2, "no"], [4, "no"], [8, "no"], [16, "no"]]
    assert len(data["step_seconds"]) == len(data["steps"]) and all(t >= 0 for t in data["step_seconds"])
    assert [p["width"] for p in data["proofs"]] == [1, 2, 4, 8, 16]
    for p in data["proofs"]:
        assert set(PROOF_KEYS) <= set(p)
        assert isinstance(p["points"], int) and p["points"] >= 1
        assert isinstance(p["rows"], int) and p["rows"] >= 1 and p["columns"] >= 1
        assert p["margin"] > 0 and p["error_lower"] > 0.1 and p["conflicts"] >= 0
    assert {k: data["solver_options"][k] for k in api.LOWER_LIMITS} == api.LOWER_LIMITS
    assert (tmp_path / "a" / "ticket.npz").exists()
    # the full search: a ticket met on the way is n_upper; certified only when the ends meet
    code, out, err = _cli([*base, "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err
    assert "n_lower=" in out
    full = json.loads((tmp_path / "b" / "result.json").read_text())
    n_star = prunegap.width(Setting(d=2), seed=0, eps=0.1, paradigm="neuron").n_star
    assert full["n_lower"] <= n_star and (full["n_upper"] is None or full["n_upper"] >= n_star)
    assert full["certified"] == ("yes" if full["n_lower"] == full["n_upper"] else "unknown")
    # the work limits of the command line reach the solver
    code, out, err = _cli([*base, "--conflict-limit", "7", "--search-conflict-limit", "9",
                           "--out", str(tmp_path / "c")], capsys)
    assert code == 0, err
    tight = json.loads((tmp_path / "c" / "result.json").read_text())
    assert tight["solver_options"]["conflict_limit"] == 7 and tight["solver_options"]["search_conflict_limit"] == 9
    assert tight["n_lower"] <= n_star


def test_api_certified_yes_when_the_bracket_closes():
    # neuron n* = 18 here (brute force: tests above); every answer on the way is decided
    r = prunegap.width(Setting(d=2), seed=1, eps=0.2, paradigm="neuron", bound="lower", resolution=0)
    d = r.to_dict()
    assert d["n_lower"] == d["n_upper"] == d["n_star"] == r.n_star
    assert d["certified"] == r.certified == "yes"
    assert r.outcome.status == "yes" and r.instance.width == d["n_upper"]
