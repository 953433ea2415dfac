"""Shards of a sweep and their merge: a cluster of batch jobs that open no ports.

``prunegap gap --shard I/N --out DIR`` runs the I-th of N parts of a sweep into
a folder of its own (a SLURM job array: one array task per shard), and
``prunegap merge OUT SHARD_DIR...`` puts the parts together into one folder
whose rows are those of an unsharded run.  Each shard folder is a normal
results folder -- resumable, readable by ``report`` and ``results`` -- whose
meta table records ``shard`` ("I/N") and ``shard_id``.

The split: trial ``j`` (0-based) of the sweep's canonical trial list
(:meth:`SweepConfig.trials`: study, d, eps, seed) goes to shard ``j mod N +
1``, and the popup study's run ``j`` (:meth:`SweepConfig.popup_trials`)
continues the same rotation as item ``len(trials) + j``.  Both lists are
functions of the config alone (the certified one of its fingerprint), so
every array task computes the same split without talking to the others, and
what a shard stores never depends on what another stored, on the machine or
on the methods installed there.  Round-robin rather than a hash of the key:
neighbours in that list are the seeds of one (study, d, eps), whose costs
are alike, while the cost across cells spans orders of magnitude (small eps
in high d), so dealing the cells out seed by seed gives every shard
floor(k/N) or ceil(k/N) of the k seeds of every cell -- about 1/N of the
work -- where a hash gives 1/N only on average, and one unlucky shard the
expensive cell's seeds.  The popup runs (the longest tasks) are dealt out
too rather than left to one shard, which would be the array's straggler.

Merging takes the union by trial key.  Rows are pure functions of their
trials, so a trial held twice (a shard given twice, or run twice) has the
same row on every column but the run-dependent ones (:data:`.schema.VOLATILE`):
one is kept.  A ``failed`` row (every attempt lost: a fact about the
environment, not about the trial) gives way to a row of the same trial that
is not failed, and so does a row that a limit of the run's environment stopped
(:func:`.trials.environment_limited`: the memory cap, a wall clock); any
other difference is refused, naming the trial.  The
attempts of every run of every shard are copied, each run under a number of
its own in the merged folder, recorded in its ``shard_runs`` table
(:data:`.schema.SHARD_RUNS`); merging is idempotent, so shards can be merged
as they finish.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence, TypeVar

from ..exceptions import InvalidArgument
from .config import SweepConfig
from .popup import PopupTrial, popup_environment_limited
from .schema import POPUP, POPUP_VOLATILE, VOLATILE
from .store import DB_NAME, Store, experiment_diff
from .trials import Trial, environment_limited

__all__ = ["Shard", "MAX_SHARDS", "parse_shard", "as_shard", "shard_trials", "shard_popup_trials", "MergeRun",
           "merge_shards"]

T = TypeVar("T")

#: Most shards of one sweep (SLURM's MaxArraySize is at most 4,000,001).
MAX_SHARDS = 1_000_000


class Shard(NamedTuple):
    """The part ``index`` (1-based) of ``count`` parts of a sweep."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def take(self, items: Sequence[T], start: int = 0) -> list[T]:
        """This shard's items: round-robin over ``items`` in their order, the first one
        counted as item ``start`` of the rotation."""
        return [x for j, x in enumerate(items, start) if j % self.count == self.index - 1]


def parse_shard(text: Any, name: str = "--shard") -> Shard:
    """``"I/N"`` (1 <= I <= N <= :data:`MAX_SHARDS`) -> :class:`Shard`."""
    if isinstance(text, str):
        i, sep, n = text.strip().partition("/")
        # ASCII digits and a bounded length: int() would take "١" or "+3", and its cost grows with the digits
        if sep and all(part.isascii() and part.isdigit() and len(part) <= 7 for part in (i, n)):
            return _checked(int(i), int(n), text, name)
    raise _refused(text, name)


def as_shard(value: "Shard | tuple[int, int] | str | None", name: str = "shard") -> Shard | None:
    """A shard given as a :class:`Shard`, an (I, N) pair or ``"I/N"``; None stays None (the whole sweep)."""
    if value is None:
        return None
    if isinstance(value, tuple):
        if len(value) == 2 and all(type(v) is int for v in value):
            return _checked(value[0], value[1], value, name)
        raise _refused(value, name)
    return parse_shard(value, name)


def _checked(i: int, n: int, given: Any, name: str) -> Shard:
    if not 1 <= i <= n <= MAX_SHARDS:
        raise _refused(given, name)
    return Shard(i, n)


def _refused(given: Any, name: str) -> InvalidArgument:
    return InvalidArgument(
        f"{name} must be I/N with integers 1 <= I <= N <= {MAX_SHARDS:,} (the I-th of N shards, e.g. 2/8), got {given!r}"
    )


def shard_trials(config: SweepConfig, shard: Shard | None) -> list[Trial]:
    """The certified trials of ``shard`` (all of them for None), in the canonical order."""
    trials = config.trials()
    return trials if shard is None else shard.take(trials)


def shard_popup_trials(config: SweepConfig, shard: Shard | None) -> list[PopupTrial]:
    """The popup study's runs of ``shard`` (all of them for None): they continue the certified trials' rotation."""
    runs = config.popup_trials()
    return runs if shard is None else shard.take(runs, start=len(config.trials()))


# merging ---------------------------------------------------------------------------
@dataclass
class MergeRun:
    """What one merge did."""

    folder: Path
    count: int  # N: the shards the sweep was split into
    shards: tuple[int, ...]  # the shard indices given, distinct, sorted
    inputs: int  # shard folders given (one given twice counted twice)
    total: int  # trials the sweep declares
    stored: int  # trials in the folder after the merge
    added: int = 0  # trials new to the folder
    replaced: int = 0  # failed rows that gave way to a shard's row of the same trial
    duplicates: int = 0  # trials held by more than one input, or already in the folder: kept once
    popup_total: int = 0  # popup runs the config declares
    popup_stored: int = 0  # of those, in the folder after the merge
    popup_added: int = 0
    runs: int = 0  # runs of attempts copied now, each under a run number of its own
    attempts: int = 0  # attempt records copied now
    missing_shards: tuple[int, ...] = ()  # shards some of whose trials or popup runs are still missing

    @property
    def missing(self) -> int:
        """Trials of the sweep not in the folder (a later ``prunegap gap --out`` runs them)."""
        return self.total - self.stored

    @property
    def popup_missing(self) -> int:
        return self.popup_total - self.popup_stored

    @property
    def missing_spec(self) -> str:
        """The missing shards as a SLURM array spec ("2,5-7"), to resubmit them with ``sbatch --array=``."""
        spans: list[list[int]] = []
        for i in self.missing_shards:
            if spans and spans[-1][1] == i - 1:
                spans[-1][1] = i
            else:
                spans.append([i, i])
        return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


@dataclass
class _Part:
    """One shard folder, read whole (it is closed again before anything is written)."""

    folder: Path
    meta: dict[str, str]
    shard: Shard
    config: SweepConfig
    trials: list[dict[str, Any]]
    popup: list[dict[str, Any]]
    attempts: list[dict[str, Any]]

    @property
    def id(self) -> str:
        return self.meta.get("shard_id") or str(self.folder.resolve())


def _read(folder: Path) -> _Part:
    with Store.open(folder) as store:
        meta = store.meta()
        held = store.shard()
        if held is None:
            what = "merged from shards" if "merged_shards" in meta else "written without --shard"
            raise InvalidArgument(
                f"{folder} is not a shard folder ({what}): merge takes folders of `prunegap gap --shard I/N`; "
                f"to complete a whole folder, run `prunegap gap --out {folder}`"
            )
        return _Part(folder, meta, Shard(*held), store.config(), store.rows(masks=True),
                     store.popup_rows(masks=True), store.attempts())


def _same_path(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:  # hard links, bind mounts: the same database under two names
        return (a / DB_NAME).exists() and (b / DB_NAME).exists() and os.path.samefile(a / DB_NAME, b / DB_NAME)
    except OSError:
        return False


def _check_parts(parts: list[_Part]) -> None:
    first = parts[0]
    for p in parts[1:]:
        if p.meta.get("fingerprint") != first.meta.get("fingerprint"):
            changed = experiment_diff(json.loads(first.meta.get("experiment", "{}")),
                                      json.loads(p.meta.get("experiment", "{}")))
            what = (f"the config differs in: {', '.join(changed)}" if changed
                    else f"made by prunegap {first.meta.get('prunegap_version', '?')} and "
                         f"{p.meta.get('prunegap_version', '?')}: results of different major.minor versions are never mixed")
            raise InvalidArgument(
                f"{p.folder} holds shard {p.shard} of a different sweep than {first.folder} (fingerprint "
                f"{p.meta.get('fingerprint')}, {first.meta.get('fingerprint')}; {what}); merge the shards of one sweep"
            )
        # The popup study is not in the fingerprint, but its split is: the same runs in every shard.
        a, b = first.config.to_dict(), p.config.to_dict()
        changed = [name for name, key in (("popup", "popup"), ("popup.certify", "popup_certify")) if a[key] != b[key]]
        if changed:
            raise InvalidArgument(
                f"{p.folder} holds shard {p.shard} of a different sweep than {first.folder} (the config differs in: "
                f"{', '.join(changed)}); merge the shards of one sweep"
            )
        if p.shard.count != first.shard.count:
            raise InvalidArgument(
                f"{p.folder} is shard {p.shard} and {first.folder} shard {first.shard}: the shards of one merge "
                f"split the sweep the same way (the same N); merge them into separate folders"
            )


def _differing(a: dict[str, Any], b: dict[str, Any], volatile: Sequence[str]) -> list[str]:
    def same(x: Any, y: Any) -> bool:
        # NaN compares unequal to itself; bit for bit, two NaNs of one trial are the same value
        return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))

    return [c for c in a if c not in volatile and not same(a[c], b.get(c))]


def _trial_rank(row: dict[str, Any]) -> int:
    """0: a pure function of its trial; 1: stopped by the run's environment (the memory cap, a wall
    clock); 2: failed (every attempt lost).  A row gives way to one of a lower rank."""
    if row["status"] == "failed":
        return 2
    return 1 if row["status"] == "unknown" and environment_limited(row.get("limit")) else 0


def _popup_rank(row: dict[str, Any]) -> int:
    """:func:`_trial_rank` of a popup run."""
    if row["status"] == "failed":
        return 2
    return 1 if popup_environment_limited(row) else 0


class _Union:
    """Rows of one table by key, from several sources, one row per key."""

    def __init__(self, what: str, volatile: Sequence[str], rank: Callable[[dict[str, Any]], int]) -> None:
        self.what, self.volatile, self.rank = what, volatile, rank
        self.rows: dict[str, tuple[dict[str, Any], str]] = {}
        self.duplicates = 0

    def add(self, row: dict[str, Any], source: str) -> None:
        key = row["key"]
        held = self.rows.get(key)
        if held is None:
            self.rows[key] = (row, source)
            return
        old, where = held
        self.duplicates += 1
        cols = _differing(old, row, self.volatile)
        if not cols:
            return
        new_rank, old_rank = self.rank(row), self.rank(old)
        if new_rank < old_rank:
            self.rows[key] = (row, source)
        elif new_rank > old_rank or new_rank > 0:
            return  # the environment's row gives way; of two, the first stays
        else:
            raise InvalidArgument(
                f"{where} and {source} both hold {self.what} {key} with different results (column(s) "
                f"{', '.join(cols[:8])}): they were not made by the same code; merge only one of them"
            )


def merge_shards(out: str | os.PathLike[str], folders: Sequence[str | os.PathLike[str]]) -> MergeRun:
    """Merge the shard folders ``folders`` (of one sweep, written by ``prunegap gap --shard I/N``)
    into the results folder ``out``: created, or a folder of the same sweep (idempotent:
    merging more shards, or the same ones again, into it is fine).

    Every check comes before the first write, and the rows, the attempts and the
    meta are committed in one transaction.  Shards need not all be there: the
    returned :class:`MergeRun` says how many trials are still missing."""
    out = Path(out)
    folders = [Path(f) for f in folders]
    if not folders:
        raise InvalidArgument("merge needs at least one shard folder (written by prunegap gap --shard I/N)")
    for f in folders:
        if _same_path(f, out):
            raise InvalidArgument(f"the merged folder {out} is also one of the shards given ({f}): merge into another folder")
    parts = [_read(f) for f in folders]
    _check_parts(parts)
    count = parts[0].shard.count
    if (out / DB_NAME).exists():  # refused before anything is written into it
        with Store.open(out) as store:
            held, merged = store.shard(), store.meta().get("merged_shards")
        if held is not None:
            raise InvalidArgument(f"{out} is itself shard {held[0]}/{held[1]}: merge into another folder")
        if merged is not None and merged != str(count):
            raise InvalidArgument(f"{out} holds a merge of {merged} shards; these are shards of {count}: "
                                  "merge them into another folder")

    trials, popup = _Union("trial", VOLATILE, _trial_rank), _Union("popup run", POPUP_VOLATILE, _popup_rank)
    for p in parts:  # the inputs among themselves first: a conflict there leaves `out` untouched
        for row in p.trials:
            trials.add(row, str(p.folder))
        for row in p.popup:
            popup.add(row, str(p.folder))
    config = parts[0].config
    with Store.for_shard(out, config, None) as store:
        before = {r["key"]: r for r in store.rows(masks=True)}
        popup_before = {r["key"]: r for r in store.popup_rows(masks=True)}
        run = MergeRun(folder=out, count=count, shards=tuple(sorted({p.shard.index for p in parts})),
                       inputs=len(parts), total=len(config.trials()), stored=0)
        # the folder's own rows come first: a merge never replaces a good row
        new_trials, gone_trials = _against(trials, before, str(out))
        new_popup, gone_popup = _against(popup, popup_before, str(out))
        run.duplicates = trials.duplicates
        run.added, run.replaced = len(new_trials) - len(gone_trials), len(gone_trials)
        run.popup_added = len(new_popup) - len(gone_popup)
        attempts, runs = _attempts(parts, store)
        run.runs, run.attempts = len(runs), len(attempts)
        store.absorb(trials=new_trials, popup=new_popup, replace_trials=gone_trials, replace_popup=gone_popup,
                     attempts=attempts, runs=runs, meta={"merged_shards": str(count)})
        stored, popup_stored = store.keys(), store.keys(POPUP)
    keys = [t.key for t in config.trials()]
    popup_keys = [t.key for t in config.popup_trials()]
    run.stored = sum(k in stored for k in keys)
    run.popup_total, run.popup_stored = len(popup_keys), sum(k in popup_stored for k in popup_keys)
    rotation = [k not in stored for k in keys] + [k not in popup_stored for k in popup_keys]
    run.missing_shards = tuple(sorted({j % count + 1 for j, lacking in enumerate(rotation) if lacking}))
    return run


def _against(union: _Union, held: dict[str, dict[str, Any]], where: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows to insert, keys whose stored row they replace), against the rows the folder already holds."""
    rows, gone = [], []
    for key, (row, source) in union.rows.items():
        old = held.get(key)
        if old is None:
            rows.append(row)
            continue
        probe = _Union(union.what, union.volatile, union.rank)
        probe.add(old, where)
        probe.add(row, source)
        union.duplicates += 1
        if probe.rows[key][0] is row:
            rows.append(row)
            gone.append(key)
    return rows, gone


def _attempts(parts: list[_Part], store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The attempt records of every run of every shard folder not merged before, under run
    numbers of this folder, and the :data:`~.schema.SHARD_RUNS` rows that say where they ran."""
    done = {(r["shard_id"], r["source_run"]) for r in store.shard_runs()}
    number = store.next_run()
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    attempts, runs, seen = [], [], set()
    for p in parts:
        if p.id in seen:  # the same folder (or a copy of it) given twice
            continue
        seen.add(p.id)
        for source_run in sorted({a["run"] for a in p.attempts}):
            if (p.id, source_run) in done:
                continue
            attempts += [{**a, "run": number} for a in p.attempts if a["run"] == source_run]
            runs.append({"run": number, "shard": str(p.shard), "shard_id": p.id, "source": str(p.folder),
                         "source_run": source_run, "merged": now})
            number += 1
    return attempts, runs
