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

__all__ = ["Outcome", "Method", "register", "get_method", "METHODS", "DEFAULT_METHOD", "PARADIGMS", "OBJECTIVES"]

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


def register(paradigm: str, name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        METHODS[(paradigm, name)] = cls
        return cls

    return deco


def get_method(paradigm: str, method: str | None = None) -> Method:
    """The solver for (paradigm, method); ``method=None`` picks the default."""
    import importlib

    for module in _SOLVER_MODULES:  # importing a module registers its methods
        try:
            importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:  # a solver module not written yet
            if exc.name != f"{__package__}.{module}":
                raise
    paradigms = sorted({p for p, _ in METHODS})
    check_choice("paradigm", paradigm, paradigms)
    method = method or DEFAULT_METHOD[paradigm]
    names = sorted(m for p, m in METHODS if p == paradigm)
    if (paradigm, method) not in METHODS:
        raise InvalidArgument(
            f"method must be one of {', '.join(repr(n) for n in names)} for paradigm {paradigm!r}, got {method!r}{suggest(method, names)}"
        )
    return METHODS[(paradigm, method)]()


def no_ticket(eps: float, lower: float = 0.0, **kw: Any) -> Outcome:
    return Outcome.from_bounds(eps, None, lower, math.inf, **kw)
