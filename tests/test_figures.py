"""Figures a paper can use (issue 18): no text over text, one colour per eps and per study from one
colour-blind-safe palette, one font scheme, the two paper widths, and the notebook ``plot_*`` API."""

from __future__ import annotations

import itertools
import json
import math
import re
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from prunegap._plotting import FONT_SIZES, OKABE_ITO, ONE_COLUMN, TWO_COLUMN  # noqa: E402
from prunegap.exceptions import InvalidArgument  # noqa: E402
from prunegap.report import figures as F  # noqa: E402
from prunegap.report.analysis import analyze  # noqa: E402
from prunegap.report.popup import figure_popup_certify, figure_popup_data, popup_figures  # noqa: E402
from prunegap.sweep import parse_config  # noqa: E402
from prunegap.sweep.trials import empty_row  # noqa: E402

EPS = [0.2, 0.1, 0.05, 0.025, 0.0125]


# small sweeps, analysed -------------------------------------------------------------------------
def _rows(config, law, *, unknown=(), lower=(), rng_seed=0):
    """Certified rows with n* = law(study, d, eps) times noise; ``unknown`` (study, eps, seed) become
    brackets, studies in ``lower`` proofs-only rows (n_lower only)."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for t in config.trials():
        n = max(1, int(round(law(t) * rng.lognormal(0.0, 0.15))))
        r = empty_row(t)
        r["seconds"] = 0.01
        if t.study in lower:
            r.update(status="unknown", n_lower=n, n_upper=None, limit="bound lower (proofs only)")
        elif (t.study, t.eps, t.seed) in unknown:
            r.update(status="unknown", n_lower=max(1, n - 3), n_upper=n + 5, limit="node_limit (100)")
        else:
            r.update(status="certified", n_star=n, n_lower=n, n_upper=n, width=n, verdict="yes")
        rows.append(r)
    return rows


def _law(t):
    if t.paradigm == "neuron":
        return 2.0 * t.d * t.eps ** -1.2
    return 20.0 + 6.0 * math.log(1 / t.eps)


@pytest.fixture(scope="module")
def two_dims():
    """Neuron against weight at d = 2 (five eps) and d = 3 (three): medians, brackets, fits, the gap."""
    cfg = parse_config({"seeds": 8, "analysis": {"bootstrap": 100}, "studies": [
        {"paradigm": "neuron", "method": "mip", "grid": {"d2": EPS, "d3": EPS[:3]}},
        {"paradigm": "weight", "method": "construction", "grid": {"d2": EPS, "d3": EPS[:3]}}]})
    return analyze(_rows(cfg, _law, unknown={("neuron-mip", 0.0125, 0), ("weight-construction", 0.1, 2)}), cfg)


@pytest.fixture(scope="module")
def frontier():
    """A proofs-only neuron study beside a weight study at d = 2 and 3: the frontier and the gap's bound."""
    cfg = parse_config({"seeds": 6, "analysis": {"bootstrap": 100}, "studies": [
        {"paradigm": "weight", "method": "construction", "grid": {"d2": EPS, "d3": [0.1, 0.05]}},
        {"name": "neuron-frontier", "paradigm": "neuron", "method": "mip", "bound": "lower", "seeds": 4,
         "fit": "power", "grid": {"d2": EPS, "d3": [0.1, 0.05]}}]})
    return analyze(_rows(cfg, _law, lower={"neuron-frontier"}), cfg)


@pytest.fixture(scope="module")
def targets():
    """Network targets of width K = 1, 2, 4 (weight and neuron families) at two eps."""
    cfg = parse_config({"seeds": 2, "dims": [2], "eps": [0.3, 0.2], "analysis": {"fit_eps_max": 1.0, "bootstrap": 100},
                        "studies": [{"name": "wnet", "paradigm": "weight", "target": "network",
                                     "target_width": [1, 2, 4], "max_width": 512},
                                    {"name": "nnet", "paradigm": "neuron", "target": "network",
                                     "target_width": [1, 2, 4], "max_width": 256}]})
    return analyze(_rows(cfg, lambda t: (10 if t.paradigm == "weight" else 20) * t.target_width / t.eps), cfg)


@pytest.fixture(scope="module")
def tiny():
    """Neuron against weight at d = 2, two eps: the smallest sweep with an n*, a gap and success curves."""
    cfg = parse_config({"seeds": 3, "analysis": {"bootstrap": 100}, "studies": [
        {"paradigm": "neuron", "method": "mip", "grid": {"d2": [0.2, 0.1]}},
        {"paradigm": "weight", "method": "construction", "grid": {"d2": [0.2, 0.1]}}]})
    return analyze(_rows(cfg, _law), cfg)


@pytest.fixture(scope="module")
def pop():
    """The popup study's analysis, as report.popup.analyze_popup shapes it (no torch needed to draw)."""
    data = [{"paradigm": p, "density": r, "width": n, "mean": m, "ci_low": m - 0.05, "ci_high": m + 0.05}
            for p, base in (("weight", 0.6), ("neuron", 0.5)) for r in (0.25, 0.5)
            for n, m in ((8, base), (16, base + 0.1), (32, base + 0.2), (64, base + 0.25))]
    cert = [{"paradigm": p, "width": n, "ticket_errors": [0.3 / n, 0.4 / n], "optima": [0.1 / n, 0.12 / n],
             "reference": p, "method": "exact", "own_optimum": True,
             "constructions": [0.2 / n] if p == "weight" else []}
            for p in ("weight", "neuron") for n in (4, 8, 16, 32)]
    return {"confidence": 0.95, "data": {"dataset": "digits", "summary": data}, "certify": {"d": 2, "summary": cert}}


@pytest.fixture(scope="module")
def drawn(two_dims, frontier, targets, pop):
    """Every figure kind each small sweep can draw, and the popup study's, at both widths: name -> figure,
    each drawn once (drawing is what costs)."""
    out = {}
    for tag, analysis in (("two_dims", two_dims), ("frontier", frontier), ("targets", targets)):
        for kind, build in F._BUILDERS.items():
            if F._KINDS[kind][0](analysis) and (tag != "targets" or kind == "targets"):
                for width in (TWO_COLUMN, ONE_COLUMN):
                    out[f"{kind}-{tag}-{width}"] = build(analysis, width=width)
    for width in (TWO_COLUMN, ONE_COLUMN):
        out[f"popup-{width}"] = figure_popup_data(pop, width=width)
        out[f"popup_certify-{width}"] = figure_popup_certify(pop, width=width)
    for fig in out.values():
        fig.canvas.draw()
    return out


# what is drawn -------------------------------------------------------------------------------
def _drawn_texts(fig, draw=True):
    """Every text the figure shows: tick labels inside the view, axis labels, titles, annotations,
    legend entries, the figure's title; (text, window extent) after a draw."""
    if not hasattr(fig.canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    if draw:  # a draw lays the figure out; the extents hold until the figure changes
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            tol = 1e-9 * max(abs(lo), abs(hi))
            for ticks, locs in ((axis.get_major_ticks(len(axis.get_majorticklocs())), axis.get_majorticklocs()),
                                (axis.get_minor_ticks(len(axis.get_minorticklocs())), axis.get_minorticklocs())):
                texts += [t.label1 for t, v in zip(ticks, locs) if lo - tol <= v <= hi + tol]
        texts += [ax.xaxis.label, ax.yaxis.label, ax.title, ax._left_title, ax._right_title, *ax.texts]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
    for legend in fig.legends:
        texts += legend.get_texts()
    texts += [fig._suptitle, *fig.texts]
    unique = {id(t): t for t in texts if t is not None and t.get_visible() and t.get_text().strip()}
    return [(t, t.get_window_extent(renderer)) for t in unique.values()]


def _overlaps(fig, draw=True):
    return [(a.get_text(), b.get_text()) for (a, ea), (b, eb) in itertools.combinations(_drawn_texts(fig, draw), 2)
            if ea.overlaps(eb)]


def test_the_overlap_check_sees_matplotlibs_crowded_minor_labels():
    # the check this file relies on, on the axis of the issue: matplotlib's default log formatter labels
    # minor ticks on an axis spanning less than a decade ("3x10^1 4x10^1 6x10^1"), and they collide
    from matplotlib.figure import Figure

    fig = Figure(figsize=(ONE_COLUMN, 2.5), layout="constrained")
    ax = fig.subplots()
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.plot([14, 200], [14, 200])
    assert ("$\\mathdefault{3\\times10^{1}}$", "$\\mathdefault{4\\times10^{1}}$") in _overlaps(fig)
    from prunegap._plotting import log_axis

    log_axis(ax.xaxis)
    log_axis(ax.yaxis)
    assert not _overlaps(fig), _overlaps(fig)


def test_no_two_texts_overlap_and_every_text_is_inside_its_figure(drawn):
    assert {name.split("-")[0] for name in drawn} == set(F.FIGURES) | {"popup", "popup_certify"}
    for name, fig in drawn.items():
        assert not _overlaps(fig, draw=False), (name, _overlaps(fig, draw=False))
        box = fig.bbox
        for t, e in _drawn_texts(fig, draw=False):
            assert box.x0 - 1 <= e.x0 and e.x1 <= box.x1 + 1 and box.y0 - 1 <= e.y0 and e.y1 <= box.y1 + 1, \
                (name, t.get_text())
        renderer = fig.canvas.get_renderer()
        for legend in fig.legends:  # a legend never covers data: it lies outside every axes
            lb = legend.get_window_extent(renderer)
            assert not any(lb.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes), name


def test_log_axes_label_major_ticks_only_and_thin_them():
    # P(n* <= n) over 17..70: one decade or less; n* over 5..1000: a few decades; both at one column
    from matplotlib.figure import Figure

    from prunegap._plotting import log_axis

    for lo, hi in ((17, 70), (31, 38), (5, 1000), (1, 1e7)):
        fig = Figure(figsize=(ONE_COLUMN, 2.5), layout="constrained")
        ax = fig.subplots()
        ax.plot([lo, hi], [lo, hi])
        log_axis(ax.xaxis)
        log_axis(ax.yaxis)
        assert not _overlaps(fig), (lo, hi, _overlaps(fig))
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t.get_text() for t in axis.get_majorticklabels() if t.get_text()]
            shown = [v for v in axis.get_majorticklocs() if lo <= v <= hi]
            assert 2 <= len(shown) <= 6, (lo, hi, shown)
            assert all(t.get_text() == "" for t in axis.get_minorticklabels()), (lo, hi)
            if hi < 1e5:  # plain numbers, no 3x10^1
                assert labels and all("times" not in x for x in labels), labels


# colours -------------------------------------------------------------------------------------
_PALETTE = {to_hex(c) for c in OKABE_ITO.values()}


def _is_grey(c):
    r, g, b = matplotlib.colors.to_rgb(c)
    return abs(r - g) < 1e-6 and abs(g - b) < 1e-6


def test_every_colour_comes_from_the_one_palette(drawn):
    for name, fig in drawn.items():
        for line in fig.findobj(Line2D):
            c = to_hex(line.get_color())
            assert c in _PALETTE or _is_grey(c), (name, line.get_label(), c)


def test_one_colour_per_eps_in_every_panel_and_figure(two_dims, targets):
    for analysis in (two_dims, targets):
        colors = {e: to_hex(c) for e, c in F.eps_colors(analysis).items()}
        assert len(set(colors.values())) == len(colors)  # eps told apart
        seen: dict[float, set[str]] = {}
        figs = [F.figure_success(analysis, width=w) for w in (TWO_COLUMN, ONE_COLUMN)]
        if F._KINDS["targets"][0](analysis):
            figs.append(F.figure_targets(analysis))
        for fig in figs:
            for ax in fig.axes:
                for line in ax.get_lines():
                    m = re.search(r"eps = ([0-9.e-]+)$", line.get_label())
                    if m:
                        seen.setdefault(float(m.group(1)), set()).add(to_hex(line.get_color()))
                for coll in ax.collections:  # the success curves' undecided shading: the eps's colour too
                    assert to_hex(coll.get_facecolor()[0][:3]) in set(colors.values()), coll
        assert seen and all(seen[e] == {colors[e]} for e in seen), seen
    # the d = 3 panel has only the three largest eps: they keep the colours of the d = 2 panel
    fig = F.figure_success(two_dims)
    by_panel = [{ln.get_label(): to_hex(ln.get_color()) for ln in ax.get_lines()} for ax in fig.axes]
    assert by_panel[0]["eps = 0.05"] == by_panel[1]["eps = 0.05"]


def test_eps_colours_past_the_palette_stay_distinct():
    many = {"groups": [{"eps": 2.0 ** -k, "study": "s", "paradigm": "weight", "d": 2} for k in range(1, 12)]}
    colors = F.eps_colors(many)
    assert len(set(colors.values())) == 11 and colors == F.eps_colors(many)


def test_a_study_keeps_its_colour_in_every_figure(two_dims, frontier):
    for analysis in (two_dims, frontier):
        colors = F.study_colors(analysis)
        assert len(set(colors.values())) == len(colors)
        labels = F.study_labels(analysis)
        by_label = {labels[s]: to_hex(c) for s, c in colors.items()}
        for fig in (F.figure_nstar(analysis), F.figure_nstar(analysis, width=ONE_COLUMN)):
            for ax in fig.axes:
                for line in ax.get_lines():
                    name = line.get_label().split(":")[0]
                    if name in by_label:
                        assert to_hex(line.get_color()) == by_label[name], line.get_label()
    fig = F.figure_frontier(frontier)
    (bars,) = [c for c in fig.axes[0].containers if "median n_lower" in c.get_label()]
    assert to_hex(bars.lines[0].get_color()) == to_hex(F.study_colors(frontier)["neuron-frontier"])


# fonts and sizes -----------------------------------------------------------------------------
def test_every_text_size_comes_from_the_one_scheme(drawn, two_dims):
    sizes = set(FONT_SIZES.values())
    figures = dict(drawn)
    with matplotlib.rc_context({"font.size": 15, "xtick.labelsize": 13, "legend.fontsize": 11}):
        figures["gap, outside the report's style"] = F.figure_gap(two_dims)
    for name, fig in figures.items():
        for t, _ in _drawn_texts(fig, draw=name not in drawn):
            assert t.get_fontsize() in sizes, (name, t.get_text(), t.get_fontsize())


def _png_width(data: bytes) -> int:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big")


def _pdf_width(data: bytes) -> float:
    x0, _, x1, _ = map(float, re.search(rb"/MediaBox \[ *(\S+) (\S+) (\S+) (\S+) *\]", data).groups())
    return x1 - x0


def test_both_paper_sizes_are_written_deterministically_without_pyplot(tiny, pop, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # the report must never start pyplot
    figs = F.make_figures(tiny, tmp_path / "a")
    figs.update(popup_figures({**pop, "certify": None}, tmp_path / "a"))
    assert set(figs) == {"nstar", "gap", "success", "popup"}
    for name, info in figs.items():
        assert set(info) >= {"png", "pdf", "png_bytes", "png_1col", "pdf_1col"}
        assert info["png"].name == f"{name}.png" and info["pdf_1col"].name == f"{name}-1col.pdf"
        assert info["png_bytes"] == info["png"].read_bytes()
        for key, inches in (("png", TWO_COLUMN), ("png_1col", ONE_COLUMN)):
            assert _png_width(info[key].read_bytes()) == round(inches * 200), (name, key)
        for key, inches in (("pdf", TWO_COLUMN), ("pdf_1col", ONE_COLUMN)):
            assert _pdf_width(info[key].read_bytes()) == pytest.approx(inches * 72), (name, key)
    again = F.save_sizes(lambda width: F.figure_gap(tiny, width=width), tmp_path / "b", "gap")
    for key in ("png", "pdf", "png_1col", "pdf_1col"):
        assert again[key].read_bytes() == figs["gap"][key].read_bytes(), key


# the notebook API ----------------------------------------------------------------------------
@pytest.fixture
def plt():
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_plot_functions_draw_onto_given_axes(plt, two_dims, frontier, targets):
    calls = [(F.plot_nstar, two_dims, {"d": 3}), (F.plot_gap, two_dims, {}), (F.plot_success, two_dims,
             {"study": "weight-construction", "d": 2}), (F.plot_frontier, frontier, {}), (F.plot_targets, targets, {})]
    for plot, analysis, kw in calls:
        fig, ax = plt.subplots()
        assert plot(analysis, ax=ax, **kw) is ax
        assert ax.get_lines() and ax.get_legend() is not None, plot.__name__
        assert fig.axes == [ax]  # nothing else drawn
    fig, ax = plt.subplots()
    F.plot_nstar(two_dims, ax=ax, d=3)
    assert ax.get_title() == "d = 3"
    fig, ax = plt.subplots()
    F.plot_success(two_dims, ax=ax)  # no study, no d: the first panel
    assert ax.get_title() == "neuron-mip, d = 2"
    fig, axs = plt.subplots(1, 2)
    assert F.plot_nstar(two_dims, ax=axs) is axs and [a.get_title() for a in axs] == ["d = 2", "d = 3"]
    # the legend of a single panel sits right of it, outside the data
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    assert axs[0].get_legend().get_window_extent(r).x0 >= axs[0].get_window_extent(r).x1


def test_plot_functions_make_a_pyplot_figure_without_axes(plt, two_dims):
    axes = F.plot_nstar(two_dims)
    assert isinstance(axes, np.ndarray) and axes.shape == (2,) and all(isinstance(a, Axes) for a in axes)
    assert plt.gcf() is axes[0].figure  # a pyplot figure: a notebook shows it inline
    one = F.plot_nstar(two_dims, d=2)
    assert isinstance(one, Axes) and one.get_title() == "d = 2"
    assert isinstance(F.plot_gap(two_dims, d=3), Axes)
    grid = F.plot_success(two_dims)
    assert [a.get_title() for a in grid] == ["neuron-mip, d = 2", "neuron-mip, d = 3",
                                             "weight-construction, d = 2", "weight-construction, d = 3"]
    assert [a.get_title() for a in F.plot_success(two_dims, d=3)] == ["neuron-mip, d = 3", "weight-construction, d = 3"]
    assert not _overlaps(grid[0].figure)
    assert grid[0].figure.get_size_inches()[0] == pytest.approx(TWO_COLUMN)


def test_plot_functions_refuse_a_panel_the_sweep_lacks(plt, two_dims):
    with pytest.raises(InvalidArgument, match=r"no nstar panel for d = 7: the analysis has panels 2, 3"):
        F.plot_nstar(two_dims, d=7)
    with pytest.raises(InvalidArgument, match=r"no success panel for study = nope"):
        F.plot_success(two_dims, study="nope")
    with pytest.raises(InvalidArgument, match=r"no frontier panel"):
        F.plot_frontier(two_dims)
    fig, axs = plt.subplots(1, 3)
    with pytest.raises(InvalidArgument, match=r"ax holds 3 Axes for 2 nstar panels"):
        F.plot_nstar(two_dims, ax=axs)


def test_plots_draw_the_same_from_the_numbers_of_summary_json(plt, frontier):
    # open_sweep hands the plots summary.json's numbers: the groups without their per-seed brackets,
    # the frontier without its n_lower lists, every key through JSON
    summary = json.loads(json.dumps({
        **frontier,
        "groups": [{k: v for k, v in g.items() if k not in ("n_lo", "n_hi")} for g in frontier["groups"]],
        "frontier": [{k: v for k, v in r.items() if k != "n_lower"} for r in frontier["frontier"]]}))
    for plot in (F.plot_nstar, F.plot_gap, F.plot_success, F.plot_frontier):
        _, (a, b) = plt.subplots(1, 2)
        plot(frontier, ax=a)
        plot(summary, ax=b)
        assert [ln.get_label() for ln in a.get_lines()] == [ln.get_label() for ln in b.get_lines()], plot.__name__
        for la, lb in zip(a.get_lines(), b.get_lines()):
            assert np.array_equal(la.get_xydata(), lb.get_xydata(), equal_nan=True), la.get_label()
            assert la.get_color() == lb.get_color()
