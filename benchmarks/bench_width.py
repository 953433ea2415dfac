"""Benchmark: `width --paradigm weight` (the subset-sum construction).

For d in {2, 4, 8, 16} and eps from 1e-1 to 1e-6: seconds per seed (goal:
under 1 s) and the median n* over the seeds.  Prints a Markdown table and
optionally writes JSON.  Not a test: figures go into BENCHMARKS.md.

    python benchmarks/bench_width.py [--seeds 20] [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import prunegap as pg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--dims", default="2,4,8,16")
    ap.add_argument("--eps", default="1e-1,1e-2,1e-3,1e-4,1e-5,1e-6")
    ap.add_argument("--output", default="relu")
    ap.add_argument("--quick", action="store_true", help="3 seeds, d in {2, 4}")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    seeds = 3 if a.quick else a.seeds
    dims = [2, 4] if a.quick else [int(x) for x in a.dims.split(",")]
    epss = [float(x) for x in a.eps.split(",")]
    rows = []
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print("| d | eps | median n* | min n* | max n* | median s/seed | worst s/seed | certified |")
    print("|---|---|---|---|---|---|---|---|")
    for d in dims:
        setting = pg.Setting(d=d, output=a.output)
        for eps in epss:
            ns, secs, ok = [], [], 0
            for seed in range(seeds):
                t0 = time.perf_counter()
                r = pg.width(setting, seed=seed, eps=eps, paradigm="weight", max_width=20_000)
                secs.append(time.perf_counter() - t0)
                if r.n_star is not None:
                    ns.append(r.n_star)
                    ok += 1
            row = {
                "d": d, "eps": eps, "seeds": seeds, "certified": ok,
                "n_star_median": statistics.median(ns) if ns else None,
                "n_star_min": min(ns) if ns else None, "n_star_max": max(ns) if ns else None,
                "seconds_median": statistics.median(secs), "seconds_max": max(secs),
            }
            rows.append(row)
            print(f"| {d} | {eps:g} | {row['n_star_median']} | {row['n_star_min']} | {row['n_star_max']} | "
                  f"{row['seconds_median']:.3f} | {row['seconds_max']:.3f} | {ok}/{seeds} |", flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
