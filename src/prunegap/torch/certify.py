"""Edge-popup against the certified solvers, on the single-neuron setting.

On the teacher data set with ``teacher_width = 1`` and ``scale = "none"``, an
edge-popup ticket is a mask on prunegap's own instance
(:func:`prunegap.draw_instance` of the same setting, seed and width), so its
sup error over the unit ball is certified by prunegap's evaluator
(:func:`prunegap.errors.evaluate`; exact in d = 2) and can be set beside the
best error the paradigm can reach at that width, from
``prunegap.solve(..., objective="min-error")``:

=========  ================================================================
paradigm   reference optimum
=========  ================================================================
weight     weight pruning's optimum (method ``exact``)
neuron     neuron pruning's optimum (method ``mip``)
nm         weight pruning's optimum: N:M masks are weight masks, so it is a
           lower bound on the N:M optimum (the excess shown is an upper bound)
block      neuron pruning's optimum: block masks are neuron masks (likewise)
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

from ..errors import ErrorBound, evaluate
from ..exceptions import InvalidArgument
from ..network import draw_instance
from ..setting import Setting
from .popup import PopupConfig, PopupResult, popup

__all__ = ["REFERENCE", "DEFAULT_METHODS", "certify_ticket", "Comparison", "compare_certified"]

#: The paradigm whose certified optimum each popup paradigm is compared with.
REFERENCE: dict[str, str] = {"weight": "weight", "neuron": "neuron", "nm": "weight", "block": "neuron"}
#: The exact methods of each reference paradigm.
DEFAULT_METHODS: dict[str, str] = {"weight": "exact", "neuron": "mip"}


def certify_ticket(result: PopupResult, *, tol: float = 1e-6) -> ErrorBound:
    """The certified sup error of a single-neuron teacher ticket over the unit ball."""
    return evaluate(result.instance(), result.masks, norm="sup", tol=tol)


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
        for (p, n), rs in sorted(groups.items(), key=lambda kv: (list(REFERENCE).index(kv[0][0]), kv[0][1])):
            out.append({
                "paradigm": p, "width": n, "seeds": len(rs), "reference": rs[0]["reference"],
                "method": rs[0]["method"],
                "ticket_error": med(r["ticket_error_upper"] for r in rs),
                "best_density": med(r["density"] for r in rs),
                "optimum": med(r["optimum_upper"] for r in rs),
                "excess": med(r["excess_upper"] for r in rs),
                "ratio": med(r["ratio"] for r in rs),
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
             cache: dict[tuple[str, int, int], Any], notes: list[str], options: dict[str, Any]) -> Any:
    from ..api import solve
    from ..solvers import get_method

    key = (paradigm, width, seed)
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
    for paradigm in paradigms:
        for width in widths:
            for density in densities:
                for seed in seeds:
                    try:
                        cfg = PopupConfig(dataset="teacher", paradigm=paradigm, width=width, density=density, seed=seed,
                                          d=d, init=init, output=output, scale="none", teacher_width=1,
                                          nm=nm if paradigm == "nm" else None,
                                          block=min(block, width) if paradigm == "block" else None, **popup_options)
                    except InvalidArgument as exc:
                        notes.append(f"{paradigm} width={width} density={density:g}: skipped ({exc})")
                        break
                    result = popup(cfg)
                    inst = draw_instance(setting, seed, width)
                    if not (np.array_equal(inst.U, result.network.U) and np.array_equal(inst.w, result.network.w)):
                        raise AssertionError("edge-popup's network differs from prunegap's instance")  # a bug, not input
                    ticket = certify_ticket(result, tol=tol)
                    ref = REFERENCE[paradigm]
                    opt = _optimum(setting, width, seed, eps, ref, methods[ref], cache, notes, solver_options or {})
                    lo = opt.error_lower if opt is not None else None
                    hi = opt.error_upper if opt is not None else None
                    m = result.metrics
                    rows.append({
                        "paradigm": paradigm, "width": width, "density": density, "seed": seed, "d": d,
                        "nm": cfg.nm, "block": cfg.block,
                        "ticket_error_lower": ticket.lower, "ticket_error_upper": ticket.upper,
                        "ticket_error_method": ticket.method,
                        "weight_density": m["weight_density"], "unit_density": m["unit_density"],
                        "test_loss": m["test_loss"],
                        "reference": ref, "method": methods[ref] if opt is not None else None,
                        "optimum_lower": lo, "optimum_upper": hi,
                        "optimum_certified": opt.certified if opt is not None else None,
                        "excess_lower": None if hi is None else ticket.lower - hi,
                        "excess_upper": None if lo is None else ticket.upper - lo,
                        "ratio": None if not hi else ticket.upper / hi,
                        "popup_seconds": m["seconds"],
                    })
    return Comparison(rows, notes)
