"""One trial attempt in a process of its own, so that nothing a trial does
can outlive its limits or take its worker down.

:func:`run_attempt` is what the sweep submits to an executor.  Wherever it
runs -- a thread of the local executor, a Dask worker -- it forks a fresh
process for the attempt (forkserver, with prunegap preloaded: about 10 ms)
and waits for it:

* the child runs :func:`~prunegap.sweep.trials.run_trial` and sends each
  search event (the widths decided so far) and finally its row through a
  pipe;
* at ``trial.time_limit`` the parent kills the child and stores the trial
  as ``unknown`` with the best bracket the events proved;
* the child's address space is capped (``RLIMIT_AS``), so a trial that
  needs more memory meets a ``MemoryError`` inside itself -- stored as
  ``unknown`` with limit ``memory budget: ...`` -- instead of the kernel's
  OOM killer meeting the machine;
* a child that dies without a row (a crash, a kill) is reported as
  ``crashed``: the driver retries it like an attempt whose worker died;
* the child watches a lifeline pipe from its parent and exits when the
  parent dies, so a killed worker or driver leaves no orphan behind.

Fault injection -- the one place prunegap injects faults, for tests only
(the section "fault injection" below; nothing else in the package does):
the environment variable ``PRUNEGAP_FAULTS`` (:data:`FAULTS_ENV`, read by
the parent, where the executor runs the attempt) holds a JSON object
``{trial key: fault}`` with ``fault`` either a kind or ``{"fault": kind,
"attempts": [1, 2]}``.  Kinds (:data:`FAULT_KINDS`), each fired right after
the trial's first decided width: ``crash`` (the attempt process SIGKILLs
itself), ``kill-host`` (it SIGKILLs the process that hosts the attempt: a
Dask worker -- or the driver under the local executor), ``hang`` (it
sleeps past any time limit), ``memory`` (it allocates past its
address-space cap).  Only an isolated attempt (a process of its own) reads
it.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from .._validation import MAX_BYTES, check_int, format_bytes
from .._version import __version__
from ..exceptions import InvalidArgument
from .trials import CAP_SIGNS, Tracker, Trial, empty_row, run_trial

__all__ = [
    "AttemptResult",
    "run_attempt",
    "kill_attempts",
    "physical_memory",
    "check_memory_limit",
    "MIN_MEMORY_LIMIT",
    "default_workers",
    "warm",
    "OUTCOMES",
    "FAULTS_ENV",
    "FAULT_KINDS",
]

#: How an attempt ended.  ``ok``: a row (any status); ``timeout`` and
#: ``memory``: an ``unknown`` row with the bracket it had; ``crashed``: the
#: attempt process died without a row; ``lost``: the executor lost the
#: attempt (its worker died) -- the last two are retried.
OUTCOMES: tuple[str, ...] = ("ok", "timeout", "memory", "crashed", "lost")
FAULTS_ENV = "PRUNEGAP_FAULTS"
_ENV_PREFIX = "PRUNEGAP_"
FAULT_KINDS: tuple[str, ...] = ("crash", "kill-host", "hang", "memory")

# One BLAS/OpenMP thread per attempt: the parallelism is across trials.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
# Imported once by the forkserver, so that every attempt starts warm (with
# "__main__", a child skips re-running the main module, as spawn children do).
# highspy too: the MIP imports it lazily, and a lazy import under a tight
# address-space cap fails to map its library ("failed to map segment").
# A module that is not installed is skipped by the forkserver.
_PRELOAD = ["__main__", "prunegap.sweep.sandbox", "prunegap.api", "prunegap.solvers.weight", "prunegap.solvers.neuron",
            "highspy", "ortools.sat.python.cp_model"]  # CP-SAT: the MIP's default backend, ~1.4 s to import
_MIN_AUTO_LIMIT = 2 * 1024**3
#: The smallest address-space cap of an attempt (less cannot even load prunegap's libraries);
#: the largest is MAX_BYTES (setrlimit takes at most 2**63 - 1).
MIN_MEMORY_LIMIT = 2**26

_live: set[Any] = set()  # attempt processes of this process, for kill_attempts()
_live_lock = threading.Lock()
_start_lock = threading.Lock()


@dataclass(frozen=True)
class AttemptResult:
    """One attempt of one trial: its row (None when the attempt was lost) and where it ran."""

    key: str  # the trial's key
    attempt: int  # 1 for the first attempt, 2 for the first retry, ...
    outcome: str  # one of OUTCOMES
    row: dict[str, Any] | None = field(repr=False)  # the results row; None: crashed or lost
    worker: str  # the Dask worker's address, or host/pid of the local process that ran it
    pid: int | None  # the attempt process (None when it ran in the worker itself)
    seconds: float | None  # wall clock of the attempt (None: unknown, the attempt was lost)
    reason: str | None = None  # why it was crashed, lost, stopped
    version: str | None = None  # prunegap on the worker (the driver refuses rows of another major.minor)

    def record(self, run: int) -> dict[str, Any]:
        """The attempt's row of the ``attempts`` table."""
        return {
            "key": self.key,
            "run": run,
            "attempt": self.attempt,
            "outcome": self.outcome,
            "worker": self.worker,
            "pid": self.pid,
            "seconds": self.seconds,
            "reason": self.reason,
        }


def run_attempt(
    trial: Trial, attempt: int = 1, isolate: bool = True, memory_limit: int | str | None = "auto"
) -> AttemptResult:
    """Run one attempt of ``trial``, in a process of its own when ``isolate``.

    ``memory_limit``: the attempt process's address-space cap in bytes,
    ``None`` for none, or ``"auto"``: a Dask worker's memory limit shared by
    its threads, else this machine's memory per core (at least 2 GiB).
    ``isolate=False`` runs the trial in the calling thread (no cap; the time
    limit is the in-process SIGALRM guard): the inline executor's debug mode.
    """
    t0 = time.monotonic()
    if not isolate:
        row = run_trial(trial)
        return AttemptResult(trial.key, attempt, _outcome_of(row), row, _worker_name(), None, time.monotonic() - t0,
                             version=__version__)
    fault = _fault_for(trial.key, attempt)
    limit = _resolve_memory_limit(memory_limit)
    return _isolated(trial, attempt, limit, fault, t0)


def _outcome_of(row: dict[str, Any]) -> str:
    limit = row.get("limit") or ""
    if row.get("status") == "unknown" and limit.startswith("time_limit"):
        return "timeout"
    if row.get("status") == "unknown" and limit.startswith("memory budget"):
        return "memory"
    return "ok"


def _isolated(trial: Trial, attempt: int, memory_limit: int | None, fault: str | None, t0: float) -> AttemptResult:
    ctx = _context()
    events, events_w = ctx.Pipe(duplex=False)
    lifeline_r, lifeline = ctx.Pipe(duplex=False)
    # The forkserver's children inherit its environment, fixed when it
    # started; prunegap's own settings (PRUNEGAP_MEMORY_BUDGET, ...) are those
    # of this process now.
    env = {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIX)}
    proc = ctx.Process(
        target=_child, args=(trial, events_w, lifeline_r, memory_limit, fault, os.getpid(), env),
        name=f"prunegap trial {trial.key}", daemon=True,
    )
    try:
        with _may_have_children(), _sigint_blocked():
            proc.start()
    except BaseException:  # no process (out of memory, of processes): the driver retries
        for end in (events, events_w, lifeline_r, lifeline):
            end.close()
        raise
    events_w.close()
    lifeline_r.close()
    with _live_lock:
        _live.add(proc)
    worker = _worker_name()
    tracker = Tracker()
    # The limit is the trial's: its clock starts once its process runs, not
    # while a fresh worker starts its forkserver (seconds under load).
    deadline = time.monotonic() + trial.time_limit if math.isfinite(trial.time_limit) else None

    def result(outcome: str, row: dict[str, Any] | None, reason: str | None = None) -> AttemptResult:
        seconds = time.monotonic() - t0
        if row is not None and row.get("seconds") is None:
            row["seconds"] = seconds
        return AttemptResult(trial.key, attempt, outcome, row, worker, proc.pid, seconds, reason, __version__)

    try:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not events.poll(wait):
                _kill(proc)
                row = _drain(events, tracker)  # what it sent before it was stopped
                if row is not None:  # finished on the stroke of the limit
                    return result(_outcome_of(row), row)
                row = {**empty_row(trial), **tracker.partial_row(trial, f"time_limit ({trial.time_limit:g} s)")}
                return result("timeout", row, f"stopped at the time limit of {trial.time_limit:g} s")
            try:
                kind, payload = events.recv()
            except (EOFError, OSError):
                proc.join(5.0)
                return result("crashed", None, _death(proc.exitcode, memory_limit))
            if kind == "event":
                tracker.apply(payload)
            else:
                row = _capped(payload, trial, tracker, memory_limit)
                return result(_outcome_of(row), row, row.get("limit") if _outcome_of(row) != "ok" else None)
    except BaseException:
        _kill(proc)  # the caller gives up on this attempt (Ctrl-C): it must not run on
        raise
    finally:
        events.close()
        lifeline.close()
        proc.join(5.0)
        if proc.is_alive():
            _kill(proc)
        with _live_lock:
            _live.discard(proc)
        with contextlib.suppress(Exception):
            proc.close()


def _capped(row: dict[str, Any], trial: Trial, tracker: Tracker, memory_limit: int | None) -> dict[str, Any]:
    """A ``failed`` row whose error is the address-space cap refusing memory
    (an import that cannot map its library, a C++ ``bad_alloc``), as the
    ``unknown`` row of a memory budget, with the bracket the search had: the
    same trial under the same cap fails the same way, so it is a limit of
    the run, not a failure to retry."""
    reason = row.get("reason") or ""
    if not isinstance(trial, Trial) or not memory_limit or row.get("status") != "failed" or not any(sign in reason for sign in CAP_SIGNS):
        return row
    limit = f"memory budget: {reason} (under an address-space cap of {format_bytes(memory_limit)})"[:2000]
    return {**empty_row(trial), **tracker.partial_row(trial, limit), "seconds": row.get("seconds"),
            "timings": row.get("timings", "{}"), "stats": row.get("stats", "{}")}


def _drain(events: Any, tracker: Tracker) -> dict[str, Any] | None:
    """Apply the events left in the pipe of a stopped attempt; its row, if one came."""
    try:
        while events.poll(0):
            kind, payload = events.recv()
            if kind != "event":
                return payload
            tracker.apply(payload)
    except (EOFError, OSError):
        pass
    return None


def _kill(proc: Any) -> None:
    with contextlib.suppress(Exception):
        proc.kill()
    with contextlib.suppress(Exception):
        proc.join(5.0)


def _death(exitcode: int | None, memory_limit: int | None) -> str:
    if exitcode is None:
        what = "stopped answering"
    elif exitcode < 0:
        try:
            what = f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            what = f"was killed by signal {-exitcode}"
    else:
        what = f"exited with code {exitcode}"
    # A failed allocation under the cap ends in abort() or a segfault in C code;
    # SIGKILL comes from outside (the kernel's OOM killer, a person).
    crash = exitcode is not None and -exitcode in (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS)
    hint = f" (it may have hit its memory cap of {format_bytes(memory_limit)})" if memory_limit and crash else ""
    return f"the trial process {what} before returning a row{hint}"


def kill_attempts() -> int:
    """Kill every attempt process this process is waiting for (on Ctrl-C:
    their hosts then return at once).  Returns how many were killed."""
    with _live_lock:
        procs = list(_live)
    for p in procs:
        with contextlib.suppress(Exception):
            p.kill()
    return len(procs)


# the child ------------------------------------------------------------------------
def _child(trial: Trial, events: Any, lifeline: Any, memory_limit: int | None, fault: str | None, host: int,
           env: dict[str, str]) -> None:
    # Ctrl-C belongs to the driver, which stops the attempts itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in [k for k in os.environ if k.startswith(_ENV_PREFIX)]:
        del os.environ[name]
    os.environ.update(env)
    threading.Thread(target=_watch, args=(lifeline,), daemon=True, name="lifeline").start()
    if memory_limit:
        _cap_address_space(memory_limit)
    fired = [False]

    def send(message: tuple[str, Any]) -> None:
        try:
            events.send(message)
        except OSError:  # the parent is gone (its worker was killed): so is the attempt
            os._exit(70)

    def report(event: tuple[Any, ...]) -> None:
        send(("event", event))
        if fault and event[0] == "step" and not fired[0]:
            fired[0] = True
            _fire(fault, host, memory_limit)

    row = run_trial(trial, report=report, guard=False)
    send(("row", row))
    events.close()


def _watch(lifeline: Any) -> None:
    # The parent never writes: recv() returns only when its end closes, that
    # is when the parent is gone.  Then nobody wants this attempt any more.
    try:
        lifeline.recv()
    except BaseException:  # noqa: BLE001 - EOF, or anything else: the parent is gone
        pass
    os._exit(70)


def _cap_address_space(limit: int) -> None:
    try:
        import resource  # lazy: POSIX only

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - Windows, macOS: no cap there
        pass


# fault injection (tests only; the one place, see the module's docstring) ------------
def _fault_for(key: str, attempt: int) -> str | None:
    raw = os.environ.get(FAULTS_ENV)
    if not raw:
        return None
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{FAULTS_ENV} must be a JSON object {{trial key: fault}}, got {raw!r} ({exc})") from None
    if not isinstance(spec, dict):
        raise InvalidArgument(f"{FAULTS_ENV} must be a JSON object {{trial key: fault}}, got {raw!r}")
    fault = spec.get(key)
    if fault is None:
        return None
    attempts = None
    if isinstance(fault, dict):
        attempts, fault = fault.get("attempts"), fault.get("fault")
    if fault not in FAULT_KINDS:
        raise InvalidArgument(f"{FAULTS_ENV}: fault of {key!r} must be one of {', '.join(FAULT_KINDS)}, got {fault!r}")
    return fault if attempts is None or attempt in attempts else None


def _fire(fault: str, host: int, memory_limit: int | None) -> None:
    if fault == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == "kill-host":
        os.kill(host, signal.SIGKILL)
        time.sleep(60)  # the lifeline ends this process
    elif fault == "hang":
        while True:
            time.sleep(3600)
    elif fault == "memory":
        if not memory_limit:
            raise MemoryError("injected fault (no address-space cap to hit)")
        blocks = [bytearray(memory_limit // 4) for _ in range(8)]  # MemoryError before the last one
        del blocks


# where and how ---------------------------------------------------------------------
def _context() -> Any:
    for name in _THREAD_VARS:
        os.environ.setdefault(name, "1")
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover - Windows
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # Only effective before this process's forkserver starts; harmless after.
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def warm() -> None:
    """Start this process's forkserver, with prunegap preloaded, now: the
    first attempt then does not wait for it (about 1 s, several under load).
    Run at executor start and on each Dask worker as it joins, so that a
    worker that replaces a dead one is ready when the retried trial comes."""
    ctx = _context()
    if ctx.get_start_method() != "forkserver":  # pragma: no cover - Windows
        return
    from multiprocessing import forkserver  # lazy: POSIX only

    with contextlib.suppress(Exception), _sigint_blocked():  # the first attempt then starts it, or says why it cannot
        forkserver.ensure_running()


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in the calling thread, and so in every process it starts meanwhile.

    Ctrl-C belongs to the driver, which stops the attempts itself; but a terminal sends it to
    the whole process group.  The forkserver (started here, by warm() or the first attempt)
    inherits the blocked signal across its exec and keeps it blocked, and so does every
    attempt process it forks: none of them prints a KeyboardInterrupt traceback while it
    imports its modules or bootstraps, before _child ignores the signal.  A signal that comes
    to the driver meanwhile waits until the block ends (microseconds to a second)."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    from multiprocessing import resource_tracker  # lazy: POSIX only

    # Started first: starting it unblocks SIGINT in the calling thread (CPython's own guard of its start).
    with contextlib.suppress(Exception):
        resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def _may_have_children() -> Iterator[None]:
    """Let a daemonic process (a Dask worker under its nanny) start the attempt.

    multiprocessing forbids children to daemonic processes because a daemon
    is killed without joining them, which would leave orphans.  An attempt
    process cannot be orphaned: it exits when its lifeline to this process
    closes.  So the flag is lifted for the start only.
    """
    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
    with _start_lock:
        daemon = config.pop("daemon", None)
        try:
            yield
        finally:
            if daemon is not None:
                config["daemon"] = daemon


def _worker_name() -> str:
    if "distributed" in sys.modules:
        try:
            from distributed import get_worker  # lazy: an optional extra, loaded already when it is there

            return str(get_worker().address)
        except (ImportError, ValueError, AttributeError):
            pass
    return f"{socket.gethostname()}/pid {os.getpid()}"


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def physical_memory() -> int | None:
    """Bytes of memory this process may use: the machine's, or its cgroup's when smaller."""
    total = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        with contextlib.suppress(OSError, ValueError):
            with open(path) as fh:
                text = fh.read().strip()
            if text.isdigit() and (total is None or int(text) < total):
                total = int(text)
    return total


def check_memory_limit(limit: Any, name: str = "memory_limit") -> int | str | None:
    """An attempt's address-space cap: bytes in [MIN_MEMORY_LIMIT, MAX_BYTES], None (no cap) or
    ``"auto"``; checked where a sweep starts, before any attempt runs."""
    if limit is None or limit == "auto":
        return limit
    rule = f"{name} must be a number of bytes from 2**26 (64MiB) to 2**60 (1EiB), None or 'auto'"
    if isinstance(limit, str):
        raise InvalidArgument(f"{rule}, got {limit!r}")
    try:
        return check_int(name, limit, minimum=MIN_MEMORY_LIMIT, maximum=MAX_BYTES)
    except InvalidArgument:
        raise InvalidArgument(f"{rule}, got {limit!r}") from None


def _resolve_memory_limit(limit: int | str | None) -> int | None:
    limit = check_memory_limit(limit)
    if limit is None or isinstance(limit, int):
        return limit
    if "distributed" in sys.modules:
        try:
            from distributed import get_worker  # lazy: an optional extra, loaded already when it is there

            w = get_worker()
            if w.memory_manager.memory_limit:
                return max(_MIN_AUTO_LIMIT, int(w.memory_manager.memory_limit) // max(1, w.state.nthreads))
        except (ImportError, ValueError, AttributeError):
            pass
    total = physical_memory()
    if total is None:  # pragma: no cover - no way to know: no cap
        return None
    return max(min(_MIN_AUTO_LIMIT, total), total // default_workers())
