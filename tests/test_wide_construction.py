"""The weight-pruning construction at any width (issue 18 item 7, issue 19 item 3).

A group of more than EXACT_GROUP_MAX nonzero products searches only its
shortest prefix that reaches group_accuracy(eps, d); every narrower group is
solved exactly, as before, so every result that succeeded before is unchanged.
"""

import hashlib
import math

import numpy as np
import pytest

from prunegap import Setting, draw_instance
from prunegap.api import solve, width
from prunegap.cli import main
from prunegap.errors import network_error
from prunegap.exceptions import MemoryBudgetExceeded
from prunegap.solvers.weight import EXACT_GROUP_MAX, SubsetSumCache, construct, group_accuracy
from prunegap._validation import format_bytes
from prunegap.subsetsum import DEFAULT_MEMORY_BUDGET, best_subset_sum, subset_sum_bytes


def _mask_hash(m):
    return hashlib.sha256(m.hidden_mask.tobytes() + m.output_mask.tobytes()).hexdigest()[:16]


def _groups(inst):
    """(j, sign, target, group units, products) of the construction, in its order."""
    n, d = inst.U.shape
    for j in range(d):
        units = np.arange(j, n, d)
        u = inst.U[units, j]
        for sign in (1, -1):
            group = units[(u * sign) > 0]
            yield j, sign, float(sign * inst.w[j]), group, inst.v[group] * np.abs(inst.U[group, j])


def test_threshold_is_the_default_budget_and_a_constant():
    # The rule is the largest group whose exact search fits the default budget; it is written down
    # as a number so that neither the budget in force nor a change of the default moves a result.
    assert subset_sum_bytes(EXACT_GROUP_MAX) <= DEFAULT_MEMORY_BUDGET < subset_sum_bytes(EXACT_GROUP_MAX + 1)
    assert EXACT_GROUP_MAX == 49


@pytest.mark.parametrize("d,n,seed,eps", [(2, 300, 41, 0.01), (2, 1000, 0, 1e-4), (2, 10_000, 0, 1e-3),
                                          (3, 1000, 5, 1e-3), (2, 1000, 2, 1e-6)])
def test_wide_construction_is_certified_within_eps(d, n, seed, eps):
    r = solve(Setting(d=d), width=n, seed=seed, eps=eps, paradigm="weight")
    assert r.certified == "yes"
    assert r.error_upper <= eps
    st = r.outcome.stats
    assert st["largest_group"] > EXACT_GROUP_MAX and st["prefix_groups"] >= 1
    assert st["longest_prefix"] <= EXACT_GROUP_MAX
    # an independent check of the ticket: the exact evaluator on the kept weights (d = 2 is exact)
    if d == 2:
        A, b = r.masks.apply(r.instance.U, r.instance.v)
        assert network_error(A, b, r.instance.w, output="relu", norm="sup").upper <= eps
    # the ticket lives in the first units: every kept unit is in a group prefix
    assert r.masks.support_width <= 2 * d * (st["longest_prefix"] + 40)


def test_the_issue_command_returns_a_ticket(tmp_path, capsys):
    # issue 18: this exited 2 with "k=78 values need 38.0 TiB"
    code = main(["solve", "--paradigm", "weight", "--d", "2", "--width", "300", "--seed", "41", "--eps", "0.01",
                 "--out", str(tmp_path), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"certified": "yes"' in out


def test_prefix_is_the_shortest_that_reaches_the_accuracy():
    d, eps = 2, 1e-3
    inst = draw_instance(Setting(d=d), 7, 400)
    c = construct(inst, eps=eps)
    tau = group_accuracy(eps, d)
    for j, sign, target, group, products in _groups(inst):
        assert np.count_nonzero(products) > EXACT_GROUP_MAX  # every group takes the wide path here
        m = 1
        while best_subset_sum(products[:m], target).error > tau:
            m += 1
        assert m > 1 and m <= EXACT_GROUP_MAX  # the prefix before it does not reach tau
        best = best_subset_sum(products[:m], target)
        kept = np.flatnonzero(c.masks.hidden_mask[group, j])
        assert kept.tolist() == best.indices.tolist()  # the subset of exactly that prefix
        coef = c.alpha[j] if sign == 1 else c.beta[j]
        assert coef == pytest.approx(best.value - target, abs=0.0)
    assert c.stats["group_accuracy"] == tau


def test_wide_result_is_pure_and_independent_of_the_memory_budget(monkeypatch):
    s = Setting(d=2)
    ref = construct(draw_instance(s, 41, 300), eps=0.01)
    small = construct(draw_instance(s, 41, 300), eps=0.01, memory_budget=10 * 1024**2)
    monkeypatch.setenv("PRUNEGAP_MEMORY_BUDGET", str(64 * 1024**3))
    big = construct(draw_instance(s, 41, 300), eps=0.01)
    for c in (small, big):
        assert np.array_equal(c.masks.hidden_mask, ref.masks.hidden_mask)
        assert np.array_equal(c.masks.output_mask, ref.masks.output_mask)
        assert c.hidden_error == ref.hidden_error


def test_wide_tickets_are_nested_across_widths():
    # once every group is wide, the ticket depends only on group prefixes: the same weights at 1000 and 10000
    s, eps = Setting(d=2), 1e-4
    a = solve(s, width=1000, seed=3, eps=eps, paradigm="weight")
    b = solve(s, width=10_000, seed=3, eps=eps, paradigm="weight")
    assert np.array_equal(b.masks.hidden_mask[:1000], a.masks.hidden_mask)
    assert not b.masks.output_mask[1000:].any()
    assert b.error_upper == a.error_upper


@pytest.mark.slow  # four exact searches over 49 products (about a minute, 1.6 GiB)
def test_unreachable_accuracy_stays_honest():
    # eps below anything 49 products can reach: the longest exact prefix is used, the error is certified
    # as always, and the ticket is not called within eps
    r = solve(Setting(d=2), width=300, seed=1, eps=1e-300, paradigm="weight")
    assert r.certified == "unknown" and r.error_upper > 1e-300
    assert r.outcome.method_status == "no"
    assert r.outcome.stats["longest_prefix"] == EXACT_GROUP_MAX
    assert r.error_upper < 1e-9  # yet the best subset of 49 products is very close


# ---------------------------------------------------------------------------------------------
# Nothing that succeeded before changed: values recorded with the code before the change.

def _old_construct(inst):
    """The construction before the change: every group's exact best subset sum."""
    n, d = inst.U.shape
    hidden = np.zeros((n, d), np.uint8)
    out = np.zeros(n, np.uint8)
    alpha, beta = np.zeros(d), np.zeros(d)
    for j, sign, target, group, products in _groups(inst):
        res = best_subset_sum(products, target)
        chosen = group[res.indices]
        hidden[chosen, j] = 1
        out[chosen] = 1
        (alpha if sign == 1 else beta)[j] = res.value - target
    return hidden, out, alpha, beta


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_narrow_groups_are_solved_as_before(d, seed):
    for n in (1, 2, 5, 13, 40, 90, 60 * d):
        inst = draw_instance(Setting(d=d), seed, n)
        hidden, out, alpha, beta = _old_construct(inst)
        cache = SubsetSumCache(None)  # shared across eps, as a width scan shares it across widths
        for eps in (0.1, 0.01, 1e-4, 1e-6, 1e-300, None):
            c = construct(inst, eps=eps, cache=cache)
            assert np.array_equal(c.masks.hidden_mask, hidden) and np.array_equal(c.masks.output_mask, out)
            assert np.array_equal(c.alpha, alpha) and np.array_equal(c.beta, beta)
            assert "prefix_groups" not in c.stats  # the stats of every narrow result are as they were


# (d, eps, seed) -> n*, certified error (hex), ticket hash: default-sweep trials of the construction study,
# and (d, width, seed, eps) -> certified error, ticket hash for single solves.
_WIDTH_GOLDEN = {
    (2, 1e-4, 0): (75, "0x1.5043e57ce6153p-14", "ea6dd0878db705d6"),
    (2, 1e-6, 7): (87, "0x1.324d2c1363cf0p-21", "38f30ce3b2245c4a"),
    (3, 1e-6, 3): (165, "0x1.1ec34541e5219p-22", "83888d57a5eb8451"),
    (3, 0.0125, 11): (65, "0x1.c96de1d2a8da2p-9", "3fa78d4889a72f95"),
    (4, 0.05, 5): (64, "0x1.b9d38b2c11097p-6", "763834a85f66353b"),
}
_SOLVE_GOLDEN = {
    (2, 140, 3, 1e-6): ("0x1.84ba27b075a9ap-26", "473e3867d6bd8e15"),
    (3, 210, 4, 1e-4): ("0x1.f2c43b602f28fp-32", "2dc2df3e4e8f167b"),
}


@pytest.mark.parametrize("key", sorted(_WIDTH_GOLDEN))
def test_default_sweep_trials_unchanged(key):
    d, eps, seed = key
    n_star, upper, ticket = _WIDTH_GOLDEN[key]
    r = width(Setting(d=d), seed=seed, eps=eps, paradigm="weight", max_width=4096)
    assert (r.n_star, float(r.error_upper).hex(), _mask_hash(r.masks)) == (n_star, upper, ticket)


@pytest.mark.parametrize("key", sorted(_SOLVE_GOLDEN))
def test_solves_that_succeeded_unchanged(key):
    d, n, seed, eps = key
    r = solve(Setting(d=d), width=n, seed=seed, eps=eps, paradigm="weight")
    assert (float(r.error_upper).hex(), _mask_hash(r.masks)) == _SOLVE_GOLDEN[key]


# ---------------------------------------------------------------------------------------------
# best_subset_sum keeps its guard, and says how much it would need without overflowing.

def test_best_subset_sum_keeps_its_memory_guard():
    values = np.random.default_rng(0).uniform(0.01, 1.0, 78)
    with pytest.raises(MemoryBudgetExceeded, match=r"k=78 values need 38 TiB"):
        best_subset_sum(values, 3.0)


@pytest.mark.parametrize("k", [1000, 5000, 10_000])
def test_guard_message_for_huge_groups_is_short(k):
    # issue 19 item 3: k = 10000 raised OverflowError, 1000..5000 quoted a 200-digit "PiB" figure
    values = np.random.default_rng(k).uniform(0.01, 1.0, k)
    with pytest.raises(MemoryBudgetExceeded) as info:
        best_subset_sum(values, 1.0)
    msg = str(info.value)
    bits = subset_sum_bytes(k).bit_length() - 1
    assert f"need more than 2^{bits} B" in msg
    assert len(msg) < 250


def test_construct_without_eps_is_exact_and_guarded():
    # without eps there is no accuracy to stop at: the exact search, refused past the budget in one line
    inst = draw_instance(Setting(d=2), 0, 10_000)
    with pytest.raises(MemoryBudgetExceeded, match=r"more than 2\^\d+ B") as info:
        construct(inst)
    assert len(str(info.value)) < 250


@pytest.mark.parametrize("n,text", [(0, "0 B"), (1023, "1023 B"), (1024, "1 KiB"), (3 * 1024**2 // 2, "1.5 MiB"),
                                    (2 * 1024**3, "2 GiB"), (38 * 1024**4, "38 TiB"), (5 * 1024**6, "5 EiB"),
                                    (1024**7, "more than 2^70 B"), (2**5006 + 12345, "more than 2^5006 B")])
def test_format_bytes(n, text):
    assert format_bytes(n) == text


def test_width_search_past_the_old_limit():
    # eps so small that the scan reaches groups wider than the exact search allows: it used to stop
    # there as unknown (memory budget); now the wide groups take their prefixes and the scan goes on
    r = width(Setting(d=2), seed=0, eps=1e-9, paradigm="weight", max_width=400)
    assert r.n_star is not None and r.error_upper <= 1e-9
    assert math.isfinite(r.error_upper)
