"""Statistics of n* over seeds, with undecided trials kept as brackets.

Every trial gives a bracket n_lo <= n* <= n_hi: a certified trial a point
(n_lo = n_hi = n*), an ``unknown`` trial its proven bracket (n_hi = inf when
no width up to ``max_width`` was certified), a ``failed`` trial the trivial
bracket [1, inf).  Nothing is dropped.  Because a median or a quantile is
monotone in every value, the statistic over all the ways to fill in the
brackets lies exactly in [stat(n_lo), stat(n_hi)]: that interval is what the
report shows, and a statistic is *determined* (a point) when both ends agree.

Confidence intervals are percentile bootstraps over seeds, taken on the
bracket: the lower end is the alpha/2 quantile of the statistic of the
lower-filled resamples, the upper end the 1 - alpha/2 quantile of the
upper-filled ones, so the interval covers every filling.  Resamples are
paired: a resample draws seeds, and every eps (and both paradigms of a gap
ratio) use the same draw, as the seeds are shared by design.

Fits are least squares on the medians: log n* = log C + alpha log(1/eps)
for a power law, n* = a + b log(1/eps) for the log law.  An undetermined
median enters with the midpoint of its bracket (usually two neighbouring
order statistics), one unbounded above is left out, and the fits on the
lower and upper ends of the brackets are reported beside, so the weight of
the undecided trials is visible.  Confidence intervals re-fit the medians of
paired seed resamples.
"""

from __future__ import annotations

import math
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from ..patterns import Pattern
from ..sweep.config import SweepConfig

__all__ = [
    "brackets",
    "median",
    "upper_quantile",
    "bootstrap_ci",
    "success_curve",
    "fit_power",
    "fit_log",
    "fit_with_ci",
    "midpoint",
    "analyze",
    "Group",
]

_SEED = 20_240_601  # base of every bootstrap stream: reports are reproducible


def _rng(*parts: Any) -> np.random.Generator:
    """A bootstrap stream per quantity, so that adding a group never changes
    another group's interval."""
    key = zlib.crc32("/".join(map(str, parts)).encode())
    return np.random.default_rng([_SEED, key])


# the statistics ----------------------------------------------------------------
def brackets(rows: Iterable[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(n_lo, n_hi) per row: the bracket each trial proves on n*."""
    lo, hi = [], []
    for r in rows:
        if r["status"] == "certified":
            lo.append(float(r["n_star"]))
            hi.append(float(r["n_star"]))
        else:
            lo.append(float(r.get("n_lower") or 1))
            hi.append(float(r["n_upper"]) if r["status"] == "unknown" and r.get("n_upper") is not None else math.inf)
    return np.asarray(lo, float), np.asarray(hi, float)


def median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Median ignoring NaN (missing trials); inf (not reached) counts as large."""
    x = np.asarray(x, float)
    if not np.isnan(x).any():  # the common case, and much faster than nanmedian
        return np.median(x, axis=axis)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice is NaN, as meant
        return np.nanmedian(x, axis=axis)


def upper_quantile(x: np.ndarray, q: float, axis: int = -1) -> np.ndarray:
    """The q-quantile as an order statistic (no interpolation: an n* that
    some seed needs), ignoring NaN."""
    x = np.asarray(x, float)
    if not np.isnan(x).any():
        return np.quantile(x, q, axis=axis, method="inverted_cdf")
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(x, q, axis=axis, method="inverted_cdf")


def _level(confidence: float) -> tuple[float, float]:
    a = (1.0 - confidence) / 2.0
    return 100.0 * a, 100.0 * (1.0 - a)


def bootstrap_ci(
    lo: np.ndarray,
    hi: np.ndarray | None = None,
    *,
    stat: str = "median",
    q: float = 0.5,
    confidence: float = 0.95,
    resamples: int = 2000,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median (``stat="median"``) or the
    q-quantile (``stat="quantile"``) of the values bracketed by [lo, hi]."""
    lo = np.asarray(lo, float)
    hi = lo if hi is None else np.asarray(hi, float)
    keep = ~np.isnan(lo)
    lo, hi = lo[keep], hi[keep]
    m = lo.shape[0]
    if m == 0:
        return (math.nan, math.nan)
    rng = rng if rng is not None else np.random.default_rng(_SEED)
    idx = rng.integers(0, m, size=(resamples, m))
    f = median if stat == "median" else (lambda x, axis=-1: upper_quantile(x, q, axis=axis))
    s_lo, s_hi = f(lo[idx], axis=1), f(hi[idx], axis=1)
    p_lo, p_hi = _level(confidence)
    return float(np.percentile(s_lo, p_lo, method="lower")), float(np.percentile(s_hi, p_hi, method="higher"))


def success_curve(lo: np.ndarray, hi: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(n* <= n) at each n of ``widths``, as (proven, possible): the fraction
    of trials whose n_hi <= n (certainly succeeded by n) and whose n_lo <= n
    (may have).  Equal when every trial is certified."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    keep = ~np.isnan(lo)
    lo, hi = lo[keep], hi[keep]
    if lo.size == 0:
        z = np.full(len(widths), math.nan)
        return z, z
    w = np.asarray(widths, float)[:, None]
    return (hi[None, :] <= w).mean(axis=1), (lo[None, :] <= w).mean(axis=1)


# fits -------------------------------------------------------------------------
def _linfit(x: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (slope, intercept) of each row of Y against x, vectorised."""
    x = np.asarray(x, float)
    Y = np.asarray(Y, float)
    xc = x - x.mean()
    slope = (Y - Y.mean(axis=-1, keepdims=True)) @ xc / (xc @ xc)
    return slope, Y.mean(axis=-1) - slope * x.mean()


def fit_power(eps: Sequence[float], n: Sequence[float]) -> dict[str, float]:
    """n = C eps^-alpha by least squares on log n = log C + alpha log(1/eps)."""
    x, y = np.log(1.0 / np.asarray(eps, float)), np.log(np.asarray(n, float))
    alpha, logc = _linfit(x, y)
    return {"C": float(math.exp(logc)), "alpha": float(alpha), "r2": _r2(x, y, float(alpha), float(logc))}


def fit_log(eps: Sequence[float], n: Sequence[float]) -> dict[str, float]:
    """n = a + b log(1/eps) by least squares."""
    x, y = np.log(1.0 / np.asarray(eps, float)), np.asarray(n, float)
    b, a = _linfit(x, y)
    return {"a": float(a), "b": float(b), "r2": _r2(x, y, float(b), float(a))}


def _r2(x: np.ndarray, y: np.ndarray, slope: float, icpt: float) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    res = float(((y - (slope * x + icpt)) ** 2).sum())
    return 1.0 - res / ss if ss > 0 else 1.0


def _fit_many(model: str, eps: np.ndarray, N: np.ndarray) -> dict[str, np.ndarray]:
    """The fit of each row of N (resamples x eps), vectorised."""
    x = np.log(1.0 / eps)
    if model == "power":
        alpha, logc = _linfit(x, np.log(N))
        return {"C": np.exp(logc), "alpha": alpha}
    b, a = _linfit(x, N)
    return {"a": a, "b": b}


FIT_MODELS = {
    "power": {"fn": fit_power, "params": ("C", "alpha"), "formula": "n* = C * eps^(-alpha)"},
    "log": {"fn": fit_log, "params": ("a", "b"), "formula": "n* = a + b * log(1/eps)"},
}


def midpoint(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The middle of a bracket; its lower end when it is unbounded above."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(hi), (lo + hi) / 2.0, lo)


def fit_with_ci(
    eps: Sequence[float],
    lo: np.ndarray,
    hi: np.ndarray,
    model: str,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    rng: np.random.Generator | None = None,
) -> dict[str, Any] | None:
    """Fit ``model`` to the medians over seeds of each eps, with bootstrap CIs.

    ``lo``, ``hi``: (n_eps, n_seeds) brackets (NaN: trial missing), columns
    aligned by seed.  Each eps enters with the midpoint of its median's
    bracket (the median itself when determined); an eps whose median is
    unbounded above (half its trials undecided or more) is left out.  The
    fits on the two ends of the brackets are reported too (``bracket_fits``),
    so the effect of the undecided trials is visible.  At least two eps are
    needed (None otherwise)."""
    spec = FIT_MODELS[model]
    eps = np.asarray(eps, float)
    m_lo, m_hi = median(lo, axis=1), median(hi, axis=1)
    use = np.isfinite(m_hi) & np.isfinite(m_lo)
    if use.sum() < 2:
        return None
    point = spec["fn"](eps[use], midpoint(m_lo[use], m_hi[use]))
    ends = {"lower": spec["fn"](eps[use], m_lo[use]), "upper": spec["fn"](eps[use], m_hi[use])}
    rng = rng if rng is not None else np.random.default_rng(_SEED)
    sub_lo, sub_hi = lo[use], hi[use]
    n_seeds = sub_lo.shape[1]
    cols = rng.integers(0, n_seeds, size=(resamples, n_seeds))
    # (eps, resamples, seeds) -> medians (resamples, eps), paired: one seed draw for every eps
    med = midpoint(median(sub_lo[:, cols], axis=2), median(sub_hi[:, cols], axis=2)).T
    ok = np.all(np.isfinite(med), axis=1)  # drop resamples that drew only missing trials of some eps
    draws = _fit_many(model, eps[use], med[ok])
    p_lo, p_hi = _level(confidence)
    params = {}
    for p in spec["params"]:
        values = draws[p]
        ci = (float(np.percentile(values, p_lo)), float(np.percentile(values, p_hi))) if values.size else (math.nan, math.nan)
        params[p] = {"estimate": point[p], "ci": list(ci)}
    return {
        "model": model,
        "formula": spec["formula"],
        "params": params,
        "r2": point["r2"],
        "bracket_fits": {end: {p: f[p] for p in spec["params"]} for end, f in ends.items()},
        "eps_fitted": [float(e) for e in eps[use]],
        "eps_undetermined": [float(e) for e, a, b in zip(eps[use], m_lo[use], m_hi[use]) if a != b],
        "eps_excluded": [float(e) for e in eps[~use]],
    }


# the whole analysis ------------------------------------------------------------
@dataclass
class Group:
    """The trials of one (study, d, eps), aligned by seed."""

    study: str
    paradigm: str
    method: str
    d: int
    eps: float
    lo: np.ndarray  # (n_seeds,) lower end of n*'s bracket, NaN where the trial is missing
    hi: np.ndarray  # (n_seeds,) upper end, inf when not reached
    counts: dict[str, int] = field(default_factory=dict)  # status -> trials
    limits: dict[str, int] = field(default_factory=dict)  # limit that fired -> trials


def _groups(rows: list[dict[str, Any]], seeds: list[int]) -> dict[tuple[str, int, float], Group]:
    col = {s: i for i, s in enumerate(seeds)}
    out: dict[tuple[str, int, float], Group] = {}
    for r in rows:
        g = (r["study"], int(r["d"]), float(r["eps"]))
        if g not in out:
            nan = np.full(len(seeds), math.nan)
            out[g] = Group(r["study"], r["paradigm"], r["method"], g[1], g[2], nan.copy(), nan.copy())
        grp = out[g]
        lo, hi = brackets([r])
        grp.lo[col[int(r["seed"])]] = lo[0]
        grp.hi[col[int(r["seed"])]] = hi[0]
        grp.counts[r["status"]] = grp.counts.get(r["status"], 0) + 1
        if r.get("limit"):
            kind = str(r["limit"]).split(" (")[0]
            grp.limits[kind] = grp.limits.get(kind, 0) + 1
    return out


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def analyze(rows: list[dict[str, Any]], config: SweepConfig) -> dict[str, Any]:
    """Everything the report shows, JSON-ready: ``trials``, ``groups``,
    ``success`` (P(n* <= n) at each width where it changes, proven and
    possible), ``fits``, ``gap``, ``reference``.

    ``rows``: results rows (``Store.rows()``); ``config``: the sweep
    (:class:`~prunegap.sweep.config.SweepConfig`), for the planned trials,
    the fit of each study, the gap pair and the analysis parameters."""
    a = config.analysis
    q = 1.0 - a.delta
    seeds = sorted({int(r["seed"]) for r in rows} | set(config.seeds))
    groups = _groups(rows, seeds)
    planned: dict[str, int] = {}
    for t in config.trials():
        planned[t.study] = planned.get(t.study, 0) + 1
    by_status = {s: sum(1 for r in rows if r["status"] == s) for s in ("certified", "unknown", "failed")}
    trials = {
        "total": len(rows),
        **by_status,
        "planned": sum(planned.values()),
        "missing": sum(planned.values()) - len(rows),
        "by_study": {
            s.name: {
                "planned": planned.get(s.name, 0),
                "stored": sum(1 for r in rows if r["study"] == s.name),
                **{k: sum(1 for r in rows if r["study"] == s.name and r["status"] == k) for k in ("certified", "unknown", "failed")},
            }
            for s in config.studies
        },
    }

    gstats = []
    for key in sorted(groups, key=lambda k: (_study_order(config, k[0]), k[1], -k[2])):
        g = groups[key]
        present = ~np.isnan(g.lo)
        med = (float(median(g.lo)), float(median(g.hi)))
        qua = (float(upper_quantile(g.lo, q)), float(upper_quantile(g.hi, q)))
        ci_m = bootstrap_ci(g.lo, g.hi, stat="median", confidence=a.confidence, resamples=a.bootstrap,
                            rng=_rng("median", *key))
        ci_q = bootstrap_ci(g.lo, g.hi, stat="quantile", q=q, confidence=a.confidence, resamples=a.bootstrap,
                            rng=_rng("quantile", *key))
        gstats.append(
            {
                "study": g.study, "paradigm": g.paradigm, "method": g.method, "d": g.d, "eps": g.eps,
                "trials": int(present.sum()),
                "certified": g.counts.get("certified", 0), "unknown": g.counts.get("unknown", 0),
                "failed": g.counts.get("failed", 0), "limits": dict(g.limits),
                "median": med[0] if med[0] == med[1] and math.isfinite(med[0]) else None,
                "median_bracket": [_num(med[0]), _num(med[1])],
                "median_mid": _num(float(midpoint(med[0], med[1]))) if math.isfinite(med[1]) else None,
                "median_ci": [_num(ci_m[0]), _num(ci_m[1])],
                "quantile_level": q,
                "quantile": qua[0] if qua[0] == qua[1] and math.isfinite(qua[0]) else None,
                "quantile_bracket": [_num(qua[0]), _num(qua[1])],
                "quantile_mid": _num(float(midpoint(qua[0], qua[1]))) if math.isfinite(qua[1]) else None,
                "quantile_ci": [_num(ci_q[0]), _num(ci_q[1])],
                "n_lo": [_num(x) for x in g.lo[present]],
                "n_hi": [_num(x) for x in g.hi[present]],
            }
        )

    success = []
    for g in gstats:
        lo = np.array([x for x in g["n_lo"]], float)
        hi = np.array([x if x is not None else math.inf for x in g["n_hi"]], float)
        widths = np.unique(np.concatenate([lo, hi[np.isfinite(hi)]]))
        proven, possible = success_curve(lo, hi, widths)
        success.append({"study": g["study"], "d": g["d"], "eps": g["eps"], "widths": [int(w) for w in widths],
                        "proven": [float(p) for p in proven], "possible": [float(p) for p in possible]})

    fits = []
    for s in config.studies:
        if s.fit == "none":
            continue
        for d in sorted({k[1] for k in groups if k[0] == s.name}):
            ks = sorted((k for k in groups if k[0] == s.name and k[1] == d and k[2] <= a.fit_eps_max),
                        key=lambda k: -k[2])
            if not ks:
                continue
            lo = np.vstack([groups[k].lo for k in ks])
            # a proofs-only study's n* is unbounded above: what it measures, and what is fitted, is the
            # growth of its certified lower end
            hi = lo if s.bound == "lower" else np.vstack([groups[k].hi for k in ks])
            f = fit_with_ci([k[2] for k in ks], lo, hi, s.fit, confidence=a.confidence, resamples=a.bootstrap,
                            rng=_rng("fit", s.name, d))
            if f is not None:
                if s.bound == "lower":
                    f["formula"] = f["formula"].replace("n*", "n_lower")
                fits.append({"study": s.name, "paradigm": s.paradigm, "method": s.method, "d": d,
                             "of": "n_lower" if s.bound == "lower" else "n*", **f})

    gap = []
    pair = config.gap_pair()
    if pair is not None:
        num, den = pair
        for (study, d, eps) in sorted(groups, key=lambda k: (k[1], -k[2])):
            if study != num or (den, d, eps) not in groups:
                continue
            gn, gd = groups[(num, d, eps)], groups[(den, d, eps)]
            gap.append({"d": d, "eps": eps, "numerator": num, "denominator": den,
                        **_ratio(gn, gd, a.confidence, a.bootstrap, _rng("gap", num, den, d, eps))})
    lower = [s for s in config.studies if s.bound == "lower"]
    weights = [s.name for s in config.studies if s.paradigm == "weight" and s.bound == "both"]
    for s in lower:
        # the frontier's ratio against every weight study at the same (d, eps): n_lower over n_upper, a
        # certified lower bound of the ratio of the medians (bracket[0])
        for (study, d, eps) in sorted(groups, key=lambda k: (k[1], -k[2])):
            if study != s.name:
                continue
            for den in weights:
                if (den, d, eps) in groups:
                    gap.append({"d": d, "eps": eps, "numerator": s.name, "denominator": den, "bound": "lower",
                                **_ratio(groups[(s.name, d, eps)], groups[(den, d, eps)], a.confidence,
                                         a.bootstrap, _rng("gap", s.name, den, d, eps))})
    frontier = _frontier(groups, lower, a.confidence, a.bootstrap)

    return {
        "trials": trials,
        "groups": gstats,
        "success": success,
        "fits": fits,
        "gap": gap,
        "frontier": frontier,
        "studies": study_info(config),
        "targets": _targets(gstats, config),
        "reference": _reference(gstats),
        "analysis": {"confidence": a.confidence, "delta": a.delta, "quantile_level": q, "bootstrap": a.bootstrap},
    }


def _pattern_text(paradigm: str, options: dict[str, Any]) -> str | None:
    """The pattern's parameter as the report writes it ("2:4", "B = 8"), or None."""
    if paradigm not in ("nm", "block"):
        return None
    p = Pattern.of(paradigm, nm=options.get("nm"), block=options.get("block")).to_dict()
    return str(p["nm"]) if paradigm == "nm" else f"B = {p['block']}"


def study_info(config: SweepConfig) -> list[dict[str, Any]]:
    """Per study, in config order: its paradigm, pattern parameter, target, and the label the
    figures give it (the name, with the pattern parameter where the name does not show it, so
    two N:M studies are told apart even under names that do not say which N:M)."""
    out = []
    for s in config.studies:
        options = dict(s.options)
        try:
            pattern = _pattern_text(s.paradigm, options)
        except Exception:  # noqa: BLE001 - a stored study of a pattern this version cannot parse: no parameter
            pattern = None
        label = s.name
        if pattern and pattern.replace("B = ", "") not in s.name:
            label = f"{s.name} ({pattern})"
        out.append({
            "study": s.name, "paradigm": s.paradigm, "method": s.method, "label": label, "pattern": pattern,
            "target": s.target, "target_width": s.target_width, "target_depth": s.target_depth,
            "family": (s.family or s.name) if s.target == "network" else None, "bound": s.bound,
        })
    return out


def _targets(gstats: list[dict[str, Any]], config: SweepConfig) -> list[dict[str, Any]]:
    """The medians of n* of every network-target study, keyed by its family and K: the points of
    n* against the target width K (one family = one declared study with a list of K)."""
    info = {s["study"]: s for s in study_info(config)}
    out = []
    for g in gstats:
        s = info.get(g["study"])
        if s is None or s["target"] != "network":
            continue
        out.append({
            "family": s["family"], "study": g["study"], "paradigm": g["paradigm"], "method": g["method"],
            "target_width": s["target_width"], "target_depth": s["target_depth"], "d": g["d"], "eps": g["eps"],
            "trials": g["trials"], "median": g["median"], "median_bracket": g["median_bracket"],
            "median_mid": g["median_mid"], "median_ci": g["median_ci"],
        })
    return sorted(out, key=lambda r: (r["family"], r["d"], -r["eps"], r["target_width"]))


def _study_order(config: SweepConfig, name: str) -> int:
    names = [s.name for s in config.studies]
    return names.index(name) if name in names else len(names)


def _ratio(gn: Group, gd: Group, confidence: float, resamples: int, rng: np.random.Generator) -> dict[str, Any]:
    """Ratio of medians, paired by seed, with its bracket and bootstrap CI;
    ``ratio`` is the ratio of the medians' bracket midpoints (None when one
    is unbounded), ``determined`` whether the bracket is a point."""
    both = ~np.isnan(gn.lo) & ~np.isnan(gd.lo)
    if not both.any():
        return {"ratio": None, "bracket": [None, None], "ci": [None, None], "pairs": 0}
    nl, nh, dl, dh = gn.lo[both], gn.hi[both], gd.lo[both], gd.hi[both]
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = float(median(nl) / median(dh))
        hi = float(median(nh) / median(dl))
        m = nl.shape[0]
        idx = rng.integers(0, m, size=(resamples, m))
        r_lo = median(nl[idx], axis=1) / median(dh[idx], axis=1)
        r_hi = median(nh[idx], axis=1) / median(dl[idx], axis=1)
    p_lo, p_hi = _level(confidence)
    with np.errstate(invalid="ignore"):  # order statistics: no interpolation between inf and inf
        ci = (float(np.nanpercentile(r_lo, p_lo, method="lower")), float(np.nanpercentile(r_hi, p_hi, method="higher")))
    mid_n = float(midpoint(median(nl), median(nh)))
    mid_d = float(midpoint(median(dl), median(dh)))
    finite = math.isfinite(float(median(nh))) and math.isfinite(float(median(dh)))
    return {
        "ratio": mid_n / mid_d if finite else None,
        "determined": bool(lo == hi and math.isfinite(lo)),
        "bracket": [_num(lo), _num(hi)],
        "ci": [_num(ci[0]), _num(ci[1])],
        "pairs": int(m),
    }


def _frontier(groups: dict[tuple[str, int, float], Group], studies: list[Any], confidence: float,
              resamples: int) -> list[dict[str, Any]]:
    """One entry per (proofs-only study, d, eps): the median over seeds of the certified lower end
    n_lower, with its bootstrap interval (a statement about the median of n_lower, itself a proven
    lower bound of each seed's n*)."""
    out = []
    names = {s.name for s in studies}
    for (study, d, eps), g in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[0][2])):
        if study not in names:
            continue
        present = ~np.isnan(g.lo)
        if not present.any():
            continue
        ci = bootstrap_ci(g.lo, g.lo, stat="median", confidence=confidence, resamples=resamples,
                          rng=_rng("frontier", study, d, eps))
        settled = int(np.sum(present & (g.lo == g.hi)))
        out.append({"study": study, "d": d, "eps": eps, "median_n_lower": _num(float(median(g.lo))),
                    "ci": [_num(ci[0]), _num(ci[1])], "seeds": int(present.sum()),
                    "n_lower": [_num(x) for x in g.lo[present]], "settled": settled})
    return out


def _reference(gstats: list[dict[str, Any]]) -> dict[str, Any]:
    """Scales of the paper's two bounds, c d / eps (neuron pruning) and
    C d log(1/eps) (weight pruning), fitted in log space to the medians
    (bracket midpoints) of each paradigm so the curves can be drawn beside the data;
    only their shapes come from the paper."""
    out: dict[str, Any] = {}
    shapes = {
        "neuron": ("c", "n* = c * d / eps", lambda d, e: d / e),
        "weight": ("C", "n* = C * d * log(1/eps)", lambda d, e: d * math.log(1.0 / e)),
    }
    for paradigm, (name, formula, shape) in shapes.items():
        pts = [(g["d"], g["eps"], g["median_mid"]) for g in gstats if g["paradigm"] == paradigm and g["median_mid"]]
        if not pts:
            continue
        logs = [math.log(m) - math.log(shape(d, e)) for d, e, m in pts]
        out[paradigm] = {"constant": name, "value": math.exp(sum(logs) / len(logs)), "formula": formula}
    return out


def reference_curve(paradigm: str, value: float, d: int, eps: np.ndarray) -> np.ndarray:
    """The scaled theory curve of ``paradigm`` at ``eps``."""
    eps = np.asarray(eps, float)
    if paradigm == "neuron":
        return value * d / eps
    return value * d * np.log(1.0 / eps)
