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
import datetime as _dt
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
import time
import weakref
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from .._validation import check_choice, check_output
from .._version import __version__
from ..exceptions import InvalidArgument, PrunegapError
from ..masks import Masks, unpack_mask
from .config import SweepConfig, parse_config, read_toml
from .schema import ATTEMPTS, POPUP, SHARD_RUNS, TRIALS, VOLATILE, Column, Table

__all__ = ["Store", "DatabaseInUse", "COLUMNS", "ATTEMPT_COLUMNS", "VOLATILE", "DB_NAME", "EXPORT_FORMATS", "EXPORT_TABLES", "EXPORT_FORMAT_VERSION",
           "export_format", "SCHEMA_VERSION", "masks_of"]

DB_NAME = "results.duckdb"
SCHEMA_VERSION = "2"
#: Results schemas this prunegap reads ("1" lacks the attempts table).
READABLE_SCHEMAS: tuple[str, ...] = ("1", "2")
EXPORT_FORMATS: tuple[str, ...] = ("csv", "parquet", "json")  # json: NDJSON, one object per line
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


class DatabaseInUse(InvalidArgument):
    """The database is held by a writer: another process (a running sweep), or this one (``here``)."""

    def __init__(self, message: str, *, here: bool) -> None:
        super().__init__(message)
        self.here = here


# DuckDB's words for a lock held by another process, and for a file this process already has open
# with other settings.  Matched on the message without its quoted paths: a folder named "blocks"
# or "walks" must not read as a lock or a write-ahead log.
_LOCK_ELSEWHERE = re.compile(r"could not set lock on file|conflicting lock is held", re.IGNORECASE)
_LOCK_HERE = re.compile(r"same database file with a different configuration", re.IGNORECASE)
_WAL = re.compile(r"\bwal\b", re.IGNORECASE)
#: Seconds a sweep waits for a reader (``open_sweep``, ``report``) to let go of the database:
#: a reader holds it for the moment it takes to read the tables, a sweep for hours.
WRITER_PATIENCE = 5.0
#: Copies of a running sweep's database tried before giving up (a checkpoint may tear one).
SNAPSHOT_TRIES = 5


def _bare(msg: str) -> str:
    return re.sub(r'"[^"]*"', '""', msg)


def _unreadable(path: Path, msg: str) -> str:
    """The one message for a database DuckDB cannot read, naming the likely cause."""
    bare = _bare(msg).lower()
    if "could not read enough bytes" in bare:
        cause = "the file is truncated (shorter than its own index says)"
    elif "not a valid duckdb database file" in bare:
        cause = "it is not a DuckDB file, or its header is damaged"
    elif "storage version" in bare:
        cause = f"its storage version is one this DuckDB ({_duckdb().__version__}) cannot read: damaged, or written by another DuckDB"
    elif "checksum" in bare or "corrupt" in bare:
        cause = "the file is damaged (a block fails its checksum)"
    else:
        cause = "the file is damaged or not a results database"
    return f"{path} is not a readable results database: {cause} (DuckDB: {msg}); move it away or choose another folder"


def _check_file(path: Path) -> None:
    """A path where the database file is, or is to be, that is something else."""
    if path.is_dir():
        raise InvalidArgument(f"{path} is a directory, not a results database file; move it away or choose another folder")
    if path.exists() and not path.is_file():
        raise InvalidArgument(f"{path} is not a regular file (a results database is one); move it away or choose another folder")


def _file_state(path: Path) -> tuple[Any, ...]:
    """What changes when DuckDB rewrites the file in place (a checkpoint), or replaces it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return (None,)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class Store:
    """A results folder's database.  Use :meth:`open` or :meth:`for_sweep`."""

    def __init__(self, con: Any, path: Path, read_only: bool, *, snapshot: bool = False) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
        #: True when this reads a private copy of a database a running sweep holds (:meth:`open`).
        self.snapshot = snapshot
        self._scratch: Any = None  # the finalizer that removes the copy

    # opening -------------------------------------------------------------
    @staticmethod
    def _connect(path: Path, read_only: bool) -> Any:
        duckdb = _duckdb()
        _check_file(path)
        # A writer waits a moment for readers to let go: a notebook that reads the folder now and
        # then must not stop a sweep that starts (or resumes) at the same moment.
        deadline = time.monotonic() + (0.0 if read_only else WRITER_PATIENCE)
        while True:
            try:
                return duckdb.connect(str(path), read_only=read_only)
            except duckdb.Error as exc:
                msg = " ".join(str(exc).split())
                bare = _bare(msg)
                elsewhere, here = bool(_LOCK_ELSEWHERE.search(bare)), bool(_LOCK_HERE.search(bare))
                if (elsewhere or here) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                if elsewhere or here:
                    who = "this process" if here else "another process"
                    raise DatabaseInUse(
                        f"{path} is in use by {who} (is a sweep still running into this folder?): {msg}", here=here
                    ) from None
                wal = path.with_name(path.name + ".wal")
                if _WAL.search(bare) and wal.exists():
                    # The database itself holds every trial up to its last checkpoint;
                    # only the log's are lost, and a rerun computes them again.
                    raise InvalidArgument(
                        f"{path} cannot replay its write-ahead log ({msg}); move {wal} away to open the trials "
                        "stored before it (rerunning the sweep then computes the others again)"
                    ) from None
                raise InvalidArgument(_unreadable(path, msg)) from None

    @classmethod
    def open(cls, folder: str | os.PathLike[str], *, read_only: bool = True, snapshot: bool = False) -> "Store":
        """An existing results folder (for ``report`` and ``results``).

        ``snapshot``: when a running sweep holds the database, read what it has committed so far
        instead of refusing: from a private copy of the file and its write-ahead log (the writer is
        never locked out), or, when the sweep runs in this process, through its own connection.
        :attr:`snapshot` then says so.  Needs ``read_only``."""
        folder = Path(folder)
        path = folder / DB_NAME
        if folder.exists() and not folder.is_dir():
            which = f"its folder {folder.parent}" if folder.name == DB_NAME else "the folder `prunegap gap --out` wrote"
            raise InvalidArgument(f"{folder} is a file, not a results folder (give {which})")
        if not path.exists():
            hint = f"; run `prunegap gap --out {folder}` first" if folder.is_dir() else ""
            raise InvalidArgument(f"{path} does not exist{hint}")
        try:
            con = cls._connect(path, read_only)
        except DatabaseInUse as exc:
            if not (snapshot and read_only):
                raise
            return cls._shared(path) if exc.here else cls._copied(path)
        return cls._checked(cls(con, path, read_only))

    @classmethod
    def _checked(cls, store: "Store") -> "Store":
        try:
            store._check_schema()
        except BaseException:
            store.close()  # a refused folder keeps no lock behind
            raise
        return store

    @classmethod
    def _shared(cls, path: Path) -> "Store":
        # This process writes the database (a sweep run from a notebook): a second connection to
        # its own instance sees every committed row.  Copying the file is no option here: closing
        # any descriptor of it would drop the writer's POSIX lock.
        store = cls(_duckdb().connect(str(path)), path, True, snapshot=True)
        return cls._checked(store)

    @classmethod
    def _copied(cls, path: Path) -> "Store":
        """A private, read-only copy of a database another process writes, as of now."""
        wal = path.with_name(path.name + ".wal")
        scratch = Path(tempfile.mkdtemp(prefix="prunegap-snapshot-"))
        last: InvalidArgument | None = None
        try:
            for attempt in range(SNAPSHOT_TRIES):
                if attempt:
                    time.sleep(0.05 * attempt)
                copy = scratch / str(attempt) / DB_NAME
                copy.parent.mkdir()
                before = (_file_state(path), _file_state(wal)[0])
                shutil.copyfile(path, copy)
                with contextlib.suppress(FileNotFoundError):  # a checkpoint just folded it in
                    shutil.copyfile(wal, copy.with_name(DB_NAME + ".wal"))
                if (_file_state(path), _file_state(wal)[0]) != before:
                    continue  # checkpointed while copying: the two files may not match
                try:
                    store = cls(cls._connect(copy, True), path, True, snapshot=True)
                except InvalidArgument as exc:
                    last = exc
                    continue
                try:
                    store._check_schema()
                except InvalidArgument as exc:
                    store.close()
                    last = exc
                    continue
                store._scratch = weakref.finalize(store, shutil.rmtree, str(scratch), True)
                return store
        except OSError as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise InvalidArgument(f"{path} is in use by a running sweep, and a copy of it could not be made "
                                  f"in {tempfile.gettempdir()} ({exc}); wait for the sweep to finish") from None
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        shutil.rmtree(scratch, ignore_errors=True)
        detail = str(last).replace(str(copy), str(path)) if last else "it changed during every copy"
        raise InvalidArgument(f"{path} is in use by a running sweep, and {SNAPSHOT_TRIES} copies of it could not be "
                              f"read: {detail}")

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
            meta = self.meta()
            columns = {t.name: [r[0] for r in self.con.execute(f"SELECT * FROM {t.name} LIMIT 0").description]
                       for t in (TRIALS, ATTEMPTS, POPUP) if t.name in tables}
            self._scan(tables)
        except duckdb.Error as exc:
            raise InvalidArgument(_unreadable(self.path, " ".join(str(exc).split()))) from None
        schema, made_by = meta.get("schema"), meta.get("prunegap_version", "an unknown version")
        if schema not in READABLE_SCHEMAS:
            raise InvalidArgument(
                f"{self.path} has results schema {schema!r} (written by prunegap {made_by}); this prunegap "
                f"({__version__}) reads schema(s) {', '.join(map(repr, READABLE_SCHEMAS))}; use the prunegap "
                "version that made it, or rerun the sweep into a new folder"
            )
        # A sweep resuming into a popup table of other columns is told how to mend it by ensure_popup.
        for table in (TRIALS, ATTEMPTS) + ((POPUP,) if self.read_only else ()):
            have = columns.get(table.name)
            if have is None or set(have) == set(table.names):
                continue
            missing = [c for c in table.names if c not in have]
            extra = [c for c in have if c not in table.names]
            what = "; ".join(
                ([f"lacks column(s) {', '.join(missing)}"] if missing else [])
                + ([f"has column(s) schema {schema} does not have: {', '.join(extra)}"] if extra else [])
            )
            raise InvalidArgument(
                f"{self.path}: its {table.name} table {what} (the file says results schema {schema!r}, written by "
                f"prunegap {made_by}); the database was altered after it was written: restore it, or rerun the sweep "
                "into a new folder"
            )

    def _scan(self, tables: set[str]) -> None:
        """Reads every stored value once (hashing it leaves no shortcut through the statistics), so
        that a damaged or truncated block is found here, in one message, and not by whichever later
        query meets it first."""
        for name in sorted(tables):
            cols = [r[0] for r in self.con.execute(f"SELECT * FROM {_q(name)} LIMIT 0").description]
            if cols:
                self.con.execute(f"SELECT bit_xor(hash({', '.join(map(_q, cols))})) FROM {_q(name)}").fetchone()

    def _check_same(self, config: SweepConfig) -> None:
        meta = self.meta()
        if meta.get("fingerprint") == config.fingerprint():
            return
        old = json.loads(meta.get("experiment", "{}"))
        new = config.experiment()
        changed = experiment_diff(old, new)
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
        if self._scratch is not None:
            self._scratch()  # the snapshot's copy goes with its connection

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all (a kill -9 leaves all or nothing)."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
            self.con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                self.con.execute("ROLLBACK")
            raise

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
        with self.transaction():
            self.con.execute(table.insert_sql(), values)
            if attempt is not None:
                self._insert_attempt(attempt)

    def add_attempt(self, attempt: dict[str, Any]) -> None:
        """Commit the record of an attempt that produced no row (lost, crashed)."""
        self._insert_attempt(attempt)

    def _insert_attempt(self, attempt: dict[str, Any]) -> None:
        record = {**attempt, "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")}
        self.con.execute(ATTEMPTS.insert_sql(), [record.get(c) for c in ATTEMPTS.names])

    def delete_keys(self, keys: Iterable[str], table: Table = TRIALS) -> None:
        """Delete the rows of ``keys`` from ``table`` in one transaction (they run again)."""
        keys = list(keys)
        if keys:
            with self.transaction():
                self.con.executemany(f"DELETE FROM {table.name} WHERE key = ?", [[k] for k in keys])

    def delete(self, status: str) -> int:
        n = int(self.con.execute("SELECT count(*) FROM trials WHERE status = ?", [status]).fetchone()[0])
        self.con.execute("DELETE FROM trials WHERE status = ?", [status])
        return n

    # shards and merges (`prunegap gap --shard`, `prunegap merge`: see .merge) ----
    def shard(self) -> tuple[int, int] | None:
        """(I, N) of a folder written by ``prunegap gap --shard I/N``; None for a whole sweep."""
        text = self.meta().get("shard")
        if text is None:
            return None
        i, _, n = text.partition("/")
        if not (i.isdigit() and n.isdigit() and 1 <= int(i) <= int(n)):
            raise InvalidArgument(f"{self.path} records a malformed shard {text!r} in its meta table (I/N expected)")
        return int(i), int(n)

    def claim_shard(self, shard: tuple[int, int] | None) -> None:
        """Make sure this folder holds the part ``shard`` = (I, N) of its sweep (None: all of it).

        A folder holds one shard or the whole sweep, never a mix: a blank folder
        takes the shard it is first run with, and keeps it."""
        held = self.shard()
        want = None if shard is None else (int(shard[0]), int(shard[1]))
        if held == want:
            return
        folder = self.path.parent
        if held is None and want is not None and self._blank():
            # The id tells two folders of one shard apart (a rerun elsewhere), and a copy of
            # one folder from the folder itself, so that a merge copies each run's attempts once.
            with self.transaction():
                self._set_meta({"shard": f"{want[0]}/{want[1]}", "shard_id": uuid.uuid4().hex})
            return
        if held is None:
            raise InvalidArgument(
                f"{folder} holds the whole sweep (written without --shard), not shard {want[0]}/{want[1]}; "
                "give each shard a folder of its own (--out)"
            )
        if want is None:
            raise InvalidArgument(
                f"{folder} holds shard {held[0]}/{held[1]} of the sweep; resume it with --shard {held[0]}/{held[1]}, "
                "or merge the shards into another folder: prunegap merge OUT SHARD_DIR..."
            )
        raise InvalidArgument(
            f"{folder} holds shard {held[0]}/{held[1]} of the sweep, not {want[0]}/{want[1]}; "
            "give each shard a folder of its own (--out)"
        )

    def _blank(self) -> bool:
        """No row, no attempt and no merge yet: the folder may still become a shard."""
        if self.count() or self.count(POPUP) or "merged_shards" in self.meta():
            return False
        return not (self._has_attempts() and self.con.execute("SELECT count(*) FROM attempts").fetchone()[0])

    @classmethod
    def for_shard(cls, folder: str | os.PathLike[str], config: SweepConfig,
                  shard: tuple[int, int] | None) -> "Store":
        """:meth:`for_sweep` for the part ``shard`` = (I, N) of the sweep (None: all of it);
        refused where the folder holds another part (:meth:`claim_shard`)."""
        store = cls.for_sweep(folder, config)
        try:
            store.claim_shard(shard)
        except BaseException:
            store.close()
            raise
        return store

    def shard_runs(self) -> list[dict[str, Any]]:
        """Where the attempts of a merged folder ran (:data:`SHARD_RUNS`; [] before any merge)."""
        if SHARD_RUNS.name not in self._tables():
            return []
        names = ", ".join(map(_q, SHARD_RUNS.names))
        cur = self.con.execute(f"SELECT {names} FROM {SHARD_RUNS.name} ORDER BY run")
        return [dict(zip(SHARD_RUNS.names, r)) for r in cur.fetchall()]

    def absorb(self, *, trials: Iterable[dict[str, Any]] = (), popup: Iterable[dict[str, Any]] = (),
               replace_trials: Iterable[str] = (), replace_popup: Iterable[str] = (),
               attempts: Iterable[dict[str, Any]] = (), runs: Iterable[dict[str, Any]] = (),
               meta: dict[str, str] | None = None) -> None:
        """Commit merged rows in one transaction: a kill -9 leaves the folder as it was, or merged.

        ``replace_*``: keys whose stored rows give way to the new ones (failed rows);
        ``attempts``: records stored as they are (their run numbers already this
        folder's); ``runs``: rows of :data:`SHARD_RUNS` saying where those runs ran."""
        popup, attempts, runs = list(popup), list(attempts), list(runs)
        inserts = [(TRIALS, list(trials), [[k] for k in replace_trials]),
                   (POPUP, popup, [[k] for k in replace_popup]), (ATTEMPTS, attempts, []), (SHARD_RUNS, runs, [])]
        if popup:
            self.ensure_popup()
        if attempts and not self._has_attempts():
            self._create_attempts()
        if runs and SHARD_RUNS.name not in self._tables():
            self.con.execute(SHARD_RUNS.create_sql())
        with self.transaction():
            for table, rows, gone in inserts:
                if gone:
                    self.con.executemany(f"DELETE FROM {table.name} WHERE key = ?", gone)
                if rows:
                    self.con.executemany(table.insert_sql(), [[r.get(c) for c in table.names] for r in rows])
            if meta:
                self._set_meta(meta)

    # export -----------------------------------------------------------------
    def export(self, fmt: str | None = None, dest: str | os.PathLike[str] | None = None, *,
               stream: IO[bytes] | None = None, table: str = "trials") -> None:
        """The tidy rows (every column but the masks) of ``table`` ("trials" or "popup") as CSV,
        Parquet or NDJSON, to the file ``dest`` or to ``stream`` (default: stdout).

        ``fmt`` is "csv", "parquet" or "json" (NDJSON: one object per line); None takes the one
        ``dest``'s suffix names (:func:`export_format`), else CSV.  One writer (DuckDB's ``COPY``)
        makes every format, so a file and stdout get the same bytes.  The JSON text columns
        (:data:`JSON_COLUMNS`) are typed lists and structs in Parquet (:func:`_parquet_column`),
        nested JSON in NDJSON and JSON text in CSV; Parquet's key-value metadata is
        :meth:`export_metadata`.  docs/schemas.md describes the three."""
        fmt = export_format(fmt, dest)
        check_choice("table", table, EXPORT_TABLES)
        if table == TRIALS.name:
            types = {c.name: c.type.split()[0] for c in TRIALS.columns if c.name not in TRIALS.blobs}
            order = _ORDER
        else:
            cols = self.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'popup' "
                "ORDER BY ordinal_position").fetchall()
            if not cols:
                raise InvalidArgument(f"{self.path}: no popup study stored here (run `prunegap gap` with [popup])")
            types = {c: kind for c, kind in cols if kind != "BLOB"}
            order = "key"
        nested = set(JSON_COLUMNS[table]) & set(types)
        if fmt == "parquet":
            exprs = [_parquet_column(self.con, table, c) if c in nested else _q(c) for c in types]
            kv = ", ".join(f"{_q(k)}: {_sql_text(v)}" for k, v in self.export_metadata(table).items())
            options = f"FORMAT parquet, KV_METADATA {{{kv}}}"
        elif fmt == "json":
            # JSON has no inf or nan: a non-finite double is null, as in result.json (io.json_ready)
            exprs = [f"{_q(c)}::JSON AS {_q(c)}" if c in nested
                     else f"CASE WHEN isfinite({_q(c)}) THEN {_q(c)} END AS {_q(c)}" if kind == "DOUBLE"
                     else _q(c) for c, kind in types.items()]
            options = "FORMAT json"
        else:
            exprs = [_q(c) for c in types]
            options = "FORMAT csv, HEADER"
        query = f"SELECT {', '.join(exprs)} FROM {table} ORDER BY {order}"
        if dest is not None:
            # never onto this database or its log (the rows would replace the database), nor a device
            dest = check_output(dest, name="dest", inputs=(self.path, self.path.with_name(self.path.name + ".wal")))
            dest.parent.mkdir(parents=True, exist_ok=True)
            # Written beside the destination, then renamed: never a half file.
            with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as tmpdir:
                tmp = Path(tmpdir) / dest.name
                self._copy(query, tmp, options)
                os.replace(tmp, dest)
            return
        out = stream if stream is not None else sys.stdout.buffer
        with tempfile.TemporaryDirectory(prefix="prunegap-export-") as tmpdir:
            tmp = Path(tmpdir) / f"rows.{fmt}"
            self._copy(query, tmp, options)
            with open(tmp, "rb") as fh:
                shutil.copyfileobj(fh, out)
        out.flush()

    def export_metadata(self, table: str = "trials") -> dict[str, str]:
        """What a Parquet export says about itself (its key-value metadata; docs/schemas.md)."""
        check_choice("table", table, EXPORT_TABLES)
        meta = self.meta()
        declared = TRIALS if table == TRIALS.name else POPUP
        return {
            "format_version": EXPORT_FORMAT_VERSION,
            "prunegap_version": __version__,
            "fingerprint": meta.get("fingerprint", ""),
            "config_toml": meta.get("config_toml", ""),
            "table": table,
            "results_schema": meta.get("schema", ""),
            "columns": json.dumps({c.name: c.meaning for c in declared.columns if c.name not in declared.blobs}),
        }

    def _copy(self, query: str, path: Path, options: str) -> None:
        self.con.execute(f"COPY ({query}) TO {_sql_text(str(path))} ({options})")


# export (Store.export) -------------------------------------------------------------------
#: The version of the export formats (Parquet's ``format_version`` metadata; docs/schemas.md):
#: raised when a column is renamed or removed or changes its type or meaning, not when one is added.
EXPORT_FORMAT_VERSION = "1"
#: File suffixes of each export format (:func:`export_format`).
EXPORT_SUFFIXES: dict[str, tuple[str, ...]] = {
    "csv": (".csv",), "parquet": (".parquet", ".pq"), "json": (".ndjson", ".jsonl", ".json")}
#: The columns of each table that hold JSON text (their meaning says "(JSON"): nested columns in an export.
JSON_COLUMNS: dict[str, tuple[str, ...]] = {t.name: t.json_columns for t in (TRIALS, POPUP)}


def export_format(fmt: str | None, dest: str | os.PathLike[str] | None = None) -> str:
    """The format of an export: ``fmt`` (checked), else the one the suffix of ``dest`` names
    (:data:`EXPORT_SUFFIXES`), else "csv".  A ``fmt`` that contradicts the suffix is refused."""
    suffix = Path(dest).suffix.lower() if dest is not None else ""
    named = next((f for f, suffixes in EXPORT_SUFFIXES.items() if suffix in suffixes), None)
    if fmt is None:
        return named or "csv"
    check_choice("format", fmt, EXPORT_FORMATS)
    if named is not None and named != fmt:
        raise InvalidArgument(f"--out {str(dest)!r} ends in {suffix!r}, a {named} file, but --format is {fmt!r}; "
                              "leave --format out to write what the suffix says")
    return fmt


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _parquet_type(shape: Any) -> Any:
    """A ``json_group_structure`` shape as the one ``json_transform`` gets: keys sorted (the shape
    lists them in the order it met them), signed 64-bit integers (its UBIGINT invites wrap-around
    in pandas' and numpy's differences, and HUGEINT, for UBIGINT and BIGINT together, has no
    Parquet type) and JSON where every value was null."""
    if isinstance(shape, dict):
        return {k: _parquet_type(shape[k]) for k in sorted(shape)}
    if isinstance(shape, list):
        return [_parquet_type(v) for v in shape]
    return {"UBIGINT": "BIGINT", "HUGEINT": "BIGINT", "NULL": "JSON"}.get(shape, shape)


def _parquet_column(con: Any, table: str, name: str) -> str:
    """The SQL expression that turns the JSON text column ``name`` into a typed Parquet column.

    ``steps`` (a list of [width, status] pairs) is ``STRUCT(width INTEGER, status VARCHAR)[]``.
    Any other column gets the type of all its values together (``json_group_structure``): a
    struct of every key seen (NULL where a row lacks it), a list, a scalar, with a JSON leaf
    where rows disagree on a value's type; where the rows disagree on the column's own type,
    or are objects without a key in common, it is ``MAP(VARCHAR, JSON)`` for objects, else JSON.
    Nothing is turned into a string or dropped."""
    col = _q(name)
    if (table, name) == (TRIALS.name, "steps"):
        return (f"list_transform(json_transform({col}, '[\"JSON\"]'), lambda s: "
                f"{{'width': CAST(json_extract(s, 0) AS INTEGER), 'status': json_extract_string(s, 1)}}) AS {col}")
    structure, values, objects = con.execute(
        f"SELECT json_group_structure({col}::JSON), count({col}), "
        f"count({col}) FILTER (WHERE json_type({col}::JSON) = 'OBJECT') FROM {table}").fetchone()
    shape = _parquet_type(json.loads(structure)) if structure is not None else "JSON"
    if shape != "JSON":
        expr = f"json_transform({col}, {_sql_text(json.dumps(shape))}) AS {col}"
        try:
            con.execute(f"SELECT {expr} FROM {table} LIMIT 0")  # e.g. keys that differ only in case
            return expr
        except _duckdb().Error:
            pass
    if values and objects == values:
        return f"CAST({col}::JSON AS MAP(VARCHAR, JSON)) AS {col}"
    return f"{col}::JSON AS {col}"

def masks_of(row: dict[str, Any]) -> "Masks | None":
    """The ticket of a row read with ``rows(masks=True)``, as :class:`~prunegap.masks.Masks`
    (None for a failed trial)."""
    if row.get("hidden_mask") is None or row.get("width") is None:
        return None
    n, d = int(row["width"]), int(row["d"])
    return Masks(unpack_mask(row["hidden_mask"], (n, d)), unpack_mask(row["output_mask"], (n,)))


# shards and merges (see Store.shard, Store.absorb and .merge) -------------------------


def experiment_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The keys of two experiments (``SweepConfig.experiment()``) whose values differ, sorted."""
    return [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
