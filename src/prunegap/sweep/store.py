"""The results database: one embedded DuckDB file, ``DIR/results.duckdb``.

Tables:

* ``meta(key, value)``: the sweep's fingerprint, its resolved config (TOML
  and JSON), the schema version and the prunegap version that created it;
* ``trials``: one row per finished trial (see :data:`COLUMNS`), keyed by the
  trial's key, with the ticket masks at the returned width as packed bits;
* ``attempts``: one row per attempt (see :data:`ATTEMPT_COLUMNS`): where it
  ran and how it ended -- a retried trial has several.  Run-dependent by
  nature, so it is kept apart from ``trials``, whose rows never depend on
  the run.

Only the driver writes; a trial's row and its last attempt are committed in
one transaction (DuckDB's write-ahead log makes a committed row survive a
kill -9), so an interrupted sweep loses only the trials in flight, and a
trial is never stored twice.  A folder belongs to one sweep: opening it for
a different fingerprint, or one written with a results schema this prunegap
does not know, is refused.  Schema 1 (no ``attempts`` table) is read as is
and upgraded in place when a sweep resumes into it.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterable

from .._version import __version__
from ..exceptions import InvalidArgument, PrunegapError

if TYPE_CHECKING:
    from ..masks import Masks
    from .config import SweepConfig

__all__ = ["Store", "COLUMNS", "ATTEMPT_COLUMNS", "DB_NAME", "EXPORT_FORMATS", "SCHEMA_VERSION", "masks_of"]

DB_NAME = "results.duckdb"
SCHEMA_VERSION = "2"
#: Results schemas this prunegap reads ("1" lacks the attempts table).
READABLE_SCHEMAS: tuple[str, ...] = ("1", "2")
EXPORT_FORMATS: tuple[str, ...] = ("csv", "parquet")
EXPORT_TABLES: tuple[str, ...] = ("trials", "popup")  # the certified trials; the edge-popup study

#: (column, SQL type, meaning) of the ``trials`` table.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("key", "VARCHAR PRIMARY KEY", "study/d/eps/seed: unique within the sweep"),
    ("study", "VARCHAR NOT NULL", "the study's name"),
    ("paradigm", "VARCHAR NOT NULL", "weight, neuron, ..."),
    ("method", "VARCHAR NOT NULL", "the paradigm's solver"),
    ("d", "INTEGER NOT NULL", "input dimension"),
    ("eps", "DOUBLE NOT NULL", "target error"),
    ("seed", "BIGINT NOT NULL", "instance seed (unit stream and target)"),
    ("init", "VARCHAR NOT NULL", "law of the random weights"),
    ("output", "VARCHAR NOT NULL", "output activation"),
    ("norm", "VARCHAR NOT NULL", "error norm"),
    ("max_width", "INTEGER NOT NULL", "largest width tried"),
    ("options", "VARCHAR NOT NULL", "solver options (JSON)"),
    ("time_limit", "DOUBLE", "wall-clock guard in seconds (NULL: none)"),
    ("status", "VARCHAR NOT NULL", "certified | unknown | failed"),
    ("n_star", "INTEGER", "minimal width (certified trials only)"),
    ("n_lower", "INTEGER", "proven: n* >= n_lower"),
    ("n_upper", "INTEGER", "proven: n* <= n_upper (NULL: not reached)"),
    ("width", "INTEGER", "width of the stored outcome and masks (n_upper, else the widest tried)"),
    ("verdict", "VARCHAR", "the paradigm's verdict at `width`: yes | no | unknown"),
    ("error_lower", "DOUBLE", "proven lower bound on every mask's error at `width`"),
    ("error_upper", "DOUBLE", "certified error of the ticket at `width`"),
    ("kept_units", "INTEGER", "units the ticket keeps"),
    ("kept_weights", "INTEGER", "weights the ticket keeps"),
    ("density", "DOUBLE", "fraction of weights kept"),
    ("limit", "VARCHAR", "the limit that fired (unknown trials)"),
    ("reason", "VARCHAR", "the exception (failed trials)"),
    ("calls", "INTEGER", "widths the search tried"),
    ("steps", "VARCHAR", "(width, status) in the order tried (JSON)"),
    ("stats", "VARCHAR", "solver and search statistics, timings removed (JSON)"),
    ("target", "VARCHAR", "the target w (JSON)"),
    ("hidden_mask", "BLOB", "ticket hidden mask (width x d), np.packbits"),
    ("output_mask", "BLOB", "ticket output mask (width), np.packbits"),
    ("seconds", "DOUBLE", "wall-clock seconds of the trial (varies between runs)"),
    ("timings", "VARCHAR", "timing statistics (JSON; vary between runs)"),
)
_NAMES = tuple(c for c, _, _ in COLUMNS)
#: (column, SQL type, meaning) of the ``attempts`` table.
ATTEMPT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("key", "VARCHAR NOT NULL", "the trial's key"),
    ("run", "INTEGER NOT NULL", "the invocation of the sweep (1, 2, ... per resume)"),
    ("attempt", "INTEGER NOT NULL", "1 for the first attempt of the trial in this run, 2 for its first retry, ..."),
    ("outcome", "VARCHAR NOT NULL", "ok | timeout | memory | crashed | lost"),
    ("worker", "VARCHAR", "the Dask worker's address, or host/pid of the local process that ran it"),
    ("pid", "INTEGER", "the attempt's own process (NULL: it ran in the worker)"),
    ("seconds", "DOUBLE", "wall-clock seconds of the attempt"),
    ("reason", "VARCHAR", "why the attempt was lost, crashed or stopped"),
    ("finished", "VARCHAR", "when the driver recorded it (UTC, ISO 8601)"),
)
_ATTEMPT_NAMES = tuple(c for c, _, _ in ATTEMPT_COLUMNS)
_BLOBS = ("hidden_mask", "output_mask")
#: Columns that vary between runs of the same trial; everything else is a
#: pure function of the trial.
VOLATILE: tuple[str, ...] = ("seconds", "timings")
_ORDER = "study, d, eps DESC, seed"


def _q(name: str) -> str:
    return f'"{name}"'


def _duckdb():
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise PrunegapError("the results database needs duckdb: pip install duckdb") from exc
    return duckdb


class Store:
    """A results folder's database.  Use :meth:`open` or :meth:`for_sweep`."""

    def __init__(self, con: Any, path: Path, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only

    # opening -------------------------------------------------------------
    @staticmethod
    def _connect(path: Path, read_only: bool) -> Any:
        duckdb = _duckdb()
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            msg = " ".join(str(exc).split())
            if "lock" in msg.lower():
                raise InvalidArgument(
                    f"{path} is in use by another process (is a sweep still running into this folder?): {msg}"
                ) from None
            wal = path.with_name(path.name + ".wal")
            if "wal" in msg.lower() and wal.exists():
                # The database itself holds every trial up to its last checkpoint;
                # only the log's are lost, and a rerun computes them again.
                raise InvalidArgument(
                    f"{path} cannot replay its write-ahead log ({msg}); move {wal} away to open the trials "
                    "stored before it (rerunning the sweep then computes the others again)"
                ) from None
            raise InvalidArgument(
                f"{path} is not a readable results database ({msg}); move it away or choose another folder"
            ) from None

    @classmethod
    def open(cls, folder: str | os.PathLike[str], *, read_only: bool = True) -> "Store":
        """An existing results folder (for ``report`` and ``results``)."""
        path = Path(folder) / DB_NAME
        if not path.is_file():
            hint = f"; run `prunegap gap --out {folder}` first" if Path(folder).is_dir() else ""
            raise InvalidArgument(f"{path} does not exist{hint}")
        store = cls(cls._connect(path, read_only), path, read_only)
        store._check_schema()
        return store

    @classmethod
    def for_sweep(cls, folder: str | os.PathLike[str], config: "SweepConfig") -> "Store":
        """The folder's database for ``config``: created, or reopened when it
        holds the same sweep (resume); refused when it holds another one."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise InvalidArgument(f"--out {str(folder)!r} exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / DB_NAME
        fresh = not path.exists()
        store = cls(cls._connect(path, False), path, False)
        try:
            # A kill -9 inside the creating transaction leaves a database without
            # tables: nothing to lose, so it is created again, as if fresh.
            if fresh or store._empty():
                store._create(config)
            else:
                store._check_schema()
                store._check_same(config)
                store._upgrade()
                # Same trials; the report parameters may have changed.
                store._set_meta({"config_toml": config.to_toml(), "config_json": json.dumps(config.to_dict())})
        except BaseException:
            store.close()
            raise
        return store

    def _create(self, config: "SweepConfig") -> None:
        cols = ", ".join(f"{_q(c)} {t}" for c, t, _ in COLUMNS)
        # One transaction: a kill -9 never leaves tables without their fingerprint.
        self.con.execute("BEGIN TRANSACTION")
        self.con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        self.con.execute(f"CREATE TABLE trials ({cols})")
        self._create_attempts()
        self._set_meta(
            {
                "schema": SCHEMA_VERSION,
                "fingerprint": config.fingerprint(),
                "experiment": json.dumps(config.experiment(), sort_keys=True),
                "config_toml": config.to_toml(),
                "config_json": json.dumps(config.to_dict()),
                "quick": "true" if config.quick else "false",
                "prunegap_version": __version__,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
        )
        self.con.execute("COMMIT")

    def _empty(self) -> bool:
        duckdb = _duckdb()
        try:
            return not self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        except duckdb.Error:
            return False  # unreadable: _check_schema says so

    def _create_attempts(self) -> None:
        cols = ", ".join(f"{_q(c)} {t}" for c, t, _ in ATTEMPT_COLUMNS)
        self.con.execute(f"CREATE TABLE attempts ({cols})")

    def _upgrade(self) -> None:
        """Schema 1 -> 2: add the (empty) attempts table; trials are unchanged."""
        if self.meta().get("schema") == SCHEMA_VERSION:
            return
        self.con.execute("BEGIN TRANSACTION")
        self._create_attempts()
        self._set_meta({"schema": SCHEMA_VERSION})
        self.con.execute("COMMIT")

    def _set_meta(self, items: dict[str, str]) -> None:
        for k, v in items.items():
            self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [k, v])

    def _check_schema(self) -> None:
        duckdb = _duckdb()
        try:
            tables = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if not {"meta", "trials"} <= tables:
                raise InvalidArgument(f"{self.path} is a DuckDB file but not a prunegap results database (no meta/trials tables)")
            schema = self.meta().get("schema")
            cols = [r[0] for r in self.con.execute("SELECT * FROM trials LIMIT 0").description]
        except duckdb.Error as exc:
            raise InvalidArgument(f"{self.path} is not a readable results database ({' '.join(str(exc).split())})") from None
        if schema not in READABLE_SCHEMAS or tuple(cols) != _NAMES:
            made_by = self.meta().get("prunegap_version", "an unknown version")
            raise InvalidArgument(
                f"{self.path} has results schema {schema!r} (written by prunegap {made_by}); this prunegap "
                f"({__version__}) reads schema(s) {', '.join(map(repr, READABLE_SCHEMAS))}; use the prunegap "
                "version that made it, or rerun the sweep into a new folder"
            )

    def _check_same(self, config: "SweepConfig") -> None:
        meta = self.meta()
        if meta.get("fingerprint") == config.fingerprint():
            return
        old = json.loads(meta.get("experiment", "{}"))
        new = config.experiment()
        changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        made_by = meta.get("prunegap_version", "?")
        what = (
            f"the config differs in: {', '.join(changed)}" if changed
            else f"the results were made by prunegap {made_by}, this is prunegap {__version__}: results of "
                 "different major.minor versions are never mixed"
        )
        raise InvalidArgument(
            f"{self.path.parent} holds the results of a different sweep (fingerprint {meta.get('fingerprint')}, "
            f"this config {config.fingerprint()}; {what}); use another --out folder, "
            "or remove the folder to start over"
        )

    def close(self) -> None:
        try:
            self.con.close()
        except Exception:  # noqa: BLE001 - closing twice or after a failure is harmless
            pass

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # reading ----------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self.con.execute("SELECT key, value FROM meta").fetchall())

    def config(self) -> "SweepConfig":
        """The stored sweep (its resolved config), for reports."""
        from .config import _parse_toml, parse_config

        meta = self.meta()
        cfg = parse_config(_parse_toml(meta["config_toml"], str(self.path)), source=str(self.path), stored=True)
        return cfg if meta.get("quick") != "true" else _as_quick(cfg)

    def attempts(self, key: str | None = None) -> list[dict[str, Any]]:
        """Attempt records (of one trial when ``key``), in the order they were recorded."""
        if not self._has_attempts():
            return []
        where, args = ("WHERE key = ?", [key]) if key is not None else ("", [])
        names = ", ".join(map(_q, _ATTEMPT_NAMES))
        cur = self.con.execute(f"SELECT {names} FROM attempts {where} ORDER BY run, finished, key, attempt", args)
        return [dict(zip(_ATTEMPT_NAMES, r)) for r in cur.fetchall()]

    def _has_attempts(self) -> bool:
        tables = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        return "attempts" in tables

    def next_run(self) -> int:
        """The number of the next invocation of the sweep (1 for the first)."""
        if not self._has_attempts():
            return 1
        last = self.con.execute("SELECT max(run) FROM attempts").fetchone()[0]
        return 1 if last is None else int(last) + 1

    def keys(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT key FROM trials").fetchall()}

    def count(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM trials").fetchone()[0])

    def rows(self, *, masks: bool = False, columns: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every row, sorted by (study, d, eps descending, seed): the order
        never depends on how the trials were scheduled."""
        names = list(columns) if columns is not None else [c for c in _NAMES if masks or c not in _BLOBS]
        cur = self.con.execute(f"SELECT {', '.join(map(_q, names))} FROM trials ORDER BY {_ORDER}")
        return [dict(zip(names, r)) for r in cur.fetchall()]

    # writing ----------------------------------------------------------------
    def insert(self, row: dict[str, Any]) -> None:
        """Insert and commit one finished trial."""
        self.record(row)

    def record(self, row: dict[str, Any], attempt: dict[str, Any] | None = None) -> None:
        """Commit one finished trial and its last attempt together: a kill -9
        leaves both or neither."""
        missing = [c for c in _NAMES if c not in row]
        if missing:
            raise PrunegapError(f"a results row lacks column(s) {', '.join(missing)}")
        values = [row[c] for c in _NAMES]
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute(
                f"INSERT INTO trials ({', '.join(map(_q, _NAMES))}) VALUES ({', '.join('?' for _ in _NAMES)})", values
            )
            if attempt is not None:
                self._insert_attempt(attempt)
            self.con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                self.con.execute("ROLLBACK")
            raise

    def add_attempt(self, attempt: dict[str, Any]) -> None:
        """Commit the record of an attempt that produced no row (lost, crashed)."""
        self._insert_attempt(attempt)

    def _insert_attempt(self, attempt: dict[str, Any]) -> None:
        record = {**attempt, "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")}
        values = [record.get(c) for c in _ATTEMPT_NAMES]
        self.con.execute(
            f"INSERT INTO attempts ({', '.join(map(_q, _ATTEMPT_NAMES))}) VALUES ({', '.join('?' for _ in _ATTEMPT_NAMES)})",
            values,
        )

    def delete(self, status: str) -> int:
        n = int(self.con.execute("SELECT count(*) FROM trials WHERE status = ?", [status]).fetchone()[0])
        self.con.execute("DELETE FROM trials WHERE status = ?", [status])
        return n

    # export -----------------------------------------------------------------
    def export(self, fmt: str, dest: str | os.PathLike[str] | None = None, *, stream: IO[bytes] | None = None,
               table: str = "trials") -> None:
        """The tidy rows (every column but the masks) of ``table`` ("trials" or "popup") as CSV or
        Parquet, to the file ``dest`` or to ``stream`` (default: stdout)."""
        from .._validation import check_choice

        check_choice("format", fmt, EXPORT_FORMATS)
        check_choice("table", table, EXPORT_TABLES)
        if table == "trials":
            names = [c for c in _NAMES if c not in _BLOBS]
            query = f"SELECT {', '.join(map(_q, names))} FROM trials ORDER BY {_ORDER}"
        else:
            cols = self.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'popup' "
                "ORDER BY ordinal_position").fetchall()
            if not cols:
                raise InvalidArgument(f"{self.path}: no popup study stored here (run `prunegap gap` with [popup])")
            names = [c for c, kind in cols if kind != "BLOB"]
            query = f"SELECT {', '.join(map(_q, names))} FROM popup ORDER BY key"
        out = stream if stream is not None else sys.stdout.buffer
        if fmt == "csv" and dest is None:
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(names)
            for r in self.con.execute(query).fetchall():
                writer.writerow(["" if v is None else v for v in r])
            out.write(text.getvalue().encode())
            out.flush()
            return
        options = "FORMAT csv, HEADER" if fmt == "csv" else "FORMAT parquet"
        if dest is not None:
            dest = Path(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            # Write beside the destination, then rename: never a half file.
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
            os.close(fd)
            try:
                self._copy(query, Path(tmp), options)
                os.replace(tmp, dest)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            return
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir) / "rows.parquet"
            self._copy(query, tmp, options)
            with open(tmp, "rb") as fh:
                shutil.copyfileobj(fh, out)
            out.flush()

    def _copy(self, query: str, path: Path, options: str) -> None:
        target = str(path).replace("'", "''")
        self.con.execute(f"COPY ({query}) TO '{target}' ({options})")


def _as_quick(cfg: "SweepConfig") -> "SweepConfig":
    from dataclasses import replace

    return replace(cfg, quick=True)


def masks_of(row: dict[str, Any]) -> "Masks | None":
    """The ticket of a row read with ``rows(masks=True)``, as :class:`~prunegap.masks.Masks`
    (None for a failed trial)."""
    from ..masks import Masks, unpack_mask

    if row.get("hidden_mask") is None or row.get("width") is None:
        return None
    n, d = int(row["width"]), int(row["d"])
    return Masks(unpack_mask(row["hidden_mask"], (n, d)), unpack_mask(row["output_mask"], (n,)))
