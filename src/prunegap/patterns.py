"""The pruning patterns' rules: which masks each family allows, and how a density becomes a count.

Pure numpy, shared by the certified solvers (:mod:`prunegap.solvers.patterns`
holds their pattern *methods*) and by edge-popup (:mod:`prunegap.torch`), so
that both sides read one rule.  A network has ``n`` hidden units, ``d``
inputs and ``C`` outputs; its masks are ``hidden_mask`` (n x d) and
``output_mask`` (n x C, or (n,) when C = 1), 0/1 with 1 = keep, as in
:class:`prunegap.Masks`.

=========  ==================================================================
pattern    masks of the family
=========  ==================================================================
weight     any 0/1 masks (unstructured)
neuron     whole units: a unit's input row and its output weights are all
           kept or all dropped
nm         N:M on the input rows: in each unit's row, every group of M
           consecutive weights (coordinates gM .. gM + M - 1) keeps at most
           N; the last group is shorter when M does not divide d, as if the
           row were padded with pruned weights.  A unit's output weights are
           kept exactly when its row keeps at least one weight.  N >= M
           allows every row (weight pruning).
block      whole units in consecutive blocks of B: units kB .. kB + B - 1 are
           kept or dropped together, and the units of an incomplete last
           block (n mod B of them, when B does not divide n) are pruned.
           B = 1 is neuron pruning.
=========  ==================================================================

The block rule is what keeps the families nested in the width
(docs/theory.md §6): a block mask of width n is a block mask of every wider
prefix of the unit stream, so a minimal width is well defined, and it is a
multiple of B.

Density and counts
------------------
A density ``R`` in (0, 1] is the fraction of the pattern's *prunable
elements* kept, and the count is ``k = kept_count(R, N) = clip(floor(R N + 1/2), 1, N)``
(round half up, at least one element).  The elements are: for ``weight``,
the weights of each layer separately (hidden: N = n d, output: N = n C --
each layer keeps the same fraction, as in Ramanujan et al. 2020); for
``neuron`` the n units; for ``block`` the floor(n / B) complete blocks; for
``nm`` the n d hidden weights (the output weights follow their units).  The
*weight density* and *unit density* that result are reported separately
(:func:`densities`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import check_choice, check_int
from .exceptions import InvalidArgument
from .masks import Masks

__all__ = [
    "PATTERNS",
    "Pattern",
    "parse_nm",
    "check_block",
    "check_density",
    "kept_count",
    "nm_capacity",
    "n_blocks",
    "element_counts",
    "pattern_violation",
    "satisfies",
    "satisfies_nm",
    "satisfies_block",
    "densities",
]

#: The pattern families, from the widest to the narrowest (also the order of the report's legends).
PATTERNS: tuple[str, ...] = ("weight", "neuron", "nm", "block")

_NM = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def parse_nm(value: Any, name: str = "nm") -> tuple[int, int]:
    """``"2:4"`` (spaces allowed) or ``(2, 4)`` -> (N, M) with integers 1 <= N <= M."""
    rule = f"{name} must be N:M with integers 1 <= N <= M (e.g. 2:4), got"
    if isinstance(value, str):
        match = _NM.match(value)
        if match is None:
            raise InvalidArgument(f"{rule} {value!r}")
        n, m = int(match.group(1)), int(match.group(2))
    else:
        try:
            n, m = (check_int(name, int(x) if isinstance(x, str) else x) for x in value)
        except (TypeError, ValueError, InvalidArgument):
            raise InvalidArgument(f"{rule} {value!r}") from None
    if not 1 <= n <= m:
        raise InvalidArgument(f"{rule} '{n}:{m}'")
    return n, m


def check_block(value: Any, name: str = "block") -> int:
    """A block size B >= 1 (an integer, or a string of one)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, str)):
        raise InvalidArgument(f"{name} must be an integer >= 1 (units per block), got {value!r}")
    try:
        b = int(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer >= 1 (units per block), got {value!r}") from None
    if b < 1:
        raise InvalidArgument(f"{name} must be an integer >= 1 (units per block), got {b}")
    return b


@dataclass(frozen=True)
class Pattern:
    """A pruning pattern as data: ``kind`` (one of :data:`PATTERNS`) and its parameters."""

    kind: str  # "weight" | "neuron" | "nm" | "block"
    n: int | None = None  # N of N:M
    m: int | None = None  # M of N:M
    block: int | None = None  # B of block

    @classmethod
    def of(cls, paradigm: str, *, nm: Any = None, block: Any = None) -> "Pattern":
        """The pattern of ``paradigm`` with its parameters; refuses parameters of another pattern."""
        if paradigm == "nm":
            if nm is None:
                raise InvalidArgument("paradigm 'nm' needs nm = N:M (e.g. --nm 2:4)")
            if block is not None:
                raise InvalidArgument(f"block applies to paradigm 'block' only, got block = {block!r} with paradigm 'nm'")
            n, m = parse_nm(nm)
            return cls("nm", n=n, m=m)
        if paradigm == "block":
            if block is None:
                raise InvalidArgument("paradigm 'block' needs block = B, an integer >= 1 (e.g. --block 2)")
            if nm is not None:
                raise InvalidArgument(f"nm applies to paradigm 'nm' only, got nm = {nm!r} with paradigm 'block'")
            return cls("block", block=check_block(block))
        if nm is not None:
            raise InvalidArgument(f"nm applies to paradigm 'nm' only, got nm = {nm!r} with paradigm {paradigm!r}")
        if block is not None:
            raise InvalidArgument(f"block applies to paradigm 'block' only, got block = {block!r} with paradigm {paradigm!r}")
        return cls(paradigm)

    @property
    def label(self) -> str:
        if self.kind == "nm":
            return f"nm {self.n}:{self.m}"
        if self.kind == "block":
            return f"block {self.block}"
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        """The pattern's parameters for result.json (nothing for weight and neuron)."""
        if self.kind == "nm":
            return {"nm": f"{self.n}:{self.m}"}
        if self.kind == "block":
            return {"block": self.block}
        return {}

    def violation(self, hidden_mask: np.ndarray, output_mask: np.ndarray) -> str | None:
        """Why the masks are not in this family, or None when they are (see :func:`pattern_violation`)."""
        check_choice("pattern", self.kind, PATTERNS)
        h = np.asarray(hidden_mask)
        o = _as_2d(output_mask)
        if h.ndim != 2 or o.shape[0] != h.shape[0]:
            return f"shapes differ: hidden_mask {h.shape}, output_mask {np.shape(output_mask)}"
        for name, mask in (("hidden_mask", h), ("output_mask", o)):
            if mask.size and not np.all((mask == 0) | (mask == 1)):
                return f"{name} is not 0/1"
        if self.kind == "weight":
            return None
        if self.kind in ("neuron", "block"):
            unit = h[:, :1] if h.shape[1] else o[:, :1]
            bad = np.nonzero(~(np.all(h == unit, axis=1) & np.all(o == unit, axis=1)))[0]
            if bad.size:
                return f"unit {int(bad[0])} keeps part of its weights (neuron pattern: all or nothing)"
            return self._block_violation(unit[:, 0]) if self.kind == "block" else None
        if self.n is None or self.m is None:
            raise InvalidArgument("paradigm 'nm' needs N:M")
        groups = _nm_groups(h, self.m)
        bad = np.argwhere(groups > self.n)
        if bad.size:
            i, g = (int(x) for x in bad[0])
            d = h.shape[1]
            return (f"unit {i} keeps {int(groups[i, g])} > {self.n} weights in group {g} "
                    f"(columns {g * self.m}..{min(g * self.m + self.m, d) - 1})")
        alive = h.any(axis=1)
        bad = np.nonzero(~np.all(o == alive[:, None], axis=1))[0]
        if bad.size:
            return f"unit {int(bad[0])}: output weights must be kept exactly when its row keeps a weight"
        return None

    def _block_violation(self, unit: np.ndarray) -> str | None:
        if self.block is None:
            raise InvalidArgument("paradigm 'block' needs a block size B")
        B = self.block
        full = n_blocks(unit.shape[0], B) * B
        if unit[full:].any():
            return (f"units {full}..{unit.shape[0] - 1} form an incomplete last block (B = {B}): "
                    f"they must be pruned")
        S = unit[:full].reshape(-1, B)
        split = np.nonzero(np.any(S != S[:, :1], axis=1))[0]
        if split.size:
            j = int(split[0])
            return f"block {j} (units {j * B}..{(j + 1) * B - 1}) is split"
        return None

    def allows(self, masks: Masks) -> bool:
        """Whether ``masks`` (its live weights) belongs to this family."""
        c = masks.canonical()
        return self.violation(c.hidden_mask, c.output_mask) is None


def _as_2d(output_mask: np.ndarray) -> np.ndarray:
    o = np.asarray(output_mask)
    return o[:, None] if o.ndim == 1 else o


def _nm_groups(hidden_mask: np.ndarray, m: int) -> np.ndarray:
    """Weights kept per group of m consecutive inputs of each row (the last group padded): (n, ceil(d / m))."""
    H = np.asarray(hidden_mask)
    k, d = H.shape
    pad = (-d) % m
    return np.concatenate([H, np.zeros((k, pad), H.dtype)], axis=1).reshape(k, -1, m).sum(axis=2)


# --------------------------------------------------------------------------- checks


def pattern_violation(paradigm: str, hidden_mask: np.ndarray, output_mask: np.ndarray, *,
                      nm: Any = None, block: Any = None) -> str | None:
    """Why raw 0/1 masks (any number C of outputs) are not in the paradigm's family, or None when they are.

    The masks are read as they are, dead weights included (an output weight
    kept for an empty N:M row is a violation); see the module's table."""
    check_choice("paradigm", paradigm, PATTERNS)
    if paradigm == "nm" and nm is None:
        raise InvalidArgument("paradigm 'nm' needs N:M")
    if paradigm == "block" and block is None:
        raise InvalidArgument("paradigm 'block' needs a block size B")
    return Pattern.of(paradigm, nm=nm, block=block).violation(hidden_mask, output_mask)


def satisfies(masks: Masks | str, pattern: Pattern | np.ndarray, output_mask: np.ndarray | None = None, *,
              nm: Any = None, block: Any = None) -> bool:
    """Whether a ticket belongs to a pattern's family; two spellings of the one rule:

    - ``satisfies(masks, pattern)``: a :class:`~prunegap.Masks` and a
      :class:`Pattern`, on its live weights (the solvers' tickets);
    - ``satisfies(paradigm, hidden_mask, output_mask, nm=..., block=...)``:
      raw 0/1 arrays with C outputs, read as they are
      (:func:`pattern_violation`; edge-popup's masks).
    """
    if isinstance(masks, Masks):
        if not isinstance(pattern, Pattern):
            raise InvalidArgument(f"pattern must be a Pattern with Masks, got {type(pattern).__name__}")
        return pattern.allows(masks)
    if output_mask is None:
        raise InvalidArgument("satisfies(paradigm, hidden_mask, output_mask) needs the output mask")
    return pattern_violation(str(masks), np.asarray(pattern), output_mask, nm=nm, block=block) is None


def satisfies_nm(hidden_mask: np.ndarray, n: int, m: int) -> bool:
    """Every group of m consecutive weights of every row keeps at most n (last group padded)."""
    return bool(np.all(_nm_groups(hidden_mask, m) <= n))


def satisfies_block(masks: Masks, block: int) -> bool:
    """Whole units, kept in complete consecutive blocks of ``block`` (an incomplete last block is pruned)."""
    return Pattern("block", block=check_block(block)).allows(masks)


# --------------------------------------------------------------------------- counts


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


def nm_capacity(d: int, nm: tuple[int, int]) -> int:
    """The most weights one row of length d can keep under N:M."""
    n, m = nm
    full, rest = divmod(d, m)
    return full * n + min(n, rest)


def n_blocks(width: int, block: int) -> int:
    """The complete blocks of ``block`` units in ``width`` units (an incomplete last block is pruned)."""
    return width // block


def element_counts(paradigm: str, width: int, d: int, outputs: int = 1, *, nm: Any = None,
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
