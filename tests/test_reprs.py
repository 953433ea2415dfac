"""Readable results (issue 18 item 2): short reprs, plain floats, public names."""

import re
import subprocess
import sys

import numpy as np
import pytest

import prunegap as pg
from prunegap import Masks, Setting
from prunegap.errors._bound import ErrorBound, Estimate

_NUMBER = r"[-+0-9.e]+|inf"


def _check_short(text, max_lines=6, max_chars=400):
    assert len(text.splitlines()) <= max_lines, text
    assert len(text) <= max_chars, text
    for bulk in ("array(", "hidden_mask", "output_mask", "np.float64", "Instance(", "config="):
        assert bulk not in text, (bulk, text)


def _bracket(text):
    m = re.search(rf"error in \[({_NUMBER}), ({_NUMBER})\]", text)
    assert m is not None, text
    return float(m.group(1)), float(m.group(2))


@pytest.fixture(scope="module")
def results():
    s = Setting(d=2)
    return {
        "solve12": pg.solve(s, width=12, seed=0, eps=0.1, paradigm="weight"),
        "solve300": pg.solve(s, width=300, seed=41, eps=0.01, paradigm="weight"),
        "neuron12": pg.solve(s, width=12, seed=0, eps=0.1, paradigm="neuron"),
        "width": pg.width(s, seed=0, eps=0.1, paradigm="weight"),
        "width_bracket": pg.width(s, seed=0, eps=0.01, paradigm="neuron", max_width=12),
    }


@pytest.mark.parametrize("name", ["solve12", "solve300", "neuron12", "width", "width_bracket"])
def test_result_repr_is_a_short_summary(results, name):
    r = results[name]
    text = repr(r)
    _check_short(text)
    assert text.startswith(type(r).__name__ + "(")
    assert f"certified {r.certified}" in text
    lo, up = _bracket(text)
    assert lo == pytest.approx(r.error_lower, rel=1e-5) and up == pytest.approx(r.error_upper, rel=1e-5)
    m = r.masks
    assert f"kept {m.kept_units} of {m.width} units, {m.kept_weights} of {m.total_weights} weights" in text
    assert "density" in text and re.search(r"[0-9.e-]+ s$", text)
    assert repr(r) == str(r)


def test_verdict_side_matches_the_bracket(results):
    assert "<= eps" in repr(results["solve300"])  # certified: upper <= eps
    assert "> eps" in repr(results["neuron12"])  # proven no: lower > eps
    assert "brackets eps" in repr(results["solve12"])  # the construction misses eps and proves nothing


def test_width_repr_names_n_star_or_the_bracket(results):
    w = results["width"]
    assert w.n_star is not None and f"n* = {w.n_star}" in repr(w)
    assert (w.n_lower, w.n_upper) == (w.n_star, w.n_star)
    b = results["width_bracket"]
    assert b.n_star is None and b.n_upper is None
    assert f"n* >= {b.n_lower} (none certified up to 12)" in repr(b)


def test_width_result_repr(results):
    text = repr(results["width"].search)
    _check_short(text, max_lines=1, max_chars=200)
    s = results["width"].search
    assert text.startswith(f"WidthResult(n_star={s.n_star}, n_lower={s.n_lower}, n_upper={s.n_upper}, ")
    assert f"widths_tried={len(s.steps)}" in text


def test_repr_does_not_grow_with_the_width(results):
    assert abs(len(repr(results["solve300"])) - len(repr(results["solve12"]))) < 40


def test_network_result_repr():
    s = Setting(d=2, target="network", target_width=2, target_depth=1)
    r = pg.solve(s, width=40, seed=0, eps=0.1, paradigm="weight")
    assert isinstance(r, pg.NetworkSolveResult)
    text = repr(r)
    _check_short(text)
    assert "target network 2x1" in text and "of the deep network" in text
    assert f"certified {r.certified}" in text


def test_masks_repr_counts_never_arrays():
    m = Masks.full(10_000, 3)
    text = repr(m)
    assert text == "Masks(width=10000, d=3, kept_units=10000, kept_weights=40000 of 40000, density=1)"
    assert len(repr(Masks.empty(5, 2))) < 120


def test_error_bound_repr_and_plain_floats():
    b = ErrorBound(np.float64(0.25), np.float64(0.5), "exact-circle", witnesses=np.zeros((3, 2)),
                   stats={"arcs": 6})
    assert type(b.lower) is float and type(b.upper) is float
    assert repr(b) == "ErrorBound(lower=0.25, upper=0.5, method='exact-circle')"
    e = Estimate(np.float64(0.1), np.float64(0.2), np.float64(0.95), "empirical-bernstein", np.int64(4096))
    assert all(type(x) is float for x in (e.lower, e.upper, e.confidence)) and type(e.n_samples) is int
    withe = ErrorBound(0.0, 1.0, "monte-carlo", estimate=e)
    assert "np." not in repr(withe) and "estimate=Estimate(lower=0.1, upper=0.2" in repr(withe)
    assert b.to_dict() == {"error_lower": 0.25, "error_upper": 0.5, "error_method": "exact-circle",
                           "error_confidence": 1.0}


def test_errors_of_results_are_plain_floats(results):
    for r in results.values():
        assert type(r.error_lower) is float and type(r.error_upper) is float
        d = r.to_dict()
        assert type(d["error_lower"]) is float and type(d["error_upper"]) is float
        t = r.outcome.ticket_error
        if t is not None:
            assert type(t.lower) is float and type(t.upper) is float
    # the construction's hidden error (a stats entry of every weight result) too
    assert type(results["solve12"].outcome.stats["hidden_error"]) is float


def test_public_names():
    from prunegap import ErrorBound as EB
    from prunegap import NetworkSolveResult, SolveResult, WidthSearchResult, open_sweep
    from prunegap import api, errors

    assert (SolveResult, WidthSearchResult, NetworkSolveResult) == (
        api.SolveResult, api.WidthSearchResult, api.NetworkSolveResult)
    assert EB is errors.ErrorBound
    assert callable(open_sweep)
    for name in ("SolveResult", "WidthSearchResult", "NetworkSolveResult", "ErrorBound", "open_sweep"):
        assert name in pg.__all__
    with pytest.raises(AttributeError):
        pg.no_such_name  # noqa: B018


def test_import_stays_light():
    # the new names load on first use, like solve and width
    code = ("import sys, prunegap; heavy = [m for m in ('prunegap.api', 'prunegap.errors', 'prunegap.report', "
            "'prunegap.solvers', 'pandas') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
