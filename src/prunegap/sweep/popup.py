"""The popup study's trial: one edge-popup run or certified reference, as a row of the ``popup`` table.

``prunegap gap`` runs the certified trials first, then the popup study that
the config's ``[popup]`` and ``[popup.certify]`` tables declare
(:class:`~prunegap.sweep.config.PopupStudy`, which expands it into
:class:`PopupTrial`\\ s).  A trial is of one kind:

* ``data``: edge-popup on digits (or the teacher) per (paradigm, width,
  density, seed): train and test accuracy or loss, densities, timings;
* ``certify``: edge-popup on the single-neuron teacher of the sweep's
  setting (``scale = none``, so the ticket is a mask on prunegap's own
  instance), its sup error certified by :func:`prunegap.errors.evaluate`;
* ``optimum``: the certified min-error ticket of the reference paradigm at
  the same (width, seed) (:func:`prunegap.torch.certify.reference_for`);
* ``construction``: the subset-sum construction at the same (width, seed)
  (``weight/construction``; one weight per unit, so also an N:M ticket for
  every N >= 1), beside the weight and N:M tickets.

The driver (:func:`prunegap.sweep.runner.run_popup_sweep`) submits a trial
like a certified one, with the same retries, attempts table and version
check, but the attempt runs in the worker itself, not in a process of its
own: a fresh process would spend longer importing torch and scikit-learn
(seconds) than most runs take, and a run bounds its own work (epochs;
``time_limit`` is checked after each epoch).  Each run uses one torch
thread and one BLAS thread (numpy's), in whatever process runs it: the
parallelism is across runs, and a float64 product summed by more threads
ends in other last bits, so a row would depend on the executor.  A row
(:data:`~prunegap.sweep.schema.POPUP`) is a pure function of its trial
except ``seconds``, ``seconds_per_epoch`` and ``train_seconds``; a failing
run is a row with status ``failed``, never an exception.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..api import solve
from ..masks import pack_mask
from ..setting import Setting
from ..torch import require_torch
from ..torch.certify import certify_ticket
from ..torch.popup import PopupConfig, popup
from .schema import POPUP
from .trials import Report, TimeLimit, TrialTimeout, describe

__all__ = ["PopupTrial", "run_popup_trial", "trial_columns", "stored_row", "failed_row", "popup_environment_limited",
           "CERTIFY_EPS", "STATUSES"]

#: eps handed to the reference solvers; with objective min-error it only decides their yes/no verdict.
CERTIFY_EPS = 1e-2
#: Statuses of a popup row.
STATUSES: tuple[str, ...] = ("ok", "failed", "timeout")


@dataclass(frozen=True)
class PopupTrial:
    """One trial of the popup study.

    ``kind``: ``data``, ``certify``, ``optimum`` or ``construction`` (see the
    module's docstring).  ``params``: the :class:`~prunegap.torch.PopupConfig`
    fields, or for ``optimum`` and ``construction`` the solve's (paradigm,
    method, d, width, seed, ...), as sorted pairs.  The key ends with a hash
    of everything, so rows of other options never pass for these.  Runs
    through the sweep's executors and sandbox like a
    :class:`~prunegap.sweep.trials.Trial`
    (:func:`~prunegap.sweep.trials.run_trial` hands it to :meth:`run`).
    """

    kind: str
    params: tuple[tuple[str, Any], ...]
    time_limit: float = math.inf  # wall-clock guard, seconds

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)

    @property
    def key(self) -> str:
        digest = hashlib.sha256(json.dumps([self.kind, list(self.params)], sort_keys=True).encode()).hexdigest()[:10]
        p = dict(self.params)
        pattern = f"/nm={p['nm']}" if p.get("nm") else (f"/block={p['block']}" if p.get("block") else "")
        where = p.get("dataset") or f"d={p.get('d')}"
        name = f"{p['paradigm']}-{p['method']}" if "method" in p else p["paradigm"]
        density = f"/R={p['density']!r}" if "density" in p else ""
        return f"popup-{self.kind}/{where}/{name}{pattern}/n={p['width']}{density}/seed={p['seed']}/{digest}"

    def config(self) -> dict[str, Any]:
        """The trial's columns of a popup row."""
        return trial_columns(self)

    def run(self, *, report: Report | None = None, guard: bool = True) -> dict[str, Any]:
        """The row (never raises for a failing run; ``report`` gets no events: nothing to bracket)."""
        t0 = time.perf_counter()
        try:
            with TimeLimit(self.time_limit if guard else math.inf):
                row = run_popup_trial(self, deadline=t0 + self.time_limit)
        except TrialTimeout:
            row = {**self.config(), "status": "timeout", "limit": f"time_limit ({self.time_limit:g} s)",
                   "reason": f"stopped at the time limit of {self.time_limit:g} s"}
        row["seconds"] = time.perf_counter() - t0
        return row


def trial_columns(trial: PopupTrial) -> dict[str, Any]:
    """The columns of a popup row that the trial alone decides, every other column None."""
    p = dict(trial.params)
    return POPUP.row(
        key=trial.key, kind=trial.kind, dataset=p.get("dataset"), paradigm=p["paradigm"], method=p.get("method"),
        nm=p.get("nm") or p.get("options", {}).get("nm"), block=p.get("block") or p.get("options", {}).get("block"),
        d=p.get("d"), width=p["width"], density=p.get("density"), seed=p["seed"], epochs=p.get("epochs"),
        config=json.dumps(p, sort_keys=True), status="failed",
    )


class _Late(Exception):
    pass


_ONE_THREAD = threading.Lock()
_one_thread_set: list[bool] = [False]


def one_thread() -> None:
    """One torch thread and one BLAS thread in this process, from now on.

    Set by every popup run before it computes anything, whatever process hosts it (the
    driver under the local executor, a Dask worker): a matrix product that BLAS splits over
    threads sums in another order, so the metrics would differ in their last bits between
    executors.  Process-wide and never undone, as ``torch.set_num_threads``; the lock keeps
    a second run waiting until the first has set it."""
    with _ONE_THREAD:
        if _one_thread_set[0]:
            return
        require_torch().set_num_threads(1)
        try:
            from threadpoolctl import threadpool_limits  # a dependency; lazy: only popup runs need it here

            threadpool_limits(limits=1, user_api="blas")
        except Exception:  # noqa: BLE001 - an unknown BLAS: its thread count stays as it is
            pass
        _one_thread_set[0] = True


def run_popup_trial(trial: PopupTrial, deadline: float = math.inf) -> dict[str, Any]:
    """The row of one popup trial; a failing run is a row with status ``failed``, never an exception.

    ``deadline`` (``time.perf_counter()`` units): an edge-popup run past it after
    an epoch stops with status ``timeout``."""
    row = trial_columns(trial)
    try:
        one_thread()
        row.update(_solve(trial) if trial.kind in ("optimum", "construction") else _popup(trial, deadline))
        row.update(status="ok", reason=None)
    except _Late:
        row.update(status="timeout", reason=f"stopped at the time limit of {trial.time_limit:g} s")
    except MemoryError as exc:
        row.update(status="failed", reason=f"memory budget: {describe(exc)}"[:2000])
    except Exception as exc:  # noqa: BLE001 - a failing run is a row, as for the certified trials
        row.update(status="failed", reason=describe(exc)[:2000])
    return row


def _popup(trial: PopupTrial, deadline: float) -> dict[str, Any]:

    def check(epoch: int, loss: float) -> None:
        if time.perf_counter() > deadline:
            raise _Late()

    result = popup(PopupConfig(**dict(trial.params)), on_epoch=check)
    m = result.metrics
    out = POPUP.subset(**{k: m.get(k) for k in (
        "train_accuracy", "test_accuracy", "train_loss", "test_loss", "test_max_error", "mask_density",
        "weight_density", "unit_density", "kept_units", "kept_weights", "seconds_per_epoch", "train_seconds")})
    out["hidden_mask"] = pack_mask(result.network.hidden_mask)
    out["output_mask"] = pack_mask(result.network.output_mask)
    if trial.kind == "certify":
        bound = certify_ticket(result)
        out.update(error_lower=float(bound.lower), error_upper=float(bound.upper), error_method=str(bound.method))
    return out


def _solve(trial: PopupTrial) -> dict[str, Any]:
    p = dict(trial.params)
    result = solve(Setting(d=p["d"], init=p["init"], output=p["output"]), width=p["width"], seed=p["seed"], eps=p["eps"],
                   paradigm=p["paradigm"], method=p["method"], objective="min-error", **p["options"])
    masks = result.masks
    return POPUP.subset(
        error_lower=float(result.outcome.error_lower), error_upper=float(result.outcome.error_upper),
        # only an exact method's lower bound holds for every mask of the family
        bound_lower=float(result.outcome.error_lower) if trial.kind == "optimum" else None,
        verdict=str(result.certified),
        kept_units=int(masks.kept_units), kept_weights=int(masks.kept_weights),
        weight_density=float(masks.density), hidden_mask=pack_mask(masks.hidden_mask),
        output_mask=pack_mask(masks.output_mask),
    )


def stored_row(trial: PopupTrial, returned: dict[str, Any]) -> dict[str, Any]:
    """The popup row to store from what an attempt returned: the sandbox builds a stopped
    attempt's row from the certified trials' columns (status ``unknown`` with the limit);
    keep only the popup columns, with a popup status."""
    out = trial_columns(trial)
    out.update({k: v for k, v in returned.items() if k in out})
    if returned.get("status") not in STATUSES:
        limit = str(returned.get("limit") or "")
        out["status"] = "timeout" if limit.startswith("time_limit") else "failed"
        out["reason"] = returned.get("reason") or limit or None
    return out


def popup_environment_limited(row: dict[str, Any]) -> bool:
    """Whether a popup row was stopped by the run's environment, not by its trial: its wall
    clock (``timeout``) or the memory of the machine (``failed`` with "memory budget: ...");
    ``prunegap gap --retry-env-limited`` runs it again."""
    return row.get("status") == "timeout" or (
        row.get("status") == "failed" and str(row.get("reason") or "").startswith("memory budget"))


def failed_row(trial: PopupTrial, reason: str) -> dict[str, Any]:
    """The row of a popup trial that produced nothing (every attempt lost): ``failed`` with ``reason``."""
    return {**trial_columns(trial), "status": "failed", "reason": reason}
