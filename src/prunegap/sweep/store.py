"""The results database: one embedded DuckDB file, ``DIR/results.duckdb``.

Tables:

* ``meta(key, value)``: the sweep's fingerprint, its resolved config (TOML
  and JSON), the schema version and the prunegap version that created it;
* ``trials``: one row per finished trial (:data:`.schema.TRIALS`), keyed by
  the trial's key, with the ticket masks at the returned width as packed bits;
* ``attempts``: one row per attempt (:data:`.schema.ATTEMPTS`): where it
  ran and how it ended -- a retried trial has several.  Run-dependent by
  nature, so it is kept apart from ``trials``, whose rows never depend on
  the run;
* ``popup``: one row per run of the popup study (:data:`.schema.POPUP`),
  created when the study first runs.

Only the driver writes; a row and its last attempt are committed in
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
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Iterable

from .._validation import check_choice
from .._version import __version__
from ..exceptions import InvalidArgument, PrunegapError
from ..masks import Masks, unpack_mask
from .config import SweepConfig, parse_config, read_toml
from .schema import ATTEMPTS, POPUP, TRIALS, VOLATILE, Column, Table

__all__ = ["Store", "COLUMNS", "ATTEMPT_COLUMNS", "VOLATILE", "DB_NAME", "EXPORT_FORMATS", "SCHEMA_VERSION", "masks_of"]

DB_NAME = "results.duckdb"
SCHEMA_VERSION = "2"
#: Results schemas this prunegap reads ("1" lacks the attempts table).
READABLE_SCHEMAS: tuple[str, ...] = ("1", "2")
EXPORT_FORMATS: tuple[str, ...] = ("csv", "parquet")
EXPORT_TABLES: tuple[str, ...] = (TRIALS.name, POPUP.name)  # the certified trials; the edge-popup study

#: (column, SQL type, meaning) of the ``trials`` table (declared in :mod:`.schema`).
COLUMNS: tuple[Column, ...] = TRIALS.columns
#: (column, SQL type, meaning) of the ``attempts`` table.
ATTEMPT_COLUMNS: tuple[Column, ...] = ATTEMPTS.columns
_ORDER = "study, d, eps DESC, seed"


def _q(name: str) -> str:
    return f'"{name}"'


def _duckdb():
    try:
        import duckdb  # lazy: a heavy library, needed only once a folder is opened
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
    def for_sweep(cls, folder: str | os.PathLike[str], config: SweepConfig) -> "Store":
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

    def _create(self, config: SweepConfig) -> None:
        # One transaction: a kill -9 never leaves tables without their fingerprint.
        self.con.execute("BEGIN TRANSACTION")
        self.con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        self.con.execute(TRIALS.create_sql())
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
        self.con.execute(ATTEMPTS.create_sql())

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
        if schema not in READABLE_SCHEMAS or tuple(cols) != TRIALS.names:
            made_by = self.meta().get("prunegap_version", "an unknown version")
            raise InvalidArgument(
                f"{self.path} has results schema {schema!r} (written by prunegap {made_by}); this prunegap "
                f"({__version__}) reads schema(s) {', '.join(map(repr, READABLE_SCHEMAS))}; use the prunegap "
                "version that made it, or rerun the sweep into a new folder"
            )

    def _check_same(self, config: SweepConfig) -> None:
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

    def config(self) -> SweepConfig:
        """The stored sweep (its resolved config), for reports."""
        meta = self.meta()
        cfg = parse_config(read_toml(meta["config_toml"], str(self.path)), source=str(self.path), stored=True)
        return cfg if meta.get("quick") != "true" else replace(cfg, quick=True)

    def attempts(self, key: str | None = None) -> list[dict[str, Any]]:
        """Attempt records (of one trial when ``key``), in the order they were recorded."""
        if not self._has_attempts():
            return []
        where, args = ("WHERE key = ?", [key]) if key is not None else ("", [])
        names = ", ".join(map(_q, ATTEMPTS.names))
        cur = self.con.execute(f"SELECT {names} FROM attempts {where} ORDER BY run, finished, key, attempt", args)
        return [dict(zip(ATTEMPTS.names, r)) for r in cur.fetchall()]

    def _tables(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}

    def _has_attempts(self) -> bool:
        return ATTEMPTS.name in self._tables()

    def next_run(self) -> int:
        """The number of the next invocation of the sweep (1 for the first)."""
        if not self._has_attempts():
            return 1
        last = self.con.execute("SELECT max(run) FROM attempts").fetchone()[0]
        return 1 if last is None else int(last) + 1

    def keys(self, table: Table = TRIALS) -> set[str]:
        """The keys stored in ``table`` (the trials; :data:`~.schema.POPUP`: the popup study's, none
        before it ran)."""
        if table is not TRIALS and table.name not in self._tables():
            return set()
        return {r[0] for r in self.con.execute(f"SELECT key FROM {table.name}").fetchall()}

    def count(self, table: Table = TRIALS) -> int:
        """Rows stored in ``table``."""
        return len(self.keys(table))

    def rows(self, *, masks: bool = False, columns: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every row, sorted by (study, d, eps descending, seed): the order
        never depends on how the trials were scheduled."""
        names = list(columns) if columns is not None else [c for c in TRIALS.names if masks or c not in TRIALS.blobs]
        cur = self.con.execute(f"SELECT {', '.join(map(_q, names))} FROM trials ORDER BY {_ORDER}")
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def popup_rows(self, *, masks: bool = False) -> list[dict[str, Any]]:
        """The stored rows of the popup study, in key order ([] when none ran here)."""
        if POPUP.name not in self._tables():
            return []
        names = [c for c in POPUP.names if masks or c not in POPUP.blobs]
        cur = self.con.execute(f"SELECT {', '.join(map(_q, names))} FROM {POPUP.name} ORDER BY key")
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def ensure_popup(self) -> None:
        """Create the popup study's table where it is missing; refuse one of other columns."""
        if POPUP.name not in self._tables():
            self.con.execute(POPUP.create_sql())
            return
        cols = [r[0] for r in self.con.execute(f"SELECT * FROM {POPUP.name} LIMIT 0").description]
        if tuple(cols) != POPUP.names:
            raise InvalidArgument(
                f"the table {POPUP.name!r} of this results database has other columns than this prunegap writes; "
                f"use another --out folder, or drop that table (DROP TABLE {POPUP.name}) to rerun the popup study"
            )

    # writing ----------------------------------------------------------------
    def insert(self, row: dict[str, Any]) -> None:
        """Insert and commit one finished trial."""
        self.record(row)

    def record(self, row: dict[str, Any], attempt: dict[str, Any] | None = None, *, table: Table = TRIALS) -> None:
        """Commit one finished trial (a row of ``table``: the trials, or the popup study's) and its
        last attempt together: a kill -9 leaves both or neither."""
        missing = [c for c in table.names if c not in row]
        if missing:
            raise PrunegapError(f"a results row lacks column(s) {', '.join(missing)}")
        values = [row[c] for c in table.names]
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute(table.insert_sql(), values)
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
        self.con.execute(ATTEMPTS.insert_sql(), [record.get(c) for c in ATTEMPTS.names])

    def delete(self, status: str) -> int:
        n = int(self.con.execute("SELECT count(*) FROM trials WHERE status = ?", [status]).fetchone()[0])
        self.con.execute("DELETE FROM trials WHERE status = ?", [status])
        return n

    # export -----------------------------------------------------------------
    def export(self, fmt: str, dest: str | os.PathLike[str] | None = None, *, stream: IO[bytes] | None = None,
               table: str = "trials") -> None:
        """The tidy rows (every column but the masks) of ``table`` ("trials" or "popup") as CSV or
        Parquet, to the file ``dest`` or to ``stream`` (default: stdout)."""
        check_choice("format", fmt, EXPORT_FORMATS)
        check_choice("table", table, EXPORT_TABLES)
        if table == TRIALS.name:
            names = [c for c in TRIALS.names if c not in TRIALS.blobs]
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


def masks_of(row: dict[str, Any]) -> "Masks | None":
    """The ticket of a row read with ``rows(masks=True)``, as :class:`~prunegap.masks.Masks`
    (None for a failed trial)."""
    if row.get("hidden_mask") is None or row.get("width") is None:
        return None
    n, d = int(row["width"]), int(row["d"])
    return Masks(unpack_mask(row["hidden_mask"], (n, d)), unpack_mask(row["output_mask"], (n,)))
