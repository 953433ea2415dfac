"""open_sweep: a results folder as typed DataFrames, its summary and figures; read while a sweep
is still writing it, without locking the writer out; and the one-line messages of a folder that
cannot be opened (damaged, truncated, altered, not a database at all), with nothing written."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import prunegap.sweep.store as store_module
from prunegap.cli import main
from prunegap.exceptions import InvalidArgument, PrunegapError
from prunegap.report import build_report
from prunegap.report.opened import SweepResults, open_sweep
from prunegap.sweep import Store, parse_config, run_sweep
from prunegap.sweep.config import SweepConfig
from prunegap.sweep.schema import TRIALS
from prunegap.sweep.store import VOLATILE, DatabaseInUse
from prunegap.sweep.trials import empty_row

SMALL = {
    "seeds": [0, 1],
    "dims": [2],
    "eps": [0.1, 0.01],
    "time_limit": 60.0,
    "studies": [{"paradigm": "weight", "method": "construction", "max_width": 512}],
}
#: The sweep a subprocess writes slowly while the test reads it.
LIVE = {**SMALL, "seeds": [0, 1, 2, 3], "eps": [0.1]}


def stable(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def rows_of(folder):
    with Store.open(folder) as s:
        return s.rows()


def tree(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` (and the folder itself) with a digest of its bytes."""
    if not folder.exists():
        return {}
    if folder.is_file():
        return {".": hashlib.sha256(folder.read_bytes()).hexdigest()}
    out = {}
    for p in sorted(folder.rglob("*")):
        out[str(p.relative_to(folder))] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def snapshots_left() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("prunegap-snapshot-*")}


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Path:
    """A finished sweep of SMALL (4 certified trials)."""
    folder = tmp_path_factory.mktemp("real") / "sweep"
    run_sweep(parse_config(SMALL), folder, workers=1)
    return folder


@pytest.fixture
def no_figures(monkeypatch):
    """build_report without drawing: these tests are about its numbers and words (the figures
    have tests of their own, and drawing them is most of a report's time)."""
    import prunegap.report as report

    monkeypatch.setattr(report, "make_figures", lambda analysis, folder: {})
    monkeypatch.setattr(report, "popup_figures", lambda popup, folder: {})


@pytest.fixture
def mixed(tmp_path) -> Path:
    """A folder of synthetic rows: certified, unknown and failed, and one trial missing."""
    cfg = parse_config({**SMALL, "seeds": [0, 1, 2]})
    folder = tmp_path / "mixed"
    with Store.for_sweep(folder, cfg) as store:
        for i, t in enumerate(cfg.trials()[:-1]):
            r = empty_row(t)
            r["seconds"] = 0.5
            if i % 3 == 1:
                r.update(status="unknown", n_lower=4, n_upper=9, limit="node_limit (100)", calls=3,
                         steps=json.dumps([[4, "unknown"], [9, "yes"]]))
            elif i % 3 == 2:
                r.update(status="failed", reason="RuntimeError: synthetic")
            else:
                r.update(status="certified", n_star=7, n_lower=7, n_upper=7, width=7, verdict="yes",
                         error_lower=0.0, error_upper=0.05, kept_units=3, kept_weights=6, density=0.29, calls=2,
                         steps=json.dumps([[6, "no"], [7, "yes"]]), stats=json.dumps({"solver": {"nodes": 5}}))
            store.record(r)
    return folder


# the DataFrames ---------------------------------------------------------------------------------
def test_the_trials_are_typed_and_nested_in_store_order(real):
    sweep = open_sweep(real)
    assert isinstance(sweep, SweepResults)
    raw = rows_of(real)
    df = sweep.trials
    assert list(df.columns) == [c for c in TRIALS.names if c not in TRIALS.blobs]
    assert df["key"].tolist() == [r["key"] for r in raw]  # Store.rows() order
    assert set(TRIALS.json_columns) == {"options", "steps", "stats", "target", "timings"}
    for name in TRIALS.json_columns:
        assert df[name].dtype == object
        assert df[name].tolist() == [json.loads(r[name]) for r in raw]
        assert not any(isinstance(v, str) for v in df[name])
    assert all(isinstance(v, list) and all(isinstance(w, int) for w, _ in v) for v in df["steps"])
    assert all(isinstance(v, dict) for v in df["stats"])
    assert df["d"].dtype == "int64" and df["seed"].dtype == "int64"
    assert df["n_star"].dtype == "Int64" and df["n_star"].tolist() == [r["n_star"] for r in raw]
    assert isinstance(df["status"].dtype, pd.StringDtype)
    for name in ("error_lower", "error_upper", "eps", "density"):
        assert df[name].dtype == "float64"
        assert all(type(v) is float for v in df[name].tolist())  # plain floats, not np.float64
    assert (df["error_lower"] <= df["error_upper"]).all() and (df["error_upper"] <= df["eps"]).all()
    assert sweep.attempts["finished"].dtype.kind == "M" and len(sweep.attempts) == 4
    assert sweep.popup is None  # SMALL declares no popup study
    assert sweep.fingerprint == parse_config(SMALL).fingerprint() and isinstance(sweep.config, SweepConfig)
    assert not sweep.snapshot and sweep.complete and (sweep.stored, sweep.expected) == (4, 4)


def test_missing_values_and_counts_of_a_mixed_folder(mixed):
    sweep = open_sweep(mixed)
    df = sweep.trials
    assert len(df) == 5 and sweep.expected == 6 and not sweep.complete
    unknown = df[df["status"] == "unknown"]
    assert unknown["n_star"].isna().all() and unknown["n_lower"].tolist() == [4] * len(unknown)
    failed = df[df["status"] == "failed"]
    assert failed["steps"].tolist() == [[]] * len(failed) and failed["target"].tolist() == [None] * len(failed)
    assert failed["error_upper"].isna().all() and failed["n_star"].isna().all()
    assert failed["limit"].isna().all() and (failed["reason"] == "RuntimeError: synthetic").all()
    counts = sweep.counts.loc["weight-construction"].to_dict()
    assert counts == {"planned": 6, "stored": 5, "certified": 2, "unknown": 2, "failed": 1}
    text = repr(sweep)
    assert "5 of 6 trials stored, incomplete" in text and "2 certified, 2 unknown, 1 failed" in text
    assert text.count("\n") <= 4 and "snapshot" not in text
    page = sweep._repr_html_()
    assert "<table>" in page and "<td>weight-construction</td><td>6</td><td>5</td><td>2</td><td>2</td><td>1</td>" in page


def test_polars_has_the_same_rows_with_nested_types(mixed):
    pl = pytest.importorskip("polars")
    sweep = open_sweep(mixed)
    frame = sweep.to_polars()
    assert frame.columns == list(sweep.trials.columns) and frame.height == len(sweep.trials)
    assert frame.schema["n_star"] == pl.Int64 and frame.schema["eps"] == pl.Float64
    assert frame.schema["limit"] == pl.String
    assert frame.schema["steps"] == pl.List(pl.Struct({"width": pl.Int64, "status": pl.String}))
    assert frame["n_star"].to_list() == [None if v is pd.NA else v for v in sweep.trials["n_star"]]
    first = sweep.trials["steps"].iloc[0]
    assert frame["steps"][0].to_list() == [{"width": w, "status": s} for w, s in first]


def test_to_polars_without_polars_names_the_install(mixed, monkeypatch):
    sweep = open_sweep(mixed)
    monkeypatch.setitem(sys.modules, "polars", None)  # as if it were not installed
    with pytest.raises(PrunegapError, match=r"pip install polars"):
        sweep.to_polars()


def test_the_summary_is_the_reports_and_nothing_is_written(real, tmp_path, no_figures):
    before = tree(real)
    sweep = open_sweep(real)
    summary = sweep.summary
    assert sweep.analysis["trials"]["certified"] == 4
    assert tree(real) == before  # no summary.json, no figures, no lock files
    copy = tmp_path / "copy"
    shutil.copytree(real, copy)
    build_report(copy)
    assert summary == json.loads((copy / "summary.json").read_text())


def test_an_open_result_holds_no_lock(real, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(real, folder)
    sweep = open_sweep(folder)
    with Store.for_sweep(folder, parse_config(SMALL)) as writer:  # would fail while a reader held the file
        assert writer.count() == sweep.stored


# a folder a sweep is writing ---------------------------------------------------------------------
class Holder:
    """Another process that holds the database open for writing, as a running sweep does."""

    def __init__(self, db: Path) -> None:
        code = "import duckdb, sys\nc = duckdb.connect(sys.argv[1])\nprint('ready', flush=True)\nsys.stdin.read()\n"
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(db)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def __enter__(self) -> "Holder":
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(30) == 0


def test_a_held_database_is_in_use_unless_a_snapshot_is_asked_for(real, tmp_path, no_figures):
    folder = tmp_path / "held"
    shutil.copytree(real, folder)
    with Holder(folder / "results.duckdb"):
        with pytest.raises(DatabaseInUse, match="in use by another process"):
            Store.open(folder)
        left = snapshots_left()
        with Store.open(folder, snapshot=True) as store:
            assert store.snapshot and store.rows() == rows_of(real)
        assert snapshots_left() == left  # the private copy went with the store
        sweep = open_sweep(folder)
        assert sweep.snapshot and "snapshot of a running sweep" in repr(sweep)
        assert sweep.trials["key"].tolist() == [r["key"] for r in rows_of(real)]
        report = build_report(folder)  # a report of a running sweep says what it is
        assert report.markdown.startswith("Note: a sweep is still writing") and report.summary.exists()


def test_a_torn_copy_is_copied_again(real, tmp_path, monkeypatch):
    folder = tmp_path / "torn"
    shutil.copytree(real, folder)
    real_copy = shutil.copyfile
    tears = {"left": 2}

    def tearing(src, dst, *a, **kw):  # as a checkpoint racing the copy might leave it
        out = real_copy(src, dst, *a, **kw)
        if str(src).endswith(".duckdb") and tears["left"] > 0:
            tears["left"] -= 1
            data = Path(dst).read_bytes()
            Path(dst).write_bytes(data[: int(len(data) * 0.7)])
        return out

    monkeypatch.setattr(store_module.shutil, "copyfile", tearing)
    with Holder(folder / "results.duckdb"):
        assert open_sweep(folder).stored == 4 and tears["left"] == 0
        tears["left"] = 99  # every copy torn: one clear line, and no copy left behind
        left = snapshots_left()
        with pytest.raises(InvalidArgument, match=r"in use by a running sweep, and 5 copies of it could not be read.*truncated") as info:
            open_sweep(folder)
        assert "\n" not in str(info.value) and str(folder) in str(info.value) and snapshots_left() == left


def test_a_sweep_in_this_process_is_read_through_its_own_connection(real, tmp_path):
    folder = tmp_path / "here"
    shutil.copytree(real, folder)
    cfg = parse_config(SMALL)
    with Store.for_sweep(folder, cfg) as writer:
        sweep = open_sweep(folder)
        assert sweep.snapshot and sweep.stored == 4
        writer.delete("certified")  # the writer still writes after the read, and the next read sees it
        assert writer.count() == 0
        assert open_sweep(folder).stored == 0
    assert not open_sweep(folder).snapshot


def test_a_sweep_waits_for_a_reader_to_let_go(real, tmp_path):
    folder = tmp_path / "wait"
    shutil.copytree(real, folder)
    reader = Store.open(folder)  # a plain read-only open: holds the shared lock
    code = ("import sys, time\nfrom prunegap.sweep import Store\nfrom prunegap.sweep.config import parse_config\n"
            f"cfg = parse_config({SMALL!r})\nprint('opening', flush=True)\nt0 = time.monotonic()\n"
            f"Store.for_sweep({str(folder)!r}, cfg).close()\nprint(time.monotonic() - t0, flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "opening"
        time.sleep(0.8)  # the writer meets the reader's lock, and waits
    finally:
        reader.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert float(out) >= 0.5  # it waited for the reader instead of failing


def test_reading_a_running_sweep_never_disturbs_it(tmp_path):
    folder = tmp_path / "live"
    # The writer pauses after each commit (in its progress hook, which never changes a row), so
    # the reads below land between commits, and some while it writes.
    code = (
        "import time\nfrom prunegap.sweep import run_sweep\nfrom prunegap.sweep.config import parse_config\n"
        "from prunegap.sweep.progress import NullProgress\n"
        "class Slow(NullProgress):\n    def finished(self, trial, row):\n        time.sleep(0.5)\n"
        f"run_sweep(parse_config({LIVE!r}), {str(folder)!r}, workers=1, progress=Slow())\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    seen: list[list[str]] = []
    frames: list[pd.DataFrame] = []
    live = 0
    deadline = time.monotonic() + 120
    while writer.poll() is None and time.monotonic() < deadline:
        try:
            sweep = open_sweep(folder)
        except InvalidArgument as exc:  # before the writer created its tables
            assert "does not exist" in str(exc) or "not a prunegap results database" in str(exc), exc
            time.sleep(0.05)
            continue
        live += sweep.snapshot
        seen.append(sweep.trials["key"].tolist())
        frames.append(sweep.trials)
        time.sleep(0.1)
    _, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err[-2000:]
    final = rows_of(folder)
    keys = {r["key"] for r in final}
    assert len(final) == len(parse_config(LIVE).trials())
    sizes = [len(s) for s in seen]
    assert sizes == sorted(sizes), sizes  # rows only grow
    assert all(set(s) <= keys for s in seen)
    assert any(0 < n < len(final) for n in sizes) and live >= 3, (sizes, live)
    for s in seen:  # each read is in Store.rows() order: the final order, restricted
        assert s == [r["key"] for r in final if r["key"] in set(s)]
    done = open_sweep(folder).trials.set_index("key").drop(columns=list(VOLATILE))
    for frame in frames:  # every row read while it ran is the row it ended with
        pd.testing.assert_frame_equal(frame.set_index("key").drop(columns=list(VOLATILE)), done.loc[frame["key"]])
    run_sweep(parse_config(LIVE), tmp_path / "ref", workers=1)
    assert stable(final) == stable(rows_of(tmp_path / "ref"))  # as an undisturbed run
    assert open_sweep(folder).complete and not open_sweep(folder).snapshot


# what cannot be opened: one line, nothing written ------------------------------------------------
def _flip(db: Path) -> None:
    data = bytearray(db.read_bytes())
    for i in range(4096 + 100, 4096 + 116):  # inside the first block: its checksum fails
        data[i] ^= 0xFF
    db.write_bytes(bytes(data))


def _truncate_half(db: Path) -> None:
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])


def _cut_rows(db: Path) -> None:
    """Cut the file where its catalog and meta table still read, but its rows do not: the cut that
    used to pass the schema check and fail later, in the middle of a report."""
    data = db.read_bytes()
    for k in range(50, 95):
        db.write_bytes(data[: len(data) * k // 100])
        con = duckdb.connect(str(db), read_only=True)
        try:
            con.execute("SELECT * FROM meta").fetchall()
            con.execute("SELECT * FROM trials LIMIT 0").fetchall()
        except duckdb.Error:
            con.close()
            continue
        try:
            con.execute("SELECT * FROM trials").fetchall()
        except duckdb.Error:
            con.close()
            return
        con.close()
    raise AssertionError("no cut leaves the catalog readable and the rows not")


def _drop_column(db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE trials DROP COLUMN calls")
    con.execute("ALTER TABLE trials ADD COLUMN mood VARCHAR")
    con.close()


def _bad_json(db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute("UPDATE trials SET steps = '[[1, \"no\"' WHERE seed = 0")
    con.close()


def _directory(db: Path) -> None:
    db.unlink()
    db.mkdir()
    (db / "x").write_text("not a database")


def _text(db: Path) -> None:
    db.write_text("key,status\na,certified\n")


def _other_tables(db: Path) -> None:
    db.unlink()
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t (i INTEGER)")
    con.close()


DAMAGE = {
    "flipped": (_flip, r"results database: the file is damaged \(a block fails its checksum\)"),
    "half": (_truncate_half, r"the file is truncated"),
    "rows cut": (_cut_rows, r"the file is truncated"),
    "column dropped": (_drop_column, r"its trials table lacks column\(s\) calls; has column\(s\) schema 2 does not have: mood"),
    "directory": (_directory, r"results\.duckdb is a directory, not a results database file"),
    "text": (_text, r"not a readable results database: it is not a DuckDB file"),
    "other tables": (_other_tables, r"is a DuckDB file but not a prunegap results database"),
}


@pytest.fixture
def damaged(real, tmp_path, request):
    folder = tmp_path / "d"
    shutil.copytree(real, folder)
    damage, pattern = DAMAGE[request.param]
    damage(folder / "results.duckdb")
    return folder, pattern


@pytest.mark.parametrize("damaged", sorted(DAMAGE), indirect=True)
def test_open_sweep_of_a_damaged_folder_is_one_clear_error(damaged):
    folder, pattern = damaged
    before, left = tree(folder), snapshots_left()
    with pytest.raises(InvalidArgument, match=pattern) as info:
        open_sweep(folder)
    message = str(info.value)
    assert "\n" not in message and "in use" not in message
    assert tree(folder) == before and snapshots_left() == left


@pytest.mark.parametrize("damaged", sorted(DAMAGE), indirect=True)
def test_the_commands_name_the_damage_in_one_line(damaged, tmp_path, capsys):
    folder, pattern = damaged
    config = tmp_path / "small.toml"
    config.write_text(parse_config(SMALL).to_toml())
    before = tree(folder)
    for argv in (["results", str(folder)], ["report", str(folder)],
                 ["gap", "--config", str(config), "--out", str(folder), "--workers", "1", "--progress", "none"]):
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert err.count("\n") == 1 and "Traceback" not in err and "in use" not in err, err
        assert err.startswith("prunegap: error: ") and str(folder / "results.duckdb") in err, err
        if argv[0] != "gap":  # gap may refuse its --out earlier, in words of its own
            assert re.search(pattern, err), err
        assert tree(folder) == before, argv


def test_open_sweep_of_values_prunegap_never_writes(real, tmp_path):
    folder = tmp_path / "j"
    shutil.copytree(real, folder)
    _bad_json(folder / "results.duckdb")
    before = tree(folder)
    with pytest.raises(InvalidArgument, match=r"results\.duckdb: a column holds values prunegap never writes \(JSONDecodeError") as info:
        open_sweep(folder)
    assert "\n" not in str(info.value) and tree(folder) == before


@pytest.mark.parametrize("where", ["missing", "empty folder", "other files", "a file", "a file named results.duckdb"])
def test_open_sweep_of_what_is_not_a_sweep_folder(tmp_path, where):
    path = tmp_path / "x"
    if where == "empty folder":
        path.mkdir()
    elif where == "other files":
        path.mkdir()
        (path / "notes.txt").write_text("hello")
    elif where == "a file":
        path.write_text("[[studies]]\n")
    elif where == "a file named results.duckdb":
        path = tmp_path / "results.duckdb"
        path.write_text("not a database")
    before = tree(tmp_path)
    with pytest.raises(InvalidArgument) as info:
        open_sweep(path)
    message = str(info.value)
    assert "\n" not in message and str(path.parent if where.endswith("results.duckdb") else path) in message
    expected = {"missing": "does not exist", "empty folder": "does not exist; run `prunegap gap --out",
                "other files": "does not exist", "a file": "is a file, not a results folder",
                "a file named results.duckdb": "not a readable results database"}[where]
    assert expected in message
    assert tree(tmp_path) == before


def test_open_sweep_takes_the_database_file_too(real):
    assert open_sweep(real / "results.duckdb").trials["key"].tolist() == open_sweep(real).trials["key"].tolist()


def test_a_path_with_lock_or_wal_in_its_name_is_not_misread(real, tmp_path, capsys):
    # DuckDB quotes the path in its messages: "blocks" must not read as a lock, "walks" as a log
    folder = tmp_path / "blocks-walks"
    shutil.copytree(real, folder)
    (folder / "results.duckdb.wal").write_bytes(b"")
    _cut_rows(folder / "results.duckdb")
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "truncated" in err and "in use" not in err and "write-ahead log" not in err, err


# the figures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def paired(tmp_path_factory) -> Path:
    """A folder with a gap pair (neuron/mip over weight/construction), from test_report's synthetic rows."""
    from test_report import synthetic_config, synthetic_rows

    cfg = synthetic_config(seeds=8)
    folder = tmp_path_factory.mktemp("paired") / "sweep"
    rows, _ = synthetic_rows(cfg, unknown=[("neuron-mip", 0.05, 2)])
    with Store.for_sweep(folder, cfg) as store:
        for r in rows:
            store.record(r)
    return folder


@pytest.mark.parametrize("name", ["plot_nstar", "plot_gap", "plot_success"])
def test_the_plot_methods_draw_on_the_given_axes(paired, name):
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    sweep = open_sweep(paired)
    ax = Figure().subplots()
    assert getattr(sweep, name)(ax=ax) is ax and (ax.lines or ax.collections)
    try:
        drawn = getattr(sweep, name)()  # a new figure of the report's panels
        assert all(isinstance(a, Axes) for a in (drawn.ravel() if hasattr(drawn, "ravel") else [drawn]))
    finally:
        plt.close("all")
