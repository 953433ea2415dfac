"""The small sweep and the row helpers that the sweep, shard, env-limit and open_sweep tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from prunegap.sweep import Store
from prunegap.sweep.schema import VOLATILE

# Small and fast: 2 dims x 2 eps x 3 seeds of the construction (~0.3 s inline).
SMALL = """
seeds = [0, 1, 3]
dims = [2, 3]
eps = [0.1, 1e-3]
time_limit = 120.0
[[studies]]
paradigm = "weight"
method = "construction"
max_width = 512
"""


def write(folder: Path, text: str, name: str = "sweep.toml") -> Path:
    p = folder / name
    p.write_text(text)
    return p


def stable(rows: Iterable[dict], volatile: Iterable[str] = VOLATILE) -> list[dict]:
    """Rows without the columns that vary between runs of the same trial."""
    volatile = set(volatile)
    return [{k: v for k, v in r.items() if k not in volatile} for r in rows]


def rows_of(folder: Path, masks: bool = True) -> list[dict]:
    with Store.open(folder) as s:
        return s.rows(masks=masks)
