"""What the exact solvers' certificates rest on (solvers/mip, "Soundness"; docs/theory.md section 5).

- CP-SAT's rows are rounded *outwards*: on coefficients that are not dyadic and an eps so small that
  K * eps < 1 in the scaled integers, a row without its rounding slack cuts off an exact ticket;
- a "no" holds at eps + no_margin and reports error_lower = eps + margin / 2 (or a no-good's certified
  error): with eps within the margin of the optimum e*, error_lower must still be <= e* (brute force);
- a HiGHS "infeasible" is no certificate: it is re-proved by CP-SAT on the same system, a CP-SAT
  solution is a candidate, and without a CP-SAT proof the answer is "unknown".
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from _brute import neuron_errors, weight_errors
from prunegap.network import Instance, draw_instance
from prunegap.planted import planted_instance
from prunegap.setting import Setting
from prunegap.solvers.base import get_method
from prunegap.solvers.mip import NEURON, CuttingPlaneSolver, MIPOptions, MIPResult, PointMIP, SatModel
from prunegap.solvers.mip import loop as mip_loop

OUTPUTS = ("relu", "linear")
BACKENDS = ("cpsat", "highs")
DESIGNS = {"neuron": ("neuron", "mip"), "weight-exact": ("weight", "exact")}


def _method(design: str):
    return get_method(*DESIGNS[design])


def _best_error(inst: Instance, design: str) -> float:
    """e*: the exact smallest sup error over every mask of the design (d = 2, tests/_brute.py)."""
    brute = neuron_errors if design == "neuron" else weight_errors
    _, err = brute(inst.U, inst.v, inst.w, inst.setting.output)
    return float(err.min())


def _check_against(out, eps: float, best: float) -> None:
    """The certification rules against the brute-force optimum e* = best."""
    if out.status == "yes":
        assert best <= eps, "a 'yes' below the optimum"
        assert out.error_upper <= eps
    elif out.status == "no":
        assert best > eps, "a 'no' contradicted by brute force"
        assert eps < out.error_lower <= best + 1e-12, "error_lower is not a lower bound of every mask"


def _split_target(output: str, k: int, angle: float, extra: float = 0.0) -> Instance:
    """k units u = w with output weights 1/k (the last one 1/k + extra): with extra = 0 the full mask
    computes the target exactly, yet K / k is no integer for the power of two K of CP-SAT's scaling."""
    w = 0.9 * np.array([math.cos(angle), math.sin(angle)])
    v = np.full(k, 1.0 / k)
    v[-1] += extra
    return Instance(Setting(d=2, output=output), 0, w, np.tile(w, (k, 1)), v)


# --- outward rounding of CP-SAT's rows ---------------------------------------------------------------


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("k, angle", [(3, 0.3), (7, 1.1)])
def test_exact_ticket_with_non_dyadic_weights_is_found_by_the_point_rows(design, output, k, angle):
    # eps = 1e-9 and a 1e-12 margin: K * (eps + margin) ~ 0.5, while the k roundings of K / k can add up
    # to k / 2, so a point row without its slack excludes the exact ticket and CP-SAT "proves" no
    inst = _split_target(output, k, angle)
    eps = 1e-9
    assert _best_error(inst, design) < 1e-13  # an exact ticket, up to float rounding
    for backend in BACKENDS:
        out = _method(design).solve(inst, eps, backend=backend, no_margin=1e-12, local_rows=0, initial_density=1e-7)
        assert out.status == "yes", (backend, out.status, out.stats.get("proof"))
        assert out.error_upper <= eps


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("k, angle", [(3, 0.3), (5, 2.0)])
def test_exact_ticket_with_non_dyadic_weights_meets_the_short_rows(design, output, k, angle):
    # the short second-difference rows (d = 2) at every kink of the ticket: their bounds are ~4 eps wide,
    # K * 4 eps ~ 0.2 at eps = 1e-10, so a short row without its own slack excludes the exact ticket
    inst = _split_target(output, k, angle)
    eps = 1e-10
    out = _method(design).solve(inst, eps, backend="cpsat", no_margin=1e-12, local_rows=8, initial_density=1e-7)
    assert out.status == "yes", (out.status, out.stats.get("proof"))
    assert out.error_upper <= eps


# --- the level of a "no" and its error_lower, near the optimum -----------------------------------------


def _near_optimum_cases():
    # seeds whose optimum is shared by few masks (each tie within the margin costs a no-good and a round;
    # seed 2's optimum, the empty mask at error 1, is shared by all 1024)
    for output in OUTPUTS:
        for seed in (0, 5, 6):
            yield "neuron", output, seed, 10
        yield "weight-exact", output, 6, 5


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("design, output, seed, n", list(_near_optimum_cases()))
def test_no_near_the_optimum_keeps_error_lower_below_it(design, output, seed, n, backend):
    inst = draw_instance(Setting(d=2, output=output), seed, n)
    best = _best_error(inst, design)
    margin = MIPOptions().no_margin
    solver = _method(design)
    # within the margin below e*: the level eps + margin is above e*, so the proof needs the no-good of the
    # optimal mask, whose certified error then caps error_lower; far below, a plain sample proof
    for eps in (best - margin / 4, best - 10 * margin):
        out = solver.solve(inst, eps, backend=backend)
        assert out.status == "no", (eps, best, out.status, out.limit)
        _check_against(out, eps, best)
    for eps in (best + 1e-9, best + margin):
        out = solver.solve(inst, eps, backend=backend)
        assert out.status == "yes", (eps, best, out.status, out.limit)
        _check_against(out, eps, best)


# --- HiGHS: an "infeasible" is re-proved by CP-SAT --------------------------------------------------


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("no_margin", [1e-6, 1e-10])
def test_rows_infeasible_by_less_than_1e7_are_decided_right(output, no_margin):
    # three units u = w, v = 1/3 (the last 1/3 + 1e-3): e* = 1e-3 |w| (the full mask); the levels below
    # leave the best mask's rows infeasible by 1e-8 and by 5e-10 (inside HiGHS's 1e-9 tolerance), or
    # feasible by a hair, or not
    inst = _split_target(output, 3, 0.7, extra=1e-3)
    best = _best_error(inst, "neuron")
    for miss in (1e-8, 5e-10, -5e-10, -1e-8):
        eps = best - no_margin - miss
        for backend in BACKENDS:
            out = _method("neuron").solve(inst, eps, backend=backend, no_margin=no_margin)
            assert out.status == ("yes" if best <= eps else "no"), (miss, backend, out.status, out.limit)
            _check_against(out, eps, best)
            if out.status == "no" and backend == "highs":
                assert out.stats["proof"] == "sample-infeasible (highs, verified by cpsat)"
                assert out.stats["verifications"] >= 1
    for eps in (best + 1e-9, best + 1e-12):
        out = _method("neuron").solve(inst, eps, backend="highs", no_margin=no_margin)
        assert out.status == "yes" and out.error_upper <= eps


def _lying_highs(monkeypatch):
    """PointMIP.solve answers "infeasible" whatever the system (a HiGHS whose tolerance misled it)."""
    calls = []

    def solve(self, *, node_limit, time_limit, hint=None):
        calls.append(self.X.shape[0])
        return MIPResult("infeasible", None, 1)

    monkeypatch.setattr(PointMIP, "solve", solve)
    return calls


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("output", OUTPUTS)
def test_a_false_highs_infeasible_never_becomes_no(design, output, monkeypatch):
    # the planted ticket (units 3 and 7) has error 0, far below eps: the right answer is "yes", which the
    # re-proof's candidates reach even though HiGHS refuses every system
    inst, plant, _ = planted_instance(Setting(d=2, output=output), 4, 9, "neuron", units=[3, 7])
    calls = _lying_highs(monkeypatch)
    out = _method(design).solve(inst, 0.05, backend="highs")
    assert calls, "the HiGHS backend was not used"
    assert out.status == "yes" and out.error_upper <= 0.05
    assert out.stats["verify_candidates"] >= 1 and out.stats["verifications"] == len(calls)


def test_a_false_highs_infeasible_in_d3_never_becomes_no(monkeypatch):
    inst, plant, _ = planted_instance(Setting(d=3), 2, 9, "neuron", units=[3, 7])
    calls = _lying_highs(monkeypatch)
    out = _method("neuron").solve(inst, 0.1, backend="highs", local_search=0)  # no tabu search: HiGHS first
    assert calls and out.status == "yes" and out.error_upper <= 0.1


@pytest.mark.parametrize("design", DESIGNS)
def test_a_false_highs_infeasible_at_the_optimum_keeps_its_bounds(design, monkeypatch):
    # min-error with a lying HiGHS: the bracket still holds e* (brute force), proofs come from CP-SAT
    inst = draw_instance(Setting(d=2), 6, 10 if design == "neuron" else 5)  # e* = 0.18, far from the empty mask
    best = _best_error(inst, design)
    _lying_highs(monkeypatch)
    me = _method(design).solve(inst, 0.3, objective="min-error", backend="highs")
    assert me.limit is None
    assert me.error_lower <= best + 1e-12 and best <= me.error_upper + 1e-12
    assert me.error_upper - me.error_lower <= 1e-4 * me.error_upper + 2e-6


@pytest.mark.parametrize("why", ["ortools_missing", "conflict_limit"])
def test_an_unverified_highs_infeasible_is_unknown(why, monkeypatch):
    inst = draw_instance(Setting(d=2), 0, 12)
    eps = 0.5 * _best_error(inst, "neuron")  # far below the optimum: HiGHS proves "no" at once
    assert get_method("neuron", "mip").solve(inst, eps, backend="highs").status == "no"
    if why == "ortools_missing":
        monkeypatch.setattr(mip_loop, "sat_available", lambda: False)  # what the loop asks before a re-proof
    else:
        monkeypatch.setattr(SatModel, "solve", lambda self, **kw: MIPResult("limit", None, 7, "conflict_limit"))
    out = get_method("neuron", "mip").solve(inst, eps, backend="highs")
    assert out.status == "unknown" and out.limit == "unverified_infeasible"
    assert out.stats["unverified"] == why
    assert out.error_lower == 0.0


def test_the_verification_budget_is_counted_in_conflicts():
    # conflict_limit also bounds the CP-SAT re-proofs of one HiGHS decision: a proof that needs k
    # conflicts (a width just below n* = 62) is "unknown" with fewer, never "no"
    inst = draw_instance(Setting(d=2), 2, 61)
    full = get_method("neuron", "mip").solve(inst, 0.05, backend="highs")
    assert full.status == "no" and full.stats["verifications"] >= 1
    k = full.stats["verify_conflicts"]
    if k < 2:
        pytest.skip(f"this OR-Tools re-proves the width in {k} conflicts")
    tight = get_method("neuron", "mip").solve(inst, 0.05, backend="highs", conflict_limit=k // 2)
    assert tight.status == "unknown" and tight.limit == "unverified_infeasible"
    assert tight.stats["unverified"] == "conflict_limit"
    assert tight.stats["verify_conflicts"] <= k // 2 + 1


# --- the re-proof's model is the HiGHS model's system ---------------------------------------------


def _violation(H: np.ndarray, f: np.ndarray, level: float, output: str, S: np.ndarray) -> np.ndarray:
    """Worst violation of the sampled rows at this level, for each 0/1 row of S (<= 0: meets them)."""
    h = S @ H.T
    over = h - (f + level)
    need = f > level if output == "relu" else np.ones_like(f, bool)
    under = np.where(need, (f - level) - h, -np.inf)
    return np.maximum(over, under).max(axis=1)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reproof_model_holds_the_same_system(output, seed):
    # every 0/1 mask of a small HiGHS model, against its rows, width, level and active no-goods: the
    # CP-SAT copy is feasible exactly when some allowed mask meets the rows (away from the rounding slack)
    setting = Setting(d=2, output=output)
    n = 9
    inst = draw_instance(setting, seed, n)
    solver = CuttingPlaneSolver(setting, seed, inst.target, inst.U, inst.v, 0.2, NEURON, MIPOptions(backend="highs"))
    S = np.array(list(itertools.product([0, 1], repeat=n)), np.uint8)
    rng = np.random.default_rng(seed)
    model = solver._model(6, 0.2)
    forbidden = S[rng.choice(2**6, 3, replace=False)][:, :6]  # masks over the 6 columns of that time
    worse = (0.15, 0.25, 0.35)  # their certified errors: each no-good is active only below it
    for x, bad in zip(forbidden, worse):
        model.add_nogood(x, bad)
    decided = 0
    for width, eps in itertools.product((6, 9), (0.1, 0.2, 0.3)):
        model = solver._model(width, eps)
        level = eps + solver.opts.no_margin
        H = np.maximum(model.X @ inst.U[:n].T, 0.0) * inst.v[:n]
        viol = _violation(H, model.f, level, output, S.astype(float))
        allowed = np.all(S[:, width:] == 0, axis=1)
        for x, bad in zip(forbidden, worse):
            if bad > eps:
                allowed &= ~(np.all(S[:, :6] == x, axis=1) & np.all(S[:, 6:] == 0, axis=1))
        best = viol[allowed].min()
        if abs(best) < 1e-7:
            continue  # within CP-SAT's rounding slack of the boundary: either answer is sound
        sat = SatModel.of_points(model)
        assert sat.width == width and sat.level == level
        r = sat.solve(node_limit=10**6, time_limit=None)
        assert r.status == ("feasible" if best < 0 else "infeasible"), (width, eps, best)
        if r.status == "feasible":
            i = int(np.flatnonzero(np.all(S == r.x[None, :], axis=1))[0])
            assert allowed[i] and viol[i] < 1e-7
        decided += 1
    assert decided >= 4
