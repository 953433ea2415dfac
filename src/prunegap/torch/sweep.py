"""The popup study of a sweep: edge-popup runs through the gap job's executors, into its database.

``prunegap gap`` runs the certified trials first, then the popup study that
the config's ``[popup]`` and ``[popup.certify]`` tables declare
(:class:`~prunegap.sweep.config.PopupStudy`):

* kind ``data``: edge-popup on digits (or the teacher) per (paradigm, width,
  density, seed): train and test accuracy or loss, densities, timings;
* kind ``certify``: edge-popup on the single-neuron teacher of the sweep's
  setting (``scale = none``, so the ticket is a mask on prunegap's own
  instance), its sup error certified by :func:`prunegap.errors.evaluate`;
* kind ``optimum``: the certified min-error ticket of the reference
  paradigm at the same (width, seed) (:func:`.certify.reference_for`);
* kind ``construction``: the subset-sum construction at the same (width,
  seed) (``weight/construction``; one weight per unit, so also an N:M ticket
  for every N >= 1), beside the weight and N:M tickets.

Each is a :class:`~prunegap.sweep.trials.PopupTrial`, submitted as
:func:`prunegap.sweep.sandbox.run_attempt` to the executor (with the same
retries as a certified trial when a worker dies), but run in the worker
itself, not in a process of its own: a fresh process would spend longer
importing torch and scikit-learn (seconds) than most runs take, and a run
bounds its own work (epochs; ``time_limit`` is checked after each epoch).
Each worker runs one torch thread: the parallelism is across runs.  Each finished row is committed to the table ``popup`` of
``results.duckdb`` at once (:data:`POPUP_COLUMNS`); rerunning skips stored
keys, so an interrupted study resumes.  A row is a pure function of its
trial except ``seconds``, ``seconds_per_epoch`` and ``train_seconds``.
"""

from __future__ import annotations

import json
import math
import os
import sys
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, CancelledError, Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..exceptions import InvalidArgument, PrunegapError
from ..masks import pack_mask
from ..sweep.trials import PopupTrial

if TYPE_CHECKING:
    from ..sweep.config import SweepConfig

__all__ = ["POPUP_COLUMNS", "POPUP_TABLE", "PopupRun", "plan_popup", "optimum_trial", "construction_trial", "run_popup_trial",
           "run_popup_sweep", "popup_rows", "trial_columns", "torch_available", "CERTIFY_EPS"]

POPUP_TABLE = "popup"
#: eps handed to the reference solvers; with objective min-error it only decides their yes/no verdict.
CERTIFY_EPS = 1e-2
#: (column, SQL type, meaning) of the ``popup`` table.
POPUP_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("key", "VARCHAR PRIMARY KEY", "kind/dataset or d/paradigm/width/density/seed/hash of the whole configuration"),
    ("kind", "VARCHAR NOT NULL", "data | certify (edge-popup runs) | optimum (a certified solver's min-error ticket) "
                                 "| construction (the subset-sum construction's ticket)"),
    ("dataset", "VARCHAR", "digits | teacher (NULL for optimum)"),
    ("paradigm", "VARCHAR NOT NULL", "weight | neuron | nm | block"),
    ("method", "VARCHAR", "the solver (optimum only)"),
    ("nm", "VARCHAR", "N:M of paradigm nm"),
    ("block", "INTEGER", "B of paradigm block"),
    ("d", "INTEGER", "input dimension"),
    ("width", "INTEGER NOT NULL", "hidden units n"),
    ("density", "DOUBLE", "fraction of the paradigm's elements kept (edge-popup runs)"),
    ("seed", "BIGINT NOT NULL", "the random network (and teacher, scores, batches)"),
    ("epochs", "INTEGER", "edge-popup epochs"),
    ("config", "VARCHAR NOT NULL", "the whole configuration (JSON)"),
    ("status", "VARCHAR NOT NULL", "ok | failed | timeout"),
    ("reason", "VARCHAR", "why it failed or stopped"),
    ("train_accuracy", "DOUBLE", "digits: training accuracy"),
    ("test_accuracy", "DOUBLE", "digits: test accuracy"),
    ("train_loss", "DOUBLE", "cross-entropy (digits) or MSE (teacher) on the training set"),
    ("test_loss", "DOUBLE", "the same on the test set"),
    ("test_max_error", "DOUBLE", "teacher: largest test error"),
    ("mask_density", "DOUBLE", "fraction of mask entries kept"),
    ("weight_density", "DOUBLE", "fraction of weights live"),
    ("unit_density", "DOUBLE", "fraction of units live"),
    ("kept_units", "INTEGER", "live units"),
    ("kept_weights", "INTEGER", "live weights"),
    ("error_lower", "DOUBLE", "certify/optimum: certified lower bound on the ticket's sup error"),
    ("error_upper", "DOUBLE", "certify/optimum: certified upper bound on the ticket's sup error"),
    ("error_method", "VARCHAR", "certify: how the sup error was certified"),
    ("bound_lower", "DOUBLE", "optimum: proven lower bound on every mask of the paradigm at this width"),
    ("verdict", "VARCHAR", "optimum: the solver's verdict at CERTIFY_EPS (yes | no | unknown)"),
    ("hidden_mask", "BLOB", "ticket hidden mask (width x d), np.packbits"),
    ("output_mask", "BLOB", "ticket output mask (width x outputs), np.packbits"),
    ("seconds", "DOUBLE", "wall-clock seconds of the run (varies between runs)"),
    ("train_seconds", "DOUBLE", "seconds of training (varies)"),
    ("seconds_per_epoch", "DOUBLE", "median seconds per epoch (varies)"),
)
_NAMES = tuple(c for c, _, _ in POPUP_COLUMNS)
_BLOBS = ("hidden_mask", "output_mask")


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# trials --------------------------------------------------------------------------
def plan_popup(config: "SweepConfig") -> list[PopupTrial]:
    """Every popup trial of ``config``: data runs, certify runs, then the optima they need (each once)."""
    trials: list[PopupTrial] = []
    for study in (config.popup, config.certify):
        if study is None:
            continue
        for kw in study.configs(config.init, config.output):
            trials.append(PopupTrial(study.kind, tuple(sorted(kw.items())), study.time_limit))
    c = config.certify
    if c is not None:
        seen: set[str] = set()
        for paradigm in c.paradigms:
            for width in c.widths:
                for seed in c.seeds:
                    t = optimum_trial(config, paradigm, width, seed)
                    if t.key not in seen:
                        seen.add(t.key)
                        trials.append(t)
        if {"weight", "nm"} & set(c.paradigms):
            trials += [construction_trial(config, width, seed) for width in c.widths for seed in c.seeds]
    return trials


def construction_trial(config: "SweepConfig", width: int, seed: int) -> PopupTrial:
    """The subset-sum construction's ticket at (width, seed) of the certify study's single neuron."""
    c = config.certify
    if c is None:
        raise InvalidArgument("the sweep has no [popup.certify] study")
    params = {"paradigm": "weight", "method": "construction", "d": c.d, "width": width, "seed": seed,
              "init": config.init, "output": config.output, "eps": CERTIFY_EPS, "options": {}}
    return PopupTrial("construction", tuple(sorted(params.items())), c.time_limit)


def optimum_trial(config: "SweepConfig", paradigm: str, width: int, seed: int) -> PopupTrial:
    """The certified optimum that the certify study's ``paradigm`` tickets at (width, seed) are compared with."""
    from .certify import reference_for

    c = config.certify
    if c is None:
        raise InvalidArgument("the sweep has no [popup.certify] study")
    ref, method, options, _ = reference_for(paradigm, nm=c.nm, block=min(c.block, width))
    params = {"paradigm": ref, "method": method, "d": c.d, "width": width, "seed": seed, "init": config.init,
              "output": config.output, "eps": CERTIFY_EPS,
              "options": dict(sorted({**dict(c.solver_options), **options}.items()))}
    return PopupTrial("optimum", tuple(sorted(params.items())), c.time_limit)


def trial_columns(trial: PopupTrial) -> dict[str, Any]:
    """The columns of a popup row that the trial alone decides, every other column None."""
    p = dict(trial.params)
    row: dict[str, Any] = dict.fromkeys(_NAMES)
    row.update(
        key=trial.key, kind=trial.kind, dataset=p.get("dataset"), paradigm=p["paradigm"], method=p.get("method"),
        nm=p.get("nm") or p.get("options", {}).get("nm"), block=p.get("block") or p.get("options", {}).get("block"),
        d=p.get("d"), width=p["width"], density=p.get("density"), seed=p["seed"], epochs=p.get("epochs"),
        config=json.dumps(p, sort_keys=True), status="failed",
    )
    return row


class _Late(Exception):
    pass


def run_popup_trial(trial: PopupTrial, deadline: float = math.inf) -> dict[str, Any]:
    """The row of one popup trial; a failing run is a row with status ``failed``, never an exception.

    ``deadline`` (``time.perf_counter()`` units): an edge-popup run past it after
    an epoch stops with status ``timeout``."""
    row = trial_columns(trial)
    try:
        row.update(_solve(trial) if trial.kind in ("optimum", "construction") else _popup(trial, deadline))
        row.update(status="ok", reason=None)
    except _Late:
        row.update(status="timeout", reason=f"stopped at the time limit of {trial.time_limit:g} s")
    except MemoryError as exc:
        row.update(status="failed", reason=f"memory budget: {_describe(exc)}"[:2000])
    except Exception as exc:  # noqa: BLE001 - a failing run is a row, as for the certified trials
        row.update(status="failed", reason=_describe(exc)[:2000])
    return row


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _popup(trial: PopupTrial, deadline: float) -> dict[str, Any]:
    import time

    from . import require_torch
    from .popup import PopupConfig, popup

    require_torch().set_num_threads(1)  # one torch thread per run: workers run several at once

    def check(epoch: int, loss: float) -> None:
        if time.perf_counter() > deadline:
            raise _Late()

    result = popup(PopupConfig(**dict(trial.params)), on_epoch=check)
    m = result.metrics
    out = {k: m.get(k) for k in ("train_accuracy", "test_accuracy", "train_loss", "test_loss", "test_max_error",
                                 "mask_density", "weight_density", "unit_density", "kept_units", "kept_weights",
                                 "seconds_per_epoch", "train_seconds")}
    out["hidden_mask"] = pack_mask(result.network.hidden_mask)
    out["output_mask"] = pack_mask(result.network.output_mask)
    if trial.kind == "certify":
        from .certify import certify_ticket

        bound = certify_ticket(result)
        out.update(error_lower=float(bound.lower), error_upper=float(bound.upper), error_method=str(bound.method))
    return out


def _solve(trial: PopupTrial) -> dict[str, Any]:
    from ..api import solve
    from ..setting import Setting

    p = dict(trial.params)
    result = solve(Setting(d=p["d"], init=p["init"], output=p["output"]), width=p["width"], seed=p["seed"], eps=p["eps"],
                   paradigm=p["paradigm"], method=p["method"], objective="min-error", **p["options"])
    masks = result.masks
    return {
        "error_lower": float(result.outcome.error_lower), "error_upper": float(result.outcome.error_upper),
        # only an exact method's lower bound holds for every mask of the family
        "bound_lower": float(result.outcome.error_lower) if trial.kind == "optimum" else None,
        "verdict": str(result.certified),
        "kept_units": int(masks.kept_units), "kept_weights": int(masks.kept_weights),
        "weight_density": float(masks.density), "hidden_mask": pack_mask(masks.hidden_mask),
        "output_mask": pack_mask(masks.output_mask),
    }


# the table -----------------------------------------------------------------------
def _ensure_table(con: Any) -> None:
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if POPUP_TABLE in tables:
        cols = [r[0] for r in con.execute(f"SELECT * FROM {POPUP_TABLE} LIMIT 0").description]
        if tuple(cols) != _NAMES:
            raise InvalidArgument(
                f"the table {POPUP_TABLE!r} of this results database has other columns than this prunegap writes; "
                "use another --out folder, or drop that table (DROP TABLE popup) to rerun the popup study"
            )
        return
    cols = ", ".join(f'"{c}" {t}' for c, t, _ in POPUP_COLUMNS)
    con.execute(f"CREATE TABLE {POPUP_TABLE} ({cols})")


def _insert(con: Any, row: dict[str, Any]) -> None:
    names = ", ".join(f'"{c}"' for c in _NAMES)
    con.execute(f"INSERT INTO {POPUP_TABLE} ({names}) VALUES ({', '.join('?' for _ in _NAMES)})",
                [row.get(c) for c in _NAMES])


def popup_rows(store: Any, *, masks: bool = False) -> list[dict[str, Any]]:
    """The stored popup rows of an open :class:`~prunegap.sweep.store.Store`, in key order ([] when none)."""
    tables = {r[0] for r in store.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if POPUP_TABLE not in tables:
        return []
    names = [c for c in _NAMES if masks or c not in _BLOBS]
    quoted = ", ".join(f'"{c}"' for c in names)
    cur = store.con.execute(f"SELECT {quoted} FROM {POPUP_TABLE} ORDER BY key")
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _normalize(trial: PopupTrial, row: dict[str, Any]) -> dict[str, Any]:
    """A popup row from what an attempt returned: the sandbox builds a stopped attempt's row
    from the certified trials' columns (status ``unknown`` with the limit); keep ours."""
    out = trial_columns(trial)
    out.update({k: v for k, v in row.items() if k in out})
    if row.get("status") not in ("ok", "failed", "timeout"):
        limit = str(row.get("limit") or "")
        out["status"] = "timeout" if limit.startswith("time_limit") else "failed"
        out["reason"] = row.get("reason") or limit or None
    return out


# the driver ---------------------------------------------------------------------
@dataclass
class PopupRun:
    """What one invocation of the popup study did."""

    total: int = 0  # popup trials the config declares
    stored_before: int = 0  # already in the folder (resumed past)
    ran: int = 0  # finished and stored now
    statuses: dict[str, int] = field(default_factory=dict)
    retries: int = 0  # attempts lost (a worker or process died) and run again
    skipped: str | None = None  # why the study did not run (no torch)


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def run_popup_sweep(
    config: "SweepConfig",
    folder: str | os.PathLike[str],
    *,
    executor: Executor | str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = 2,
    say: Callable[[str], None] = _say,
) -> PopupRun:
    """Run the popup trials of ``config`` that ``folder``'s database lacks (resumable).

    ``executor``, ``workers``, ``scheduler`` and ``retries`` mean what they mean for :func:`prunegap.sweep.run_sweep`, whose executors
    this uses; a given executor is left running.  Without PyTorch, the study
    is skipped with a note.  Raises ``KeyboardInterrupt`` on Ctrl-C after
    saving every finished row.
    """
    from ..sweep.executors import default_workers, make_executor, terminate
    from ..sweep.sandbox import run_attempt
    from ..sweep.store import Store

    trials = config.popup_trials()
    run = PopupRun(total=len(trials))
    if not trials:
        return run
    if not torch_available():
        run.skipped = "PyTorch is not installed (pip install 'prunegap[torch]')"
        say(f"note: skipping the popup study's {len(trials)} run(s): {run.skipped}")
        return run
    with Store.for_sweep(Path(folder), config) as store:
        _ensure_table(store.con)
        stored = {r[0] for r in store.con.execute(f"SELECT key FROM {POPUP_TABLE}").fetchall()}
        run.stored_before = sum(t.key in stored for t in trials)
        todo = [t for t in trials if t.key not in stored]
        if not todo:
            return run
        say(f"popup study: {len(todo)} edge-popup/solver run(s) to go, {run.stored_before} stored")
        own = executor is None or isinstance(executor, str)
        pool = make_executor(executor or "local", workers, scheduler) if own else executor
        isolate = False  # see the module's docstring
        window = getattr(pool, "window", None)
        if window is None:
            slots = getattr(pool, "slots", None)
            window = 2 * int(slots if slots is not None else (workers or default_workers()))
        inflight: dict[Future, tuple[PopupTrial, int]] = {}
        queue = iter(todo)

        def submit(trial: PopupTrial, attempt: int) -> None:
            try:
                inflight[pool.submit(run_attempt, trial, attempt, isolate, None)] = (trial, attempt)
            except (RuntimeError, BrokenExecutor) as exc:
                raise PrunegapError(f"the executor stopped while running {trial.key} ({_describe(exc)[:300]}); "
                                    "rerun the same command to resume") from None

        def fill() -> None:
            while len(inflight) < max(1, int(window)):
                trial = next(queue, None)
                if trial is None:
                    return
                submit(trial, 1)

        try:
            fill()
            while inflight:
                done, _ = wait(list(inflight), timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    trial, attempt = inflight.pop(future)
                    try:
                        result = future.result()
                        row, reason = result.row, result.reason
                    except (BrokenExecutor, CancelledError) as exc:
                        raise PrunegapError(f"the executor stopped while running {trial.key} ({_describe(exc)[:300]}); "
                                            "rerun the same command to resume") from None
                    except Exception as exc:  # noqa: BLE001 - the executor lost the attempt: retry
                        row, reason = None, _describe(exc)
                    if row is None:
                        if attempt <= retries:
                            run.retries += 1
                            submit(trial, attempt + 1)
                            continue
                        row = {"status": "failed", "reason": f"all {attempt} attempt(s) were lost; the last: {reason}"[:2000]}
                    row = _normalize(trial, row)
                    _insert(store.con, row)
                    run.ran += 1
                    run.statuses[row["status"]] = run.statuses.get(row["status"], 0) + 1
                fill()
        except BaseException:
            if own:
                terminate(pool)
            raise
        if own:
            pool.shutdown(wait=True)
    return run
