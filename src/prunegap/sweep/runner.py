"""The sweep engine: run every trial of a config that the folder lacks.

It depends on the ``concurrent.futures.Executor`` shape only.  At most a
window of trials is in flight; each finished trial is inserted and committed
by the driver at once, so an interrupted sweep (Ctrl-C, kill -9) loses only
the trials in flight, and rerunning resumes by skipping stored keys.  Rows
are pure functions of their trials, so the stored table never depends on the
number of workers or on the order in which trials finish.
"""

from __future__ import annotations

import math
import os
import sys
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..exceptions import PrunegapError
from .config import SweepConfig, method_available
from .executors import default_workers, make_executor, terminate
from .progress import NullProgress, Progress
from .store import Store
from .trials import Trial, empty_row, run_trial

__all__ = ["SweepRun", "run_sweep", "plan"]


@dataclass
class SweepRun:
    """What one invocation did."""

    folder: Path
    total: int  # trials the config declares
    stored_before: int  # already in the folder (resumed past)
    ran: int = 0  # finished and stored by this run
    skipped: dict[str, int] = field(default_factory=dict)  # study -> trials whose method is not installed
    retried: int = 0  # failed trials deleted for --retry-failed
    statuses: dict[str, int] = field(default_factory=dict)  # of the trials this run finished


def plan(config: SweepConfig, stored: set[str]) -> tuple[list[Trial], dict[str, int]]:
    """(trials to run now, in scheduling order; study -> trials skipped
    because the study's method is not installed)."""
    available: dict[tuple[str, str], bool] = {}
    todo, skipped = [], {}
    for t in config.trials():
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
    executor: Executor | None = None,
    progress: Progress | None = None,
    retry_failed: bool = False,
    say: Callable[[str], None] = _say,
) -> SweepRun:
    """Run the trials of ``config`` that ``folder`` does not hold yet.

    ``executor`` (any ``concurrent.futures.Executor``) overrides ``workers``
    (default: all cores, local processes; 1 runs inline).  Returns what was
    done; raises ``KeyboardInterrupt`` on Ctrl-C after saving every finished
    trial, and :class:`PrunegapError` when a worker process dies.
    """
    progress = progress or NullProgress()
    folder = Path(folder)
    with Store.for_sweep(folder, config) as store:
        retried = store.delete("failed") if retry_failed else 0
        stored = store.keys()
        todo, skipped = plan(config, stored)
        total = len(config.trials())
        run = SweepRun(folder, total, len(stored), skipped=skipped, retried=retried)
        for study, n in skipped.items():
            s = config.study(study)
            say(
                f"note: method {s.paradigm}/{s.method} is not installed in this prunegap; skipping the "
                f"{n} trial(s) of study {study!r} (rerun the same command once it is available to add them)"
            )
        if not todo:
            return run
        n_workers = workers if workers is not None else default_workers()
        own = executor is None
        pool = executor if executor is not None else make_executor("local", n_workers)
        window = max(2 * n_workers, 2)
        progress.start(total - sum(skipped.values()), len(stored), todo)
        try:
            _drive(pool, todo, window, store, progress, run)
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


def _drive(pool: Executor, todo: list[Trial], window: int, store: Store, progress: Progress, run: SweepRun) -> None:
    queue = iter(todo)
    inflight: dict[Future, Trial] = {}

    def fill() -> None:
        while len(inflight) < window:
            trial = next(queue, None)
            if trial is None:
                return
            progress.started(trial)
            inflight[pool.submit(run_trial, trial)] = trial

    fill()
    while inflight:
        done, _ = wait(list(inflight), timeout=1.0, return_when=FIRST_COMPLETED)
        for future in done:
            trial = inflight.pop(future)
            row = _row_of(future, trial, store)
            store.insert(row)
            run.ran += 1
            run.statuses[row["status"]] = run.statuses.get(row["status"], 0) + 1
            progress.finished(trial, row)
        fill()


def _row_of(future: Future, trial: Trial, store: Store) -> dict[str, Any]:
    try:
        return future.result()
    except BrokenExecutor as exc:
        raise PrunegapError(
            f"a worker process died while running {trial.key} (killed, or out of memory?); the "
            f"{store.count()} finished trials are saved in {store.path}: rerun the same command to resume "
            f"({type(exc).__name__})"
        ) from None
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - the executor failed, not the trial: still a row
        return empty_row(trial, f"executor: {type(exc).__name__}: {' '.join(str(exc).split())}"[:2000])
