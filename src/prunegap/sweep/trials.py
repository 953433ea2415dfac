"""One trial = one minimal-width search, as a pure, picklable function.

A :class:`Trial` is a plain frozen dataclass and :func:`run_trial` a
top-level function of it, so any ``concurrent.futures.Executor`` (local
processes today, a Dask client's executor later) can run it.  The row it
returns depends on the trial alone -- never on the worker, the order, or
what ran before -- except for the timing fields ``seconds`` and
``timings``.  It never raises for a failing solver: the failure is a row
with ``status = "failed"`` and the exception's message in ``reason``.

Statuses: ``certified`` (n* exact), ``unknown`` (n* only bracketed in
[n_lower, n_upper]; ``n_upper`` is None when no width up to ``max_width``
was certified; ``limit`` says what stopped it), ``failed``.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Trial", "run_trial", "empty_row", "STATUSES", "TrialTimeout", "pack_mask", "unpack_mask"]

STATUSES: tuple[str, ...] = ("certified", "unknown", "failed")


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


def pack_mask(mask: Any) -> bytes:
    """A 0/1 array as bits (np.packbits of the flattened array)."""
    import numpy as np

    return np.packbits(np.asarray(mask, dtype=np.uint8).ravel()).tobytes()


def unpack_mask(blob: bytes, shape: tuple[int, ...]) -> Any:
    """Inverse of :func:`pack_mask`."""
    import numpy as np

    n = int(np.prod(shape)) if shape else 1
    return np.unpackbits(np.frombuffer(blob, dtype=np.uint8), count=n).reshape(shape)


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
    from ..io import json_ready

    return json.dumps(json_ready(obj), sort_keys=True, allow_nan=False)


class _Guard:
    """SIGALRM-based wall-clock guard; inert where signals are unavailable
    (threads, Windows), where only the deterministic limits bound a trial."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False

    def __enter__(self) -> "_Guard":
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
    return {
        **trial.config(),
        "status": "failed",
        "n_star": None,
        "n_lower": 1,
        "n_upper": None,
        "width": None,
        "verdict": None,
        "error_lower": None,
        "error_upper": None,
        "kept_units": None,
        "kept_weights": None,
        "density": None,
        "limit": None,
        "calls": None,
        "steps": "[]",
        "stats": "{}",
        "target": None,
        "hidden_mask": None,
        "output_mask": None,
        "seconds": None,
        "timings": "{}",
        "reason": reason,
    }


def run_trial(trial: Trial) -> dict[str, Any]:
    """Run one trial; returns its results row (see :mod:`prunegap.sweep.store`)."""
    row = empty_row(trial)
    t0 = time.perf_counter()
    try:
        with _Guard(trial.time_limit):
            row.update(_search(trial))
    except TrialTimeout:
        row.update(status="unknown", limit=f"time_limit ({trial.time_limit:g} s)")
    except Exception as exc:  # noqa: BLE001 - a failing trial is a row, never a crash
        row.update(status="failed", reason=f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:2000])
    row["seconds"] = time.perf_counter() - t0
    return row


def _search(trial: Trial) -> dict[str, Any]:
    from ..api import width
    from ..setting import Setting

    setting = Setting(d=trial.d, init=trial.init, output=trial.output, norm=trial.norm)
    r = width(
        setting, seed=trial.seed, eps=trial.eps, paradigm=trial.paradigm, method=trial.method,
        max_width=trial.max_width, **dict(trial.options),
    )
    data = r.to_dict()
    outcome = r.outcome
    steps = data.get("steps", [])
    undecided = sorted(w for w, status in steps if status == "unknown")
    if r.n_star is not None:
        status, limit = "certified", None
    else:
        status = "unknown"
        if data["n_upper"] is None and data["n_lower"] > trial.max_width:
            limit = f"max_width ({trial.max_width})"
        else:
            limit = outcome.limit or (f"undecided at width(s) {undecided[:8]}" if undecided else "undecided")
    stats, timings = _split_timings({"solver": dict(outcome.stats), "search": dict(r.search.stats) if r.search else {}})
    masks = r.masks
    return {
        "status": status,
        "n_star": r.n_star,
        "n_lower": data["n_lower"],
        "n_upper": data["n_upper"],
        "width": data["width"],
        "verdict": data["certified"],
        "error_lower": data["error_lower"],
        "error_upper": data["error_upper"],
        "kept_units": data["kept_units"],
        "kept_weights": data["kept_weights"],
        "density": data["density"],
        "limit": limit,
        "calls": len(steps),
        "steps": _dumps(steps),
        "stats": _dumps(stats),
        "target": _dumps(data.get("w")),
        "hidden_mask": pack_mask(masks.hidden_mask),
        "output_mask": pack_mask(masks.output_mask),
        "timings": _dumps(timings or {}),
    }
