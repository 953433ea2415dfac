"""The two questions, as Python functions: ``solve`` (one width) and ``width`` (n*).

Both are pure functions of (setting, seed, eps, paradigm, method, options);
the command line is a thin layer over them, and they return results that
save themselves as ``ticket.npz`` + ``result.json``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._validation import check_choice, check_int, check_positive_float, check_seed
from ._version import __version__
from .errors import ErrorBound
from .io import RESULT_FORMAT_VERSION, atomic_write, write_json, write_ticket
from .masks import Masks
from .network import Instance, UnitStream, draw_instance
from .patterns import Pattern
from .search import WidthResult, minimal_width
from .setting import Setting
from .solvers.base import OBJECTIVES, Outcome, check_bound, get_method
from .solvers.deep import DeepConstruction, LayerwiseConstruction, construct_deep
from .subsetsum import _resolve_budget
from .targets import AnyTarget, NeuronTarget, TargetNetwork

__all__ = ["SolveResult", "WidthSearchResult", "NetworkSolveResult", "solve", "width", "LOWER_LIMITS"]

#: The deterministic work limits of a proofs-only width search (bound "lower") that a caller does not set:
#: CP-SAT conflicts per decision and for the whole search (BENCHMARKS.md, "The certified frontier").
LOWER_LIMITS: dict[str, Any] = {"conflict_limit": 2_000, "search_conflict_limit": 20_000, "max_rounds": 20,
                                "initial_max_points": 2_000}
#: A proofs-only search stops bisecting once its bracket is this fraction of n_lower wide.
LOWER_RESOLUTION = 1 / 8


@dataclass(frozen=True, eq=False)
class SolveResult:
    """The best ticket of a paradigm at one width, with its certified bracket."""

    config: dict[str, Any]
    instance: Instance
    outcome: Outcome
    masks: Masks  # the ticket (the empty mask when the solver found none)
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def certified(self) -> str:
        # a proofs-only width search (bound "lower") says "unknown" unless its bracket closed
        return self.extra.get("certified", self.outcome.status)

    @property
    def error_lower(self) -> float:
        return float(self.outcome.error_lower)

    @property
    def error_upper(self) -> float:
        return float(self.outcome.error_upper)

    def __repr__(self) -> str:
        # A few lines a notebook user reads at a glance: what was asked, the verdict and the bracket,
        # the ticket's size.  The instance and the masks stay attributes (they are the bulk).
        return "\n  ".join(_summary_lines(self))

    def to_dict(self) -> dict[str, Any]:
        o, m = self.outcome, self.masks
        ticket: ErrorBound | None = o.ticket_error
        d = {
            "format_version": RESULT_FORMAT_VERSION,
            **self.config,
            "error_lower": float(o.error_lower),
            "error_upper": float(o.error_upper),
            "certified": o.status,
            "kept_units": m.kept_units,
            "kept_weights": m.kept_weights,
            "density": m.density,
            "seconds": self.seconds,
            "limit": o.limit,
            "ticket_error_lower": ticket.lower if ticket else None,
            "ticket_error_upper": ticket.upper if ticket else None,
            "ticket_error_method": ticket.method if ticket else None,
            "ticket_error_confidence": ticket.confidence if ticket else None,  # of [lower, upper]: proven, 1.0
            # a sampled ticket's statistical interval, beside the proven one; never a certificate
            "ticket_error_estimate": ticket.estimate.to_dict() if ticket and ticket.estimate else None,
            "stats": o.stats,
            "version": __version__,
        }
        d.update(self.extra)
        return d

    def save(self, out: str | Path) -> Path:
        out = Path(out)
        write_ticket(out / "ticket.npz", self.instance.w, self.instance.U, self.instance.v, self.masks)
        write_json(out / "result.json", self.to_dict())
        return out


class _Bracket:
    """n*, or its bracket n_lower <= n* <= n_upper, of a result that holds a width search."""

    search: WidthResult | None

    @property
    def n_star(self) -> int | None:
        return self.search.n_star if self.search else None

    @property
    def n_lower(self) -> int | None:
        """Every narrower width is proven not to certify (the bracket's lower end)."""
        return self.search.n_lower if self.search else None

    @property
    def n_upper(self) -> int | None:
        """The narrowest certified width found (None when none up to max_width)."""
        return self.search.n_upper if self.search else None


@dataclass(frozen=True, eq=False, repr=False)  # repr=False: SolveResult's summary, not the dataclass dump
class WidthSearchResult(_Bracket, SolveResult):
    """The minimal width n* (or the bracket n_lower <= n* <= n_upper), with the ticket at n_upper."""

    search: WidthResult | None = None


def _options_entry(options: dict[str, Any]) -> dict[str, Any]:
    """The solver knobs a caller set, kept in the result so that a rerun uses the same ones."""
    given = {k: v for k, v in options.items() if v is not None}
    return {"solver_options": given} if given else {}


def _config(setting: Setting, seed: int, eps: float, paradigm: str, method: str, objective: str, **more: Any) -> dict[str, Any]:
    cfg = {**setting.to_dict(), "seed": seed, "eps": eps, "paradigm": paradigm, "method": method, "objective": objective}
    cfg.update(more)
    return cfg


@dataclass(frozen=True, eq=False, repr=False)
class NetworkSolveResult(_Bracket, SolveResult):
    """A result for a network target (Setting.target == "network").

    ``ticket.npz`` holds the target (``target_W1`` .. ``target_WL``,
    ``target_c``) and either the two-layer ticket (``w`` = the first row of
    W1, kept so that one-neuron readers still load the file; ``U``, ``v``,
    ``hidden_mask``, ``output_mask``) or, for the layer-wise construction, the
    deep random network and its masks (``U1``, ``V1``, ``mask_U1``,
    ``mask_V1``, ... one pair per expanded layer).
    """

    layerwise: bool = False  # the ticket is the layer-wise construction's, on a deep random network
    search: WidthResult | None = None

    @property
    def target(self) -> TargetNetwork:
        """The network target (the instance's)."""
        assert isinstance(self.instance.target, TargetNetwork)
        return self.instance.target


    @cached_property
    def deep(self) -> DeepConstruction | None:
        """The layer-wise construction's ticket, or None.

        Built when first asked for (saving, to_dict): a width search's rows need only its counts."""
        if not self.layerwise:
            return None
        return construct_deep(self.instance.setting, self.instance.seed, self.target, self.instance.width)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if self.deep is not None:
            deep = self.deep
            d.update(kept_units=deep.kept_units, kept_weights=deep.kept_weights,
                     density=deep.kept_weights / deep.total_weights if deep.total_weights else 0.0,
                     random_depth=2 * (self.target.depth + 1))
        else:
            d["random_depth"] = 2
        d["target_network"] = self.target.to_data()
        return d

    def save(self, out: str | Path) -> Path:
        out = Path(out)
        arrays: dict[str, Any] = dict(self.target.arrays())
        if self.deep is not None:
            arrays.update(self.deep.arrays())
        else:
            arrays.update(w=self.target.layers[0][0], U=self.instance.U, v=self.instance.v,
                          hidden_mask=self.masks.hidden_mask, output_mask=self.masks.output_mask)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "ticket.npz", lambda fh: np.savez_compressed(fh, **arrays))
        write_json(out / "result.json", self.to_dict())
        return out


def _g(x: float) -> str:
    return f"{x:.6g}"


def _summary_lines(r: SolveResult) -> list[str]:
    """The repr of every result: the question, the verdict with its bracket, the ticket and its size."""
    s, cfg = r.instance.setting, r.config
    search: WidthResult | None = getattr(r, "search", None)
    target = (f", target network {s.target_width}x{s.target_depth}" if isinstance(r.instance.target, TargetNetwork)
              else "")
    where = f"max_width={cfg['max_width']}" if search is not None else f"width={r.instance.width}"
    head = (f"{type(r).__name__}({cfg['paradigm']}/{cfg['method']}, d={s.d} {s.init}/{s.output}/{s.norm}{target}, "
            f"seed={cfg['seed']}, eps={_g(cfg['eps'])}, {where}):")
    lo, up, eps = r.error_lower, r.error_upper, float(cfg["eps"])
    side = "<= eps" if up <= eps else ("> eps" if lo > eps else "brackets eps")
    verdict = f"certified {r.certified}: error in [{_g(lo)}, {_g(up)}] {side}"
    if search is not None:
        if search.n_star is not None:
            n = f"n* = {search.n_star}"
        elif search.n_upper is not None:
            n = f"n* in [{search.n_lower}, {search.n_upper}]"
        else:
            n = f"n* >= {search.n_lower} (none certified up to {cfg['max_width']})"
        verdict = f"{n}, {search.stats.get('calls', len(search.steps))} widths tried; at width {search.width}: {verdict}"
    if r.outcome.limit:
        verdict += f" (limit: {r.outcome.limit[:80]})"
    lines = [head, verdict]
    t = r.outcome.ticket_error
    if t is not None:
        lines.append(f"ticket error [{_g(t.lower)}, {_g(t.upper)}] by {t.method}")
    st = r.outcome.stats
    if getattr(r, "layerwise", False) and "total_weights" in st:  # the deep ticket's counts, without building it
        kept, total = int(st["kept_weights"]), int(st["total_weights"])
        size = f"kept {kept} of {total} weights of the deep network (density {kept / total if total else 0.0:.4g})"
    else:
        m = r.masks
        size = (f"kept {m.kept_units} of {m.width} units, {m.kept_weights} of {m.total_weights} weights "
                f"(density {m.density:.4g})")
    lines.append(f"{size}; {r.seconds:.3g} s")
    return lines


def _target_config(target: AnyTarget) -> dict[str, Any]:
    """The target's entry of the config: w for the one neuron (a network target is stored whole at the end)."""
    return {"w": target.to_data()} if isinstance(target, NeuronTarget) else {}


def _result(instance: Instance, outcome: Outcome, solver: Any, cfg: dict[str, Any], seconds: float,
            extra: dict[str, Any] | None = None, search: WidthResult | None = None) -> SolveResult:
    """The result of the instance's target: a network target's saves its target and deep ticket."""
    masks = _ticket_of(instance, outcome)
    if isinstance(instance.target, TargetNetwork):
        return NetworkSolveResult(cfg, instance, outcome, masks, seconds, extra or {},
                                  layerwise=isinstance(solver, LayerwiseConstruction), search=search)
    if search is not None:
        return WidthSearchResult(cfg, instance, outcome, masks, seconds, extra or {}, search)
    return SolveResult(cfg, instance, outcome, masks, seconds)


def _check_tol(options: dict[str, Any]) -> None:
    # tol is read only by the d >= 3 evaluators; refused in every d so that a bad value is never recorded
    if options.get("tol") is not None:
        check_positive_float("tol", options["tol"])


def _pattern_options(paradigm: str, nm: Any, block: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(solver options, config entries) of the pattern parameters; refuses misplaced ones early."""
    pattern = Pattern.of(paradigm, nm=nm, block=block)
    opts = {k: v for k, v in (("nm", nm), ("block", block)) if v is not None}
    return opts, pattern.to_dict()


def _ticket_of(instance: Instance, outcome: Outcome) -> Masks:
    if outcome.masks is not None:
        return outcome.masks.canonical()
    return Masks.empty(instance.width, instance.d)


def _proof_entry(width: int, outcome: Outcome, work: int) -> dict[str, Any]:
    """A proof of "no" at ``width``, as result.json lists it: its size and its margin."""
    st = outcome.stats
    return {"width": width, "points": st.get("points"), "rows": st.get("rows"), "columns": st.get("columns"),
            "conflicts": work, "margin": st.get("no_margin"), "error_lower": outcome.error_lower,
            "proof": st.get("proof")}


def solve(
    setting: Setting,
    *,
    width: int,
    seed: int,
    eps: float,
    paradigm: str = "weight",
    method: str | None = None,
    objective: str = "feasible",
    nm: str | tuple[int, int] | None = None,
    block: int | None = None,
    **options: Any,
) -> SolveResult:
    """The best ticket of ``paradigm`` on the width-``width`` network of ``seed``.

    Returns a :class:`SolveResult`: ``certified`` is ``"yes"`` when the
    ticket's certified error is <= eps, ``"no"`` when a proven lower bound on
    every mask of the paradigm exceeds eps, else ``"unknown"``.  ``nm``
    ("N:M") and ``block`` (B) are the parameters of the ``nm`` and ``block``
    patterns (:mod:`prunegap.solvers.patterns`).
    """
    width = check_int("width", width, minimum=1)
    seed = check_seed(seed)
    eps = check_positive_float("eps", eps)
    _check_tol(options)
    check_choice("objective", objective, OBJECTIVES)
    solver = get_method(paradigm, method, setting=setting)
    popts, pcfg = _pattern_options(paradigm, nm, block)
    t0 = time.perf_counter()
    # a width whose arrays exceed the memory budget is refused before anything is drawn
    instance = draw_instance(setting, seed, width, memory_budget=_resolve_budget(options.get("memory_budget")))
    outcome = solver.solve(instance, eps, objective=objective, **popts, **options)
    seconds = time.perf_counter() - t0
    cfg = _config(setting, seed, eps, paradigm, solver.name, objective, **pcfg, width=width,
                  **_target_config(instance.target), **_options_entry(options))
    return _result(instance, outcome, solver, cfg, seconds)


def width(
    setting: Setting,
    *,
    seed: int,
    eps: float,
    paradigm: str = "weight",
    method: str | None = None,
    max_width: int = 4096,
    nm: str | tuple[int, int] | None = None,
    block: int | None = None,
    on_start: Callable[[bool, Any], None] | None = None,
    on_step: Callable[[int, Outcome], None] | None = None,
    bound: str = "both",
    resolution: float | None = None,
    **options: Any,
) -> WidthSearchResult:
    """The minimal width n* at which the method certifies ``eps`` for ``seed``.

    Widths count hidden units for every pattern (under ``block``, only
    complete blocks are kept, so n* is a multiple of B).

    ``on_start(monotone, target)`` is called once before the first decision:
    whether a "no" at a width settles every narrower one for this search, and
    the target as JSON-ready data (w as a list, or a network's
    ``{"W": [...], "c": [...]}``).  ``on_step(width, outcome)`` is called
    after every decided width, in the order tried.  A sweep's trial records
    its progress through them (so a search stopped from outside still leaves
    the bracket it had proven); the search itself is the same.

    ``bound="lower"`` looks for proofs of "no" only, the certified frontier
    (:mod:`prunegap.search`): ``n_lower`` is as high as the solver's
    deterministic limits allow (``conflict_limit`` per decision,
    ``search_conflict_limit`` for the whole search), ``n_upper`` stays None
    unless a ticket is certified on the way, and ``certified`` is "unknown"
    unless n* is settled.  ``extra["proofs"]`` lists each proof's width,
    size (points, rows, columns), conflicts and margin.  Methods that prove
    no "no" (the constructions) are refused.  Its defaults are
    :data:`LOWER_LIMITS` (a thin first sample in d = 2: proofs need few
    points) and bisection to ``resolution`` (:data:`LOWER_RESOLUTION`) of n_lower.
    """
    seed = check_seed(seed)
    eps = check_positive_float("eps", eps)
    _check_tol(options)
    max_width = check_int("max_width", max_width, minimum=1)
    solver = get_method(paradigm, method, setting=setting)
    check_bound(bound, solver)
    if resolution is None:
        resolution = LOWER_RESOLUTION if bound == "lower" else 0.0
    resolution = check_positive_float("resolution", resolution, allow_zero=True, maximum=1.0)
    if bound == "lower":
        options = {**LOWER_LIMITS, **{k: v for k, v in options.items() if v is not None}}
    popts, pcfg = _pattern_options(paradigm, nm, block)
    t0 = time.perf_counter()
    stream = UnitStream(setting, seed, memory_budget=_resolve_budget(options.get("memory_budget")))
    decide = solver.oracle(stream, eps, **popts, **options)
    monotone = solver.monotone(setting)
    strategy = getattr(solver, "search", "gallop")
    if on_start is not None:
        on_start(monotone and strategy != "scan", stream.target.to_data())
    proofs: list[dict[str, Any]] = []
    inner = decide

    def decide(n: int) -> Outcome:
        # an oracle that counts its work says so (WidthOracle.work); a closure counts none
        work = getattr(inner, "work", 0)
        outcome = inner(n)
        if outcome.search_status == "no" and outcome.stats.get("proof_width") == n:
            proofs.append(_proof_entry(n, outcome, getattr(inner, "work", 0) - work))
        if on_step is not None:
            on_step(n, outcome)
        return outcome

    search = minimal_width(decide, max_width=max_width, monotone=monotone, strategy=strategy, bound=bound,
                           resolution=resolution)
    seconds = time.perf_counter() - t0
    instance = draw_instance(setting, seed, search.width, stream=stream)
    cfg = _config(
        setting, seed, eps, paradigm, solver.name, "feasible", **pcfg, width=search.width, max_width=max_width,
        **_target_config(instance.target), **_options_entry(options)
    )
    extra = {
        "n_star": search.n_star,
        "n_lower": search.n_lower,
        "n_upper": search.n_upper,
        "steps": [list(s) for s in search.steps],
        "step_seconds": [round(t, 4) for t in search.stats.get("step_seconds", ())],
        "bound": bound,
        "resolution": resolution,
        "proofs": proofs,
    }
    if bound == "lower":
        # proofs only: the bracket is the result, and it settles n* only when its ends meet
        extra["certified"] = "yes" if search.n_star is not None else "unknown"
    return _result(instance, search.outcome, solver, cfg, seconds, extra, search)  # type: ignore[return-value]

