"""What every solver returns, and the registry of (paradigm, method) pairs: the one dispatch to a solver.

A solver answers one question at one width: is there a mask of the paradigm
whose error is at most eps?  Like ``scipy.optimize``, it reports instead of
raising: ``status`` is ``yes`` (a ticket whose *certified* error is <= eps),
``no`` (a proof that no mask of the paradigm reaches eps) or ``unknown`` (a
limit fired, or the method cannot decide; ``limit`` says which).  Every
ticket a solver returns has been re-evaluated by prunegap's own evaluator.
"""

from __future__ import annotations

import importlib
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .._validation import check_choice
from ..errors import ErrorBound, verdict
from ..exceptions import InvalidArgument, suggest
from ..masks import Masks
from ..network import Instance, UnitStream
from ..setting import Setting

__all__ = ["Outcome", "Method", "SEARCH_TIME_LIMIT", "SEARCH_WORK_LIMIT", "SEARCH_LIMITS", "BOUNDS", "check_bound", "proves_no", "proof_methods", "register", "get_method", "METHODS", "TARGET_METHODS", "DEFAULT_METHOD", "PARADIGMS",
           "OBJECTIVES",
           "KNOWN_METHODS", "KNOWN_SOLVER_OPTIONS", "method_available", "installed_method", "known_methods",
           "method_options", "check_target"]

PARADIGMS: tuple[str, ...] = ("weight", "neuron", "nm", "block")
OBJECTIVES: tuple[str, ...] = ("feasible", "min-error")
SEARCH_TIME_LIMIT = "search_time_limit"  # an oracle's limit once its whole width search is out of time
SEARCH_WORK_LIMIT = "search_conflict_limit"  # ... once its whole width search has spent its work (deterministic)
SEARCH_LIMITS: tuple[str, ...] = (SEARCH_TIME_LIMIT, SEARCH_WORK_LIMIT)  # limits that end a width search
#: What a width search settles: "both" ends of the bracket (n* itself) or only the "lower" one (proofs).
BOUNDS: tuple[str, ...] = ("both", "lower")


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
    #: The targets (Setting.target) it prunes for; a class without the attribute serves the one neuron.
    targets: tuple[str, ...]
    #: Whether its "no" is a proof about every mask of the paradigm (exact methods); a method
    #: without the attribute proves none, and a proofs-only width search (bound="lower") refuses it.
    proves_no: bool

    def monotone(self, setting: Setting) -> bool:
        """True when "yes at n" implies "yes at every wider prefix" for this
        method's certificate (always true for exact solvers, by nesting)."""
        ...

    def solve(self, instance: Instance, eps: float, *, objective: str = "feasible", **options: Any) -> Outcome: ...

    def oracle(self, stream: UnitStream, eps: float, **options: Any) -> Callable[[int], Outcome]:
        """decide(n) for width searches; may keep state (proofs, warm starts) between calls."""
        ...


METHODS: dict[tuple[str, str], Callable[[], Method]] = {}
#: (paradigm, method, target) -> the solver of the pair for that target, where it is another algorithm
#: than the pair's own (the layer-wise construction is (weight, construction) for a network target).
TARGET_METHODS: dict[tuple[str, str, str], Callable[[], Method]] = {}
DEFAULT_METHOD: dict[str, str] = {"weight": "construction", "neuron": "mip", "nm": "construction", "block": "mip"}
_SOLVER_MODULES = ("weight", "neuron", "weight_exact", "patterns", "deep")
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


def register(paradigm: str, name: str, *, target: str | None = None) -> Callable[[type], type]:
    """Class decorator: the solver of (paradigm, name); with ``target``, its solver for that target only."""

    def deco(cls: type) -> type:
        if target is None:
            METHODS[(paradigm, name)] = cls
        else:
            TARGET_METHODS[(paradigm, name, target)] = cls
        return cls

    return deco


def _register_all() -> None:
    # The solver modules import this one (Outcome, register), so it loads them by name, once asked for a
    # solver: importing a module registers its methods.
    for module in _SOLVER_MODULES:
        try:
            importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:  # a solver module not written yet
            if exc.name != f"{__package__}.{module}":
                raise


def get_method(paradigm: str, method: str | None = None, *, setting: Setting | None = None) -> Method:
    """The solver for (paradigm, method); ``method=None`` picks the default.

    With ``setting``, the solver for the setting's target (the one neuron
    without it): a pair may have another algorithm for a target
    (:data:`TARGET_METHODS`: the layer-wise construction for a network), and
    a pair that cannot prune for the target is refused, with one line naming
    the pair.
    """
    _register_all()
    paradigms = sorted({p for p, _ in METHODS})
    check_choice("paradigm", paradigm, paradigms)
    method = method or DEFAULT_METHOD[paradigm]
    names = sorted(m for p, m in METHODS if p == paradigm)
    if (paradigm, method) not in METHODS:
        raise InvalidArgument(
            f"method must be one of {', '.join(repr(n) for n in names)} for paradigm {paradigm!r}, got {method!r}{suggest(method, names)}"
        )
    target = setting.target if setting is not None else "neuron"
    cls = TARGET_METHODS.get((paradigm, method, target), METHODS[(paradigm, method)])
    if target not in getattr(cls, "targets", ("neuron",)):
        raise InvalidArgument(
            f"target {target!r} works with --paradigm weight (construction) and the integer programs "
            f"(neuron mip, weight exact, nm exact, block mip), got {paradigm}/{method}"
        )
    return cls()


def check_target(solver: Method, target: Any) -> None:
    """Refuses a target ``solver`` does not prune for: it would answer another question, silently.

    A caller that holds a setting gets the target's solver from :func:`get_method` (``setting=``)."""
    kinds = getattr(solver, "targets", ("neuron",))
    if target.kind not in kinds:
        raise InvalidArgument(
            f"{solver.paradigm}/{solver.name} prunes for target {' or '.join(map(repr, kinds))}, got target "
            f"{target.kind!r}; get_method(paradigm, method, setting=setting) picks the solver of a setting's target"
        )


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


def proves_no(solver: Any) -> bool:
    """Whether a solver's "no" is a proof about every mask (what a proofs-only width search needs)."""
    return bool(getattr(solver, "proves_no", False))


def proof_methods() -> list[str]:
    """The installed "paradigm/method" pairs whose "no" is a proof."""
    _register_all()
    return sorted(f"{p}/{m}" for (p, m), cls in METHODS.items() if proves_no(cls))


def check_bound(bound: str, solver: Any) -> str:
    """The bound of a width search, checked against its solver: a proofs-only search (``"lower"``)
    refuses a method that proves no "no", with one line."""
    check_choice("bound", bound, BOUNDS)
    if bound == "lower" and not proves_no(solver):
        raise InvalidArgument(
            f"bound 'lower' needs a method that proves 'no', got {solver.paradigm}/{solver.name}, which proves "
            f"none (methods with proofs: {', '.join(proof_methods())})")
    return bound


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
    names: set[str] = set(getattr(solver, "option_names", ())) | set(getattr(solver, "solver_options", ()))
    for fn in (solver.oracle, solver.solve):
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
                names.add(p.name)
    return names - {"self", "stream", "instance", "eps", "objective"}


def no_ticket(eps: float, lower: float = 0.0, **kw: Any) -> Outcome:
    return Outcome.from_bounds(eps, None, lower, math.inf, **kw)
