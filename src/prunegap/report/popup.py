"""The popup study's part of the report (``[popup]`` and ``[popup.certify]``; :mod:`prunegap.sweep.popup`).

Built from the ``popup`` table alone (no torch needed), and only from the
rows of the stored config's plan (their keys hash the whole configuration),
so rows of an earlier popup configuration in the same folder never mix in.

* ``popup``: test accuracy (digits) or test MSE (teacher) against the width,
  one line per paradigm: the mean over seeds with its Student-t confidence
  band, one panel per density;
* ``popup_certify``: on the single neuron, the certified sup error of each
  seed's best edge-popup ticket over the densities, against the width, beside
  the certified min-error optimum of the reference family at the same width
  and seed; one panel per paradigm.  Edge-popup is a heuristic: its error is
  only ever an upper bound on the family's optimum.

Both are saved like the report's other figures (:func:`.figures.save_sizes`):
``figures/NAME.{png,pdf}`` two-column, ``figures/NAME-1col.{png,pdf}`` one-column.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .._plotting import (
    OKABE_ITO,
    PARADIGM_COLORS,
    STYLE,
    TWO_COLUMN,
    band,
    figure_legend,
    log_axis,
    new_figure,
    popup_width_figure,
    style_axes,
    width_axis,
)
from ..sweep.config import SweepConfig
from ..torch.certify import Comparison, comparison_row, reference_for
from ..torch.study import summarize_popup
from ._html import esc, html_figure, html_table
from .figures import save_sizes

__all__ = ["analyze_popup", "popup_figures", "popup_html", "popup_markdown"]


def _count(rows: list[dict[str, Any]], planned: int) -> dict[str, int]:
    out = {"planned": planned, "stored": len(rows)}
    for status in ("ok", "failed", "timeout"):
        out[status] = sum(r["status"] == status for r in rows)
    return out


def analyze_popup(rows: list[dict[str, Any]], config: SweepConfig) -> dict[str, Any] | None:
    """JSON-ready summary of the popup study (None when the sweep declares none)."""
    if config.popup is None and config.certify is None:
        return None
    plan = config.popup_trials()
    keys = {t.key for t in plan}
    mine = [r for r in rows if r["key"] in keys]
    kinds = ("data", "certify", "optimum", "construction")
    by_kind = {k: [r for r in mine if r["kind"] == k] for k in kinds}
    planned = {k: sum(t.kind == k for t in plan) for k in kinds}
    out: dict[str, Any] = {"counts": {k: _count(by_kind[k], planned[k]) for k in by_kind},
                           "failed": [{"key": r["key"], "status": r["status"], "reason": r["reason"]}
                                      for r in mine if r["status"] != "ok"][:100],
                           "confidence": config.analysis.confidence}
    if config.popup is not None:
        ok = [r for r in by_kind["data"] if r["status"] == "ok"]
        out["data"] = {"dataset": config.popup.dataset, "study": config.popup.to_dict(),
                       "summary": summarize_popup(ok, confidence=config.analysis.confidence) if ok else []}
    if config.certify is not None:
        optima = {r["key"]: r for r in by_kind["optimum"] + by_kind["construction"] if r["status"] == "ok"}
        comp, missing = [], 0
        for r in by_kind["certify"]:
            if r["status"] != "ok":
                continue
            ref, method, _, own = reference_for(r["paradigm"], nm=r["nm"], block=r["block"])
            opt = config.optimum_trial(r["paradigm"], r["width"], r["seed"])
            o = optima.get(opt.key)
            missing += o is None
            k = config.construction_trial(r["width"], r["seed"]).key if r["paradigm"] in ("weight", "nm") else None
            built = optima.get(k) if k else None
            comp.append(comparison_row(
                paradigm=r["paradigm"], width=r["width"], density=r["density"], seed=r["seed"],
                ticket_lower=r["error_lower"], ticket_upper=r["error_upper"], reference=ref,
                method=method if o is not None else None, own=own,
                optimum_lower=o["bound_lower"] if o is not None else None,
                optimum_upper=o["error_upper"] if o is not None else None,
                construction_upper=built["error_upper"] if built is not None else None))
        notes = [f"{missing} ticket(s) lack their reference optimum (not run yet, or failed)"] if missing else []
        c = Comparison(comp, notes)
        out["certify"] = {"d": config.certify.d, "study": config.certify.to_dict(), "rows": c.rows,
                          "summary": c.summary(), "notes": notes}
    return out


def figure_popup_data(pop: dict[str, Any], *, width: float = TWO_COLUMN) -> Any:
    """Accuracy (or loss) against width per paradigm, mean and Student-t band over seeds; a panel per density."""
    summary = pop["data"]["summary"]
    classification = pop["data"]["dataset"] == "digits"
    conf = int(round(pop["confidence"] * 100))
    return popup_width_figure(summary, ylabel="test accuracy" if classification else "test MSE", clip=classification,
                              title=f"Edge-popup on {pop['data']['dataset']}: mean over seeds, {conf}% confidence bands",
                              width=width)


def figure_popup_certify(pop: dict[str, Any], *, width: float = TWO_COLUMN) -> Any:
    """Certified sup error of edge-popup's best ticket vs the certified optimum, against width; a panel per paradigm."""
    import matplotlib  # lazy: a heavy library, needed only to draw

    summary = pop["certify"]["summary"]
    paradigms = list(dict.fromkeys(s["paradigm"] for s in summary))
    with matplotlib.rc_context(STYLE):
        fig, axes = new_figure(len(paradigms), width, sharey=True)
        for ax, p in zip(axes, paradigms):
            ss = [s for s in summary if s["paradigm"] == p]
            x = np.array([s["width"] for s in ss], float)
            c = PARADIGM_COLORS.get(p, OKABE_ITO["black"])
            tick = [np.asarray(s["ticket_errors"], float) for s in ss]
            ax.plot(x, [np.median(t) for t in tick], "-o", color=c, ms=3, lw=1.3, label=f"edge-popup, {p} (certified)")
            band(ax, x, np.array([t.min() for t in tick]), np.array([t.max() for t in tick]), c)
            opt = [np.asarray(s["optima"], float) for s in ss]
            if any(o.size for o in opt):
                med = np.array([np.median(o) if o.size else np.nan for o in opt])
                ref = ss[0]["reference"] + "/" + (ss[0]["method"] or "?")
                ax.plot(x, med, "--s", color="0.25", ms=3, lw=1.1,
                        label=f"optimum ({ref})" if ss[0]["own_optimum"] else f"lower bound ({ref})")
                band(ax, x, np.array([o.min() if o.size else np.nan for o in opt]),
                     np.array([o.max() if o.size else np.nan for o in opt]), "0.4")
            built = [np.asarray(s.get("constructions", []), float) for s in ss]
            if any(b.size for b in built):
                ax.plot(x, [np.median(b) if b.size else np.nan for b in built], ":^", color="0.45", ms=3, lw=1.1,
                        label="subset-sum construction")
            width_axis(ax)
            log_axis(ax.yaxis)
            ax.set_xlabel("width n")
            ax.set_title(p)
            ax.grid(True, which="major", lw=0.3, alpha=0.5)
            style_axes(ax)
        for ax in axes:
            if ax.get_subplotspec().is_first_col():  # stacked panels (one column) each get the label
                ax.set_ylabel("sup error over the unit ball")
        figure_legend(fig, axes, title=f"Single neuron, d = {pop['certify']['d']}: edge-popup's best ticket over "
                                       "densities vs the certified min-error optimum (median, range over seeds)")
    return fig


def popup_figures(pop: dict[str, Any] | None, folder: Path) -> dict[str, dict[str, Any]]:
    """``popup`` and ``popup_certify`` (where they have data), saved at both sizes like the other figures."""
    out: dict[str, dict[str, Any]] = {}
    if not pop:
        return out
    if pop.get("data") and pop["data"]["summary"]:
        out["popup"] = save_sizes(lambda width: figure_popup_data(pop, width=width), folder, "popup")
    if pop.get("certify") and pop["certify"]["summary"]:
        out["popup_certify"] = save_sizes(lambda width: figure_popup_certify(pop, width=width), folder,
                                          "popup_certify")
    return out


def _n(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def popup_html(pop: dict[str, Any] | None, figures: dict[str, dict[str, Any]]) -> list[str]:
    """The HTML sections of the popup study ([] without one)."""
    if not pop:
        return []
    conf = f"{pop['confidence']:.0%}"
    cnt = pop["counts"]
    parts = [
        "<h2>Edge-popup: score-based tickets on data</h2>",
        "<p>Edge-popup (Ramanujan et al. 2020) keeps the frozen random weights and learns a score per prunable "
        "element (a weight, a unit, a weight within its N:M group, a block of units), keeping the top-k in every "
        "forward pass. It is a heuristic: it never claims optimality. <code>[popup]</code> of the config declares "
        "the runs; rows are in the table <code>popup</code> of <code>results.duckdb</code>.</p>",
        html_table(["runs", "planned", "stored", "ok", "failed", "timeout"],
               [[k, *(str(v[c]) for c in ("planned", "stored", "ok", "failed", "timeout"))] for k, v in cnt.items()
                if v["planned"]]),
    ]
    if any(v["stored"] < v["planned"] for v in cnt.values()):
        parts.append("<p class='warn'>Some popup runs are not in the database yet: rerun the same "
                     "<code>prunegap gap</code> command to add them.</p>")
    data = pop.get("data")
    if data and data["summary"]:
        metric = "test accuracy" if data["dataset"] == "digits" else "test MSE"
        parts += [
            html_figure(figures, "popup", "edge-popup accuracy against width",
                    f"{metric.capitalize()} of edge-popup's ticket on <b>{esc(data['dataset'])}</b> against the width, "
                    f"one line per paradigm: the mean over seeds with its {conf} Student-t confidence band."),
            html_table(["paradigm", "density", "width", "seeds", f"mean {metric}", f"{conf} CI", "median", "min", "max"],
                   [[esc(s["paradigm"]), _n(s["density"]), str(s["width"]), str(s["n"]), _n(s["mean"]),
                     f"[{_n(s['ci_low'])}, {_n(s['ci_high'])}]", _n(s["median"]), _n(s["min"]), _n(s["max"])]
                    for s in data["summary"]]),
        ]
    cert = pop.get("certify")
    if cert and cert["summary"]:
        parts += [
            "<h2>Edge-popup against the certified optimum (single neuron)</h2>",
            f"<p>Edge-popup on the single neuron of the sweep's setting (d = {cert['d']}, the teacher's sample points, "
            "mean squared error), on prunegap's own random network of that width and seed. Each ticket's sup error "
            "over the unit ball is certified by prunegap's evaluator as an interval [lower, upper]; the reference is "
            "the certified min-error ticket of the family at the same width and seed. Where a pattern has no exact "
            "solver of its own, the wider family's optimum (weight for N:M, neuron for blocks) is a lower bound, "
            "so the excess shown is an upper bound. Excess = ticket upper bound minus the optimum's proven lower "
            "bound: how far the score-based search falls from the certified optimum at most.</p>",
            html_figure(figures, "popup_certify", "edge-popup vs certified optimum",
                    "Median over seeds of the best ticket over the densities (certified upper bound), the range over "
                    "seeds shaded; dashed: the certified optimum of the reference (median and range); dotted (weight, "
                    "N:M): the subset-sum construction's certified error at the same width (median)."),
            html_table(["paradigm", "width", "seeds", "edge-popup sup error (median of best)", "its density",
                    "reference optimum (median)", "reference", "excess, at most (median)", "ratio (median)",
                    "construction (median)"],
                   [[esc(s["paradigm"]), str(s["width"]), str(s["seeds"]), _n(s["ticket_error"]), _n(s["best_density"]),
                     _n(s["optimum"]),
                     (f"{esc(s['reference'])}/{esc(s['method'])}" + ("" if s["own_optimum"] else " (lower bound)"))
                     if s["method"] else "n/a",
                     _n(s["excess"]), _n(s["ratio"]), _n(s.get("construction"))] for s in cert["summary"]]),
        ]
        parts += [f"<p class='warn'>{esc(n)}</p>" for n in cert["notes"]]
    if pop["failed"]:
        parts += ["<h3>Popup runs that failed or stopped</h3>",
                  html_table(["run", "status", "reason"], [[esc(f["key"]), esc(f["status"]), esc(f["reason"] or "")]
                                                        for f in pop["failed"]])]
    return parts


def popup_markdown(pop: dict[str, Any] | None) -> list[str]:
    """A few lines for the terminal summary ([] without a popup study)."""
    if not pop:
        return []
    lines = [""]
    data = pop.get("data")
    if data and data["summary"]:
        metric = "test accuracy" if data["dataset"] == "digits" else "test MSE"
        widest = max(s["width"] for s in data["summary"])
        parts = [f"{s['paradigm']} {s['mean']:.3g}" for s in data["summary"] if s["width"] == widest]
        lines.append(f"Edge-popup on {data['dataset']}, width {widest}, mean {metric} over seeds: {', '.join(parts)}.")
    cert = pop.get("certify")
    if cert and cert["summary"]:
        widest = max(s["width"] for s in cert["summary"])
        parts = [f"{s['paradigm']} {_n(s['ticket_error'])} vs {_n(s['optimum'])}" for s in cert["summary"]
                 if s["width"] == widest]
        lines.append(f"Single neuron, width {widest}: edge-popup's certified sup error vs the certified optimum "
                     f"(medians): {', '.join(parts)}.")
    c = pop["counts"]
    bad = sum(v["failed"] + v["timeout"] for v in c.values())
    if bad:
        lines.append(f"{bad} popup run(s) failed or stopped (see report.html).")
    return lines
