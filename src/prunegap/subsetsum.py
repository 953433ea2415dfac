"""Exact best subset sum by meet in the middle (THEORY.md section 4).

The weight-pruning construction needs, for k random numbers and a target, the
subset whose sum is closest to the target.  :func:`best_subset_sum` returns
that subset *exactly*: the search runs in float64 for speed, and every subset
that rounding could make the winner is then compared in exact integer
arithmetic.

How the exactness argument goes
-------------------------------
The nonzero values are split into a low half A (ceil(k/2) values) and a high
half B.
Each half's 2^h subset sums are enumerated by doubling, so that the position
of a sum in its array is the subset's bitmask.  Both arrays are sorted and,
for every b in B (visited so that the complements t - b come in ascending
order, which keeps ``searchsorted`` cache-friendly), the nearest a in A is
found.  Let d* be the smallest computed distance.  Every float sum is within
delta of its exact value (a rigorous bound on recursive summation), so every
pair whose *exact* error is at most the exact error of the best pair found
lies inside a window of radius R = d* + 2 delta + (rounding of the window
itself) around t - b.  All pairs inside the windows (usually one to a few)
are evaluated in exact integer arithmetic (every double is an integer
multiple of 2^-1074) and the best one is returned; ties go to the smallest
bitmask sum_{i in S} 2^i.

When many subsets tie (duplicated values, small integers, ...) the windows
can hold more than ``_MAX_CANDIDATES`` pairs.  The search is then redone on
*classes*: each half's distinct exact subset sums, built by doubling over
classes with double-double arithmetic (hi, lo) -- exact whenever a half's
values span at most 104 bits, which is checked -- each represented by its
smallest bitmask.  Degenerate inputs stay small that way.  Only inputs with
more than ``_MAX_CANDIDATES`` *distinct* exact sums within float rounding of
the optimum (values equal to ~16 digits, or spanning over 104 bits and
tying) are refused, with a :class:`~prunegap.exceptions.PrunegapError`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import check_int, check_vector, format_bytes
from .exceptions import InvalidArgument, MemoryBudgetExceeded, PrunegapError

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "MEMORY_BUDGET_ENV",
    "SubsetSumResult",
    "best_subset_sum",
    "subset_sum_bytes",
]

#: Default memory budget of :func:`best_subset_sum` in bytes (2 GiB).
DEFAULT_MEMORY_BUDGET: int = 2 * 1024**3
#: Environment variable that overrides :data:`DEFAULT_MEMORY_BUDGET` (bytes).
MEMORY_BUDGET_ENV = "PRUNEGAP_MEMORY_BUDGET"

# Queries per searchsorted call: large enough that the Python loop costs
# nothing, small enough that the temporaries stay in cache-sized megabytes.
_CHUNK = 1 << 16
# Granularity (a divisor of _CHUNK) at which the nearest-pair pass remembers
# its minima, so that the window pass revisits only a few blocks.
_BLOCK = 1 << 10
# Pairs evaluated one by one in exact arithmetic before switching to classes.
_MAX_CANDIDATES = 1 << 15
_U = 2.0**-53  # unit roundoff of float64
_TINY = 2.0**-1074  # absolute rounding of subnormal results
_SCALE = 1074  # every double is an integer multiple of 2**-_SCALE
_BIG = 1e300  # sums beyond this could overflow in the bounds below
# Bytes per subset sum held at the peak of each path (see subset_sum_bytes).
# Measured with tracemalloc at k = 40..44 on degenerate inputs: 62 bytes per
# subset sum of one half at worst, against 20 + 48 = 68 allowed.
_DIRECT_BYTES = 16  # unsorted + sorted float64 sums
_CLASS_KEEP_BYTES = 16  # class hi, lo (float64), plus the mask
_CLASS_BUILD_BYTES = 44  # merged hi, lo, argsort order and a gathered copy, or the
# lexsort of the runs of equal hi, plus the mask


@dataclass(frozen=True, eq=False)
class SubsetSumResult:
    """The best subset found by :func:`best_subset_sum`.

    Attributes
    ----------
    indices : numpy.ndarray
        Sorted, unique int64 indices of the chosen subset S (may be empty).
    value : float
        ``math.fsum(values[indices])``, the correctly rounded subset sum.
    error : float
        ``|sum_{i in S} values_i - target|`` correctly rounded (computed with
        ``math.fsum``).  It is the exact optimum up to that final rounding.
    k : int
        Number of values given.
    stats : dict
        How the answer was obtained: ``path`` (``"direct"`` or ``"classes"``),
        ``nonzero`` (values left after dropping zeros), ``split`` (sizes of
        the two halves), ``candidates`` (pairs compared exactly),
        ``memory_bytes`` (the guard's estimate) and ``memory_budget``.
    """

    indices: np.ndarray
    value: float
    error: float
    k: int
    stats: dict[str, Any] = field(default_factory=dict)


def _resolve_budget(memory_budget: int | None) -> int:
    if memory_budget is not None:
        return check_int("memory_budget", memory_budget, minimum=0)
    raw = os.environ.get(MEMORY_BUDGET_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_MEMORY_BUDGET
    try:
        budget = int(raw.strip())
    except ValueError:
        raise InvalidArgument(
            f"{MEMORY_BUDGET_ENV} must be an integer number of bytes >= 0, got {raw!r}"
        ) from None
    return check_int(MEMORY_BUDGET_ENV, budget, minimum=0)


def _split(k: int) -> tuple[int, int]:
    """Sizes (h_a, h_b) of the searched half A (the low indices) and the
    query half B.  For odd k, A is the larger: fewer queries into a slightly
    longer array measured 25-30 % faster.  The class path builds A first, so
    only the larger half's classes are kept while the smaller one builds."""
    h_b = k // 2
    return k - h_b, h_b


def subset_sum_bytes(k: int) -> int:
    """Peak memory in bytes that :func:`best_subset_sum` may need for k values.

    This is the bound the memory guard compares with the budget.  It counts
    every array whose size grows with 2^(k/2): for the direct path the
    unsorted and sorted subset sums of both halves; for the class path (taken
    only when many subsets tie) the double-double sums, the sort order and the
    class arrays; plus the fixed-size chunk temporaries.  The larger of the two
    paths is returned, so the guard holds whatever the input.

    Parameters
    ----------
    k : int
        Number of nonzero values (zeros are dropped before the search).

    Returns
    -------
    int
        Bytes, growing like 2^(k/2).

    Examples
    --------
    >>> subset_sum_bytes(44) < 2 * 1024**3
    True
    >>> subset_sum_bytes(60) > 2 * 1024**3
    True
    """
    k = check_int("k", k, minimum=0)
    h_high, h_low = _split(k)
    n_low, n_high = 1 << h_low, 1 << h_high
    direct = _DIRECT_BYTES * (n_low + n_high)
    mask_bytes = 4 if h_high <= 32 else 8
    keep, build = _CLASS_KEEP_BYTES + mask_bytes, _CLASS_BUILD_BYTES + mask_bytes
    # Larger half built first; its classes stay while the smaller one builds.
    classes = max(build * n_high, keep * n_high + build * n_low)
    # Chunked temporaries: about 12 float64/int64 arrays of one chunk each.
    temps = 12 * 8 * min(_CHUNK, n_high)
    return max(direct, classes) + temps


# ----------------------------------------------------------------------------
# Exact arithmetic: every finite double is an integer multiple of 2**-1074.


def _scaled(x: float) -> int:
    num, den = float(x).as_integer_ratio()
    return num << (_SCALE - (den.bit_length() - 1))


def _mask_sum(mask: int, scaled: list[int]) -> int:
    total = 0
    i = 0
    while mask:
        if mask & 1:
            total += scaled[i]
        mask >>= 1
        i += 1
    return total


# ----------------------------------------------------------------------------
# Enumeration of one half's subset sums; position in the array = bitmask.


def _float_sums(v: np.ndarray) -> np.ndarray:
    s = np.empty(1 << v.size, dtype=np.float64)
    s[0] = 0.0
    for j, x in enumerate(v.tolist()):
        m = 1 << j
        # s[m | low] = fl(s[low] + v_j): every sum is a left-to-right
        # recursive sum of its elements, which bounds its rounding error.
        np.add(s[:m], x, out=s[m : 2 * m])
    return s


def _dd_add(hi: np.ndarray, lo: np.ndarray, x: float, out_hi: np.ndarray, out_lo: np.ndarray) -> None:
    """(out_hi, out_lo) = (hi, lo) + x as normalised double-doubles.

    Exact (out_hi + out_lo is the exact sum, out_hi its correctly rounded
    value) when :func:`_dd_exact` holds for the values summed so far.
    """
    for start in range(0, hi.size, _CHUNK):
        stop = min(hi.size, start + _CHUNK)
        a = hi[start:stop]
        s = a + x
        bb = s - a
        e = (a - (s - bb)) + (x - bb)  # TwoSum: a + x = s + e exactly
        e += lo[start:stop]  # exact under _dd_exact
        h2 = s + e
        bb = h2 - s
        out_hi[start:stop] = h2
        out_lo[start:stop] = (s - (h2 - bb)) + (e - bb)


def _dd_exact(scaled: list[int]) -> bool:
    # All partial sums are multiples of 2^E and at most M in size; the
    # low-order word then holds a multiple of 2^E below 2^(E+53), hence exact.
    nonzero = [abs(x) for x in scaled if x]
    if not nonzero:
        return True
    e = min((x & -x).bit_length() - 1 for x in nonzero)
    return (sum(nonzero) >> e) <= (1 << 104)


def _classes(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct exact subset sums (hi, lo), sorted, each with its smallest mask.

    Built by doubling over classes rather than subsets, so that degenerate
    inputs (the reason this path runs) stay small: after adding v_j the
    classes are the merge of C and C + v_j, both already sorted because exact
    addition and correct rounding are monotone.
    """
    mask_type = np.uint32 if v.size <= 32 else np.uint64
    hi = np.zeros(1)
    lo = np.zeros(1)
    mask = np.zeros(1, dtype=mask_type)
    for j, x in enumerate(v.tolist()):
        m = hi.size
        big_hi = np.empty(2 * m)
        big_lo = np.empty(2 * m)
        big_mask = np.empty(2 * m, dtype=mask_type)
        big_hi[:m] = hi
        big_lo[:m] = lo
        big_mask[:m] = mask
        _dd_add(hi, lo, x, big_hi[m:], big_lo[m:])
        np.bitwise_or(mask, mask_type(1 << j), out=big_mask[m:])
        del hi, lo, mask
        # Two sorted runs: timsort merges them in linear time.  Stability puts
        # C (masks without bit j, hence smaller) first among equal sums.
        order = np.argsort(big_hi, kind="stable")
        hi = big_hi[order]
        del big_hi
        lo = big_lo[order]
        del big_lo
        mask = big_mask[order]
        del big_mask, order
        same = np.flatnonzero(hi[1:] == hi[:-1])
        if same.size == 0:
            continue
        # Normalised double-doubles order like their exact values when
        # compared as (hi, lo); sort by lo inside runs of equal hi (stable).
        first, last = int(same[0]), int(same[-1]) + 2
        sub = np.lexsort((lo[first:last], hi[first:last]))
        lo[first:last] = lo[first:last][sub]
        mask[first:last] = mask[first:last][sub]
        del sub
        keep = np.ones(hi.size, dtype=bool)
        keep[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
        if not keep.all():
            hi, lo, mask = hi[keep], lo[keep], mask[keep]
    return hi, lo, mask


# ----------------------------------------------------------------------------
# The meet in the middle on sorted arrays.


def _chunks(n_b: int) -> Iterator[tuple[int, int, int]]:
    """Chunks of B from the top down, so that t - b increases.

    Chunk q holds the b positions j with n_b - 1 - j in [q * _CHUNK, ...)."""
    q = 0
    for end in range(n_b, 0, -_CHUNK):
        yield q, max(0, end - _CHUNK), end
        q += 1


def _nearest(a: np.ndarray, b: np.ndarray, t: float) -> tuple[float, np.ndarray]:
    """Smallest computed |a_i - (t - b_j)| overall, and per block of b.

    Block r covers the b positions j with n_b - 1 - j in [r * _BLOCK, ...):
    the window pass revisits only blocks whose minimum can matter.
    """
    n_a = a.size
    block_min = np.empty(-(-b.size // _BLOCK), dtype=np.float64)
    per_chunk = _CHUNK // _BLOCK
    best = math.inf
    for q, start, end in _chunks(b.size):
        c = t - b[start:end][::-1]
        p = np.searchsorted(a, c)
        up = np.minimum(p, n_a - 1)
        np.subtract(p, 1, out=p)
        np.maximum(p, 0, out=p)
        d_up = np.abs(a[up] - c)
        d_dn = np.abs(a[p] - c)
        np.minimum(d_up, d_dn, out=d_up)
        mins = np.minimum.reduceat(d_up, np.arange(0, d_up.size, _BLOCK))
        block_min[q * per_chunk : q * per_chunk + mins.size] = mins
        best = min(best, float(mins.min()))
    return best, block_min


def _windows(
    a: np.ndarray, b: np.ndarray, t: float, radius: float, block_min: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """B positions j and A ranges [left, right) with |a - (t - b_j)| <= radius.

    Returns None when the windows hold more than ``cap`` pairs.
    """
    # A nonempty window implies its nearest neighbour is within radius, and
    # the computed distance is within rounding of that: 2x is ample slack.
    keep = np.flatnonzero(block_min <= 2.0 * radius + 8 * _TINY)
    # Runs of consecutive blocks, visited in pieces of at most one chunk.
    breaks = np.flatnonzero(np.diff(keep) != 1) + 1
    run_starts = keep[np.r_[0, breaks]] if keep.size else keep
    run_stops = keep[np.r_[breaks - 1, keep.size - 1]] + 1 if keep.size else keep
    js, lefts, rights = [], [], []
    total = 0
    n_b = b.size
    for r0, r1 in zip((run_starts * _BLOCK).tolist(), (run_stops * _BLOCK).tolist()):
        for s0 in range(r0, min(r1, n_b), _CHUNK):
            s1 = min(s0 + _CHUNK, r1, n_b)
            start, end = n_b - s1, n_b - s0  # back from reversed to b positions
            c = t - b[start:end]
            left = np.searchsorted(a, c - radius, side="left")
            right = np.searchsorted(a, c + radius, side="right")
            cnt = right - left
            hit = np.flatnonzero(cnt > 0)
            if hit.size == 0:
                continue
            total += int(cnt[hit].sum())
            if total > cap:
                return None
            js.append(hit + start)
            lefts.append(left[hit])
            rights.append(right[hit])
    if not js:  # pragma: no cover - the best pair is always in its window
        raise AssertionError("best_subset_sum: empty candidate window")
    return np.concatenate(js), np.concatenate(lefts), np.concatenate(rights), total


def _expand(js: np.ndarray, lefts: np.ndarray, rights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (j, i) position pairs of the windows."""
    cnt = rights - lefts
    j = np.repeat(js, cnt)
    offsets = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    return j, np.repeat(lefts, cnt) + offsets


def _radius(best: float, delta_a: float, delta_b: float, t: float, sum_b: float) -> float:
    # Any pair whose exact error is at most that of the best pair found has
    # |a - fl(t - b)| <= best + 2 (delta_a + delta_b + err(fl(t - b))); then
    # widen by the rounding of fl(c -+ radius) itself.  Constants are generous.
    r = best * (1 + 4 * _U) + 2 * (delta_a + delta_b) + 3.03 * _U * (abs(t) + sum_b) + 16 * _TINY
    return r * (1 + 8 * _U) + 8 * _TINY


def _masks_for_values(s: np.ndarray, wanted: np.ndarray) -> list[np.ndarray]:
    """For each sorted unique value in ``wanted``, the masks m with s[m] == it."""
    if wanted.size <= 4:
        return [np.flatnonzero(s == w) for w in wanted.tolist()]
    found_pos, found_mask = [], []
    last = wanted.size - 1
    for start in range(0, s.size, _CHUNK):
        chunk = s[start : start + _CHUNK]
        pos = np.minimum(np.searchsorted(wanted, chunk), last)
        hit = np.flatnonzero(wanted[pos] == chunk)
        found_pos.append(pos[hit])
        found_mask.append(hit + start)
    pos = np.concatenate(found_pos)
    masks = np.concatenate(found_mask)
    order = np.argsort(pos, kind="stable")
    pos, masks = pos[order], masks[order]
    bounds = np.searchsorted(pos, np.arange(wanted.size + 1))
    return [masks[bounds[i] : bounds[i + 1]] for i in range(wanted.size)]


def _pick(
    pairs: list[tuple[int, int, int, int]], target_scaled: int
) -> tuple[int, int, int]:
    """Exactly best (mask_a, mask_b) among (exact_a, exact_b, mask_a, mask_b).

    Ties go to the smaller full bitmask mask_a | mask_b << h_a, that is to the
    smaller mask_b first, then the smaller mask_a.
    """
    best_key = None
    best = (0, 0)
    for xa, xb, ma, mb in pairs:
        key = (abs(xa + xb - target_scaled), mb, ma)
        if best_key is None or key < best_key:
            best_key, best = key, (ma, mb)
    assert best_key is not None
    return best[0], best[1], len(pairs)


def _direct(
    va: np.ndarray, vb: np.ndarray, t: float, scaled_a: list[int], scaled_b: list[int], t_scaled: int
) -> tuple[int, int, int] | None:
    sum_a = math.fsum(np.abs(va).tolist())
    sum_b = math.fsum(np.abs(vb).tolist())
    ua = _float_sums(va)
    ub = _float_sums(vb)
    a = np.sort(ua)
    b = np.sort(ub)
    best, block_min = _nearest(a, b, t)
    # Rigorous bound on recursive summation of at most h terms (gamma_h).
    delta_a = 1.01 * va.size * _U * sum_a + va.size * _TINY
    delta_b = 1.01 * vb.size * _U * sum_b + vb.size * _TINY
    radius = _radius(best, delta_a, delta_b, t, sum_b)
    win = _windows(a, b, t, radius, block_min, _MAX_CANDIDATES)
    if win is None:
        return None
    j, i = _expand(*win[:3])
    # Group pairs by float value: every mask with that value is a candidate.
    bv_all, av_all = b[j], a[i]
    bvals = np.unique(bv_all)
    avals = np.unique(av_all)
    del a, b
    masks_a = _masks_for_values(ua, avals)
    masks_b = _masks_for_values(ub, bvals)
    value_pairs = np.unique(
        np.stack([np.searchsorted(bvals, bv_all), np.searchsorted(avals, av_all)], axis=1), axis=0
    )
    exact_a: dict[int, int] = {}
    exact_b: dict[int, int] = {}
    pairs = []
    for ib, ia in value_pairs.tolist():
        for mb in masks_b[ib].tolist():
            xb = exact_b.get(mb)
            if xb is None:
                xb = exact_b[mb] = _mask_sum(mb, scaled_b)
            for ma in masks_a[ia].tolist():
                xa = exact_a.get(ma)
                if xa is None:
                    xa = exact_a[ma] = _mask_sum(ma, scaled_a)
                pairs.append((xa, xb, ma, mb))
    return _pick(pairs, t_scaled)


def _by_classes(
    va: np.ndarray, vb: np.ndarray, t: float, scaled_a: list[int], scaled_b: list[int], t_scaled: int
) -> tuple[int, int, int]:
    if not (_dd_exact(scaled_a) and _dd_exact(scaled_b)):
        raise PrunegapError(
            f"best_subset_sum: more than {_MAX_CANDIDATES} subset pairs lie within rounding of the "
            "optimum and the values span more than 104 bits, so they cannot be told apart exactly; "
            "rescale or deduplicate the values"
        )
    sum_a = math.fsum(np.abs(va).tolist())
    sum_b = math.fsum(np.abs(vb).tolist())
    a_hi, a_lo, a_mask = _classes(va)  # the larger half first (see _split)
    b_hi, b_lo, b_mask = _classes(vb)
    best, block_min = _nearest(a_hi, b_hi, t)
    # Class sums are correctly rounded: one rounding each.
    radius = _radius(best, 1.01 * _U * sum_a + _TINY, 1.01 * _U * sum_b + _TINY, t, sum_b)
    win = _windows(a_hi, b_hi, t, radius, block_min, _MAX_CANDIDATES)
    if win is None:
        raise PrunegapError(
            f"best_subset_sum: more than {_MAX_CANDIDATES} distinct subset sums lie within rounding "
            "of the optimum; the values are too close to one another to certify the optimum"
        )
    j, i = _expand(*win[:3])
    pairs = [
        (_scaled(ah) + _scaled(al), _scaled(bh) + _scaled(bl), int(am), int(bm))
        for ah, al, am, bh, bl, bm in zip(
            a_hi[i].tolist(), a_lo[i].tolist(), a_mask[i].tolist(),
            b_hi[j].tolist(), b_lo[j].tolist(), b_mask[j].tolist(),
        )
    ]
    return _pick(pairs, t_scaled)


def best_subset_sum(
    values: Any, target: float, *, memory_budget: int | None = None
) -> SubsetSumResult:
    r"""Exact best subset sum: the subset of ``values`` whose sum is closest to ``target``.

    Solves

    .. math::

        \min_{S \subseteq \{0, \dots, k-1\}} \Bigl| \sum_{i \in S} v_i - t \Bigr|

    over all 2^k subsets, the empty one included, exactly (not up to float
    rounding), by meet in the middle in O(2^(k/2) k) time and O(2^(k/2))
    memory.  Zeros are dropped first (they never change a sum).  Among optimal
    subsets the one with the smallest bitmask sum_{i in S} 2^i is returned,
    so the answer is deterministic.

    Parameters
    ----------
    values : array_like of float, shape (k,)
        Finite numbers, any sign; k = 0 is allowed.
    target : float
        Finite target t.
    memory_budget : int, optional
        Most bytes the search may use.  Defaults to the environment variable
        ``PRUNEGAP_MEMORY_BUDGET`` if set, else :data:`DEFAULT_MEMORY_BUDGET`
        (2 GiB).  Checked against :func:`subset_sum_bytes` before allocating.

    Returns
    -------
    SubsetSumResult
        ``indices`` (sorted int64), ``value = fsum(values[indices])``,
        ``error = |value - target|`` computed with ``math.fsum`` on the
        values and the target together, ``k`` and ``stats``.

    Raises
    ------
    InvalidArgument
        If ``values`` is not a 1-d vector of finite numbers, ``target`` is
        not finite, or sum |v_i| + |t| exceeds 1e300.
    MemoryBudgetExceeded
        If :func:`subset_sum_bytes` exceeds the memory budget.
    PrunegapError
        Only for degenerate inputs where more than 32768 distinct subset
        sums lie within float rounding of the optimum.

    Examples
    --------
    >>> from prunegap.subsetsum import best_subset_sum
    >>> res = best_subset_sum([0.5, -0.2, 0.9, 0.3], 0.6)
    >>> res.indices.tolist(), res.value, res.error
    ([0, 1, 3], 0.6, 0.0)

    The error is exact: 0.9 + (-0.2) rounds to the double 0.7 (so ``value``
    prints as 0.7), yet the exact sum differs from that double by 5.6e-17.

    >>> res = best_subset_sum([0.5, -0.2, 0.9, 0.3], 0.7)
    >>> res.indices.tolist(), res.error
    ([1, 2], 5.551115123125783e-17)

    The empty subset counts:

    >>> best_subset_sum([0.5, -0.2, 0.9, 0.3], -0.1).indices.tolist()
    []
    """
    v = check_vector("values", values)
    if isinstance(target, (str, bytes)):
        raise InvalidArgument(f"target must be a finite number, got {target!r}")
    try:
        t = float(target)
    except (TypeError, ValueError):
        raise InvalidArgument(f"target must be a finite number, got {target!r}") from None
    if not math.isfinite(t):
        raise InvalidArgument(f"target must be a finite number, got {t}")
    k = int(v.size)
    budget = _resolve_budget(memory_budget)
    try:
        size = math.fsum(np.abs(v).tolist()) + abs(t)
    except OverflowError:
        size = math.inf
    if not size <= _BIG:
        raise InvalidArgument(
            f"values and target must satisfy sum(|values|) + |target| <= {_BIG:g}, got {size:g}"
        )

    nonzero = np.flatnonzero(v != 0.0)
    kn = int(nonzero.size)
    need = subset_sum_bytes(kn)
    if need > budget:
        zeros = f" ({kn} nonzero)" if kn != k else ""
        raise MemoryBudgetExceeded(
            f"best_subset_sum: k={k} values{zeros} need {format_bytes(need)} for the exact "
            f"meet-in-the-middle, over the memory budget of {format_bytes(budget)} "
            f"(pass memory_budget=<bytes> or set {MEMORY_BUDGET_ENV})",
            needed_bytes=need,
            budget_bytes=budget,
        )

    w = v[nonzero]
    h_a, _ = _split(kn)
    va, vb = w[:h_a], w[h_a:]
    scaled = [_scaled(x) for x in w.tolist()]
    scaled_a, scaled_b = scaled[:h_a], scaled[h_a:]
    t_scaled = _scaled(t)

    path = "direct"
    found = _direct(va, vb, t, scaled_a, scaled_b, t_scaled)
    if found is None:
        path = "classes"
        found = _by_classes(va, vb, t, scaled_a, scaled_b, t_scaled)
    mask_a, mask_b, n_candidates = found

    full = mask_a | (mask_b << h_a)
    chosen = [i for i in range(kn) if (full >> i) & 1]
    indices = nonzero[chosen].astype(np.int64)
    indices.flags.writeable = False  # the result is frozen, its array too
    picked = v[indices].tolist()
    value = math.fsum(picked)
    error = abs(math.fsum(picked + [-t]))
    stats = {
        "path": path,
        "nonzero": kn,
        "split": (h_a, kn - h_a),
        "candidates": n_candidates,
        "memory_bytes": need,
        "memory_budget": budget,
    }
    return SubsetSumResult(indices=indices, value=value, error=error, k=k, stats=stats)
