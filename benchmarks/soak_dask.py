"""Soak test: a sweep on a Dask LocalCluster while its processes are killed at random.

    nice python benchmarks/soak_dask.py --json benchmarks/results/soak_dask.json   # a few minutes on 2 cores
    python benchmarks/soak_dask.py --workers 3 --seeds 16 --kill-every 3 --driver-kills 4

Runs the same sweep three times, each on a fresh LocalCluster:

1. **calm**: undisturbed, the reference rows;
2. **storm**: every ``--kill-every`` seconds (jittered +-50 %, from a seeded
   generator) one process is SIGKILLed: a random Dask worker, or with
   probability ``--attempt-share`` the process of a random running trial
   attempt, until the sweep ends.  A trial that lost all its attempts is
   stored as ``failed``; those are then run again undisturbed, as
   ``prunegap gap --retry-failed`` would (the **mend**);
3. **relay**: ``prunegap gap --executor dask`` as a subprocess, its driver
   SIGKILLed ``--driver-kills`` times at a random moment after its sweep
   started, then rerun to completion (the resume path).

Checks, for the storm and the relay: every trial ends in exactly one row;
the rows equal the calm run's (timing columns aside); no process of a
killed driver or a closed cluster outlives it.  Prints the figures (trials,
kills, lost attempts, retries, failed trials, wall times, the machine) and
writes them with ``--json``.  Exit code 0 when every check passes.
Not part of the test suite (``make test``); see BENCHMARKS.md for figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil  # a dependency of distributed, which this soak drives


def soak_toml(seeds: int) -> str:
    """The soak's sweep, as the file all three phases read."""
    return f"""\
seeds = {seeds}
dims = [2, 3]
eps = [0.1, 1e-2, 1e-3, 1e-4, 1e-6]
# Far above the slowest trial (< 2 s): a time limit that fired under load
# would make a row depend on the run.
time_limit = 120.0

[[studies]]
paradigm = "weight"
method = "construction"
max_width = 1024

[[studies]]            # a few neuron trials at an easy eps (about 0.1-0.5 s each)
paradigm = "neuron"
method = "mip"
max_width = 256
grid = {{ d2 = [0.2] }}
"""


def _attempt_pids() -> list[int]:
    """On a worker: the pids of the trial attempts it is waiting for."""
    from prunegap.sweep import sandbox

    with sandbox._live_lock:
        return [p.pid for p in sandbox._live if p.pid is not None]


class Killer(threading.Thread):
    """SIGKILLs a random worker process of ``client`` (or, with probability
    ``attempt_share``, a random trial attempt process) every ``every`` seconds (+-50 %)."""

    def __init__(self, client: Any, every: float, seed: int, attempt_share: float) -> None:
        super().__init__(daemon=True, name="killer")
        self.client, self.every, self.attempt_share = client, every, attempt_share
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.kills: list[dict[str, Any]] = []
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.stop.wait(self.every * self.rng.uniform(0.5, 1.5)):
            attempt = self.rng.random() < self.attempt_share
            try:
                # {address: pid of the worker} or {address: [pids of its attempts]}, of the workers alive now
                found = self.client.run(_attempt_pids if attempt else os.getpid, wait=True)
            except Exception:  # noqa: BLE001 - workers restarting: try at the next tick
                continue
            choices = sorted((a, p) for a, ps in found.items() for p in (ps if attempt else [ps]))
            if not choices:
                continue
            address, pid = self.rng.choice(choices)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.kills.append({"t": round(time.monotonic() - self.t0, 2), "what": "attempt" if attempt else "worker",
                               "worker": address, "pid": pid})


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``."""
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return set()
    return {k.pid for k in kids if alive(k.pid)}


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _tracker(pid: int) -> bool:
    # multiprocessing's resource tracker lives as long as the process that
    # started it (this one, for the nannies it spawned): not a leftover.
    try:
        return any("resource_tracker" in part for part in psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def wait_gone(pids: set[int], seconds: float = 30.0) -> set[int]:
    """The pids still alive after up to ``seconds`` (resource trackers of this process aside)."""
    pids = {p for p in pids if not (_tracker(p) and p in descendants(os.getpid()))}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = {p for p in pids if alive(p)}
        if not left:
            return set()
        time.sleep(0.2)
    return {p for p in pids if alive(p)}


def sweep(config: Any, folder: Path, workers: int, retries: int, kill_every: float | None, seed: int,
          attempt_share: float, retry_failed: bool = False) -> tuple[Any, float, list[dict[str, Any]], set[int]]:
    from prunegap.sweep import DaskExecutor, run_sweep

    ex = DaskExecutor(workers)
    killer = Killer(ex.client, kill_every, seed, attempt_share) if kill_every else None
    t0 = time.monotonic()
    kids: set[int] = set()
    try:
        if killer:
            killer.start()
        run = run_sweep(config, folder, executor=ex, retries=retries, retry_failed=retry_failed)
    finally:
        if killer:
            killer.stop.set()
            killer.join()
        kids = descendants(os.getpid())
        ex.shutdown()
    return run, time.monotonic() - t0, (killer.kills if killer else []), wait_gone(kids)


def relay(config_path: Path, folder: Path, workers: int, retries: int, kills: int, seed: int) -> dict[str, Any]:
    """Run the CLI, kill -9 its driver ``kills`` times mid-sweep, then let it finish."""
    rng = random.Random(seed + 1)
    cmd = [sys.executable, "-m", "prunegap.cli", "gap", "--config", str(config_path), "--out", str(folder),
           "--executor", "dask", "--workers", str(workers), "--retries", str(retries), "--progress", "log"]
    t0 = time.monotonic()
    events: list[dict[str, Any]] = []
    orphans: set[int] = set()
    for i in range(kills + 1):
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        if i == kills:  # the last run: to completion
            err = proc.stderr.read()
            proc.wait()
            events.append({"run": i + 1, "killed_after_s": None, "exit": proc.returncode})
            if proc.returncode != 0:
                print(err, file=sys.stderr)
            break
        started = False
        for line in proc.stderr:  # the sweep has started when the log says what it runs
            if " running " in line and "already stored" in line:
                started = True
                break
        delay = rng.uniform(0.5, 8.0)
        kids: set[int] = set()
        if started:
            end = time.monotonic() + delay
            while time.monotonic() < end and proc.poll() is None:
                kids |= descendants(proc.pid)
                time.sleep(0.1)
        kids |= descendants(proc.pid)
        finished = proc.poll() is not None
        if not finished:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        orphans |= wait_gone(kids)
        events.append({"run": i + 1, "killed_after_s": None if finished else round(delay, 2), "exit": proc.returncode,
                       "processes_below_driver": len(kids)})
    return {"runs": events, "seconds": time.monotonic() - t0, "orphans": sorted(orphans)}


def machine() -> dict[str, Any]:
    import dask
    import distributed

    import prunegap

    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "prunegap": prunegap.__version__,
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--seeds", type=int, default=12, help="seeds per (study, d, eps): 10 construction + 1 neuron grid points")
    p.add_argument("--kill-every", type=float, default=4.0, help="mean seconds between kills in the storm")
    p.add_argument("--attempt-share", type=float, default=0.3, help="share of the storm's kills aimed at a trial process")
    p.add_argument("--driver-kills", type=int, default=3, help="kill -9 of the driver in the relay (0: no relay)")
    p.add_argument("--retries", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the kill schedule")
    p.add_argument("--out", type=Path, default=None, help="folder for the result folders (default: a temporary one)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = p.parse_args(argv)

    from prunegap.sweep import Store
    from prunegap.sweep.store import VOLATILE

    from prunegap.sweep import load_config

    host = machine()
    base = a.out or Path(tempfile.mkdtemp(prefix="prunegap-soak-"))
    base.mkdir(parents=True, exist_ok=True)
    path = base / "soak.toml"
    path.write_text(soak_toml(a.seeds))
    config = load_config(path)
    keys = [t.key for t in config.trials()]
    print(f"soak: {config.summary()}; {a.workers} Dask workers; a kill every ~{a.kill_every:g} s "
          f"({a.attempt_share:.0%} aimed at trial processes); {a.driver_kills} driver kill(s); retries {a.retries}; "
          f"folders in {base}", file=sys.stderr)

    calm, calm_s, _, calm_orphans = sweep(config, base / "calm", a.workers, a.retries, None, a.seed, 0.0)
    print(f"calm:  {calm.ran} trials in {calm_s:.1f} s", file=sys.stderr)
    storm, storm_s, kills, storm_orphans = sweep(config, base / "storm", a.workers, a.retries, a.kill_every, a.seed,
                                                 a.attempt_share)
    print(f"storm: {storm.ran} trials in {storm_s:.1f} s, {len(kills)} kills", file=sys.stderr)
    mended = None
    if storm.lost:  # trials that lost every attempt: `gap --retry-failed` runs them again, undisturbed
        mend, mend_s, _, mend_orphans = sweep(config, base / "storm", a.workers, a.retries, None, a.seed, 0.0,
                                              retry_failed=True)
        storm_orphans |= mend_orphans
        mended = {"trials": mend.ran, "seconds": round(mend_s, 1)}
        print(f"mend:  {mend.ran} failed trial(s) run again in {mend_s:.1f} s", file=sys.stderr)
    relayed = None
    if a.driver_kills:
        relayed = relay(path, base / "relay", a.workers, a.retries, a.driver_kills, a.seed)
        print(f"relay: {len(relayed['runs'])} runs in {relayed['seconds']:.1f} s", file=sys.stderr)

    def read(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        with Store.open(folder) as s:
            return s.rows(masks=True), s.attempts()

    def stable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]

    def one_row_each(rows: list[dict[str, Any]]) -> bool:
        stored = [r["key"] for r in rows]
        return len(stored) == len(set(stored)) == len(keys) and set(stored) == set(keys)

    calm_rows, _ = read(base / "calm")
    storm_rows, attempts = read(base / "storm")
    attempts = [x for x in attempts if x["run"] == storm.run]  # the storm's, not the mend's
    outcomes = Counter(x["outcome"] for x in attempts)
    per_trial = Counter(x["key"] for x in attempts)
    storm_same = stable(storm_rows) == stable(calm_rows)
    checks = {
        "calm_one_row_per_trial": one_row_each(calm_rows),
        "storm_one_row_per_trial": one_row_each(storm_rows),
        "storm_rows_equal_calm": storm_same,  # after mending, when the storm failed any trial
        "no_orphans": not (calm_orphans or storm_orphans or (relayed and relayed["orphans"])),
    }
    figures: dict[str, Any] = {
        "trials": len(keys),
        "workers": a.workers,
        "retries_allowed": a.retries,
        "calm_s": round(calm_s, 1),
        "storm": {
            "seconds": round(storm_s, 1),
            "kill_every_s": a.kill_every,
            "kills": len(kills),
            "worker_kills": sum(k["what"] == "worker" for k in kills),
            "attempt_kills": sum(k["what"] == "attempt" for k in kills),
            "attempts": len(attempts),
            "outcomes": dict(outcomes),
            # lost on a worker the storm did not kill: a death the cluster caused itself
            "lost_without_a_kill": sum(x["outcome"] == "lost" and x["worker"] not in
                                       {k["worker"] for k in kills if k["what"] == "worker"} for x in attempts),
            "retries": storm.retries,
            "max_attempts_of_a_trial": max(per_trial.values()) if per_trial else 0,
            "failed": storm.lost,  # stored as failed by the storm (every attempt lost)
            "mended": mended,  # those run again with --retry-failed, undisturbed
            "statuses": dict(Counter(r["status"] for r in storm_rows)),  # after the mend
            "differing_keys": [x["key"] for x, y in zip(stable(storm_rows), stable(calm_rows)) if x != y][:10],
            "kill_log": kills,
        },
    }
    if relayed is not None:
        relay_rows, relay_attempts = read(base / "relay")
        checks["relay_one_row_per_trial"] = one_row_each(relay_rows)
        checks["relay_rows_equal_calm"] = stable(relay_rows) == stable(calm_rows)
        checks["relay_finished"] = relayed["runs"][-1]["exit"] == 0
        figures["relay"] = {
            "seconds": round(relayed["seconds"], 1),
            "driver_kills": sum(r["killed_after_s"] is not None for r in relayed["runs"]),
            "runs": relayed["runs"],
            "attempts": len(relay_attempts),
            "orphans": relayed["orphans"],
        }
    figures["checks"] = checks
    figures["passed"] = all(checks.values())
    figures["machine"] = host
    print(json.dumps({k: v for k, v in figures.items() if k != "storm"}, indent=1))
    print(json.dumps({k: v for k, v in figures["storm"].items() if k != "kill_log"}, indent=1))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
