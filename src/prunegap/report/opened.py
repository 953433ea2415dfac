"""A sweep folder opened from Python: its trials as a DataFrame, its summary, its figures.

    import prunegap as pg
    sweep = pg.open_sweep("out/gap")
    sweep.trials.groupby("study").n_star.median()
    sweep.plot_nstar()

Everything is read when the folder is opened, and the database is closed again at once: an open
:class:`SweepResults` holds no lock, so a sweep can start or resume into the folder meanwhile.  A
folder a sweep is writing right now is read as a snapshot of the trials it has committed
(:meth:`~prunegap.sweep.store.Store.open` with ``snapshot=True``); :attr:`SweepResults.snapshot`
says so, and opening it again reads the trials committed since.
"""

from __future__ import annotations

import html
import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..exceptions import InvalidArgument, PrunegapError
from ..io import json_ready
from ..sweep.config import SweepConfig
from ..sweep.schema import ATTEMPTS, POPUP, TRIALS, Table
from ..sweep.store import DB_NAME, Store
from . import figures, summarize
from .analysis import analyze
from .popup import analyze_popup

__all__ = ["SweepResults", "open_sweep", "STATUSES"]

#: The statuses of a certified trial, in the order they are counted.
STATUSES: tuple[str, ...] = ("certified", "unknown", "failed")


def _nullable(sql: str) -> bool:
    return "NOT NULL" not in sql and "PRIMARY KEY" not in sql


def _dtype(sql: str) -> Any:
    """The pandas dtype of an SQL column: NULLs as pd.NA in integers and strings, NaN in floats."""
    kind = sql.split()[0]
    if kind in ("INTEGER", "BIGINT", "SMALLINT", "TINYINT"):
        return "Int64" if _nullable(sql) else "int64"
    if kind in ("DOUBLE", "FLOAT", "REAL"):
        return "float64"
    if kind == "BOOLEAN":
        return "boolean"
    if kind == "VARCHAR":
        return pd.StringDtype()
    raise PrunegapError(f"no pandas dtype for the SQL type {sql!r}")  # pragma: no cover - schema.py declares no other


def _frame(table: Table, rows: Sequence[dict[str, Any]], *, times: Sequence[str] = ()) -> pd.DataFrame:
    """``rows`` (as the store reads them, masks left out) as a typed DataFrame: the JSON columns
    parsed into Python objects, ``times`` (ISO 8601 text) as UTC timestamps."""
    nested = set(table.json_columns)
    data: dict[str, Any] = {}
    for col in table.columns:
        if col.name in table.blobs:
            continue
        values = [r[col.name] for r in rows]
        if col.name in nested:
            data[col.name] = pd.Series([None if v is None else json.loads(v) for v in values], dtype=object)
        elif col.name in times:
            data[col.name] = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
        else:
            data[col.name] = pd.Series(values, dtype=_dtype(col.type))
    return pd.DataFrame(data)


class SweepResults:
    """A results folder, read at one moment (use :func:`open_sweep`).

    ``trials``: one row per stored trial, in the order of ``Store.rows()`` (study, d, eps
    descending, seed), every column but the ticket masks; ``attempts``: where and how each
    attempt ran; ``popup``: the popup study's runs (None when the sweep declares none).
    ``summary`` holds the numbers of ``summary.json``, ``analysis`` the report's statistics."""

    def __init__(self, folder: Path, *, rows: list[dict[str, Any]], attempts: list[dict[str, Any]],
                 popup_rows: list[dict[str, Any]], config: SweepConfig, meta: dict[str, str], snapshot: bool) -> None:
        self.folder = folder
        self.config = config
        self.meta = dict(meta)
        #: True when a sweep was writing the folder as it was read: the trials it had committed then.
        self.snapshot = snapshot
        self._rows = rows
        self._popup_rows = popup_rows
        self.trials = _frame(TRIALS, rows)
        self.attempts = _frame(ATTEMPTS, attempts, times=("finished",))
        declares_popup = config.popup is not None or config.certify is not None
        self.popup: pd.DataFrame | None = _frame(POPUP, popup_rows) if declares_popup or popup_rows else None

    # what is there ----------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """The sweep's fingerprint (its experiment and prunegap's major.minor)."""
        return self.meta.get("fingerprint", "")

    @cached_property
    def expected(self) -> int:
        """Trials the config declares."""
        return len(self.config.trials())

    @property
    def stored(self) -> int:
        return len(self.trials)

    @cached_property
    def complete(self) -> bool:
        """Every trial the config declares is stored (and every popup run, when it declares a popup study)."""
        if not {t.key for t in self.config.trials()} <= set(self.trials["key"]):
            return False
        if self.popup is None:
            return True
        return {t.key for t in self.config.popup_trials()} <= set(self.popup["key"])

    @cached_property
    def counts(self) -> pd.DataFrame:
        """Per study (in the config's order): trials planned and stored, and how many are certified,
        unknown and failed."""
        planned: dict[str, int] = {}
        for t in self.config.trials():
            planned[t.study] = planned.get(t.study, 0) + 1
        names = [s.name for s in self.config.studies]
        names += sorted(set(self.trials["study"]) - set(names))  # rows of a study the config no longer names
        out = []
        for name in names:
            mine = self.trials[self.trials["study"] == name]
            out.append({"study": name, "planned": planned.get(name, 0), "stored": len(mine),
                        **{s: int((mine["status"] == s).sum()) for s in STATUSES}})
        return pd.DataFrame(out, columns=["study", "planned", "stored", *STATUSES]).set_index("study")

    # numbers and figures ------------------------------------------------------
    @cached_property
    def analysis(self) -> dict[str, Any]:
        """The report's statistics (:func:`prunegap.report.analysis.analyze`)."""
        return analyze(self._rows, self.config)

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The numbers ``prunegap report`` writes to ``summary.json`` (nothing is written here)."""
        return json_ready(summarize(self.analysis, analyze_popup(self._popup_rows, self.config), self.config, self.meta))

    def plot_nstar(self, ax: Any = None, **kw: Any) -> Any:
        """n* against eps per study (the report's ``nstar`` figure); returns the matplotlib Axes."""
        return figures.plot_nstar(self.analysis, ax=ax, **kw)

    def plot_gap(self, ax: Any = None, **kw: Any) -> Any:
        """The gap ratio against eps (the report's ``gap`` figure); returns the matplotlib Axes."""
        return figures.plot_gap(self.analysis, ax=ax, **kw)

    def plot_success(self, ax: Any = None, **kw: Any) -> Any:
        """P(n* <= n) against the width n (the report's ``success`` figure); returns the matplotlib Axes."""
        return figures.plot_success(self.analysis, ax=ax, **kw)

    def plot_frontier(self, ax: Any = None, **kw: Any) -> Any:
        """Proofs-only studies: the certified lower end of n* against d; returns the matplotlib Axes."""
        return figures.plot_frontier(self.analysis, ax=ax, **kw)

    def plot_targets(self, ax: Any = None, **kw: Any) -> Any:
        """Network targets: median n* against the target width; returns the matplotlib Axes."""
        return figures.plot_targets(self.analysis, ax=ax, **kw)

    def to_polars(self) -> Any:
        """:attr:`trials` as a polars DataFrame, its nested columns as polars lists and structs
        (``steps``: a list of {width, status})."""
        try:
            import polars as pl  # optional: only this method needs it
        except ImportError:
            raise PrunegapError("SweepResults.to_polars needs polars: pip install polars") from None
        columns = []
        for col in TRIALS.columns:
            if col.name in TRIALS.blobs:
                continue
            values = self.trials[col.name].tolist()
            if col.name == "steps":  # (width, status) pairs: a struct keeps the width an integer
                values = [None if v is None else [{"width": w, "status": s} for w, s in v] for v in values]
            elif col.name not in TRIALS.json_columns:
                values = [None if v is pd.NA or (isinstance(v, float) and v != v) else v for v in values]
            dtype = None if col.name in TRIALS.json_columns else _polars_dtype(pl, col.type)  # nested: from the values
            columns.append(pl.Series(col.name, values, dtype=dtype, strict=True))
        return pl.DataFrame(columns)

    # display ------------------------------------------------------------------
    def _state(self) -> str:
        done = "complete" if self.complete else "incomplete"
        live = "; snapshot of a running sweep" if self.snapshot else ""
        return f"{self.stored} of {self.expected} trials stored, {done}{live}"

    def _status_text(self) -> str:
        totals = {s: int((self.trials["status"] == s).sum()) for s in STATUSES} if self.stored else dict.fromkeys(STATUSES, 0)
        return ", ".join(f"{n} {s}" for s, n in totals.items())

    def __repr__(self) -> str:
        lines = [f"SweepResults({str(self.folder)!r}, sweep {self.fingerprint}): {self._state()}",
                 f"  {self._status_text()}"]
        for study, c in self.counts.iterrows():
            lines.append(f"  {study}: {c['stored']}/{c['planned']} stored, "
                         + ", ".join(f"{c[s]} {s}" for s in STATUSES))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in ("study", "planned", "stored", *STATUSES))
        body = "".join(
            "<tr>" + f"<td>{esc(str(study))}</td>" + "".join(f"<td>{int(c[k])}</td>" for k in ("planned", "stored", *STATUSES))
            + "</tr>"
            for study, c in self.counts.iterrows()
        )
        return (
            f"<div><b>Sweep {esc(self.fingerprint)}</b> in <code>{esc(str(self.folder))}</code>: "
            f"{esc(self._state())} ({esc(self._status_text())})"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        )


def _polars_dtype(pl: Any, sql: str) -> Any:
    kind = sql.split()[0]
    if kind in ("INTEGER", "BIGINT", "SMALLINT", "TINYINT"):
        return pl.Int64
    if kind in ("DOUBLE", "FLOAT", "REAL"):
        return pl.Float64
    if kind == "BOOLEAN":
        return pl.Boolean
    return pl.String


def open_sweep(path: str | os.PathLike[str]) -> SweepResults:
    """The results folder at ``path`` (what ``prunegap gap --out`` wrote, or its ``results.duckdb``),
    read now.  A folder a sweep is still writing is read as a snapshot of its committed trials,
    without ever locking the sweep out.  Raises :class:`~prunegap.exceptions.InvalidArgument`
    (one line) for a path that is not a readable results folder, and writes nothing."""
    folder = Path(os.fspath(path))
    if folder.name == DB_NAME and folder.is_file():
        folder = folder.parent
    try:
        with Store.open(folder, snapshot=True) as store:
            rows = store.rows()
            attempts = store.attempts()
            popup_rows = store.popup_rows()
            config = store.config()
            meta = store.meta()
            snapshot = store.snapshot
    except InvalidArgument:
        raise
    except PrunegapError as exc:  # a stored config this prunegap cannot parse, ...
        raise InvalidArgument(f"{folder}: {exc}") from None
    try:
        return SweepResults(folder, rows=rows, attempts=attempts, popup_rows=popup_rows, config=config, meta=meta,
                            snapshot=snapshot)
    except (TypeError, ValueError) as exc:  # a column altered to hold other values (text in n_star, bad JSON)
        raise InvalidArgument(f"{folder / DB_NAME}: a column holds values prunegap never writes "
                              f"({type(exc).__name__}: {' '.join(str(exc).split())}); the database was altered "
                              "after it was written: restore it, or rerun the sweep into a new folder") from None
