"""The report page: one self-contained HTML file (inline CSS, figures as
base64 ``data:`` URIs, no script, no external link), readable offline, and a
short Markdown summary for the terminal."""

from __future__ import annotations

import math
from typing import Any

from ..sweep.trials import environment_limited
from ._html import esc, html_figure, html_table
from .popup import popup_html

__all__ = ["render_html", "render_markdown"]

_CSS = """
body { font: 15px/1.5 -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1d1d1f;
       max-width: 1100px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 2em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.88em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e5e5e5; text-align: right; vertical-align: top; }
th { background: #f6f6f6; } td.l, th.l { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.4em; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.82em; }
.box { background: #f4f8fc; border-left: 4px solid #1f5fa8; padding: 0.6em 1em; }
.warn { background: #fdf6ec; border-left: 4px solid #d68910; padding: 0.6em 1em; }
.undet { color: #a15c00; }
"""


def _n(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "&infin;"
    if isinstance(x, float) and not math.isfinite(x):
        return "&infin;"
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e9:
        return str(int(x))
    return f"{x:.{digits}g}"


def _ci(pair: list[float | None]) -> str:
    return f"[{_n(pair[0])}, {_n(pair[1])}]"


def _fit_header(conf: str) -> list[str]:
    """The columns of a fits table (:func:`_fit_rows`)."""
    return ["study", "d", "model", f"parameters [{conf} CI]", "R&sup2;", "eps fitted",
            "fits on the bracket ends (lower to upper)", "eps left out (median unbounded)"]


def _fit_rows(fits: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for f in fits:
        params = "; ".join(f"{k} = {_n(v['estimate'])} {_ci(v['ci'])}" for k, v in f["params"].items())
        ends = "; ".join(
            f"{k}: {_n(f['bracket_fits']['lower'][k])} to {_n(f['bracket_fits']['upper'][k])}" for k in f["params"]
        ) if f["eps_undetermined"] else "(all medians determined)"
        excluded = ", ".join(_n(e) for e in f["eps_excluded"]) or "none"
        rows.append([esc(f["study"]), str(f["d"]), esc(f["formula"]), params, _n(f["r2"]),
                     f"{len(f['eps_fitted'])} ({len(f['eps_undetermined'])} as midpoints)", ends, excluded])
    return rows


def _gap_rows(gap: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in gap:
        if r["determined"]:
            value = _n(r["ratio"])
        else:
            value = f"<span class='undet'>{_n(r['ratio'])} (in {_ci(r['bracket'])})</span>"
        rows.append([str(r["d"]), _n(r["eps"]), value, _ci(r["ci"]), str(r["pairs"])])
    return rows


_ENV_MARK = " <i>(environment)</i>"  # a limit of the run, not of the trial (sweep.trials.environment_limited)


def _environment_note(groups: list[dict[str, Any]]) -> list[str]:
    n = sum(v for g in groups for k, v in g["limits"].items() if environment_limited(k))
    if not n:
        return []
    return [f"<p>{n} trial(s) were stopped by a limit of the run's environment, marked <i>(environment)</i>: "
            "the address-space cap (<code>--memory-limit</code>), a memory budget set by "
            "<code>PRUNEGAP_MEMORY_BUDGET</code>, or a wall clock. None of these is part of a trial, so its bracket "
            "may be narrower on another machine: <code>prunegap gap --retry-env-limited</code> runs them again.</p>"]


def _group_rows(groups: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for g in groups:
        med = _n(g["median"]) if g["median"] is not None else f"<span class='undet'>in {_ci(g['median_bracket'])}</span>"
        qua = _n(g["quantile"]) if g["quantile"] is not None else f"<span class='undet'>in {_ci(g['quantile_bracket'])}</span>"
        limits = ", ".join(f"{esc(k)}{_ENV_MARK if environment_limited(k) else ''}: {v}"
                           for k, v in sorted(g["limits"].items())) or ""
        rows.append([esc(g["study"]), str(g["d"]), _n(g["eps"]), str(g["trials"]), str(g["certified"]),
                     str(g["unknown"]), str(g["failed"]), med, _ci(g["median_ci"]), qua, _ci(g["quantile_ci"]), limits])
    return rows


def render_html(
    analysis: dict[str, Any],
    figures: dict[str, dict[str, Any]],
    *,
    meta: dict[str, str],
    config_toml: str,
    failed: list[dict[str, Any]],
    folder: str,
    popup: dict[str, Any] | None = None,
) -> str:
    """The whole page as a string (``popup``: :func:`.popup.analyze_popup`'s summary, if any)."""
    t = analysis["trials"]
    a = analysis["analysis"]
    conf = f"{a['confidence']:.0%}"
    ql = f"{a['quantile_level']:.0%}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>prunegap gap report: {esc(folder)}</title><style>{_CSS}</style></head><body>",
        "<h1>The pruning gap: neuron vs weight pruning of random ReLU networks</h1>",
        f"<p class='meta'>Folder <code>{esc(folder)}</code> &middot; sweep fingerprint <code>{esc(meta.get('fingerprint', '?'))}</code>"
        f"{' (quick)' if meta.get('quick') == 'true' else ''} &middot; created {esc(meta.get('created', '?'))} by prunegap "
        f"{esc(meta.get('prunegap_version', '?'))}</p>",
        "<div class='box'><p><b>The question.</b> A random bias-free two-layer ReLU network of width n is pruned to "
        "approximate one ReLU neuron within eps. For each seed (one random network and target) and each eps, "
        "n* is the smallest width at which a method <i>certifies</i> an approximation within eps. The paper "
        "(arXiv:2603.02234) proves neuron pruning needs n of order d/eps while weight pruning needs only "
        "d log(1/eps): an exponential gap. On log axes against 1/eps, the first is a straight line of slope "
        "about 1, the second nearly flat.</p></div>",
        "<h2>Trials</h2>",
        html_table(
            ["study", "planned", "stored", "certified", "unknown", "failed"],
            [[esc(s), str(v["planned"]), str(v["stored"]), str(v["certified"]), str(v["unknown"]), str(v["failed"])]
             for s, v in t["by_study"].items()]
            + [["<b>all</b>", str(t["planned"]), str(t["total"]), str(t["certified"]), str(t["unknown"]), str(t["failed"])]],
        ),
    ]
    if t["missing"] > 0:
        parts.append(
            f"<p class='warn'>{t['missing']} planned trial(s) are not in the database yet (the sweep was interrupted, "
            "or a study's method is not installed): the statistics below use the trials present. Rerun the same "
            "<code>prunegap gap</code> command to add them.</p>"
        )
    parts += [
        "<h2>Minimal width against 1/eps</h2>",
        "<p class='meta'>Every figure is drawn at the width of a two-column figure (7.0 in: "
        "<code>figures/NAME.{png,pdf}</code>, shown here) and of a one-column figure (3.4 in: "
        "<code>figures/NAME-1col.{png,pdf}</code>), with the same font sizes in both.</p>",
        html_figure(
            figures, "nstar", "n* against 1/eps",
            f"Medians of n* over seeds (solid), their {conf} bootstrap confidence bands (shaded), the {ql} quantile "
            "(dashed), the fitted scaling laws (dotted) and the paper's two bounds with fitted constants (grey). "
            "A median that undecided trials leave open is drawn as the bar of values it is known to lie in, "
            "with an open circle at its midpoint (a triangle marks a bar unbounded above).",
        ),
        "<h2>Scaling fits</h2>",
        html_table(_fit_header(conf),
               _fit_rows(analysis["fits"])) if analysis["fits"] else "<p>No fit: a study needs at least two eps whose median is bounded.</p>",
        "<p>Least squares on the medians (log n* for the power law, n* for the log law). A median that undecided "
        "trials leave open enters with the midpoint of its bracket, and the fits on the lower and upper ends of the "
        "brackets are shown beside it; a median unbounded above is left out. The confidence intervals re-fit the "
        "medians of paired bootstrap resamples of the seeds.</p>",
    ]
    main_gap = [r for r in analysis["gap"] if r.get("bound") != "lower"]
    if main_gap:
        pair = main_gap[0]
        parts += [
            "<h2>The gap ratio</h2>",
            html_figure(figures, "gap", "gap ratio",
                    f"Ratio of the median n* of <b>{esc(pair['numerator'])}</b> to that of <b>{esc(pair['denominator'])}</b> "
                    f"at each eps they share, with {conf} paired bootstrap intervals; grey: the ratio of the two reference curves."),
            html_table(["d", "eps", "ratio of medians", f"{conf} CI", "paired seeds"], _gap_rows(main_gap)),
        ]
    parts += _frontier_html(analysis, figures, conf)
    if "targets" in figures:
        parts += [
            "<h2>Network targets: n* against the target width K</h2>",
            html_figure(figures, "targets", "n* against K",
                    f"Median n* over seeds against K, the hidden units per layer of the target network, one curve "
                    f"per declared study and eps (darker: smaller eps), with {conf} bootstrap intervals (bars); an "
                    "open marker is the midpoint of a median that undecided trials leave open. Weight pruning of a "
                    "network target prunes a random network twice as deep (the layer-wise construction; n* counts the "
                    "units of each expanded layer); the integer programs prune a two-layer random network."),
        ]
    parts += [
        "<h2>Success curves</h2>",
        html_figure(figures, "success", "success curves",
                "P(n* &le; n) over seeds, one curve per eps: the fraction of seeds certified by width n. "
                "Shaded: the range the undecided trials leave open (proven below, possible above)."),
        "<h2>Every (study, d, eps)</h2>",
        html_table(["study", "d", "eps", "trials", "certified", "unknown", "failed", "median n*", f"{conf} CI",
                f"{ql} quantile", f"{conf} CI", "limits that fired"], _group_rows(analysis["groups"])),
        *_environment_note(analysis["groups"]),
    ]
    if failed:
        parts += [
            "<h2>Failed trials</h2><p>Their n* is only known to be at least 1; they count as undecided in every statistic. "
            "<code>prunegap gap --retry-failed</code> runs them again.</p>",
            html_table(["trial", "reason"], [[esc(r["key"]), esc(r["reason"] or "")] for r in failed[:100]]),
        ]
    parts += popup_html(popup, figures)
    parts += [
        "<h2>How to read the numbers</h2><ul>",
        "<li>Every trial proves a bracket n_lower &le; n* &le; n_upper: one point when <i>certified</i>; a range when "
        "<i>unknown</i> (a limit fired; n_upper = &infin; when no width up to max_width was certified); [1, &infin;) when "
        "<i>failed</i>. No trial is dropped.</li>",
        "<li>A median or quantile is monotone in every value, so over all ways to fill the brackets it lies in "
        "[statistic of the lower ends, statistic of the upper ends]. It is shown as a number when both agree, else as "
        "that bracket (the curves pass through its midpoint, drawn as an open circle).</li>",
        f"<li>Confidence intervals: percentile bootstrap over seeds ({a['bootstrap']} resamples, seeded), lower end from "
        "the lower-filled resamples and upper end from the upper-filled ones. Seeds are shared by every study and eps, so "
        "resamples are paired.</li>",
        f"<li>The {ql} quantile is an order statistic: a width that some seed actually needs.</li>",
        "</ul>",
        "<h2>The sweep</h2><p>The resolved config; <code>prunegap gap --config</code> with this file reruns exactly these trials.</p>",
        f"<pre>{esc(config_toml)}</pre>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _frontier_html(analysis: dict[str, Any], figures: dict[str, dict[str, Any]], conf: str) -> list[str]:
    """The certified frontier: what the proofs-only studies proved, and what is fitted to it."""
    rows = analysis.get("frontier", [])
    if not rows:
        return []
    bounds = [r for r in analysis["gap"] if r.get("bound") == "lower"]
    lower_fits = [f for f in analysis["fits"] if f.get("of") == "n_lower"]
    out = [
        "<h2>The certified frontier: proven lower ends of neuron n*</h2>",
        "<div class='box'><p><b>What is proven.</b> A proofs-only search (study key <code>bound = \"lower\"</code>) "
        "asks the exact solver only for proofs that <i>no</i> neuron-pruned subnetwork of width n reaches eps "
        "(infeasible sampled programs, rows rounded outwards, a margin of no_margin above eps; no solver tolerance "
        "is trusted). Its n_lower means: every narrower width is proven to have no mask within eps, so "
        "n* &ge; n_lower for that seed. Each number in the table below is the median over seeds of such proven "
        "bounds. The gap ratio's lower end divides it by the median width at which weight pruning <i>certified</i> "
        "a ticket, so n*_neuron / n*_weight is at least that, as a ratio of medians over the paired seeds. "
        "<b>What is fitted.</b> The power laws n_lower ~ C eps^-alpha and the theory shapes are fits to these "
        "bounds, not proofs; the true n* lies above the curve.</p></div>",
        html_table(["study", "d", "eps", "median n_lower", f"{conf} CI", "seeds", "settled (n* certified)"],
                   [[esc(r["study"]), str(r["d"]), _n(r["eps"]), _n(r["median_n_lower"]), _ci(r["ci"]),
                     str(r["seeds"]), str(r["settled"])] for r in rows]),
    ]
    if bounds:
        out += [
            "<h3>The gap, certified from below</h3>",
            html_table(["d", "eps", "numerator (n_lower)", "denominator (n_upper)",
                        "certified lower bound of the ratio", f"{conf} CI (lower end)", "paired seeds"],
                       [[str(r["d"]), _n(r["eps"]), esc(r["numerator"]), esc(r["denominator"]), _n(r["bracket"][0]),
                         _n(r["ci"][0]), str(r["pairs"])] for r in bounds]),
        ]
    if lower_fits:
        out += ["<h3>Growth of the lower end</h3>",
                html_table(_fit_header(conf),
                           _fit_rows(lower_fits))]
    if "frontier" in figures:
        out.append(html_figure(
            figures, "frontier", "n_lower against d",
            "Median certified n_lower of neuron pruning against d at each eps shared by several d (triangles: proven "
            f"lower bounds, {conf} bootstrap bars), with the shapes d/eps (the paper's v1) and 1/eps (v3) drawn "
            "through the d = 2 point. The medians are over the frontier study's own seeds: a median of n* over other seeds "
            "is not comparable with them point by point."))
    return out


def render_markdown(analysis: dict[str, Any], folder: str) -> str:
    """The short summary printed at the end of a run."""
    t = analysis["trials"]
    a = analysis["analysis"]
    conf = f"{a['confidence']:.0%}"
    lines = [
        f"## prunegap gap: {folder}",
        "",
        f"Trials: {t['total']} of {t['planned']} stored: {t['certified']} certified, {t['unknown']} unknown, {t['failed']} failed.",
    ]
    if analysis["fits"]:
        lines += ["", f"| study | d | model | parameters [{conf} CI] | eps fitted |", "|---|---|---|---|---|"]
        for f in analysis["fits"]:
            params = "; ".join(f"{k} = {_n(v['estimate'])} {_ci(v['ci'])}" for k, v in f["params"].items())
            lines.append(f"| {f['study']} | {f['d']} | {f['formula']} | {params} | {len(f['eps_fitted'])} |")
    main_gap = [r for r in analysis["gap"] if r.get("bound") != "lower"]
    if main_gap:
        lines += ["", "Gap ratio of medians at the smallest shared eps:"]
        for d in sorted({r["d"] for r in main_gap}):
            r = min((r for r in main_gap if r["d"] == d), key=lambda r: r["eps"])
            value = _n(r["ratio"]) if r["determined"] else f"{_n(r['ratio'])} (in {_ci(r['bracket'])})"
            lines.append(f"- d = {d}, eps = {_n(r['eps'])}: {r['numerator']} / {r['denominator']} = {value}, {conf} CI {_ci(r['ci'])}")
    bounds = [r for r in analysis["gap"] if r.get("bound") == "lower" and r["bracket"][0] is not None]
    if bounds:
        lines += ["", "Certified lower bound of the gap ratio (median n_lower / median n_upper) at the smallest eps:"]
        for d in sorted({r["d"] for r in bounds}):
            e = min(r["eps"] for r in bounds if r["d"] == d)
            r = max((r for r in bounds if r["d"] == d and r["eps"] == e), key=lambda r: r["bracket"][0])
            lines.append(f"- d = {d}, eps = {_n(e)}: {r['numerator']} / {r['denominator']} >= {_n(r['bracket'][0])} "
                         f"({r['pairs']} paired seeds)")
    if analysis.get("targets"):
        lines += ["", "Network targets, median n* against the target width K (smallest eps of each study and d):"]
        for (family, d) in dict.fromkeys((r["family"], r["d"]) for r in analysis["targets"]):
            rs = [r for r in analysis["targets"] if r["family"] == family and r["d"] == d]
            eps = min(r["eps"] for r in rs)
            cells = ", ".join(
                f"K = {r['target_width']}: {_n(r['median']) if r['median'] is not None else _ci(r['median_bracket'])}"
                for r in sorted((r for r in rs if r["eps"] == eps), key=lambda r: r["target_width"]))
            lines.append(f"- {family}, d = {d}, eps = {_n(eps)}: {cells}")
    lines += ["", f"Report: {folder}/report.html (figures in {folder}/figures, numbers in {folder}/summary.json)"]
    return "\n".join(lines).replace("&infin;", "inf")
