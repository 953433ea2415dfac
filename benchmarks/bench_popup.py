"""Benchmark: edge-popup on digits at width 1024, one row per paradigm.

Seconds per epoch and final test accuracy (float64, of the ticket itself),
median over the seeds (default 5), at density 0.5 (nm: 2:4, block: B = 8).
Goal: weight-level scores reach >= 90 % test accuracy.  Prints a Markdown
table (for BENCHMARKS.md) and optionally writes JSON.  Not a test.

    python benchmarks/bench_popup.py [--seeds 5] [--width 1024] [--epochs 50] [--threads 1] [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess

import torch

from prunegap.torch.data import digits
from prunegap.torch.popup import PopupConfig, popup

CASES = (
    ("weight", {}),
    ("neuron", {}),
    ("nm", {"nm": "2:4"}),
    ("block", {"block": 8}),
)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--density", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--quick", action="store_true", help="2 seeds, 10 epochs")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)  # a benchmark script may set process-wide state; the library never does
    seeds, epochs = (2, 10) if a.quick else (a.seeds, a.epochs)
    data = digits()
    machine = {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "torch": torch.__version__, "python": platform.python_version(), "device": a.device, "dtype": a.dtype,
               "load_average_at_start": list(os.getloadavg())}
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPU(s), {torch.get_num_threads()} torch thread(s), "
          f"torch {torch.__version__}, python {platform.python_version()}, device {a.device}, dtype {a.dtype}, "
          f"load average at start {os.getloadavg()[0]:.1f}")
    print(f"digits: {data.X_train.shape[0]} train / {data.X_test.shape[0]} test; width {a.width}, density {a.density:g}, "
          f"{epochs} epochs, batch 128, SGD lr 0.1 cosine, scaled Kaiming; median over {seeds} seeds\n")
    print("| paradigm | s / epoch (median) | test accuracy (median) | min | max | train accuracy (median) | weight density | unit density |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for paradigm, extra in CASES:
        runs = []
        for seed in range(seeds):
            cfg = PopupConfig(dataset="digits", paradigm=paradigm, width=a.width, density=a.density, seed=seed,
                              epochs=epochs, dtype=a.dtype, device=a.device, **extra)
            runs.append(popup(cfg, data=data).metrics)
        acc = [m["test_accuracy"] for m in runs]
        row = {
            "paradigm": paradigm + (f" {extra['nm']}" if "nm" in extra else f" B={extra['block']}" if "block" in extra else ""),
            "seconds_per_epoch": statistics.median(m["seconds_per_epoch"] for m in runs),
            "test_accuracy": statistics.median(acc), "test_accuracy_min": min(acc), "test_accuracy_max": max(acc),
            "train_accuracy": statistics.median(m["train_accuracy"] for m in runs),
            "weight_density": statistics.median(m["weight_density"] for m in runs),
            "unit_density": statistics.median(m["unit_density"] for m in runs),
            "seeds": seeds, "epochs": epochs, "width": a.width, "density": a.density,
        }
        rows.append(row)
        print(f"| {row['paradigm']} | {row['seconds_per_epoch']:.3f} | {row['test_accuracy']:.4f} | {row['test_accuracy_min']:.4f} | "
              f"{row['test_accuracy_max']:.4f} | {row['train_accuracy']:.4f} | {row['weight_density']:.3f} | "
              f"{row['unit_density']:.3f} |", flush=True)
    goal = rows[0]["test_accuracy"] >= 0.90
    print(f"\ngoal (weight-level scores >= 90 % test accuracy): {'met' if goal else 'NOT met'}")
    if a.json:
        out = {"benchmark": "edge-popup on digits (benchmarks/bench_popup.py)", "machine": machine,
               "setup": {"width": a.width, "density": a.density, "epochs": epochs, "seeds": seeds, "batch_size": 128,
                         "optimizer": "sgd", "lr": 0.1, "scale": "kaiming"},
               "goal": "weight-level scores reach >= 90 % median test accuracy", "goal_met": goal, "rows": rows}
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)
            fh.write("\n")


if __name__ == "__main__":
    main()
