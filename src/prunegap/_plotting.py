"""Matplotlib pieces shared by the report and the torch study (no pyplot; import-free of torch).

The one style of every prunegap figure lives here: the palette
(:data:`OKABE_ITO`, colour-blind safe), the font sizes (:data:`FONT_SIZES`,
and :data:`STYLE` for ``matplotlib.rc_context``), the two paper widths
(:data:`ONE_COLUMN`, :data:`TWO_COLUMN`), the log axes that never crowd
their labels (:func:`log_axis`) and the legends outside the data
(:func:`figure_legend`, :func:`axes_legend`).
"""

from __future__ import annotations

import math
import textwrap
from typing import Any, Sequence

import numpy as np

__all__ = [
    "FONT_SIZES", "OKABE_ITO", "ONE_COLUMN", "PARADIGM_COLORS", "STYLE", "TWO_COLUMN", "axes_legend", "band",
    "figure_legend", "log_axis", "new_figure", "popup_width_figure", "style_axes", "width_axis",
]

#: Okabe & Ito (2008), the colour-blind-safe qualitative palette: every colour of every figure comes from it.
OKABE_ITO: dict[str, str] = {
    "blue": "#0072B2", "vermillion": "#D55E00", "bluish green": "#009E73", "reddish purple": "#CC79A7",
    "orange": "#E69F00", "sky blue": "#56B4E9", "black": "#000000", "yellow": "#F0E442",
}
PARADIGM_COLORS: dict[str, str] = {"weight": OKABE_ITO["blue"], "neuron": OKABE_ITO["vermillion"],
                                   "nm": OKABE_ITO["bluish green"], "block": OKABE_ITO["reddish purple"]}

#: Widths in inches of a one-column and a two-column figure of a two-column paper (e.g. NeurIPS, ICML, IEEE).
ONE_COLUMN = 3.4
TWO_COLUMN = 7.0

#: The one font size scheme (points). A figure is drawn at its printed width, so these are the printed sizes.
FONT_SIZES: dict[str, float] = {"suptitle": 9.0, "title": 8.0, "label": 8.0, "tick": 7.0, "legend": 7.0, "note": 7.0}

#: The matplotlib style of every prunegap figure (the report's and the popup study's).
STYLE: dict[str, Any] = {
    "font.size": FONT_SIZES["label"],
    "figure.titlesize": FONT_SIZES["suptitle"],
    "axes.titlesize": FONT_SIZES["title"],
    "axes.labelsize": FONT_SIZES["label"],
    "legend.fontsize": FONT_SIZES["legend"],
    "xtick.labelsize": FONT_SIZES["tick"],
    "ytick.labelsize": FONT_SIZES["tick"],
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "pdf.fonttype": 42,  # TrueType in PDFs: editable text, accepted by journals
    "svg.hashsalt": "prunegap",
}


def style_axes(ax: Any) -> None:
    """The scheme's sizes on ``ax`` itself: tick labels are created lazily at draw time, maybe outside any
    ``rc_context`` (a notebook draws after the cell ran), and a caller's axes carry their own sizes."""
    ax.tick_params(which="both", labelsize=FONT_SIZES["tick"])
    ax.xaxis.label.set_fontsize(FONT_SIZES["label"])
    ax.yaxis.label.set_fontsize(FONT_SIZES["label"])
    ax.title.set_fontsize(FONT_SIZES["title"])


def new_figure(n_panels: int, width: float, *, ncols: int | None = None, panel_height: float | None = None,
               pyplot: bool = False, sharey: bool = False) -> tuple[Any, list[Any]]:
    """A constrained-layout figure ``width`` inches wide with ``n_panels`` axes, row by row.

    A one-column figure stacks its panels; a two-column one puts up to three side by side (or ``ncols``).
    ``pyplot`` creates it through ``matplotlib.pyplot`` (a notebook shows it inline); otherwise it is a bare
    ``Figure`` that touches no global state."""
    n = max(1, n_panels)
    most = 1 if width < 5.0 else 3
    cols = max(1, min(ncols or n, most, n))
    rows = math.ceil(n / cols)
    pw = width / cols
    ph = panel_height if panel_height is not None else min(2.8, max(2.1, 0.7 * pw))
    size = (width, rows * ph)
    if pyplot:
        import matplotlib.pyplot as plt  # lazy, and only for notebooks: the report never starts pyplot

        fig = plt.figure(figsize=size, layout="constrained")
    else:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy: a heavy library, needed only to draw
        from matplotlib.figure import Figure

        fig = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(fig)  # a canvas of its own: measured (legends, labels) without pyplot
    grid = fig.subplots(rows, cols, squeeze=False, sharey=sharey)
    axes = [a for row in grid for a in row]
    for extra in axes[n:]:
        fig.delaxes(extra)
    return fig, axes[:n]


def _dedup(axes: Sequence[Any]) -> tuple[list[Any], list[str]]:
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
    return handles, labels


#: Inches of a panel's planned height that its title, tick labels and axis label take.
_DECORATION = 0.75


def _renderer(fig: Any) -> Any:
    get = getattr(fig.canvas, "get_renderer", None)
    return get() if get is not None else fig._get_renderer()


def _text_height(fig: Any, artist: Any) -> float:
    """Height in inches of a drawn artist (0 when absent)."""
    if artist is None or not artist.get_visible() or (hasattr(artist, "get_text") and not artist.get_text()):
        return 0.0
    return float(artist.get_window_extent(_renderer(fig)).height / fig.dpi)


def figure_legend(fig: Any, axes: Sequence[Any], *, title: str | None = None,
                  order: Sequence[str] | None = None) -> Any:
    """One legend for all panels, below them and outside every axes; the figure's height grows to hold it.

    The labels of ``axes`` once each (in ``order`` where given), in as many columns (at most three) as the
    figure's width holds (measured: a legend's size does not depend on the layout); a label too long for
    even one column is wrapped, and so is a title wider than the figure. The figure keeps its width (the
    paper's column) and the panels their planned height: the figure grows by what the legend, the title
    and any notes under the panels take."""
    handles, labels = _dedup(axes)
    if order is not None:
        rank = {lab: i for i, lab in enumerate(order)}
        pairs = sorted(zip(handles, labels), key=lambda p: rank.get(p[1], len(rank)))
        handles, labels = [p[0] for p in pairs], [p[1] for p in pairs]
    if title:
        fig.suptitle(title, fontsize=FONT_SIZES["suptitle"])
    width, height = fig.get_size_inches()
    legend = None
    if labels:
        ncol, wrap = min(3, len(labels)), max(len(x) for x in labels)
        while True:
            shown = [textwrap.fill(x, wrap) for x in labels]
            legend = fig.legend(handles, shown, loc="outside lower center", ncol=ncol, frameon=False,
                                fontsize=FONT_SIZES["legend"], handlelength=1.8, columnspacing=1.2)
            fits = legend.get_window_extent(_renderer(fig)).width / fig.dpi <= 0.98 * width
            if fits or (ncol == 1 and wrap <= 12):
                break
            legend.remove()
            if ncol > 1:
                ncol -= 1
            else:
                wrap = max(12, int(0.8 * wrap))
    if title:  # a title wider than the column is wrapped, never cut off
        t = fig._suptitle
        over = t.get_window_extent(_renderer(fig)).width / fig.dpi / (0.96 * width)
        if over > 1.0:
            t.set_text(textwrap.fill(title, max(12, int(len(title) / over))))
    extra = _text_height(fig, legend) + _text_height(fig, fig._suptitle) + (0.1 if legend is not None else 0.0)
    fig.set_size_inches(width, height + extra)
    # what else sits between the panels (notes under an axis, wrapped titles) shows only once laid out:
    # grow the figure until the smallest axes box has the height planned for it
    rows = len({ax.get_subplotspec().rowspan.start for ax in axes}) or 1
    want = height / rows - _DECORATION
    fig.draw_without_rendering()
    have = min(ax.get_position().height for ax in axes) * (height + extra) if axes else want
    if have < want - 0.02:
        fig.set_size_inches(width, height + extra + rows * (want - have))
    return legend


def axes_legend(ax: Any) -> Any:
    """The legend of one panel drawn on a caller's axes: right of the axes, outside the data."""
    handles, labels = _dedup([ax])
    if not labels:
        return None
    return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                     frameon=False, fontsize=FONT_SIZES["legend"])


def _tick_text(v: float) -> str:
    """A tick label: plain numbers (20, 0.5, 3000), powers of ten past 10^5."""
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else ""
    if 1e-3 <= abs(v) < 1e5:
        return f"{v:.6g}"
    e = int(math.floor(math.log10(abs(v)) + 1e-9))
    m = v / 10.0 ** e
    return f"$10^{{{e}}}$" if abs(m - 1.0) < 1e-9 else f"${m:.3g}\\times10^{{{e}}}$"


def _log_ticks_locator(base: float) -> Any:
    from matplotlib.ticker import Locator, MaxNLocator  # lazy: a heavy library, needed only to draw

    class _ThinLogLocator(Locator):
        """Major ticks of a log axis spaced so that their labels never touch: the densest of 1-9, 1-2-5, 1, and
        every k-th power (or, inside one factor of the base, a few linear values) whose labels fit, with
        at most ``MAX_TICKS`` labels."""

        MAX_TICKS = 6

        def __call__(self) -> Any:
            vmin, vmax = self.axis.get_view_interval()
            return self.tick_values(vmin, vmax)

        def tick_values(self, vmin: float, vmax: float) -> Any:
            vmin, vmax = sorted((float(vmin), float(vmax)))
            if not (vmin > 0 and math.isfinite(vmax)) or vmax <= vmin:
                return np.array([])
            lo, hi = math.floor(math.log(vmin, base)) - 1, math.ceil(math.log(vmax, base)) + 1
            powers = [base ** k for k in range(lo, hi + 1)]
            candidates: list[list[float]] = []
            if base == 10:
                candidates.append([p * s for p in powers for s in range(1, 10)])
                candidates.append([p * s for p in powers for s in (1, 2, 5)])
            for stride in range(1, max(2, hi - lo + 1)):
                candidates.append([base ** k for k in range(lo, hi + 1) if k % stride == 0])
            fits = [c for c in ([v for v in c if vmin <= v * (1 + 1e-9) and v <= vmax * (1 + 1e-9)] for c in candidates)
                    if len(c) <= self.MAX_TICKS and self._fit(c, vmin, vmax)]
            best = next((c for c in fits if len(c) >= 2), None)
            if best is None:  # less than one factor of the base across: a few plain values
                lin = [v for v in MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10]).tick_values(vmin, vmax)
                       if vmin <= v <= vmax and v > 0]
                best = lin if len(lin) >= 2 and self._fit(lin, vmin, vmax) else (fits[0] if fits else [])
            return np.array(best, float)

        def _fit(self, ticks: list[float], vmin: float, vmax: float) -> bool:
            """Adjacent labels at least their size (width across, height up) plus a gap apart on screen."""
            if len(ticks) < 2:
                return True
            ax = self.axis.axes
            horizontal = self.axis.axis_name == "x"
            length = ax.bbox.width if horizontal else ax.bbox.height
            dpi = ax.figure.dpi
            span = math.log(vmax / vmin)
            em = FONT_SIZES["tick"] / 72.0 * dpi
            for a, b in zip(ticks, ticks[1:]):
                gap = math.log(b / a) / span * length
                need = (0.62 * em * max(len(_plain(a)), len(_plain(b))) + 0.8 * em) if horizontal else 1.6 * em
                if gap < need:
                    return False
            return True

    return _ThinLogLocator()


def _plain(v: float) -> str:
    """The visible characters of a tick label (mathtext markup dropped), for its width."""
    t = _tick_text(v)
    return t.replace("$", "").replace("\\times", "x").replace("^{", "").replace("}", "")


def log_axis(axis: Any, base: float = 10) -> None:
    """A log scale on ``axis`` (an ``ax.xaxis`` / ``ax.yaxis``) whose labels never overlap.

    Major labels only, thinned to fit the axis's drawn length (:class:`_ThinLogLocator`) and written as plain
    numbers; minor ticks keep their marks and get no label (the crowded "3x10^1 4x10^1 6x10^1" of matplotlib's
    default minor labels on axes spanning less than a decade)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # lazy: needed only to draw

    ax = axis.axes
    (ax.set_xscale if axis.axis_name == "x" else ax.set_yscale)("log", base=base)
    axis.set_major_locator(_log_ticks_locator(base))
    axis.set_major_formatter(FuncFormatter(lambda v, _: _tick_text(v)))
    axis.set_minor_locator(LogLocator(base=base, subs="auto" if base == 10 else (1.0,)))
    axis.set_minor_formatter(NullFormatter())


def band(ax: Any, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, color: str) -> None:
    """A confidence band; a single width gets a bar, since fill_between needs two."""
    if np.any(np.isfinite(lo)):
        if x.size == 1:
            ax.plot([x[0], x[0]], [lo[0], hi[0]], color=color, alpha=0.35, lw=5, solid_capstyle="butt")
        else:
            ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)


def width_axis(ax: Any) -> None:
    """Log-2 width axis labelled with plain numbers, thinned to fit."""
    log_axis(ax.xaxis, base=2)


def popup_width_figure(summary: Sequence[dict[str, Any]], *, ylabel: str, title: str, clip: bool,
                       width: float = TWO_COLUMN) -> Any:
    """Mean over seeds against width per paradigm with its band; one panel per density.

    ``summary`` rows carry paradigm, density, width, mean, ci_low, ci_high;
    ``clip`` keeps the bands in [0, 1] (an accuracy: a t interval over few
    seeds may leave it); ``width``: the figure's width in inches.
    """
    import matplotlib  # lazy: a heavy library, needed only to draw

    dens = sorted({s["density"] for s in summary})
    with matplotlib.rc_context(STYLE):
        fig, axes = new_figure(len(dens), width)
        for ax, r in zip(axes, dens):
            for p in dict.fromkeys(s["paradigm"] for s in summary):
                ss = [s for s in summary if s["paradigm"] == p and s["density"] == r]
                if not ss:
                    continue
                x = np.array([s["width"] for s in ss], float)
                c = PARADIGM_COLORS.get(p, OKABE_ITO["black"])
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
            style_axes(ax)
        figure_legend(fig, axes, title=title)
    return fig
