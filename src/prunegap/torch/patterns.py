"""The pattern rules under their edge-popup import path (they live in :mod:`prunegap.patterns`).

Pure numpy (no torch), so that anything can check a ticket's pattern; the
rules, the block rule included (an incomplete last block is pruned), are
the certified solvers' own.
"""

from __future__ import annotations

from ..patterns import (
    PATTERNS,
    check_density,
    densities,
    element_counts,
    kept_count,
    n_blocks,
    nm_capacity,
    parse_nm,
    pattern_violation,
    satisfies,
)

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
