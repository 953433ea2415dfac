"""Planted tickets: every solver whose pattern contains the planted mask finds error ~0 and n* <= the planted width."""

from __future__ import annotations

import numpy as np
import pytest

from prunegap.errors import evaluate
from prunegap.network import UnitStream, draw_instance
from prunegap.planted import planted_instance
from prunegap.search import minimal_width
from prunegap.setting import Setting
from prunegap.solvers.base import get_method
from prunegap.solvers.patterns import Pattern, satisfies

EXACT = 1e-12  # the evaluator's rounding slack on an exact ticket
MIN_ERROR = 2e-6  # min-error stops within no_margin (1e-6) of the optimum 0

# (paradigm, method, options, plant, outputs)
NEURON_PLANT = [
    ("neuron", "mip", {}, ("relu", "linear")),
    ("weight", "exact", {}, ("relu", "linear")),
    ("block", "mip", {"block": 2}, ("relu", "linear")),
    ("nm", "exact", {"nm": "2:2"}, ("relu", "linear")),
]
CONSTRUCTION_PLANT = [
    ("weight", "construction", {}),
    ("weight", "exact", {}),
    ("nm", "construction", {"nm": "1:2"}),
    ("nm", "exact", {"nm": "1:2"}),
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("output", ["relu", "linear"])
def test_plants_are_exact_tickets(seed, output):
    for d in (1, 2, 3):
        setting = Setting(d=d, output=output)
        inst, plant, _ = planted_instance(setting, seed, 12, "neuron", units=[4, 7, 11])
        m = plant.masks(inst.width, d)
        # d >= 3: the evaluator's certified interval is exact up to its tol (1e-6)
        slack = EXACT if d <= 2 else 1.1e-6
        assert satisfies(m, Pattern("neuron")) and evaluate(inst, m, eps=1e-9).upper <= slack
        if output == "relu":
            inst, plant, _ = planted_instance(setting, seed, 5 + 2 * d, "construction", start=3)
            m = plant.masks(inst.width, d)
            assert np.all(m.hidden_mask.sum(axis=1) <= 1)  # one weight per unit: every N:M with N >= 1
            assert evaluate(inst, m, eps=1e-9).upper <= slack


def test_planting_keeps_nesting_and_the_other_units():
    setting = Setting(d=2)
    inst, plant, stream = planted_instance(setting, 3, 10, "neuron", units=[2, 5])
    plain = draw_instance(setting, 3, 10)
    other = np.setdiff1d(np.arange(10), plant.units)
    assert np.array_equal(inst.U[other], plain.U[other]) and np.array_equal(inst.v[other], plain.v[other])
    wide, _ = stream.take(20)
    assert np.array_equal(wide[:10], inst.U)  # the planted network is still a prefix of the wider one
    assert np.array_equal(wide[10:], UnitStream(setting, 3).take(20)[0][10:])


@pytest.mark.parametrize("paradigm, method, options, outputs", NEURON_PLANT)
def test_every_solver_finds_the_neuron_plant(paradigm, method, options, outputs):
    for output in outputs:
        setting = Setting(d=2, output=output)
        inst, plant, stream = planted_instance(setting, 5, 10, "neuron", units=[8, 9])  # a complete block of 2
        solver = get_method(paradigm, method)
        me = solver.solve(inst, 0.05, objective="min-error", **options)
        assert me.error_upper <= MIN_ERROR and me.error_lower <= me.error_upper
        decide = solver.oracle(stream, 0.01, **options)
        r = minimal_width(decide, max_width=64, monotone=solver.monotone(setting))
        assert r.n_star is not None and r.n_star <= plant.width, (paradigm, r.steps)
        assert r.outcome.status == "yes" and r.outcome.error_upper <= 0.01


@pytest.mark.parametrize("paradigm, method, options", CONSTRUCTION_PLANT)
@pytest.mark.parametrize("d", [1, 2])
def test_every_solver_finds_the_construction_plant(paradigm, method, options, d):
    setting = Setting(d=d)
    inst, plant, stream = planted_instance(setting, 7, 4 + 2 * d, "construction", start=4)
    solver = get_method(paradigm, method)
    if method == "construction":
        out = solver.solve(inst, 1e-9, **options)
        assert out.status == "yes" and out.error_upper <= EXACT
        eps = 1e-9
    else:
        out = solver.solve(inst, 0.05, objective="min-error", **options)
        assert out.error_upper <= MIN_ERROR
        eps = 0.01
    decide = solver.oracle(stream, eps, **options)
    r = minimal_width(decide, max_width=64, monotone=solver.monotone(setting),
                      strategy=getattr(solver, "search", "gallop"))
    assert r.n_star is not None and r.n_star <= plant.width, (paradigm, method, r.steps)
    if r.outcome.masks is not None and paradigm == "nm":
        assert satisfies(r.outcome.masks, Pattern("nm", n=1, m=2))


def test_construction_plant_in_d3_is_certified_exact():
    setting = Setting(d=3)
    inst, plant, _ = planted_instance(setting, 2, 12, "construction", start=6)
    out = get_method("weight", "construction").solve(inst, 1e-9)
    assert out.status == "yes" and out.error_upper <= EXACT
