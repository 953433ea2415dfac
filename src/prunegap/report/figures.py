"""Figures of the report (matplotlib, no pyplot: no global state, no display).

Each figure is built from the JSON-ready analysis (:func:`analysis.analyze`),
so ``prunegap report`` redraws it from the database alone, and saved as PNG
(for the HTML page) and PDF (for papers), with fixed metadata so that the
same results give the same files.

* ``nstar``: n* against 1/eps on log-log axes, one panel per d: medians with
  their confidence bands, the (1 - delta) quantile, undetermined medians as
  bracket bars, the fits, and the paper's two bounds as grey reference curves;
* ``success``: the success curves P(n* <= n), one panel per (study, d);
* ``gap``: the gap ratio n*_neuron / n*_weight against 1/eps, per d, and the
  certified lower bound of the ratio from the frontier (n_lower / n_upper);
* ``frontier`` (proofs-only studies): the certified lower end of n* against d
  at each shared eps, with the shapes d/eps and 1/eps;
* ``targets`` (network-target studies only): n* against the target's width K,
  one panel per d, one curve per (declared study, eps).

Every study keeps one colour and one marker in every figure, and is labelled
by :func:`analysis.study_info` (pattern studies with their N:M or B), so a
sweep with several patterns is read off one ``nstar`` figure.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from .._plotting import PARADIGM_COLORS
from ..io import atomic_write
from .analysis import reference_curve

__all__ = ["FIGURES", "MARKERS", "STYLE", "make_figures", "save_figure", "study_labels"]

#: Names of the figures, in the order the report shows them.
FIGURES: tuple[str, ...] = ("nstar", "gap", "frontier", "success", "targets")

_COLORS = {p: PARADIGM_COLORS[p] for p in ("neuron", "weight")}  # the other studies cycle through _CYCLE
_CYCLE = ("#2a9d55", "#8e44ad", "#d68910", "#17a2b8", "#7f8c8d")
#: One marker per study, in config order: colours repeat past the cycle, markers tell studies apart.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")
#: The matplotlib style of every report figure (the popup study's too).
STYLE = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,  # TrueType in PDFs: editable text, accepted by journals
    "svg.hashsalt": "prunegap",
}



def _nstar_panel(ax: Any, d: int, top: float, xlabel: str) -> None:
    """The n* axis of a panel: log scale capped at ``top``, labels, the panel's d."""
    ax.set_yscale("log")
    ax.set_ylim(top=top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("minimal width n*")
    ax.set_title(f"d = {d}")
    ax.grid(True, which="major", lw=0.3, alpha=0.6)

def _colors(analysis: dict[str, Any]) -> dict[str, str]:
    """Red for the first neuron study, blue for the first weight study, then a cycle."""
    out: dict[str, str] = {}
    used: set[str] = set()
    k = 0
    for g in analysis["groups"]:
        if g["study"] in out:
            continue
        if g["paradigm"] in _COLORS and g["paradigm"] not in used:
            out[g["study"]] = _COLORS[g["paradigm"]]
            used.add(g["paradigm"])
        else:
            out[g["study"]] = _CYCLE[k % len(_CYCLE)]
            k += 1
    return out


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


def _new_figure(ncols: int, nrows: int = 1, *, width: float = 3.4, height: float = 2.8):
    from matplotlib.figure import Figure  # lazy: a heavy library, needed only to draw

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


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
        return f"fit: alpha = {_fmt(a['estimate'])} [{_fmt(a['ci'][0])}, {_fmt(a['ci'][1])}]"
    b = p["b"]
    return f"fit: b = {_fmt(b['estimate'])} [{_fmt(b['ci'][0])}, {_fmt(b['ci'][1])}]"


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


def _frontier_series(ax: Any, analysis: dict[str, Any], d: int, colors: dict[str, str], labels: dict[str, str],
                     conf: float) -> list[tuple[str, str]]:
    """The median n_lower of each proofs-only study in panel d: a proven lower bound, drawn with upward
    triangles (the true n* lies above), its bootstrap band and its fit."""
    notes = []
    fits = {(f["study"], f["d"]): f for f in analysis["fits"]}
    for study in dict.fromkeys(r["study"] for r in analysis.get("frontier", []) if r["d"] == d):
        rows = sorted((r for r in analysis["frontier"] if r["study"] == study and r["d"] == d), key=lambda r: -r["eps"])
        c, name = colors.get(study, "#444444"), labels.get(study, study)
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


def figure_nstar(analysis: dict[str, Any]):
    """n* against 1/eps (log-log), one panel per d."""
    colors = _colors(analysis)
    markers, labels = _markers(analysis), study_labels(analysis)
    dims = _dims(analysis)
    n_studies = len({g["study"] for g in analysis["groups"]})
    # every study adds four legend rows and a line of fit numbers in each panel: a sweep with
    # several patterns gets a taller figure so that the panels keep their height
    fig, axes = _new_figure(max(len(dims), 1), width=3.6 if n_studies <= 3 else 4.2,
                            height=3.3 + 0.6 * max(0, n_studies - 2))
    q = analysis["analysis"]["quantile_level"]
    conf = analysis["analysis"]["confidence"]
    fits = {(f["study"], f["d"]): f for f in analysis["fits"]}
    ref = analysis.get("reference", {})
    lower = _lower_studies(analysis)
    for ax, d in zip(axes[0], dims):
        gs = [g for g in analysis["groups"] if g["d"] == d and g["study"] not in lower]
        top = _top([v for g in gs for v in (*g["median_ci"], *g["quantile_bracket"], *g["median_bracket"])]
                   + [v for r in analysis.get("frontier", []) if r["d"] == d for v in r["ci"]])
        fit_notes: list[tuple[str, str]] = _frontier_series(ax, analysis, d, colors, labels, conf)
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
                fit_notes.append((c, f"{name}: {_fit_label(f)}"))
        for i, (c, text) in enumerate(fit_notes):  # per-panel numbers; the legend is shared by the panels
            ax.text(0.98, 0.04 + 0.07 * i, text, color=c, fontsize=7, ha="right", va="bottom", transform=ax.transAxes)
        xs = np.array(sorted({1.0 / g["eps"] for g in analysis["groups"] if g["d"] == d}))
        if xs.size:
            xe = np.geomspace(xs.min(), xs.max(), 60)
            for paradigm, r in ref.items():
                dash = (0, (5, 3)) if paradigm == "weight" else (0, (6, 2, 1, 2))
                ax.plot(xe, reference_curve(paradigm, r["value"], d, 1.0 / xe), color="0.5", lw=0.9,
                        ls=dash, zorder=0, label=f"theory: {r['formula']}, {r['constant']} = {r['value']:.3g}")
        ax.set_xscale("log")
        _nstar_panel(ax, d, top, "1 / eps")
    if dims:
        handles, labels = axes[0][0].get_legend_handles_labels()
        for ax in axes[0][1:]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
    paradigms = {g["paradigm"] for g in analysis["groups"]}
    title = ("Minimal width n* over seeds: weight, N:M, block and neuron pruning" if paradigms & {"nm", "block"}
             else "Minimal width n* over seeds: neuron vs weight pruning")
    fig.suptitle(title, fontsize=10)
    return fig


def figure_targets(analysis: dict[str, Any]):
    """n* against the target's width K (network targets), one panel per d.

    One curve per (declared study, eps) with at least one median bounded: the
    median (its bracket midpoint when undecided trials leave it open, drawn open)
    and its confidence interval as a bar.  A family keeps the colour and marker
    of its first study; darker lines are smaller eps."""
    rows = analysis.get("targets", [])
    colors, markers = _colors(analysis), _markers(analysis)
    dims = sorted({r["d"] for r in rows})
    fig, axes = _new_figure(max(len(dims), 1), width=3.6, height=3.3)
    conf = analysis["analysis"]["confidence"]
    for ax, d in zip(axes[0], dims):
        rs = [r for r in rows if r["d"] == d]
        top = _top([v for r in rs for v in (*r["median_ci"], *r["median_bracket"])])
        for family in dict.fromkeys(r["family"] for r in rs):
            fr = [r for r in rs if r["family"] == family]
            first = fr[0]["study"]
            c, mk = colors[first], markers[first]
            epss = sorted({r["eps"] for r in fr}, reverse=True)
            for i, eps in enumerate(epss):
                er = sorted((r for r in fr if r["eps"] == eps), key=lambda r: r["target_width"])
                k = np.array([r["target_width"] for r in er], float)
                mid = np.array([r["median_mid"] if r["median_mid"] is not None else np.nan for r in er], float)
                if np.all(np.isnan(mid)):
                    continue
                shade = 0.35 + 0.65 * (i + 1) / len(epss)  # the smallest eps darkest
                ax.plot(k, mid, "-", color=c, alpha=shade, lw=1.3, marker=mk, ms=4, mfc=c,
                        markevery=[r["median"] is not None for r in er],
                        label=f"{family} ({fr[0]['paradigm']}/{fr[0]['method']}), eps = {eps:g}")
                for ki, r, m in zip(k, er, mid):
                    lo, hi = r["median_ci"]
                    if lo is not None:
                        ax.plot([ki, ki], [lo, min(hi if hi is not None else top, top)], color=c, alpha=0.35 * shade,
                                lw=4, solid_capstyle="butt")
                    if r["median"] is None and not np.isnan(m):
                        ax.plot([ki], [m], marker=mk, mfc="white", color=c, alpha=shade, ms=4)
        ks = sorted({r["target_width"] for r in rs})
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks)
        ax.set_xticklabels([str(x) for x in ks])
        _nstar_panel(ax, d, top, "target width K (hidden units per layer)")
        ax.legend(loc="upper left", frameon=False, fontsize=6)
    fig.suptitle(f"Network targets: median n* against the target width K ({int(round(conf * 100))}% CI bars)",
                 fontsize=10)
    return fig


def figure_success(analysis: dict[str, Any]):
    """P(n* <= n) against n, one panel per (study, d), one curve per eps."""
    import matplotlib  # lazy: a heavy library, needed only to draw
    from matplotlib import colors as mcolors  # lazy, as above

    lower = _lower_studies(analysis)  # a proofs-only study proves no n* <= n: nothing to draw
    studies = list(dict.fromkeys(g["study"] for g in analysis["groups"] if g["study"] not in lower))
    labels = study_labels(analysis)
    dims = sorted({g["d"] for g in analysis["groups"] if g["study"] in studies})
    fig, axes = _new_figure(max(len(dims), 1), max(len(studies), 1), height=2.5)
    cmap = matplotlib.colormaps["viridis"]
    for i, study in enumerate(studies):
        for j, d in enumerate(dims):
            ax = axes[i][j]
            gs = sorted((g for g in analysis["groups"] if g["study"] == study and g["d"] == d), key=lambda g: -g["eps"])
            if not gs:
                ax.set_visible(False)
                continue
            values = [v for g in gs for v in (*g["n_lo"], *g["n_hi"]) if v is not None]
            if not values:
                ax.set_visible(False)
                continue
            grid = np.unique(np.concatenate([[min(values) / 1.5], np.asarray(values, float), [max(values) * 1.5]]))
            panel_eps = [g["eps"] for g in gs]  # colours span this panel's eps: every curve distinct
            norm = mcolors.LogNorm(vmin=min(panel_eps), vmax=max(panel_eps)) if len(gs) > 1 else None
            for g in gs:
                lo = np.array(g["n_lo"], float)
                hi = np.array([v if v is not None else np.inf for v in g["n_hi"]], float)
                proven = (hi[None, :] <= grid[:, None]).mean(axis=1)
                possible = (lo[None, :] <= grid[:, None]).mean(axis=1)
                c = cmap(norm(g["eps"])) if norm else cmap(0.5)
                ax.step(grid, proven, where="post", color=c, lw=1.2, label=f"eps = {g['eps']:g}")
                if np.any(possible != proven):
                    ax.fill_between(grid, proven, possible, step="post", color=c, alpha=0.2, lw=0)
            ax.set_xscale("log")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("width n")
            ax.set_ylabel("P(n* <= n)")
            ax.set_title(f"{labels[study]}, d = {d}")
            ax.grid(True, lw=0.3, alpha=0.6)
            ax.legend(loc="upper left", ncol=1 if len(gs) <= 5 else 2, frameon=False, fontsize=6, handlelength=1.2)
    fig.suptitle("Success curves over seeds (shaded: undecided trials)", fontsize=10)
    return fig


def figure_gap(analysis: dict[str, Any]):
    """The gap ratio of medians against 1/eps, one panel per d."""
    gap = analysis["gap"]
    dims = sorted({g["d"] for g in gap}) or _dims(analysis)
    fig, axes = _new_figure(max(len(dims), 1))
    conf = analysis["analysis"]["confidence"]
    ref = analysis.get("reference", {})
    for ax, d in zip(axes[0], dims):
        bounds = _best_bounds([r for r in gap if r["d"] == d and r.get("bound") == "lower"])
        rows = sorted((r for r in gap if r["d"] == d and r.get("bound") != "lower"), key=lambda r: -r["eps"])
        if bounds:
            xb = np.array([1.0 / r["eps"] for r in bounds])
            yb = np.array([r["bracket"][0] or np.nan for r in bounds], float)
            lb = np.array([r["ci"][0] or np.nan for r in bounds], float)
            ax.fill_between(xb, lb, yb, color="#c0392b", alpha=0.15, lw=0)
            ax.plot(xb, yb, "-", color="#c0392b", marker="^", ms=4.5, lw=1.2,
                    label="certified lower bound: median n_lower / median n_upper")
            for xi, r in zip(xb, bounds):
                ax.annotate(f"{r['bracket'][0]:.3g}x" if r["bracket"][0] else "", (xi, r["bracket"][0] or 1),
                            textcoords="offset points", xytext=(0, 5), ha="center", fontsize=6, color="#c0392b")
        if not rows and not bounds:
            ax.text(0.5, 0.5, "no eps shared by the two studies", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(f"d = {d}")
            continue
        x = np.array([1.0 / r["eps"] for r in rows] + [1.0 / r["eps"] for r in bounds])
        top = _top([v for r in rows + bounds for v in (*r["ci"], *r["bracket"])])
        for xi, r in zip(x, rows):
            lo = r["ci"][0] if r["ci"][0] is not None else r["bracket"][0] or 0.0
            hi = r["ci"][1] if r["ci"][1] is not None else top
            ax.plot([xi, xi], [max(lo, 1e-3), min(hi, top)], color="#333333", lw=1.0)
            if r["ratio"] is not None:
                ax.plot([xi], [r["ratio"]], "o", color="#333333", ms=4, mfc="#333333" if r["determined"] else "white")
        ok = np.array([r["ratio"] if r["ratio"] is not None else np.nan for r in rows], float)
        if rows:
            ax.plot(x[: len(rows)], ok, "-", color="#333333", lw=1.0,
                    label=f"ratio of medians ({int(round(conf * 100))}% CI)")
        if "neuron" in ref and "weight" in ref:
            xe = np.geomspace(x.min(), x.max(), 60)
            e = 1.0 / xe
            with np.errstate(divide="ignore"):
                curve = reference_curve("neuron", ref["neuron"]["value"], d, e) / reference_curve("weight", ref["weight"]["value"], d, e)
            ax.plot(xe, curve, color="0.55", ls=(0, (5, 3)), lw=0.9, label="theory: (c/C) / (eps log(1/eps))")
        ax.axhline(1.0, color="0.7", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("1 / eps")
        ax.set_ylabel("ratio of median n*")
        ax.set_title(f"d = {d}: {rows[0]['numerator']} / {rows[0]['denominator']}" if rows else f"d = {d}")
        _plain_ticks(ax)
        ax.grid(True, lw=0.3, alpha=0.6)
        ax.legend(loc="upper left", frameon=False, fontsize=6)
    fig.suptitle("The gap: ratio of median minimal widths", fontsize=10)
    return fig


def _best_bounds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At each eps, the frontier's strongest certified lower bound of the ratio (over its weight denominators)."""
    best: dict[float, dict[str, Any]] = {}
    for r in rows:
        b = r["bracket"][0]
        if b is not None and (r["eps"] not in best or b > (best[r["eps"]]["bracket"][0] or 0.0)):
            best[r["eps"]] = r
    return [best[e] for e in sorted(best, reverse=True)]


def figure_frontier(analysis: dict[str, Any]):
    """The certified lower end of neuron n* against d, one panel per eps shared by several d, with the
    shapes d/eps and 1/eps through the d = 2 point (the two versions of the paper's bound).  Medians
    of other studies are left out: over other seeds, they are not comparable point by point."""
    rows = analysis.get("frontier", [])
    eps_d: dict[float, set[int]] = {}
    for r in rows:
        eps_d.setdefault(r["eps"], set()).add(r["d"])
    shared = sorted((e for e, ds in eps_d.items() if len(ds) >= 2), reverse=True)
    fig, axes = _new_figure(max(len(shared), 1), width=3.0, height=2.9)
    for ax, eps in zip(axes[0], shared):
        rs = sorted((r for r in rows if r["eps"] == eps), key=lambda r: r["d"])
        for study in dict.fromkeys(r["study"] for r in rs):
            sr = [r for r in rs if r["study"] == study and r["median_n_lower"] is not None]
            if not sr:
                continue
            ds = np.array([r["d"] for r in sr], float)
            y = np.array([r["median_n_lower"] for r in sr], float)
            lo = np.array([r["ci"][0] or np.nan for r in sr], float)
            hi = np.array([r["ci"][1] or np.nan for r in sr], float)
            ax.errorbar(ds, y, yerr=[y - lo, hi - y], fmt="-^", color="#c0392b", ms=4.5, lw=1.2, capsize=2,
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
        ax.set_xticks(sorted(eps_d[eps]))
        ax.grid(True, lw=0.3, alpha=0.6)
    if shared:
        handles, labs = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labs, loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle("Neuron pruning against d: the certified lower end of n*", fontsize=10)
    return fig


def _plain_ticks(ax: Any) -> None:
    """Log axes labelled 0.5, 1, 2 rather than 5 x 10^-1."""
    from matplotlib.ticker import FuncFormatter  # lazy: a heavy library, needed only to draw

    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(fmt)
        axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))


_BUILDERS = {"nstar": figure_nstar, "success": figure_success, "gap": figure_gap, "targets": figure_targets,
             "frontier": figure_frontier}


def save_figure(fig: Any, folder: Path, name: str) -> dict[str, Any]:
    """Write ``name``.png and ``name``.pdf; returns the paths and the PNG bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=200, metadata={"Software": None})
    png = buf.getvalue()
    atomic_write(folder / f"{name}.png", lambda fh: fh.write(png))
    pdf = io.BytesIO()
    fig.savefig(pdf, format="pdf", metadata={"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None})
    atomic_write(folder / f"{name}.pdf", lambda fh: fh.write(pdf.getvalue()))
    return {"png": folder / f"{name}.png", "pdf": folder / f"{name}.pdf", "png_bytes": png}


def make_figures(analysis: dict[str, Any], folder: Path) -> dict[str, dict[str, Any]]:
    """Every figure that has data, saved into ``folder``; name -> save_figure's dict."""
    import matplotlib  # lazy: a heavy library, needed only to draw

    out = {}
    with matplotlib.rc_context(STYLE):
        for name in FIGURES:
            if name == "gap" and not analysis["gap"]:
                continue
            if name == "frontier" and len({r["d"] for r in analysis.get("frontier", [])}) < 2:
                continue
            if name == "targets" and not any(r["median_mid"] is not None for r in analysis.get("targets", [])):
                continue
            if not analysis["groups"]:
                continue
            fig = _BUILDERS[name](analysis)
            out[name] = save_figure(fig, folder, name)
    return out
