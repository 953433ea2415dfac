"""Where trials run.  The sweep engine needs only the shape of
``concurrent.futures.Executor`` (``submit`` returning futures, ``shutdown``),
so any executor with that shape plugs in; a backend is a small class added
to :data:`EXECUTORS`.  Three ship:

* :class:`InlineExecutor` (``--workers 1``): the calling process, for
  debugging -- tracebacks and debuggers work as usual;
* :class:`LocalExecutor` (``--executor local``, the default): K threads,
  each waiting on one trial attempt at a time in a process of its own
  (:mod:`prunegap.sweep.sandbox`);
* :class:`DaskExecutor` (``--executor dask``): a ``distributed.LocalCluster``
  on loopback, or the cluster at ``--scheduler``; each attempt runs in a
  process of its own on the worker.

Optional extras the engine uses when an executor has them: ``slots`` (how
many trials it runs at once; the engine keeps twice as many in flight, or
``window`` when the executor says how many),
``isolates`` (False: attempts run in the worker itself), ``memory_limit``
(the default address-space cap of an attempt), ``alive()`` (False once the
executor cannot run anything any more) and ``terminate()`` (stop now).

Trials are pure functions of their dataclass, so where and in what order
they run never changes a row.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from .._validation import check_choice, check_int
from ..exceptions import InvalidArgument
from .sandbox import default_workers, kill_attempts, physical_memory, warm

__all__ = [
    "InlineExecutor",
    "LocalExecutor",
    "DaskExecutor",
    "make_executor",
    "default_workers",
    "terminate",
    "check_scheduler",
    "EXECUTORS",
    "SCHEDULER_SCHEMES",
]


class InlineExecutor(Executor):
    """Runs each trial in the calling process at submit time (``--workers 1``):
    no process start-up, and tracebacks and debuggers work as usual.  The
    time limit is then a SIGALRM guard that fires between Python steps, and
    no memory cap applies: a debugging mode, not a production one."""

    slots = 1
    isolates = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            future.set_exception(exc)
        return future


class LocalExecutor(ThreadPoolExecutor):
    """``workers`` trials at a time on this machine.

    Threads suffice as hosts: each only waits on the process of the attempt
    it runs (see :mod:`prunegap.sweep.sandbox`), which is killed at the time
    limit, capped in memory, and whose death costs one retry, not the pool.
    The default memory cap of an attempt is this machine's memory divided
    among the workers (at least 2 GiB).
    """

    isolates = True

    def __init__(self, workers: int) -> None:
        super().__init__(max_workers=workers, thread_name_prefix="prunegap-trial")
        self.slots = workers
        total = physical_memory()
        self.memory_limit: int | None = None if total is None else max(min(2 * 1024**3, total), total // workers)
        # The forkserver starts while the driver plans the sweep, not on the first trial's clock.
        threading.Thread(target=warm, daemon=True, name="prunegap-warm").start()

    def terminate(self) -> None:
        kill_attempts()
        self.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """Trials as Dask tasks; results flow back to the driver, which alone writes.

    With ``scheduler`` (an address such as ``tcp://10.0.0.5:8786``, or the
    path of a scheduler file), connect to that cluster; else start a
    ``LocalCluster`` of ``workers`` single-threaded worker processes on
    loopback.  That cluster runs with ``allowed-failures = 0``: a worker
    that dies fails its task at once, and the driver retries it as a new
    attempt, recorded; and with ``worker-saturation = 1``: a worker holds only
    the trial it runs, so its death costs no queued trial an attempt.  Tasks
    are impure (``pure=False``): a retry is a new task, never the cached
    result of the lost one.  ``connect_timeout`` defaults to Dask's
    ``distributed.comm.timeouts.connect``.  On every cluster, a worker
    plugin starts each worker's trial-process server as the worker joins
    (see :func:`_warm_plugin`).
    """

    isolates = True
    memory_limit = "auto"  # resolved on each worker: its Dask memory limit per thread

    def __init__(self, workers: int | None = None, scheduler: str | None = None, *, client: Any = None,
                 connect_timeout: float | None = None) -> None:
        try:
            import dask  # lazy: an optional extra (prunegap[dask]), slow to import
            from dask.utils import parse_timedelta
            from distributed import Client, LocalCluster
        except ImportError:
            raise InvalidArgument(
                "--executor dask needs dask.distributed: pip install 'prunegap[dask]'"
            ) from None
        if connect_timeout is None:
            connect_timeout = float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s"))
        self._slots: tuple[float, int] = (-1.0, 1)
        self._config: Any = None
        self.cluster = None
        self._own_client = client is None
        if client is not None:
            self.client = client
            self.where = f"Dask cluster at {client.scheduler.address}"
        elif scheduler is not None:
            scheduler = check_scheduler(scheduler)
            path = Path(scheduler).expanduser()
            # A scheduler file is read here: distributed asserts on one without an address.
            address = _scheduler_file_address(path) if path.is_file() else scheduler
            if address == scheduler and ":" not in scheduler:
                raise InvalidArgument(
                    f"--scheduler {scheduler!r} is neither a scheduler file (no such file) nor a scheduler "
                    "address such as tcp://10.0.0.5:8786"
                )
            there = scheduler if address == scheduler else f"{scheduler} ({address})"
            _check_address(address, there)
            try:
                self.client = Client(address, timeout=connect_timeout)
            except (OSError, TimeoutError, ValueError, AssertionError) as exc:
                raise InvalidArgument(
                    f"--scheduler {there!r}: cannot connect to a Dask scheduler there within "
                    f"{connect_timeout:g} s ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})"
                ) from None
            self.where = f"Dask cluster at {self.client.scheduler.address}"
            if workers:
                self.client.wait_for_workers(workers)
        else:
            n = workers if workers is not None else default_workers()
            config = {"distributed.scheduler.allowed-failures": 0, "distributed.scheduler.worker-saturation": 1.0}
            with dask.config.set(config):
                # Its log lines on dying workers would repeat the sweep's own retry lines.
                self.cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, silence_logs=logging.CRITICAL,
                    # no dashboard; its health routes on a free loopback port, not 8787
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                )
            # A LocalCluster closes the nanny of a worker that is not back
            # within lost-worker-timeout (15 s) of its death, which under load
            # or repeated deaths kills a restarted worker that may already run
            # a trial.  The cluster reads the setting when a worker is lost,
            # long after this constructor: it stays set until shutdown.
            self._config = dask.config.set({"distributed.deploy.lost-worker-timeout": "30 days"})
            self.client = Client(self.cluster)
            self.where = f"Dask LocalCluster of {n} worker(s) at {self.cluster.scheduler_address}"
        self._pool = self.client.get_executor(pure=False)
        with contextlib.suppress(Exception):  # an optimisation: a cluster that refuses plugins still runs trials
            self.client.register_plugin(_warm_plugin(), name=_WARM_PLUGIN)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self._pool.submit(fn, *args, **kwargs)

    @property
    def slots(self) -> int:
        """Threads of the workers connected now (an adaptive cluster grows);
        asked of the scheduler at most once a second."""
        at, n = self._slots
        if time.monotonic() - at > 1.0:
            self._keep_size()
            try:
                n = max(1, sum(self.client.nthreads().values()))
            except Exception:  # noqa: BLE001 - a closing client
                n = 1
            self._slots = (time.monotonic(), n)
        return n

    @property
    def window(self) -> int:
        """Trials in flight: one per worker thread.  More would wait on busy
        workers (Dask queues only large task groups on the scheduler), and a
        worker that dies would take those queued trials' attempts with it."""
        return self.slots

    def _keep_size(self) -> None:
        # A LocalCluster closes a worker's nanny for good when no worker of its
        # name is back within distributed.deploy.lost-worker-timeout (15 s) of
        # its death -- as happens to a worker killed again while it restarts.
        # Its spec stays: scaling to the same size opens it again.
        c = self.cluster
        if c is not None and len(c.workers) < len(c.worker_spec):
            with contextlib.suppress(Exception):
                c.scale(len(c.worker_spec))

    def alive(self) -> bool:
        return self.client.status == "running"

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            with contextlib.suppress(Exception):
                self.client.cancel(list(self._pool._futures))
        with contextlib.suppress(Exception):
            self._pool.shutdown(wait=wait and not cancel_futures)
        if self._own_client:
            with contextlib.suppress(Exception):
                self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()
        if self._config is not None:
            self._config.__exit__(None, None, None)
            self._config = None

    def terminate(self) -> None:
        self.shutdown(wait=False, cancel_futures=True)


_SCHEDULER_RULE = "a scheduler address such as tcp://10.0.0.5:8786 or the path of a Dask scheduler file"
#: The schemes of a scheduler address prunegap connects to; tls:// and wss:// need Dask's TLS
#: settings (distributed.comm.tls.ca-file, .client.cert, .client.key).
SCHEDULER_SCHEMES: tuple[str, ...] = ("tcp", "tls", "ws", "wss")


def check_scheduler(scheduler: Any, name: str = "--scheduler") -> str:
    """The ``--scheduler`` text, refused when it cannot name a scheduler (empty, not text);
    the address itself is checked as it is connected to."""
    if not isinstance(scheduler, str) or not scheduler.strip():
        shown = repr(scheduler) if isinstance(scheduler, str) else str(scheduler)
        raise InvalidArgument(f"{name} must be {_SCHEDULER_RULE}, got {shown}")
    return scheduler.strip()


def _check_address(address: str, there: str) -> None:
    """Refuse an address whose transport this process cannot use: distributed would fail on it
    with a TypeError (ucx:// without its backend, tls:// without certificates)."""
    from distributed.comm import registry  # lazy: an optional extra, loaded already by the caller
    from distributed.comm.addressing import parse_address
    from distributed.security import Security

    allowed = ", ".join(f"{s}://" for s in SCHEDULER_SCHEMES)
    try:
        scheme, _ = parse_address(address)
    except (ValueError, TypeError):
        raise InvalidArgument(f"--scheduler {there!r} is not {_SCHEDULER_RULE}") from None
    if scheme not in SCHEDULER_SCHEMES:
        try:  # a transport a plugin adds (distributed-ucxx): usable when its connector can be made
            registry.get_backend(scheme).get_connector()
        except Exception:  # noqa: BLE001 - unknown (ValueError), abstract (TypeError), missing module
            raise InvalidArgument(
                f"--scheduler {there!r}: address scheme {scheme}:// is not one Dask can use here; allowed: {allowed}"
            ) from None
        if scheme == "inproc":  # a scheduler in this very process: never the case for a command
            raise InvalidArgument(f"--scheduler {there!r}: inproc:// names a scheduler in the same process; allowed: {allowed}")
    if scheme not in ("tls", "wss"):
        return
    try:
        context = Security().get_connection_args("client").get("ssl_context")
    except (OSError, ValueError) as exc:  # settings naming files that are not there, or not certificates
        raise InvalidArgument(f"--scheduler {there!r}: Dask's TLS settings are unusable "
                              f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    if context is None:
        raise InvalidArgument(
            f"--scheduler {there!r}: a {scheme}:// scheduler needs Dask's TLS settings (distributed.comm.tls.ca-file, "
            "distributed.comm.tls.client.cert and .key in the Dask config or DASK_DISTRIBUTED__COMM__TLS__* "
            "variables), and none are set"
        )


def _scheduler_file_address(path: Path) -> str:
    """The address in a Dask scheduler file (JSON with ``address``)."""
    try:
        address = json.loads(path.read_text(encoding="utf-8")).get("address")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise InvalidArgument(
            f"--scheduler {str(path)!r} is not a Dask scheduler file (a JSON object with an \"address\"): "
            f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        ) from None
    if not isinstance(address, str) or not address:
        raise InvalidArgument(
            f"--scheduler {str(path)!r} is not a Dask scheduler file: it has no \"address\" "
            f"(got {address!r}); give the file the scheduler writes (dask scheduler --scheduler-file)"
        )
    return address


_WARM_PLUGIN = "prunegap-warm-attempts"


def _warm_plugin() -> Any:
    """A Dask worker plugin that starts the worker's forkserver as the worker
    joins (:func:`prunegap.sweep.sandbox.warm`): a worker that replaces a
    dead one is then ready for the retried trial."""
    from distributed.diagnostics.plugin import WorkerPlugin  # lazy: an optional extra (prunegap[dask])

    class WarmAttempts(WorkerPlugin):
        name = _WARM_PLUGIN

        def setup(self, worker: Any) -> None:
            # In a thread: setup blocks the worker's start, the warm-up need not.
            threading.Thread(target=warm, daemon=True, name="prunegap-warm").start()

    return WarmAttempts()


def make_executor(kind: str = "local", workers: int | None = None, scheduler: str | None = None) -> Executor:
    """An executor of ``kind`` with ``workers`` workers (default: all cores);
    an explicit ``workers=1`` of the local kind runs inline.  ``scheduler``: the
    address of an existing Dask cluster (dask only)."""
    check_choice("executor", kind, tuple(EXECUTORS))
    if workers is not None:
        workers = check_int("workers", workers, minimum=1, maximum=1024)
    if scheduler is not None:
        scheduler = check_scheduler(scheduler, "scheduler")
        if kind != "dask":
            raise InvalidArgument(f"--scheduler needs --executor dask, got --executor {kind}")
    return EXECUTORS[kind](workers, scheduler)


def _local(workers: int | None, scheduler: str | None) -> Executor:
    # Only an explicit single worker runs inline: the default stays isolated on one core too.
    if workers == 1:
        return InlineExecutor()
    return LocalExecutor(default_workers() if workers is None else workers)


def _dask(workers: int | None, scheduler: str | None) -> Executor:
    return DaskExecutor(workers, scheduler)


#: Executor factories by name (``--executor``): (workers, scheduler) -> Executor.
EXECUTORS: dict[str, Callable[[int | None, str | None], Executor]] = {"local": _local, "dask": _dask}


def terminate(executor: Executor) -> None:
    """Stop an executor now, killing the trials it is running (on Ctrl-C)."""
    stop = getattr(executor, "terminate", None)
    if stop is not None:
        with contextlib.suppress(Exception):
            stop()
        return
    procs = dict(getattr(executor, "_processes", None) or {})  # a process pool: kill its workers
    for p in procs.values():
        with contextlib.suppress(Exception):
            p.terminate()
    kill_attempts()  # attempts hosted by threads of this process
    with contextlib.suppress(Exception):
        executor.shutdown(wait=bool(procs), cancel_futures=True)
