"""The tables of the results database, declared once: every column's name, SQL type and meaning.

:data:`TRIALS` (the certified trials), :data:`ATTEMPTS` (where and how each
attempt ran) and :data:`POPUP` (the popup study) are the only places a
column is named.  The store creates and reads its tables from them, and a
trial builds its row through them (:meth:`Table.row`, :meth:`Table.subset`),
so a misspelt column fails on the first trial, not in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from ..exceptions import PrunegapError

__all__ = ["Column", "Table", "TRIALS", "ATTEMPTS", "POPUP", "SHARD_RUNS", "VOLATILE", "POPUP_VOLATILE"]


class Column(NamedTuple):
    """One column: its name, its SQL type (with constraints) and what it holds."""

    name: str
    type: str
    meaning: str


@dataclass(frozen=True)
class Table:
    """A table of the results database: its name and its columns, in order."""

    name: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def blobs(self) -> tuple[str, ...]:
        """The columns of binary data (the packed ticket masks)."""
        return tuple(c.name for c in self.columns if c.type == "BLOB")

    @property
    def json_columns(self) -> tuple[str, ...]:
        """The columns that hold JSON text (their meaning says "(JSON"): nested values in exports."""
        return tuple(c.name for c in self.columns if "(JSON" in c.meaning and c.type.startswith("VARCHAR"))

    def create_sql(self) -> str:
        cols = ", ".join(f'"{c.name}" {c.type}' for c in self.columns)
        return f"CREATE TABLE {self.name} ({cols})"

    def insert_sql(self) -> str:
        names = ", ".join(f'"{c}"' for c in self.names)
        return f"INSERT INTO {self.name} ({names}) VALUES ({', '.join('?' for _ in self.columns)})"

    def subset(self, **values: Any) -> dict[str, Any]:
        """``values``, checked to be columns of this table, in the table's order."""
        unknown = [k for k in values if k not in self.names]
        if unknown:
            raise PrunegapError(f"not a column of the {self.name} table: {', '.join(unknown)}")
        return {c: values[c] for c in self.names if c in values}

    def row(self, **values: Any) -> dict[str, Any]:
        """A whole row: ``values`` (columns of this table), every other column None."""
        return {**dict.fromkeys(self.names), **self.subset(**values)}


TRIALS = Table("trials", (
    # what decides the trial (Trial.config)
    Column("key", "VARCHAR PRIMARY KEY", "study/d/eps/seed: unique within the sweep"),
    Column("study", "VARCHAR NOT NULL", "the study's name"),
    Column("paradigm", "VARCHAR NOT NULL", "weight, neuron, ..."),
    Column("method", "VARCHAR NOT NULL", "the paradigm's solver"),
    Column("d", "INTEGER NOT NULL", "input dimension"),
    Column("eps", "DOUBLE NOT NULL", "target error"),
    Column("seed", "BIGINT NOT NULL", "instance seed (unit stream and target)"),
    Column("init", "VARCHAR NOT NULL", "law of the random weights"),
    Column("output", "VARCHAR NOT NULL", "output activation"),
    Column("norm", "VARCHAR NOT NULL", "error norm"),
    Column("max_width", "INTEGER NOT NULL", "largest width tried"),
    Column("options", "VARCHAR NOT NULL", "solver options (JSON)"),
    Column("time_limit", "DOUBLE", "wall-clock guard in seconds (NULL: none)"),
    # what the search proved (docs/theory.md, section 6)
    Column("status", "VARCHAR NOT NULL", "certified | unknown | failed"),
    Column("n_star", "INTEGER", "minimal width (certified trials only)"),
    Column("n_lower", "INTEGER", "proven: n* >= n_lower"),
    Column("n_upper", "INTEGER", "proven: n* <= n_upper (NULL: not reached)"),
    Column("width", "INTEGER", "width of the stored outcome and masks (n_upper, else the widest tried)"),
    Column("verdict", "VARCHAR", "the paradigm's verdict at `width`: yes | no | unknown"),
    Column("error_lower", "DOUBLE", "proven lower bound on every mask's error at `width`"),
    Column("error_upper", "DOUBLE", "certified error of the ticket at `width`"),
    Column("kept_units", "INTEGER", "units the ticket keeps"),
    Column("kept_weights", "INTEGER", "weights the ticket keeps"),
    Column("density", "DOUBLE", "fraction of weights kept"),
    Column("limit", "VARCHAR", "the limit that fired (unknown trials)"),
    Column("reason", "VARCHAR", "the exception (failed trials)"),
    Column("calls", "INTEGER", "widths the search tried"),
    Column("steps", "VARCHAR", "(width, status) in the order tried (JSON)"),
    Column("stats", "VARCHAR", "solver and search statistics, timings removed (JSON)"),
    Column("target", "VARCHAR", "the target w (JSON)"),
    Column("hidden_mask", "BLOB", "ticket hidden mask (width x d), np.packbits"),
    Column("output_mask", "BLOB", "ticket output mask (width), np.packbits"),
    Column("seconds", "DOUBLE", "wall-clock seconds of the trial (varies between runs)"),
    Column("timings", "VARCHAR", "timing statistics (JSON; vary between runs)"),
))

ATTEMPTS = Table("attempts", (
    Column("key", "VARCHAR NOT NULL", "the trial's key"),
    Column("run", "INTEGER NOT NULL", "the invocation of the sweep (1, 2, ... per resume)"),
    Column("attempt", "INTEGER NOT NULL", "1 for the first attempt of the trial in this run, 2 for its first retry, ..."),
    Column("outcome", "VARCHAR NOT NULL", "ok | timeout | memory | crashed | lost"),
    Column("worker", "VARCHAR", "the Dask worker's address, or host/pid of the local process that ran it"),
    Column("pid", "INTEGER", "the attempt's own process (NULL: it ran in the worker)"),
    Column("seconds", "DOUBLE", "wall-clock seconds of the attempt"),
    Column("reason", "VARCHAR", "why the attempt was lost, crashed or stopped"),
    Column("finished", "VARCHAR", "when the driver recorded it (UTC, ISO 8601)"),
))

POPUP = Table("popup", (
    Column("key", "VARCHAR PRIMARY KEY", "kind/dataset or d/paradigm/width/density/seed/hash of the whole configuration"),
    Column("kind", "VARCHAR NOT NULL", "data | certify (edge-popup runs) | optimum (a certified solver's min-error ticket) "
                                       "| construction (the subset-sum construction's ticket)"),
    Column("dataset", "VARCHAR", "digits | teacher (NULL for optimum)"),
    Column("paradigm", "VARCHAR NOT NULL", "weight | neuron | nm | block"),
    Column("method", "VARCHAR", "the solver (optimum only)"),
    Column("nm", "VARCHAR", "N:M of paradigm nm"),
    Column("block", "INTEGER", "B of paradigm block"),
    Column("d", "INTEGER", "input dimension"),
    Column("width", "INTEGER NOT NULL", "hidden units n"),
    Column("density", "DOUBLE", "fraction of the paradigm's elements kept (edge-popup runs)"),
    Column("seed", "BIGINT NOT NULL", "the random network (and teacher, scores, batches)"),
    Column("epochs", "INTEGER", "edge-popup epochs"),
    Column("config", "VARCHAR NOT NULL", "the whole configuration (JSON)"),
    Column("status", "VARCHAR NOT NULL", "ok | failed | timeout"),
    Column("reason", "VARCHAR", "why it failed or stopped"),
    Column("train_accuracy", "DOUBLE", "digits: training accuracy"),
    Column("test_accuracy", "DOUBLE", "digits: test accuracy"),
    Column("train_loss", "DOUBLE", "cross-entropy (digits) or MSE (teacher) on the training set"),
    Column("test_loss", "DOUBLE", "the same on the test set"),
    Column("test_max_error", "DOUBLE", "teacher: largest test error"),
    Column("mask_density", "DOUBLE", "fraction of mask entries kept"),
    Column("weight_density", "DOUBLE", "fraction of weights live"),
    Column("unit_density", "DOUBLE", "fraction of units live"),
    Column("kept_units", "INTEGER", "live units"),
    Column("kept_weights", "INTEGER", "live weights"),
    Column("error_lower", "DOUBLE", "certify/optimum: certified lower bound on the ticket's sup error"),
    Column("error_upper", "DOUBLE", "certify/optimum: certified upper bound on the ticket's sup error"),
    Column("error_method", "VARCHAR", "certify: how the sup error was certified"),
    Column("bound_lower", "DOUBLE", "optimum: proven lower bound on every mask of the paradigm at this width"),
    Column("verdict", "VARCHAR", "optimum: the solver's verdict at CERTIFY_EPS (yes | no | unknown)"),
    Column("hidden_mask", "BLOB", "ticket hidden mask (width x d), np.packbits"),
    Column("output_mask", "BLOB", "ticket output mask (width x outputs), np.packbits"),
    Column("seconds", "DOUBLE", "wall-clock seconds of the run (varies between runs)"),
    Column("train_seconds", "DOUBLE", "seconds of training (varies)"),
    Column("seconds_per_epoch", "DOUBLE", "median seconds per epoch (varies)"),
))

#: Columns of :data:`TRIALS` that vary between runs of the same trial; every
#: other column is a pure function of the trial.
VOLATILE: tuple[str, ...] = ("seconds", "timings")
#: The same for :data:`POPUP`.
POPUP_VOLATILE: tuple[str, ...] = ("seconds", "train_seconds", "seconds_per_epoch")

#: Where the attempts of a merged folder ran: each run of each shard gets a run number of
#: its own in the merged folder (``JOIN attempts USING (run)`` names the shard of an attempt).
SHARD_RUNS = Table("shard_runs", (
    Column("run", "INTEGER PRIMARY KEY", "the run number of these attempts in this folder"),
    Column("shard", "VARCHAR NOT NULL", "I/N: the shard they ran in"),
    Column("shard_id", "VARCHAR NOT NULL", "the shard folder's id (its meta shard_id)"),
    Column("source", "VARCHAR NOT NULL", "the shard folder, as given to merge"),
    Column("source_run", "INTEGER NOT NULL", "the run's number in the shard folder"),
    Column("merged", "VARCHAR NOT NULL", "when it was merged (UTC, ISO 8601)"),
))
