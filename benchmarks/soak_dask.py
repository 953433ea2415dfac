"""Soak test: a sweep on a Dask LocalCluster while its workers are killed at random.

    python benchmarks/soak_dask.py                     # a few minutes on 2 cores
    python benchmarks/soak_dask.py --workers 3 --seeds 12 --kill-every 4 --json soak.json

Runs the same sweep twice on a fresh LocalCluster each time: undisturbed,
then with a random worker process SIGKILLed every ``--kill-every`` seconds
(jittered, from a seeded generator) until the sweep ends.  Checks that every
trial ends in exactly one row and that the rows equal the undisturbed run's
(timing columns aside), and prints the figures: trials, kills, lost attempts
(retries), failed trials, wall times.  Exit code 0 when both checks pass.
Not part of the test suite (``make test``); see BENCHMARKS.md for figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path


def soak_config(seeds: int):
    from prunegap.sweep.config import parse_config

    return parse_config(
        {
            "seeds": seeds,
            "dims": [2, 3],
            "eps": [0.1, 1e-2, 1e-3, 1e-4, 1e-6],
            "time_limit": 120.0,
            "studies": [
                {"paradigm": "weight", "method": "construction", "max_width": 1024},
                # a few neuron trials at an easy eps (about 0.1-0.5 s each)
                {"paradigm": "neuron", "method": "mip", "max_width": 256, "grid": {"d2": [0.2]}},
            ],
        },
        source="soak",
    )


class Killer(threading.Thread):
    """SIGKILLs a random worker process of ``client`` every ``every`` seconds (+-50 %)."""

    def __init__(self, client, every: float, seed: int) -> None:
        super().__init__(daemon=True, name="killer")
        self.client, self.every = client, every
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.kills: list[tuple[float, str, int]] = []
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.stop.wait(self.every * self.rng.uniform(0.5, 1.5)):
            try:
                pids = self.client.run(os.getpid, wait=True)  # {address: pid} of the workers alive now
            except Exception:  # noqa: BLE001 - workers restarting: try at the next tick
                continue
            if not pids:
                continue
            address = self.rng.choice(sorted(pids))
            try:
                os.kill(pids[address], signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.kills.append((time.monotonic() - self.t0, address, pids[address]))


def sweep(config, folder: Path, workers: int, retries: int, kill_every: float | None, seed: int):
    from prunegap.sweep import DaskExecutor, run_sweep

    ex = DaskExecutor(workers)
    killer = Killer(ex.client, kill_every, seed) if kill_every else None
    t0 = time.monotonic()
    try:
        if killer:
            killer.start()
        run = run_sweep(config, folder, executor=ex, retries=retries)
    finally:
        if killer:
            killer.stop.set()
            killer.join()
        ex.shutdown()
    return run, time.monotonic() - t0, (killer.kills if killer else [])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--seeds", type=int, default=12, help="seeds per (study, d, eps): 10 construction + 1 neuron grid points")
    p.add_argument("--kill-every", type=float, default=4.0, help="mean seconds between worker kills")
    p.add_argument("--retries", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the kill schedule")
    p.add_argument("--out", type=Path, default=None, help="folder for the two result folders (default: a temporary one)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = p.parse_args(argv)

    from prunegap.sweep import Store
    from prunegap.sweep.store import VOLATILE

    config = soak_config(a.seeds)
    keys = [t.key for t in config.trials()]
    base = a.out or Path(tempfile.mkdtemp(prefix="prunegap-soak-"))
    print(f"soak: {config.summary()}; {a.workers} Dask workers; kill one every ~{a.kill_every:g} s; "
          f"retries {a.retries}; folders in {base}", file=sys.stderr)

    calm, calm_s, _ = sweep(config, base / "calm", a.workers, a.retries, None, a.seed)
    print(f"undisturbed: {calm.ran} trials in {calm_s:.1f} s", file=sys.stderr)
    storm, storm_s, kills = sweep(config, base / "storm", a.workers, a.retries, a.kill_every, a.seed)
    print(f"disturbed:   {storm.ran} trials in {storm_s:.1f} s, {len(kills)} workers killed", file=sys.stderr)

    def rows(folder: Path):
        with Store.open(folder) as s:
            return s.rows(masks=True), s.attempts()

    calm_rows, _ = rows(base / "calm")
    storm_rows, attempts = rows(base / "storm")
    stored = [r["key"] for r in storm_rows]
    one_row_each = len(stored) == len(set(stored)) == len(keys) and set(stored) == set(keys)
    stable = lambda rs: [{k: v for k, v in r.items() if k not in VOLATILE} for r in rs]  # noqa: E731
    same = stable(storm_rows) == stable(calm_rows)
    differing = [x["key"] for x, y in zip(stable(storm_rows), stable(calm_rows)) if x != y]
    outcomes = Counter(a_["outcome"] for a_ in attempts)
    per_trial = Counter(a_["key"] for a_ in attempts)
    figures = {
        "trials": len(keys),
        "workers": a.workers,
        "kill_every_s": a.kill_every,
        "kills": len(kills),
        "attempts": len(attempts),
        "lost_attempts": outcomes.get("lost", 0),
        "retries": storm.retries,
        "max_attempts_of_a_trial": max(per_trial.values()) if per_trial else 0,
        "failed": sum(r["status"] == "failed" for r in storm_rows),
        "outcomes": dict(outcomes),
        "statuses": dict(Counter(r["status"] for r in storm_rows)),
        "undisturbed_s": round(calm_s, 1),
        "disturbed_s": round(storm_s, 1),
        "one_row_per_trial": one_row_each,
        "rows_equal_undisturbed": same,
        "differing_keys": differing[:10],
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }
    width = max(map(len, figures))
    for k, v in figures.items():
        print(f"{k:<{width}}  {v}")
    if a.json:
        a.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if one_row_each and same else 1


if __name__ == "__main__":
    sys.exit(main())
