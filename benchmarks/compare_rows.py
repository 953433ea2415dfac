"""Compare the certified rows of two sweep folders trial by trial.

A refactor that claims "behaviour unchanged" must leave every row of the
default sweep as it was.  This script reads two results folders (for
example one made by the code before a change and one after) and compares,
for every (study, d, eps, seed), the columns that carry a result:

    status, n_star, n_lower, n_upper, error_lower, error_upper

(and, with ``--all``, every column but the run-dependent ``seconds`` and
``timings``).  It prints the differences and exits 1 if there are any, 0
if the rows agree exactly (floats compared bit for bit).  The popup table
is compared too when both folders have it (``--popup``; its timing columns
are left out).

    python benchmarks/compare_rows.py OLD_DIR NEW_DIR [--all] [--popup]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from prunegap.sweep import Store

RESULT_COLUMNS = ("status", "n_star", "n_lower", "n_upper", "error_lower", "error_upper")
_TIMINGS = ("seconds", "timings", "train_seconds", "seconds_per_epoch")


def _trial_rows(folder: str, columns: tuple[str, ...] | None) -> dict[tuple[Any, ...], dict[str, Any]]:
    with Store.open(folder) as store:
        rows = store.rows(masks=True)
    out = {}
    for r in rows:
        key = (r["study"], r["d"], r["eps"], r["seed"])
        out[key] = {c: v for c, v in r.items() if (c in columns if columns else c not in _TIMINGS)}
    return out


def _popup_rows(folder: str) -> dict[str, dict[str, Any]]:
    with Store.open(folder) as store:
        tables = {t[0] for t in store.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "popup" not in tables:
            return {}
        cur = store.con.execute("SELECT * FROM popup ORDER BY key")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
    return {r["key"]: {c: v for c, v in r.items() if c not in _TIMINGS} for r in rows}


def _diff(old: dict[Any, dict[str, Any]], new: dict[Any, dict[str, Any]], what: str) -> list[str]:
    lines = []
    for key in sorted(set(old) - set(new), key=repr):
        lines.append(f"{what} {key}: only in the first folder")
    for key in sorted(set(new) - set(old), key=repr):
        lines.append(f"{what} {key}: only in the second folder")
    for key in sorted(set(old) & set(new), key=repr):
        a, b = old[key], new[key]
        for col in sorted(set(a) | set(b)):
            if a.get(col) != b.get(col):
                lines.append(f"{what} {key} {col}: {a.get(col)!r} -> {b.get(col)!r}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--all", action="store_true", help="every column but seconds and timings")
    ap.add_argument("--popup", action="store_true", help="also the popup table (timing columns left out)")
    a = ap.parse_args(argv)
    columns = None if a.all else RESULT_COLUMNS
    old, new = _trial_rows(a.old, columns), _trial_rows(a.new, columns)
    lines = _diff(old, new, "trial")
    if a.popup:
        lines += _diff(_popup_rows(a.old), _popup_rows(a.new), "popup")
    for line in lines:
        print(line)
    cols = "every column but timings" if a.all else ", ".join(RESULT_COLUMNS)
    print(f"{len(old)} and {len(new)} trials compared on {cols}: "
          + ("identical" if not lines else f"{len(lines)} difference(s)"))
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
