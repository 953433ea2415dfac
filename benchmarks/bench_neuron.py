"""Benchmark: minimal widths of neuron pruning (cutting-plane MIP) beside weight pruning.

Three tables, printed as Markdown (figures for BENCHMARKS.md; not a test):

1. n* per eps for d = 2 (and d = 3 for the first eps): neuron (mip), weight
   construction, weight exact, side by side: median n* over the seeds, how
   many seeds were certified exactly (the others leave a bracket
   [n_lower, n_upper], whose medians are shown), median and worst seconds
   per seed.
2. The reference: the straightforward HiGHS method (``baseline_neuron.py``:
   fixed grid of 8 / eps points, a MILP from scratch at every bisection step,
   candidates checked on 200,000 points) against ``width --paradigm neuron``
   on the same seeds, whole process timed on both sides.
3. The machine.

Seeds run in ``--jobs`` processes (2 by default: one core each; every solver
is single-threaded).  Each seed's width search gets ``--seed-budget`` seconds
of wall clock (``search_time_limit``); the baseline gets ``--baseline-budget``
seconds per seed and is reported as timed out past that.

    python benchmarks/bench_neuron.py [--quick] [--json out.json] [--seeds 20] [--jobs 2] [--local-search N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

EPS_D2 = (0.2, 0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003)
EPS_D3 = (0.2, 0.1, 0.05)
METHODS = (("neuron", "mip"), ("weight", "construction"), ("weight", "exact"))


def _width_trial(args: tuple) -> dict:
    d, output, eps, seed, paradigm, method, budget, max_width, solver_opts = args
    from prunegap import api
    from prunegap.setting import Setting

    opts = {"search_time_limit": budget, **solver_opts} if budget else dict(solver_opts)
    t0 = time.perf_counter()
    try:
        r = api.width(Setting(d=d, output=output), seed=seed, eps=eps, paradigm=paradigm, method=method,
                      max_width=max_width, **opts)
        rec = {"n_star": r.n_star, "n_lower": r.search.n_lower, "n_upper": r.search.n_upper,
               "limit": r.outcome.limit, "calls": len(r.search.steps), "error": None}
    except Exception as exc:  # a method that cannot run here (e.g. a module not there yet)
        rec = {"n_star": None, "n_lower": None, "n_upper": None, "limit": None, "calls": 0,
               "error": f"{type(exc).__name__}: {exc}"}
    rec.update(d=d, output=output, eps=eps, seed=seed, paradigm=paradigm, method=method,
               threads=solver_opts.get("workers", 1), local_search=solver_opts.get("local_search"),
               seconds=time.perf_counter() - t0)
    return rec


def _baseline_trial(args: tuple) -> dict:
    eps, seed, budget = args
    from baseline_neuron import baseline_width
    from prunegap.setting import Setting

    r = baseline_width(Setting(d=2), seed, eps, time_limit=budget)
    r.pop("steps", None)
    r.update(eps=eps, seed=seed)
    return r


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _fmt(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    if isinstance(x, float) and not float(x).is_integer():
        return f"{x:.{nd}f}"
    return str(int(x))


def _summary(recs: list[dict]) -> dict:
    exact = [r["n_star"] for r in recs if r["n_star"] is not None]
    lowers = [r["n_lower"] for r in recs if r["n_lower"] is not None]
    uppers = [r["n_upper"] if r["n_upper"] is not None else math.inf for r in recs if r["error"] is None]
    secs = [r["seconds"] for r in recs]
    return {
        "seeds": len(recs),
        "certified": len(exact),
        "n_star_median": _median(exact) if len(exact) == len(recs) else None,
        "n_lower_median": _median(lowers),
        "n_upper_median": statistics.median(uppers) if uppers else None,
        "seconds_median": statistics.median(secs) if secs else None,
        "seconds_max": max(secs) if secs else None,
        "errors": sorted({r["error"] for r in recs if r["error"]}),
    }


def _cell(s: dict) -> str:
    if s["errors"] and s["certified"] == 0:
        return "n/a"
    if s["n_star_median"] is not None:
        n = _fmt(s["n_star_median"])
    else:
        n = f"[{_fmt(s['n_lower_median'])}, {_fmt(s['n_upper_median'])}]"
    return f"{n} ({s['certified']}/{s['seeds']}) {_fmt(s['seconds_median'])}/{_fmt(s['seconds_max'])} s"


def _machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
    except OSError:
        model = platform.processor() or "?"
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="3 seeds, d = 2 down to eps = 0.0125, d = 3 at 0.2")
    ap.add_argument("--json", default=None)
    ap.add_argument("--seed-budget", type=float, default=60.0, help="seconds per seed and method (wall clock)")
    ap.add_argument("--baseline-budget", type=float, default=900.0, help="seconds per seed for the baseline")
    ap.add_argument("--baseline-eps", default="0.025,0.0125")
    ap.add_argument("--compare-budget", type=float, default=900.0,
                    help="seconds per seed for the mip runs compared with the baseline")
    ap.add_argument("--baseline-seeds", type=int, default=6, help="seeds compared with the baseline (--quick: 2)")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--max-width", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=1,
                    help="CP-SAT threads per seed (1: deterministic; use with --jobs 1 on a 2-core machine)")
    ap.add_argument("--eps-d2", default=None, help="comma-separated eps for d = 2 (default: the full list)")
    ap.add_argument("--eps-d3", default=None, help="comma-separated eps for d = 3 ('' for none)")
    ap.add_argument("--local-search", type=int, default=None,
                    help="tabu-search moves per decision of the exact solvers (0: off; default: the solver's)")
    ap.add_argument("--methods", default=None, help="comma-separated paradigm/method, e.g. neuron/mip")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="another solver option, e.g. initial_density=2.3 (repeatable; the value is read as JSON)")
    a = ap.parse_args()
    solver_opts = {"workers": a.threads} if a.threads > 1 else {}
    if a.local_search is not None:
        solver_opts["local_search"] = a.local_search
    for item in a.option:
        key, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--option must be KEY=VALUE, got {item!r}")
        try:
            solver_opts[key] = json.loads(value)
        except json.JSONDecodeError:
            solver_opts[key] = value

    seeds = 3 if a.quick else a.seeds
    eps2 = [e for e in EPS_D2 if e >= 0.0125] if a.quick else list(EPS_D2)
    eps3 = [0.2] if a.quick else list(EPS_D3)
    if a.eps_d2 is not None:
        eps2 = [float(x) for x in a.eps_d2.split(",") if x]
    if a.eps_d3 is not None:
        eps3 = [float(x) for x in a.eps_d3.split(",") if x]
    methods = METHODS if a.methods is None else tuple(tuple(m.split("/")) for m in a.methods.split(","))
    bseeds = 2 if a.quick else a.baseline_seeds
    beps = [float(x) for x in a.baseline_eps.split(",")]
    machine = _machine()
    print(f"machine: {machine}; {a.jobs} processes, {a.threads} solver thread(s) each; seed budget {a.seed_budget:g} s")
    out: dict = {"machine": machine, "jobs": a.jobs, "threads": a.threads, "seed_budget": a.seed_budget,
                 "local_search": a.local_search, "solver_options": solver_opts, "widths": [], "baseline": []}

    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        # 1. widths ---------------------------------------------------------------
        for d, epss in ((2, eps2), (3, eps3)):
            if not epss:
                continue
            print(f"\n### d = {d}, relu output, uniform weights: median n* (certified seeds) median/worst s per seed\n")
            print("| eps | " + " | ".join(f"{p} {m}" for p, m in methods) + " |")
            print("|---|" + "---|" * len(methods))
            for eps in epss:
                cells = []
                for paradigm, method in methods:
                    jobs = [(d, "relu", eps, s, paradigm, method, a.seed_budget, a.max_width, solver_opts)
                            for s in range(seeds)]
                    recs = list(pool.map(_width_trial, jobs))
                    out["widths"].extend(recs)
                    cells.append(_cell(_summary(recs)))
                print(f"| {eps:g} | " + " | ".join(cells) + " |", flush=True)
                _save(a.json, out)  # a long run keeps what it measured

        # 2. the reference ---------------------------------------------------------
        if not a.skip_baseline:
            print(f"\n### Reference (straightforward HiGHS) vs neuron mip, d = 2, relu, {bseeds} seeds, "
                  f"baseline budget {a.baseline_budget:g} s/seed\n")
            print("| eps | seed | baseline n* | baseline s | mip n* | mip s | speed-up |")
            print("|---|---|---|---|---|---|---|")
            for eps in beps:
                # our side runs to the end (or the compare budget), like the baseline
                ours = {r["seed"]: r for r in out["widths"] if r["d"] == 2 and r["eps"] == eps
                        and r["paradigm"] == "neuron" and r["n_star"] is not None}
                need = [s for s in range(bseeds) if s not in ours]
                for r in pool.map(_width_trial, [(2, "relu", eps, s, "neuron", "mip", a.compare_budget, a.max_width,
                                                  solver_opts) for s in need]):
                    ours[r["seed"]] = r
                    out.setdefault("compare", []).append(r)
                base = list(pool.map(_baseline_trial, [(eps, s, a.baseline_budget) for s in range(bseeds)]))
                out["baseline"].extend(base)
                ratios = []
                for b in base:
                    o = ours[b["seed"]]
                    bn = (">" if b["timed_out"] else "") + _fmt(b["seconds"])
                    ratio = b["seconds"] / o["seconds"] if o["seconds"] > 0 else math.inf
                    ratios.append(ratio)
                    bstar = "timeout" if b["timed_out"] else _fmt(b["n_star"]) if b["n_star"] else \
                        f"[{_fmt(b['n_lower'])}, {_fmt(b['n_upper'])}]"
                    ostar = _fmt(o["n_star"]) if o["n_star"] else f"[{_fmt(o['n_lower'])}, {_fmt(o['n_upper'])}]"
                    print(f"| {eps:g} | {b['seed']} | {bstar} | {bn} | {ostar} | {_fmt(o['seconds'])} | "
                          f"{'>=' if b['timed_out'] else ''}{ratio:.1f}x |", flush=True)
                bs = [b["seconds"] for b in base]
                os_ = [ours[b["seed"]]["seconds"] for b in base]
                print(f"| {eps:g} | median | | {_fmt(statistics.median(bs))} | | {_fmt(statistics.median(os_))} | "
                      f"{statistics.median(ratios):.1f}x |", flush=True)

    _save(a.json, out)


def _save(path: str | None, out: dict) -> None:
    if path:
        with open(path, "w") as fh:
            json.dump(out, fh, indent=2, default=str)


if __name__ == "__main__":
    main()
