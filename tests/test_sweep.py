"""The sweep: declared configs, execution, the results database, resume."""

import io
import json
import signal
import sys
import threading

import pytest
from _procs import assert_reported_kept, kill_9_after_stored
from _sweeps import SMALL, rows_of, stable, write

from prunegap.cli import main
from prunegap.exceptions import InvalidArgument
from prunegap.sweep import Store, load_config, masks_of, run_sweep
from prunegap.sweep.config import default_toml, read_toml
from prunegap.sweep.progress import LogProgress, NullProgress
from prunegap.sweep.trials import Trial, run_trial

# configuration -------------------------------------------------------------------
def test_defaults_ship_and_parse():
    cfg = load_config()
    assert {s.name for s in cfg.studies} >= {"weight-construction", "neuron-mip"}
    assert len(cfg.seeds) >= 20 and cfg.study("weight-construction").dims == (2, 3, 4, 5)
    assert min(cfg.study("weight-construction").eps_of(2)) == 1e-6
    assert "seeds = 20" in default_toml()
    quick = load_config(quick=True)
    assert len(quick.trials()) < len(cfg.trials()) and quick.fingerprint() != cfg.fingerprint()
    # the frontier: proofs only, its own seeds, one point per d under --quick
    fr = cfg.study("neuron-frontier")
    assert fr.bound == "lower" and fr.seeds == (0, 1, 2) and min(fr.eps_of(2)) == 1e-4 and fr.dims == (2, 3, 4, 5)
    assert {t.seed for t in cfg.trials() if t.study == fr.name} == {0, 1, 2}
    assert all(t.bound == "lower" for t in cfg.trials() if t.study == fr.name)
    qf = quick.study("neuron-frontier")
    assert all(len(qf.eps_of(d)) == 1 for d in qf.dims) and qf.dims == (2, 3, 4, 5)
    # every frontier eps has a weight study beside it (the gap's denominator)
    for d in fr.dims:
        assert set(fr.eps_of(d)) <= set(cfg.study("weight-construction").eps_of(d))


def test_a_lower_bound_study_needs_a_method_with_proofs(tmp_path):
    base = SMALL.split("[[studies]]")[0]
    bad = base + '[[studies]]\nparadigm = "weight"\nmethod = "construction"\nbound = "lower"\n'
    with pytest.raises(InvalidArgument, match=r"studies\[0\]\.bound.*proves 'no'"):
        load_config(write(tmp_path, bad, "bad.toml"))
    with pytest.raises(InvalidArgument, match=r"studies\[0\]\.bound must be one of 'both', 'lower', got 'upper'"):
        load_config(write(tmp_path, bad.replace('"lower"', '"upper"'), "bad2.toml"))
    ok = base + '[[studies]]\nparadigm = "neuron"\nmethod = "mip"\nbound = "lower"\nseeds = [1, 3]\n'
    cfg = load_config(write(tmp_path, ok, "ok.toml"))
    assert {t.seed for t in cfg.trials()} == {1, 3} and {t.bound for t in cfg.trials()} == {"lower"}
    again = load_config(write(tmp_path, cfg.to_toml(), "again.toml"))
    assert again.fingerprint() == cfg.fingerprint() and again.trials() == cfg.trials()
    # a broken quick grid is refused without --quick too, by its own name
    broken = ok + 'quick_grid = { d2 = [2.0] }\n'
    with pytest.raises(InvalidArgument, match=r"studies\[0\]\.quick_grid\.d2"):
        load_config(write(tmp_path, broken, "broken.toml"))
    # a study without the new keys keeps its fingerprint: they enter the identity only where set
    plain = load_config(write(tmp_path, ok.replace('bound = "lower"\n', "").replace("seeds = [1, 3]\n", ""), "p.toml"))
    assert "bound" not in plain.experiment()["studies"][0] and "seeds" not in plain.experiment()["studies"][0]


def test_resolved_toml_round_trips(tmp_path):
    for cfg in (load_config(), load_config(quick=True), load_config(write(tmp_path, SMALL))):
        again = load_config(write(tmp_path, cfg.to_toml(), "resolved.toml"))
        assert again.fingerprint() == cfg.fingerprint()
        assert again.trials() == cfg.trials()


def test_analysis_keys_do_not_change_the_fingerprint(tmp_path):
    a = load_config(write(tmp_path, SMALL))
    b = load_config(write(tmp_path, SMALL + "[analysis]\nconfidence = 0.9\nbootstrap = 500\n", "b.toml"))
    c = load_config(write(tmp_path, SMALL.replace("seeds = [0, 1, 3]", "seeds = 4"), "c.toml"))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert b.analysis.confidence == 0.9


@pytest.mark.parametrize(
    "text, needles",
    [
        ("sedes = 3", ["unknown key 'sedes'", "did you mean 'seeds'"]),
        ("[setting]\nnrom = 'sup'", ["unknown key 'setting.nrom'", "did you mean 'norm'"]),
        ("[[studies]]\nparadigm = 'weight'\nepz = [0.1]", ["unknown key 'studies[0].epz'", "did you mean 'eps'"]),
        ("dims = '2'", ["dims must be a list of dimensions", "got a string '2'"]),
        ("seeds = 2.5", ["seeds must be a number of seeds", "got a number 2.5"]),
        ("seeds = true", ["seeds must be a number of seeds"]),
        ("dims = [0]", ["dims[0] must be an integer in [1, 64], got 0"]),
        ("eps = [0.1, 1.5]", ["eps[1] must be a number in (0, 1), got 1.5"]),
        ("eps = [0.1, 0.1]", ["eps must not repeat values"]),
        ("eps = []", ["eps must be a non-empty list"]),
        ("seeds = 0", ["seeds must be a number of seeds (an integer in [1, 100000])", "got 0"]),
        ("time_limit = -1", ["time_limit must be a number in (0, inf], got -1"]),
        ("[analysis]\nconfidence = 1.5", ["analysis.confidence must be a number in (0, 1), got 1.5"]),
        ("[analysis]\ndelta = 0.7", ["analysis.delta must be a number in (0, 0.5]"]),
        ("[analysis]\nbootstrap = 10", ["analysis.bootstrap must be an integer in [100, 1000000], got 10"]),
        ("[analysis]\ngap = ['neuron-mip', 'weight-constr']", ["analysis.gap[1] must be one of", "did you mean 'weight-construction'"]),
        ("[setting]\ninit = 'unifrom'", ["setting.init must be one of", "did you mean 'uniform'"]),
        ("[[studies]]\nparadigm = 'neurons'", ["studies[0].paradigm must be one of", "did you mean 'neuron'"]),
        ("[[studies]]\nmethod = 'mip'", ["studies[0].paradigm is required"]),
        ("[[studies]]\nparadigm = 'weight'\nmethod = 'constrction'", ["studies[0].method must be one of", "did you mean 'construction'"]),
        ("[[studies]]\nparadigm = 'weight'\nmax_width = 0", ["studies[0].max_width must be an integer in [1, 1000000], got 0"]),
        ("[[studies]]\nparadigm = 'weight'\n[[studies]]\nparadigm = 'weight'", ["distinct names", "'weight-construction' twice"]),
        ("[[studies]]\nparadigm = 'weight'\neps_floor = { d2 = 0.5 }", ["studies[0].eps_floor.d2 = 0.5 leaves no eps"]),
        ("[[studies]]\nparadigm = 'weight'\neps_floor = { two = 0.5 }", ["studies[0].eps_floor must be keyed by dimension as d2"]),
        ("[[studies]]\nparadigm = 'weight'\ngrid = { d2 = [0.1] }\neps = [0.1]", ["either grid or dims/eps/eps_floor"]),
        ("[[studies]]\nparadigm = 'weight'\noptions = { node_lmit = 3 }", ["unknown key 'studies[0].options.node_lmit'", "did you mean 'node_limit'"]),
        ("[[studies]]\nparadigm = 'weight'\noptions = { tol = [1] }", ["studies[0].options.tol must be a number, string or boolean"]),
        ("studies = []", ["studies must be a non-empty list"]),
        ("studies = 3", ["studies must be a list of [[studies]] tables"]),
        ("setting = 3", ["setting must be a table"]),
        ("seeds = ", ["is not valid TOML"]),
        ("[quick]\nseeds = -1", ["quick.seeds must be a number of seeds"]),
    ],
)
def test_config_errors_name_the_key(tmp_path, text, needles):
    path = write(tmp_path, text)
    with pytest.raises(InvalidArgument) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    for needle in needles:
        assert needle in message, message


def test_config_errors_are_one_line_exit_2(tmp_path, capsys):
    path = write(tmp_path, "[[studies]]\nparadigm = 'weight'\nepz = [0.1]")
    code = main(["gap", "--config", str(path), "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "studies[0].epz" in err and "Traceback" not in err
    assert main(["gap", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["gap", "--workers", "0", "--config", str(write(tmp_path, SMALL))]) == 2
    assert "--workers must be an integer" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_show_config(tmp_path, capsys):
    assert main(["gap", "--show-config"]) == 0
    assert capsys.readouterr().out == default_toml()
    assert main(["gap", "--show-config", "--config", str(write(tmp_path, SMALL))]) == 0
    text = capsys.readouterr().out
    assert read_toml(text, "shown")["studies"][0]["grid"] == {"d2": [0.1, 0.001], "d3": [0.1, 0.001]}
    assert load_config(write(tmp_path, text, "shown.toml")).fingerprint() == load_config(tmp_path / "sweep.toml").fingerprint()


def test_eps_floor_and_quick_grid(tmp_path):
    text = SMALL + "\n[[studies]]\nparadigm = 'weight'\nname = 'floored'\neps_floor = { d3 = 0.01 }\n"
    cfg = load_config(write(tmp_path, text))
    s = cfg.study("floored")
    assert s.eps_of(2) == (0.1, 1e-3) and s.eps_of(3) == (0.1,)
    quick = load_config(write(tmp_path, text + "[quick]\nseeds = 2\neps = [0.1]\n", "q.toml"), quick=True)
    assert quick.seeds == (0, 1) and all(e == (0.1,) for st in quick.studies for _, e in st.grid)
    text = SMALL + "\n[[studies]]\nparadigm = 'weight'\nname = 'q'\neps_floor = { d3 = 0.01 }\nquick_eps_floor = { d2 = 0.05 }\n"
    path = write(tmp_path, text, "qf.toml")
    assert load_config(path).study("q").grid == ((2, (0.1, 1e-3)), (3, (0.1,)))
    # the default [quick] eps grid, floored by quick_eps_floor in d2 and by eps_floor in d3
    assert load_config(path, quick=True).study("q").grid == ((2, (0.2, 0.1, 0.05)), (3, (0.2, 0.1, 0.05, 0.035, 0.025)))


# trials ---------------------------------------------------------------------------
def trial(**kw) -> Trial:
    base = dict(study="w", paradigm="weight", method="construction", d=2, eps=0.01, seed=1, init="uniform",
                output="relu", norm="sup", max_width=512)
    base.update(kw)
    return Trial(**base)


def test_run_trial_certified_row_has_masks():
    row = run_trial(trial())
    assert row["status"] == "certified" and row["n_star"] == row["n_lower"] == row["n_upper"] == row["width"]
    assert row["verdict"] == "yes" and row["error_upper"] <= 0.01 and row["limit"] is None
    m = masks_of(row)
    assert m.width == row["n_star"] and m.kept_weights == row["kept_weights"]
    assert "seconds" not in row["stats"] and json.loads(row["timings"])  # timings split off
    # the search's per-step clock goes with the timings, one entry per step, never into the stats
    assert "step_seconds" not in json.loads(row["stats"]).get("search", {})
    assert len(json.loads(row["timings"])["search"]["step_seconds"]) == len(json.loads(row["steps"]))


def test_run_trial_limits_are_unknown_not_dropped():
    row = run_trial(trial(eps=1e-6, max_width=8))
    assert row["status"] == "unknown" and row["n_star"] is None and row["n_upper"] is None
    assert row["n_lower"] == 9 and row["limit"] == "max_width (8)"
    row = run_trial(trial(eps=1e-4, options=(("memory_budget", 1000),)))
    assert row["status"] == "unknown" and "memory budget" in row["limit"]


def test_run_trial_failure_is_a_row():
    row = run_trial(trial(init="bogus"))
    assert row["status"] == "failed" and "InvalidArgument" in row["reason"] and row["n_lower"] == 1


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="SIGALRM needs the main thread")
def test_run_trial_wall_clock_guard():
    row = run_trial(trial(eps=1e-6, seed=2, max_width=4096, time_limit=0.02))
    assert row["status"] == "unknown" and row["limit"] == "time_limit (0.02 s)" and row["seconds"] < 5


# the engine and the database --------------------------------------------------------
def test_rows_do_not_depend_on_workers(tmp_path):
    cfg = load_config(write(tmp_path, SMALL))
    r1 = run_sweep(cfg, tmp_path / "w1", workers=1)
    r2 = run_sweep(cfg, tmp_path / "w2", workers=2)
    assert r1.ran == r2.ran == len(cfg.trials()) == 12
    a, b = rows_of(tmp_path / "w1"), rows_of(tmp_path / "w2")
    assert stable(a) == stable(b)
    order = [(r["study"], r["d"], -r["eps"], r["seed"]) for r in a]
    assert order == sorted(order)  # read in key order, whatever the finishing order
    assert all(r["status"] == "certified" for r in a)


class StopAfter(NullProgress):
    """Ctrl-C after ``n`` finished trials."""

    def __init__(self, n: int) -> None:
        self.n = n

    def finished(self, trial, row) -> None:
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt


def test_resume_after_interrupt_gives_the_same_rows(tmp_path):
    cfg = load_config(write(tmp_path, SMALL))
    messages = []
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, tmp_path / "r", workers=1, progress=StopAfter(5), say=messages.append)
    assert "rerun the same command to resume" in messages[-1]
    assert len(rows_of(tmp_path / "r")) == 5
    again = run_sweep(cfg, tmp_path / "r", workers=1)
    assert again.stored_before == 5 and again.ran == 7
    run_sweep(cfg, tmp_path / "ref", workers=1)
    assert stable(rows_of(tmp_path / "r")) == stable(rows_of(tmp_path / "ref"))
    assert run_sweep(cfg, tmp_path / "r", workers=1).ran == 0


def test_kill_9_mid_run_then_resume(tmp_path):
    # 32 quick trials run inline (--workers 1: the driver computes each trial and stores it
    # itself), killed once the log has reported 6 stored: a driver that committed in batches
    # would lose some of them (docs/guide.md, "Interrupting and resuming": every finished
    # trial is committed at once).  Then resuming on two workers gives the undisturbed rows.
    text = SMALL.replace("seeds = [0, 1, 3]", "seeds = 16").replace("dims = [2, 3]", "dims = [3]")
    text = text.replace("eps = [0.1, 1e-3]", "eps = [0.1, 1e-2]")
    path = write(tmp_path, text)
    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "prunegap.cli", "gap", "--config", str(path), "--out", str(out),
           "--workers", "1", "--progress", "log"]
    killed = kill_9_after_stored(cmd, trials=6, patience=120)
    assert killed.returncode == -signal.SIGKILL, killed.lines[-3:]
    cfg = load_config(path)
    run_sweep(cfg, tmp_path / "ref", workers=1)
    reference = stable(rows_of(tmp_path / "ref"))
    after_kill = stable(rows_of(out))
    assert len(killed.reported) >= 6
    assert_reported_kept(after_kill, killed.reported, reference)
    assert len(after_kill) < len(cfg.trials())
    run = run_sweep(cfg, out, workers=2)
    assert run.stored_before == len(after_kill) and run.ran == len(cfg.trials()) - len(after_kill)
    assert stable(rows_of(out)) == reference


def test_a_different_config_is_refused(tmp_path):
    cfg = load_config(write(tmp_path, SMALL))
    run_sweep(cfg, tmp_path / "f", workers=1)
    other = load_config(write(tmp_path, SMALL.replace("seeds = [0, 1, 3]", "seeds = 4"), "other.toml"))
    with pytest.raises(InvalidArgument, match=r"holds the results of a different sweep .* differs in: seeds"):
        run_sweep(other, tmp_path / "f", workers=1)
    # report parameters are not part of the sweep: accepted, nothing reruns
    same = load_config(write(tmp_path, SMALL + "[analysis]\nconfidence = 0.8\n", "same.toml"))
    assert run_sweep(same, tmp_path / "f", workers=1).ran == 0
    with Store.open(tmp_path / "f") as s:
        assert s.config().analysis.confidence == 0.8


def test_different_config_cli_message(tmp_path, capsys):
    a = write(tmp_path, SMALL.replace("dims = [2, 3]", "dims = [2]").replace("eps = [0.1, 1e-3]", "eps = [0.1]"))
    assert main(["gap", "--config", str(a), "--out", str(tmp_path / "o"), "--workers", "1", "--progress", "none"]) == 0
    assert "Trials: 3 of 3 stored: 3 certified" in capsys.readouterr().out
    b = write(tmp_path, a.read_text().replace("seeds = [0, 1, 3]", "seeds = 2"), "b.toml")
    assert main(["gap", "--config", str(b), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different sweep" in err and "another --out folder" in err


def test_corrupt_database_is_a_clear_error(tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "results.duckdb").write_bytes(b"this is not a database" * 100)
    cfg = load_config(write(tmp_path, SMALL))
    with pytest.raises(InvalidArgument, match="is not a readable results database"):
        run_sweep(cfg, folder, workers=1)
    for argv in (["report", str(folder)], ["results", str(folder)], ["report", str(tmp_path / "nowhere")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("not a readable results database" in err or "does not exist" in err)


def test_a_duckdb_file_of_something_else_is_refused(tmp_path):
    import duckdb

    folder = tmp_path / "other"
    folder.mkdir()
    con = duckdb.connect(str(folder / "results.duckdb"))
    con.execute("CREATE TABLE t (i INTEGER)")
    con.close()
    with pytest.raises(InvalidArgument, match="not a prunegap results database"):
        Store.open(folder)


def test_missing_methods_are_skipped_with_a_note(tmp_path, monkeypatch):
    import prunegap.solvers.base as registry

    monkeypatch.setattr(registry, "KNOWN_METHODS", registry.KNOWN_METHODS + (("weight", "notyet"),))
    cfg = load_config(write(tmp_path, SMALL + "[[studies]]\nparadigm = 'weight'\nmethod = 'notyet'\n"))
    notes = []
    run = run_sweep(cfg, tmp_path / "s", workers=1, say=notes.append)
    assert run.skipped == {"weight-notyet": 12} and run.ran == 12
    assert "weight/notyet is not installed" in notes[0] and "rerun" in notes[0]


def test_failed_trials_are_stored_and_retried(tmp_path):
    cfg = load_config(write(tmp_path, SMALL))
    folder = tmp_path / "f"
    with Store.for_sweep(folder, cfg) as s:  # a failure from an earlier run
        t = cfg.trials()[0]
        from prunegap.sweep.trials import empty_row

        s.insert(empty_row(t, "RuntimeError: flaky"))
    assert run_sweep(cfg, folder, workers=1).ran == 11
    assert sum(r["status"] == "failed" for r in rows_of(folder)) == 1
    run = run_sweep(cfg, folder, workers=1, retry_failed=True)
    assert run.retried == 1 and run.ran == 1
    assert all(r["status"] == "certified" for r in rows_of(folder))


def test_log_progress_lines(tmp_path):
    cfg = load_config(write(tmp_path, SMALL))
    stream = io.StringIO()
    run_sweep(cfg, tmp_path / "p", workers=1, progress=LogProgress(stream))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[ 0/12]") and "running 12 trial(s)" in lines[0]
    assert lines[-1].startswith("[12/12] 100.0%") and len(lines) == 5  # one line per (study, d, eps)
    assert any("done weight-construction d=3 eps=0.001 (3 certified)" in line for line in lines)


def test_rich_progress_bar_runs(tmp_path):
    from prunegap.sweep.progress import RichProgress, make_progress

    cfg = load_config(write(tmp_path, SMALL))
    run_sweep(cfg, tmp_path / "b", workers=1, progress=RichProgress())
    assert len(rows_of(tmp_path / "b")) == 12
    assert isinstance(make_progress("auto", io.StringIO()), LogProgress)  # not a terminal: log lines


# results export ----------------------------------------------------------------------
def test_results_csv_and_parquet(tmp_path, capfd):
    import csv

    import duckdb

    cfg = load_config(write(tmp_path, SMALL))
    folder = tmp_path / "x"
    run_sweep(cfg, folder, workers=1)
    assert main(["results", str(folder), "--format", "csv"]) == 0
    out = capfd.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 12 and "hidden_mask" not in rows[0] and rows[0]["status"] == "certified"
    assert [r["key"] for r in rows] == [r["key"] for r in rows_of(folder)]
    for fmt in ("csv", "parquet"):
        dest = tmp_path / f"rows.{fmt}"
        assert main(["results", str(folder), "--format", fmt, "--out", str(dest)]) == 0
        reader = "read_csv_auto" if fmt == "csv" else "read_parquet"
        got = duckdb.connect().execute(f"SELECT key, n_star FROM {reader}('{dest}') ORDER BY key").fetchall()
        want = sorted((r["key"], r["n_star"]) for r in rows_of(folder))
        assert got == want
    assert main(["results", str(folder), "--format", "xlsx"]) == 2
    assert "format must be one of 'csv', 'parquet'" in capfd.readouterr().err


# a neuron-like method, end to end (in-process: the registry is patched here only)
class FakeNeuron:
    """n*(seed, eps) = ceil(1/eps) + seed; widths >= node_limit are undecided."""

    paradigm = "neuron"
    name = "fake"

    def monotone(self, setting):
        return True

    def solve(self, instance, eps, **options):  # pragma: no cover - width searches only
        raise NotImplementedError

    def oracle(self, stream, eps, *, node_limit=None, **options):
        import math

        from prunegap.solvers.base import Outcome

        need = math.ceil(1 / eps) + stream.seed

        def decide(n):
            if node_limit is not None and n >= node_limit:
                return Outcome("unknown", None, 0.0, math.inf, limit=f"node_limit ({node_limit})")
            if n >= need:
                return Outcome("yes", None, 0.0, eps / 2)
            return Outcome("no", None, 2 * eps, math.inf)

        return decide


def test_neuron_like_study_end_to_end(tmp_path, monkeypatch, capsys):
    from prunegap.solvers.base import METHODS

    monkeypatch.setitem(METHODS, ("neuron", "fake"), FakeNeuron)
    text = """
seeds = 3
dims = [2]
eps = [0.1, 0.05]
[analysis]
fit_eps_max = 1.0
[[studies]]
paradigm = "neuron"
method = "fake"
max_width = 64
options = { node_limit = 21 }
[[studies]]
paradigm = "weight"
"""
    path = write(tmp_path, text)
    assert main(["gap", "--config", str(path), "--out", str(tmp_path / "e"), "--workers", "1", "--progress", "none"]) == 0
    out = capsys.readouterr().out
    rows = {r["key"]: r for r in rows_of(tmp_path / "e")}
    r = rows["neuron-fake/d=2/eps=0.1/seed=2"]
    assert r["status"] == "certified" and r["n_star"] == 12 and r["options"] == '{"node_limit": 21}'
    # undecided from 21 on: seed 0 (n* 20) is still certified, by bisecting below the undecided 32
    r = rows["neuron-fake/d=2/eps=0.05/seed=0"]
    assert r["status"] == "certified" and r["n_star"] == 20
    r = rows["neuron-fake/d=2/eps=0.05/seed=1"]
    assert r["status"] == "unknown" and r["n_lower"] == 21 and r["n_upper"] is None and r["limit"] == "node_limit (21)"
    assert "Trials: 12 of 12 stored: 10 certified, 2 unknown, 0 failed." in out
    assert "neuron-fake / weight-construction" in out  # the gap ratio
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert [(g["eps"], g["ratio"] is None) for g in summary["gap"]] == [(0.1, False), (0.05, True)]
    assert summary["fits"][0]["study"] == "weight-construction"  # a power law needs two bounded medians


def test_default_gap_pair_applies_to_the_default_studies_only():
    from prunegap.sweep import parse_config

    assert parse_config({}).analysis.gap == ("neuron-mip", "weight-exact")
    own = parse_config({"studies": [{"paradigm": "weight"}, {"paradigm": "neuron"}]})
    assert own.analysis.gap is None and own.gap_pair() == ("neuron-mip", "weight-construction")
    kept = parse_config({"studies": [{"paradigm": "weight"}, {"paradigm": "neuron"}],
                         "analysis": {"gap": ["weight-construction", "neuron-mip"]}})
    assert kept.analysis.gap == ("weight-construction", "neuron-mip")
