"""The sweep config's validator: a raw document (the defaults with the user's file laid over them)
becomes a :class:`~prunegap.sweep.config.SweepConfig`, every value checked once, here.

Validation names the offending key by its path (``studies[1].eps[2]``),
says what is allowed and what it got, and suggests the closest name for an
unknown key; it raises :class:`InvalidArgument`.  What a trial would refuse
later (a solver's options, a pattern's parameter, a network target without
a solver, a CUDA device that is not here) is refused here instead, before
anything runs; a stored config (``stored``: its trials ran already,
perhaps on another machine) is spared the checks that depend on this
installation.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable

from ..._validation import check_int
from ...exceptions import InvalidArgument, suggest
from ...patterns import PATTERNS, Pattern, parse_nm
from ...setting import INITS, MAX_DIMENSION, MAX_TARGET_DEPTH, MAX_TARGET_WIDTH, NORMS, OUTPUTS, TARGETS, Setting
from ...solvers.base import (BOUNDS, DEFAULT_METHOD, KNOWN_SOLVER_OPTIONS, check_bound, get_method, installed_method,
                             known_methods, method_options)
from ...solvers.mip.options import MIPOptions
from ...torch import cuda_available
from ...torch.data import DATASETS
from .model import DEFAULT_FIT, FITS, Analysis, PopupStudy, Study, SweepConfig

__all__ = ["Validator", "resolve", "check_option_values", "POPUP_OPTIONS", "MERGED_TABLES", "TOP_KEYS"]

#: The keys of a sweep file.
TOP_KEYS = ("seeds", "dims", "eps", "time_limit", "setting", "analysis", "quick", "studies", "popup")
_SETTING_KEYS = ("init", "output", "norm")
_ANALYSIS_KEYS = ("confidence", "delta", "bootstrap", "gap", "fit_eps_max")
_QUICK_KEYS = ("seeds", "dims", "eps", "time_limit")
_STUDY_KEYS = ("name", "paradigm", "method", "dims", "eps", "eps_floor", "quick_eps_floor", "grid", "max_width", "options", "fit",
               "target", "target_width", "target_depth", "bound", "seeds", "quick_grid")
_MAX_TARGET_WIDTH = MAX_TARGET_WIDTH
_MAX_TARGET_DEPTH = MAX_TARGET_DEPTH
#: Tables a user's file lays over the defaults key by key (every other key replaces the default whole).
MERGED_TABLES = ("setting", "analysis", "quick", "popup")
_POPUP_KEYS = ("enabled", "dataset", "paradigms", "widths", "densities", "seeds", "nm", "block", "epochs", "time_limit",
               "options", "certify")
_CERTIFY_KEYS = ("enabled", "d", "paradigms", "widths", "densities", "seeds", "nm", "block", "epochs", "time_limit",
                 "options", "solver_options")
#: Edge-popup options a popup study may set in ``options`` (the rest of
#: :class:`prunegap.torch.PopupConfig`; the grid owns the other fields).
POPUP_OPTIONS: tuple[str, ...] = (
    "init", "scale", "output", "d", "teacher_width", "n_train", "n_test", "test_fraction", "data_seed",
    "batch_size", "optimizer", "lr", "momentum", "weight_decay", "device", "dtype",
)
#: Options the certify study sets itself: its teacher is the single neuron of the sweep's [setting].
_CERTIFY_FIXED = ("init", "output", "d", "teacher_width", "scale")
_MAX_D = MAX_DIMENSION
_MAX_WIDTH = 10**6
_MAX_SEEDS = 100_000
_MAX_POPUP_WIDTH = 1 << 16
_MAX_WORKERS = 256  # CP-SAT threads, as the command line's --threads


def check_option_values(options: dict[str, Any]) -> None:
    """Raises :class:`InvalidArgument` for a bad value of a solver option, whichever solver takes it:
    the integer programs' knobs and limits as :class:`~prunegap.solvers.mip.options.MIPOptions`
    checks them (a construction ignores them, yet a wrong value there is a typo all the same),
    ``memory_budget`` (bytes), ``workers`` (at most 256), ``max_cells`` and ``descend`` (a boolean)."""
    for key, value in options.items():
        if isinstance(value, (dict, list)) or (isinstance(value, float) and not math.isfinite(value)):
            raise InvalidArgument(f"{key} must be a number, string or boolean, got {_kind(value)} {_show(value)}")
    if "descend" in options and not isinstance(options["descend"], bool):
        raise InvalidArgument(f"descend must be true or false, got {_kind(options['descend'])} {_show(options['descend'])}")
    if "memory_budget" in options:
        check_int("memory_budget (bytes)", options["memory_budget"], minimum=0)
    if "workers" in options:
        check_int("workers", options["workers"], minimum=1, maximum=_MAX_WORKERS)
    if "max_cells" in options:
        check_int("max_cells", options["max_cells"], minimum=1)
    MIPOptions.from_kwargs(options)


class Validator:
    """Checks that name the key by its path and say what is allowed."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, message: str) -> InvalidArgument:
        return InvalidArgument(f"{self.source}: {message}")

    def keys(self, table: dict[str, Any], path: str, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for key in table:
            if key not in allowed:
                where = f"{path}.{key}" if path else key
                raise self.fail(
                    f"unknown key {where!r}{suggest(key, allowed)}; allowed keys{' in ' + path if path else ''}: {', '.join(allowed)}"
                )

    def table(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{path} must be a table, got {_kind(value)} {_show(value)}")
        return value

    def int(self, value: Any, path: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{path} must be an integer in [{lo}, {hi}], got {_kind(value)} {_show(value)}")
        if not lo <= value <= hi:
            raise self.fail(f"{path} must be an integer in [{lo}, {hi}], got {value}")
        return value

    def number(self, value: Any, path: str, lo: float, hi: float, rule: str) -> float:
        """A number within ``rule``: "in (lo, hi)", "in (lo, hi]", "in [lo, hi)"... (inf allowed only when hi is inf and closed)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"{path} must be a number {rule}, got {_kind(value)} {_show(value)}")
        x = float(value)
        lo_open, hi_open = "(" in rule, ")" in rule
        ok = not math.isnan(x) and (x > lo if lo_open else x >= lo) and (x < hi if hi_open else x <= hi)
        if not ok:
            raise self.fail(f"{path} must be a number {rule}, got {_show(value)}")
        return x

    def choice(self, value: Any, path: str, choices: Iterable[str]) -> str:
        choices = list(choices)
        if not isinstance(value, str) or value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise self.fail(f"{path} must be one of {allowed}, got {_show(value)}{suggest(str(value), choices)}")
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{path} must be a non-empty string, got {_kind(value)} {_show(value)}")
        if any(c in value for c in "/\\|\n\t") or value != value.strip():
            raise self.fail(f"{path} must be a plain name (no slashes, bars or surrounding spaces), got {value!r}")
        return value

    def list(self, value: Any, path: str, *, what: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(f"{path} must be a list of {what}, got {_kind(value)} {_show(value)}")
        if not value:
            raise self.fail(f"{path} must be a non-empty list of {what}, got []")
        return value

    def dims(self, value: Any, path: str) -> tuple[int, ...]:
        items = self.list(value, path, what=f"dimensions (integers in [1, {_MAX_D}])")
        dims = [self.int(x, f"{path}[{i}]", 1, _MAX_D) for i, x in enumerate(items)]
        self.distinct(dims, path)
        return tuple(sorted(dims))

    def eps(self, value: Any, path: str) -> tuple[float, ...]:
        items = self.list(value, path, what="eps values in (0, 1)")
        eps = [self.number(x, f"{path}[{i}]", 0.0, 1.0, "in (0, 1)") for i, x in enumerate(items)]
        self.distinct(eps, path)
        return tuple(sorted(eps, reverse=True))

    def seeds(self, value: Any, path: str) -> tuple[int, ...]:
        rule = f"a number of seeds (an integer in [1, {_MAX_SEEDS}]) or a list of seeds"
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= _MAX_SEEDS:
                raise self.fail(f"{path} must be {rule}, got {value}")
            return tuple(range(value))
        if isinstance(value, list):
            items = self.list(value, path, what="seeds (integers >= 0)")
            seeds = [self.int(x, f"{path}[{i}]", 0, 2**63 - 1) for i, x in enumerate(items)]
            self.distinct(seeds, path)
            return tuple(sorted(seeds))
        raise self.fail(f"{path} must be {rule}, got {_kind(value)} {_show(value)}")

    def distinct(self, items: list[Any], path: str) -> None:
        seen = set()
        for x in items:
            if x in seen:
                raise self.fail(f"{path} must not repeat values, got {x!r} twice")
            seen.add(x)

    def dim_key(self, key: str, path: str) -> int:
        if not (key.startswith("d") and key[1:].isdigit()):
            raise self.fail(f"{path} must be keyed by dimension as d2, d3, ..., got key {key!r}")
        return self.int(int(key[1:]), f"{path}.{key}", 1, _MAX_D)


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

def resolve(raw: dict[str, Any], v: Validator, *, quick: bool, source: str, stored: bool = False) -> SweepConfig:
    """The :class:`SweepConfig` of ``raw`` (the defaults with the user's file laid over them), every value checked.

    ``quick``: apply the ``[quick]`` table; ``stored``: the trials ran already
    (see :func:`~prunegap.sweep.config.parse_config`)."""
    setting = v.table(raw.get("setting", {}), "setting")
    v.keys(setting, "setting", _SETTING_KEYS)
    init = v.choice(setting.get("init", "uniform"), "setting.init", INITS)
    output = v.choice(setting.get("output", "relu"), "setting.output", OUTPUTS)
    norm = v.choice(setting.get("norm", "sup"), "setting.norm", NORMS)

    q = v.table(raw.get("quick", {}), "quick")
    v.keys(q, "quick", _QUICK_KEYS)
    # Validate [quick] even when unused, so a broken quick table fails early.
    quick_seeds = v.seeds(q["seeds"], "quick.seeds") if "seeds" in q else None
    quick_dims = v.dims(q["dims"], "quick.dims") if "dims" in q else None
    quick_eps = v.eps(q["eps"], "quick.eps") if "eps" in q else None
    quick_tl = v.number(q["time_limit"], "quick.time_limit", 0.0, math.inf, "in (0, inf]") if "time_limit" in q else None

    if "seeds" not in raw:
        raise v.fail("seeds is required (a number of seeds or a list of seeds)")
    seeds = v.seeds(raw["seeds"], "seeds")
    dims = v.dims(raw.get("dims", [2]), "dims")
    eps_default = v.eps(raw["eps"], "eps") if "eps" in raw else None
    time_limit = v.number(raw.get("time_limit", math.inf), "time_limit", 0.0, math.inf, "in (0, inf]")
    if quick:
        seeds = quick_seeds or seeds
        dims = quick_dims or dims
        eps_default = quick_eps or eps_default
        time_limit = quick_tl or time_limit

    studies_raw = raw.get("studies")
    if studies_raw is None:
        raise v.fail("studies is required: a list of [[studies]] tables")
    studies_raw = v.list(studies_raw, "studies", what="[[studies]] tables")
    known = known_methods()
    if stored:
        for st in studies_raw:
            if isinstance(st, dict) and isinstance(st.get("paradigm"), str) and isinstance(st.get("method"), str):
                if st["method"] not in known.setdefault(st["paradigm"], []):
                    known[st["paradigm"]].append(st["method"])
    studies: list[Study] = []
    for i, st in enumerate(studies_raw):
        study = _study(v, st, f"studies[{i}]", known, dims, eps_default, quick=quick, quick_eps=quick_eps, stored=stored,
                       quick_seeds=quick_seeds)
        studies.extend(_targets(v, st, f"studies[{i}]", study, norm=norm, init=init, output=output, stored=stored))
    names = [s.name for s in studies]
    for name in names:
        if names.count(name) > 1:
            raise v.fail(f"studies must have distinct names, got {name!r} twice (set `name` in one of them)")

    an = v.table(raw.get("analysis", {}), "analysis")
    v.keys(an, "analysis", _ANALYSIS_KEYS)
    gap = None
    if "gap" in an:
        pair = v.list(an["gap"], "analysis.gap", what="two study names [numerator, denominator]")
        if len(pair) != 2:
            raise v.fail(f"analysis.gap must be two study names [numerator, denominator], got {len(pair)} items")
        gap = (v.choice(pair[0], "analysis.gap[0]", names), v.choice(pair[1], "analysis.gap[1]", names))
    analysis = Analysis(
        confidence=v.number(an.get("confidence", 0.95), "analysis.confidence", 0.0, 1.0, "in (0, 1)"),
        delta=v.number(an.get("delta", 0.1), "analysis.delta", 0.0, 0.5, "in (0, 0.5]"),
        bootstrap=v.int(an.get("bootstrap", 2000), "analysis.bootstrap", 100, 1_000_000),
        gap=gap,
        fit_eps_max=v.number(an.get("fit_eps_max", 1.0), "analysis.fit_eps_max", 0.0, math.inf, "in (0, inf)"),
    )
    popup, certify = _popup(v, raw.get("popup", {}), init, output, stored=stored)
    return SweepConfig(
        seeds=seeds, time_limit=time_limit, init=init, output=output, norm=norm,
        studies=tuple(studies), analysis=analysis, quick=quick, source=source, popup=popup, certify=certify,
    )


def _targets(v: Validator, st: dict[str, Any], path: str, study: Study, *, norm: str, init: str, output: str,
             stored: bool = False) -> list[Study]:
    """A study's target keys, validated: the study itself for a one-neuron target, one study
    per target width K for a network target (named "<name>-K<K>" when K is given as a list)."""
    target = v.choice(st.get("target", "neuron"), f"{path}.target", TARGETS)
    if target == "neuron":
        for key in ("target_width", "target_depth"):
            if key in st:
                raise v.fail(f"{path}.{key} applies to target = \"network\" only (set {path}.target = \"network\")")
        return [study]
    if norm != "sup":
        # the network targets' certificates (layer-wise propagation, the MIP's evaluator) bound the sup error
        raise v.fail(f"{path}.target = \"network\" needs setting.norm = \"sup\" (network targets are certified "
                     f"in the sup norm only), got {norm!r}")
    raw_k = st.get("target_width", 1)
    listed = isinstance(raw_k, list)
    if listed:
        items = v.list(raw_k, f"{path}.target_width", what=f"target widths (integers in [1, {_MAX_TARGET_WIDTH}])")
        widths = [v.int(x, f"{path}.target_width[{i}]", 1, _MAX_TARGET_WIDTH) for i, x in enumerate(items)]
        v.distinct(widths, f"{path}.target_width")
        widths.sort()
    else:
        if isinstance(raw_k, bool) or not isinstance(raw_k, int):
            raise v.fail(f"{path}.target_width must be an integer in [1, {_MAX_TARGET_WIDTH}] or a list of them, "
                         f"got {_kind(raw_k)} {_show(raw_k)}")
        widths = [v.int(raw_k, f"{path}.target_width", 1, _MAX_TARGET_WIDTH)]
    depth = v.int(st.get("target_depth", 1), f"{path}.target_depth", 1, _MAX_TARGET_DEPTH)
    if not stored:
        # the pair must have a solver for this target (checked here, not first in every trial)
        if depth > 1 and (study.paradigm, study.method) != ("weight", "construction"):
            raise v.fail(f"{path}.target_depth = {depth} needs paradigm \"weight\" with method \"construction\" "
                         f"(the layer-wise construction); the integer programs prune a two-layer network "
                         f"(target_depth = 1), got {study.paradigm}/{study.method}")
        try:
            network = Setting(d=study.dims[0], init=init, output=output, norm=norm, target="network",
                              target_width=widths[0], target_depth=depth)
            get_method(study.paradigm, study.method, setting=network)
        except InvalidArgument as exc:
            text = str(exc).replace("--paradigm ", "paradigm ")
            raise v.fail(f"{path}: {text}") from None
    return [
        dataclasses.replace(study, name=f"{study.name}-K{k}" if listed else study.name, target="network",
                            target_width=k, target_depth=depth, family=study.name if listed else None)
        for k in widths
    ]

def _popup(v: Validator, raw: Any, init: str, output: str, *, stored: bool = False) -> tuple[PopupStudy | None, PopupStudy | None]:
    """The [popup] table and its [popup.certify], validated (None where disabled).

    ``stored``: the runs happened already (maybe on another machine): a CUDA
    device need not be here."""
    table = v.table(raw, "popup")
    v.keys(table, "popup", _POPUP_KEYS)
    cert = v.table(table.get("certify", {}), "popup.certify")
    v.keys(cert, "popup.certify", _CERTIFY_KEYS)
    out: list[PopupStudy | None] = []
    for kind, t, path in (("data", table, "popup"), ("certify", cert, "popup.certify")):
        enabled = t.get("enabled", True)
        if not isinstance(enabled, bool):
            raise v.fail(f"{path}.enabled must be true or false, got {_kind(enabled)} {_show(enabled)}")
        if not enabled:
            out.append(None)
            continue
        for key in ("paradigms", "widths", "densities", "seeds"):
            if key not in t:
                raise v.fail(f"{path}.{key} is required when {path}.enabled is true")
        items = v.list(t["paradigms"], f"{path}.paradigms", what=f"paradigms ({', '.join(map(repr, PATTERNS))})")
        paradigms = [v.choice(x, f"{path}.paradigms[{i}]", PATTERNS) for i, x in enumerate(items)]
        v.distinct(paradigms, f"{path}.paradigms")
        items = v.list(t["widths"], f"{path}.widths", what=f"widths (integers in [1, {_MAX_POPUP_WIDTH}])")
        widths = [v.int(x, f"{path}.widths[{i}]", 1, _MAX_POPUP_WIDTH) for i, x in enumerate(items)]
        v.distinct(widths, f"{path}.widths")
        items = v.list(t["densities"], f"{path}.densities", what="densities (fractions kept, in (0, 1])")
        densities = [v.number(x, f"{path}.densities[{i}]", 0.0, 1.0, "in (0, 1]") for i, x in enumerate(items)]
        v.distinct(densities, f"{path}.densities")
        seeds = v.seeds(t["seeds"], f"{path}.seeds")
        nm = t.get("nm", "2:4" if kind == "data" else "1:2")
        try:
            n_, m_ = parse_nm(nm)
        except InvalidArgument:
            raise v.fail(f"{path}.nm must be a string N:M with integers 1 <= N <= M (such as \"2:4\"), got {_show(nm)}") from None
        block = v.int(t.get("block", 8 if kind == "data" else 2), f"{path}.block", 1, _MAX_POPUP_WIDTH)
        epochs = v.int(t.get("epochs", 50), f"{path}.epochs", 1, 100_000)
        tl = v.number(t.get("time_limit", math.inf), f"{path}.time_limit", 0.0, math.inf, "in (0, inf]")
        options = v.table(t.get("options", {}), f"{path}.options")
        allowed = [k for k in POPUP_OPTIONS if kind == "data" or k not in _CERTIFY_FIXED]
        v.keys(options, f"{path}.options", allowed)
        for key, value in options.items():
            if isinstance(value, (dict, list)):
                raise v.fail(f"{path}.options.{key} must be a number, string or boolean, got {_kind(value)} {_show(value)}")
        device = options.get("device", "cpu")
        if not stored and isinstance(device, str) and device.startswith("cuda") and not cuda_available():
            raise v.fail(f"{path}.options.device = {device!r}, but no CUDA device is available here; use \"cpu\"")
        if kind == "data":
            dataset = v.choice(t.get("dataset", "digits"), f"{path}.dataset", DATASETS)
            d = None
            solver_options: dict[str, Any] = {}
        else:
            dataset = "teacher"
            d = v.int(t.get("d", 2), f"{path}.d", 1, _MAX_D)
            solver_options = v.table(t.get("solver_options", {}), f"{path}.solver_options")
            v.keys(solver_options, f"{path}.solver_options", KNOWN_SOLVER_OPTIONS)
            for key, value in solver_options.items():
                if isinstance(value, (dict, list)) or (isinstance(value, float) and not math.isfinite(value)):
                    raise v.fail(f"{path}.solver_options.{key} must be a number, string or boolean, got {_kind(value)} {_show(value)}")
            if not stored:
                try:
                    check_option_values(solver_options)
                except InvalidArgument as exc:
                    raise v.fail(f"{path}.solver_options: {exc}") from None
        study = PopupStudy(
            kind=kind, dataset=dataset, paradigms=tuple(paradigms), widths=tuple(sorted(widths)),
            densities=tuple(sorted(densities)), seeds=seeds, nm=f"{n_}:{m_}", block=block, epochs=epochs,
            time_limit=tl, options=tuple(sorted(options.items())), d=d, solver_options=tuple(sorted(solver_options.items())),
        )
        try:  # every run's options, checked as the run will check them
            study.configs(init, output)
        except InvalidArgument as exc:
            raise v.fail(f"{path}: {exc}") from None
        out.append(study)
    return out[0], out[1]

def _grid(v: Validator, raw: Any, path: str) -> dict[int, tuple[float, ...]]:
    """A ``{ d2 = [eps, ...], ... }`` table (a study's grid or quick_grid), validated."""
    g = v.table(raw, path)
    if not g:
        raise v.fail(f"{path} must list at least one dimension, got an empty table")
    return {v.dim_key(k, path): v.eps(e, f"{path}.{k}") for k, e in g.items()}


def _study(
    v: Validator,
    raw: Any,
    path: str,
    known: dict[str, list[str]],
    dims_default: tuple[int, ...],
    eps_default: tuple[float, ...] | None,
    *,
    quick: bool,
    quick_eps: tuple[float, ...] | None,
    stored: bool = False,
    quick_seeds: tuple[int, ...] | None = None,
) -> Study:
    st = v.table(raw, path)
    v.keys(st, path, _STUDY_KEYS)
    if "paradigm" not in st:
        raise v.fail(f"{path}.paradigm is required (one of {', '.join(repr(p) for p in known)})")
    paradigm = v.choice(st["paradigm"], f"{path}.paradigm", list(known))
    method = st.get("method", DEFAULT_METHOD.get(paradigm))
    if method is None:
        raise v.fail(f"{path}.method is required for paradigm {paradigm!r} (one of {', '.join(map(repr, known[paradigm]))})")
    method = v.choice(method, f"{path}.method", known[paradigm])
    name = v.text(st.get("name", f"{paradigm}-{method}"), f"{path}.name")
    max_width = v.int(st.get("max_width", 4096), f"{path}.max_width", 1, _MAX_WIDTH)
    fit = v.choice(st.get("fit", DEFAULT_FIT.get(paradigm, "none")), f"{path}.fit", FITS)

    options = v.table(st.get("options", {}), f"{path}.options")
    solver = installed_method(paradigm, method) if options and not stored else None
    if solver is not None:
        allowed = sorted(method_options(solver) | set(KNOWN_SOLVER_OPTIONS))
        v.keys(options, f"{path}.options", allowed)
    for key, value in options.items():
        if isinstance(value, (dict, list)) or (isinstance(value, float) and not math.isfinite(value)):
            raise v.fail(f"{path}.options.{key} must be a number, string or boolean, got {_kind(value)} {_show(value)}")
    if solver is not None:
        # values too, here, rather than as a failed row in every trial
        try:
            check_option_values(options)
            check = getattr(solver, "check_options", None)
            if check is not None:
                check(dict(options))
        except InvalidArgument as exc:
            raise v.fail(f"{path}.options: {exc} (study {name!r})") from None
    if paradigm in ("nm", "block") and not stored:
        # a pattern's parameter is checked here, not first in every trial
        try:
            Pattern.of(paradigm, nm=options.get("nm"), block=options.get("block"))
        except InvalidArgument as exc:
            raise v.fail(f"{path}.options: {exc}") from None
    opts = tuple(sorted(options.items()))
    bound = v.choice(st.get("bound", "both"), f"{path}.bound", BOUNDS)
    if bound != "both" and not stored:
        solver = installed_method(paradigm, method)
        if solver is not None:  # a pair not installed yet is skipped with a note, as everywhere
            try:
                check_bound(bound, solver)
            except InvalidArgument as exc:
                raise v.fail(f"{path}.bound: {exc}") from None
    seeds = v.seeds(st["seeds"], f"{path}.seeds") if "seeds" in st else None
    if quick and seeds is not None and quick_seeds is not None:
        # --quick cuts a study's own seeds to the quick ones (all of them where none are shared)
        seeds = tuple(x for x in seeds if x in quick_seeds) or seeds
    # validated even when unused, as [quick] is: a broken quick grid fails without --quick too
    quick_grid = _grid(v, st["quick_grid"], f"{path}.quick_grid") if "quick_grid" in st else None
    if quick and quick_grid is not None:
        grid = quick_grid  # the study's own quick grid replaces its grid and the quick eps
    elif "grid" in st:
        for other in ("dims", "eps", "eps_floor", "quick_eps_floor"):
            if other in st:
                raise v.fail(f"{path} takes either grid or dims/eps/eps_floor, not both (got grid and {other})")
        grid = _grid(v, st["grid"], f"{path}.grid")
        if quick and quick_eps is not None:
            grid = {d: tuple(e for e in es if e in quick_eps) or es for d, es in grid.items()}
    else:
        dims = v.dims(st["dims"], f"{path}.dims") if "dims" in st else dims_default
        if quick and quick_eps is not None:
            eps = quick_eps
        elif "eps" in st:
            eps = v.eps(st["eps"], f"{path}.eps")
        elif eps_default is not None:
            eps = eps_default
        else:
            raise v.fail(f"{path}.eps is required when there is no top-level eps (a list of eps values in (0, 1))")
        floors = {}
        for key in ("eps_floor", "quick_eps_floor"):
            table = v.table(st.get(key, {}), f"{path}.{key}")
            floors[key] = {
                v.dim_key(k, f"{path}.{key}"): v.number(x, f"{path}.{key}.{k}", 0.0, 1.0, "in (0, 1)")
                for k, x in table.items()
            }
        # --quick uses quick_eps_floor where it names a dimension, eps_floor elsewhere
        key = "quick_eps_floor"
        floor = {**floors["eps_floor"], **floors[key]} if quick else floors["eps_floor"]
        grid = {}
        for d in dims:
            kept = tuple(e for e in eps if e >= floor.get(d, 0.0))
            if not kept:
                which = key if quick and d in floors[key] else "eps_floor"
                raise v.fail(f"{path}.{which}.d{d} = {floor[d]!r} leaves no eps of the grid {list(eps)} to run in d = {d}")
            grid[d] = kept
    return Study(
        name=name, paradigm=paradigm, method=method, grid=tuple(sorted(grid.items())),
        max_width=max_width, options=opts, fit=fit, bound=bound, seeds=seeds,
    )
