"""Benchmark: certified sup error on the sphere (`sup_error_sphere`, d >= 3).

Two families of effective networks g(x) = relu(sum_i b_i relu(<a_i, x>)) (or
a linear output) against f(x) = relu(<w, x>), w uniform on the sphere:

- "random": a_i, b_i i.i.d. Uniform[-1, 1] (errors of order 1);
- "near": a near-ticket, a_i = w + 0.05 * N(0, I), b_i = 1/k (errors of
  order 1e-2, every kink close to w^perp: the hard case for certification).

Per (family, d, k, tol): median and worst seconds over seeds, median cells,
the worst final gap upper - lower, and how many runs closed the gap to tol.
Prints a Markdown table and optionally writes JSON.  Not a test: figures go
into BENCHMARKS.md.

    python benchmarks/bench_sphere.py [--seeds 5] [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

from prunegap.errors.sphere import sup_error_sphere


def instance(family: str, d: int, k: int, seed: int):
    rng = np.random.default_rng([seed, d, k])
    w = rng.standard_normal(d)
    w /= np.linalg.norm(w)
    if family == "random":
        return rng.uniform(-1, 1, (k, d)), rng.uniform(-1, 1, k), w
    return w + 0.05 * rng.standard_normal((k, d)), np.full(k, 1.0 / k), w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--dims", default="3,4")
    ap.add_argument("--ks", default="5,20,50")
    ap.add_argument("--tols", default="1e-3,1e-4")
    ap.add_argument("--families", default="random,near")
    ap.add_argument("--output", default="relu", choices=["relu", "linear"])
    ap.add_argument("--max-cells", type=int, default=2_000_000)
    ap.add_argument("--quick", action="store_true", help="2 seeds, k in {5, 20}")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    seeds = 2 if a.quick else a.seeds
    ks = [5, 20] if a.quick else [int(x) for x in a.ks.split(",")]
    dims = [int(x) for x in a.dims.split(",")]
    tols = [float(x) for x in a.tols.split(",")]
    rows = []
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"numpy {np.__version__}; output = {a.output}")
    print("| family | d | k | tol | median s | worst s | median cells | worst gap | closed to tol |")
    print("|---|---|---|---|---|---|---|---|---|")
    for family in a.families.split(","):
        for d in dims:
            for k in ks:
                for tol in tols:
                    secs, cells, gaps, closed = [], [], [], 0
                    for seed in range(seeds):
                        A, b, w = instance(family, d, k, seed)
                        t0 = time.perf_counter()
                        r = sup_error_sphere(A, b, w, output=a.output, tol=tol, max_cells=a.max_cells)
                        secs.append(time.perf_counter() - t0)
                        cells.append(r.stats["cells"])
                        gaps.append(r.upper - r.lower)
                        closed += r.upper - r.lower <= tol
                    row = {
                        "family": family, "d": d, "k": k, "tol": tol, "output": a.output, "seeds": seeds,
                        "seconds_median": statistics.median(secs), "seconds_max": max(secs),
                        "cells_median": statistics.median(cells), "gap_max": max(gaps), "closed": closed,
                    }
                    rows.append(row)
                    print(f"| {family} | {d} | {k} | {tol:g} | {row['seconds_median']:.3f} | "
                          f"{row['seconds_max']:.3f} | {row['cells_median']:.0f} | {row['gap_max']:.2e} | "
                          f"{closed}/{seeds} |", flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
