"""The process tree (psutil, as benchmarks/soak_dask.py reads it), for the tests that kill a sweep's
driver with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil


def alive(pid: int) -> bool:
    """Running (a zombie counts as gone: only its parent's wait is missing)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, zombies included (they are waited for by wait_gone)."""
    try:
        return {k.pid for k in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def kill_9_after_first_trial(cmd: list[str], patience: float) -> set[int]:
    """Runs ``cmd`` (a sweep logging to stderr), SIGKILLs it once a trial is done (or after
    ``patience`` seconds) and returns every process it had started."""
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    kids: set[int] = set()
    try:
        deadline = time.monotonic() + patience
        assert proc.stderr is not None
        for line in proc.stderr:
            kids |= descendants(proc.pid)
            if " done " in line or time.monotonic() > deadline:
                break
        kids |= descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    return kids


def wait_gone(pids: set[int], timeout: float, poll: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(poll)
    return not any(alive(p) for p in pids)
