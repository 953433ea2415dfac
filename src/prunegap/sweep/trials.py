"""The certified trial: one minimal-width search, as a pure, picklable function.

A :class:`Trial` is a plain frozen dataclass and :func:`run_trial` a
top-level function of it, so any ``concurrent.futures.Executor`` can run it
(the sweep runs it through :func:`prunegap.sweep.sandbox.run_attempt`, in a
process of its own; another kind of trial, the popup study's
:class:`~prunegap.sweep.popup.PopupTrial`, goes the same way and runs
itself).  Its row (:data:`~prunegap.sweep.schema.TRIALS`, docs/theory.md
section 6 for the bracket) depends on the trial alone -- never
on the worker, the order, or what ran before -- except for the timing fields
``seconds`` and ``timings``.  It never raises for a failing solver: the
failure is a row with ``status = "failed"`` and the exception's message in
``reason``.

Statuses: ``certified`` (n* exact), ``unknown`` (n* only bracketed in
[n_lower, n_upper]; ``n_upper`` is None when no width up to ``max_width``
was certified; ``limit`` says what stopped it), ``failed``.

A search reports what it has proven after every width it decides (a
:class:`Tracker` event), so a trial stopped from outside -- its time limit,
its memory budget -- is still stored with the best bracket it had.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .. import api
from ..exceptions import MemoryBudgetExceeded
from ..subsetsum import MEMORY_BUDGET_ENV
from ..io import json_ready
from ..masks import pack_mask
from ..setting import Setting
from .schema import TRIALS

__all__ = ["Trial", "run_trial", "empty_row", "Tracker", "STATUSES", "TrialTimeout", "TimeLimit", "Report", "describe",
           "environment_limited", "CAP_SIGNS", "ENV_BUDGET"]

STATUSES: tuple[str, ...] = ("certified", "unknown", "failed")
#: How an allocation that an address-space cap refused shows up when it escapes as something
#: other than MemoryError (a library's mmap, C++ new).
CAP_SIGNS: tuple[str, ...] = ("MemoryError", "failed to map segment", "Cannot allocate memory", "std::bad_alloc",
                              "cannot allocate memory")
#: How the limit of a row stopped by a memory budget from the environment (``PRUNEGAP_MEMORY_BUDGET``) begins.
ENV_BUDGET = f"memory budget of {MEMORY_BUDGET_ENV}"
_WALL_CLOCK = ("time_limit", "search_time_limit")  # the sweep's guard "time_limit (300 s)", the solvers' own


def environment_limited(limit: str | None) -> bool:
    """Whether a row's ``limit`` (or the kind the report makes of it) came from the run's
    environment, not from the trial: a wall clock (the sweep's ``time_limit`` guard, a solver's
    ``time_limit`` or ``search_time_limit``), the address-space cap of ``--memory-limit``
    (``memory budget: MemoryError ...``), or a memory budget set by ``PRUNEGAP_MEMORY_BUDGET``.
    None of these is in a trial's key or the sweep's fingerprint, and the same trial may end
    otherwise on another machine or under other settings: ``prunegap gap --retry-env-limited``
    runs such trials again.  The study's deterministic limits (``max_width``, ``node_limit``,
    ``conflict_limit``, a ``memory_budget`` option, ...) are part of the trial: rerun, they stop
    it the same way."""
    if not limit:
        return False
    text = str(limit)
    if text.startswith(_WALL_CLOCK) or text.startswith(ENV_BUDGET):
        return True
    return text.startswith("memory budget: ") and any(sign in text for sign in CAP_SIGNS)


def _budget_from_environment(trial: "Trial", limit: str | None) -> str | None:
    """``limit`` marked with :data:`ENV_BUDGET` when it is a memory budget that came from
    ``PRUNEGAP_MEMORY_BUDGET`` (the study set none): not the trial's, so a rerun may end otherwise."""
    raw = os.environ.get(MEMORY_BUDGET_ENV, "").strip()
    if not limit or not limit.startswith("memory budget") or environment_limited(limit) or not raw:
        return limit
    if dict(trial.options).get("memory_budget") is not None:
        return limit
    return f"{ENV_BUDGET}={raw}{limit[len('memory budget'):]}"[:2000]


@dataclass(frozen=True)
class Trial:
    """Everything that decides one row."""

    study: str  # the study's name (groups trials in the report)
    paradigm: str  # "weight", "neuron", ...
    method: str  # the paradigm's solver
    d: int  # input dimension
    eps: float  # target error
    seed: int  # the instance: unit stream and target (shared across studies and eps)
    init: str  # law of the random weights
    output: str  # output activation
    norm: str  # error norm
    max_width: int  # largest width the search tries
    options: tuple[tuple[str, Any], ...] = ()  # solver options (deterministic limits)
    time_limit: float = math.inf  # wall-clock guard, seconds
    # The target (Setting.target ...).  Not in the key: a network study's name carries its K
    # (config.py), and one-neuron trials keep the keys of every folder written before.
    target: str = "neuron"  # "neuron" or "network"
    target_width: int = 1  # K of a network target
    target_depth: int = 1  # L of a network target
    bound: str = "both"  # "lower": proofs only (not in the key: the study's name says which)

    @property
    def key(self) -> str:
        """Unique within one sweep (the sweep's fingerprint fixes the rest)."""
        return f"{self.study}/d={self.d}/eps={self.eps!r}/seed={self.seed}"

    def config(self) -> dict[str, Any]:
        """The trial's columns of a results row."""
        return {
            "key": self.key,
            "study": self.study,
            "paradigm": self.paradigm,
            "method": self.method,
            "d": self.d,
            "eps": self.eps,
            "seed": self.seed,
            "init": self.init,
            "output": self.output,
            "norm": self.norm,
            "max_width": self.max_width,
            "options": json.dumps(dict(self.options), sort_keys=True),
            "time_limit": self.time_limit if math.isfinite(self.time_limit) else None,
        }


class TrialTimeout(BaseException):
    """The wall-clock guard fired.  A BaseException so that a solver's broad
    ``except Exception`` cannot swallow it."""


_TIMING_KEYS = ("seconds", "time", "wall", "elapsed")


def _split_timings(stats: Any) -> tuple[Any, Any]:
    """(stats without timing entries, the timing entries), recursively: the
    first part is deterministic, the second is not."""
    if not isinstance(stats, dict):
        return stats, None
    keep, timing = {}, {}
    for k, v in stats.items():
        if any(t in str(k).lower() for t in _TIMING_KEYS):
            timing[k] = v
        elif isinstance(v, dict):
            kv, tv = _split_timings(v)
            keep[k] = kv
            if tv:
                timing[k] = tv
        else:
            keep[k] = v
    return keep, timing


def _dumps(obj: Any) -> str:
    return json.dumps(json_ready(obj), sort_keys=True, allow_nan=False)


class TimeLimit:
    """SIGALRM-based wall-clock guard; inert where signals are unavailable
    (threads, Windows), where only the deterministic limits bound a trial."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False

    def __enter__(self) -> "TimeLimit":
        usable = (
            math.isfinite(self.seconds)
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )
        if usable:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
            self.armed = True
        return self

    def _fire(self, signum: int, frame: Any) -> None:
        raise TrialTimeout()

    def __exit__(self, *exc: Any) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


def empty_row(trial: Trial, reason: str | None = None) -> dict[str, Any]:
    """The row of a trial that produced nothing: ``failed`` with ``reason``."""
    return TRIALS.row(**trial.config(), status="failed", n_lower=1, steps="[]", stats="{}", timings="{}", reason=reason)


class Tracker:
    """What a width search has proven so far, rebuilt from its events.

    An event is a plain tuple, so it crosses a pipe unchanged:

    * ``("start", monotone, target)``: the certificate is monotone in the
      width (a "no" at m settles every narrower width), and the target w;
    * ``("step", width, search_status, verdict, error_lower, error_upper, ticket)``:
      one decided width; ``ticket`` (the packed masks and their counts) comes
      only with a "yes" narrower than every earlier one.

    The bracket follows the rules of :func:`prunegap.search.minimal_width`,
    so the bracket of a finished search is the search's own.
    """

    def __init__(self) -> None:
        self.monotone = True
        self.target: list[float] | None = None
        self.steps: list[tuple[int, str]] = []
        self.status: dict[int, str] = {}
        self.best: tuple[int, tuple[Any, ...]] | None = None  # (width, step event) of the narrowest yes
        self.widest: tuple[int, tuple[Any, ...]] | None = None  # (width, step event) of the widest width tried

    def apply(self, event: tuple[Any, ...]) -> None:
        if event[0] == "start":
            self.monotone, self.target = bool(event[1]), event[2]
            return
        width, search_status = int(event[1]), str(event[2])
        self.steps.append((width, search_status))
        self.status[width] = search_status
        if search_status == "yes" and event[6] is not None and (self.best is None or width < self.best[0]):
            self.best = (width, event)
        if self.widest is None or width >= self.widest[0]:
            self.widest = (width, event)

    def bracket(self) -> tuple[int, int | None]:
        """(n_lower, n_upper): n_lower <= n* <= n_upper (None: no yes yet)."""
        yes = [w for w, s in self.status.items() if s == "yes"]
        hi = min(yes) if yes else None
        if self.monotone:
            no = [w for w, s in self.status.items() if s == "no" and (hi is None or w < hi)]
            return (max(no) + 1 if no else 1), hi
        # A narrower yes may hide below a no: only a run of "no" from width 1 is proven.
        lo = 1
        while self.status.get(lo) == "no" and (hi is None or lo < hi):
            lo += 1
        return lo, hi

    def partial_row(self, trial: Trial, limit: str) -> dict[str, Any]:
        """The ``unknown`` row of a search stopped by ``limit``, with what it had proven."""
        n_lower, n_upper = self.bracket()
        row = TRIALS.subset(
            status="unknown", n_star=None, n_lower=n_lower, n_upper=n_upper, limit=limit, calls=len(self.steps),
            steps=_dumps([list(s) for s in self.steps]),
            target=_dumps(self.target) if self.target is not None else None,
        )
        at = self.best if n_upper is not None and self.best is not None else self.widest
        if at is not None:
            _, _, _, verdict, lower, upper, ticket = at[1]
            row.update(width=at[0], verdict=verdict, error_lower=lower, error_upper=upper)
            if ticket is not None:
                row.update(ticket)
        return row


def _step_event(width: int, outcome: Any, new_best: bool) -> tuple[Any, ...]:
    ticket = None
    deep = _deep_ticket(outcome)
    if new_best and deep is not None:
        ticket = deep
    elif new_best and outcome.masks is not None and outcome.masks.width == width:
        m = outcome.masks.canonical()
        ticket = {
            "kept_units": m.kept_units,
            "kept_weights": m.kept_weights,
            "density": m.density,
            "hidden_mask": pack_mask(m.hidden_mask),
            "output_mask": pack_mask(m.output_mask),
        }
    return ("step", int(width), outcome.search_status, outcome.status, float(outcome.error_lower),
            float(outcome.error_upper), ticket)


def _deep_ticket(outcome: Any) -> dict[str, Any] | None:
    """The counts of a layer-wise construction's ticket (a network target's weight pruning), or None.

    Its masks live on the deep random network, not on a two-layer one, so a row stores no
    mask blobs for it; the ticket is rebuilt from (config, seed, width) by
    :func:`prunegap.solvers.deep.construct_deep`."""
    stats = getattr(outcome, "stats", None) or {}
    if outcome.masks is not None or "kept_weights" not in stats or not stats.get("total_weights"):
        return None
    kept, total = int(stats["kept_weights"]), int(stats["total_weights"])
    return {"kept_units": None, "kept_weights": kept, "density": kept / total, "hidden_mask": None, "output_mask": None}


Report = Callable[[tuple[Any, ...]], None]


def run_trial(trial: Trial, *, report: Report | None = None, guard: bool = True) -> dict[str, Any]:
    """Run one trial; returns its results row (see :mod:`prunegap.sweep.store`).

    ``report`` receives the search's :class:`Tracker` events as they happen.
    ``guard``: enforce ``trial.time_limit`` in this process with SIGALRM (in
    the main thread only; it fires between Python steps).  A process that
    runs the trial for someone else turns it off and is killed instead.

    A trial stopped by its time limit, or by a memory budget
    (:class:`~prunegap.exceptions.MemoryBudgetExceeded`, or a
    ``MemoryError`` under the address-space cap of its process), is stored
    as ``unknown`` with the bracket it had proven and that limit.
    """
    if not isinstance(trial, Trial):  # another kind of trial (the popup study's) runs itself
        return trial.run(report=report, guard=guard)
    row = empty_row(trial)
    tracker = Tracker()
    t0 = time.perf_counter()
    try:
        with TimeLimit(trial.time_limit if guard else math.inf):
            row.update(_search(trial, tracker, report))
    except TrialTimeout:
        row.update(tracker.partial_row(trial, f"time_limit ({trial.time_limit:g} s)"))
    except (MemoryError, MemoryBudgetExceeded) as exc:
        row.update(tracker.partial_row(trial, f"memory budget: {describe(exc)}"[:2000]))
    except Exception as exc:  # noqa: BLE001 - a failing trial is a row, never a crash
        row.update(status="failed", reason=describe(exc)[:2000])
    if row.get("status") == "unknown":
        row["limit"] = _budget_from_environment(trial, row.get("limit"))
    row["seconds"] = time.perf_counter() - t0
    return row


def describe(exc: BaseException) -> str:
    """An exception in one line: its type and its message (for a row's ``reason``)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _search(trial: Trial, tracker: Tracker, report: Report | None = None) -> dict[str, Any]:
    # prunegap.width itself, observed step by step: every decided width is an
    # event, so a search stopped from outside still leaves its proven bracket.
    net: dict[str, Any] = {}
    if trial.target != "neuron":  # one-neuron settings are built exactly as before
        net = {"target": trial.target, "target_width": trial.target_width, "target_depth": trial.target_depth}
    setting = Setting(d=trial.d, init=trial.init, output=trial.output, norm=trial.norm, **net)
    target: list[Any] = []

    def emit(event: tuple[Any, ...]) -> None:
        tracker.apply(event)
        if report is not None:
            report(event)

    def start(monotone: bool, data: Any) -> None:
        target.append(data)
        emit(("start", monotone, data))

    def step(n: int, outcome: Any) -> None:
        best = tracker.best[0] if tracker.best is not None else None
        emit(_step_event(n, outcome, outcome.search_status == "yes" and (best is None or n < best)))

    result = api.width(setting, seed=trial.seed, eps=trial.eps, paradigm=trial.paradigm, method=trial.method,
                   max_width=trial.max_width, on_start=start, on_step=step, bound=trial.bound,
                   **dict(trial.options))
    search = result.search
    assert search is not None
    outcome = search.outcome
    masks = result.masks
    deep = _deep_ticket(outcome)
    counts: dict[str, Any] = {"kept_units": masks.kept_units, "kept_weights": masks.kept_weights,
                              "density": masks.density, "hidden_mask": pack_mask(masks.hidden_mask),
                              "output_mask": pack_mask(masks.output_mask)}
    if deep is not None:
        counts = deep
    steps = [list(s) for s in search.steps]
    undecided = sorted(w for w, status in steps if status == "unknown")
    if search.n_star is not None:
        status, limit = "certified", None
    else:
        status = "unknown"
        if trial.bound == "lower":
            # a proofs-only search: its result is n_lower, and "unknown" says only that n* is not settled
            limit = "bound lower (proofs only)"
        elif search.n_upper is None and search.n_lower > trial.max_width:
            limit = f"max_width ({trial.max_width})"
        else:
            limit = outcome.limit or (f"undecided at width(s) {undecided[:8]}" if undecided else "undecided")
    stats, timings = _split_timings({"solver": dict(outcome.stats), "search": dict(search.stats)})
    return TRIALS.subset(
        status=status, n_star=search.n_star, n_lower=search.n_lower, n_upper=search.n_upper, width=search.width,
        verdict=outcome.status, error_lower=outcome.error_lower, error_upper=outcome.error_upper,
        kept_units=counts["kept_units"], kept_weights=counts["kept_weights"], density=counts["density"],
        limit=limit, calls=len(steps), steps=_dumps(steps), stats=_dumps(stats), target=_dumps(target[0]),
        hidden_mask=counts["hidden_mask"], output_mask=counts["output_mask"], timings=_dumps(timings or {}),
    )
