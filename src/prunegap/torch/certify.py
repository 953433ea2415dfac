"""Edge-popup against the certified solvers, on the single-neuron setting.

On the teacher data set with ``teacher_width = 1`` and ``scale = "none"``, an
edge-popup ticket is a mask on prunegap's own instance
(:func:`prunegap.draw_instance` of the same setting, seed and width), so its
sup error over the unit ball is certified by prunegap's evaluator
(:func:`prunegap.errors.evaluate`; exact in d = 2) and can be set beside the
best error the paradigm can reach at that width, from
``prunegap.solve(..., objective="min-error")``:

=========  ================================================================
paradigm   reference optimum (:func:`reference_for`)
=========  ================================================================
weight     weight pruning's optimum (method ``exact``)
neuron     neuron pruning's optimum (method ``mip``)
nm         N:M's own optimum (``nm/exact`` with the same N:M) where this
           prunegap has it; else weight pruning's: N:M masks are weight
           masks, so it is a lower bound on N:M's (the excess shown is then
           an upper bound)
block      block pruning's own optimum (``block/mip``, same B) where
           available; else neuron pruning's (likewise a lower bound)
=========  ================================================================

A method missing from this prunegap (``get_method`` refuses it) is skipped
with a note; its columns are None.  The optimum is the interval
[``optimum_lower``, ``optimum_upper``] the solver proves (``optimum_lower``
bounds every mask of the paradigm); the excess of a ticket is bracketed by
``excess_lower`` = ticket_lower - optimum_upper and ``excess_upper`` =
ticket_upper - optimum_lower.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..api import solve
from ..errors import ErrorBound, evaluate
from ..exceptions import InvalidArgument
from ..network import draw_instance
from ..setting import Setting
from ..solvers.base import get_method, method_available
from .popup import PopupResult, popup
from .study import popup_grid

__all__ = ["REFERENCE", "DEFAULT_METHODS", "certify_ticket", "Comparison", "compare_certified", "reference_for",
           "comparison_row"]

#: The paradigm whose certified optimum each popup paradigm is compared with
#: when the paradigm has no exact solver of its own.
REFERENCE: dict[str, str] = {"weight": "weight", "neuron": "neuron", "nm": "weight", "block": "neuron"}
#: The exact methods of each reference paradigm.
DEFAULT_METHODS: dict[str, str] = {"weight": "exact", "neuron": "mip", "nm": "exact", "block": "mip"}


def reference_for(paradigm: str, *, nm: str | None = None, block: int | None = None) -> tuple[str, str, dict[str, Any], bool]:
    """(reference paradigm, its exact method, its pattern options, whether it is the paradigm's own optimum).

    A pattern's own exact solver is preferred; without one the optimum of the
    wider family (weight for N:M, neuron for blocks) is a lower bound."""
    if paradigm in ("nm", "block") and method_available(paradigm, DEFAULT_METHODS[paradigm]):
        options = {"nm": nm} if paradigm == "nm" else {"block": block}
        return paradigm, DEFAULT_METHODS[paradigm], options, True
    ref = REFERENCE[paradigm]
    return ref, DEFAULT_METHODS[ref], {}, ref == paradigm


def certify_ticket(result: PopupResult, *, tol: float = 1e-6) -> ErrorBound:
    """The certified sup error of a single-neuron teacher ticket over the unit ball."""
    return evaluate(result.instance(), result.masks, norm="sup", tol=tol)


def comparison_row(
    *, paradigm: str, width: int, density: float, seed: int, ticket_lower: float, ticket_upper: float,
    reference: str, method: str | None, own: bool, optimum_lower: float | None, optimum_upper: float | None,
    construction_upper: float | None = None,
) -> dict[str, Any]:
    """One ticket beside its reference optimum, with the excess bracketed from both intervals.

    ``optimum_lower`` bounds every mask of the reference family, so
    ``excess_upper`` = ticket_upper - optimum_lower bounds how far the ticket
    is from the optimum; ``excess_lower`` = ticket_lower - optimum_upper is
    how far it is at least (negative: no proven distance)."""
    lo, hi = optimum_lower, optimum_upper
    return {
        "paradigm": paradigm, "width": width, "density": density, "seed": seed,
        "ticket_error_lower": ticket_lower, "ticket_error_upper": ticket_upper,
        "reference": reference, "method": method, "own_optimum": own,
        "optimum_lower": lo, "optimum_upper": hi,
        "excess_lower": None if hi is None else ticket_lower - hi,
        "excess_upper": None if lo is None else ticket_upper - lo,
        "ratio": None if not hi else ticket_upper / hi,
        "construction_upper": construction_upper,
    }


@dataclass(frozen=True, eq=False)
class Comparison:
    """Rows (one per popup run), their summary, and notes on what was skipped."""

    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[dict[str, Any]]:
        """Per (paradigm, width): medians over seeds of the best ticket over densities."""
        best: dict[tuple[str, int, int], dict[str, Any]] = {}
        for r in self.rows:
            key = (r["paradigm"], r["width"], r["seed"])
            if key not in best or r["ticket_error_upper"] < best[key]["ticket_error_upper"]:
                best[key] = r
        groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for (p, n, _), r in best.items():
            groups.setdefault((p, n), []).append(r)

        def med(values: Iterable[Any]) -> float | None:
            vals = [v for v in values if v is not None]
            return statistics.median(vals) if vals else None

        out = []
        order = list(REFERENCE)
        for (p, n), rs in sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else 99, kv[0][1])):
            out.append({
                "paradigm": p, "width": n, "seeds": len(rs), "reference": rs[0]["reference"],
                "method": rs[0]["method"], "own_optimum": rs[0].get("own_optimum", rs[0]["reference"] == p),
                "ticket_error": med(r["ticket_error_upper"] for r in rs),
                "best_density": med(r["density"] for r in rs),
                "optimum": med(r["optimum_upper"] for r in rs),
                "excess": med(r["excess_upper"] for r in rs),
                "excess_lower": med(r.get("excess_lower") for r in rs),
                "ratio": med(r["ratio"] for r in rs),
                "ticket_errors": [r["ticket_error_upper"] for r in rs],
                "optima": [r["optimum_upper"] for r in rs if r["optimum_upper"] is not None],
                "construction": med(r.get("construction_upper") for r in rs),
                "constructions": [r["construction_upper"] for r in rs if r.get("construction_upper") is not None],
            })
        return out

    def markdown(self) -> str:
        """The summary as a Markdown table, followed by the notes."""
        def f(x: Any) -> str:
            return "n/a" if x is None else (f"{x:.4g}" if isinstance(x, float) else str(x))

        lines = ["| paradigm | width | seeds | popup sup error (best over densities) | its density | reference optimum | "
                 "excess (popup - optimum) | ratio |", "|---|---|---|---|---|---|---|---|"]
        for s in self.summary():
            ref = f"{s['reference']}/{s['method']}" if s["method"] else "n/a"
            lines.append(f"| {s['paradigm']} | {s['width']} | {s['seeds']} | {f(s['ticket_error'])} | {f(s['best_density'])} | "
                         f"{f(s['optimum'])} ({ref}) | {f(s['excess'])} | {f(s['ratio'])} |")
        return "\n".join(lines + [""] + [f"* {n}" for n in self.notes])


def _optimum(setting: Setting, width: int, seed: int, eps: float, paradigm: str, method: str,
             cache: dict[tuple[Any, ...], Any], notes: list[str], options: dict[str, Any]) -> Any:
    key = (paradigm, width, seed, tuple(sorted(options.items())))
    if key in cache:
        return cache[key]
    try:
        get_method(paradigm, method)
    except InvalidArgument as exc:
        note = f"{paradigm}/{method} is not available in this prunegap ({exc}); its optimum is skipped"
        if note not in notes:
            notes.append(note)
        cache[key] = None
        return None
    cache[key] = solve(setting, width=width, seed=seed, eps=eps, paradigm=paradigm, method=method,
                       objective="min-error", **options)
    return cache[key]


def compare_certified(
    *,
    d: int = 2,
    widths: Sequence[int] = (8, 16, 32),
    densities: Sequence[float] = (0.1, 0.25, 0.5),
    seeds: Sequence[int] = (0, 1, 2),
    paradigms: Sequence[str] = ("weight", "neuron", "nm", "block"),
    nm: str = "1:2",
    block: int = 2,
    methods: dict[str, str] | None = None,
    eps: float = 1e-2,
    init: str = "uniform",
    output: str = "relu",
    tol: float = 1e-6,
    solver_options: dict[str, Any] | None = None,
    **popup_options: Any,
) -> Comparison:
    """Edge-popup tickets on the single neuron, certified, beside the certified optimum.

    One row per (paradigm, width, density, seed) with the ticket's certified
    sup error, its weight and unit densities, and the reference optimum (see
    the module's docstring); ``popup_options`` go to :class:`PopupConfig`
    (epochs, lr, n_train, ...).  Densities a pattern cannot reach (N:M) are
    skipped with a note.
    """
    methods = {**DEFAULT_METHODS, **(methods or {})}
    setting = Setting(d=d, init=init, output=output)
    notes: list[str] = []
    cache: dict[tuple[str, int, int], Any] = {}
    rows: list[dict[str, Any]] = []

    def dropped(kw: dict[str, Any], exc: InvalidArgument) -> None:
        note = f"{kw['paradigm']} width={kw['width']} density={kw['density']:g}: skipped ({exc})"
        if note not in notes:  # once per (paradigm, width, density): the seed never decides it
            notes.append(note)

    grid = popup_grid(dataset="teacher", paradigms=paradigms, widths=widths, densities=densities, seeds=seeds, nm=nm,
                      block=block, clip_block=True, on_drop=dropped, d=d, init=init, output=output, scale="none",
                      teacher_width=1, **popup_options)
    for cfg in grid:  # lazily: a note on a dropped combination comes where the loop meets it
        paradigm, width, density, seed = cfg.paradigm, cfg.width, cfg.density, cfg.seed
        result = popup(cfg)
        inst = draw_instance(setting, seed, width)
        if not (np.array_equal(inst.U, result.network.U) and np.array_equal(inst.w, result.network.w)):
            raise AssertionError("edge-popup's network differs from prunegap's instance")  # a bug, not input
        ticket = certify_ticket(result, tol=tol)
        ref, _, ref_options, own = reference_for(paradigm, nm=cfg.nm, block=cfg.block)
        opt = _optimum(setting, width, seed, eps, ref, methods[ref], cache, notes,
                       {**(solver_options or {}), **ref_options})
        m = result.metrics
        rows.append({
            **comparison_row(
                paradigm=paradigm, width=width, density=density, seed=seed, ticket_lower=ticket.lower,
                ticket_upper=ticket.upper, reference=ref, method=methods[ref] if opt is not None else None,
                own=own, optimum_lower=opt.error_lower if opt is not None else None,
                optimum_upper=opt.error_upper if opt is not None else None),
            "d": d, "nm": cfg.nm, "block": cfg.block, "ticket_error_method": ticket.method,
            "weight_density": m["weight_density"], "unit_density": m["unit_density"],
            "test_loss": m["test_loss"],
            "optimum_certified": opt.certified if opt is not None else None,
            "popup_seconds": m["seconds"],
        })
    return Comparison(rows, notes)
