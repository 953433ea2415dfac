"""Edge-popup grids over (paradigm, width, density, seed): their expansion, runs, summary and figure.

:func:`popup_grid` is the one expansion of such a grid (:func:`popup_trials`,
the sweep's popup study and :func:`~.certify.compare_certified` use it).  A trial is a :class:`~.popup.PopupConfig` (a frozen, picklable dataclass)
and :func:`run_popup_trial` a pure top-level function of it, so any
``concurrent.futures.Executor`` runs them (the gap job's executors
included).  A row never depends on where or in what order it ran, except
for the timing fields; a failing run is a row with ``status = "failed"``
and the message in ``reason``, never an exception.

The figure shows the test accuracy (digits) or test loss (teacher) against
the width, one line per paradigm with a confidence band over seeds (the
mean and its Student-t interval), one panel per density.
"""

from __future__ import annotations

import io
import itertools
import math
import traceback
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from .._plotting import popup_width_figure
from ..exceptions import InvalidArgument
from ..io import atomic_write
from .patterns import PATTERNS
from .popup import PopupConfig, popup

__all__ = ["popup_grid", "popup_trials", "run_popup_trial", "run_popup_trials", "trial_key", "summarize_popup", "figure_popup",
           "write_popup_figure"]


def trial_key(config: PopupConfig) -> str:
    """Unique within a sweep whose other options are fixed."""
    pattern = f"/nm={config.nm}" if config.nm else (f"/block={config.block}" if config.block else "")
    return f"popup/{config.dataset}/{config.paradigm}{pattern}/n={config.width}/R={config.density!r}/seed={config.seed}"


def popup_grid(
    *,
    dataset: str,
    paradigms: Sequence[str],
    widths: Sequence[int],
    densities: Sequence[float],
    seeds: Sequence[int],
    nm: str,
    block: int,
    drop: Collection[str] = PATTERNS,
    clip_block: bool = False,
    on_drop: Callable[[dict[str, Any], InvalidArgument], None] | None = None,
    **options: Any,
) -> Iterator[PopupConfig]:
    """The one expansion of an edge-popup grid, in (paradigm, width, density, seed) order
    (:func:`popup_trials`, the sweep's popup study and :func:`~.certify.compare_certified`
    expand theirs here); ``options`` are the other :class:`PopupConfig` fields.

    ``nm`` and ``block`` go to the paradigms that use them; ``clip_block``: a
    block wider than the network is clipped to its width rather than refused.
    A combination :class:`PopupConfig` refuses (an N:M density above N/M, a
    block wider than the network) is dropped for the paradigms in ``drop``,
    and ``on_drop`` called with its fields and the refusal as the iteration
    reaches it; for the other paradigms the refusal is raised.
    """
    for paradigm, width, density, seed in itertools.product(paradigms, widths, densities, seeds):
        b = (min(block, width) if clip_block else block) if paradigm == "block" else None
        kw = {**options, "dataset": dataset, "paradigm": paradigm, "width": width, "density": density, "seed": seed,
              "nm": nm if paradigm == "nm" else None, "block": b}
        try:
            config = PopupConfig(**kw)
        except InvalidArgument as exc:
            if paradigm not in drop:
                raise
            if on_drop is not None:
                on_drop(kw, exc)
            continue
        yield config


def popup_trials(
    *,
    dataset: str = "digits",
    paradigms: Sequence[str] = PATTERNS,
    widths: Sequence[int] = (64, 256, 1024),
    densities: Sequence[float] = (0.5,),
    seeds: Sequence[int] = range(5),
    nm: str = "2:4",
    block: int = 8,
    strict: bool = False,
    **options: Any,
) -> list[PopupConfig]:
    """The grid of trials (:func:`popup_grid`); ``options`` are the other :class:`PopupConfig` fields.

    A combination the pattern cannot reach (an N:M density above N/M, a block
    wider than the network) is dropped, or with ``strict`` refused.
    """
    return list(popup_grid(dataset=dataset, paradigms=paradigms, widths=widths, densities=densities, seeds=seeds,
                           nm=nm, block=block, drop=() if strict else PATTERNS, **options))


def run_popup_trial(config: PopupConfig) -> dict[str, Any]:
    """One run as a flat row (the configuration, the metrics, ``status``); never raises for a failing run."""
    row: dict[str, Any] = {"key": trial_key(config), **config.to_dict(), "outputs": config.outputs}
    try:
        result = popup(config)
    except Exception as exc:  # noqa: BLE001 - a failed trial is a row, as in the gap sweep
        return {**row, "status": "failed", "reason": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=5)}
    metrics = {k: v for k, v in result.metrics.items() if not isinstance(v, dict)}
    metrics.update({f"kept_{k}": v for k, v in result.metrics["kept_elements"].items()})
    return {**row, **metrics, "final_train_loss": result.history[-1], "status": "ok", "reason": None}


def run_popup_trials(trials: Iterable[PopupConfig], executor: Executor | None = None) -> list[dict[str, Any]]:
    """Rows of the trials, in their order, on ``executor`` (default: this process)."""
    trials = list(trials)
    if executor is None:
        return [run_popup_trial(t) for t in trials]
    futures = [executor.submit(run_popup_trial, t) for t in trials]
    return [f.result() for f in futures]


def _metric(rows: Sequence[dict[str, Any]]) -> tuple[str, str]:
    datasets = {r["dataset"] for r in rows}
    if len(datasets) > 1:
        raise InvalidArgument(f"rows of one data set only, got {sorted(datasets)}")
    return ("test_accuracy", "test accuracy") if datasets == {"digits"} else ("test_loss", "test MSE")


def summarize_popup(rows: Sequence[dict[str, Any]], metric: str | None = None, confidence: float = 0.95) -> list[dict[str, Any]]:
    """Per (paradigm, density, width): n, mean, its Student-t confidence interval, median, min, max over seeds."""
    from scipy import stats  # lazy: a heavy library, needed only for the summary's intervals

    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    if not ok:
        return []
    metric = metric or _metric(ok)[0]
    groups: dict[tuple[str, float, int], list[float]] = {}
    for r in ok:
        groups.setdefault((r["paradigm"], r["density"], r["width"]), []).append(float(r[metric]))
    out = []
    order = {p: i for i, p in enumerate(PATTERNS)}
    for (p, dens, n), vals in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1], kv[0][2])):
        a = np.asarray(vals)
        mean = float(a.mean())
        if a.size > 1:
            half = float(stats.t.ppf(0.5 + confidence / 2, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size))
        else:
            half = math.nan
        out.append({"paradigm": p, "density": dens, "width": n, "n": int(a.size), "metric": metric, "mean": mean,
                    "ci_low": mean - half, "ci_high": mean + half, "median": float(np.median(a)),
                    "min": float(a.min()), "max": float(a.max())})
    return out


def figure_popup(rows: Sequence[dict[str, Any]], metric: str | None = None, confidence: float = 0.95) -> Any:
    """Accuracy (or loss) against width per paradigm, bands over seeds; one panel per density (matplotlib, no pyplot)."""
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    if not ok:
        raise InvalidArgument("no successful rows to draw")
    metric_name, label = _metric(ok)
    metric = metric or metric_name
    summary = summarize_popup(ok, metric, confidence)
    return popup_width_figure(summary, ylabel=label if metric == metric_name else metric,
                              clip=metric == "test_accuracy",
                              title=f"edge-popup on {ok[0]['dataset']}: {int(round(confidence * 100))}% confidence "
                                    "bands over seeds")


def write_popup_figure(rows: Sequence[dict[str, Any]], path: str | Path, **kwargs: Any) -> Path:
    """Save :func:`figure_popup` (the format from the suffix: .png, .pdf, .svg)."""
    path = Path(path)
    buf = io.BytesIO()
    figure_popup(rows, **kwargs).savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=150, metadata={"Software": None}
                                         if path.suffix in (".png", "") else None)
    atomic_write(path, lambda fh: fh.write(buf.getvalue()))
    return path
