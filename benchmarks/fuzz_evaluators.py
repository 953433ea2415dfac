"""Fuzz: every certified error interval against dense sampling on degenerate instances.

Instances (a pure function of (--seed, index)) mix units nearly parallel or
antiparallel to w, nearly orthogonal to it (kink planes nearly containing w),
twins whose kink planes nearly contain each other (same or opposite v), units
within ulps of the coordinate axes, zero rows, zero output weights, and tiny
or huge scales (A and w times 2^s).  Evaluators run round-robin until
--seconds are spent:

- d = 2: the exact sup (relu and linear output), the exact L2 integral (relu:
  l2-sphere and l2-gaussian; linear: the same integral, and the kernel that
  network_error uses).  Truth: ``sup_truth_circle`` (grid + exact kink points
  + Lipschitz refinement: M <= sup <= U) and ``l2_truth_circle`` (Gauss-
  Legendre between exact kinks, with an error bound), from
  tests/test_fuzz_circle.py.  A miss: upper < M or lower > U (sup), or the
  interval outside the quadrature's bracket (L2).
- d = 3, 4: network_error(norm="sup") (the certified branch and bound) for
  both outputs; truth T, a lower estimate of the sup from a dense random
  sample plus local optimisation (scipy.optimize.minimize on the sphere from
  the best points).  A miss: upper < T - 1e-12 S (S = sum |b| ||a|| + ||w||).
  A lower bound above the truth cannot be seen by sampling here; lower <= upper
  and lower <= |g - f| at the evaluator's own witness are checked instead.
  L2: the kernel (linear output) against a 40-digit mpmath evaluation of the
  same closed form (exact containment), and the proven bounds of the relu
  Monte Carlo evaluator against a 6-sigma band of a large independent sample
  (statistical: reported separately).

Prints a summary and writes JSON (default benchmarks/results/fuzz_evaluators.json):
instances per evaluator, misses, the worst miss (in units of S), up to 20 missed
instances each (exact floats, reproducible), and machine info.

    python benchmarks/fuzz_evaluators.py [--seconds 120] [--seed 0] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_fuzz_circle import l2_truth_circle, lipschitz, reference_instance, sup_truth_circle  # noqa: E402

from prunegap.errors import forward, network_error, target_values  # noqa: E402
from prunegap.errors.circle import l2_error_circle  # noqa: E402

EPS = float(np.finfo(float).eps)
_TILTS = np.array([0.0, 1e-16, -1e-16, 5e-17, 2.0**-53, 1e-300, 5e-324, 1e-12, 1e-8])


# --------------------------------------------------------------------------- instances


def _unit(rng: np.random.Generator, d: int) -> np.ndarray:
    x = rng.standard_normal(d)
    return x / np.linalg.norm(x)


def _axis(rng: np.random.Generator, d: int) -> np.ndarray:
    """A coordinate axis (either sign), its other components tilted by tiny amounts."""
    x = rng.choice(_TILTS, size=d) * rng.choice([-1.0, 1.0], size=d) * (rng.random(d) < 0.8)
    j = rng.integers(d)
    x[j] = rng.choice([-1.0, 1.0])
    return x


def _tiny(rng: np.random.Generator, d: int) -> np.ndarray:
    return 10.0 ** rng.uniform(-17, -7) * rng.standard_normal(d)


def make_instance(seed: int, index: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, str]:
    """(A, b, w, s, family): the instance to evaluate is (2^s A, b, 2^s w)."""
    rng = np.random.default_rng([seed, index, d])
    w = _axis(rng, d) if rng.random() < 0.4 else _unit(rng, d)
    w = w * rng.choice([1.0, 0.5, 2.0])
    k = int(rng.integers(0, 9))
    rows: list[np.ndarray] = []
    vs: list[float] = []
    fams = []
    for _ in range(k):
        fam = rng.choice(["parallel", "antiparallel", "orthogonal", "twin", "axis", "zero", "random"],
                         p=[0.15, 0.1, 0.15, 0.2, 0.25, 0.05, 0.1])
        fams.append(str(fam))
        if fam == "parallel":
            a = w + _tiny(rng, d)
        elif fam == "antiparallel":
            a = -w + _tiny(rng, d)
        elif fam == "orthogonal":
            u = _unit(rng, d)
            u -= (u @ w) / (w @ w) * w
            a = u / np.linalg.norm(u) + _tiny(rng, d) * (rng.random() < 0.7)
        elif fam == "twin" and rows:
            p = rows[int(rng.integers(len(rows)))]
            a = rng.choice([1.0, -1.0]) * p * rng.choice([1.0, 0.5, 3.0]) + _tiny(rng, d) * (rng.random() < 0.7)
        elif fam == "axis":
            a = _axis(rng, d)
        elif fam == "zero":
            a = np.zeros(d)
        else:
            a = rng.uniform(-1, 1, d)
        rows.append(np.asarray(a, float))
        mode = rng.integers(5)
        if mode == 0 and vs:
            v = -vs[-1]
        elif mode == 1:
            v = float(rng.choice([0.0, 1.0, -1.0, 0.5]))
        elif mode == 2:
            v = 1.0 / max(k, 1)
        else:
            v = float(rng.uniform(-1, 1))
        vs.append(v)
    A = np.array(rows).reshape(-1, d)
    s = int(rng.choice([0, 0, 0, 0, 0, 600, -600, -1000]))
    return A, np.array(vs, float), w, s, ",".join(sorted(set(fams))) or "empty"


# --------------------------------------------------------------------------- truths in d >= 3


def _abs_err(A, b, w, X, output):
    return np.abs(forward(A, b, X, output) - target_values(w, X))


def sup_lower_estimate(A, b, w, output, rng: np.random.Generator, m: int = 20_000, starts: int = 2) -> float:
    """A lower estimate of sup |g - f| on the sphere: a random sample plus the
    points +-w and +-a_i, vectorised random climbing around the best 16, then
    Nelder-Mead (on y / ||y||) from the best ``starts`` points."""
    d = w.shape[0]
    X = rng.standard_normal((m, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    extra = [w, -w] + [r for r in A] + [-r for r in A]
    E = np.array([e / np.linalg.norm(e) for e in extra if np.linalg.norm(e) > 0]).reshape(-1, d)
    X = np.vstack([X, E])
    vals = _abs_err(A, b, w, X, output)
    best = float(vals.max())
    top = X[np.argsort(-vals)[:16]]
    for step in np.repeat(10.0 ** -np.arange(2.0, 12.0), 2):
        Y = np.vstack([top, np.repeat(top, 64, axis=0) + step * rng.standard_normal((16 * 64, d))])
        Y /= np.linalg.norm(Y, axis=1, keepdims=True)
        v = _abs_err(A, b, w, Y, output)
        best = max(best, float(v.max()))
        top = Y[np.argsort(-v)[:16]]

    def neg(y):
        n = np.linalg.norm(y)
        return -float(_abs_err(A, b, w, (y / n)[None], output)[0]) if n > 0 else 0.0

    for x0 in top[:starts]:
        res = minimize(neg, x0, method="Nelder-Mead", options={"xatol": 1e-14, "fatol": 1e-17, "maxiter": 800})
        best = max(best, -float(res.fun))
    return best


def kernel_truth_mp(A, b, w, norm: str):
    """E (h - f)^2 of the linear output by the kernel closed form in 40-digit mpmath."""
    import mpmath as mp

    mp.mp.dps = 40
    d = w.shape[0]
    U = [[mp.mpf(float(x)) for x in row] for row in np.vstack([A, w[None, :]])]
    c = [mp.mpf(float(x)) for x in b] + [mp.mpf(-1)]
    nrm = [mp.sqrt(sum(x * x for x in u)) for u in U]

    def k(i, j):
        if nrm[i] == 0 or nrm[j] == 0:
            return mp.mpf(0)
        dn = mp.sqrt(sum((x / nrm[i] - y / nrm[j]) ** 2 for x, y in zip(U[i], U[j])))
        sn = mp.sqrt(sum((x / nrm[i] + y / nrm[j]) ** 2 for x, y in zip(U[i], U[j])))
        th = 2 * mp.atan2(dn, sn)
        return nrm[i] * nrm[j] * (mp.sin(th) + (mp.pi - th) * mp.cos(th)) / (2 * mp.pi)

    n = len(U)
    tot = sum(c[i] * c[j] * k(i, j) for i in range(n) for j in range(n))
    return tot / d if norm == "l2-sphere" else tot


def l2_mc_band(A, b, w, output, norm, rng, n: int = 200_000) -> tuple[float, float]:
    """A 6-sigma band (CLT, statistical) for the L2 error from n fresh sphere samples."""
    d = w.shape[0]
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = (forward(A, b, X, output) - target_values(w, X)) ** 2 * (d if norm == "l2-gaussian" else 1.0)
    m, sd = float(y.mean()), float(y.std(ddof=1))
    half = 6.0 * sd / math.sqrt(n)
    return math.sqrt(max(m - half, 0.0)), math.sqrt(m + half)


# --------------------------------------------------------------------------- evaluators


def _miss(*gaps: float, lo: float, up: float) -> float:
    """How far the interval [lo, up] misses: the largest positive gap; NaN ends (or an
    infinite lower end) miss by inf, an infinite upper end is a valid, useless bound."""
    if math.isnan(lo) or math.isnan(up) or math.isinf(lo):
        return math.inf
    return max(0.0, *gaps)


class Tally:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def add(self, name: str, miss: float | None, record: dict[str, Any], seconds: float) -> None:
        name += " [scaled]" if record["s"] else ""  # A and w times 2^s, s != 0: counted apart
        r = self.rows.setdefault(name, {"instances": 0, "misses": 0, "worst_miss": 0.0, "seconds": 0.0, "missed": []})
        r["instances"] += 1
        r["seconds"] += seconds
        if miss is not None and miss > 0:
            r["misses"] += 1
            r["worst_miss"] = max(r["worst_miss"], miss)
            if len(r["missed"]) < 20:
                r["missed"].append({**record, "miss": miss})


def _record(A, b, w, s, fam, idx, d, r, **extra) -> dict[str, Any]:
    return {"index": idx, "d": d, "family": fam, "s": s, "A": A.tolist(), "b": b.tolist(), "w": w.tolist(),
            "lower": r.lower, "upper": r.upper, "method": r.method, **extra}


def run_d2(idx: int, seed: int, tally: Tally) -> None:
    A, b, w, s, fam = make_instance(seed, idx, 2)
    As, ws = np.ldexp(A, s), np.ldexp(w, s)
    A1, w1 = np.ldexp(As, -s), np.ldexp(ws, -s)
    Ao, bo, wo, p = reference_instance(A1, b, w1)
    S = lipschitz(Ao, bo, wo)  # references' units: evaluator results times 2^(p - s)
    coarse = math.ldexp(2.0**-1074, p - s)

    def un(x):
        return math.ldexp(x, p - s)

    for output in ("relu", "linear"):
        M, U, tol = sup_truth_circle(Ao, bo, wo, output)
        t0 = time.perf_counter()
        r = network_error(As, b, ws, output=output, norm="sup")
        dt = time.perf_counter() - t0
        lo, up = un(r.lower), un(r.upper)
        miss = _miss(M - tol - coarse - up, lo - U - tol - coarse, lo - up, lo=lo, up=up)
        tally.add(f"d2 sup {output} (exact-circle)", miss / max(S, 1e-300),
                  _record(A, b, w, s, fam, idx, 2, r, truth=[M, U]), dt)
        T, err = l2_truth_circle(Ao, bo, wo, output)
        for norm, factor in (("l2-sphere", 1.0), ("l2-gaussian", 2.0)):
            lo_t = math.sqrt(factor * max(T - err, 0.0)) * (1 - 4 * EPS) - coarse
            hi_t = math.sqrt(factor * (T + err)) * (1 + 4 * EPS) + coarse
            evals: list[tuple[str, Callable[[], Any]]] = [
                (f"d2 {norm} {output} (exact-circle)", lambda: l2_error_circle(As, b, ws, output=output, norm=norm))]
            if output == "linear":
                evals.append((f"d2 {norm} linear (network_error: kernel)",
                              lambda: network_error(As, b, ws, output="linear", norm=norm)))
            for name, fn in evals:
                t0 = time.perf_counter()
                with np.errstate(all="ignore"):
                    r = fn()
                dt = time.perf_counter() - t0
                lo, up = un(r.lower), un(r.upper)
                miss = _miss(lo - hi_t, lo_t - up, lo - up, lo=lo, up=up)
                tally.add(name, miss / max(S, 1e-300), _record(A, b, w, s, fam, idx, 2, r, truth=[lo_t, hi_t]), dt)


def run_dn(idx: int, seed: int, d: int, tally: Tally, max_cells: int) -> None:
    A, b, w, s, fam = make_instance(seed, idx, d)
    As, ws = np.ldexp(A, s), np.ldexp(w, s)
    A1, w1 = np.ldexp(As, -s), np.ldexp(ws, -s)
    S = lipschitz_nd(A1, b, w1)
    rng = np.random.default_rng([seed, idx, d, 1])

    def un(x):
        return math.ldexp(x, -s)

    for output in ("relu", "linear"):
        t0 = time.perf_counter()
        with np.errstate(all="ignore"):
            r = network_error(As, b, ws, output=output, norm="sup", max_cells=max_cells)
        dt = time.perf_counter() - t0
        lo, up = un(r.lower), un(r.upper)
        T = sup_lower_estimate(A1, b, w1, output, rng)
        wit = []
        if r.witnesses is not None and len(r.witnesses):
            x = np.asarray(r.witnesses[:1], float)
            x = x / np.linalg.norm(x, axis=1, keepdims=True)
            wit = [float(_abs_err(A1, b, w1, x, output)[0])]
        miss = _miss(T - 1e-12 * max(S, 1.0) - up, lo - up, lo=lo, up=up)
        if wit:  # the lower end is attained at the first witness
            miss = max(miss, lo - wit[0] - 1e-9 * max(S, 1e-300))
        tally.add(f"d{d} sup {output} (network_error)", miss / max(S, 1e-300),
                  _record(A, b, w, s, fam, idx, d, r, truth_lower_estimate=T, witness_value=wit,
                          stop=r.stats.get("stop")), dt)
    for norm in ("l2-sphere", "l2-gaussian"):
        t0 = time.perf_counter()
        with np.errstate(all="ignore"):
            r = network_error(As, b, ws, output="linear", norm=norm)
        dt = time.perf_counter() - t0
        lo, up = un(r.lower), un(r.upper)
        T = math.sqrt(max(float(kernel_truth_mp(A1, b, w1, norm)), 0.0))
        miss = _miss(lo - T, T - up, lo=lo, up=up)
        tally.add(f"d{d} {norm} linear (kernel)", miss / max(S, 1e-300),
                  _record(A, b, w, s, fam, idx, d, r, truth=T), dt)
        t0 = time.perf_counter()
        with np.errstate(all="ignore"):
            r = network_error(As, b, ws, output="relu", norm=norm, rng=np.random.default_rng([seed, idx, 2]),
                              n_samples=20_000)
        dt = time.perf_counter() - t0
        lo, up = un(r.lower), un(r.upper)
        band = l2_mc_band(A1, b, w1, "relu", norm, rng)
        miss = _miss(lo - band[1], band[0] - up, lo - up, lo=lo, up=up)
        tally.add(f"d{d} {norm} relu (network_error: proven bounds; statistical truth)", miss / max(S, 1e-300),
                  _record(A, b, w, s, fam, idx, d, r, truth_band=list(band)), dt)


def lipschitz_nd(A, b, w) -> float:
    return float(np.abs(b) @ np.linalg.norm(A, axis=1) + np.linalg.norm(w)) if A.size else float(np.linalg.norm(w))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-cells", type=int, default=200_000, help="branch-and-bound cap per d >= 3 sup call")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "fuzz_evaluators.json"))
    a = ap.parse_args()
    tally = Tally()
    t_start = time.perf_counter()
    jobs = [("d2", 2), ("d3", 3), ("d4", 4)]
    idx = 0
    while time.perf_counter() - t_start < a.seconds:
        for _, d in jobs:
            if d == 2:
                run_d2(idx, a.seed, tally)
            else:
                run_dn(idx, a.seed, d, tally, a.max_cells)
            if time.perf_counter() - t_start >= a.seconds:
                break
        idx += 1
    elapsed = time.perf_counter() - t_start
    machine = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
               "cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
               "scipy": scipy.__version__}
    out = {"seed": a.seed, "seconds_budget": a.seconds, "seconds": elapsed, "rounds": idx, "machine": machine,
           "evaluators": dict(sorted(tally.rows.items()))}
    print(f"seed {a.seed}, {elapsed:.1f} s, {idx} rounds; {machine['processor']}, {machine['cpus']} cpus, "
          f"python {machine['python']}, numpy {machine['numpy']}")
    print("| evaluator | instances | misses | worst miss / S | seconds |")
    print("|---|---|---|---|---|")
    for name, r in sorted(tally.rows.items()):
        print(f"| {name} | {r['instances']} | {r['misses']} | {r['worst_miss']:.3g} | {r['seconds']:.1f} |")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    with open(a.json, "w") as fh:
        json.dump(out, fh, indent=1, default=float)
    print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
