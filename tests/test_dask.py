"""The Dask executor, on a real LocalCluster: the same rows as the local
executor, worker deaths retried and recorded, time limits, the command line."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _procs import alive, assert_reported_kept, kill_9_after_stored, wait_gone

pytest.importorskip("distributed")

from prunegap.cli import main  # noqa: E402
from prunegap.sweep import DaskExecutor, Store, load_config, run_sweep  # noqa: E402
from prunegap.sweep.config import parse_config  # noqa: E402
from prunegap.sweep.sandbox import FAULTS_ENV  # noqa: E402
from prunegap.sweep.store import VOLATILE  # noqa: E402

# 16 construction trials and 4 neuron trials at easy eps (a few seconds in all)
MIXED = {
    "seeds": [0, 1, 2, 3],
    "dims": [2, 3],
    "eps": [0.1, 1e-3],
    "time_limit": 60.0,
    "studies": [
        {"paradigm": "weight", "method": "construction", "max_width": 512},
        {"paradigm": "neuron", "method": "mip", "max_width": 64, "grid": {"d2": [0.2]}},
    ],
}


def stable(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def rows_of(folder):
    with Store.open(folder) as s:
        return s.rows(masks=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A LocalCluster of two single-threaded workers, as `--executor dask` starts it.

    Faults are read on the workers, whose environment is fixed when they
    start; the spec names trials of one test only (seeds 10 and 11)."""
    neuron_free = parse_config({**MIXED, "studies": MIXED["studies"][:1], "seeds": [10, 11]})
    keys = [t.key for t in neuron_free.trials()]
    spec = {keys[0]: "kill-host", keys[1]: {"fault": "kill-host", "attempts": [1]}, keys[2]: "hang"}
    # The nannies restart killed workers with the environment of this process:
    # the spec stays set as long as the cluster runs.
    os.environ[FAULTS_ENV] = json.dumps(spec)
    try:
        ex = DaskExecutor(2)
        ex.faulty = keys[:3]
        yield ex
        ex.shutdown()
    finally:
        del os.environ[FAULTS_ENV]


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory):
    folder = tmp_path_factory.mktemp("local") / "l"
    run_sweep(parse_config(MIXED), folder, workers=2)
    return stable(rows_of(folder))


def test_rows_equal_the_local_executor_rows(cluster, local_rows, tmp_path):
    # Through --scheduler's path: a client of an existing cluster of two workers.
    ex = DaskExecutor(scheduler=cluster.cluster.scheduler_address)
    try:
        assert ex.slots == 2 and "Dask cluster at tcp://127.0.0.1:" in ex.where
        cfg = parse_config(MIXED)
        run = run_sweep(cfg, tmp_path / "d", executor=ex)
    finally:
        ex.shutdown()
    assert cluster.alive()  # closing a client leaves the cluster running
    assert run.ran == len(cfg.trials()) == 20 and run.retries == 0
    assert stable(rows_of(tmp_path / "d")) == local_rows
    assert {r["status"] for r in local_rows} == {"certified"}
    with Store.open(tmp_path / "d") as s:
        workers = {a["worker"] for a in s.attempts()}
    assert workers <= set(cluster.client.nthreads())  # each attempt names the worker that ran it


def test_one_dask_worker_gives_the_local_rows(local_rows, tmp_path):
    import dask
    from dask.utils import parse_timedelta

    before = dask.config.get("distributed.deploy.lost-worker-timeout")
    ex = DaskExecutor(1)
    try:
        assert ex.slots == ex.window == 1 and "LocalCluster of 1 worker(s) at tcp://127.0.0.1:" in ex.where
        # the cluster must never close the nanny of a worker that is slow to come back
        assert parse_timedelta(dask.config.get("distributed.deploy.lost-worker-timeout")) >= 86400
        run = run_sweep(parse_config(MIXED), tmp_path / "one", executor=ex)
    finally:
        ex.shutdown()
    assert dask.config.get("distributed.deploy.lost-worker-timeout") == before
    assert run.ran == 20 and run.retries == 0
    assert stable(rows_of(tmp_path / "one")) == local_rows
    with Store.open(tmp_path / "one") as s:
        assert len({a["worker"] for a in s.attempts()}) == 1


def test_a_worker_that_dies_mid_trial_is_retried_then_failed(cluster, tmp_path):
    cfg = parse_config({**MIXED, "studies": MIXED["studies"][:1], "seeds": [10, 11], "time_limit": 3.0})
    doomed, flaky, hung = cluster.faulty
    run = run_sweep(cfg, tmp_path / "k", executor=cluster, retries=2)
    assert run.ran == len(cfg.trials()) == 8 and run.lost == 1 and run.retries == 3
    rows = {r["key"]: r for r in rows_of(tmp_path / "k")}
    bad = rows[doomed]
    assert bad["status"] == "failed" and bad["reason"].startswith("all 3 attempt(s) were lost")
    assert "its worker tcp://127.0.0.1:" in bad["reason"] and "died" in bad["reason"]
    assert rows[flaky]["status"] == "certified"
    assert rows[hung]["status"] == "unknown" and rows[hung]["limit"] == "time_limit (3 s)"
    assert (rows[hung]["n_lower"], rows[hung]["n_upper"]) == (2, None)
    assert sum(r["status"] == "certified" for r in rows.values()) == 6
    with Store.open(tmp_path / "k") as s:
        lost = s.attempts(doomed)
        assert [(a["attempt"], a["outcome"]) for a in lost] == [(1, "lost"), (2, "lost"), (3, "lost")]
        assert all(a["worker"].startswith("tcp://127.0.0.1:") for a in lost)
        assert [a["outcome"] for a in s.attempts(flaky)] == ["lost", "ok"]
        assert [a["outcome"] for a in s.attempts(hung)] == ["timeout"]
    # the nannies restarted the killed workers: the cluster still runs trials
    deadline = time.monotonic() + 30
    while len(cluster.client.nthreads()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(cluster.client.nthreads()) == 2


def _forkserver_pid():
    from multiprocessing import forkserver

    return forkserver._forkserver._forkserver_pid


def test_workers_start_their_trial_server_as_they_join(cluster):
    # after the test above, some of these workers replaced killed ones
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = cluster.client.run(_forkserver_pid)
        if len(pids) == 2 and all(pids.values()):
            break
        time.sleep(0.2)
    assert len(pids) == 2 and all(pids.values()), pids
    assert all(alive(p) for p in pids.values())


def _worker_memory():
    from distributed import get_worker

    from prunegap.sweep.sandbox import _resolve_memory_limit

    w = get_worker()
    return _resolve_memory_limit("auto"), int(w.memory_manager.memory_limit), w.state.nthreads


def test_the_default_memory_cap_on_a_dask_worker_is_its_share(cluster):
    client = cluster.client
    for address in client.nthreads():  # as a task on each worker: where attempts resolve it
        cap, limit, threads = client.submit(_worker_memory, workers=[address], pure=False).result()
        assert limit > 0 and cap == max(2 * 1024**3, limit // threads)


def test_cli_dask_executor_end_to_end(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("seeds = 3\ndims = [2]\neps = [0.1]\n[[studies]]\nparadigm = 'weight'\n")
    args = ["gap", "--config", str(path), "--progress", "none"]
    assert main([*args, "--out", str(tmp_path / "d"), "--executor", "dask", "--workers", "2"]) == 0
    out, err = capsys.readouterr()
    assert "Trials: 3 of 3 stored: 3 certified" in out and "2 dask worker(s)" in err
    assert main([*args, "--out", str(tmp_path / "i"), "--workers", "1"]) == 0
    assert stable(rows_of(tmp_path / "d")) == stable(rows_of(tmp_path / "i"))


@pytest.mark.parametrize(
    "where, content, needle",
    [
        ("tcp://127.0.0.1:9", None, "cannot connect to a Dask scheduler there within 1 s"),
        ("sched.json", '{"address": "tcp://127.0.0.1:9"}', "sched.json (tcp://127.0.0.1:9)': cannot connect"),
        ("sched.json", '{"addr', "is not a Dask scheduler file (a JSON object with an \"address\"): JSONDecodeError"),
        ("sched.json", "[1, 2]", "is not a Dask scheduler file"),
        ("sched.json", '{"address": 7}', 'it has no "address" (got 7)'),
        ("missing.json", None, "is neither a scheduler file (no such file) nor a scheduler address"),
    ],
)
def test_a_bad_scheduler_is_one_line_exit_2(tmp_path, capsys, where, content, needle):
    import dask

    path = tmp_path / "c.toml"
    path.write_text("seeds = 1\ndims = [2]\neps = [0.1]\n[[studies]]\nparadigm = 'weight'\n")
    if content is not None:
        (tmp_path / where).write_text(content)
    scheduler = where if where.startswith("tcp://") else str(tmp_path / where)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["gap", "--config", str(path), "--out", str(tmp_path / "o"), "--scheduler", scheduler])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_rows_do_not_depend_on_the_number_of_dask_workers(tmp_path, local_rows):
    path = tmp_path / "m.toml"
    path.write_text(parse_config(MIXED).to_toml())
    for k in (1, 3):
        argv = ["gap", "--config", str(path), "--out", str(tmp_path / f"w{k}"), "--executor", "dask",
                "--workers", str(k), "--progress", "none"]
        assert main(argv) == 0
        assert stable(rows_of(tmp_path / f"w{k}")) == local_rows


# Both studies of MIXED on one (d, eps): 3 construction and 3 neuron trials.
TINY = {**MIXED, "seeds": [0, 1, 2], "dims": [2], "eps": [0.1]}


def test_three_dask_workers_give_the_inline_rows(tmp_path):
    # The quick companion of the test above: more than two workers, both paradigms.
    cfg = parse_config(TINY)
    run_sweep(cfg, tmp_path / "inline", workers=1)
    ex = DaskExecutor(3)
    try:
        assert "LocalCluster of 3 worker(s)" in ex.where
        workers = set(ex.client.nthreads())
        assert len(workers) == 3 and ex.slots == 3
        run = run_sweep(cfg, tmp_path / "three", executor=ex)
    finally:
        ex.shutdown()
    assert run.ran == len(cfg.trials()) == 6 and run.retries == 0
    assert stable(rows_of(tmp_path / "three")) == stable(rows_of(tmp_path / "inline"))
    with Store.open(tmp_path / "three") as s:
        assert {a["worker"] for a in s.attempts()} <= workers


def _kill_9_a_dask_driver(tmp_path, text, trials, patience):
    """Runs `gap --executor dask --workers 2` on ``text``, SIGKILLs the driver once its log has
    reported ``trials`` trials stored; returns (config, folder, the kill, the undisturbed rows)."""
    path = tmp_path / "k.toml"
    path.write_text(text)
    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "prunegap.cli", "gap", "--config", str(path), "--out", str(out),
           "--executor", "dask", "--workers", "2", "--progress", "log"]
    killed = kill_9_after_stored(cmd, trials=trials, patience=patience)
    assert killed.returncode == -signal.SIGKILL, killed.lines[-3:]
    assert killed.kids
    assert wait_gone(killed.kids, timeout=30, poll=0.2), "Dask workers or trial processes outlived the killed driver"
    cfg = load_config(path)
    run_sweep(cfg, tmp_path / "ref", workers=1)
    reference = stable(rows_of(tmp_path / "ref"))
    after_kill = stable(rows_of(out))
    assert len(killed.reported) >= trials
    # nothing lost: every trial the driver reported stored is there, as an undisturbed run has it
    assert_reported_kept(after_kill, killed.reported, reference)
    assert len(after_kill) < len(cfg.trials())
    return cfg, out, len(after_kill), reference


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_kill_9_of_a_dask_driver_keeps_every_reported_trial_quick(tmp_path, cluster):
    # The quick companion of the slow test below: 16 easy trials, killed after 6 are reported.
    # Seeds 0-7 only: the cluster's fault spec (seeds 10, 11) must not reach these trials.
    text = "seeds = 8\ndims = [2, 3]\neps = [0.1]\ntime_limit = 60.0\n"
    text += "[[studies]]\nparadigm = 'weight'\nmethod = 'construction'\nmax_width = 512\n"
    cfg, out, partial, reference = _kill_9_a_dask_driver(tmp_path, text, trials=6, patience=120)
    run = run_sweep(cfg, out, executor=cluster)  # resumed on Dask: the module's cluster
    assert run.stored_before == partial and run.ran == len(cfg.trials()) - partial and run.retries == 0
    assert stable(rows_of(out)) == reference


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_kill_9_of_a_dask_driver_then_resume(tmp_path):
    text = "seeds = 16\ndims = [3]\neps = [0.1, 1e-2]\ntime_limit = 60.0\n"
    text += "[[studies]]\nparadigm = 'weight'\nmethod = 'construction'\nmax_width = 512\n"
    # killed past the first group of 16, so both a finished group and a partial one are checked
    cfg, out, partial, reference = _kill_9_a_dask_driver(tmp_path, text, trials=17, patience=240)
    ex = DaskExecutor(2)
    try:
        run = run_sweep(cfg, out, executor=ex)
    finally:
        ex.shutdown()
    assert run.stored_before == partial and run.ran == len(cfg.trials()) - partial
    assert stable(rows_of(out)) == reference


def _guide_blocks(lang: str) -> dict[str, str]:
    """The code blocks of docs/cluster.md in ``lang``, by the heading above each."""
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "cluster.md").read_text()
    blocks = {}
    for section in text.split("\n### `")[1:]:
        found = re.search(r"```" + lang + r"\n(.*?)```", section, re.S)
        if found:
            blocks[section.split("`", 1)[0]] = found.group(1)
    return blocks


def test_the_cluster_guide_makes_a_valid_slurm_worker_job():
    yaml = pytest.importorskip("yaml")
    pytest.importorskip("dask_jobqueue")
    import dask
    from dask_jobqueue.slurm import SLURMJob

    config = yaml.safe_load(_guide_blocks("yaml")["jobqueue.yaml"])

    def flat(d, prefix=""):
        for k, v in d.items():
            yield from flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [(prefix + k, v)]

    # The guide's file, read as Dask reads ~/.config/dask/jobqueue.yaml (laid over the defaults).
    with dask.config.set(dict(flat(config))):
        script = SLURMJob(scheduler="tcp://10.0.0.5:8786", name="w").job_script()
        assert dask.config.get("distributed.scheduler.allowed-failures") == 0
    assert "#SBATCH --cpus-per-task=16" in script and "#SBATCH -p compute" in script
    assert "--nthreads 1" in script and "--nworkers 16" in script and "--lifetime 7h45m" in script
    assert "source $HOME/prunegap/.venv/bin/activate" in script
    # the guide's worker launcher and driver job are at least well-formed
    compile(_guide_blocks("python")["workers.py"], "workers.py", "exec")
    sbatch = _guide_blocks("bash")["driver.sbatch"]
    assert "--scheduler scheduler.json" in sbatch
    assert subprocess.run(["bash", "-n"], input=sbatch, text=True).returncode == 0
