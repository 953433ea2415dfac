"""The analysis (known answers on synthetic data) and the report files."""

import json
import math
import re

import numpy as np
import pytest

from prunegap.cli import main
from prunegap.report import build_report
from prunegap.report.analysis import (
    analyze,
    bootstrap_ci,
    brackets,
    fit_log,
    fit_power,
    fit_with_ci,
    median,
    success_curve,
    upper_quantile,
)
from prunegap.sweep import Store, parse_config
from prunegap.sweep.trials import empty_row

EPS = [0.2, 0.1, 0.05, 0.025, 0.0125]


def synthetic_config(seeds: int = 30, **analysis):
    """Two studies on one grid; the rows come from `synthetic_rows`."""
    grid = "{ d2 = [" + ", ".join(map(repr, EPS)) + "] }"
    doc = {
        "seeds": seeds,
        "studies": [
            {"paradigm": "neuron", "method": "mip", "grid": {"d2": EPS}},
            {"paradigm": "weight", "method": "construction", "grid": {"d2": EPS}},
        ],
    }
    if analysis:
        doc["analysis"] = analysis
    assert grid  # the same grid, spelled as TOML in the docs
    return parse_config(doc)


def synthetic_rows(config, *, alpha=1.2, C=2.0, a=20.0, b=6.0, noise=0.25, unknown=(), failed=(), rng_seed=0):
    """n*_neuron = C eps^-alpha * lognormal, n*_weight = a + b log(1/eps) + normal.
    ``unknown``/``failed``: (study, eps, seed) triples stored as such."""
    rng = np.random.default_rng(rng_seed)
    rows, truth = [], {}
    for t in config.trials():
        if t.paradigm == "neuron":
            n = C * t.eps ** (-alpha) * rng.lognormal(0.0, noise)
        else:
            n = a + b * math.log(1 / t.eps) + rng.normal(0.0, 2.0)
        n = max(1, int(round(n)))
        truth[t.key] = n
        r = empty_row(t)
        r["seconds"] = 0.01
        if (t.study, t.eps, t.seed) in unknown:
            r.update(status="unknown", n_lower=max(1, n - 3), n_upper=n + 5, limit="node_limit (100)")
        elif (t.study, t.eps, t.seed) in failed:
            r.update(status="failed", reason="RuntimeError: synthetic")
        else:
            r.update(status="certified", n_star=n, n_lower=n, n_upper=n, width=n, verdict="yes")
        rows.append(r)
    return rows, truth


# the statistics --------------------------------------------------------------------
def test_brackets_by_status():
    rows = [
        {"status": "certified", "n_star": 7, "n_lower": 7, "n_upper": 7},
        {"status": "unknown", "n_star": None, "n_lower": 4, "n_upper": 9},
        {"status": "unknown", "n_star": None, "n_lower": 33, "n_upper": None},
        {"status": "failed", "n_star": None, "n_lower": 1, "n_upper": None},
    ]
    lo, hi = brackets(rows)
    assert lo.tolist() == [7, 4, 33, 1] and hi.tolist() == [7, 9, math.inf, math.inf]


def test_quantile_is_an_order_statistic_and_ignores_missing():
    x = np.array([5.0, 1.0, np.nan, 3.0, 2.0, 4.0])
    assert median(x) == 3.0 and upper_quantile(x, 0.9) == 5.0 and upper_quantile(x, 0.5) == 3.0


def test_bootstrap_ci_covers_the_true_median():
    """Coverage of the percentile bootstrap of a median, 200 repetitions of 30 seeds."""
    rng = np.random.default_rng(7)
    true_median = math.exp(3.0)
    hits = 0
    for _ in range(200):
        x = rng.lognormal(3.0, 0.5, size=30)
        lo, hi = bootstrap_ci(x, confidence=0.95, resamples=400, rng=rng)
        hits += lo <= true_median <= hi
    assert hits / 200 >= 0.88, hits


def test_bootstrap_ci_of_brackets_contains_every_filling():
    rng = np.random.default_rng(1)
    lo = rng.integers(10, 100, size=25).astype(float)
    hi = lo.copy()
    hi[:5] = lo[:5] + 20  # five undecided trials
    ci = bootstrap_ci(lo, hi, resamples=500, rng=np.random.default_rng(3))
    for fill in (lo, hi, (lo + hi) / 2):
        c = bootstrap_ci(fill, resamples=500, rng=np.random.default_rng(3))
        assert ci[0] <= c[0] and c[1] <= ci[1]


def test_success_curve_with_brackets():
    lo = np.array([10.0, 20.0, 5.0, 30.0])
    hi = np.array([10.0, 20.0, 15.0, np.inf])
    proven, possible = success_curve(lo, hi, np.array([4, 10, 15, 20, 1000]))
    assert proven.tolist() == [0.0, 0.25, 0.5, 0.75, 0.75]
    assert possible.tolist() == [0.0, 0.5, 0.5, 0.75, 1.0]


def test_exact_fits():
    eps = np.array(EPS)
    f = fit_power(eps, 3.0 * eps**-1.5)
    assert f["alpha"] == pytest.approx(1.5) and f["C"] == pytest.approx(3.0) and f["r2"] == pytest.approx(1.0)
    g = fit_log(eps, 7.0 + 4.0 * np.log(1 / eps))
    assert g["a"] == pytest.approx(7.0) and g["b"] == pytest.approx(4.0)


def test_fit_needs_two_bounded_medians():
    lo = np.array([[5.0, 6.0, 7.0], [50.0, 60.0, 70.0]])
    hi = lo.copy()
    hi[1] = np.inf  # the whole second eps undecided above
    assert fit_with_ci([0.1, 0.01], lo, hi, "power", resamples=100) is None


# the analysis of a sweep ---------------------------------------------------------------
def test_analysis_recovers_alpha_and_b():
    cfg = synthetic_config(seeds=30)
    rows, _ = synthetic_rows(cfg, alpha=1.2, C=2.0, a=20.0, b=6.0)
    out = analyze(rows, cfg)
    fits = {f["study"]: f for f in out["fits"]}
    alpha = fits["neuron-mip"]["params"]["alpha"]
    assert abs(alpha["estimate"] - 1.2) < 0.08 and alpha["ci"][0] <= 1.2 <= alpha["ci"][1]
    b = fits["weight-construction"]["params"]["b"]
    assert abs(b["estimate"] - 6.0) < 0.8 and b["ci"][0] <= 6.0 <= b["ci"][1]
    assert fits["neuron-mip"]["model"] == "power" and fits["weight-construction"]["model"] == "log"
    assert out["trials"] == {
        "total": 300, "certified": 300, "unknown": 0, "failed": 0, "planned": 300, "missing": 0,
        "by_study": out["trials"]["by_study"],
    }
    # the gap: medians paired by seed, one ratio per shared eps
    assert [g["eps"] for g in out["gap"]] == EPS and all(g["determined"] for g in out["gap"])
    g = out["gap"][-1]
    med = {s: next(x for x in out["groups"] if x["study"] == s and x["eps"] == g["eps"])["median"]
           for s in ("neuron-mip", "weight-construction")}
    assert g["ratio"] == pytest.approx(med["neuron-mip"] / med["weight-construction"])
    assert g["ci"][0] <= g["ratio"] <= g["ci"][1]


def test_unknown_and_failed_trials_are_counted_not_dropped():
    cfg = synthetic_config(seeds=10)
    unknown = {("neuron-mip", 0.0125, s) for s in (0, 1, 2)}
    failed = {("weight-construction", 0.2, 4)}
    rows, truth = synthetic_rows(cfg, unknown=unknown, failed=failed)
    out = analyze(rows, cfg)
    t = out["trials"]
    assert (t["total"], t["certified"], t["unknown"], t["failed"]) == (100, 96, 3, 1)
    g = next(x for x in out["groups"] if x["study"] == "neuron-mip" and x["eps"] == 0.0125)
    assert g["trials"] == 10 and g["unknown"] == 3 and g["limits"] == {"node_limit": 3}
    true_median = float(np.median([truth[f"neuron-mip/d=2/eps=0.0125/seed={s}"] for s in range(10)]))
    lo, hi = g["median_bracket"]
    assert lo <= true_median <= hi
    assert g["median_ci"][0] <= lo and hi <= g["median_ci"][1]
    w = next(x for x in out["groups"] if x["study"] == "weight-construction" and x["eps"] == 0.2)
    assert w["failed"] == 1 and w["trials"] == 10
    curve = next(c for c in out["success"] if c["study"] == "neuron-mip" and c["eps"] == 0.0125)
    assert curve["proven"][-1] == 1.0 and curve["possible"][-1] == 1.0  # bounded brackets: all done by the end
    assert all(p <= q for p, q in zip(curve["proven"], curve["possible"]))
    curve = next(c for c in out["success"] if c["study"] == "weight-construction" and c["eps"] == 0.2)
    assert curve["proven"][-1] == 0.9 and curve["possible"][-1] == 1.0  # the failed trial may need any width


def test_missing_trials_are_reported():
    cfg = synthetic_config(seeds=10)
    rows, _ = synthetic_rows(cfg)
    out = analyze([r for r in rows if r["study"] == "weight-construction"], cfg)
    assert out["trials"]["missing"] == 50 and out["trials"]["by_study"]["neuron-mip"]["stored"] == 0
    assert out["gap"] == [] and [f["study"] for f in out["fits"]] == ["weight-construction"]


# the report files ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    cfg = synthetic_config(seeds=12, bootstrap=300)
    rows, _ = synthetic_rows(cfg, unknown={("neuron-mip", 0.0125, 0)}, failed={("weight-construction", 0.1, 1)})
    with Store.for_sweep(folder, cfg) as store:
        for r in rows:
            store.insert(r)
    return folder, build_report(folder)


def test_report_files(report_dir):
    folder, rep = report_dir
    for name in ("nstar", "gap", "success"):
        for ext in ("png", "pdf"):
            for size in ("", "-1col"):  # two-column and one-column widths
                p = folder / "figures" / f"{name}{size}.{ext}"
                assert p.is_file() and p.stat().st_size > 1000, p
                assert rep.figures[f"{name}{size}.{ext}"] == p
    assert (folder / "figures" / "nstar.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "figures" / "nstar.pdf").read_bytes()[:5] == b"%PDF-"
    summary = json.loads((folder / "summary.json").read_text())
    assert {"fits", "gap", "trials"} <= set(summary)
    assert {k: summary["trials"][k] for k in ("total", "certified", "unknown")} == {"total": 120, "certified": 118, "unknown": 1}
    assert summary["trials"]["failed"] == 1 and summary["fingerprint"]
    assert "Trials: 120 of 120 stored: 118 certified, 1 unknown, 1 failed." in rep.markdown


def test_report_html_is_self_contained(report_dir):
    folder, _ = report_dir
    page = (folder / "report.html").read_text()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page, flags=re.I)
    assert len(refs) >= 3 and all(r.startswith("data:") for r in refs), [r[:40] for r in refs]
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    assert "url(" not in page.replace("data:", "")
    assert "Failed trials" in page and "RuntimeError: synthetic" in page and "[[studies]]" in page


def test_report_is_reproducible_and_rebuilt_by_the_cli(report_dir, capsys):
    folder, rep = report_dir
    before = (folder / "summary.json").read_text()
    pdf = (folder / "figures" / "gap.pdf").read_bytes()
    assert main(["report", str(folder)]) == 0
    assert capsys.readouterr().out.startswith(f"## prunegap gap: {folder}")
    assert (folder / "summary.json").read_text() == before
    assert (folder / "figures" / "gap.pdf").read_bytes() == pdf


def test_fit_eps_max_keeps_only_the_small_eps():
    # the scaling laws are asymptotic: above fit_eps_max a median must not move the fit
    import dataclasses

    cfg = synthetic_config(seeds=12, fit_eps_max=1.0)
    rows, _ = synthetic_rows(cfg, alpha=1.2, C=2.0, a=20.0, b=6.0)
    big = max(r["eps"] for r in rows)
    for r in rows:
        if r["eps"] == big and r["study"] == "neuron-mip":
            r["n_star"] = r["n_lower"] = r["n_upper"] = 5000  # far off the law
    wild = {f["study"]: f for f in analyze(rows, cfg)["fits"]}["neuron-mip"]
    cut = dataclasses.replace(cfg, analysis=dataclasses.replace(cfg.analysis, fit_eps_max=big / 2))
    fit = {f["study"]: f for f in analyze(rows, cut)["fits"]}["neuron-mip"]
    assert big not in fit["eps_fitted"] and big in wild["eps_fitted"]
    err_cut = abs(fit["params"]["alpha"]["estimate"] - 1.2)
    err_wild = abs(wild["params"]["alpha"]["estimate"] - 1.2)
    assert err_cut < 0.15 and err_wild > 3 * err_cut, (err_cut, err_wild)


# the certified frontier ------------------------------------------------------------------
def _frontier_config():
    return parse_config({
        "seeds": 6,
        "studies": [
            {"paradigm": "weight", "method": "construction", "grid": {"d2": EPS, "d3": [0.1, 0.05]}},
            {"name": "neuron-frontier", "paradigm": "neuron", "method": "mip", "bound": "lower", "seeds": 4,
             "fit": "power", "grid": {"d2": EPS, "d3": [0.1, 0.05]}},
        ],
        "analysis": {"bootstrap": 300},
    })


def _frontier_rows(config, C=1.5, alpha=1.0, rng_seed=1):
    """Frontier trials: n_lower = C d eps^-alpha times noise, n* unsettled; weight: a certified n*."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for t in config.trials():
        r = empty_row(t)
        r["seconds"] = 0.01
        if t.study == "neuron-frontier":
            lo = max(1, int(round(C * t.d * t.eps ** (-alpha) * rng.lognormal(0.0, 0.1))))
            r.update(status="unknown", n_lower=lo, n_upper=None, limit="bound lower (proofs only)")
        else:
            n = max(1, int(round(20 + 5 * math.log(1 / t.eps) + rng.normal(0.0, 1.0))))
            r.update(status="certified", n_star=n, n_lower=n, n_upper=n, width=n, verdict="yes")
        rows.append(r)
    return rows


def test_frontier_entries_are_medians_of_the_proven_lower_ends():
    cfg = _frontier_config()
    rows = _frontier_rows(cfg)
    res = analyze(rows, cfg)
    fr = {(r["d"], r["eps"]): r for r in res["frontier"]}
    assert set(fr) == {(2, e) for e in EPS} | {(3, 0.1), (3, 0.05)}
    for (d, eps), r in fr.items():
        lows = [x["n_lower"] for x in rows if x["study"] == "neuron-frontier" and x["d"] == d and x["eps"] == eps]
        assert r["seeds"] == 4 == len(lows) and r["median_n_lower"] == float(np.median(lows))
        assert r["ci"][0] <= r["median_n_lower"] <= r["ci"][1] and r["settled"] == 0
    # the gap's certified lower bound: median n_lower / median n_upper over the paired seeds (0..3)
    for g in (g for g in res["gap"] if g.get("bound") == "lower"):
        num = [x["n_lower"] for x in rows if x["study"] == "neuron-frontier" and x["d"] == g["d"] and x["eps"] == g["eps"]]
        den = [x["n_upper"] for x in rows if x["study"] == "weight-construction" and x["d"] == g["d"]
               and x["eps"] == g["eps"] and x["seed"] < 4]
        assert g["pairs"] == 4 and g["bracket"][1] is None
        assert g["bracket"][0] == pytest.approx(float(np.median(num)) / float(np.median(den)))
    # the fit is of the lower ends, and recovers their exponent
    f = next(f for f in res["fits"] if f["study"] == "neuron-frontier" and f["d"] == 2)
    assert f["of"] == "n_lower" and f["formula"].startswith("n_lower")
    assert abs(f["params"]["alpha"]["estimate"] - 1.0) < 0.1
    assert f["params"]["alpha"]["ci"][0] <= f["params"]["alpha"]["estimate"] <= f["params"]["alpha"]["ci"][1]


def test_frontier_report_files(tmp_path):
    cfg = _frontier_config()
    with Store.for_sweep(tmp_path, cfg) as store:
        for r in _frontier_rows(cfg):
            store.insert(r)
    rep = build_report(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frontier"] and set(summary["frontier"][0]) >= {"study", "d", "eps", "median_n_lower", "ci", "seeds"}
    for name in ("nstar", "gap", "frontier"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000
    html = (tmp_path / "report.html").read_text()
    assert "The certified frontier" in html and "What is proven" in html and "What is fitted" in html
    assert "Certified lower bound of the gap ratio" in rep.markdown
