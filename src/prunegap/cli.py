"""The ``prunegap`` command (typer).

Bad input -- a value outside what is allowed, an unreadable file, a memory
budget too small -- prints one line on stderr naming the value and what is
allowed, and exits 2 with no traceback.  A usage error (a missing or unknown
option or command, a value click cannot read) keeps click's lines -- usage,
"Try 'prunegap solve -h' for help.", the error -- and exits 2; bare
``prunegap`` prints the help the same way.  An internal failure exits 1 with
a one-line message (the traceback with ``--debug``).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Optional

import typer

from . import __version__, api
from ._options import choice_option
from ._validation import (
    MAX_BYTES, check_choice, check_int, check_output, check_path, check_positive_float, output_errors,
)
from .exceptions import InvalidArgument, PrunegapError
from .io import json_ready
from .patterns import check_block, parse_nm
from .report import build_report
from .setting import INITS, NORMS, OUTPUTS, TARGETS, Setting
from .solvers.base import BOUNDS, DEFAULT_METHOD, KNOWN_METHODS, OBJECTIVES, PARADIGMS
from .subsetsum import _resolve_budget
from .sweep import Store, load_config, run_popup_sweep, run_sweep
from .sweep.config import default_toml
from .sweep.executors import EXECUTORS, DaskExecutor, check_scheduler, default_workers
from .sweep.merge import merge_shards, parse_shard, shard_popup_trials, shard_trials
from .sweep.progress import make_progress
from .sweep.store import DB_NAME, EXPORT_FORMATS, EXPORT_TABLES, export_format
from .torch import cli as torch_cli

app = typer.Typer(
    name="prunegap",
    help="Certified measurements of the gap between neuron and weight pruning of random ReLU networks.",
    # --install-completion / --show-completion: the shell calls back with _PRUNEGAP_COMPLETE set
    add_completion=True,
    # bare `prunegap`: click prints the help (usage, options, the commands) on stderr and exits 2
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_STATE: dict[str, Any] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"prunegap {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of internal failures."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    _STATE["debug"] = debug


# Options shared by solve and width ------------------------------------------
# Every method of some paradigm, for --help and completion (api.solve checks the pair, naming the paradigm's own).
_METHODS = tuple(dict.fromkeys([*DEFAULT_METHOD.values(), *(m for _, m in KNOWN_METHODS)]))
_PARADIGM = choice_option(..., "--paradigm", PARADIGMS, "weight | neuron | nm (N:M, see --nm) | block (blocks of units, see --block)")
_METHOD = choice_option(None, "--method", _METHODS, "weight: construction (default) | exact; neuron: mip (default); nm: construction (default) | exact; block: mip (default)")
_NM = typer.Option(None, "--nm", help="N:M of --paradigm nm: each group of M consecutive input weights of a unit keeps at most N (1 <= N <= M), e.g. 2:4.")
_TARGET = choice_option("neuron", "--target", TARGETS, "neuron (relu(<w, x>), the default) | network (a bias-free ReLU network, see --target-width/--target-depth/--target-file).")
_TARGET_WIDTH = typer.Option(None, "--target-width", help="K: hidden units per layer of a network target (default 1).")
_TARGET_DEPTH = typer.Option(None, "--target-depth", help="L: hidden layers of a network target (default 1; L >= 2: weight construction only).")
_TARGET_FILE = typer.Option(None, "--target-file", help=".npz with arrays W1 (K x d), W2.. (K x K), c (K): the network target (default: drawn from the seed).")
_BLOCK = typer.Option(None, "--block", help="B of --paradigm block: units are kept or dropped in consecutive blocks of B (B >= 1; 1 = neuron pruning).")
_D = typer.Option(..., "--d", help="Input dimension d >= 1.")
_SEED = typer.Option(..., "--seed", help="Seed of the unit stream and target (integer >= 0).")
_EPS = typer.Option(..., "--eps", help="Target error eps > 0.")
_INIT = choice_option("uniform", "--init", INITS, "uniform (U[-1,1]) | gaussian (N(0,1))")
_OUTPUT = choice_option("relu", "--output", OUTPUTS, "relu | linear output activation")
_NORM = choice_option("sup", "--norm", NORMS, "sup | l2-gaussian | l2-sphere")
_W = typer.Option(None, "--w", help="Target weights as comma-separated numbers (default: drawn from the seed).")
_OUT = typer.Option(None, "--out", help="Folder for ticket.npz and result.json (without it nothing is written).")
_JSON = typer.Option(False, "--json", help="Print result.json to stdout (what --out writes) instead of the one-line summary.")
_TOL = typer.Option(1e-6, "--tol", help="Largest gap of a certified error interval where the error is not exact: a positive number, used only in d >= 3 (d <= 2 errors are exact).")
_BUDGET = typer.Option(None, "--memory-budget", help="Memory budget of exact subset sums, e.g. 2GiB, 500MB or bytes.")
_TIME_LIMIT = typer.Option(
    None, "--time-limit",
    help="Wall-clock seconds for the exact solvers (solve: the decision; width: the whole search); "
    "when it fires the answer is an 'unknown' bracket. Not reproducible: leave it out for a pure function of the seed.")
_THREADS = typer.Option(
    1, "--threads", help="CP-SAT threads of the exact solvers (1: deterministic; more: a parallel portfolio).")
_CONFLICT_LIMIT = typer.Option(
    None, "--conflict-limit",
    help="CP-SAT conflicts per decision of the exact solvers (deterministic; default 5,000,000, with --bound "
    f"lower {api.LOWER_LIMITS['conflict_limit']:,}).")
_LOCAL_SEARCH = typer.Option(
    None, "--local-search",
    help="Tabu-search moves the exact solvers try per decision before CP-SAT (0: off; default: 300 for neuron "
    "and block pruning in d >= 3, else off). Candidates are certified like the solver's.")


def _parse_w(text: Optional[str]) -> Optional[tuple[float, ...]]:
    if text is None:
        return None
    try:
        return tuple(float(x) for x in text.replace(" ", "").split(",") if x != "")
    except ValueError:
        raise InvalidArgument(f"--w must be comma-separated numbers, got {text!r}") from None


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_bytes(text: Optional[str], name: str = "--memory-budget") -> Optional[int]:
    """'2GiB', '500MB', '1e9' -> bytes."""
    if text is None:
        return None
    t = text.strip().lower().replace(" ", "")
    num = t.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = t[len(num):]
    try:
        value = float(num) * _UNITS[unit]
    except (ValueError, KeyError):
        raise InvalidArgument(f"{name} must be a size such as 2GiB, 500MB or 1000000 (bytes), got {text!r}") from None
    if not 0 < value <= MAX_BYTES:  # nan and inf too: int() of them would raise
        raise InvalidArgument(f"{name} must be a positive size of at most 1EiB (2**60 bytes), got {text!r}")
    return int(value)


def _opt(value: Any, flag: str) -> Any:
    """Validates a pattern flag under its command-line name (the API names it without dashes)."""
    if value is None:
        return None
    if flag == "--nm":
        parse_nm(value, flag)
    else:
        check_block(value, flag)
    return value


def _setting(d: int, init: str, output: str, norm: str, w: Optional[str], target: str = "neuron",
             target_width: Optional[int] = None, target_depth: Optional[int] = None, target_file: Optional[Path] = None):
    net: dict[str, Any] = {}
    for flag, key, value in (("--target-width", "target_width", target_width), ("--target-depth", "target_depth", target_depth),
                             ("--target-file", "target_file", target_file)):
        if value is not None:
            if target != "network":
                raise InvalidArgument(f"{flag} applies to --target network only, got {flag} {value} with --target {target}")
            net[key] = str(value) if key == "target_file" else value
    if target == "network" and w is not None:
        raise InvalidArgument("--w gives a one-neuron target; it does not apply to --target network")
    return Setting(d=d, init=init, output=output, norm=norm, w=_parse_w(w), target=target, **net)


_RESULT_FILES = ("ticket.npz", "result.json")  # what solve and width write into --out


def _finish(result, out: Optional[Path], as_json: bool) -> None:
    if out is not None:
        with output_errors(out, folder=True):
            result.save(out)
    data = result.to_dict()
    if as_json:
        typer.echo(json.dumps(json_ready(data), indent=2))
        return
    lo, hi = data["error_lower"], data["error_upper"]
    line = (
        f"{data['paradigm']}/{data['method']}  d={data['d']}  seed={data['seed']}  eps={data['eps']:g}  "
        f"width={data['width']}: certified={data['certified']}  error in [{lo:.6g}, {hi if hi is None else format(hi, '.6g')}]  "
        f"kept_units={data['kept_units']}  kept_weights={data['kept_weights']}  density={data['density']:.4f}  ({data['seconds']:.3f}s)"
    )
    if data.get("bound") == "lower":
        # proofs only: what is proven is the lower end; the ticket part of the line would mislead
        proofs = data.get("proofs") or []
        last = max(proofs, key=lambda p: p["width"]) if proofs else None
        size = (f"; the widest proof: width {last['width']}, {last['points']} points, {last['rows']} rows, "
                f"margin {last['margin']:g}") if last else ""
        line = (f"{data['paradigm']}/{data['method']}  d={data['d']}  seed={data['seed']}  eps={data['eps']:g}: "
                f"n_lower={data['n_lower']} (proven: no mask within eps at any narrower width)  "
                f"n_upper={data['n_upper']}  certified={data['certified']}  {len(proofs)} proof(s){size}  "
                f"({data['seconds']:.3f}s)")
    elif "n_star" in data:
        line = f"n_star={data['n_star']}  n_lower={data['n_lower']}  n_upper={data['n_upper']}  |  " + line
    typer.echo(line)
    if out is None:
        typer.echo("nothing written (no --out): give --out DIR for ticket.npz and result.json, or --json to print "
                   "result.json", err=True)
    else:
        typer.echo(f"wrote {out / 'ticket.npz'} and {out / 'result.json'}", err=True)


@app.command()
def solve(
    paradigm: str = _PARADIGM,
    d: int = _D,
    width: int = typer.Option(..., "--width", help="Width n >= 1 of the random network."),
    seed: int = _SEED,
    eps: float = _EPS,
    method: Optional[str] = _METHOD,
    objective: str = choice_option("feasible", "--objective", OBJECTIVES, "feasible | min-error"),
    init: str = _INIT,
    output: str = _OUTPUT,
    norm: str = _NORM,
    w: Optional[str] = _W,
    tol: float = _TOL,
    memory_budget: Optional[str] = _BUDGET,
    nm: Optional[str] = _NM,
    block: Optional[int] = _BLOCK,
    target: str = _TARGET,
    target_width: Optional[int] = _TARGET_WIDTH,
    target_depth: Optional[int] = _TARGET_DEPTH,
    target_file: Optional[Path] = _TARGET_FILE,
    time_limit: Optional[float] = _TIME_LIMIT,
    threads: int = _THREADS,
    local_search: Optional[int] = _LOCAL_SEARCH,
    out: Optional[Path] = _OUT,
    as_json: bool = _JSON,
) -> None:
    """Best ticket of a paradigm at one width, with its certified error bracket."""
    setting = _setting(d, init, output, norm, w, target, target_width, target_depth, target_file)
    if out is not None:
        check_output(out, inputs=(target_file,), folder=True, files=_RESULT_FILES)
    result = api.solve(
        setting, width=width, seed=seed, eps=eps, paradigm=paradigm, method=method, objective=objective,
        tol=check_positive_float("--tol", tol), memory_budget=parse_bytes(memory_budget), nm=_opt(nm, "--nm"),
        block=_opt(block, "--block"), **_exact_options(time_limit, threads, local_search, "time_limit"),
    )
    _finish(result, out, as_json)


@app.command()
def width(
    paradigm: str = _PARADIGM,
    d: int = _D,
    eps: float = _EPS,
    seed: int = _SEED,
    max_width: int = typer.Option(4096, "--max-width", help="Largest width tried."),
    method: Optional[str] = _METHOD,
    init: str = _INIT,
    output: str = _OUTPUT,
    norm: str = _NORM,
    w: Optional[str] = _W,
    tol: float = _TOL,
    memory_budget: Optional[str] = _BUDGET,
    nm: Optional[str] = _NM,
    block: Optional[int] = _BLOCK,
    target: str = _TARGET,
    target_width: Optional[int] = _TARGET_WIDTH,
    target_depth: Optional[int] = _TARGET_DEPTH,
    target_file: Optional[Path] = _TARGET_FILE,
    time_limit: Optional[float] = _TIME_LIMIT,
    threads: int = _THREADS,
    local_search: Optional[int] = _LOCAL_SEARCH,
    bound: str = choice_option(
        "both", "--bound", BOUNDS,
        "both: the minimal width n* (a ticket and a proof); lower: proofs of 'no' only, the certified "
        "lower end n_lower as high as the work limits allow (exact methods only)."),
    conflict_limit: Optional[int] = _CONFLICT_LIMIT,
    search_conflict_limit: Optional[int] = typer.Option(
        None, "--search-conflict-limit",
        help="CP-SAT conflicts of the whole search (deterministic; default none, with --bound lower "
        f"{api.LOWER_LIMITS['search_conflict_limit']:,})."),
    out: Optional[Path] = _OUT,
    as_json: bool = _JSON,
) -> None:
    """Minimal width n* at which the method certifies eps for one seed (widths count hidden units)."""
    setting = _setting(d, init, output, norm, w, target, target_width, target_depth, target_file)
    if out is not None:
        check_output(out, inputs=(target_file,), folder=True, files=_RESULT_FILES)
    limits = {k: check_int(f"--{k.replace('_', '-')}", v, minimum=1)
              for k, v in (("conflict_limit", conflict_limit), ("search_conflict_limit", search_conflict_limit))
              if v is not None}
    result = api.width(
        setting, seed=seed, eps=eps, paradigm=paradigm, method=method, max_width=max_width, bound=bound,
        tol=check_positive_float("--tol", tol), memory_budget=parse_bytes(memory_budget), nm=_opt(nm, "--nm"),
        block=_opt(block, "--block"), **_exact_options(time_limit, threads, local_search, "search_time_limit"), **limits,
    )
    _finish(result, out, as_json)


def _exact_options(time_limit: Optional[float], threads: int, local_search: Optional[int],
                   limit_key: str) -> dict[str, Any]:
    """--time-limit, --threads and --local-search as exact-solver options (validated here, so any method
    refuses bad ones)."""
    opts: dict[str, Any] = {}
    if time_limit is not None:
        opts[limit_key] = check_positive_float("--time-limit", time_limit)
    if check_int("--threads", threads, minimum=1, maximum=256) != 1:
        opts["workers"] = threads
    if local_search is not None:
        opts["local_search"] = check_int("--local-search", local_search, minimum=0)
    return opts


# The gap experiment: gap, report, results ------------------------------------
_DEFAULT_OUT = Path("out") / "gap"
_PROGRESS = ("auto", "bar", "log", "none")
_REPORT_FILES = ("report.html", "summary.json")  # beside figures/: what build_report writes


@app.command()
def gap(
    config: Optional[Path] = typer.Option(None, "--config", help="Sweep TOML file, laid over the defaults (see --show-config)."),
    quick: bool = typer.Option(False, "--quick", help="The [quick] variant: fewer seeds, a coarse eps grid (about 2 minutes)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Trials at a time (default: all cores; 1 runs in this process); dask: LocalCluster workers, or with --scheduler the workers to wait for."),
    executor: Optional[str] = choice_option(None, "--executor", tuple(EXECUTORS), "local (processes on this machine; the default) | dask (a LocalCluster, or the cluster at --scheduler)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address (tcp://host:8786) or scheduler file of a running Dask cluster; implies --executor dask."),
    retries: int = typer.Option(2, "--retries", help="How often a trial whose worker died runs again before it is stored as failed."),
    memory_limit: Optional[str] = typer.Option(None, "--memory-limit", help="Address-space cap of each trial process, e.g. 4GiB, or none (default: memory / workers, at least 2GiB)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results folder (default: out/gap, or out/gap-quick with --quick)."),
    show_config: bool = typer.Option(False, "--show-config", help="Print the sweep's config (the shipped defaults when no --config/--quick) and exit."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run the trials stored as failed again."),
    retry_env_limited: bool = typer.Option(False, "--retry-env-limited", help="Run again the trials a limit of the run's environment stopped (the --memory-limit cap, a PRUNEGAP_MEMORY_BUDGET, a wall clock): stored as unknown, they may end otherwise now."),
    progress: str = choice_option("auto", "--progress", _PROGRESS, "auto (a bar on a terminal, log lines otherwise) | bar | log | none"),
    shard: Optional[str] = typer.Option(None, "--shard", help="I/N: run only the I-th of N parts of the trials (1 <= I <= N), into a folder of its own (--out); `prunegap merge` puts the parts together (docs/cluster.md)."),
) -> None:
    """The main job: run a sweep of minimal-width searches (resumable), then write the report."""
    cfg = load_config(config, quick=quick)
    if show_config:
        typer.echo(default_toml() if config is None and not quick else cfg.to_toml(), nl=False)
        return
    check_choice("--progress", progress, _PROGRESS)
    if workers is not None:
        workers = check_int("--workers", workers, minimum=1, maximum=1024)
    if scheduler is not None:
        scheduler = check_scheduler(scheduler)
    kind = check_choice("--executor", executor, tuple(EXECUTORS)) if executor is not None else ("dask" if scheduler else "local")
    if scheduler is not None and kind != "dask":
        raise InvalidArgument(f"--scheduler needs --executor dask, got --executor {kind}")
    retries = check_int("--retries", retries, minimum=0, maximum=100)
    part = parse_shard(shard) if shard is not None else None
    _resolve_budget(None)  # a malformed PRUNEGAP_MEMORY_BUDGET: refused before anything is written
    cap: Any = "auto"
    if memory_limit is not None:
        cap = None if memory_limit.strip().lower() == "none" else parse_bytes(memory_limit, "--memory-limit")
        if cap is not None and cap < 2**26:
            raise InvalidArgument(f"--memory-limit must be at least 64MiB (or none), got {memory_limit!r}")
    folder = out if out is not None else (_DEFAULT_OUT.with_name("gap-quick") if quick else _DEFAULT_OUT)
    check_output(folder, inputs=(config,), folder=True, files=(DB_NAME, *_REPORT_FILES), allow_database=True)

    # An unreachable --scheduler is refused before anything is written or said.
    pool = DaskExecutor(scheduler=scheduler) if scheduler else None
    try:
        # a folder of another sweep (or of another shard) is refused before anything is said
        with output_errors(folder, folder=True):
            Store.for_shard(folder, cfg, part).close()
        where = pool.where if pool is not None else f"{workers or default_workers()} {kind} worker(s)"
        mine = f"; shard {part}: {len(shard_trials(cfg, part))} of its trials" if part is not None else ""
        typer.echo(f"prunegap gap: {cfg.summary()}{mine}; {where}; results in {folder} (sweep {cfg.fingerprint()})",
                   err=True)
        if pool is not None and workers:
            typer.echo(f"waiting for {workers} worker(s) to join the cluster", err=True)
            pool.client.wait_for_workers(workers)
        run = run_sweep(
            cfg, folder, workers=workers, executor=pool or kind, retries=retries, memory_limit=cap,
            progress=make_progress(progress), retry_failed=retry_failed, shard=part,
            retry_env_limited=retry_env_limited,
        )
        # the popup study: edge-popup beside the certified trials, one invocation in the attempts table
        popup_run = run_popup_sweep(cfg, folder, workers=workers, executor=pool or kind, retries=retries, run=run.run,
                                    shard=part, retry_env_limited=retry_env_limited)
    except KeyboardInterrupt:
        # typer turns KeyboardInterrupt into an exit code that main() does not
        # pass on; a stopped sweep must not look like a finished one (exit 130).
        raise SystemExit(130) from None
    finally:
        if pool is not None:  # our client only: the cluster runs on, its tasks for us cancelled
            pool.shutdown(wait=False, cancel_futures=True)
    if run.stored_before and not run.ran and not popup_run.ran:
        typer.echo(f"nothing to run: the {run.stored_before} stored trials are all there is", err=True)
    elif part is not None and not run.total and not shard_popup_trials(cfg, part):
        typer.echo(f"nothing to run: shard {part} holds none of the sweep's {len(cfg.trials())} trials "
                   f"(more shards than trials); its folder is empty and merges as such", err=True)
    limited = run.env_limited + popup_run.env_limited
    if limited:
        typer.echo(f"{limited} stored trial(s) were stopped by a limit of the run's environment (the memory cap, "
                   "PRUNEGAP_MEMORY_BUDGET, a wall clock), not by their own: --retry-env-limited runs them again",
                   err=True)
    if run.retries:
        typer.echo(f"{run.retries} attempt(s) were lost and retried; {run.lost} trial(s) lost every attempt "
                   f"and are stored as failed (see the attempts table)", err=True)
    with output_errors(folder, folder=True):
        report = build_report(folder)
    typer.echo(report.markdown)


@app.command()
def merge(
    out: Path = typer.Argument(..., help="The merged results folder: new, or a folder of the same sweep (merging again is fine)."),
    shards: list[Path] = typer.Argument(..., help="Shard folders written by `prunegap gap --shard I/N` (of one sweep and one N)."),
) -> None:
    """Merge the shard folders of one sweep into one results folder, whose rows equal an unsharded run's."""
    for folder in shards:
        check_path(folder, "SHARD_DIR")  # DuckDB cannot open a name that is not UTF-8
    check_output(out, name="OUT", folder=True, files=(DB_NAME,), allow_database=True)
    with output_errors(out, name="OUT", folder=True):
        run = merge_shards(out, shards)
    given = ", ".join(map(str, run.shards))
    popup = (f"; popup study: {run.popup_stored} of {run.popup_total} run(s) stored ({run.popup_added} new)"
             if run.popup_total else "")
    typer.echo(
        f"merged shard(s) {given} of {run.count} ({run.inputs} folder(s)) into {out}: {run.stored} of {run.total} "
        f"trials stored ({run.added} new, {run.replaced} failed row(s) replaced, {run.duplicates} duplicate(s) "
        f"kept once){popup}; {run.runs} run(s) of attempts copied ({run.attempts} attempt(s))", err=True)
    if run.missing or run.popup_missing:
        popup_lacking = f" and {run.popup_missing} popup run(s)" if run.popup_missing else ""
        typer.echo(
            f"{run.missing} trial(s){popup_lacking} still missing (of shard(s) {run.missing_spec} of {run.count}): "
            f"merge those shards into {out} too, or let `prunegap gap --out {out}` (with the sweep's config) "
            "compute them", err=True)
    else:
        typer.echo(f"every trial of the sweep is in {out}: prunegap report {out}", err=True)


@app.command()
def report(folder: Path = typer.Argument(..., help="A results folder written by `prunegap gap`.")) -> None:
    """Rebuild report.html, figures/ and summary.json from the folder's database."""
    check_output(folder, name="FOLDER", folder=True, files=_REPORT_FILES)
    with output_errors(folder, name="FOLDER", folder=True):
        typer.echo(build_report(folder).markdown)


@app.command()
def results(
    folder: Path = typer.Argument(..., help="A results folder written by `prunegap gap`."),
    fmt: Optional[str] = choice_option(
        None, "--format", EXPORT_FORMATS,
        "csv | parquet (typed nested columns, self-describing metadata) | json (NDJSON: one object per line); "
        "default: what the suffix of --out says (.csv, .parquet/.pq, .ndjson/.jsonl/.json), else csv. docs/schemas.md"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write to this file (default: stdout, the same bytes)."),
    table: str = choice_option("trials", "--table", EXPORT_TABLES, "trials (the certified sweep) | popup (the edge-popup study)"),
) -> None:
    """The tidy rows (one per trial, every column but the masks) as CSV, Parquet or NDJSON."""
    fmt = export_format(fmt, out)
    if fmt == "parquet" and out is None and sys.stdout.isatty():
        raise InvalidArgument("--format parquet is binary: give --out FILE or redirect stdout to a file")
    check_path(folder, "FOLDER")  # DuckDB cannot open a name that is not UTF-8 (std::bad_cast)
    if out is not None:
        check_output(out, inputs=(folder / DB_NAME, folder / f"{DB_NAME}.wal"))
    with Store.open(folder) as store, output_errors(out):
        store.export(fmt, out, table=table)
    if out is not None:
        typer.echo(f"wrote {out}", err=True)


def _one_line(text: str) -> str:
    # an undecodable name from argv (a lone surrogate) is shown escaped: stderr may not take it
    return " ".join(str(text).encode("utf-8", "backslashreplace").decode("utf-8").split())


def _usage_errors() -> tuple[type[BaseException], ...]:
    # typer >= 0.2x vendors click; older releases raise click's own exceptions.
    kinds: list[type[BaseException]] = []
    for module_name in ("typer._click.exceptions", "click.exceptions"):
        try:
            module = __import__(module_name, fromlist=["ClickException"])
        except ImportError:
            continue
        kinds.append(module.ClickException)
    return tuple(kinds)


def _exits() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [typer.Exit]
    for module_name in ("typer._click.exceptions", "click.exceptions"):
        try:
            kinds.append(__import__(module_name, fromlist=["Exit"]).Exit)
        except (ImportError, AttributeError):
            continue
    return tuple(kinds)


def _aborts() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [typer.Abort, KeyboardInterrupt]
    try:
        kinds.append(__import__("click.exceptions", fromlist=["Abort"]).Abort)
    except (ImportError, AttributeError):
        pass
    return tuple(kinds)


def _bad_value(exc: BaseException, args: list[str]) -> Optional[str]:
    """One line for a value click could not convert (naming the option and the value given), else None."""
    if type(exc).__name__ != "BadParameter" or getattr(exc, "param", None) is None:
        return None  # MissingParameter and the other usage errors keep click's lines
    opts = list(getattr(exc.param, "opts", None) or [])
    given = None
    for i, token in enumerate(args):
        for opt in opts:
            if token == opt and i + 1 < len(args):
                given = args[i + 1]
            elif token.startswith(opt + "="):
                given = token[len(opt) + 1:]
    message = _one_line(exc.format_message())
    return message if given is None else f"{message}, got {given!r}"


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: runs the app and maps failures to exit codes (2: bad input, 1: internal)."""
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("PRUNEGAP_DEBUG"))
    try:
        rv = command.main(args=args, prog_name="prunegap", standalone_mode=False)
        # typer >= 0.2x returns the exit code (130 after Ctrl-C) instead of raising
        return rv if isinstance(rv, int) else 0
    except _exits() as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except _usage_errors() as exc:
        # Missing options, unknown options and commands, values click cannot convert (--d x), bare
        # `prunegap`: click's own lines ("Usage: ...", "Try 'prunegap solve -h' for help.", "Error: ...";
        # the help for no arguments), exit 2.  A value click cannot convert (--d x) is a bad value, not a
        # misuse of the command: one line naming it, like the values prunegap checks (InvalidArgument).
        bad = _bad_value(exc, args)
        if bad is not None:
            sys.stderr.write(f"prunegap: error: {bad}\n")
            return 2
        exc.show()
        return int(getattr(exc, "exit_code", 2))
    except _aborts():
        sys.stderr.write("prunegap: interrupted\n")
        return 130
    except InvalidArgument as exc:
        sys.stderr.write(f"prunegap: error: {_one_line(str(exc))}\n")
        return 2
    except BrokenPipeError:
        return 0
    except SystemExit as exc:
        # --show-completion, --install-completion and the shell's completion requests end in
        # sys.exit: main() returns their code like any other command's
        if exc.code is None or isinstance(exc.code, int):
            return int(exc.code or 0)
        sys.stderr.write(f"{exc.code}\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if debug:
            traceback.print_exc()
        kind = "prunegap internal error" if not isinstance(exc, PrunegapError) else "prunegap: error"
        sys.stderr.write(f"{kind}: {type(exc).__name__}: {_one_line(str(exc))} (rerun with --debug for the traceback)\n")
        return 1


def _entry() -> None:  # pragma: no cover
    sys.exit(main())


# PyTorch commands: their module imports torch only when a command runs.
app.command("export")(torch_cli.export)
app.command("popup")(torch_cli.popup)


if __name__ == "__main__":  # pragma: no cover
    _entry()
