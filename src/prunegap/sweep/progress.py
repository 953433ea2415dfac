"""Progress of a sweep: a live bar on a terminal, plain log lines otherwise.

Both show done/total, the elapsed time, an ETA and the study, d and eps of
the trials in flight; the log prints one line when a (study, d, eps) group
completes and a heartbeat when nothing else was printed for a while.

With ``PRUNEGAP_PROGRESS_TRIALS=1`` in the environment (or
``LogProgress(trials=True)``) the log also prints one ``stored KEY (status)``
line per trial: the engine reports a trial finished only once its row is
committed, so these lines say which rows a folder holds even if the driver is
killed the next moment (the kill tests read them).  The default lines are
unchanged.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from typing import IO, Any, Protocol

from .trials import Trial

__all__ = ["Progress", "NullProgress", "LogProgress", "RichProgress", "make_progress", "TRIALS_ENV"]

#: Set to 1 to have the log print one line per stored trial.
TRIALS_ENV = "PRUNEGAP_PROGRESS_TRIALS"


class Progress(Protocol):
    def start(self, total: int, done: int, todo: list[Trial]) -> None:
        """``total`` trials in the sweep, ``done`` already stored, ``todo`` to run now."""

    def started(self, trial: Trial) -> None: ...

    def finished(self, trial: Trial, row: dict[str, Any]) -> None:
        """``trial``'s row is committed to the results database."""

    def retried(self, trial: Trial, attempt: int, reason: str) -> None:
        """``trial`` runs again as ``attempt`` (optional: the engine checks for it)."""

    def close(self) -> None: ...


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _where(trial: Trial) -> str:
    return f"{trial.study} d={trial.d} eps={trial.eps:g}"


class NullProgress:
    """Says nothing (tests, library use)."""

    def start(self, total: int, done: int, todo: list[Trial]) -> None:
        pass

    def started(self, trial: Trial) -> None:
        pass

    def finished(self, trial: Trial, row: dict[str, Any]) -> None:
        pass

    def retried(self, trial: Trial, attempt: int, reason: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Counts:
    """Shared bookkeeping: totals, groups left, in-flight trials, ETA."""

    def start(self, total: int, done: int, todo: list[Trial]) -> None:
        self.total, self.done, self.ran = total, done, 0
        self.t0 = time.monotonic()
        self.left = Counter((t.study, t.d, t.eps) for t in todo)
        self.group_status: dict[tuple[str, int, float], Counter] = {}
        self.inflight: dict[str, Trial] = {}
        self.todo = len(todo)

    def _started(self, trial: Trial) -> None:
        self.inflight[trial.key] = trial

    def _finished(self, trial: Trial, row: dict[str, Any]) -> bool:
        """Returns True when the trial completes its (study, d, eps) group."""
        self.inflight.pop(trial.key, None)
        self.done += 1
        self.ran += 1
        g = (trial.study, trial.d, trial.eps)
        self.group_status.setdefault(g, Counter())[row.get("status", "failed")] += 1
        self.left[g] -= 1
        return self.left[g] == 0

    def eta(self) -> float | None:
        if not self.ran:
            return None
        remaining = self.todo - self.ran
        return (time.monotonic() - self.t0) / self.ran * remaining

    def current(self) -> str:
        if not self.inflight:
            return "starting" if self.ran == 0 else "finishing"
        first = next(iter(self.inflight.values()))
        more = len(self.inflight) - 1
        return _where(first) + (f" (+{more} more)" if more else "")


class LogProgress(_Counts):
    """Plain lines on a stream (default stderr), for logs and CI; ``trials``
    (default: whether ``PRUNEGAP_PROGRESS_TRIALS`` is 1) adds a line per stored trial."""

    def __init__(self, stream: IO[str] | None = None, heartbeat: float = 30.0, *, trials: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.heartbeat = heartbeat
        self.trials = os.environ.get(TRIALS_ENV, "").strip() == "1" if trials is None else bool(trials)

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        self.last = time.monotonic()

    def _head(self) -> str:
        width = len(str(self.total))
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = self.eta()
        tail = f"elapsed {_clock(time.monotonic() - self.t0)}" + (f", eta {_clock(eta)}" if eta is not None else "")
        return f"[{self.done:>{width}}/{self.total}] {pct:5.1f}%  {tail}"

    def start(self, total: int, done: int, todo: list[Trial]) -> None:
        super().start(total, done, todo)
        self._line(f"{self._head()}  running {len(todo)} trial(s), {done} already stored")

    def started(self, trial: Trial) -> None:
        self._started(trial)

    def finished(self, trial: Trial, row: dict[str, Any]) -> None:
        completes = self._finished(trial, row)
        if self.trials:
            self._line(f"{self._head()}  stored {trial.key} ({row.get('status', 'failed')})")
        if completes:
            c = self.group_status[(trial.study, trial.d, trial.eps)]
            counts = ", ".join(f"{c[s]} {s}" for s in ("certified", "unknown", "failed") if c[s])
            self._line(f"{self._head()}  done {_where(trial)} ({counts})")
        elif time.monotonic() - self.last > self.heartbeat:
            self._line(f"{self._head()}  running {self.current()}")

    def retried(self, trial: Trial, attempt: int, reason: str) -> None:
        self._line(f"{self._head()}  retry {trial.key} (attempt {attempt}): {reason}")

    def close(self) -> None:
        pass


class RichProgress(_Counts):
    """A live bar (rich) on a terminal."""

    def __init__(self) -> None:
        from rich.console import Console  # lazy: rich is slow to import, and only the bar needs it
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("[bold]gap[/bold]"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=Console(stderr=True),
            transient=False,
        )

    def start(self, total: int, done: int, todo: list[Trial]) -> None:
        super().start(total, done, todo)
        self.bar.start()
        self.task = self.bar.add_task("starting", total=total, completed=done)

    def started(self, trial: Trial) -> None:
        self._started(trial)
        self.bar.update(self.task, description=self.current())

    def finished(self, trial: Trial, row: dict[str, Any]) -> None:
        self._finished(trial, row)
        self.bar.update(self.task, advance=1, description=self.current())

    def retried(self, trial: Trial, attempt: int, reason: str) -> None:
        self.bar.console.print(f"retry {trial.key} (attempt {attempt}): {reason}", markup=False, highlight=False)

    def close(self) -> None:
        self.bar.stop()


def make_progress(mode: str = "auto", stream: IO[str] | None = None) -> Progress:
    """``auto``: a bar when ``stream`` (default stderr) is a terminal, else log lines;
    ``bar``, ``log`` or ``none`` to choose."""
    stream = stream if stream is not None else sys.stderr
    if mode == "auto":
        mode = "bar" if getattr(stream, "isatty", lambda: False)() else "log"
    if mode == "bar":
        try:
            return RichProgress()
        except ImportError:  # pragma: no cover - rich is a dependency
            return LogProgress(stream)
    if mode == "log":
        return LogProgress(stream)
    return NullProgress()
