"""Matplotlib pieces shared by the report and the torch study (no pyplot; import-free of torch)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

PARADIGM_COLORS = {"weight": "#1f5fa8", "neuron": "#c0392b", "nm": "#2a9d55", "block": "#8e44ad"}


def band(ax: Any, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, color: str) -> None:
    """A confidence band; a single width gets a bar, since fill_between needs two."""
    if np.any(np.isfinite(lo)):
        if x.size == 1:
            ax.plot([x[0], x[0]], [lo[0], hi[0]], color=color, alpha=0.35, lw=5, solid_capstyle="butt")
        else:
            ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)


def width_axis(ax: Any) -> None:
    """Log-2 width axis labelled with plain numbers."""
    from matplotlib.ticker import FuncFormatter, NullFormatter  # lazy: a heavy library, needed only to draw

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def popup_width_figure(summary: Sequence[dict[str, Any]], *, ylabel: str, title: str, clip: bool) -> Any:
    """Mean over seeds against width per paradigm with its band; one panel per density.

    ``summary`` rows carry paradigm, density, width, mean, ci_low, ci_high;
    ``clip`` keeps the bands in [0, 1] (an accuracy: a t interval over few
    seeds may leave it).
    """
    from matplotlib.figure import Figure  # lazy: a heavy library, needed only to draw

    dens = sorted({s["density"] for s in summary})
    fig = Figure(figsize=(3.6 * max(1, len(dens)), 3.0), layout="constrained")
    axes = fig.subplots(1, max(1, len(dens)), squeeze=False)[0]
    for ax, r in zip(axes, dens):
        for p in dict.fromkeys(s["paradigm"] for s in summary):
            ss = [s for s in summary if s["paradigm"] == p and s["density"] == r]
            if not ss:
                continue
            x = np.array([s["width"] for s in ss], float)
            c = PARADIGM_COLORS.get(p, "0.3")
            ax.plot(x, [s["mean"] for s in ss], "-o", color=c, ms=3, lw=1.3, label=f"{p}: mean over seeds")
            lo, hi = np.array([s["ci_low"] for s in ss], float), np.array([s["ci_high"] for s in ss], float)
            if clip:
                lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
            band(ax, x, lo, hi, c)
        width_axis(ax)
        ax.set_xlabel("width n")
        ax.set_ylabel(ylabel)
        ax.set_title(f"density {r:g}")
        ax.grid(True, lw=0.3, alpha=0.6)
    axes[0].legend(frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig
