"""Typed, self-describing exports (issue 18, item 3): Parquet with nested columns and metadata,
NDJSON, one CSV writer, and the format_version of result.json and summary.json."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from prunegap._version import __version__
from prunegap.cli import main
from prunegap.io import RESULT_FORMAT_VERSION
from prunegap.report import SUMMARY_FORMAT_VERSION, build_report
from prunegap.sweep import Store, parse_config, run_sweep
from prunegap.sweep.schema import POPUP, TRIALS
from prunegap.sweep.store import EXPORT_FORMAT_VERSION, JSON_COLUMNS, _parquet_column

DOCS = Path(__file__).resolve().parents[1] / "docs" / "schemas.md"

# Three solvers with different statistics, one study with options, one network target beside
# one-neuron targets: the heterogeneity an export has to carry (about 2 s, in-process).
MIXED = {
    "seeds": [0],
    "dims": [2],
    "eps": [0.3],
    "studies": [
        {"paradigm": "weight", "method": "construction", "max_width": 128},
        {"name": "nmip", "paradigm": "neuron", "max_width": 128, "options": {"conflict_limit": 20000}},
        {"name": "wnet", "paradigm": "weight", "target": "network", "target_width": [2], "max_width": 256},
    ],
}
# One study without options: the plainest sweep.
PLAIN = {"seeds": [0, 1], "dims": [2], "eps": [0.3],
         "studies": [{"paradigm": "weight", "method": "construction", "max_width": 128}]}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mixed") / "sweep"
    run_sweep(parse_config(MIXED, source="mixed"), folder, workers=1)
    return folder


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plain") / "sweep"
    run_sweep(parse_config(PLAIN, source="plain"), folder, workers=1)
    return folder


@pytest.fixture(scope="module")
def summary(plain) -> dict:
    return json.loads(build_report(plain).summary.read_text())


def stored(folder: Path) -> list[dict]:
    with Store.open(folder) as s:
        return s.rows()


def types_of(path: Path) -> dict[str, str]:
    return {name: kind for name, kind, *_ in duckdb.connect().execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()}


def pruned(value):
    """A value without the NULL fields a struct gives the keys a row lacks."""
    if isinstance(value, dict):
        return {k: pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def export(args: list[str], capfdbinary) -> tuple[int, bytes, str]:
    code = main(["results", *args])
    out, err = capfdbinary.readouterr()
    return code, out, err.decode()


# Parquet ----------------------------------------------------------------------------------
def test_parquet_nested_columns_are_typed_and_lossless(mixed, tmp_path, capfdbinary):
    dest = tmp_path / "rows.parquet"
    code, _, err = export([str(mixed), "--out", str(dest)], capfdbinary)
    assert code == 0, err
    assert dest.read_bytes()[:4] == b"PAR1"
    types = types_of(dest)
    assert types["steps"] == "STRUCT(width INTEGER, status VARCHAR)[]"
    # each solver's own statistics are fields of one struct: the construction's and the MIP's
    assert types["stats"].startswith("STRUCT") and "largest_group BIGINT" in types["stats"]
    assert '"rows" BIGINT' in types["stats"] and "backend VARCHAR" in types["stats"]
    assert types["timings"].startswith("STRUCT") and "step_seconds DOUBLE[]" in types["timings"]
    assert types["options"] == "STRUCT(conflict_limit BIGINT)"
    assert types["target"] == "JSON"  # a list (one neuron) in some rows, an object (a network) in others
    assert types["n_star"] == "INTEGER" and types["eps"] == "DOUBLE"
    names = [c for c in TRIALS.names if c not in TRIALS.blobs]
    assert list(types) == names
    rows = duckdb.connect().execute(f"SELECT * FROM read_parquet('{dest}')").fetchall()
    want = stored(mixed)
    assert len(rows) == len(want) == 3
    for got, row in zip((dict(zip(names, r)) for r in rows), want):
        assert got["key"] == row["key"]
        assert got["steps"] == [{"width": w, "status": s} for w, s in json.loads(row["steps"])]
        assert pruned(got["stats"]) == pruned(json.loads(row["stats"]))
        assert pruned(got["timings"]) == pruned(json.loads(row["timings"]))
        assert pruned(got["options"]) == json.loads(row["options"])
        assert json.loads(got["target"]) == json.loads(row["target"])
        assert {k: got[k] for k in names if k not in JSON_COLUMNS["trials"]} == \
            {k: row[k] for k in names if k not in JSON_COLUMNS["trials"]}


def test_parquet_of_one_kind_of_row(plain, tmp_path, capfdbinary):
    dest = tmp_path / "rows.pq"  # .pq names Parquet too
    assert export([str(plain), "--out", str(dest)], capfdbinary)[0] == 0
    types = types_of(dest)
    assert types["target"] == "DOUBLE[]"
    assert types["options"] == "MAP(VARCHAR, JSON)"  # no study sets an option: every row {}
    got = duckdb.connect().execute(f"SELECT options, target FROM read_parquet('{dest}')").fetchall()
    assert [(dict(o), t) for o, t in got] == [({}, json.loads(r["target"])) for r in stored(plain)]


def test_parquet_metadata_says_what_it_is(mixed, tmp_path, capfdbinary):
    dest = tmp_path / "rows.parquet"
    assert export([str(mixed), "--format", "parquet", "--out", str(dest)], capfdbinary)[0] == 0
    kv = {k.decode(): v.decode() for k, v in
          duckdb.connect().execute(f"SELECT key, value FROM parquet_kv_metadata('{dest}')").fetchall()}
    with Store.open(mixed) as s:
        meta = s.meta()
    assert kv["format_version"] == EXPORT_FORMAT_VERSION == "1"
    assert kv["prunegap_version"] == __version__
    assert kv["fingerprint"] == meta["fingerprint"] == parse_config(MIXED).fingerprint()
    assert kv["config_toml"] == meta["config_toml"] and "nmip" in kv["config_toml"]
    assert kv["table"] == "trials" and kv["results_schema"] == meta["schema"]
    columns = json.loads(kv["columns"])
    assert columns["steps"] == dict((c.name, c.meaning) for c in TRIALS.columns)["steps"]
    assert "hidden_mask" not in columns


def test_parquet_to_stdout_is_the_file(plain, tmp_path, capfdbinary):
    dest = tmp_path / "rows.parquet"
    assert export([str(plain), "--out", str(dest)], capfdbinary)[0] == 0
    code, out, _ = export([str(plain), "--format", "parquet"], capfdbinary)  # captured stdout is no terminal
    assert code == 0 and out and out == dest.read_bytes()


@pytest.mark.parametrize("values, want", [
    # keys of different rows, a value whose type differs between rows (a JSON leaf), a null row
    (['{"a": 1, "b": [1.5]}', '{"a": "x"}', None], "STRUCT(a JSON, b DOUBLE[])"),
    (['[1, 2]', '{"a": 1}'], "JSON"),  # a list in one row, an object in another
    (['{}', '{}'], "MAP(VARCHAR, JSON)"),
    (['{"A": 1}', '{"a": 2}'], "MAP(VARCHAR, JSON)"),  # a struct's field names ignore case
    (['{"n": 1}', '{"n": -2}', '{"n": null}'], "STRUCT(n BIGINT)"),
    ([None, None], "JSON"),
])
def test_parquet_type_of_heterogeneous_json(values, want):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    expr = _parquet_column(con, "t", "x")
    con.execute(f"CREATE TABLE typed AS SELECT {expr} FROM t")
    assert con.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'typed'").fetchone()[0] == want
    back = [r[0] for r in con.execute("SELECT to_json(x) FROM typed").fetchall()]
    for text, value in zip(values, back):  # every value survives, but for the NULL fields of absent keys
        assert (value is None) == (text is None)
        if text is not None:
            assert pruned(json.loads(value)) == pruned(json.loads(text))


def test_popup_table_exports_its_config_typed(plain, tmp_path, capfdbinary):
    # two runs whose configurations have different keys (an edge-popup run; a certified optimum)
    folder = tmp_path / "copy"
    shutil.copytree(plain, folder)
    configs = [{"dataset": "teacher", "epochs": 2, "lr": 0.1}, {"method": "mip", "eps": 0.05}]
    with Store.open(folder, read_only=False) as s:
        s.ensure_popup()
        for i, cfg in enumerate(configs):
            s.record(POPUP.row(key=f"run{i}", kind="data" if i == 0 else "optimum", paradigm="weight", width=8,
                               seed=i, config=json.dumps(cfg), status="ok", test_loss=0.5 + i),
                     table=POPUP)
    dest = tmp_path / "popup.parquet"
    code, _, err = export([str(folder), "--table", "popup", "--out", str(dest)], capfdbinary)
    assert code == 0, err
    types = types_of(dest)
    assert types["config"] == 'STRUCT(dataset VARCHAR, epochs BIGINT, eps DOUBLE, lr DOUBLE, "method" VARCHAR)'
    assert "hidden_mask" not in types and types["test_loss"] == "DOUBLE"
    got = duckdb.connect().execute(f"SELECT key, config FROM read_parquet('{dest}') ORDER BY key").fetchall()
    assert [(k, pruned(c)) for k, c in got] == [(f"run{i}", cfg) for i, cfg in enumerate(configs)]
    kv = dict(duckdb.connect().execute(f"SELECT key, value FROM parquet_kv_metadata('{dest}')").fetchall())
    assert kv[b"table"] == b"popup" and "test_loss" in json.loads(kv[b"columns"])
    code, out, _ = export([str(folder), "--table", "popup", "--format", "json"], capfdbinary)
    assert code == 0 and [json.loads(line)["config"] for line in out.decode().splitlines()] == configs


def test_json_columns_are_the_ones_the_schema_declares():
    for table in (TRIALS, POPUP):
        assert set(JSON_COLUMNS[table.name]) == {c.name for c in table.columns if "(JSON" in c.meaning}


# NDJSON -------------------------------------------------------------------------------------
def test_ndjson_one_object_per_line_with_nested_values(mixed, tmp_path, capfdbinary):
    code, out, err = export([str(mixed), "--format", "json"], capfdbinary)
    assert code == 0, err
    lines = out.decode().splitlines()
    want = stored(mixed)
    assert len(lines) == len(want)
    names = [c for c in TRIALS.names if c not in TRIALS.blobs]
    for line, row in zip(lines, want):
        obj = json.loads(line)
        assert list(obj) == names
        for c in JSON_COLUMNS["trials"]:
            assert not isinstance(obj[c], str) and obj[c] == json.loads(row[c]), c
        assert obj["key"] == row["key"] and obj["n_star"] == row["n_star"] and obj["eps"] == row["eps"]
        assert obj["limit"] is None  # NULL is null, never a missing key
    dest = tmp_path / "rows.ndjson"
    assert export([str(mixed), "--out", str(dest)], capfdbinary)[0] == 0  # the suffix names NDJSON
    assert dest.read_bytes() == out


def test_ndjson_writes_non_finite_numbers_as_null(plain, tmp_path, capfdbinary):
    folder = tmp_path / "copy"
    shutil.copytree(plain, folder)
    with Store.open(folder, read_only=False) as s:
        key = s.rows()[0]["key"]
        s.con.execute("UPDATE trials SET error_upper = 'inf'::DOUBLE WHERE key = ?", [key])
    code, out, _ = export([str(folder), "--format", "json"], capfdbinary)
    first = json.loads(out.decode().splitlines()[0])  # strict JSON: Infinity would not parse as a float here
    assert code == 0 and first["key"] == key and first["error_upper"] is None
    parquet = tmp_path / "rows.parquet"
    assert export([str(folder), "--out", str(parquet)], capfdbinary)[0] == 0
    got = duckdb.connect().execute(f"SELECT error_upper FROM read_parquet('{parquet}') WHERE key = ?", [key]).fetchone()[0]
    assert got == float("inf")  # Parquet keeps it


# CSV ----------------------------------------------------------------------------------------
def test_csv_stdout_and_file_are_one_writer(plain, tmp_path, capfdbinary):
    folder = tmp_path / "copy"
    shutil.copytree(plain, folder)
    with Store.open(folder, read_only=False) as s:
        keys = [r["key"] for r in s.rows()]
        s.con.execute("UPDATE trials SET reason = '' WHERE key = ?", [keys[0]])  # "" here, NULL in the others
    code, out, err = export([str(folder)], capfdbinary)
    assert code == 0, err
    dest = tmp_path / "rows.csv"
    assert export([str(folder), "--out", str(dest)], capfdbinary)[0] == 0
    assert out == dest.read_bytes()
    for path in (dest, tmp_path / "again.csv"):
        path.write_bytes(out)
        got = dict(duckdb.connect().execute(
            f"SELECT key, reason FROM read_csv('{path}', allow_quoted_nulls = false)").fetchall())
        assert got == {keys[0]: "", **{k: None for k in keys[1:]}}
    header = out.decode().splitlines()[0].split(",")
    assert header == [c for c in TRIALS.names if c not in TRIALS.blobs]


# formats, suffixes, refusals ---------------------------------------------------------------
@pytest.mark.parametrize("name, magic", [("r.csv", b"key,"), ("r.parquet", b"PAR1"), ("r.jsonl", b'{"key"'),
                                         ("r.json", b'{"key"'), ("r.txt", b"key,")])
def test_format_from_suffix(plain, tmp_path, capfdbinary, name, magic):
    dest = tmp_path / name
    code, _, err = export([str(plain), "--out", str(dest)], capfdbinary)
    assert code == 0 and err.strip() == f"wrote {dest}"
    assert dest.read_bytes().startswith(magic)


@pytest.mark.parametrize("args, needle", [
    (["--format", "csv", "--out", "x.parquet"], "ends in '.parquet', a parquet file, but --format is 'csv'"),
    (["--format", "parquet", "--out", "x.ndjson"], "ends in '.ndjson', a json file, but --format is 'parquet'"),
    (["--format", "xlsx"], "format must be one of 'csv', 'parquet', 'json', got 'xlsx'"),
    (["--table", "attempts"], "table must be one of 'trials', 'popup', got 'attempts'"),
])
def test_export_refusals_are_one_line(plain, tmp_path, capfdbinary, args, needle):
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    code, out, err = export([str(plain), *args], capfdbinary)
    assert code == 2 and out == b"" and err.count("\n") == 1 and needle in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written


# format_version of result.json and summary.json ----------------------------------------------
def test_result_json_has_format_version(tmp_path, capsys):
    argv = ["solve", "--paradigm", "weight", "--d", "2", "--seed", "0", "--eps", "0.3", "--width", "20"]
    assert main([*argv, "--out", str(tmp_path), "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["format_version"] == RESULT_FORMAT_VERSION == "1"
    assert out == (tmp_path / "result.json").read_text()  # --json prints what --out writes, byte for byte
    assert main(["width", "--paradigm", "weight", "--d", "2", "--seed", "0", "--eps", "0.3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format_version"] == "1"


def test_summary_json_has_format_version(summary):
    assert summary["format_version"] == SUMMARY_FORMAT_VERSION == "1"
    assert summary["fingerprint"] == parse_config(PLAIN).fingerprint()


def _documented(section: str) -> set[str]:
    """The keys the tables of one section of docs/schemas.md name (`key` in a row's first cell)."""
    text = DOCS.read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return {k for line in body.splitlines() if line.startswith("| `")
            for k in re.findall(r"`([a-z_]+)`", line.split("|")[1])}


def test_docs_name_every_key(plain, summary, capsys):
    keys: set[str] = set()
    for argv in (["solve", "--width", "20"], ["width", "--bound", "both"]):
        assert main([argv[0], "--paradigm", "weight", "--d", "2", "--seed", "0", "--eps", "0.3", *argv[1:], "--json"]) == 0
        keys |= set(json.loads(capsys.readouterr().out))
    assert keys - _documented("result.json") == set()
    assert set(summary) - _documented("summary.json") == set()
    with Store.open(plain) as s:
        assert set(s.export_metadata()) - _documented("The exports: CSV, NDJSON, Parquet") == set()
