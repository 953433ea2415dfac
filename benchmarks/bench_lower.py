"""The certified frontier: what a proofs-only width search proves, how fast, and how tight.

Two measurements (BENCHMARKS.md, "The certified frontier"):

* ``proofs``: one decision at a fixed (d, eps, width) with first samples of
  different sizes (``initial_max_points``), timed in the same run: which
  proves "no" the most per second;
* ``tightness``: per seed, the lower search's n_lower under its default
  limits against the certified n* of the exact search (``bound="both"``), with
  the seconds of each.

    python benchmarks/bench_lower.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import prunegap as pg
from prunegap.setting import Setting

_PROOFS = [  # (d, eps, width, first-sample caps): a width far below n* at a small eps
    (2, 1e-4, 1024, (20_000, 10_000, 5_000, 2_000, 1_000, 500)),
    (2, 1e-3, 384, (2_000, 1_000, 500)),
]
_TIGHT = [(2, 0.0125, (0, 1, 2, 3, 4)), (2, 0.00625, (0, 1, 2)), (3, 0.1, (0, 1, 2))]


def proofs(quick: bool) -> list[dict[str, Any]]:
    out = []
    for d, eps, width, caps in _PROOFS[: 1 if quick else None]:
        for cap in caps[-3:] if quick else caps:
            t0 = time.perf_counter()
            r = pg.solve(Setting(d=d), width=width, seed=0, eps=eps, paradigm="neuron", conflict_limit=20_000,
                         max_rounds=20, initial_max_points=cap)
            st = r.outcome.stats
            out.append({"d": d, "eps": eps, "width": width, "initial_max_points": cap, "certified": r.certified,
                        "seconds": round(time.perf_counter() - t0, 2), "points": st.get("points"),
                        "rows": st.get("rows"), "conflicts": st.get("work")})
            print(out[-1], flush=True)
    return out


def tightness(quick: bool) -> list[dict[str, Any]]:
    out = []
    for d, eps, seeds in _TIGHT[: 1 if quick else None]:
        for seed in seeds[:2] if quick else seeds:
            t0 = time.perf_counter()
            low = pg.width(Setting(d=d), seed=seed, eps=eps, paradigm="neuron", bound="lower").to_dict()
            t1 = time.perf_counter()
            exact = pg.width(Setting(d=d), seed=seed, eps=eps, paradigm="neuron", conflict_limit=200_000,
                             search_time_limit=120.0).to_dict()  # a wall-clock guard: a benchmark, not a result
            t2 = time.perf_counter()
            n_star = exact["n_star"]
            out.append({"d": d, "eps": eps, "seed": seed, "n_lower": low["n_lower"], "lower_seconds": round(t1 - t0, 1),
                        "n_star": n_star, "exact_bracket": [exact["n_lower"], exact["n_upper"]],
                        "exact_seconds": round(t2 - t1, 1),
                        "ratio": round(low["n_lower"] / n_star, 3) if n_star else None})
            print(out[-1], flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--only", choices=("proofs", "tightness"), default=None)
    a = ap.parse_args(argv)
    result: dict[str, Any] = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
                              "prunegap": pg.__version__}
    if a.only in (None, "proofs"):
        result["proofs"] = proofs(a.quick)
    if a.only in (None, "tightness"):
        result["tightness"] = tightness(a.quick)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
