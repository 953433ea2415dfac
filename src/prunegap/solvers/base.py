"""What every solver returns, and the registry of (paradigm, method) pairs.

A solver answers one question at one width: is there a mask of the paradigm
whose error is at most eps?  Like ``scipy.optimize``, it reports instead of
raising: ``status`` is ``yes`` (a ticket whose *certified* error is <= eps),
``no`` (a proof that no mask of the paradigm reaches eps) or ``unknown`` (a
limit fired, or the method cannot decide; ``limit`` says which).  Every
ticket a solver returns has been re-evaluated by prunegap's own evaluator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .._validation import check_choice
from ..errors import ErrorBound, verdict
from ..exceptions import InvalidArgument, suggest
from ..masks import Masks
from ..network import Instance, UnitStream
from ..setting import Setting

__all__ = ["Outcome", "Method", "register", "get_method", "METHODS", "DEFAULT_METHOD", "PARADIGMS", "OBJECTIVES",
           "KNOWN_METHODS", "KNOWN_SOLVER_OPTIONS", "method_available", "installed_method", "known_methods",
           "method_options"]

PARADIGMS: tuple[str, ...] = ("weight", "neuron", "nm", "block")
OBJECTIVES: tuple[str, ...] = ("feasible", "min-error")
SEARCH_TIME_LIMIT = "search_time_limit"  # an oracle's limit once its whole width search is out of time


@dataclass(frozen=True, eq=False)
class Outcome:
    """What a solver proved about one width.

    ``error_lower`` is a proven lower bound on the error of *every* mask of
    the paradigm at this width (0.0 when the method proves none);
    ``error_upper`` is the certified error of ``masks`` (inf when no ticket).
    """

    status: str  # "yes" | "no" | "unknown", against eps
    masks: Masks | None  # the best ticket found, on this width
    error_lower: float
    error_upper: float
    ticket_error: ErrorBound | None = None  # the evaluator's interval for ``masks``
    limit: str | None = None  # the limit that fired, when undecided
    stats: dict[str, Any] = field(default_factory=dict)
    #: Whether *this method* certifies eps here, for width searches.  Equal to
    #: ``status`` for exact methods; a construction that misses eps answers
    #: "no" here (it does not certify) while ``status`` stays "unknown" (other
    #: masks of the paradigm may still reach eps).
    method_status: str | None = None

    @property
    def search_status(self) -> str:
        return self.method_status or self.status

    @classmethod
    def from_bounds(cls, eps: float, masks: Masks | None, lower: float, upper: float, **kw: Any) -> "Outcome":
        return cls(verdict(lower, upper, eps), masks, float(lower), float(upper), **kw)


class Method(Protocol):
    """A way to solve one paradigm.  Implementations are small classes."""

    paradigm: str
    name: str

    def monotone(self, setting: Setting) -> bool:
        """True when "yes at n" implies "yes at every wider prefix" for this
        method's certificate (always true for exact solvers, by nesting)."""
        ...

    def solve(self, instance: Instance, eps: float, *, objective: str = "feasible", **options: Any) -> Outcome: ...

    def oracle(self, stream: UnitStream, eps: float, **options: Any) -> Callable[[int], Outcome]:
        """decide(n) for width searches; may keep state (proofs, warm starts) between calls."""
        ...


METHODS: dict[tuple[str, str], Callable[[], Method]] = {}
DEFAULT_METHOD: dict[str, str] = {"weight": "construction", "neuron": "mip", "nm": "construction", "block": "mip"}
_SOLVER_MODULES = ("weight", "neuron", "weight_exact", "patterns")
#: (paradigm, method) pairs prunegap ships or is about to ship.  A pair listed
#: here whose solver module is not installed yet is *skipped* with a note by a
#: sweep (its trials run on a later rerun); any other unregistered pair is an error.
KNOWN_METHODS: tuple[tuple[str, str], ...] = (
    ("weight", "construction"),
    ("weight", "exact"),
    ("neuron", "mip"),
)
#: Solver options a study may pass, beyond the keyword parameters a solver's
#: ``oracle``/``solve`` declare and the names in its ``option_names`` or
#: ``solver_options`` attribute (solvers take options through ``**options``,
#: so a typo would otherwise be ignored silently).
KNOWN_SOLVER_OPTIONS: tuple[str, ...] = (
    "node_limit",
    "max_rounds",
    "time_limit",
    "memory_budget",
    "tol",
    "no_margin",
    "initial_density",
    "initial_points",
    "witnesses",
    "max_new_points",
    "min_error_rtol",
    "max_cells",
    "descend",
)


def register(paradigm: str, name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        METHODS[(paradigm, name)] = cls
        return cls

    return deco


def _register_all() -> None:
    import importlib

    for module in _SOLVER_MODULES:  # importing a module registers its methods
        try:
            importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:  # a solver module not written yet
            if exc.name != f"{__package__}.{module}":
                raise


def get_method(paradigm: str, method: str | None = None, *, setting: Setting | None = None) -> Method:
    """The solver for (paradigm, method); ``method=None`` picks the default.

    With ``setting``, the solver for the setting's target: a network target
    has its own weight construction (the layer-wise one) and refuses pairs
    that cannot prune for it, with one line naming the pair.
    """
    _register_all()
    paradigms = sorted({p for p, _ in METHODS})
    check_choice("paradigm", paradigm, paradigms)
    if setting is not None and setting.target == "network":
        from .targets import target_method

        return target_method(paradigm, method, setting)
    method = method or DEFAULT_METHOD[paradigm]
    names = sorted(m for p, m in METHODS if p == paradigm)
    if (paradigm, method) not in METHODS:
        raise InvalidArgument(
            f"method must be one of {', '.join(repr(n) for n in names)} for paradigm {paradigm!r}, got {method!r}{suggest(method, names)}"
        )
    return METHODS[(paradigm, method)]()


def installed_method(paradigm: str, method: str) -> Method | None:
    """The registered solver of (paradigm, method), or None where it is not installed."""
    try:
        solver = get_method(paradigm, method)
    except InvalidArgument:
        return None
    return solver if (paradigm, method) in METHODS else None


def method_available(paradigm: str, method: str) -> bool:
    """Whether the solver of (paradigm, method) is installed (registered)."""
    return installed_method(paradigm, method) is not None


def known_methods() -> dict[str, list[str]]:
    """paradigm -> the methods installed or listed in :data:`KNOWN_METHODS`."""
    _register_all()
    known: dict[str, list[str]] = {}
    for p, m in [*KNOWN_METHODS, *METHODS]:
        if m not in known.setdefault(p, []):
            known[p].append(m)
    return known


def method_options(solver: Any) -> set[str]:
    """The option names a solver takes: its declared ones and its keyword parameters."""
    import inspect

    names: set[str] = set(getattr(solver, "option_names", ())) | set(getattr(solver, "solver_options", ()))
    for fn in (solver.oracle, solver.solve):
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
                names.add(p.name)
    return names - {"self", "stream", "instance", "eps", "objective"}


def no_ticket(eps: float, lower: float = 0.0, **kw: Any) -> Outcome:
    return Outcome.from_bounds(eps, None, lower, math.inf, **kw)
