"""Benchmark: exact best subset sum (meet in the middle) against HiGHS and brute force.

For each k, several seeds of two families -- i.i.d. Uniform[-1, 1] values
("uniform") and products of two Uniform[-1, 1] ("products", as in the
construction of THEORY.md section 4) -- each with a Uniform[-1, 1] target:

* ``best_subset_sum`` is timed in a fresh subprocess per k, which also
  reports its peak resident memory (``ru_maxrss``, and the increase over the
  process after imports) and the numpy allocation peak (``tracemalloc``);
* ``scipy.optimize.milp`` (HiGHS) solves the same instance as
  min s  s.t.  -s <= sum_i x_i v_i - t <= s,  x binary,
  with a time limit; its x is re-evaluated exactly (``math.fsum``);
* HiGHS again through ``highspy`` with both MIP gaps 0 and feasibility
  tolerances 1e-9, i.e. asked for the exact optimum (fewer seeds: it mostly
  runs to its limit);
* exact brute force (integer arithmetic over all 2^k subsets) for small k.

Reported per (k, family): median and worst time of ours, HiGHS median time
and how often it hit the limit, the speed-up HiGHS/ours (median of
per-instance ratios measured in the same run; a lower bound where HiGHS hit
its limit), whether our error <= HiGHS's error + 1e-12 on every instance,
how often HiGHS found the exact optimum, and agreement with brute force.
Prints a Markdown table and optionally writes JSON.  Not a test: figures go
into BENCHMARKS.md.

    python benchmarks/bench_subsetsum.py [--quick] [--k 20,24,...] [--seeds 3]
        [--milp-max-k 36] [--milp-time-limit 60] [--gap0-max-k 36] [--gap0-seeds 1]
        [--gap0-time-limit 60] [--brute-max-k 20] [--json out.json]

Note: scipy's milp exposes HiGHS's relative gap (set to 0 here) but not its
absolute gap (default 1e-6) nor its feasibility tolerances (1e-6, 1e-7), so
its "optimal" means optimal to about 1e-6, far coarser than the optima here
(1e-6 at k = 20 down to 1e-13 at k = 44); hence the zero-gap runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from fractions import Fraction

import numpy as np

FAMILIES = ("uniform", "products")
_SCALE = 1074  # every double is an integer multiple of 2**-1074


def instance(family: str, k: int, seed: int) -> tuple[np.ndarray, float]:
    r = np.random.default_rng([seed, k, FAMILIES.index(family)])
    if family == "uniform":
        v = r.uniform(-1.0, 1.0, k)
    else:
        v = r.uniform(-1.0, 1.0, k) * r.uniform(-1.0, 1.0, k)
    return v, float(r.uniform(-1.0, 1.0))


def exact_error(v: np.ndarray, t: float, indices) -> float:
    picked = [float(v[i]) for i in indices]
    return abs(math.fsum(picked + [-t]))


# --- ours, in a worker subprocess (one per k, so that its memory is its own) ---


def _maxrss_bytes() -> int:
    # Linux carries the parent's peak into ru_maxrss across fork + exec, so
    # prefer this process's own high-water mark (VmHWM, reset by exec).
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def worker(k: int, seeds: int, families: list[str]) -> None:
    from prunegap.subsetsum import best_subset_sum, subset_sum_bytes

    best_subset_sum(np.array([0.5, -0.25]), 0.1)  # import-time work out of the way
    cases = [(f, s, *instance(f, k, s)) for f in families for s in range(seeds)]
    base = _maxrss_bytes()
    out = []
    for family, seed, v, t in cases:
        t0 = time.perf_counter()
        res = best_subset_sum(v, t, memory_budget=1 << 40)
        dt = time.perf_counter() - t0
        out.append({
            "family": family, "seed": seed, "seconds": dt, "error": res.error,
            "indices": res.indices.tolist(), "path": res.stats["path"],
            "candidates": res.stats["candidates"],
        })
    rss = _maxrss_bytes()
    # The numpy allocation peak, on the first instance, after the timings.
    _, _, v, t = cases[0]
    tracemalloc.start()
    best_subset_sum(v, t, memory_budget=1 << 40)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    json.dump({
        "k": k, "runs": out, "maxrss_bytes": rss, "baseline_rss_bytes": base,
        "traced_peak_bytes": traced, "guard_bytes": subset_sum_bytes(k),
    }, sys.stdout)


def run_ours(k: int, seeds: int, families: list[str]) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--_worker", str(k),
           "--seeds", str(seeds), "--families", ",".join(families)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker for k={k} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


# --- HiGHS and brute force --------------------------------------------------------


def run_milp(v: np.ndarray, t: float, time_limit: float) -> dict:
    from scipy.optimize import Bounds, LinearConstraint, milp

    k = v.size
    c = np.zeros(k + 1)
    c[-1] = 1.0  # minimise s
    a = np.zeros((2, k + 1))
    a[:, :k] = v
    a[0, -1], a[1, -1] = -1.0, 1.0
    cons = LinearConstraint(a, [-np.inf, t], [t, np.inf])  # v.x - s <= t <= v.x + s
    integrality = np.r_[np.ones(k), 0.0]
    bounds = Bounds(np.zeros(k + 1), np.r_[np.ones(k), np.inf])
    t0 = time.perf_counter()
    res = milp(c, integrality=integrality, bounds=bounds, constraints=cons,
               options={"time_limit": time_limit, "mip_rel_gap": 0.0})
    dt = time.perf_counter() - t0
    if res.x is None:
        return {"seconds": dt, "status": int(res.status), "hit_limit": True, "error": None,
                "message": res.message}
    idx = np.flatnonzero(res.x[:k] > 0.5).tolist()
    return {"seconds": dt, "status": int(res.status), "hit_limit": res.status == 1,
            "error": exact_error(v, t, idx), "objective": float(res.fun), "indices": idx,
            "message": res.message}


def run_highs_gap0(v: np.ndarray, t: float, time_limit: float) -> dict:
    """HiGHS through highspy, asked for the exact optimum: both MIP gaps 0 and
    feasibility tolerances 1e-9 (scipy's milp cannot set these)."""
    import highspy

    k = v.size
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for name, val in (("time_limit", float(time_limit)), ("mip_rel_gap", 0.0), ("mip_abs_gap", 0.0),
                      ("mip_feasibility_tolerance", 1e-9), ("primal_feasibility_tolerance", 1e-9)):
        h.setOptionValue(name, val)
    inf = highspy.kHighsInf
    cols = np.arange(k + 1, dtype=np.int32)
    h.addVars(k + 1, np.zeros(k + 1), np.r_[np.ones(k), inf])
    h.changeColsCost(k + 1, cols, np.r_[np.zeros(k), 1.0])
    h.changeColsIntegrality(k, cols[:k], np.array([highspy.HighsVarType.kInteger] * k))
    h.addRow(-inf, t, k + 1, cols, np.r_[v, -1.0])  # v.x - s <= t
    h.addRow(t, inf, k + 1, cols, np.r_[v, 1.0])  # v.x + s >= t
    t0 = time.perf_counter()
    h.run()
    dt = time.perf_counter() - t0
    status = h.getModelStatus()
    hit = status == highspy.HighsModelStatus.kTimeLimit
    x = np.asarray(h.getSolution().col_value)
    if x.size < k:
        return {"seconds": dt, "status": h.modelStatusToString(status), "hit_limit": hit, "error": None}
    idx = np.flatnonzero(x[:k] > 0.5).tolist()
    return {"seconds": dt, "status": h.modelStatusToString(status), "hit_limit": hit,
            "error": exact_error(v, t, idx), "indices": idx}


def brute_force(v: np.ndarray, t: float) -> tuple[float, int]:
    """Exact optimum (correctly rounded) and smallest optimal bitmask."""
    def scaled(x: float) -> int:
        num, den = float(x).as_integer_ratio()
        return num * ((1 << _SCALE) // den)

    sums = [0]
    for x in v.tolist():
        e = scaled(x)
        sums += [s + e for s in sums]
    target = scaled(t)
    errs = [abs(s - target) for s in sums]
    best = min(errs)
    return float(Fraction(best, 1 << _SCALE)), errs.index(best)


# --- reporting ----------------------------------------------------------------------


def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            key, _, val = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "CPU max MHz"):
                info[key.strip()] = val.strip()
    except OSError:
        pass
    import scipy

    info["numpy"] = np.__version__
    info["scipy"] = scipy.__version__
    try:
        from importlib.metadata import version

        import highspy

        highspy.Highs()  # prints its banner once, here rather than inside the table
        info["highspy"] = version("highspy")
    except Exception:  # pragma: no cover - informational only
        pass
    return info


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if x < 10 else f"{x:.1f}"


def summarise(k: int, family: str, runs: list[dict], ours_meta: dict) -> dict:
    mine = [r for r in runs if r["family"] == family]
    row = {
        "k": k, "family": family, "seeds": len(mine),
        "ours_median_s": statistics.median(r["seconds"] for r in mine),
        "ours_max_s": max(r["seconds"] for r in mine),
        "peak_rss_mib": ours_meta["maxrss_bytes"] / 2**20,
        "rss_increase_mib": (ours_meta["maxrss_bytes"] - ours_meta["baseline_rss_bytes"]) / 2**20,
        "traced_peak_mib": ours_meta["traced_peak_bytes"] / 2**20,
        "guard_mib": ours_meta["guard_bytes"] / 2**20,
        "median_error": statistics.median(r["error"] for r in mine),
    }
    for key in ("milp", "gap0"):
        with_key = [r for r in mine if key in r]
        if not with_key:
            continue
        ratios = [r[key]["seconds"] / r["seconds"] for r in with_key]
        row.update({
            f"{key}_runs": len(with_key),
            f"{key}_median_s": statistics.median(r[key]["seconds"] for r in with_key),
            f"{key}_hit_limit": sum(bool(r[key]["hit_limit"]) for r in with_key),
            f"{key}_speedup_median": statistics.median(ratios),
            f"{key}_speedup_min": min(ratios),
            f"{key}_ours_le": sum(
                r[key]["error"] is None or r["error"] <= r[key]["error"] + 1e-12 for r in with_key
            ),
            f"{key}_exact_opt": sum(r[key]["error"] == r["error"] for r in with_key),
        })
    with_brute = [r for r in mine if "brute_ok" in r]
    if with_brute:
        row["brute_ok"] = sum(r["brute_ok"] for r in with_brute)
        row["brute_runs"] = len(with_brute)
    return row


HEADER = (
    "| k | family | seeds | ours median s | ours max s | peak RSS MiB (+ over baseline) | numpy peak MiB "
    "| HiGHS (milp) median s | at limit | speed-up HiGHS/ours (median, min) | ours <= HiGHS | HiGHS found opt "
    "| HiGHS gap 0 median s | at limit | speed-up (median, min) | ours <= HiGHS | HiGHS found opt "
    "| brute force agrees | median error |"
)


def _solver_cells(row: dict, key: str) -> str:
    if f"{key}_runs" not in row:
        return "- | - | - | - | -"
    n, lim = row[f"{key}_runs"], row[f"{key}_hit_limit"]
    lower = ">" if lim else ""
    return (f"{_fmt_s(row[f'{key}_median_s'])} | {lim}/{n} | "
            f"{lower}{row[f'{key}_speedup_median']:.0f}x, {row[f'{key}_speedup_min']:.0f}x | "
            f"{row[f'{key}_ours_le']}/{n} | {row[f'{key}_exact_opt']}/{n}")


def table_row(row: dict) -> str:
    brute = f"{row['brute_ok']}/{row['brute_runs']}" if "brute_runs" in row else "-"
    return (f"| {row['k']} | {row['family']} | {row['seeds']} | {_fmt_s(row['ours_median_s'])} | "
            f"{_fmt_s(row['ours_max_s'])} | {row['peak_rss_mib']:.0f} (+{row['rss_increase_mib']:.0f}) | "
            f"{row['traced_peak_mib']:.3g} | {_solver_cells(row, 'milp')} | {_solver_cells(row, 'gap0')} | "
            f"{brute} | {row['median_error']:.2e} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", default="20,24,28,32,36,40,44", help="comma-separated k values")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--milp-max-k", type=int, default=36, help="run HiGHS for k up to this")
    ap.add_argument("--milp-time-limit", type=float, default=60.0, help="seconds per HiGHS solve")
    ap.add_argument("--gap0-max-k", type=int, default=36,
                    help="also run HiGHS with zero MIP gaps (highspy) for k up to this")
    ap.add_argument("--gap0-seeds", type=int, default=1, help="seeds per family for the zero-gap HiGHS runs")
    ap.add_argument("--gap0-time-limit", type=float, default=60.0, help="seconds per zero-gap HiGHS solve")
    ap.add_argument("--brute-max-k", type=int, default=20, help="exact brute force for k up to this")
    ap.add_argument("--quick", action="store_true",
                    help="k in {20, 24, 28}, 2 seeds, HiGHS limit 20 s")
    ap.add_argument("--json", default=None, help="write the rows and every run here")
    ap.add_argument("--_worker", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    families = [f for f in a.families.split(",") if f]
    for f in families:
        if f not in FAMILIES:
            ap.error(f"--families: unknown family {f!r}, choose from {', '.join(FAMILIES)}")
    if a._worker is not None:
        worker(a._worker, a.seeds, families)
        return
    ks = [int(x) for x in a.k.split(",") if x]
    seeds, limit, limit0 = a.seeds, a.milp_time_limit, a.gap0_time_limit
    if a.quick:
        ks, seeds, limit, limit0 = [20, 24, 28], 2, 20.0, 10.0

    info = machine()
    print(f"machine: {info.get('Model name', platform.processor())}, {info.get('CPU(s)', info['cpus'])} CPUs; "
          f"python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, highspy {info.get('highspy')}",
          flush=True)
    print(f"HiGHS (scipy.optimize.milp, default gaps) for k <= {a.milp_max_k}, time limit {limit:g} s; "
          f"HiGHS with zero gaps (highspy) for k <= {a.gap0_max_k}, {a.gap0_seeds} seed(s), "
          f"time limit {limit0:g} s; brute force for k <= {a.brute_max_k}", flush=True)
    rows, all_runs = [], []
    lines = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    for line in lines:
        print(line, flush=True)
    for k in ks:
        meta = run_ours(k, seeds, families)
        runs = meta["runs"]
        for r in runs:
            v, t = instance(r["family"], k, r["seed"])
            if k <= a.brute_max_k:
                err, mask = brute_force(v, t)
                r["brute_ok"] = err == r["error"] and mask == sum(1 << i for i in r["indices"])
            if k <= a.milp_max_k:
                r["milp"] = run_milp(v, t, limit)
            if k <= a.gap0_max_k and r["seed"] < a.gap0_seeds:
                r["gap0"] = run_highs_gap0(v, t, limit0)
        for f in families:
            row = summarise(k, f, runs, meta)
            rows.append(row)
            line = table_row(row)
            lines.append(line)
            print(line, flush=True)
        all_runs.append(meta)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"machine": info, "milp_time_limit": limit, "gap0_time_limit": limit0, "rows": rows, "runs": all_runs,
                       "markdown": "\n".join(lines)}, fh, indent=2)


if __name__ == "__main__":
    main()
