"""The process tree under /proc, for the tests that kill a sweep's driver with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def alive(pid: int) -> bool:
    """Running (a zombie counts as gone: only its parent's wait is missing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


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
