"""Where trials run.  The sweep engine needs only the shape of
``concurrent.futures.Executor`` (``submit`` returning futures, ``shutdown``),
so any executor with that shape plugs in: local processes here, a Dask
client's ``get_executor()`` later (add a factory to :data:`EXECUTORS`).

Trials are pure functions of their dataclass, so where and in what order
they run never changes a row.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, Callable

__all__ = ["InlineExecutor", "local_executor", "make_executor", "default_workers", "terminate", "EXECUTORS"]

# One BLAS/OpenMP thread per worker: the parallelism is across trials, and
# K workers x K threads would oversubscribe the cores.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


class InlineExecutor(Executor):
    """Runs each trial in the calling process at submit time (``--workers 1``):
    no process start-up, and tracebacks and debuggers work as usual."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            future.set_exception(exc)
        return future


def _init_worker() -> None:
    # Ctrl-C belongs to the driver, which stops the workers itself; without
    # this every idle worker would print a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def local_executor(workers: int) -> Executor:
    """``workers`` local processes (forkserver where available, else spawn:
    never plain fork, which would copy the driver's open database and threads)."""
    for name in _THREAD_VARS:
        os.environ.setdefault(name, "1")
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker)


def make_executor(kind: str = "local", workers: int | None = None) -> Executor:
    """An executor of ``kind`` with ``workers`` workers (default: all cores);
    one worker runs inline."""
    from .._validation import check_choice, check_int

    check_choice("executor", kind, tuple(EXECUTORS))
    workers = default_workers() if workers is None else check_int("workers", workers, minimum=1, maximum=1024)
    return EXECUTORS[kind](workers)


def _local(workers: int) -> Executor:
    return InlineExecutor() if workers == 1 else local_executor(workers)


#: Executor factories by name (``--executor``): workers -> Executor.
EXECUTORS: dict[str, Callable[[int], Executor]] = {"local": _local}


def terminate(executor: Executor) -> None:
    """Stop an executor now, killing the trials it is running (on Ctrl-C).

    ``shutdown(cancel_futures=True)`` alone would wait for the running trials
    to finish; a process pool's workers are terminated instead."""
    procs = dict(getattr(executor, "_processes", None) or {})
    for p in procs.values():
        try:
            p.terminate()
        except Exception:  # noqa: BLE001 - already gone
            pass
    try:
        executor.shutdown(wait=bool(procs), cancel_futures=True)
    except Exception:  # noqa: BLE001 - a pool broken by the termination
        pass
