"""Mask families of the four pruning paradigms, and how a density becomes a count.

Pure numpy (no torch), so that anything can check a ticket's pattern.  A
network here has ``n`` hidden units, ``d`` inputs and ``C`` outputs; its
masks are ``hidden_mask`` (n x d) and ``output_mask`` (n x C, or (n,) when
C = 1), 0/1 with 1 = keep, as in :class:`prunegap.Masks`.

=========  ==================================================================
paradigm   masks of the family
=========  ==================================================================
weight     any 0/1 masks (unstructured)
neuron     whole units: a unit's input row and its output weights are all
           kept or all dropped
nm         N:M on the input rows: in each unit's row, every group of M
           consecutive weights keeps at most N (the last group has
           d mod M weights when M does not divide d: the row is padded with
           pruned weights, conceptually); a unit's output weights are kept
           exactly when its row keeps at least one weight
block      neuron pruning in consecutive blocks of B units: units
           [jB, (j+1)B) are kept or dropped together (the last block has
           n mod B units when B does not divide n)
=========  ==================================================================

Density and counts
------------------
A density ``R`` in (0, 1] is always the fraction of the paradigm's *prunable
elements* kept, and the count is ``k = kept_count(R, N) = clip(floor(R N + 1/2), 1, N)``
(round half up, at least one element).  The elements are: for ``weight``, the
weights of each layer separately (hidden: N = n d, output: N = n C -- each
layer keeps the same fraction, as in Ramanujan et al. 2020); for ``neuron``
the n units; for ``block`` the ceil(n / B) blocks; for ``nm`` the n d hidden
weights (the output weights follow their units).  So a mask of the requested
density keeps exactly ``k`` elements of each kind; the *weight density* and
*unit density* that result are reported separately (:func:`densities`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import check_choice, check_int
from ..exceptions import InvalidArgument

__all__ = [
    "PATTERNS",
    "kept_count",
    "check_density",
    "parse_nm",
    "nm_capacity",
    "n_blocks",
    "element_counts",
    "satisfies",
    "pattern_violation",
    "densities",
]

#: The paradigms that edge-popup scores (the order of the report's legends).
PATTERNS: tuple[str, ...] = ("weight", "neuron", "nm", "block")


def check_density(density: Any, name: str = "density") -> float:
    """A fraction kept in (0, 1]."""
    try:
        r = float(density)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be a number in (0, 1] (the fraction kept), got {density!r}") from None
    if not (math.isfinite(r) and 0.0 < r <= 1.0):
        raise InvalidArgument(f"{name} must be a number in (0, 1] (the fraction kept), got {density!r}")
    return r


def kept_count(density: float, total: int) -> int:
    """The number of elements a density keeps: round half up, at least 1, at most ``total``."""
    r = check_density(density)
    total = check_int("total", total, minimum=1)
    return int(min(total, max(1, math.floor(r * total + 0.5))))


def parse_nm(value: Any) -> tuple[int, int]:
    """``"2:4"`` or ``(2, 4)`` -> (N, M) with 1 <= N <= M."""
    if isinstance(value, str):
        parts = value.replace(" ", "").split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise InvalidArgument(f"nm must be N:M with integers 1 <= N <= M, such as 2:4, got {value!r}")
        value = (int(parts[0]), int(parts[1]))
    try:
        n, m = value  # type: ignore[misc]
    except (TypeError, ValueError):
        raise InvalidArgument(f"nm must be N:M with integers 1 <= N <= M, such as 2:4, got {value!r}") from None
    m = check_int("M of nm", m, minimum=1)
    n = check_int("N of nm", n, minimum=1, maximum=m)
    return n, m


def nm_capacity(d: int, nm: tuple[int, int]) -> int:
    """The most weights one row of length d can keep under N:M."""
    n, m = nm
    full, rest = divmod(d, m)
    return full * n + min(n, rest)


def n_blocks(width: int, block: int) -> int:
    return -(-width // block)


def element_counts(paradigm: str, width: int, d: int, outputs: int = 1, *, nm: tuple[int, int] | None = None,
                   block: int | None = None) -> dict[str, int]:
    """The number of prunable elements of each kind (the N of :func:`kept_count`)."""
    check_choice("paradigm", paradigm, PATTERNS)
    if paradigm == "weight":
        return {"hidden": width * d, "output": width * outputs}
    if paradigm == "neuron":
        return {"units": width}
    if paradigm == "block":
        if block is None:
            raise InvalidArgument("paradigm 'block' needs a block size B (--block B)")
        return {"blocks": n_blocks(width, check_int("block", block, minimum=1))}
    if nm is None:
        raise InvalidArgument("paradigm 'nm' needs N:M (--nm N:M)")
    return {"hidden": width * d}


def _as_2d(output_mask: np.ndarray) -> np.ndarray:
    o = np.asarray(output_mask)
    return o[:, None] if o.ndim == 1 else o


def pattern_violation(paradigm: str, hidden_mask: np.ndarray, output_mask: np.ndarray, *,
                      nm: tuple[int, int] | None = None, block: int | None = None) -> str | None:
    """Why the masks are not in the paradigm's family, or None when they are."""
    check_choice("paradigm", paradigm, PATTERNS)
    h = np.asarray(hidden_mask)
    o = _as_2d(output_mask)
    if h.ndim != 2 or o.shape[0] != h.shape[0]:
        return f"shapes differ: hidden_mask {h.shape}, output_mask {np.shape(output_mask)}"
    for name, m in (("hidden_mask", h), ("output_mask", o)):
        if m.size and not np.all((m == 0) | (m == 1)):
            return f"{name} is not 0/1"
    if paradigm == "weight":
        return None
    if paradigm in ("neuron", "block"):
        unit = h[:, :1] if h.shape[1] else o[:, :1]
        bad = np.nonzero(~(np.all(h == unit, axis=1) & np.all(o == unit, axis=1)))[0]
        if bad.size:
            return f"unit {int(bad[0])} keeps part of its weights (neuron pattern: all or nothing)"
        if paradigm == "block":
            if block is None:
                raise InvalidArgument("paradigm 'block' needs a block size B")
            u = unit[:, 0]
            for j in range(n_blocks(u.shape[0], block)):
                part = u[j * block:(j + 1) * block]
                if np.any(part != part[0]):
                    return f"block {j} (units {j * block}..{min((j + 1) * block, u.shape[0]) - 1}) is split"
        return None
    if nm is None:
        raise InvalidArgument("paradigm 'nm' needs N:M")
    n, m = nm
    width, d = h.shape
    pad = (-d) % m
    groups = np.concatenate([h, np.zeros((width, pad), h.dtype)], axis=1).reshape(width, -1, m).sum(axis=2)
    bad = np.argwhere(groups > n)
    if bad.size:
        i, g = (int(x) for x in bad[0])
        return f"unit {i} keeps {int(groups[i, g])} > {n} weights in group {g} (columns {g * m}..{min(g * m + m, d) - 1})"
    alive = h.any(axis=1)
    bad = np.nonzero(~np.all(o == alive[:, None], axis=1))[0]
    if bad.size:
        return f"unit {int(bad[0])}: output weights must be kept exactly when its row keeps a weight"
    return None


def satisfies(paradigm: str, hidden_mask: np.ndarray, output_mask: np.ndarray, **pattern: Any) -> bool:
    """True when the masks belong to the paradigm's family (see the module's table)."""
    return pattern_violation(paradigm, hidden_mask, output_mask, **pattern) is None


def densities(hidden_mask: np.ndarray, output_mask: np.ndarray) -> dict[str, Any]:
    """Weight and unit accounting of one pair of masks.

    ``mask_density``: fraction of mask entries that are 1 (what a density
    asks for); ``weight_density``: fraction of all weights that are *live*
    (a kept weight of a unit that computes nothing is dead: its row or all
    its output weights are dropped) -- :attr:`prunegap.Masks.density` for a
    single output; ``unit_density``: fraction of units that are live.
    """
    h = np.asarray(hidden_mask).astype(bool)
    o = _as_2d(output_mask).astype(bool)
    width = h.shape[0]
    total = h.size + o.size
    live = h.any(axis=1) & o.any(axis=1)
    kept_weights = int(h[live].sum() + o[live].sum())
    return {
        "mask_density": float((h.sum() + o.sum()) / total) if total else 0.0,
        "weight_density": kept_weights / total if total else 0.0,
        "unit_density": float(live.sum() / width) if width else 0.0,
        "kept_weights": kept_weights,
        "kept_units": int(live.sum()),
        "total_weights": int(total),
        "hidden_kept": int(h.sum()),
        "output_kept": int(o.sum()),
    }
