"""Benchmark: n* across pruning patterns (weight, N:M, neuron, blocks) and network targets (issue 6).

For each case, `prunegap.width` over seeds 0..S-1: the median n* (over the
seeds whose n* is exact), how many seeds were certified, the brackets of the
others, and seconds per seed.  MIP searches get a wall-clock cap per seed
(``--seed-time``); a capped seed leaves a bracket [n_lower, n_upper] and is
counted as not certified (its n_upper, when any, is reported beside).
Not a test: figures go into BENCHMARKS.md; raw rows to --json.

    nice python benchmarks/bench_patterns.py [--seeds 20] [--quick] [--json benchmarks/results/patterns.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any

import prunegap as pg
from prunegap import api

# (group, d, eps, paradigm, method, options, setting extras)
PATTERN_CASES: list[tuple[str, int, float, str, str | None, dict[str, Any], dict[str, Any]]] = [
    *[("patterns", 2, eps, p, m, o, {}) for eps in (0.1, 0.05) for p, m, o in (
        ("weight", "construction", {}), ("weight", "exact", {}), ("nm", "exact", {"nm": "1:2"}),
        ("neuron", "mip", {}), ("block", "mip", {"block": 2}), ("block", "mip", {"block": 4}))],
    *[("patterns", 4, 0.2, p, m, o, {}) for p, m, o in (
        ("weight", "construction", {}), ("weight", "exact", {}), ("nm", "exact", {"nm": "2:4"}),
        ("nm", "exact", {"nm": "1:2"}), ("nm", "exact", {"nm": "1:4"}), ("neuron", "mip", {}),
        ("block", "mip", {"block": 2}))],
]
TARGET_CASES = [
    *[("targets", 2, 0.05, "weight", "construction", {}, {"target": "network", "target_width": K, "target_depth": L})
      for K, L in ((1, 1), (2, 1), (4, 1), (8, 1), (2, 2), (2, 3))],
    *[("targets-mip", 2, 0.1, "neuron", "mip", {}, {"target": "network", "target_width": K}) for K in (1, 2, 4)],
    *[("targets-d4", 4, 0.1, "weight", "construction", {}, {"target": "network", "target_width": K, "target_depth": L})
      for K, L in ((1, 1), (2, 1), (4, 1), (2, 2))],
]


def label(paradigm: str, method: str | None, options: dict[str, Any], extra: dict[str, Any]) -> str:
    s = f"{paradigm}/{method}"
    if "nm" in options:
        s += f" {options['nm']}"
    if "block" in options:
        s += f" B={options['block']}"
    if extra.get("target") == "network":
        s += f" K={extra['target_width']} L={extra.get('target_depth', 1)}"
    return s


def run_case(case, seeds: int, seed_time: float) -> dict[str, Any]:
    group, d, eps, paradigm, method, options, extra = case
    setting = pg.Setting(d=d, **extra)
    rows = []
    for seed in range(seeds):
        kw = dict(options)
        if method != "construction":
            kw["search_time_limit"] = seed_time
        t0 = time.perf_counter()
        r = api.width(setting, seed=seed, eps=eps, paradigm=paradigm, method=method, max_width=4096, **kw)
        rows.append({"seed": seed, "n_star": r.search.n_star, "n_lower": r.search.n_lower, "n_upper": r.search.n_upper,
                     "error_upper": r.error_upper, "seconds": time.perf_counter() - t0})
    ns = [x["n_star"] for x in rows if x["n_star"] is not None]
    secs = [x["seconds"] for x in rows]
    return {
        "group": group, "d": d, "eps": eps, "paradigm": paradigm, "method": method, "options": options,
        "setting": extra, "label": label(paradigm, method, options, extra), "seeds": seeds,
        "certified": len(ns), "n_star_median": statistics.median(ns) if ns else None,
        "n_star_min": min(ns) if ns else None, "n_star_max": max(ns) if ns else None,
        "brackets": [[x["n_lower"], x["n_upper"]] for x in rows if x["n_star"] is None],
        "seconds_median": statistics.median(secs), "seconds_max": max(secs), "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="3 seeds")
    ap.add_argument("--only", default=None, help="patterns | targets | targets-mip | targets-d4")
    ap.add_argument("--seed-time", type=float, default=20.0, help="wall-clock cap of one MIP width search (s)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    seeds = 3 if a.quick else a.seeds
    cases = [c for c in PATTERN_CASES + TARGET_CASES if a.only in (None, c[0])]
    out: dict[str, Any] = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
                           "prunegap": pg.__version__, "seeds": seeds, "seed_time": a.seed_time, "cases": []}
    print(f"machine: {out['machine']}, python {out['python']}, {seeds} seeds, MIP cap {a.seed_time:g} s/seed")
    print("| d | eps | case | median n* | min-max n* | certified | brackets of the others | median s/seed | worst s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        row = run_case(case, seeds, a.seed_time)
        out["cases"].append(row)
        br = ", ".join(f"[{lo}, {hi if hi is not None else '-'}]" for lo, hi in row["brackets"][:4])
        if len(row["brackets"]) > 4:
            br += ", ..."
        print(f"| {row['d']} | {row['eps']:g} | {row['label']} | {row['n_star_median']} | {row['n_star_min']}-{row['n_star_max']} "
              f"| {row['certified']}/{seeds} | {br} | {row['seconds_median']:.2f} | {row['seconds_max']:.2f} |", flush=True)
        if a.json:
            with open(a.json, "w") as fh:
                json.dump(out, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
