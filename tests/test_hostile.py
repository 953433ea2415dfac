"""Hostile input (issue 19): nothing overwritten by mistake, every input fault one line and exit 2.

The first part pins each fix of the issue with the test that failed before it; the last part
walks every command with a table of bad values and asserts, for each: exit 2, exactly one line
on stderr, no traceback, and not one byte changed in the folders the command was given.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prunegap._validation import DATABASE_FILES, check_output, output_errors
from prunegap.cli import main
from prunegap.exceptions import InvalidArgument
from prunegap.sweep import Store, run_sweep
from prunegap.sweep.config import parse_config
from prunegap.sweep.executors import make_executor
from prunegap.sweep.sandbox import check_memory_limit
from prunegap.sweep.store import DB_NAME

TINY = {"seeds": [0], "dims": [2], "eps": [0.1], "studies": [{"paradigm": "weight", "method": "construction", "max_width": 64}]}
TINY_TOML = "seeds = [0]\ndims = [2]\neps = [0.1]\n[[studies]]\nparadigm = 'weight'\nmax_width = 64\n"
SOLVE = ["solve", "--paradigm", "weight", "--d", "2", "--width", "10", "--seed", "0", "--eps", "0.1"]
UNDECODABLE = os.fsdecode(b"caf\xe9")  # how a Latin-1 name arrives in argv under a UTF-8 locale


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# A misuse of a command (a missing option, an unknown option or command) keeps click's lines (issue
# 18): "Usage: ...", "Try '... -h' for help.", a blank line, then the one "Error: ..." line.  A bad
# value -- also one click cannot convert (--d x) -- is one "prunegap: error:" line.
CLICK_USAGE_LINES = True


def one_line(code, err):
    """Exit 2 and exactly one line saying what is wrong, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err and err.endswith("\n"), err
    lines = err.splitlines()
    if CLICK_USAGE_LINES and lines and lines[0].startswith("Usage: "):
        lines = [ln for ln in lines if ln and not ln.startswith(("Usage: ", "Try '"))]
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "Invalid value" not in lines[0], err
    else:
        assert len(lines) == 1 and lines[0].startswith("prunegap: error:"), err


def digest(path: Path) -> bytes:
    return hashlib.sha256(path.read_bytes()).digest()


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root: links by target, regular files by size, mtime and hash (never opened
    otherwise: a FIFO would block)."""
    seen: dict[str, tuple] = {}
    for here, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(here) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                seen[rel] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                seen[rel] = ("file", st.st_size, st.st_mtime_ns, digest(p))
            else:
                seen[rel] = (stat.S_IFMT(st.st_mode),)
    return seen


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A workspace of inputs each row starts from: a sweep folder, a result folder, configs, odd files."""
    root = tmp_path_factory.mktemp("hostile") / "ws"
    root.mkdir()
    run_sweep(parse_config(TINY), root / "sweep", workers=1)
    assert main([*SOLVE, "--out", str(root / "result")]) == 0
    (root / "afile").write_text("a file, not a folder\n")
    (root / "adir").mkdir()
    (root / "cfg.toml").write_text(TINY_TOML)
    (root / "bad.toml").write_text("seeds = [\n")
    (root / "tls.json").write_text(json.dumps({"address": "tls://127.0.0.1:1"}))
    (root / "ucx.json").write_text(json.dumps({"address": "ucx://127.0.0.1:1"}))
    np.savez(root / "strings.npz", U=np.array([["a", "b"]]), V=np.array([["c"]]),
             hidden_mask=np.array([["1", "1"]]), output_mask=np.array([["1"]]))
    shutil.copytree(root / "sweep", root / "truncated")
    db = root / "truncated" / DB_NAME
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    return root


@pytest.fixture
def ws(template, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the workspace per test (a refusal that fails must not spoil the next one),
    with a FIFO (not copyable) and the working directory inside it."""
    root = tmp_path / "ws"
    shutil.copytree(template, root, symlinks=True)
    os.mkfifo(root / "fifo")
    monkeypatch.chdir(root)
    return root


# 1. data loss through --out --------------------------------------------------------------------
@pytest.mark.parametrize("how", ["same path", "symlink", "hard link", "log"])
def test_results_never_writes_onto_the_database(ws, capsys, how):
    db = ws / "sweep" / DB_NAME
    before = digest(db)
    if how == "same path":
        out = db
    elif how == "symlink":
        out = ws / "rows.csv"
        out.symlink_to(db)
    elif how == "hard link":
        out = ws / "rows.csv"
        os.link(db, out)
    else:
        out = ws / "sweep" / f"{DB_NAME}.wal"
    code, _, err = run(["results", ws / "sweep", "--format", "csv", "--out", out], capsys)
    one_line(code, err)
    assert digest(db) == before and not (ws / "sweep" / f"{DB_NAME}.wal").exists()
    with Store.open(ws / "sweep") as s:  # still the database it was
        assert len(s.rows(masks=False)) == 1


def test_results_never_writes_onto_another_folders_database(ws, capsys):
    other = ws / "truncated" / DB_NAME
    before = digest(other)
    code, _, err = run(["results", ws / "sweep", "--out", other], capsys)
    one_line(code, err)
    assert "results database" in err and digest(other) == before


def test_the_library_export_refuses_its_own_database_too(ws):
    db = ws / "sweep" / DB_NAME
    before = digest(db)
    with Store.open(ws / "sweep") as s, pytest.raises(InvalidArgument, match="results database|input"):
        s.export("csv", db)
    assert digest(db) == before


@pytest.mark.parametrize("name", ["ticket.npz", "result.json", "link.npz"])
def test_export_never_writes_onto_its_own_ticket(ws, capsys, name):
    folder = ws / "result"
    before = {p.name: digest(p) for p in folder.iterdir()}
    out = folder / name
    if name == "link.npz":
        out.symlink_to(folder / "ticket.npz")
    code, _, err = run(["export", folder, "--format", "npz", "--out", out], capsys)
    one_line(code, err)
    assert "input" in err
    assert {p.name: digest(p) for p in folder.iterdir() if p.name != "link.npz"} == before


def test_the_library_export_refuses_its_own_ticket_too(ws):
    pytest.importorskip("torch")
    from prunegap.torch.export import export_ticket

    ticket = ws / "result" / "ticket.npz"
    before = digest(ticket)
    with pytest.raises(InvalidArgument, match="input"):
        export_ticket(ws / "result", ticket, "npz")
    assert digest(ticket) == before


def test_solve_never_writes_onto_its_target_file(ws, capsys):
    # a network target that happens to be called ticket.npz, in the folder the ticket goes to
    folder = ws / "mine"
    folder.mkdir()
    target = folder / "ticket.npz"
    np.savez(target, W1=np.array([[1.0, 0.5]]), c=np.array([1.0]))
    before = digest(target)
    for cmd in (SOLVE, ["width", "--paradigm", "weight", "--d", "2", "--seed", "0", "--eps", "0.1"]):
        code, _, err = run([*cmd, "--target", "network", "--target-file", target, "--out", folder], capsys)
        one_line(code, err)
        assert "input" in err and digest(target) == before


def test_gap_never_writes_onto_its_config(ws, capsys):
    config = ws / "mine" / "summary.json"  # any name: a TOML file where the report goes
    config.parent.mkdir()
    config.write_text(TINY_TOML)
    code, _, err = run(["gap", "--config", config, "--out", config.parent, "--progress", "none"], capsys)
    one_line(code, err)
    assert config.read_text() == TINY_TOML and not (config.parent / DB_NAME).exists()


def test_an_output_is_never_a_device_or_a_pipe(ws, capsys):
    code, _, err = run(["results", ws / "sweep", "--out", ws / "fifo"], capsys)
    one_line(code, err)
    assert "not a regular file" in err and stat.S_ISFIFO((ws / "fifo").lstat().st_mode)


def test_the_database_names_are_the_stores():
    assert DATABASE_FILES == (DB_NAME, f"{DB_NAME}.wal")


def test_check_output_in_short(tmp_path):
    """The helper every command's --out goes through (what the rest of this file walks)."""
    (tmp_path / "f").write_text("x")
    assert check_output(tmp_path / "new" / "deeper" / "x.csv") == tmp_path / "new" / "deeper" / "x.csv"
    assert check_output(tmp_path / "o", folder=True, files=(DB_NAME,), allow_database=True) == tmp_path / "o"
    with pytest.raises(InvalidArgument, match="results database"):
        check_output(tmp_path / "o", folder=True, files=(DB_NAME,))
    with pytest.raises(InvalidArgument, match="lies under"):
        check_output(tmp_path / "f" / "x.csv")
    with pytest.raises(InvalidArgument, match="is a folder"):
        check_output(tmp_path)
    with pytest.raises(InvalidArgument, match="is a file"):
        check_output(tmp_path / "f", folder=True)
    with pytest.raises(InvalidArgument, match="UTF-8"):
        check_output(tmp_path / UNDECODABLE)
    with pytest.raises(InvalidArgument, match="input"):
        check_output(tmp_path / "g", inputs=[tmp_path / "x" / ".." / "g"])
    # an OSError about the output is one line naming it; any other passes through
    with pytest.raises(InvalidArgument, match="cannot write there"):
        with output_errors(tmp_path / "f" / "x", folder=True):
            (tmp_path / "f" / "x").mkdir(parents=True)
    with pytest.raises(FileNotFoundError):
        with output_errors(tmp_path / "o", folder=True):
            open("/nonexistent-prunegap-input")


# 3. input faults ------------------------------------------------------------------------------
def test_an_existing_folder_whose_name_is_not_utf8_is_one_line(ws, capsys):
    folder = ws / UNDECODABLE
    shutil.copytree(ws / "sweep", folder)
    before = snapshot(ws)
    for argv in (["results", folder], ["report", folder], ["results", ws / "sweep", "--out", folder / "x.csv"]):
        code, _, err = run(argv, capsys)  # DuckDB said "RuntimeError: std::bad_cast"
        one_line(code, err)
        assert "UTF-8" in err and "caf\\udce9" in err
    assert snapshot(ws) == before


@pytest.mark.parametrize("limit", ["1e30", "1e400", "2e18"])
def test_a_memory_limit_beyond_the_kernels_is_refused_before_any_trial(ws, capsys, limit):
    code, _, err = run(["gap", "--config", ws / "cfg.toml", "--out", ws / "g", "--progress", "none",
                        "--memory-limit", limit], capsys)
    one_line(code, err)
    assert f"--memory-limit must be a positive size of at most 1EiB (2**60 bytes), got {limit!r}" in err
    assert not (ws / "g").exists()


@pytest.mark.parametrize("limit", [10**30, 2**26 - 1, -1, "4GiB", 1.5, True])
def test_the_library_checks_the_memory_limit(limit):
    with pytest.raises(InvalidArgument, match="memory_limit must be a number of bytes from 2\\*\\*26"):
        check_memory_limit(limit)


def test_run_sweep_refuses_a_memory_limit_beyond_the_kernels_before_any_trial(tmp_path):
    with pytest.raises(InvalidArgument):
        run_sweep(parse_config(TINY), tmp_path / "g", workers=2, memory_limit=10**30)
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("size", ["1e400", "inf", "nan", "2e18", "0", "-1"])
def test_a_memory_budget_is_a_finite_positive_size(ws, capsys, size):
    code, _, err = run([*SOLVE, "--out", ws / "s", "--memory-budget", size], capsys)
    one_line(code, err)
    assert f"--memory-budget must be a " in err and repr(size) in err and not (ws / "s").exists()


@pytest.mark.parametrize("cmd", ["solve", "width", "gap", "results", "export", "popup"])
@pytest.mark.parametrize("fault", ["under a file", "a folder where a file goes", "undecodable", "proc"])
def test_out_faults_are_one_line(ws, capsys, cmd, fault):
    file_out = cmd in ("results", "export")
    out = {
        "under a file": ws / "afile" / "x.npz",
        "a folder where a file goes": ws / "adir" if file_out else ws / "afile",
        "undecodable": ws / f"{UNDECODABLE}.npz",
        "proc": Path("/proc/prunegap-nowhere/x.npz"),
    }[fault]
    argv = {
        "solve": SOLVE,
        "width": ["width", "--paradigm", "weight", "--d", "2", "--seed", "0", "--eps", "0.1"],
        "gap": ["gap", "--config", ws / "cfg.toml", "--progress", "none"],
        "results": ["results", ws / "sweep"],
        "export": ["export", ws / "result", "--format", "npz"],
        "popup": ["popup", "--dataset", "teacher", "--paradigm", "weight", "--width", "4", "--density", "0.5",
                  "--seed", "0", "--epochs", "1"],
    }[cmd]
    before = snapshot(ws)
    code, _, err = run([*argv, "--out", out], capsys)
    one_line(code, err)
    assert "--out" in err and snapshot(ws) == before


_RO_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'


def _read_only(folder: Path) -> tuple[list[str], str]:
    """A command prefix that runs with ``folder`` read-only, and the reason the refusal names:
    for root (whom chmod does not bind) a read-only bind mount in a mount namespace of its own."""
    if os.geteuid() != 0:
        for p in (folder, *folder.iterdir()):
            if p.is_dir():
                p.chmod(0o555)
        return [], "permission denied"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", _RO_MOUNT, str(folder), "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("running as root, and no read-only bind mount (unshare -m) here")
    return ["unshare", "-m", "sh", "-c", _RO_MOUNT, str(folder)], "a read-only filesystem"


@pytest.mark.parametrize("cmd", ["solve", "results", "report", "gap"])
def test_a_read_only_folder_is_one_line_before_any_work(template, tmp_path, cmd):
    ro = tmp_path / "ro"
    shutil.copytree(template / "sweep", ro / "sweep")
    argv = {
        "solve": [*SOLVE, "--out", ro / "s"],
        "results": ["results", ro / "sweep", "--out", ro / "rows.csv"],
        "report": ["report", ro / "sweep"],
        "gap": ["gap", "--config", template / "cfg.toml", "--out", ro / "g"],
    }[cmd]
    before = snapshot(ro)
    try:
        prefix, reason = _read_only(ro)
        r = subprocess.run([*prefix, sys.executable, "-m", "prunegap", *map(str, argv)], capture_output=True,
                           text=True, timeout=120, cwd=tmp_path)
    finally:
        for p in (ro, *ro.iterdir()):
            if p.is_dir():
                p.chmod(0o755)
    where = "there" if cmd == "report" else f"in {str(ro)!r}"
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and f"cannot create files {where} ({reason})" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and snapshot(ro) == before


@pytest.mark.parametrize("file, needle", [
    ("tls.json", "a tls:// scheduler needs Dask's TLS settings"),
    ("ucx.json", "address scheme ucx:// is not one Dask can use here; allowed: tcp://, tls://, ws://, wss://"),
])
def test_a_scheduler_file_with_an_address_dask_cannot_use_here(ws, capsys, file, needle):
    pytest.importorskip("distributed")
    code, _, err = run(["gap", "--config", ws / "cfg.toml", "--out", ws / "g", "--progress", "none",
                        "--scheduler", ws / file], capsys)
    one_line(code, err)
    assert needle in err and file in err and not (ws / "g").exists()


def test_a_tls_scheduler_is_taken_when_dask_has_tls_settings(tmp_path):
    """tls:// is supported as Dask supports it: with certificates in Dask's config."""
    pytest.importorskip("distributed")
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    import dask

    from prunegap.sweep.executors import _check_address

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    tls = {"distributed.comm.tls.ca-file": str(cert), "distributed.comm.tls.client.cert": str(cert),
           "distributed.comm.tls.client.key": str(key)}
    with dask.config.set(tls):
        _check_address("tls://127.0.0.1:8786", "tls://127.0.0.1:8786")  # no refusal
    with pytest.raises(InvalidArgument, match="needs Dask's TLS settings"):
        _check_address("tls://127.0.0.1:8786", "tls://127.0.0.1:8786")


@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_scheduler_names_what_a_scheduler_is(ws, capsys, value):
    code, _, err = run(["gap", "--config", ws / "cfg.toml", "--out", ws / "g", "--scheduler", value], capsys)
    one_line(code, err)
    assert f"--scheduler must be a scheduler address such as tcp://10.0.0.5:8786 or the path of a Dask scheduler file, got {value!r}" in err
    assert not (ws / "g").exists()
    with pytest.raises(InvalidArgument, match="scheduler must be a scheduler address"):
        make_executor("dask", scheduler=value)


@pytest.mark.parametrize("d", ["1", "2", "3"])
@pytest.mark.parametrize("tol", ["nan", "-1", "0", "inf"])
def test_tol_is_a_positive_number_in_every_d(ws, capsys, d, tol):
    for cmd in (["solve", "--width", "10"], ["width", "--max-width", "16"]):
        code, _, err = run([*cmd, "--paradigm", "weight", "--d", d, "--seed", "0", "--eps", "0.1", "--tol", tol,
                            "--out", ws / "t"], capsys)
        one_line(code, err)
        assert "--tol must be a positive finite number" in err and not (ws / "t").exists()


def test_the_help_says_where_tol_matters(capsys):
    main(["solve", "--help"])
    assert "used only in d >= 3" in " ".join(capsys.readouterr().out.split())


# the walker --------------------------------------------------------------------------------------
# Each row: the command line (a template: {name} is a path of the workspace), its id, and marks.
# A row's options come after the base's: click keeps the last value of an option.
_SOLVE = "solve --paradigm weight --d 2 --width 10 --seed 0 --eps 0.1 --out {new}"
_WIDTH = "width --paradigm weight --d 2 --seed 0 --eps 0.1 --max-width 64 --out {new}"
_GAP = "gap --config {cfg.toml} --out {new} --progress none --workers 1"
_POPUP = "popup --dataset teacher --paradigm weight --width 4 --density 0.5 --seed 0 --epochs 1 --out {new}"
_EXPORT = "export {result} --format npz --out {new}.npz"
_RESULTS = "results {sweep} --format csv --out {new}.csv"


def _rows() -> list:
    bad_numbers = ["0", "-1", "nan", "inf", "1e400", "x", "''"]
    rows: list = []

    def add(base, extra, *marks, sub=False, id=None):
        rows.append(pytest.param(f"{base} {extra}", sub, id=id or f"{base.split()[0]} {extra}", marks=list(marks)))

    # solve and width
    for opt in ("--d", "--width", "--eps"):
        for v in bad_numbers:
            add(_SOLVE, f"{opt} {v}")
    for v in ("-1", "x", "1.5", "''"):
        add(_SOLVE, f"--seed {v}")
    for v in ("nan", "-1", "0", "inf", "x"):
        add(_SOLVE, f"--tol {v}")
        add(_WIDTH, f"--tol {v}")
    for opt, v in (("--paradigm", "weights"), ("--paradigm", "''"), ("--method", "greedy"), ("--init", "x"),
                   ("--output", "tanh"), ("--norm", "l1"), ("--objective", "x"), ("--target", "x"),
                   ("--w", "'1,x'"), ("--w", "1,2,3"), ("--w", "nan,1"), ("--memory-budget", "1e400"),
                   ("--memory-budget", "0"), ("--memory-budget", "lots"), ("--memory-budget", "''"),
                   ("--memory-budget", "nan"), ("--time-limit", "0"), ("--time-limit", "nan"), ("--time-limit", "inf"),
                   ("--threads", "0"), ("--threads", "100000"), ("--local-search", "-1"), ("--target-width", "3"),
                   ("--block", "0"), ("--nm", "x")):
        add(_SOLVE, f"{opt} {v}")
    add(_SOLVE, "--paradigm nm --nm 5:4")
    add(_SOLVE, "--paradigm block --block 0")
    add(_SOLVE, "--target network --target-file {missing}")
    add(_SOLVE, "--target network --target-file {adir}")
    add(_SOLVE, "--target network --target-file {afile}")
    for out in ("{afile}", "{afile}/x", "{undecodable}", "{result}/ticket.npz", "{fifo}"):
        add(_SOLVE, f"--out {out}")
    for v in ("0", "-1", "x", "nan"):
        add(_WIDTH, f"--max-width {v}")
    for extra in ("--bound x", "--bound lower", "--conflict-limit 0", "--search-conflict-limit 0", "--eps nan",
                  "--out {afile}", "--out {undecodable}", "--d 0"):
        add(_WIDTH, extra)
    # resources bounded up front (helpers G and C): run in a child with a cap and a clock
    add(_SOLVE, "--width 10000000000", sub=True)
    add(_SOLVE, "--d 10000", sub=True)
    add(_WIDTH, "--d 10000", sub=True)

    # gap
    for v in ("0", "-1", "5000", "x"):
        add(_GAP, f"--workers {v}")
    for v in ("spark", "''"):
        add(_GAP, f"--executor {v}")
    for v in ("-1", "1000", "x"):
        add(_GAP, f"--retries {v}")
    for v in ("1e30", "1e400", "12", "lots", "''", "nan", "-1", "2e18"):
        add(_GAP, f"--memory-limit {v}")
    for extra in ("--scheduler ''", "--scheduler '  '", "--scheduler {tls.json}", "--scheduler {ucx.json}",
                  "--scheduler inproc://x", "--scheduler foo://x:1", "--scheduler {missing}",
                  "--scheduler {bad.toml}", "--executor local --scheduler tcp://127.0.0.1:1", "--progress x",
                  "--config {missing}", "--config {adir}", "--config {bad.toml}", "--config {undecodable}",
                  "--out {afile}", "--out {afile}/x", "--out {undecodable}", "--out {result}/ticket.npz",
                  "--shard x", "--shard 0/2", "--shard 3/2", "--shard ''"):
        add(_GAP, extra)
    add(_GAP, "--config /dev/zero --show-config", sub=True)
    add(_GAP, "--config {budget.toml}")
    add(_GAP, "--out {truncated}")

    # report and results
    for folder in ("{missing}", "{afile}", "{adir}", "{undecodable}", "''", "{fifo}"):
        add("report", folder)
        add("results", folder)
    add("report", "{truncated}")
    add("results", "{truncated}")
    for extra in ("--format x", "--format ''", "--table x", "--table popup", "--out {sweep}/results.duckdb",
                  "--out {sweep}/results.duckdb.wal", "--out {truncated}/results.duckdb", "--out {adir}",
                  "--out {afile}/x.csv", "--out {undecodable}.csv", "--out {fifo}", "--out /proc/prunegap-x/x.csv",
                  "--out ''", "--out {sweep}"):
        add(_RESULTS, extra)

    # export
    for source in ("{missing}", "{adir}", "{afile}", "{undecodable}", "''"):
        add(_EXPORT.replace("{result}", source), "", id=f"export {source}")
    for extra in ("--format x", "--format ''", "--output x", "--out {result}/ticket.npz", "--out {result}/result.json",
                  "--out {adir}", "--out {afile}/x.npz", "--out {undecodable}.npz", "--out {fifo}",
                  "--out {new}.pt", "--out {sweep}/results.duckdb"):
        add(_EXPORT, extra)
    add(_EXPORT.replace("{result}", "{strings.npz}"), "",
        id="export {strings.npz}")

    # popup
    for opt, values in (("--width", ("0", "-1", "x")), ("--density", ("0", "1.5", "nan", "-1")), ("--seed", ("-1",)),
                        ("--epochs", ("0", "-1")), ("--batch-size", ("0",)), ("--lr", ("nan", "-1", "0", "inf")),
                        ("--momentum", ("nan", "-1")), ("--weight-decay", ("-1", "nan")), ("--d", ("0",)),
                        ("--teacher-width", ("0",)), ("--n-train", ("0",)), ("--n-test", ("0",)),
                        ("--dataset", ("x", "''")), ("--paradigm", ("x",)), ("--optimizer", ("x",)),
                        ("--init", ("x",)), ("--scale", ("x",)), ("--output", ("x",)), ("--device", ("x", "''")),
                        ("--dtype", ("x",)), ("--out", ("{afile}", "{afile}/x", "{undecodable}", "{fifo}"))):
        for v in values:
            add(_POPUP, f"{opt} {v}")

    # merge (helper E)
    for extra in ("{afile} {sweep}", "{new} {missing}", "{undecodable} {sweep}", "{sweep} {sweep}", "{new} {afile}",
                  "{new} {undecodable}", "{afile}/x {sweep}"):
        add("merge", extra)
    return rows


ROWS = _rows()


def _argv(template: str, ws: Path) -> list[str]:
    names = {"new": str(ws / "new"), "missing": str(ws / "missing"), "undecodable": str(ws / UNDECODABLE)}
    args = []
    for word in shlex.split(template):
        for key, value in names.items():
            word = word.replace("{" + key + "}", value)
        while "{" in word:  # a file of the workspace by name
            start = word.index("{")
            end = word.index("}", start)
            word = word[:start] + str(ws / word[start + 1:end]) + word[end + 1:]
        args.append(word)
    return args


def _child(argv: list[str], cwd: Path) -> tuple[int, str]:
    def cap() -> None:  # a row that is not refused must not take the machine
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))

    try:
        r = subprocess.run([sys.executable, "-m", "prunegap", *argv], capture_output=True, text=True, timeout=30,
                           cwd=cwd, preexec_fn=cap)
    except subprocess.TimeoutExpired:
        pytest.fail(f"not refused within 30 s: {argv}")
    return r.returncode, r.stderr


def test_the_walker_covers_every_command():
    commands = {p.values[0].split()[0] for p in ROWS}
    from prunegap.cli import app

    import typer

    assert commands == {c.name for c in typer.main.get_command(app).commands.values()}
    assert len(ROWS) >= 150


@pytest.mark.parametrize("row, sub", ROWS)
def test_every_command_refuses_bad_input_with_one_line_and_changes_nothing(ws, capsys, row, sub):
    (ws / "budget.toml").write_text(TINY_TOML.replace("max_width = 64", "max_width = 64\noptions = { memory_budget = -1 }"))
    argv = _argv(row, ws)
    before = snapshot(ws)
    if sub:
        code, err = _child(argv, ws)
    else:
        code, _, err = run(argv, capsys)
    one_line(code, err)
    assert snapshot(ws) == before
