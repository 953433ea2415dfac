"""Faults: lost attempts, time and memory limits, a killed driver, bad files,
backends that have only ``submit``.

Faults are injected with PRUNEGAP_FAULTS (see prunegap.sweep.sandbox); the
local executor runs every attempt in a process of its own, so a fault costs
that attempt only.
"""

import io
import json
import re
import signal
import subprocess
import sys
import threading
import zipfile
from concurrent.futures import Executor, Future
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from _procs import assert_reported_kept, kill_9_after_stored, reported_stored, wait_gone
from hypothesis import given, settings
from hypothesis import strategies as st

from prunegap.cli import main
from prunegap.exceptions import InvalidArgument
from prunegap.search import minimal_width
from prunegap.solvers.base import Outcome
from prunegap.sweep import LocalExecutor, Store, load_config, run_sweep
from prunegap.sweep.config import parse_config
from prunegap.sweep.progress import TRIALS_ENV, make_progress
from prunegap.sweep.sandbox import FAULTS_ENV, run_attempt
from prunegap.sweep.store import SCHEMA_VERSION, VOLATILE
from prunegap.sweep.trials import Tracker, Trial, run_trial

SMALL = {
    "seeds": [0, 1, 2],
    "dims": [2, 3],
    "eps": [0.1, 1e-3],
    "time_limit": 60.0,
    "studies": [{"paradigm": "weight", "method": "construction", "max_width": 512}],
}


def config(**changes):
    return parse_config({**SMALL, **changes})


def stable(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def rows_of(folder, masks=True):
    with Store.open(folder) as s:
        return s.rows(masks=masks)


def attempts_of(folder):
    with Store.open(folder) as s:
        return s.attempts()


def faults(monkeypatch, spec):
    monkeypatch.setenv(FAULTS_ENV, json.dumps(spec))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The undisturbed rows of SMALL (inline)."""
    folder = tmp_path_factory.mktemp("ref") / "ref"
    run_sweep(config(), folder, workers=1)
    return stable(rows_of(folder))


def trial(**kw) -> Trial:
    base = dict(study="w", paradigm="weight", method="construction", d=2, eps=0.01, seed=1, init="uniform",
                output="relu", norm="sup", max_width=512)
    base.update(kw)
    return Trial(**base)


# lost attempts ---------------------------------------------------------------------
def test_a_crashing_trial_is_retried_then_stored_failed_and_the_sweep_goes_on(tmp_path, monkeypatch, reference):
    cfg = config()
    doomed, flaky = cfg.trials()[0].key, cfg.trials()[5].key
    faults(monkeypatch, {doomed: "crash", flaky: {"fault": "crash", "attempts": [1]}})
    run = run_sweep(cfg, tmp_path / "f", executor=LocalExecutor(2), retries=2)
    assert run.ran == len(cfg.trials()) == 12 and run.retries == 3 and run.lost == 1
    rows = {r["key"]: r for r in rows_of(tmp_path / "f")}
    bad = rows[doomed]
    assert bad["status"] == "failed" and bad["n_lower"] == 1 and bad["n_upper"] is None
    assert bad["reason"].startswith("all 3 attempt(s) were lost") and "killed by SIGKILL" in bad["reason"]
    assert rows[flaky]["status"] == "certified"
    # every other row is the undisturbed one
    assert [r for r in stable(rows.values()) if r["key"] != doomed] == [r for r in reference if r["key"] != doomed]
    attempts = attempts_of(tmp_path / "f")
    mine = [a for a in attempts if a["key"] == doomed]
    assert [(a["attempt"], a["outcome"]) for a in mine] == [(1, "crashed"), (2, "crashed"), (3, "crashed")]
    assert all(a["pid"] and a["worker"] and "SIGKILL" in a["reason"] for a in mine)
    assert [(a["attempt"], a["outcome"]) for a in attempts if a["key"] == flaky] == [(1, "crashed"), (2, "ok")]
    assert len(attempts) == 12 + 3 and {a["run"] for a in attempts} == {1}


def test_retries_zero_stores_the_first_loss(tmp_path, monkeypatch):
    cfg = config(seeds=[0], dims=[2], eps=[0.1])
    faults(monkeypatch, {cfg.trials()[0].key: "crash"})
    run = run_sweep(cfg, tmp_path / "z", executor=LocalExecutor(2), retries=0)
    assert run.lost == 1 and run.retries == 0
    assert rows_of(tmp_path / "z")[0]["reason"].startswith("all 1 attempt(s) were lost")
    # a later run retries it (--retry-failed) and numbers its attempts as run 2
    monkeypatch.delenv(FAULTS_ENV)
    again = run_sweep(cfg, tmp_path / "z", executor=LocalExecutor(2), retry_failed=True)
    assert again.run == 2 and rows_of(tmp_path / "z")[0]["status"] == "certified"
    assert [(a["run"], a["outcome"]) for a in attempts_of(tmp_path / "z")] == [(1, "crashed"), (2, "ok")]


# time and memory ---------------------------------------------------------------------
def test_a_trial_over_its_time_limit_is_stopped_with_its_bracket(tmp_path, monkeypatch):
    cfg = config(seeds=[0, 1], dims=[2], eps=[0.1], time_limit=1.0)
    hung = cfg.trials()[0].key
    faults(monkeypatch, {hung: "hang"})
    run_sweep(cfg, tmp_path / "t", executor=LocalExecutor(2))
    rows = {r["key"]: r for r in rows_of(tmp_path / "t")}
    r = rows[hung]
    # the construction scans widths upward: width 1 was a "no" before it hung
    assert r["status"] == "unknown" and r["limit"] == "time_limit (1 s)"
    assert (r["n_lower"], r["n_upper"], r["width"], r["calls"]) == (2, None, 1, 1)
    assert json.loads(r["steps"]) == [[1, "no"]] and np.linalg.norm(json.loads(r["target"])) == pytest.approx(1.0)
    assert [a["outcome"] for a in attempts_of(tmp_path / "t") if a["key"] == hung] == ["timeout"]
    assert rows[cfg.trials()[1].key]["status"] == "certified"


def test_a_real_search_stopped_by_its_time_limit_keeps_a_sound_bracket():
    slow = trial(paradigm="neuron", method="mip", d=3, eps=0.1, seed=1, max_width=256)  # ~1.5 s, 12 widths
    full = run_attempt(slow, 1, True, None).row
    assert full["status"] == "certified"
    n_star = full["n_star"]
    stopped = run_attempt(replace(slow, time_limit=0.5), 1, True, None)
    row = stopped.row
    assert stopped.outcome == "timeout" and row["status"] == "unknown" and row["limit"] == "time_limit (0.5 s)"
    assert row["n_lower"] <= n_star and (row["n_upper"] is None or n_star <= row["n_upper"])
    if row["n_upper"] is not None:  # the ticket of the best yes it had comes with it
        assert row["verdict"] == "yes" and row["error_upper"] <= slow.eps and row["hidden_mask"] is not None


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="SIGALRM needs the main thread")
def test_in_process_guard_keeps_the_bracket_too():
    slow = trial(paradigm="neuron", method="mip", d=3, eps=0.1, seed=1, max_width=256)
    n_star = run_trial(slow)["n_star"]
    row = run_trial(replace(slow, time_limit=0.5))
    # how far it got depends on the machine's load; what it kept must be sound
    assert row["status"] == "unknown" and row["limit"] == "time_limit (0.5 s)"
    assert row["calls"] == len(json.loads(row["steps"]))
    assert 1 <= row["n_lower"] <= n_star and (row["n_upper"] is None or n_star <= row["n_upper"])


def test_a_trial_over_its_memory_cap_is_stored_with_that_reason(tmp_path, monkeypatch):
    cfg = config(seeds=[0, 1], dims=[2], eps=[0.1])
    hungry = cfg.trials()[0].key
    faults(monkeypatch, {hungry: "memory"})
    run_sweep(cfg, tmp_path / "m", executor=LocalExecutor(2), memory_limit=1024 * 2**20)
    rows = {r["key"]: r for r in rows_of(tmp_path / "m")}
    r = rows[hungry]
    assert r["status"] == "unknown" and r["limit"].startswith("memory budget: MemoryError")
    assert (r["n_lower"], r["n_upper"]) == (2, None)
    assert [a["outcome"] for a in attempts_of(tmp_path / "m") if a["key"] == hungry] == ["memory"]
    assert rows[cfg.trials()[1].key]["status"] == "certified"  # the cap did not hurt the others


def test_the_subset_sum_memory_budget_is_a_limit_not_a_failure(tmp_path):
    study = {**SMALL["studies"][0], "options": {"memory_budget": 1000}}
    cfg = config(seeds=[0], dims=[2], eps=[1e-4], studies=[study])
    run_sweep(cfg, tmp_path / "b", executor=LocalExecutor(2))
    (r,) = rows_of(tmp_path / "b")
    assert r["status"] == "unknown" and "memory budget" in r["limit"] and r["n_lower"] > 1


def test_a_cap_that_refuses_a_library_is_a_memory_limit_not_a_failure():
    # An import under a tight address-space cap fails to map its library: an
    # ImportError in the trial, which is the cap, not a defect of the trial.
    from prunegap.sweep.sandbox import _capped
    from prunegap.sweep.trials import empty_row

    t = trial()
    tracker = Tracker()
    tracker.apply(("start", False, [0.6, 0.8]))
    tracker.apply(("step", 1, "no", "no", 0.3, 0.5, None))
    mapped = empty_row(t, "ImportError: /venv/highspy/_core.so: failed to map segment from shared object")
    row = _capped(mapped, t, tracker, 300 * 2**20)
    assert row["status"] == "unknown" and row["limit"].startswith("memory budget: ImportError")
    assert "cap of 300 MiB" in row["limit"] and (row["n_lower"], row["n_upper"], row["width"]) == (2, None, 1)
    assert set(row) == set(mapped)
    assert _capped(mapped, t, tracker, None) is mapped  # no cap: a failure stays one
    other = empty_row(t, "ValueError: a defect")
    assert _capped(other, t, tracker, 300 * 2**20) is other


# the bracket of a stopped search -------------------------------------------------------
@settings(max_examples=150)
@given(
    n_star=st.integers(1, 300),
    max_width=st.integers(1, 400),
    unknown=st.sets(st.integers(1, 400), max_size=6),
    strategy=st.sampled_from(["gallop", "scan"]),
    extra_yes=st.sets(st.integers(1, 400), max_size=3),
)
def test_tracker_brackets_contain_n_star_at_every_step(n_star, max_width, unknown, strategy, extra_yes):
    # gallop: a monotone certificate; scan: any yes set (a non-monotone one)
    yes = set(range(n_star, 401)) if strategy == "gallop" else {n_star} | {w for w in extra_yes if w > n_star}
    tracker = Tracker()
    tracker.apply(("start", strategy == "gallop", [1.0, 0.0]))
    brackets = []

    def decide(n):
        status = "unknown" if n in unknown else ("yes" if n in yes else "no")
        out = Outcome(status, None, 0.0, 0.0 if status == "yes" else np.inf)
        tracker.apply(("step", n, out.search_status, out.status, 0.0, out.error_upper, None))
        brackets.append(tracker.bracket())
        return out

    r = minimal_width(decide, max_width=max_width, monotone=strategy == "gallop", strategy=strategy)
    for lo, hi in brackets:  # what the search had proven when it could have been stopped
        assert lo <= n_star and (hi is None or n_star <= hi)
    assert tracker.bracket() == (r.n_lower, r.n_upper)


# the driver killed -------------------------------------------------------------------------
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_kill_9_of_an_isolated_sweep_leaves_no_process_and_resumes(tmp_path):
    # 24 trials on two workers, killed once the log has reported 6 stored: a driver that
    # committed in batches would lose some of them (docs/guide.md, "Interrupting and
    # resuming": every finished trial is committed at once).
    text = "seeds = 12\ndims = [3]\neps = [0.1, 1e-2]\ntime_limit = 60.0\n"
    text += "[[studies]]\nparadigm = 'weight'\nmethod = 'construction'\nmax_width = 512\n"
    path = tmp_path / "k.toml"
    path.write_text(text)
    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "prunegap.cli", "gap", "--config", str(path), "--out", str(out),
           "--workers", "2", "--progress", "log"]
    killed = kill_9_after_stored(cmd, trials=6, patience=120)
    assert killed.returncode == -signal.SIGKILL, killed.lines[-3:]
    assert killed.kids, "the sweep started no process of its own"
    assert wait_gone(killed.kids, timeout=10, poll=0.1), "processes outlived the killed driver"
    cfg = load_config(path)
    run_sweep(cfg, tmp_path / "ref", workers=1)
    reference = stable(rows_of(tmp_path / "ref"))
    after_kill = stable(rows_of(out))
    assert len(killed.reported) >= 6
    assert_reported_kept(after_kill, killed.reported, reference)
    assert len(after_kill) < len(cfg.trials())
    run = run_sweep(cfg, out, executor=LocalExecutor(2))
    assert run.stored_before == len(after_kill) and run.ran == len(cfg.trials()) - len(after_kill)
    assert stable(rows_of(out)) == reference


# folders of another version, schema or sweep; damaged files ----------------------------------
def test_a_folder_of_another_prunegap_version_is_refused(tmp_path, monkeypatch):
    cfg = config(seeds=[0], dims=[2], eps=[0.1])
    run_sweep(cfg, tmp_path / "v", workers=1)
    import prunegap.sweep.config.model as config_module
    import prunegap.sweep.store as store_module

    monkeypatch.setattr(config_module, "__version__", "99.0.0")
    monkeypatch.setattr(store_module, "__version__", "99.0.0")
    with pytest.raises(InvalidArgument, match=r"different sweep .*results were made by prunegap 0\.\d+\.\d+, this is prunegap 99\.0\.0"):
        run_sweep(parse_config({**SMALL, "seeds": [0], "dims": [2], "eps": [0.1]}), tmp_path / "v", workers=1)


def test_rows_from_a_worker_of_another_version_are_refused(tmp_path, monkeypatch):
    import prunegap.sweep.sandbox as sandbox

    cfg = config(seeds=[0, 1], dims=[2], eps=[0.1])
    monkeypatch.setattr(sandbox, "__version__", "99.0.0")  # as a worker with another prunegap would report
    with pytest.raises(InvalidArgument, match=r"worker .* runs prunegap 99\.0\.0, this driver .*install the same prunegap"):
        run_sweep(cfg, tmp_path / "x", workers=1)
    assert rows_of(tmp_path / "x") == []


def test_an_unknown_results_schema_is_refused(tmp_path, capsys):
    cfg = config(seeds=[0], dims=[2], eps=[0.1])
    run_sweep(cfg, tmp_path / "s", workers=1)
    import duckdb

    con = duckdb.connect(str(tmp_path / "s" / "results.duckdb"))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    con.close()
    with pytest.raises(InvalidArgument, match=r"results schema '99' .* reads schema\(s\) '1', '2'"):
        run_sweep(cfg, tmp_path / "s", workers=1)
    assert main(["report", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "results schema '99'" in err


def test_a_schema_1_folder_is_read_and_upgraded_on_resume(tmp_path):
    import duckdb

    cfg = config(seeds=[0, 1], dims=[2], eps=[0.1])
    run_sweep(cfg, tmp_path / "old", workers=1)
    con = duckdb.connect(str(tmp_path / "old" / "results.duckdb"))
    con.execute("DROP TABLE attempts")
    con.execute("DELETE FROM trials WHERE seed = 1")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    con.close()
    with Store.open(tmp_path / "old") as s:
        assert s.count() == 1 and s.attempts() == [] and s.next_run() == 1
    run = run_sweep(cfg, tmp_path / "old", workers=1)
    assert run.ran == 1
    with Store.open(tmp_path / "old") as s:
        assert s.meta()["schema"] == SCHEMA_VERSION and len(s.attempts()) == 1


def test_a_truncated_database_is_a_clear_error(tmp_path, capsys):
    cfg = config(seeds=[0], dims=[2], eps=[0.1])
    run_sweep(cfg, tmp_path / "t", workers=1)
    db = tmp_path / "t" / "results.duckdb"
    db.write_bytes(db.read_bytes()[: len(db.read_bytes()) // 2])
    for argv in (["report", str(tmp_path / "t")], ["results", str(tmp_path / "t")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is not a readable results database" in err


def test_the_log_names_each_stored_trial_only_when_asked(tmp_path, monkeypatch):
    # The kill tests read these lines; the default log (which other tools parse) is unchanged.
    cfg = config(seeds=[0, 1], dims=[2], eps=[0.1, 1e-3])
    monkeypatch.delenv(TRIALS_ENV, raising=False)
    plain = io.StringIO()
    run_sweep(cfg, tmp_path / "plain", workers=1, progress=make_progress("log", plain))
    monkeypatch.setenv(TRIALS_ENV, "1")
    named = io.StringIO()
    run_sweep(cfg, tmp_path / "named", workers=1, progress=make_progress("log", named))

    def text(lines):  # without the clock
        return [re.sub(r"elapsed [0-9:]+(, eta [0-9:]+)?", "", line) for line in lines]

    plain_lines, named_lines = plain.getvalue().splitlines(), named.getvalue().splitlines()
    assert reported_stored(plain_lines) == {}
    assert reported_stored(named_lines) == {r["key"]: r["status"] for r in rows_of(tmp_path / "named")}
    assert len(reported_stored(named_lines)) == 4
    assert text(line for line in named_lines if " stored " not in line) == text(plain_lines)


KILLED_AT = {**SMALL, "seeds": list(range(8)), "dims": [2], "eps": [0.1]}


@pytest.mark.parametrize("after, cut", [(1, None), (6, None), (6, 0.6), (6, 0.05)])
def test_a_driver_killed_at_any_moment_leaves_a_folder_that_resumes(tmp_path, after, cut):
    # The real driver (inline) SIGKILLs itself the moment its log reports the
    # `after`-th trial stored, so no checkpoint ran; the write-ahead log is then
    # cut short as a power loss might leave it.
    cfg = parse_config(KILLED_AT)
    folder = tmp_path / "w"
    code = (
        "import os, signal, sys\nfrom prunegap.sweep import run_sweep\nfrom prunegap.sweep.config import parse_config\n"
        "from prunegap.sweep.progress import LogProgress\n"
        "class KillAfter(LogProgress):\n"
        "    def finished(self, trial, row):\n"
        "        super().finished(trial, row)\n"
        f"        if self.ran == {after}:\n"
        "            os.kill(os.getpid(), signal.SIGKILL)\n"
        f"run_sweep(parse_config({KILLED_AT!r}), {str(folder)!r}, workers=1,\n"
        "          progress=KillAfter(sys.stderr, trials=True))\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)  # inherits PYTHONPATH
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    reported = reported_stored(child.stderr.splitlines())
    assert len(reported) == after
    run_sweep(cfg, tmp_path / "ref", workers=1)
    reference = stable(rows_of(tmp_path / "ref"))
    wal = folder / "results.duckdb.wal"
    if cut is None:
        assert_reported_kept(stable(rows_of(folder)), reported, reference)
    elif wal.exists():
        wal.write_bytes(wal.read_bytes()[: int(wal.stat().st_size * cut)])
    run = run_sweep(cfg, folder, workers=1)
    # a cut log may cost committed trials (never more than were reported), and nothing else
    assert run.stored_before <= after and run.stored_before + run.ran == len(cfg.trials())
    if cut is None:
        assert run.stored_before == after
    assert stable(rows_of(folder)) == reference


@settings(max_examples=60)
@given(data=st.data())
def test_damaged_ticket_files_are_a_clear_error(tmp_path_factory, data):
    from prunegap import Masks, Setting, draw_instance
    from prunegap.io import read_ticket, write_ticket

    folder = tmp_path_factory.mktemp("ticket")
    inst = draw_instance(Setting(d=2), 0, 5)
    good = write_ticket(folder / "t.npz", inst.w, inst.U, inst.v, Masks.from_units(np.array([1, 0, 1, 1, 0]), 2))
    blob = bytearray(good.read_bytes())
    how = data.draw(st.sampled_from(["truncate", "flip", "zeros"]))
    if how == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    else:
        start = data.draw(st.integers(0, len(blob) - 1))
        length = data.draw(st.integers(1, 64))
        for i in range(start, min(len(blob), start + length)):
            blob[i] = 0 if how == "zeros" else blob[i] ^ data.draw(st.integers(1, 255))
    bad = folder / "bad.npz"
    bad.write_bytes(bytes(blob))
    try:
        t = read_ticket(bad)
    except InvalidArgument as exc:
        assert str(bad) in str(exc)
    else:  # the damage missed every checked byte: a valid ticket still
        assert t.U.shape == (5, 2) and set(np.unique(t.masks.hidden_mask)) <= {0, 1}


def test_a_ticket_with_bad_values_is_refused(tmp_path):
    from prunegap.io import read_ticket

    w, U, v = np.array([0.6, 0.8]), np.ones((3, 2)), np.ones(3)
    np.savez(tmp_path / "nan.npz", w=w, U=U * np.nan, v=v, hidden_mask=np.ones((3, 2)), output_mask=np.ones(3))
    with pytest.raises(InvalidArgument, match="non-finite"):
        read_ticket(tmp_path / "nan.npz")
    np.savez(tmp_path / "mask.npz", w=w, U=U, v=v, hidden_mask=2 * np.ones((3, 2)), output_mask=np.ones(3))
    with pytest.raises(InvalidArgument, match="mask"):
        read_ticket(tmp_path / "mask.npz")
    with zipfile.ZipFile(tmp_path / "pickle.npz", "w") as z:
        z.writestr("w.npy", b"\x93NUMPY garbage")
    with pytest.raises(InvalidArgument):
        read_ticket(tmp_path / "pickle.npz")


# bad command-line input -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, needle",
    [
        (["--executor", "spark"], "--executor must be one of 'local', 'dask', got 'spark'"),
        (["--executor", "dsak"], "did you mean 'dask'"),
        (["--executor", "local", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --executor dask"),
        (["--retries", "-1"], "--retries must be an integer"),
        (["--memory-limit", "12"], "--memory-limit must be at least 64MiB"),
        (["--memory-limit", "lots"], "--memory-limit must be a size"),
    ],
)
def test_gap_options_are_checked(tmp_path, capsys, args, needle):
    path = tmp_path / "c.toml"
    path.write_text("seeds = 1\ndims = [2]\neps = [0.1]\n[[studies]]\nparadigm = 'weight'\n")
    assert main(["gap", "--config", str(path), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "o").exists()


# a third backend ---------------------------------------------------------------------------------
class ThreadPerAttempt(Executor):
    """A backend written against the bare concurrent.futures.Executor shape:
    only ``submit`` (no slots, window, isolates, terminate)."""

    def __init__(self) -> None:
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        future = Future()

        def go():
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the driver
                future.set_exception(exc)

        threading.Thread(target=go, daemon=True).start()
        return future


def test_a_third_backend_needs_only_submit(tmp_path, monkeypatch, reference):
    cfg = config()
    flaky = cfg.trials()[3].key
    faults(monkeypatch, {flaky: {"fault": "crash", "attempts": [1]}})
    backend = ThreadPerAttempt()
    run = run_sweep(cfg, tmp_path / "b", executor=backend)
    assert run.ran == len(cfg.trials()) == 12 and run.retries == 1
    assert backend.submitted == 13  # each trial once, the crashed one twice
    assert stable(rows_of(tmp_path / "b")) == reference
    assert [a["outcome"] for a in attempts_of(tmp_path / "b") if a["key"] == flaky] == ["crashed", "ok"]


# a damaged ticket on the command line ---------------------------------------------------------
@pytest.mark.parametrize("damage", ["empty", "half", "header", "tail"])
def test_a_damaged_ticket_is_one_line_exit_2(tmp_path, capsys, damage):
    pytest.importorskip("torch")
    assert main(["solve", "--paradigm", "weight", "--d", "2", "--width", "12", "--seed", "0", "--eps", "0.1",
                 "--out", str(tmp_path / "r")]) == 0
    ticket = tmp_path / "r" / "ticket.npz"
    blob = ticket.read_bytes()
    ticket.write_bytes({"empty": b"", "half": blob[: len(blob) // 2], "header": b"\0" * 64 + blob[64:],
                        "tail": blob[:-40]}[damage])
    capsys.readouterr()
    assert main(["export", str(tmp_path / "r"), "--format", "npz", "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("prunegap: error:") and "ticket.npz" in err, err
    assert "Traceback" not in err and not (tmp_path / "x.npz").exists()


def test_the_memory_budget_environment_variable_reaches_every_trial(tmp_path, monkeypatch, capsys):
    cfg = config(seeds=[0], dims=[2], eps=[0.1, 1e-4])
    ex = LocalExecutor(2)
    run_sweep(config(seeds=[5], dims=[2], eps=[0.1]), tmp_path / "warm", executor=ex)  # its trial server runs now
    monkeypatch.setenv("PRUNEGAP_MEMORY_BUDGET", "1000")
    run_sweep(cfg, tmp_path / "e", executor=ex)
    ex.shutdown()
    rows = {r["eps"]: r for r in rows_of(tmp_path / "e", masks=False)}
    assert rows[1e-4]["status"] == "unknown" and "memory budget" in rows[1e-4]["limit"] and rows[1e-4]["n_lower"] > 1
    # a malformed value is refused before anything runs: one line, exit 2
    monkeypatch.setenv("PRUNEGAP_MEMORY_BUDGET", "lots")
    path = tmp_path / "c.toml"
    path.write_text("seeds = 1\ndims = [2]\neps = [0.1]\n[[studies]]\nparadigm = 'weight'\n")
    assert main(["gap", "--config", str(path), "--out", str(tmp_path / "o"), "--progress", "none"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PRUNEGAP_MEMORY_BUDGET must be an integer number of bytes" in err, err
    assert not (tmp_path / "o").exists()


def test_a_damaged_write_ahead_log_is_a_clear_error_and_costs_only_its_trials(tmp_path, capsys, reference):
    cfg = config()
    folder = tmp_path / "w"
    code = (
        "import os\nfrom prunegap.sweep import Store, run_trial\nfrom prunegap.sweep.config import parse_config\n"
        f"cfg = parse_config({SMALL!r})\n"
        f"s = Store.for_sweep({str(folder)!r}, cfg)\n"
        "for t in cfg.trials()[:4]:\n    s.record(run_trial(t), {'key': t.key, 'run': 1, 'attempt': 1, 'outcome': 'ok'})\n"
        "os._exit(0)\n"  # no checkpoint: the four trials are in the log only
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    wal = folder / "results.duckdb.wal"
    blob = bytearray(wal.read_bytes())
    for i in range(len(blob) // 3, len(blob) // 3 + 64):
        blob[i] ^= 0x5A
    wal.write_bytes(bytes(blob))
    for argv in (["results", str(folder)], ["report", str(folder)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot replay its write-ahead log" in err and f"move {wal} away" in err, err
    wal.rename(tmp_path / "aside.wal")  # as the message says
    run = run_sweep(cfg, folder, workers=1)
    assert run.stored_before + run.ran == 12
    assert stable(rows_of(folder)) == reference


class NoPrunegapHere(ThreadPerAttempt):
    """Workers without prunegap: after ``good`` attempts, the task cannot be unpickled."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good

    def submit(self, fn, /, *args, **kwargs):
        if self.submitted >= self.good:
            self.submitted += 1
            future = Future()
            future.set_exception(ModuleNotFoundError("No module named 'prunegap'"))
            return future
        return super().submit(fn, *args, **kwargs)


def test_workers_that_cannot_import_prunegap_stop_the_sweep_with_one_line(tmp_path):
    cfg = config()
    with pytest.raises(InvalidArgument, match=r"a worker cannot run prunegap's trials \(ModuleNotFoundError: No module named 'prunegap'\); install prunegap"):
        run_sweep(cfg, tmp_path / "n", executor=NoPrunegapHere(good=3))
    rows = rows_of(tmp_path / "n")
    assert len(rows) <= 3 and all(r["status"] == "certified" for r in rows)  # what finished is kept, nothing failed


@pytest.mark.parametrize("value", ["0.5", True, b"1"])
def test_a_number_option_given_as_text_or_bool_is_refused_up_front(value, tmp_path):
    # float("0.5") passed the check while the raw string went on to the solver (a TypeError in a trial)
    from prunegap.solvers.mip import MIPOptions
    from prunegap.sweep import parse_config

    with pytest.raises(InvalidArgument, match="initial_density must be a positive number"):
        MIPOptions.from_kwargs({"initial_density": value})
    if not isinstance(value, bytes):  # TOML has no bytes
        doc = {"seeds": 1, "studies": [{"paradigm": "neuron", "method": "mip", "grid": {"d2": [0.1]},
                                        "options": {"initial_density": value}}]}
        with pytest.raises(InvalidArgument, match=r"studies\[0\]\.options: initial_density"):
            parse_config(doc)
