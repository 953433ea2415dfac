"""The process tree (psutil, as benchmarks/soak_dask.py reads it), and a sweep driver killed with
SIGKILL once its progress log has reported some trials stored."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time

import psutil

from prunegap.sweep.progress import TRIALS_ENV

#: The log's line for one committed trial (PRUNEGAP_PROGRESS_TRIALS=1): "... stored KEY (status)".
STORED = re.compile(r"  stored (\S+) \((\w+)\)$")


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


def reported_stored(lines: list[str]) -> dict[str, str]:
    """key -> status of every trial the progress log reported stored."""
    found = (STORED.search(line.rstrip("\n")) for line in lines)
    return {m.group(1): m.group(2) for m in found if m}


class KilledSweep:
    """What :func:`kill_9_after_stored` saw: the processes the driver had started, every line
    it wrote on stderr before it died, and the trials those lines reported stored."""

    def __init__(self, kids: set[int], lines: list[str], returncode: int) -> None:
        self.kids, self.lines, self.returncode = kids, lines, returncode
        self.reported = reported_stored(lines)


def kill_9_after_stored(cmd: list[str], trials: int, patience: float, drain: float = 30.0) -> KilledSweep:
    """Runs ``cmd`` (a sweep with ``--progress log``; the environment of this process plus
    PRUNEGAP_PROGRESS_TRIALS=1, so PYTHONPATH reaches it) and SIGKILLs it once its log has
    reported ``trials`` trials stored (or after ``patience`` seconds).

    Every line the driver wrote before it died is read, also those still in the pipe when
    the kill landed: a trial reported in any of them must be in the folder.  The pipe ends
    when every process holding it is gone, or after ``drain`` seconds."""
    env = {**os.environ, TRIALS_ENV: "1"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def read(stream=proc.stderr) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    kids: set[int] = set()
    try:
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            kids |= descendants(proc.pid)
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:  # the driver ended on its own
                break
            seen.append(line)
            if len(reported_stored(seen)) >= trials:
                break
        kids |= descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    reader.join(drain)
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            break
        if line is not None:
            seen.append(line)
    return KilledSweep(kids, seen, proc.returncode)


def wait_gone(pids: set[int], timeout: float, poll: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(poll)
    return not any(alive(p) for p in pids)


def assert_reported_kept(after_kill: list[dict], reported: dict[str, str], reference: list[dict]) -> None:
    """Nothing lost: every trial reported stored is in the folder, with the status it was reported
    with, and every row the folder holds is the undisturbed run's (rows without their volatile columns)."""
    held = {r["key"]: r for r in after_kill}
    missing = sorted(set(reported) - set(held))
    assert not missing, (
        f"{len(missing)} of the {len(reported)} trials the log reported stored are not in the folder "
        f"({len(held)} rows): {missing[:4]}"
    )
    assert {k: held[k]["status"] for k in reported} == reported
    undisturbed = {r["key"]: r for r in reference}
    assert [r for r in after_kill if r != undisturbed.get(r["key"])] == []
