"""Figures of the report and of notebooks, drawn from the JSON-ready analysis.

Every figure is built from the output of :func:`analysis.analyze` (or the
numbers of ``summary.json``), so ``prunegap report`` redraws it from the
database alone.  There is one drawing code path per figure kind: a function
that draws one panel onto one matplotlib ``Axes``.  The report composes its
figures from these panels on a bare ``matplotlib.figure.Figure`` (it never
imports pyplot: no global state, no display); the public ``plot_*`` functions
draw the same panels onto the caller's axes, or onto a new pyplot figure so
that a notebook shows it inline::

    from prunegap.report.analysis import analyze
    from prunegap.report import figures
    a = analyze(store.rows(), store.config())
    figures.plot_nstar(a)                   # one panel per d; an array of Axes
    figures.plot_success(a, ax=ax, d=2)     # one panel on your Axes; returns ax

The kinds (``FIGURES``):

* ``nstar``: n* against 1/eps on log-log axes, one panel per d: medians with
  their confidence bands, the (1 - delta) quantile, undetermined medians as
  bracket bars, the fits (numbers under each panel), and the paper's two
  bounds as grey reference curves;
* ``gap``: the gap ratio n*_neuron / n*_weight against 1/eps, per d, and the
  certified lower bound of the ratio from the frontier (n_lower / n_upper);
* ``frontier`` (proofs-only studies): the certified lower end of n* against d
  at each shared eps, with the shapes d/eps and 1/eps;
* ``success``: the success curves P(n* <= n), one panel per (study, d), one
  curve per eps;
* ``targets`` (network-target studies only): n* against the target's width K,
  one panel per d, one curve per (declared study, eps).

Files (``make_figures``): ``figures/NAME.png`` and ``figures/NAME.pdf`` are
the two-column size (:data:`TWO_COLUMN`, 7.0 in wide; the report page shows
this one), ``figures/NAME-1col.png`` and ``figures/NAME-1col.pdf`` the
one-column size (:data:`ONE_COLUMN`, 3.4 in wide, panels stacked).  Each is
drawn at its printed width with the one font scheme
(:data:`~prunegap._plotting.FONT_SIZES`), so text is the same size in every
figure once printed, and saved with fixed metadata, so the same results give
the same bytes.

Colours come from one colour-blind-safe palette (Okabe-Ito,
:data:`~prunegap._plotting.OKABE_ITO`): a study keeps one colour and one
marker in every figure (:func:`study_colors`; by paradigm first), an eps
keeps one colour in every panel and figure (:func:`eps_colors`).  Legends
sit outside the axes.  Studies are labelled by :func:`analysis.study_info`
(pattern studies with their N:M or B), so a sweep with several patterns is
read off one ``nstar`` figure.
"""

from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .._plotting import (
    FONT_SIZES,
    OKABE_ITO,
    ONE_COLUMN,
    PARADIGM_COLORS,
    STYLE,
    TWO_COLUMN,
    axes_legend,
    figure_legend,
    log_axis,
    new_figure,
    style_axes,
)
from ..exceptions import InvalidArgument
from ..io import atomic_write
from .analysis import reference_curve

__all__ = [
    "FIGURES", "MARKERS", "ONE_COLUMN", "STYLE", "TWO_COLUMN", "eps_colors", "figure_frontier", "figure_gap",
    "figure_nstar", "figure_success", "figure_targets", "make_figures", "plot_frontier", "plot_gap", "plot_nstar",
    "plot_success", "plot_targets", "save_figure", "save_sizes", "study_colors", "study_labels",
]

#: Names of the figures, in the order the report shows them.
FIGURES: tuple[str, ...] = ("nstar", "gap", "frontier", "success", "targets")

#: One marker per study, in config order: colours repeat past the palette, markers tell studies apart.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")
#: The colours of studies past the first of each paradigm, and of eps, in this order (yellow last: faint on white).
_CYCLE = tuple(OKABE_ITO[k] for k in ("orange", "sky blue", "bluish green", "reddish purple", "black", "yellow"))
_EPS_CYCLE = tuple(OKABE_ITO[k] for k in ("blue", "orange", "bluish green", "vermillion", "reddish purple",
                                          "sky blue", "black"))
_GREY = "0.5"
_LINESTYLES = ("-", "--", ":", "-.")
_SUFFIX_1COL = "-1col"


# colours, markers, labels ------------------------------------------------------------------
def study_colors(analysis: dict[str, Any]) -> dict[str, str]:
    """The colour of each study in every figure: its paradigm's for the first study of that paradigm
    (:data:`~prunegap._plotting.PARADIGM_COLORS`), then the rest of the palette in config order."""
    out: dict[str, str] = {}
    used: set[str] = set()
    k = 0
    names = [s["study"] for s in analysis.get("studies", [])]
    paradigm = {s["study"]: s["paradigm"] for s in analysis.get("studies", [])}
    for g in analysis["groups"]:
        names.append(g["study"])
        paradigm.setdefault(g["study"], g["paradigm"])
    for name in dict.fromkeys(names):
        p = paradigm.get(name)
        if p in PARADIGM_COLORS and p not in used:
            out[name] = PARADIGM_COLORS[p]
            used.add(p)
        else:
            out[name] = _CYCLE[k % len(_CYCLE)]
            k += 1
    return out


def _all_eps(analysis: dict[str, Any]) -> list[float]:
    eps = {g["eps"] for g in analysis["groups"]}
    for key in ("gap", "frontier", "targets", "success"):
        eps |= {r["eps"] for r in analysis.get(key, [])}
    return sorted(eps, reverse=True)


def eps_colors(analysis: dict[str, Any]) -> dict[float, str]:
    """The colour of each eps of the sweep, the same in every panel and figure: the palette by decreasing
    eps; a sweep with more eps than the palette has colours gets evenly spaced colours of cividis (a
    colour-blind-safe sequential map), darker for smaller eps."""
    eps = _all_eps(analysis)
    if len(eps) <= len(_EPS_CYCLE):
        return {e: _EPS_CYCLE[i] for i, e in enumerate(eps)}
    import matplotlib  # lazy: a heavy library, needed only to draw
    from matplotlib.colors import to_hex

    cmap = matplotlib.colormaps["cividis"]
    return {e: to_hex(cmap(0.9 * (1.0 - i / (len(eps) - 1)))) for i, e in enumerate(eps)}


def _markers(analysis: dict[str, Any]) -> dict[str, str]:
    """The marker of each study: by its position in the config (``analysis["studies"]``)."""
    names = [s["study"] for s in analysis.get("studies", [])]
    names += [g["study"] for g in analysis["groups"] if g["study"] not in names]
    return {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(dict.fromkeys(names))}


def study_labels(analysis: dict[str, Any]) -> dict[str, str]:
    """The legend label of each study (the name, with a pattern's N:M or B where the name lacks it)."""
    out = {s["study"]: s["label"] for s in analysis.get("studies", [])}
    for g in analysis["groups"]:
        out.setdefault(g["study"], g["study"])
    return out


# small pieces ---------------------------------------------------------------------------------
def _dims(analysis: dict[str, Any]) -> list[int]:
    return sorted({g["d"] for g in analysis["groups"]})


def _fmt(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "?"
    return f"{x:.3g}"


def _fit_label(f: dict[str, Any]) -> str:
    p = f["params"]
    if f["model"] == "power":
        a = p["alpha"]
        return f"alpha = {_fmt(a['estimate'])} [{_fmt(a['ci'][0])}, {_fmt(a['ci'][1])}]"
    b = p["b"]
    return f"b = {_fmt(b['estimate'])} [{_fmt(b['ci'][0])}, {_fmt(b['ci'][1])}]"


def _fit_curve(f: dict[str, Any], eps: np.ndarray) -> np.ndarray:
    p = f["params"]
    if f["model"] == "power":
        return p["C"]["estimate"] * eps ** (-p["alpha"]["estimate"])
    return p["a"]["estimate"] + p["b"]["estimate"] * np.log(1.0 / eps)


def _top(values: list[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    return max(finite) * 2.0 if finite else 10.0


def _lower_studies(analysis: dict[str, Any]) -> set[str]:
    """The proofs-only studies (bound "lower"): their groups are drawn as proven lower ends."""
    return {s["study"] for s in analysis.get("studies", []) if s.get("bound") == "lower"}


def _panel_width(ax: Any) -> float:
    """The width in inches the axes get in their figure (before the layout's margins)."""
    return float(ax.get_position().width * ax.figure.get_size_inches()[0])


def _notes_below(ax: Any, notes: list[tuple[str, str]]) -> None:
    """Lines of text under the x label (the fit numbers), each in its series' colour: outside the data,
    wrapped to the panel's width, and inside the layout so that nothing is drawn over them."""
    chars = max(20, int(_panel_width(ax) * 72.0 / (0.6 * FONT_SIZES["note"])))
    anchor: Any = ax.xaxis.label
    for color, text in notes:
        if len(text) > chars:  # the series' name on a line of its own, the numbers kept together below it
            text = "\n".join(textwrap.fill(part, chars) for part in text.split(": ", 1))
        anchor = ax.annotate(text, xy=(0.5, 0.0), xycoords=anchor, xytext=(0, -1.5),
                             textcoords="offset points", ha="center", va="top", color=color,
                             fontsize=FONT_SIZES["note"])


def _nstar_axes(ax: Any, d: int, top: float, xlabel: str) -> None:
    """The n* axis of a panel: log scale capped at ``top``, labels, the panel's d."""
    log_axis(ax.yaxis)
    ax.set_ylim(top=top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("minimal width n*")
    ax.set_title(f"d = {d}")
    ax.grid(True, which="major", lw=0.3, alpha=0.6)


# the panels: one function per figure kind, drawing one panel onto one Axes ---------------------
def _frontier_series(ax: Any, analysis: dict[str, Any], d: int, colors: dict[str, str], labels: dict[str, str],
                     conf: float) -> list[tuple[str, str]]:
    """The median n_lower of each proofs-only study in panel d: a proven lower bound, drawn with upward
    triangles (the true n* lies above), its bootstrap band and its fit."""
    notes = []
    fits = {(f["study"], f["d"]): f for f in analysis["fits"]}
    for study in dict.fromkeys(r["study"] for r in analysis.get("frontier", []) if r["d"] == d):
        rows = sorted((r for r in analysis["frontier"] if r["study"] == study and r["d"] == d), key=lambda r: -r["eps"])
        c, name = colors.get(study, OKABE_ITO["black"]), labels.get(study, study)
        x = np.array([1.0 / r["eps"] for r in rows])
        y = np.array([r["median_n_lower"] or np.nan for r in rows], float)
        lo = np.array([r["ci"][0] or np.nan for r in rows], float)
        hi = np.array([r["ci"][1] or np.nan for r in rows], float)
        ax.fill_between(x, lo, hi, color=c, alpha=0.12, lw=0)
        ax.plot(x, y, "-", color=c, lw=1.2, marker="^", ms=4.5,
                label=f"{name}: median n_lower over its {rows[0]['seeds']} seeds, a proven lower bound "
                      f"({int(round(conf * 100))}% CI)")
        f = fits.get((study, d))
        if f is not None:
            xe = np.geomspace(x.min(), x.max(), 50)
            ax.plot(xe, _fit_curve(f, 1.0 / xe), ":", color=c, lw=1.1, label=f"{name}: fit of n_lower")
            notes.append((c, f"{name} (n_lower): {_fit_label(f)}"))
    return notes


def _draw_nstar(ax: Any, analysis: dict[str, Any], d: int) -> None:
    """Panel d of ``nstar``."""
    colors, markers, labels = study_colors(analysis), _markers(analysis), study_labels(analysis)
    q = analysis["analysis"]["quantile_level"]
    conf = analysis["analysis"]["confidence"]
    fits = {(f["study"], f["d"]): f for f in analysis["fits"]}
    ref = analysis.get("reference", {})
    lower = _lower_studies(analysis)
    gs = [g for g in analysis["groups"] if g["d"] == d and g["study"] not in lower]
    top = _top([v for g in gs for v in (*g["median_ci"], *g["quantile_bracket"], *g["median_bracket"])]
               + [v for r in analysis.get("frontier", []) if r["d"] == d for v in r["ci"]])
    notes: list[tuple[str, str]] = _frontier_series(ax, analysis, d, colors, labels, conf)
    for study in dict.fromkeys(g["study"] for g in gs):
        sg = sorted((g for g in gs if g["study"] == study), key=lambda g: -g["eps"])
        c, mk, name = colors[study], markers[study], labels[study]
        x = np.array([1.0 / g["eps"] for g in sg])
        mid = np.array([g["median_mid"] if g["median_mid"] is not None else np.nan for g in sg], float)
        det = np.array([g["median"] is not None for g in sg])
        ci_lo = np.array([g["median_ci"][0] or np.nan for g in sg], float)
        ci_hi = np.array([g["median_ci"][1] if g["median_ci"][1] is not None else top for g in sg], float)
        ax.fill_between(x, ci_lo, np.minimum(ci_hi, top), color=c, alpha=0.18, lw=0,
                        label=f"{name}: {int(round(conf * 100))}% CI of the median")
        if len(x) == 1:  # a band needs two eps: show the interval as a bar
            ax.plot([x[0], x[0]], [ci_lo[0], min(ci_hi[0], top)], color=c, alpha=0.35, lw=5, solid_capstyle="butt")
        ax.plot(x, mid, "-", color=c, lw=1.4, marker=mk, ms=3.5, markevery=[bool(b) for b in det],
                label=f"{name}: median n* (open: bracket midpoint)")
        qv = np.array([g["quantile_mid"] if g["quantile_mid"] is not None else np.nan for g in sg], float)
        ax.plot(x, qv, "--", color=c, lw=0.9, label=f"{name}: {q:.0%} quantile")
        for xi, g in zip(x, sg):  # undetermined medians: the bracket they are known to lie in
            if g["median"] is None and g["median_bracket"][0] is not None:
                lo, hi = g["median_bracket"][0], g["median_bracket"][1] or top
                ax.plot([xi, xi], [lo, min(hi, top)], color=c, lw=2.2, alpha=0.7, solid_capstyle="butt")
                y = g["median_mid"] if g["median_mid"] is not None else lo
                ax.plot([xi], [y], marker=mk, mfc="white", color=c, ms=4)
                if g["median_bracket"][1] is None:
                    ax.plot([xi], [top], marker="^", color=c, ms=4)
        f = fits.get((study, d))
        if f is not None:
            xe = np.geomspace(x.min(), x.max(), 50)
            ax.plot(xe, _fit_curve(f, 1.0 / xe), ":", color=c, lw=1.2, label=f"{name}: fit {f['formula']}")
            notes.append((c, f"{name}: {_fit_label(f)}"))
    xs = np.array(sorted({1.0 / g["eps"] for g in analysis["groups"] if g["d"] == d}))
    if xs.size:
        xe = np.geomspace(xs.min(), xs.max(), 60)
        for paradigm, r in ref.items():
            dash = (0, (5, 3)) if paradigm == "weight" else (0, (6, 2, 1, 2))
            ax.plot(xe, reference_curve(paradigm, r["value"], d, 1.0 / xe), color=_GREY, lw=0.9,
                    ls=dash, zorder=0, label=f"theory: {r['formula']}, {r['constant']} = {r['value']:.3g}")
    log_axis(ax.xaxis)
    _nstar_axes(ax, d, top, "1 / eps")
    _notes_below(ax, notes)


def _draw_targets(ax: Any, analysis: dict[str, Any], d: int) -> None:
    """Panel d of ``targets``: one curve per (family, eps), coloured by eps, marked and dashed by family."""
    rows = analysis.get("targets", [])
    markers, ecol = _markers(analysis), eps_colors(analysis)
    rs = [r for r in rows if r["d"] == d]
    top = _top([v for r in rs for v in (*r["median_ci"], *r["median_bracket"])])
    for j, family in enumerate(dict.fromkeys(r["family"] for r in rs)):
        fr = [r for r in rs if r["family"] == family]
        mk, ls = markers[fr[0]["study"]], _LINESTYLES[j % len(_LINESTYLES)]
        for eps in sorted({r["eps"] for r in fr}, reverse=True):
            er = sorted((r for r in fr if r["eps"] == eps), key=lambda r: r["target_width"])
            k = np.array([r["target_width"] for r in er], float)
            mid = np.array([r["median_mid"] if r["median_mid"] is not None else np.nan for r in er], float)
            if np.all(np.isnan(mid)):
                continue
            c = ecol[eps]
            ax.plot(k, mid, ls, color=c, lw=1.3, marker=mk, ms=4, mfc=c,
                    markevery=[r["median"] is not None for r in er],
                    label=f"{family} ({fr[0]['paradigm']}/{fr[0]['method']}), eps = {eps:g}")
            for ki, r, m in zip(k, er, mid):
                lo, hi = r["median_ci"]
                if lo is not None:
                    ax.plot([ki, ki], [lo, min(hi if hi is not None else top, top)], color=c, alpha=0.3,
                            lw=4, solid_capstyle="butt")
                if r["median"] is None and not np.isnan(m):
                    ax.plot([ki], [m], marker=mk, mfc="white", color=c, ms=4)
    from matplotlib.ticker import NullFormatter  # lazy: a heavy library, needed only to draw

    ks = sorted({r["target_width"] for r in rs})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks)
    ax.set_xticklabels([str(x) for x in ks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    _nstar_axes(ax, d, top, "target width K (hidden units per layer)")


def _draw_success(ax: Any, analysis: dict[str, Any], panel: tuple[str, int]) -> None:
    """Panel (study, d) of ``success``: P(n* <= n) per eps, from ``analysis["success"]`` (proven: solid;
    the range undecided trials leave open: shaded)."""
    study, d = panel
    ecol, labels = eps_colors(analysis), study_labels(analysis)
    curves = sorted((s for s in analysis["success"] if s["study"] == study and s["d"] == d and s["widths"]),
                    key=lambda s: -s["eps"])
    values = [w for s in curves for w in s["widths"]]
    left, right = min(values) / 1.5, max(values) * 1.5
    for s in curves:
        grid = np.array([left, *s["widths"], right], float)
        proven = np.array([0.0, *s["proven"], s["proven"][-1]], float)
        possible = np.array([0.0, *s["possible"], s["possible"][-1]], float)
        c = ecol[s["eps"]]
        ax.step(grid, proven, where="post", color=c, lw=1.2, label=f"eps = {s['eps']:g}")
        if np.any(possible != proven):
            ax.fill_between(grid, proven, possible, step="post", color=c, alpha=0.2, lw=0)
    log_axis(ax.xaxis)
    ax.set_xlim(left, right)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("width n")
    ax.set_ylabel("P(n* <= n)")
    ax.set_title(f"{labels.get(study, study)}, d = {d}")
    ax.grid(True, lw=0.3, alpha=0.6)


def _best_bounds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At each eps, the frontier's strongest certified lower bound of the ratio (over its weight denominators)."""
    best: dict[float, dict[str, Any]] = {}
    for r in rows:
        b = r["bracket"][0]
        if b is not None and (r["eps"] not in best or b > (best[r["eps"]]["bracket"][0] or 0.0)):
            best[r["eps"]] = r
    return [best[e] for e in sorted(best, reverse=True)]


def _draw_gap(ax: Any, analysis: dict[str, Any], d: int) -> None:
    """Panel d of ``gap``."""
    gap = analysis["gap"]
    conf = analysis["analysis"]["confidence"]
    ref = analysis.get("reference", {})
    bound_color, ratio_color = PARADIGM_COLORS["neuron"], OKABE_ITO["black"]
    bounds = _best_bounds([r for r in gap if r["d"] == d and r.get("bound") == "lower"])
    rows = sorted((r for r in gap if r["d"] == d and r.get("bound") != "lower"), key=lambda r: -r["eps"])
    ax.set_title(f"d = {d}: {rows[0]['numerator']} / {rows[0]['denominator']}" if rows else f"d = {d}")
    if not rows and not bounds:
        ax.text(0.5, 0.5, "no eps shared by the two studies", ha="center", va="center", transform=ax.transAxes,
                fontsize=FONT_SIZES["note"])
        return
    if bounds:
        xb = np.array([1.0 / r["eps"] for r in bounds])
        yb = np.array([r["bracket"][0] or np.nan for r in bounds], float)
        lb = np.array([r["ci"][0] or np.nan for r in bounds], float)
        ax.fill_between(xb, lb, yb, color=bound_color, alpha=0.15, lw=0)
        ax.plot(xb, yb, "-", color=bound_color, marker="^", ms=4.5, lw=1.2,
                label="certified lower bound: median n_lower / median n_upper")
        for xi, r in zip(xb, bounds):
            if r["bracket"][0]:
                ax.annotate(f"{r['bracket'][0]:.3g}x", (xi, r["bracket"][0]), textcoords="offset points",
                            xytext=(0, 5), ha="center", fontsize=FONT_SIZES["note"], color=bound_color)
    x = np.array([1.0 / r["eps"] for r in rows] + [1.0 / r["eps"] for r in bounds])
    top = _top([v for r in rows + bounds for v in (*r["ci"], *r["bracket"])])
    for xi, r in zip(x, rows):
        lo = r["ci"][0] if r["ci"][0] is not None else r["bracket"][0] or 0.0
        hi = r["ci"][1] if r["ci"][1] is not None else top
        ax.plot([xi, xi], [max(lo, 1e-3), min(hi, top)], color=ratio_color, lw=1.0)
        if r["ratio"] is not None:
            ax.plot([xi], [r["ratio"]], "o", color=ratio_color, ms=4,
                    mfc=ratio_color if r["determined"] else "white")
    ok = np.array([r["ratio"] if r["ratio"] is not None else np.nan for r in rows], float)
    if rows:
        ax.plot(x[: len(rows)], ok, "-", color=ratio_color, lw=1.0,
                label=f"ratio of medians ({int(round(conf * 100))}% CI)")
    if "neuron" in ref and "weight" in ref:
        xe = np.geomspace(x.min(), x.max(), 60)
        e = 1.0 / xe
        with np.errstate(divide="ignore"):
            curve = (reference_curve("neuron", ref["neuron"]["value"], d, e)
                     / reference_curve("weight", ref["weight"]["value"], d, e))
        ax.plot(xe, curve, color=_GREY, ls=(0, (5, 3)), lw=0.9, label="theory: (c/C) / (eps log(1/eps))")
    ax.axhline(1.0, color="0.7", lw=0.6)
    log_axis(ax.xaxis)
    log_axis(ax.yaxis)
    ax.set_xlabel("1 / eps")
    ax.set_ylabel("ratio of median n*")
    ax.grid(True, lw=0.3, alpha=0.6)


def _draw_frontier(ax: Any, analysis: dict[str, Any], eps: float) -> None:
    """Panel eps of ``frontier``: the median n_lower against d, with the shapes d/eps and 1/eps through
    the smallest d's point."""
    colors = study_colors(analysis)
    rows = analysis.get("frontier", [])
    rs = sorted((r for r in rows if r["eps"] == eps), key=lambda r: r["d"])
    for study in dict.fromkeys(r["study"] for r in rs):
        sr = [r for r in rs if r["study"] == study and r["median_n_lower"] is not None]
        if not sr:
            continue
        c = colors.get(study, PARADIGM_COLORS["neuron"])
        ds = np.array([r["d"] for r in sr], float)
        y = np.array([r["median_n_lower"] for r in sr], float)
        lo = np.array([r["ci"][0] or np.nan for r in sr], float)
        hi = np.array([r["ci"][1] or np.nan for r in sr], float)
        ax.errorbar(ds, y, yerr=[y - lo, hi - y], fmt="-^", color=c, ms=4.5, lw=1.2, capsize=2,
                    label=f"{study}: median n_lower over its {sr[0]['seeds']} seeds (proven)")
        base = sr[0]
        dd = np.linspace(ds.min(), ds.max(), 20)
        ax.plot(dd, base["median_n_lower"] * dd / base["d"], color="0.45", ls=(0, (5, 3)), lw=0.9,
                label="shape d / eps (v1)")
        ax.plot(dd, np.full_like(dd, base["median_n_lower"]), color="0.65", ls=(0, (1, 2)), lw=0.9,
                label="shape 1 / eps (v3)")
    ax.set_xlabel("input dimension d")
    ax.set_ylabel("neuron pruning: width")
    ax.set_title(f"eps = {eps:g}")
    ax.set_xticks(sorted({r["d"] for r in rs}))
    ax.grid(True, lw=0.3, alpha=0.6)


# which panels each kind has ------------------------------------------------------------------------
def _panels_nstar(analysis: dict[str, Any]) -> list[int]:
    return _dims(analysis)


def _panels_gap(analysis: dict[str, Any]) -> list[int]:
    return sorted({g["d"] for g in analysis["gap"]})


def _panels_success(analysis: dict[str, Any]) -> list[tuple[str, int]]:
    lower = _lower_studies(analysis)  # a proofs-only study proves no n* <= n: nothing to draw
    order = list(dict.fromkeys(g["study"] for g in analysis["groups"]))
    have = {(s["study"], s["d"]) for s in analysis.get("success", []) if s["widths"] and s["study"] not in lower}
    return sorted(have, key=lambda p: (order.index(p[0]) if p[0] in order else len(order), p[1]))


def _panels_frontier(analysis: dict[str, Any]) -> list[float]:
    eps_d: dict[float, set[int]] = {}
    for r in analysis.get("frontier", []):
        eps_d.setdefault(r["eps"], set()).add(r["d"])
    return sorted((e for e, ds in eps_d.items() if len(ds) >= 2), reverse=True)


def _panels_targets(analysis: dict[str, Any]) -> list[int]:
    return sorted({r["d"] for r in analysis.get("targets", []) if r["median_mid"] is not None})


def _title_nstar(analysis: dict[str, Any]) -> str:
    paradigms = {g["paradigm"] for g in analysis["groups"]}
    return ("Minimal width n* over seeds: weight, N:M, block and neuron pruning" if paradigms & {"nm", "block"}
            else "Minimal width n* over seeds: neuron vs weight pruning")


def _title_targets(analysis: dict[str, Any]) -> str:
    conf = analysis["analysis"]["confidence"]
    return f"Network targets: median n* against the target width K ({int(round(conf * 100))}% CI bars)"


_KINDS: dict[str, tuple[Callable[..., list[Any]], Callable[..., None], Callable[[dict[str, Any]], str]]] = {
    "nstar": (_panels_nstar, _draw_nstar, _title_nstar),
    "gap": (_panels_gap, _draw_gap, lambda a: "The gap: ratio of median minimal widths"),
    "frontier": (_panels_frontier, _draw_frontier, lambda a: "Neuron pruning against d: the certified lower end of n*"),
    "success": (_panels_success, _draw_success, lambda a: "Success curves over seeds (shaded: undecided trials)"),
    "targets": (_panels_targets, _draw_targets, _title_targets),
}


def _legend_order(kind: str, analysis: dict[str, Any]) -> list[str] | None:
    """Eps from large to small in the success curves' legend, whatever panel showed an eps first."""
    if kind == "success":
        return [f"eps = {e:g}" for e in _all_eps(analysis)]
    return None


def _ncols(kind: str, analysis: dict[str, Any], panels: Sequence[Any]) -> int | None:
    """Success curves keep one row per study where two or three d fit in a row."""
    if kind == "success":
        dims = {p[1] for p in panels}
        return len(dims) if 2 <= len(dims) <= 3 else None
    return None


def _compose(kind: str, analysis: dict[str, Any], panels: Sequence[Any], width: float, *,
             pyplot: bool) -> tuple[Any, list[Any]]:
    """A whole figure of ``kind``: its ``panels`` drawn by the kind's panel function, one shared legend
    below them, the title above; ``width`` inches wide (the height follows)."""
    import matplotlib  # lazy: a heavy library, needed only to draw

    _, draw, title = _KINDS[kind]
    with matplotlib.rc_context(STYLE):
        fig, axes = new_figure(len(panels), width, ncols=_ncols(kind, analysis, panels), pyplot=pyplot)
        for ax, panel in zip(axes, panels):
            draw(ax, analysis, panel)
            style_axes(ax)
        figure_legend(fig, axes, title=title(analysis), order=_legend_order(kind, analysis))
    return fig, axes


def _figure(kind: str, analysis: dict[str, Any], width: float) -> Any:
    panels = _KINDS[kind][0](analysis)
    if not panels:
        raise InvalidArgument(f"the analysis has nothing to draw in a {kind} figure")
    return _compose(kind, analysis, panels, width, pyplot=False)[0]


def _plot(kind: str, analysis: dict[str, Any], ax: Any, keep: Callable[[Any], bool], asked: str) -> Any:
    """The public ``plot_*``: the panels of ``kind`` that ``keep`` selects, on ``ax`` or a new pyplot figure."""
    import matplotlib  # lazy: a heavy library, needed only to draw

    every = _KINDS[kind][0](analysis)
    panels = [p for p in every if keep(p)]
    if not panels:
        have = ", ".join(map(str, every)) or "none"
        raise InvalidArgument(f"no {kind} panel for {asked}: the analysis has panels {have}")
    if ax is None:
        _, axes = _compose(kind, analysis, panels, TWO_COLUMN, pyplot=True)
        return axes[0] if len(axes) == 1 else np.array(axes, dtype=object)
    many = isinstance(ax, (list, tuple, np.ndarray))
    targets = list(np.ravel(np.asarray(ax, dtype=object))) if many else [ax]
    if many and len(targets) != len(panels):
        raise InvalidArgument(f"ax holds {len(targets)} Axes for {len(panels)} {kind} panels ({asked}): "
                              "pass as many, or one Axes (the first panel), or None (a new figure)")
    with matplotlib.rc_context(STYLE):
        for a, panel in zip(targets, panels):
            _KINDS[kind][1](a, analysis, panel)
            style_axes(a)
            axes_legend(a)
    return ax


def _asked(**kw: Any) -> str:
    return ", ".join(f"{k} = {v}" for k, v in kw.items() if v is not None) or "every panel"


# the public API: one figure kind each, from the analysis dict ------------------------------------------
def plot_nstar(analysis: dict[str, Any], ax: Any = None, *, d: int | None = None) -> Any:
    """n* against 1/eps (log-log): medians, bands, quantile, fits and the paper's bounds.

    ``analysis``: :func:`analysis.analyze`'s dict (or ``summary.json``). ``ax``: one matplotlib ``Axes``
    (draws panel ``d``, the first d when None, and returns that Axes), a sequence of Axes (one per panel),
    or None: a new pyplot figure with one panel per d (just ``d`` when given), shown inline in a notebook;
    returns its Axes, or a numpy array of them when there are several panels."""
    return _plot("nstar", analysis, ax, lambda p: d is None or p == d, _asked(d=d))


def plot_gap(analysis: dict[str, Any], ax: Any = None, *, d: int | None = None) -> Any:
    """The gap ratio of median n* against 1/eps, with the certified lower bound of the frontier; ``ax``
    and the return value as in :func:`plot_nstar` (one panel per d)."""
    return _plot("gap", analysis, ax, lambda p: d is None or p == d, _asked(d=d))


def plot_success(analysis: dict[str, Any], ax: Any = None, *, study: str | None = None, d: int | None = None) -> Any:
    """Success curves P(n* <= n), one curve per eps (one colour per eps in every panel); one panel per
    (study, d), kept to ``study`` and ``d`` when given; ``ax`` and the return value as in :func:`plot_nstar`."""
    return _plot("success", analysis, ax, lambda p: (study is None or p[0] == study) and (d is None or p[1] == d),
                 _asked(study=study, d=d))


def plot_frontier(analysis: dict[str, Any], ax: Any = None, *, eps: float | None = None) -> Any:
    """Proofs-only studies: the certified lower end of n* against d, one panel per eps shared by several d
    (just ``eps`` when given); ``ax`` and the return value as in :func:`plot_nstar`."""
    return _plot("frontier", analysis, ax, lambda p: eps is None or p == eps, _asked(eps=eps))


def plot_targets(analysis: dict[str, Any], ax: Any = None, *, d: int | None = None) -> Any:
    """Network targets: median n* against the target width K, one panel per d; ``ax`` and the return value
    as in :func:`plot_nstar`."""
    return _plot("targets", analysis, ax, lambda p: d is None or p == d, _asked(d=d))


# the report's figures (bare Figures, no pyplot) ------------------------------------------------
def figure_nstar(analysis: dict[str, Any], *, width: float = TWO_COLUMN) -> Any:
    """n* against 1/eps (log-log), one panel per d; ``width`` in inches."""
    return _figure("nstar", analysis, width)


def figure_targets(analysis: dict[str, Any], *, width: float = TWO_COLUMN) -> Any:
    """n* against the target's width K (network targets), one panel per d.

    One curve per (declared study, eps) with at least one median bounded: the
    median (its bracket midpoint when undecided trials leave it open, drawn open)
    and its confidence interval as a bar.  The colour is the eps's
    (:func:`eps_colors`), the marker and dash the family's."""
    return _figure("targets", analysis, width)


def figure_success(analysis: dict[str, Any], *, width: float = TWO_COLUMN) -> Any:
    """P(n* <= n) against n, one panel per (study, d), one curve per eps."""
    return _figure("success", analysis, width)


def figure_gap(analysis: dict[str, Any], *, width: float = TWO_COLUMN) -> Any:
    """The gap ratio of medians against 1/eps, one panel per d."""
    return _figure("gap", analysis, width)


def figure_frontier(analysis: dict[str, Any], *, width: float = TWO_COLUMN) -> Any:
    """The certified lower end of neuron n* against d, one panel per eps shared by several d, with the
    shapes d/eps and 1/eps through the smallest d's point (the two versions of the paper's bound).  Medians
    of other studies are left out: over other seeds, they are not comparable point by point."""
    return _figure("frontier", analysis, width)


_BUILDERS: dict[str, Callable[..., Any]] = {"nstar": figure_nstar, "success": figure_success, "gap": figure_gap,
                                            "targets": figure_targets, "frontier": figure_frontier}


def save_figure(fig: Any, folder: Path, name: str) -> dict[str, Any]:
    """Write ``name``.png (200 dpi) and ``name``.pdf at the figure's size; returns the paths and the PNG bytes."""
    import matplotlib  # lazy: a heavy library, needed only to draw

    folder.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(STYLE):  # pdf.fonttype and the hash salt are read when saving
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=200, metadata={"Software": None})
        png = buf.getvalue()
        pdf = io.BytesIO()
        fig.savefig(pdf, format="pdf",
                    metadata={"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None})
    atomic_write(folder / f"{name}.png", lambda fh: fh.write(png))
    atomic_write(folder / f"{name}.pdf", lambda fh: fh.write(pdf.getvalue()))
    return {"png": folder / f"{name}.png", "pdf": folder / f"{name}.pdf", "png_bytes": png}


def save_sizes(build: Callable[..., Any], folder: Path, name: str) -> dict[str, Any]:
    """``build(width=...)`` at both paper sizes: ``name``.{png,pdf} two-column (the page shows its PNG),
    ``name``-1col.{png,pdf} one-column; save_figure's dict of the two-column one, plus ``png_1col``, ``pdf_1col``."""
    out = save_figure(build(width=TWO_COLUMN), folder, name)
    one = save_figure(build(width=ONE_COLUMN), folder, name + _SUFFIX_1COL)
    return {**out, "png_1col": one["png"], "pdf_1col": one["pdf"]}


def make_figures(analysis: dict[str, Any], folder: Path) -> dict[str, dict[str, Any]]:
    """Every figure that has data, saved into ``folder`` at both sizes; name -> :func:`save_sizes`'s dict."""
    out = {}
    if not analysis["groups"]:
        return out
    for name in FIGURES:
        if not _KINDS[name][0](analysis):
            continue
        out[name] = save_sizes(lambda width, name=name: _BUILDERS[name](analysis, width=width), folder, name)
    return out
