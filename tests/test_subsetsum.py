"""Exact best subset sum (meet in the middle) against exact brute force."""

from __future__ import annotations

import math
from fractions import Fraction
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import prunegap.subsetsum as ss
from prunegap.exceptions import InvalidArgument, MemoryBudgetExceeded, PrunegapError
from prunegap.subsetsum import (
    DEFAULT_MEMORY_BUDGET,
    SubsetSumResult,
    best_subset_sum,
    subset_sum_bytes,
)

_SCALE = 1074  # every double is an integer multiple of 2**-1074


def _exact(x: float) -> int:
    num, den = float(x).as_integer_ratio()
    return num * ((1 << _SCALE) // den)


def brute(values, target) -> tuple[float, int]:
    """Exact optimum (correctly rounded) and the smallest optimal bitmask.

    Sums in exact integer arithmetic; position in ``sums`` is the bitmask, so
    the first minimum is the smallest optimal mask."""
    sums = [0]
    for x in values:
        e = _exact(x)
        sums = sums + [s + e for s in sums]
    t = _exact(target)
    errs = [abs(s - t) for s in sums]
    best = min(errs)
    return float(Fraction(best, 1 << _SCALE)), errs.index(best)


def _mask(indices: np.ndarray) -> int:
    return sum(1 << int(i) for i in indices)


def check_result(values, target, res: SubsetSumResult) -> None:
    values = np.asarray(values, dtype=np.float64)
    idx = res.indices
    assert isinstance(res, SubsetSumResult)
    assert idx.dtype == np.int64 and idx.ndim == 1
    assert np.all(np.diff(idx) > 0), "indices sorted and unique"
    assert idx.size == 0 or (idx[0] >= 0 and idx[-1] < values.size)
    picked = values[idx].tolist()
    assert res.value == math.fsum(picked)
    assert res.error == abs(math.fsum(picked + [-float(target)]))
    # |value - target| in float agrees up to the rounding of value.
    assert abs(abs(res.value - target) - res.error) <= 2 * np.spacing(max(abs(res.value), abs(target), 1e-300))
    assert res.k == values.size


def check_against_brute(values, target) -> SubsetSumResult:
    res = best_subset_sum(values, target)
    check_result(values, target, res)
    err, mask = brute(values, target)
    assert res.error == err
    assert _mask(res.indices) == mask, "ties go to the smallest bitmask"
    return res


# --- random families against brute force --------------------------------------


def _family(name: str, r: np.random.Generator, k: int) -> tuple[np.ndarray, float]:
    if name == "uniform":
        return r.uniform(-1, 1, k), float(r.uniform(-1, 1))
    if name == "gaussian":
        return r.normal(size=k), float(r.normal())
    if name == "products":  # the construction's products of two uniforms
        return r.uniform(-1, 1, k) * r.uniform(0, 1, k), float(r.uniform(-1, 1))
    if name == "negative-target":
        return r.uniform(0, 1, k), -float(r.uniform(0, 2))
    if name == "out-of-range":
        v = r.uniform(-1, 1, k)
        reach = float(np.abs(v).sum())
        return v, float(r.choice([-1, 1]) * (reach + r.uniform(0, 3)))
    if name == "ties":  # few distinct dyadic values: many exact ties
        v = r.choice([-1.0, -0.5, 0.25, 0.5, 1.0], size=k)
        return v, float(r.integers(-8, 9) / 4)
    if name == "duplicates":  # one decimal value repeated: sums round alike
        return np.full(k, float(r.choice([0.1, 0.3, -0.7]))), float(r.uniform(-3, 3))
    if name == "zeros":
        v = r.uniform(-1, 1, k)
        v[r.random(k) < 0.4] = 0.0
        return v, float(r.uniform(-1, 1))
    if name == "integers":
        return r.integers(-5, 6, k).astype(float), float(r.integers(-10, 11))
    if name == "wide":  # magnitudes over many decades
        return r.uniform(-1, 1, k) * 10.0 ** r.integers(-12, 12, k), float(r.normal())
    raise AssertionError(name)


FAMILIES = [
    "uniform", "gaussian", "products", "negative-target", "out-of-range",
    "ties", "duplicates", "zeros", "integers", "wide",
]


@pytest.mark.parametrize("family", FAMILIES)
def test_matches_brute_force(family):
    r = np.random.default_rng(abs(hash(family)) % 2**32)
    for k in list(range(0, 13)) + [13, 14, 16]:
        v, t = _family(family, r, k)
        check_against_brute(v, t)


def test_many_small_uniform_instances():
    r = np.random.default_rng(7)
    for _ in range(300):
        k = int(r.integers(0, 11))
        check_against_brute(r.uniform(-1, 1, k), float(r.uniform(-2, 2)))


# --- the class path (many ties) ----------------------------------------------


@pytest.mark.parametrize("family", ["ties", "duplicates", "integers", "zeros", "uniform"])
def test_class_path_matches_brute_force(family):
    # A small candidate cap forces degenerate inputs onto the class path; the
    # same cap then bounds the distinct class pairs, and going over it must
    # raise, never answer wrongly.
    r = np.random.default_rng(3)
    paths = []
    with mock.patch.object(ss, "_MAX_CANDIDATES", 16):
        for k in list(range(0, 15)) * 3:
            v, t = _family(family, r, k)
            try:
                res = check_against_brute(v, t)
            except PrunegapError:
                paths.append("refused")
                continue
            paths.append(res.stats["path"])
    if family in ("ties", "duplicates", "integers"):
        assert paths.count("classes") >= 5
    assert paths.count("refused") <= len(paths) // 4


def test_class_path_default_cap_large_ties():
    # 36 equal decimal values: billions of optimal subsets, 37 distinct sums.
    v = np.full(36, 0.1)
    res = best_subset_sum(v, 1.234)
    assert res.stats["path"] == "classes"
    assert res.indices.tolist() == list(range(12))  # smallest bitmask
    assert res.error == abs(math.fsum([0.1] * 12 + [-1.234]))


def test_refuses_indistinguishable_near_ties():
    # Both halves: 1.0 plus distinct tiny values far below its rounding unit;
    # millions of distinct sums lie within float rounding of the target.
    r = np.random.default_rng(0)
    v = r.integers(1, 2**20, 32) * 2.0**-90
    v[0] = v[16] = 1.0
    with pytest.raises(PrunegapError, match="best_subset_sum"):
        best_subset_sum(v, 2.0)


# --- special cases --------------------------------------------------------------


def test_empty_and_single():
    res = best_subset_sum([], 0.25)
    assert res.indices.tolist() == [] and res.value == 0.0 and res.error == 0.25 and res.k == 0
    assert best_subset_sum([0.7], 0.5).indices.tolist() == [0]
    assert best_subset_sum([0.7], 0.3).indices.tolist() == []
    assert best_subset_sum([0.0], 0.0).indices.tolist() == []


def test_empty_subset_optimal():
    res = best_subset_sum([0.5, 0.75, 2.0], -0.1)
    assert res.indices.tolist() == [] and res.error == 0.1 and res.value == 0.0


def test_ties_smallest_bitmask():
    assert best_subset_sum([1.0, 1.0, 1.0], 1.0).indices.tolist() == [0]
    assert best_subset_sum([0.5, 0.5, 1.0], 1.0).indices.tolist() == [0, 1]
    assert best_subset_sum([0.0, 0.0, 1.0], 1.0).indices.tolist() == [2]


def test_exact_where_floats_mislead():
    # fl(0.9 + (-0.2)) == 0.7, yet the exact sum is not the double 0.7; and
    # 0.1 + 0.2 rounds to 0.30000000000000004 while 0.3 alone is closer.
    res = best_subset_sum([0.5, -0.2, 0.9, 0.3], 0.7)
    assert res.error == 5.551115123125783e-17
    assert best_subset_sum([0.1, 0.2, 0.3], 0.3).indices.tolist() == [2]
    res = check_against_brute([0.1, 0.2, 0.3], 0.30000000000000004)
    assert res.error > 0.0  # no subset sums exactly to fl(0.1 + 0.2)


def test_larger_k_against_float_enumeration():
    # k = 20: all 2^20 float sums; the exact optimum agrees within rounding.
    r = np.random.default_rng(11)
    for _ in range(3):
        v = r.uniform(-1, 1, 20)
        t = float(r.uniform(-1, 1))
        sums = np.zeros(1)
        for x in v:
            sums = np.concatenate([sums, sums + x])
        res = best_subset_sum(v, t)
        check_result(v, t, res)
        assert abs(res.error - np.abs(sums - t).min()) <= 1e-14


def test_stats_fields():
    res = best_subset_sum(np.arange(1.0, 6.0), 7.5)
    assert res.stats["path"] == "direct"
    assert res.stats["split"] == (3, 2)  # the searched half is the larger
    assert res.stats["nonzero"] == 5
    assert res.stats["memory_bytes"] == subset_sum_bytes(5)
    assert res.stats["candidates"] >= 1


# --- validation ---------------------------------------------------------------


@pytest.mark.parametrize("bad", [[0.1, float("nan")], [float("inf"), 1.0], [[0.1, 0.2]], "abc"])
def test_bad_values_rejected(bad):
    with pytest.raises(InvalidArgument, match="values"):
        best_subset_sum(bad, 0.5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), "0.5", None])
def test_bad_target_rejected(bad):
    with pytest.raises(InvalidArgument, match="target"):
        best_subset_sum([0.1, 0.2], bad)


def test_overflowing_values_rejected():
    with pytest.raises(InvalidArgument, match="sum"):
        best_subset_sum([1e308, 1e308], 0.0)


# --- memory guard ---------------------------------------------------------------


def test_memory_guard_tiny_budget():
    v = np.random.default_rng(0).uniform(-1, 1, 30)
    with pytest.raises(MemoryBudgetExceeded) as info:
        best_subset_sum(v, 0.1, memory_budget=1000)
    err = info.value
    assert isinstance(err, InvalidArgument)
    msg = str(err)
    assert "\n" not in msg
    assert "k=30" in msg and "1000 B" in msg and "memory_budget" in msg
    assert "PRUNEGAP_MEMORY_BUDGET" in msg
    assert err.budget_bytes == 1000 and err.needed_bytes == subset_sum_bytes(30)


def test_memory_guard_counts_nonzero_values():
    v = np.zeros(60)
    v[:4] = [0.1, 0.2, 0.3, 0.4]
    res = best_subset_sum(v, 0.35, memory_budget=subset_sum_bytes(4))
    err, mask = brute(v[:4], 0.35)
    assert res.error == err and _mask(res.indices) == mask


def test_memory_guard_default_and_env(monkeypatch):
    huge = np.random.default_rng(0).uniform(-1, 1, 64)
    with pytest.raises(MemoryBudgetExceeded, match="GiB"):
        best_subset_sum(huge, 0.1)
    monkeypatch.setenv("PRUNEGAP_MEMORY_BUDGET", "1000")
    with pytest.raises(MemoryBudgetExceeded, match="1000 B"):
        best_subset_sum(huge[:20], 0.1)
    monkeypatch.setenv("PRUNEGAP_MEMORY_BUDGET", "lots")
    with pytest.raises(InvalidArgument, match="PRUNEGAP_MEMORY_BUDGET"):
        best_subset_sum(huge[:4], 0.1)
    monkeypatch.delenv("PRUNEGAP_MEMORY_BUDGET")
    assert best_subset_sum(huge[:4], 0.1, memory_budget=10**9).stats["memory_budget"] == 10**9
    with pytest.raises(InvalidArgument, match="memory_budget"):
        best_subset_sum(huge[:4], 0.1, memory_budget=-1)


def test_subset_sum_bytes_grows_like_sqrt_two_to_the_k():
    sizes = [subset_sum_bytes(k) for k in range(0, 64)]
    assert all(a <= b for a, b in zip(sizes, sizes[1:]))
    for k in range(40, 62, 2):
        assert 1.9 <= sizes[k + 2] / sizes[k] <= 2.1
    assert sizes[60] / sizes[40] == pytest.approx(2**10, rel=0.15)
    assert subset_sum_bytes(44) < DEFAULT_MEMORY_BUDGET < subset_sum_bytes(60)
    with pytest.raises(InvalidArgument, match="k"):
        subset_sum_bytes(-1)


# --- property test ----------------------------------------------------------------

_floats = st.one_of(
    st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 0.1, 0.2, 0.3, -0.5, 1.0, 5e-324]),
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_floats, max_size=10), target=_floats)
def test_property_matches_brute_force(values, target):
    check_against_brute(values, target)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.sampled_from([0.1, 0.25, -0.3, 1.0, 0.0]), max_size=12), target=_floats)
def test_property_class_path(values, target):
    with mock.patch.object(ss, "_MAX_CANDIDATES", 4):
        try:
            check_against_brute(values, target)
        except PrunegapError:
            pass  # over the (tiny) cap of distinct near-ties: refused, never wrong
