"""The sweep engine: run every trial of a config that the folder lacks, certified or popup, through one driver.

It depends on the ``concurrent.futures.Executor`` shape only.  At most a
window of trials is in flight; each finished trial is inserted and committed
by the driver at once, so an interrupted sweep (Ctrl-C, kill -9) loses only
the trials in flight, and rerunning resumes by skipping stored keys.  Rows
are pure functions of their trials, so the stored table never depends on the
executor, the number of workers or the order in which trials finish.

Each trial runs as attempts (:func:`prunegap.sweep.sandbox.run_attempt`).
An attempt whose worker dies, or whose process crashes, is retried up to
``retries`` times; every attempt is recorded in the ``attempts`` table, and
a trial whose attempts are all lost is stored as ``failed`` with the reason,
while the sweep goes on.  An attempt stopped by its time limit or memory cap
is not retried: it is a row (``unknown``, with the bracket it had).

The popup study (:mod:`prunegap.sweep.popup`, :func:`run_popup_sweep`) goes
through the same driver into its own table, with the same retries,
attempts table and version check; its attempts run in the worker itself
(see :mod:`prunegap.sweep.popup`).
"""

from __future__ import annotations

import math
import os
import sys
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, CancelledError, Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .._validation import check_int
from .._version import __version__
from ..exceptions import InvalidArgument, PrunegapError
from ..solvers.base import method_available
from ..subsetsum import _resolve_budget
from ..torch import torch_available
from .config import SweepConfig
from .executors import default_workers, make_executor, terminate
from .merge import Shard, as_shard, shard_popup_trials, shard_trials
from .popup import PopupTrial, failed_row, popup_environment_limited, stored_row
from .progress import NullProgress, Progress
from .sandbox import AttemptResult, check_memory_limit, run_attempt
from .schema import POPUP, TRIALS, Table
from .store import Store
from .trials import Trial, describe, empty_row, environment_limited

__all__ = ["SweepRun", "PopupRun", "run_sweep", "run_popup_sweep", "plan", "MAX_RETRIES"]

#: Most retries of one trial a sweep may ask for.
MAX_RETRIES = 100


@dataclass
class SweepRun:
    """What one invocation did."""

    folder: Path
    total: int  # trials the config declares
    stored_before: int  # already in the folder (resumed past)
    ran: int = 0  # finished and stored by this run
    skipped: dict[str, int] = field(default_factory=dict)  # study -> trials whose method is not installed
    retried: int = 0  # failed trials deleted for --retry-failed
    env_limited: int = 0  # stored trials a limit of the environment stopped: left as they are
    retried_env: int = 0  # such trials deleted for --retry-env-limited (they run again)
    statuses: dict[str, int] = field(default_factory=dict)  # of the trials this run finished
    run: int = 0  # this invocation's number in the attempts table
    retries: int = 0  # attempts lost (worker died, process crashed) and run again
    lost: int = 0  # trials stored as failed because every attempt was lost
    executor: str = ""  # where the trials ran, in words


def plan(config: SweepConfig, stored: set[str], shard: Shard | None = None) -> tuple[list[Trial], dict[str, int]]:
    """(trials to run now, in scheduling order; study -> trials skipped
    because the study's method is not installed), of the part ``shard`` of
    the sweep (None: all of it; see :mod:`.merge`)."""
    available: dict[tuple[str, str], bool] = {}
    todo, skipped = [], {}
    for t in shard_trials(config, shard):
        pm = (t.paradigm, t.method)
        if pm not in available:
            available[pm] = method_available(*pm)
        if not available[pm]:
            skipped[t.study] = skipped.get(t.study, 0) + 1
        elif t.key not in stored:
            todo.append(t)
    # Longest first (a heuristic; it never changes a row): the expensive
    # trials do not end up alone at the tail while the other cores idle.
    todo.sort(key=lambda t: (-_cost(t), t.key))
    return todo, skipped


def _cost(t: Trial) -> float:
    if t.paradigm == "weight":
        return 0.01 * t.d * math.log(1.0 / t.eps)
    return t.d / t.eps


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def run_sweep(
    config: SweepConfig,
    folder: str | os.PathLike[str],
    *,
    workers: int | None = None,
    executor: Executor | str | None = None,
    scheduler: str | None = None,
    retries: int = 2,
    memory_limit: int | str | None = "auto",
    progress: Progress | None = None,
    retry_failed: bool = False,
    say: Callable[[str], None] = _say,
    shard: "Shard | tuple[int, int] | str | None" = None,
    retry_env_limited: bool = False,
) -> SweepRun:
    """Run the trials of ``config`` that ``folder`` does not hold yet.

    ``executor``: any ``concurrent.futures.Executor``, or the name of one to
    start and stop here (``"local"``, the default, or ``"dask"``; see
    :func:`~prunegap.sweep.executors.make_executor`), with ``workers``
    (default: all cores; an explicit 1 runs inline, in this process) and, for
    Dask, ``scheduler`` (the address of an existing cluster).  ``retries``:
    how often a trial whose attempt was lost (a worker died) runs again.
    ``memory_limit``: the address-space cap of each attempt process, in
    bytes (None: none; "auto": the executor's default, else this machine's
    memory per core).  Returns what was done; raises ``KeyboardInterrupt`` on
    Ctrl-C after saving every finished trial, and :class:`PrunegapError`
    when the executor stops working (a broken pool, a lost scheduler).
    ``shard``: run only the part I/N of the trials (:mod:`.merge`), into a
    folder that holds that shard alone.  ``retry_failed``: run the trials
    stored as ``failed`` again; ``retry_env_limited``: the ``unknown`` ones
    that a limit of the environment stopped
    (:func:`~prunegap.sweep.trials.environment_limited`: the memory cap, a
    memory budget from ``PRUNEGAP_MEMORY_BUDGET``, a wall clock).
    """
    shard = as_shard(shard)
    retries = check_int("retries", retries, minimum=0, maximum=MAX_RETRIES)
    memory_limit = check_memory_limit(memory_limit)
    _resolve_budget(None)  # a malformed PRUNEGAP_MEMORY_BUDGET: refused now, not once per trial
    progress = progress or NullProgress()
    folder = Path(folder)
    with Store.for_shard(folder, config, shard) as store:
        retried = store.delete("failed") if retry_failed else 0
        limited = _environment_limited_keys(store, TRIALS)
        if retry_env_limited:
            store.delete_keys(limited, TRIALS)
        stored = store.keys()
        todo, skipped = plan(config, stored, shard)
        total = len(shard_trials(config, shard))
        run = SweepRun(folder, total, len(stored), skipped=skipped, retried=retried, run=store.next_run(),
                       env_limited=0 if retry_env_limited else len(limited),
                       retried_env=len(limited) if retry_env_limited else 0)
        for study, n in skipped.items():
            s = config.study(study)
            say(
                f"note: method {s.paradigm}/{s.method} is not installed in this prunegap; skipping the "
                f"{n} trial(s) of study {study!r} (rerun the same command once it is available to add them)"
            )
        if not todo:
            return run
        own = executor is None or isinstance(executor, str)
        pool = make_executor(executor or "local", workers, scheduler) if own else executor
        run.executor = getattr(pool, "where", type(pool).__name__)
        fallback = workers if workers is not None else default_workers()
        driver = _Driver(pool, store, progress, run, CERTIFIED, retries=retries, memory_limit=memory_limit,
                         fallback=fallback)
        progress.start(total - sum(skipped.values()), len(stored), todo)
        try:
            driver.drive(todo)
        except KeyboardInterrupt:
            if own:
                terminate(pool)
            progress.close()
            say(f"interrupted: {store.count()} of {total} trials are saved in {store.path}; "
                "rerun the same command to resume")
            raise
        except BaseException:
            if own:
                terminate(pool)
            progress.close()
            raise
        progress.close()
        if own:
            pool.shutdown(wait=True)
        return run


@dataclass
class PopupRun:
    """What one invocation of the popup study did."""

    total: int = 0  # popup trials the config declares
    stored_before: int = 0  # already in the folder (resumed past)
    ran: int = 0  # finished and stored now
    statuses: dict[str, int] = field(default_factory=dict)
    retries: int = 0  # attempts lost (a worker or process died) and run again
    skipped: str | None = None  # why the study did not run (no torch)
    run: int = 0  # this invocation's number in the attempts table
    lost: int = 0  # runs stored as failed because every attempt was lost
    env_limited: int = 0  # stored runs a limit of the environment stopped: left as they are
    retried_env: int = 0  # such runs deleted for --retry-env-limited (they run again)


def run_popup_sweep(
    config: SweepConfig,
    folder: str | os.PathLike[str],
    *,
    executor: Executor | str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = 2,
    run: int | None = None,
    say: Callable[[str], None] = _say,
    shard: "Shard | tuple[int, int] | str | None" = None,
    retry_env_limited: bool = False,
) -> PopupRun:
    """Run the popup trials of ``config`` that ``folder``'s database lacks (resumable).

    ``executor``, ``workers``, ``scheduler`` and ``retries`` mean what they mean
    for :func:`run_sweep`, through the same driver; a given executor is left
    running.  ``run``: the invocation's number in the attempts table (default:
    the next one; ``prunegap gap`` passes its certified sweep's).  Without
    PyTorch, the study is skipped with a note.  Raises ``KeyboardInterrupt``
    on Ctrl-C after saving every finished row.  ``shard``: only the part I/N
    of the runs, as for :func:`run_sweep`.  ``retry_env_limited``: run again
    the runs stopped by their wall clock or by the memory of the machine
    (:func:`~prunegap.sweep.popup.popup_environment_limited`).
    """
    retries = check_int("retries", retries, minimum=0, maximum=MAX_RETRIES)
    shard = as_shard(shard)
    trials: list[PopupTrial] = shard_popup_trials(config, shard)
    out = PopupRun(total=len(trials))
    if not trials:
        return out
    if not torch_available():
        out.skipped = "PyTorch is not installed (pip install 'prunegap[torch]')"
        say(f"note: skipping the popup study's {len(trials)} run(s): {out.skipped}")
        return out
    with Store.for_shard(Path(folder), config, shard) as store:
        store.ensure_popup()
        limited = _environment_limited_keys(store, POPUP)
        if retry_env_limited:
            store.delete_keys(limited, POPUP)
            out.retried_env = len(limited)
        else:
            out.env_limited = len(limited)
        stored = store.keys(POPUP)
        out.stored_before = sum(t.key in stored for t in trials)
        out.run = run if run is not None else store.next_run()
        todo = [t for t in trials if t.key not in stored]
        if not todo:
            return out
        say(f"popup study: {len(todo)} edge-popup/solver run(s) to go, {out.stored_before} stored")
        own = executor is None or isinstance(executor, str)
        pool = make_executor(executor or "local", workers, scheduler) if own else executor
        fallback = workers if workers is not None else default_workers()
        driver = _Driver(pool, store, NullProgress(), out, POPUP_RUNS, retries=retries, memory_limit=None,
                         fallback=fallback)
        try:
            driver.drive(todo)
        except BaseException:
            if own:
                terminate(pool)
            raise
        if own:
            pool.shutdown(wait=True)
    return out


@dataclass(frozen=True)
class _Kind:
    """What the driver needs to know of a kind of trial: its table, and its rows."""

    table: Table
    row: Callable[[Any, dict[str, Any]], dict[str, Any]]  # what an attempt returned -> the row to store
    failed: Callable[[Any, str], dict[str, Any]]  # the row of a trial whose every attempt was lost
    isolate: bool | None = None  # None: as the executor says; False: in the worker itself
    word: str = "trials"  # what the messages call them


#: The certified trials (:mod:`.trials`) and the popup study's runs (:mod:`.popup`).
CERTIFIED = _Kind(TRIALS, lambda trial, row: row, empty_row)
POPUP_RUNS = _Kind(POPUP, stored_row, failed_row, isolate=False, word="popup runs")


class _Driver:
    """Keeps a window of attempts in flight and stores what comes back."""

    def __init__(self, pool: Executor, store: Store, progress: Progress, run: "SweepRun | PopupRun", kind: _Kind, *,
                 retries: int, memory_limit: int | str | None, fallback: int) -> None:
        self.pool, self.store, self.progress, self.run, self.kind = pool, store, progress, run, kind
        self.retries = retries
        self.isolate = bool(getattr(pool, "isolates", True)) if kind.isolate is None else kind.isolate
        if memory_limit == "auto":
            memory_limit = getattr(pool, "memory_limit", "auto")
        self.memory_limit = memory_limit
        self.fallback = fallback
        self.inflight: dict[Future, tuple[Any, int]] = {}

    def window(self) -> int:
        window = getattr(self.pool, "window", None)
        if window is not None:
            return max(1, int(window))
        slots = getattr(self.pool, "slots", None)
        return max(2, 2 * int(slots if slots is not None else self.fallback))

    def submit(self, trial: Any, attempt: int) -> None:
        try:
            future = self.pool.submit(run_attempt, trial, attempt, self.isolate, self.memory_limit)
        except (RuntimeError, BrokenExecutor) as exc:  # shut down or broken: nothing more will run
            raise self._gone(trial, exc) from None
        self.inflight[future] = (trial, attempt)

    def drive(self, todo: list[Any]) -> None:
        queue = iter(todo)

        def fill() -> None:
            while len(self.inflight) < self.window():
                trial = next(queue, None)
                if trial is None:
                    return
                self.progress.started(trial)
                self.submit(trial, 1)

        fill()
        while self.inflight:
            done, _ = wait(list(self.inflight), timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                trial, attempt = self.inflight.pop(future)
                self.finish(trial, attempt, self.result_of(future, trial, attempt))
            fill()

    def result_of(self, future: Future, trial: Any, attempt: int) -> AttemptResult:
        try:
            return future.result()
        except KeyboardInterrupt:
            raise
        except (BrokenExecutor, CancelledError) as exc:
            raise self._gone(trial, exc) from None
        except ImportError as exc:
            # run_attempt turns everything a trial raises into a row: an import
            # error comes from the worker's environment, and would fail every
            # trial the same way.
            raise InvalidArgument(
                f"a worker cannot run prunegap's trials ({describe(exc)[:300]}); install prunegap {__version__} "
                f"on every worker; the {self._saved()}"
            ) from None
        except Exception as exc:  # noqa: BLE001 - the executor lost the attempt (a worker died): retry
            if not getattr(self.pool, "alive", lambda: True)():
                raise self._gone(trial, exc) from None
            worker = getattr(getattr(exc, "last_worker", None), "address", None)  # distributed.KilledWorker
            reason = f"its worker {worker} died" if worker else describe(exc)
            return AttemptResult(trial.key, attempt, "lost", None, worker or "?", None, None, reason[:2000])

    def finish(self, trial: Any, attempt: int, result: AttemptResult) -> None:
        if result.version is not None and _major_minor(result.version) != _major_minor(__version__):
            raise InvalidArgument(
                f"worker {result.worker} runs prunegap {result.version}, this driver {__version__}: its rows would "
                f"mix versions in {self.store.path.parent}; install the same prunegap on every worker"
            )
        record = result.record(self.run.run)
        if result.row is None:
            if attempt <= self.retries:
                self.store.add_attempt(record)
                self.run.retries += 1
                retried = getattr(self.progress, "retried", None)
                if retried is not None:
                    retried(trial, attempt + 1, result.reason or result.outcome)
                self.submit(trial, attempt + 1)
                return
            row = self.kind.failed(trial, f"all {attempt} attempt(s) were lost; the last: {result.reason}"[:2000])
            self.run.lost += 1
        else:
            row = self.kind.row(trial, result.row)
        self.store.record(row, record, table=self.kind.table)
        self.run.ran += 1
        self.run.statuses[row["status"]] = self.run.statuses.get(row["status"], 0) + 1
        self.progress.finished(trial, row)

    def _saved(self) -> str:
        return f"{self.store.count(self.kind.table)} finished {self.kind.word} are saved in {self.store.path}"

    def _gone(self, trial: Any, exc: BaseException) -> PrunegapError:
        return PrunegapError(
            f"the executor stopped while running {trial.key} ({describe(exc)[:300]}); the "
            f"{self._saved()}: rerun the same command to resume"
        )


def _environment_limited_keys(store: Store, table: Table) -> list[str]:
    """The keys of ``table``'s rows that a limit of the run's environment stopped (not one of the trial's own)."""
    if table is TRIALS:
        rows = store.rows(columns=("key", "status", "limit"))
        return [r["key"] for r in rows if r["status"] == "unknown" and environment_limited(r["limit"])]
    return [r["key"] for r in store.popup_rows() if popup_environment_limited(r)]




def _major_minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])
