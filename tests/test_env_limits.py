"""Limits of the run's environment (issue 19, items 2 and 6): a trial stopped by the memory cap,
a memory budget from the environment or a wall clock is marked so and runs again with
--retry-env-limited, until the folder holds the rows of a normal run; Ctrl-C in the first
second prints no traceback; the popup metrics are the same bits in every process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from prunegap.cli import main
from prunegap.sweep import Store, load_config, run_sweep
from prunegap.sweep.trials import ENV_BUDGET, environment_limited

from _sweeps import rows_of, stable, write

# d = 3: the construction's first products need arrays that no process fits under a 64 MiB address-space cap
CAPPED = """
seeds = [0, 1]
dims = [3]
eps = [0.3]
[[studies]]
paradigm = "weight"
method = "construction"
max_width = 256
"""
# d = 2, every width of the construction needs subset sums: none fits a budget of 0 bytes
BUDGET = """
seeds = [0, 1]
dims = [2]
eps = [0.1]
[[studies]]
paradigm = "weight"
method = "construction"
max_width = 128
"""


def stable_rows(folder: Path) -> list[dict]:
    return stable(rows_of(folder))


def gap(config: Path, out: Path, capsys, *extra: str) -> str:
    code = main(["gap", "--config", str(config), "--out", str(out), "--progress", "none", *extra])
    err = capsys.readouterr().err
    assert code == 0, err
    return err


def test_the_limits_of_the_environment_are_told_apart():
    for limit in ("time_limit (300 s)", "time_limit", "search_time_limit",
                  "memory budget: MemoryError", "memory budget: MemoryError: Unable to allocate 1.03 MiB",
                  "memory budget: ImportError: x.so: failed to map segment (under an address-space cap of 64 MiB)",
                  f"{ENV_BUDGET}=0 (width >= 1)", f"{ENV_BUDGET}=1000: MemoryBudgetExceeded: best_subset_sum: k=40"):
        assert environment_limited(limit), limit
    for limit in (None, "", "max_width (8)", "node_limit (21)", "conflict_limit", "search_conflict_limit",
                  "memory budget (width >= 3)", "memory budget: MemoryBudgetExceeded: best_subset_sum: k=60 values need",
                  "bound lower (proofs only)", "undecided at width(s) [5]"):
        assert not environment_limited(limit), limit


def test_a_run_under_the_smallest_memory_cap_is_mended_by_a_rerun(tmp_path, capsys):
    path = write(tmp_path, CAPPED)
    cfg = load_config(path)
    normal, capped = tmp_path / "normal", tmp_path / "capped"
    run_sweep(cfg, normal, workers=2)
    run_sweep(cfg, capped, workers=2, memory_limit=2**26)  # --memory-limit 64MiB, the documented minimum
    with Store.open(capped) as s:
        rows = s.rows()
    assert [r["status"] for r in rows] == ["unknown", "unknown"]
    assert all(r["limit"].startswith("memory budget: MemoryError") and environment_limited(r["limit"]) for r in rows)
    # the cap is in no trial's identity: a plain rerun has nothing to run, and says what would mend the folder
    err = gap(path, capped, capsys, "--workers", "2")
    assert "nothing to run" in err and "2 stored trial(s) were stopped by a limit of the run's environment" in err
    assert "--retry-env-limited" in err
    report = (capped / "report.html").read_text()
    assert "<i>(environment)</i>: 2" in report and "prunegap gap --retry-env-limited" in report
    run = run_sweep(cfg, capped, workers=2, retry_failed=True)  # unknown rows are not failed ones
    assert run.ran == 0 and run.env_limited == 2 and stable_rows(capped) != stable_rows(normal)
    run = run_sweep(cfg, capped, workers=2, retry_env_limited=True)
    assert run.retried_env == 2 and run.ran == 2 and run.env_limited == 0
    assert stable_rows(capped) == stable_rows(normal)


def test_a_memory_budget_from_the_environment_is_not_the_trials(tmp_path, monkeypatch):
    cfg = load_config(write(tmp_path, BUDGET))
    normal, starved = tmp_path / "normal", tmp_path / "starved"
    run_sweep(cfg, normal, workers=1)
    monkeypatch.setenv("PRUNEGAP_MEMORY_BUDGET", "0")
    run_sweep(cfg, starved, workers=1)
    with Store.open(starved) as s:
        rows = s.rows()
    assert {r["status"] for r in rows} == {"unknown"}
    assert all(r["limit"].startswith(f"{ENV_BUDGET}=0") for r in rows), [r["limit"] for r in rows]
    monkeypatch.delenv("PRUNEGAP_MEMORY_BUDGET")
    run = run_sweep(cfg, starved, workers=1, retry_failed=True)
    assert run.ran == 0 and run.env_limited == 2
    run_sweep(cfg, starved, workers=1, retry_env_limited=True)
    assert stable_rows(starved) == stable_rows(normal)


def test_a_studys_own_memory_budget_is_part_of_the_trial(tmp_path, monkeypatch):
    # the same budget of 0 bytes as an option of the study is in the fingerprint: rerun, it stops the
    # trials the same way, so they are not marked, and --retry-env-limited leaves them
    cfg = load_config(write(tmp_path, BUDGET + "options = { memory_budget = 0 }\n"))
    out = tmp_path / "own"
    monkeypatch.setenv("PRUNEGAP_MEMORY_BUDGET", "5")  # the option wins over the environment
    run_sweep(cfg, out, workers=1)
    monkeypatch.delenv("PRUNEGAP_MEMORY_BUDGET")
    before = stable_rows(out)
    assert {r["status"] for r in before} == {"unknown"}
    assert not any(environment_limited(r["limit"]) for r in before), [r["limit"] for r in before]
    run = run_sweep(cfg, out, workers=1, retry_env_limited=True)
    assert run.ran == 0 and run.retried_env == 0 and stable_rows(out) == before


def test_a_wall_clock_guard_is_a_limit_of_the_environment(tmp_path):
    text = CAPPED.replace("[[studies]]", "time_limit = 1e-9\n[[studies]]").replace("dims = [3]", "dims = [2]")
    cfg = load_config(write(tmp_path, text))
    run_sweep(cfg, tmp_path / "t", workers=1)
    with Store.open(tmp_path / "t") as s:
        rows = s.rows()
    assert rows and all(r["status"] == "unknown" and environment_limited(r["limit"]) for r in rows)
    run = run_sweep(cfg, tmp_path / "t", workers=1)
    assert run.ran == 0 and run.env_limited == len(rows)
    run = run_sweep(cfg, tmp_path / "t", workers=1, retry_env_limited=True)
    assert run.retried_env == len(rows) and run.ran == len(rows)


# --- Ctrl-C in the first second ---------------------------------------------------------------

def test_ctrl_c_while_the_trial_server_starts_prints_no_traceback(tmp_path):
    cfg = write(tmp_path, CAPPED.replace("dims = [3]", "dims = [2]"))
    cmd = [sys.executable, "-m", "prunegap", "gap", "--config", str(cfg), "--out", str(tmp_path / "o"),
           "--workers", "2", "--progress", "none"]
    # a session of its own: SIGINT goes to the whole process group, as a terminal's Ctrl-C does
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    first = p.stderr.readline()  # the driver runs: the trial server starts now and imports for a second or two
    time.sleep(0.5)
    os.killpg(p.pid, signal.SIGINT)
    _, rest = p.communicate(timeout=120)
    err = (first + rest).decode()
    assert p.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "interrupted" in err


# --- the popup metrics: the same bits in every process ------------------------------------------

def test_the_network_outputs_do_not_depend_on_the_blas_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from prunegap.torch.popup import draw_network
    from prunegap.torch.tickets import Network, network_forward

    # digits-shaped (1437 x 64 inputs, 1024 units, 10 outputs): two BLAS threads sum the last block of
    # some rows otherwise than one thread, in the last bits
    rng = np.random.default_rng(1)
    U, V = draw_network(64, 1024, 10, 0)
    net = Network(U, V, (rng.random(U.shape) < 0.5).astype(np.uint8), (rng.random(V.shape) < 0.5).astype(np.uint8),
                  "linear")
    X = rng.integers(0, 17, (1437, 64)).astype(np.float64)
    outs = []
    for threads in (1, 2, 4):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
            outs.append(network_forward(net, X))
    assert all(a.tobytes() == outs[0].tobytes() for a in outs)


POPUP_RUN = """
import json, sys
from prunegap.sweep.popup import PopupTrial
params = dict(dataset="digits", paradigm="weight", width=256, density=0.5, seed=0, epochs=2)
row = PopupTrial("data", tuple(sorted(params.items()))).run()
from threadpoolctl import threadpool_info
import numpy
blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]]
print(json.dumps({"row": {k: (v.hex() if isinstance(v, bytes) else repr(v)) for k, v in row.items()
                          if k not in ("seconds", "train_seconds", "seconds_per_epoch")}, "blas": blas}))
"""


@pytest.mark.slow
def test_a_popup_run_gives_the_same_bits_in_a_driver_and_in_a_worker():
    pytest.importorskip("torch")
    import json

    # the local executor runs popup runs in the driver (BLAS threads: the cores); a Dask worker runs
    # them with one BLAS thread (its nanny sets OPENBLAS_NUM_THREADS=1)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    runs = []
    for extra in ({}, {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}):
        out = subprocess.run([sys.executable, "-c", POPUP_RUN], env={**env, **extra}, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0]["row"]["status"] == "'ok'"
    assert runs[0]["row"] == runs[1]["row"]
    assert runs[0]["blas"] == runs[1]["blas"] == [1]  # a popup run sets one BLAS thread wherever it runs
