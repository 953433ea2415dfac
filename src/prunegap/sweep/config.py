"""Declared experiments: a sweep is a TOML file, validated at the boundary.

The defaults ship as ``defaults.toml`` beside this module (``prunegap gap
--show-config`` prints them).  A user file is laid over them: the tables
``[setting]``, ``[analysis]`` and ``[quick]`` key by key, every other key as
a whole.  Validation names the offending key by its path
(``studies[1].eps[2]``), says what is allowed and what it got, and suggests
the closest name for an unknown key; it raises :class:`InvalidArgument`.

The resolved :class:`SweepConfig` expands every study into an explicit grid
{d: eps values}; its :meth:`SweepConfig.fingerprint` hashes only what decides
the trials (not the ``[analysis]`` table), so a results folder can be
re-analysed with other confidence levels without rerunning anything.

The ``[popup]`` table (and its ``[popup.certify]``) declares the popup study:
edge-popup tickets on data, and on the single neuron beside the certified
optimum (:mod:`prunegap.torch.sweep`).  It is merged key by key too; a file
with its own ``[[studies]]`` but no ``[popup]`` runs no popup study (the
default one goes with the default studies).  It is
not part of the fingerprint: a popup row's key hashes its whole
configuration, so adding or changing the study never invalidates the
certified trials of a folder, and rows of other popup options are never
mistaken for these.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from .._version import __version__
from ..exceptions import InvalidArgument, suggest
from ..setting import INITS, NORMS, OUTPUTS
from ..solvers.base import DEFAULT_METHOD, KNOWN_SOLVER_OPTIONS, get_method, installed_method, known_methods, method_options
from .trials import Trial

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "SweepConfig",
    "Study",
    "Analysis",
    "default_toml",
    "load_config",
    "parse_config",
    "FITS",
    "PopupStudy",
    "POPUP_OPTIONS",
]

#: Scaling laws the report can fit: n* = C eps^-alpha, n* = a + b log(1/eps).
FITS: tuple[str, ...] = ("power", "log", "none")
#: The fit a study gets when it names none.
DEFAULT_FIT: dict[str, str] = {"weight": "log", "neuron": "power", "nm": "log", "block": "power"}
_SCHEMA = 1  # bump when the meaning of a key changes
_MAX_D = 64
_MAX_WIDTH = 10**6
_MAX_SEEDS = 100_000

_TOP_KEYS = ("seeds", "dims", "eps", "time_limit", "setting", "analysis", "quick", "studies", "popup")
_SETTING_KEYS = ("init", "output", "norm")
_ANALYSIS_KEYS = ("confidence", "delta", "bootstrap", "gap", "fit_eps_max")
_QUICK_KEYS = ("seeds", "dims", "eps", "time_limit")
_STUDY_KEYS = ("name", "paradigm", "method", "dims", "eps", "eps_floor", "quick_eps_floor", "grid", "max_width", "options", "fit",
               "target", "target_width", "target_depth")
_MAX_TARGET_WIDTH = 4096  # as Setting.target_width
_MAX_TARGET_DEPTH = 64  # as Setting.target_depth
_MERGED_TABLES = ("setting", "analysis", "quick", "popup")
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
_MAX_POPUP_WIDTH = 1 << 16


@dataclass(frozen=True)
class Study:
    """One (paradigm, method) over an explicit grid of (d, eps)."""

    name: str  # unique label of the study in tables and figures
    paradigm: str  # "weight", "neuron", ...
    method: str  # solver of the paradigm, e.g. "construction", "mip"
    grid: tuple[tuple[int, tuple[float, ...]], ...]  # ((d, (eps, ...)), ...), eps descending
    max_width: int  # largest width a search tries
    options: tuple[tuple[str, Any], ...] = ()  # solver options, sorted by name
    fit: str = "none"  # scaling law fitted in the report
    # What is approximated: "neuron" (relu(<w, x>), the paper's target) or "network" (a bias-free
    # ReLU network with target_width hidden units per layer and target_depth layers, drawn from the seed).
    target: str = "neuron"
    target_width: int = 1  # K
    target_depth: int = 1  # L
    #: The declared study a network study came from: a list of target widths expands into one
    #: study per K (named "<family>-K<K>"), so every per-study analysis (medians, fits) is per K,
    #: and the report draws n* against K per family.  None: not part of a K list.
    family: str | None = None

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(d for d, _ in self.grid)

    def eps_of(self, d: int) -> tuple[float, ...]:
        return dict(self.grid).get(d, ())

    def experiment(self) -> dict[str, Any]:
        """What decides this study's trials (hashed into the fingerprint)."""
        out: dict[str, Any] = {
            "name": self.name,
            "paradigm": self.paradigm,
            "method": self.method,
            "grid": {f"d{d}": list(eps) for d, eps in self.grid},
            "max_width": self.max_width,
            "options": dict(self.options),
        }
        if self.target != "neuron":
            # only network studies carry the key: one-neuron studies (every folder written before
            # network targets) keep their fingerprint, so their results folders still resume
            out["target"] = {"kind": self.target, "width": self.target_width, "depth": self.target_depth}
        return out


@dataclass(frozen=True)
class Analysis:
    """Parameters of the report; they never change a trial."""

    confidence: float = 0.95  # level of every confidence interval
    delta: float = 0.1  # the (1 - delta) quantile of n* is reported
    bootstrap: int = 2000  # bootstrap resamples
    gap: tuple[str, str] | None = None  # (numerator, denominator) study names; None: neuron over weight
    fit_eps_max: float = 1.0  # scaling laws are asymptotic: fits use only eps <= fit_eps_max


@dataclass(frozen=True)
class PopupStudy:
    """Edge-popup over a grid of (paradigm, width, density, seed): ``[popup]`` (kind ``data``)
    or ``[popup.certify]`` (kind ``certify``: the single-neuron teacher of the sweep's setting)."""

    kind: str  # "data" or "certify"
    dataset: str  # "digits" or "teacher" (certify: "teacher")
    paradigms: tuple[str, ...]
    widths: tuple[int, ...]
    densities: tuple[float, ...]  # fractions kept
    seeds: tuple[int, ...]
    nm: str  # N:M of paradigm nm
    block: int  # B of paradigm block (clipped to the width)
    epochs: int
    time_limit: float  # wall-clock guard per run, seconds
    options: tuple[tuple[str, Any], ...] = ()  # other PopupConfig fields, sorted
    d: int | None = None  # certify: the input dimension
    solver_options: tuple[tuple[str, Any], ...] = ()  # certify: options of the reference solvers

    def configs(self, init: str = "uniform", output: str = "relu") -> list[dict[str, Any]]:
        """PopupConfig keyword arguments of every run, in a canonical order; a
        (paradigm, density) the pattern cannot reach (N:M above N/M) is left out.
        ``init``/``output``: the sweep's setting, which the certify study's teacher follows."""
        from ..torch.popup import PopupConfig

        out = []
        for paradigm in self.paradigms:
            for width in self.widths:
                for density in self.densities:
                    for seed in self.seeds:
                        kw: dict[str, Any] = {**dict(self.options), "dataset": self.dataset, "paradigm": paradigm,
                                              "width": width, "density": density, "seed": seed, "epochs": self.epochs}
                        if paradigm == "nm":
                            kw["nm"] = self.nm
                        if paradigm == "block":
                            kw["block"] = min(self.block, width)
                        if self.kind == "certify":
                            kw.update(d=self.d, init=init, output=output, scale="none", teacher_width=1)
                        try:
                            out.append(PopupConfig(**kw).to_dict())
                        except InvalidArgument:
                            if paradigm != "nm":  # only N:M's capacity is a grid point to skip
                                raise
        return out

    def to_toml(self, path: str) -> list[str]:
        lines = [
            "", f"[{path}]", "enabled = true",
            *([f"dataset = {_toml(self.dataset)}"] if self.kind == "data" else [f"d = {_toml(self.d)}"]),
            f"paradigms = {_toml(list(self.paradigms))}", f"widths = {_toml(list(self.widths))}",
            f"densities = {_toml(list(self.densities))}", f"seeds = {_toml(list(self.seeds))}",
            f"nm = {_toml(self.nm)}", f"block = {_toml(self.block)}", f"epochs = {_toml(self.epochs)}",
            f"time_limit = {_toml(self.time_limit)}",
        ]
        if self.options:
            lines.append("options = { " + ", ".join(f"{k} = {_toml(v)}" for k, v in self.options) + " }")
        if self.solver_options:
            lines.append("solver_options = { " + ", ".join(f"{k} = {_toml(v)}" for k, v in self.solver_options) + " }")
        return lines

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        out = asdict(self)
        out["options"], out["solver_options"] = dict(self.options), dict(self.solver_options)
        out["time_limit"] = self.time_limit if math.isfinite(self.time_limit) else None
        return out


@dataclass(frozen=True)
class SweepConfig:
    """A resolved sweep: every trial it implies is explicit."""

    seeds: tuple[int, ...]  # instance seeds, shared by every study and eps
    time_limit: float  # wall-clock guard per trial, seconds
    init: str  # law of the random weights
    output: str  # output activation
    norm: str  # error norm
    studies: tuple[Study, ...]
    analysis: Analysis = field(default_factory=Analysis)
    quick: bool = False  # whether the [quick] table was applied
    source: str = "defaults"  # where the config came from, for messages
    popup: PopupStudy | None = None  # [popup]: edge-popup on data (None: disabled)
    certify: PopupStudy | None = None  # [popup.certify]: edge-popup on the single neuron, certified (None: disabled)

    # trials ----------------------------------------------------------------
    def trials(self) -> list[Trial]:
        """Every trial of the sweep, in a canonical order."""
        out = []
        for s in self.studies:
            for d, epss in s.grid:
                for eps in epss:
                    for seed in self.seeds:
                        out.append(
                            Trial(
                                study=s.name, paradigm=s.paradigm, method=s.method, d=d, eps=eps, seed=seed,
                                init=self.init, output=self.output, norm=self.norm, max_width=s.max_width,
                                options=s.options, time_limit=self.time_limit, target=s.target,
                                target_width=s.target_width, target_depth=s.target_depth,
                            )
                        )
        return out

    def popup_trials(self) -> list[Any]:
        """The popup study's trials (:class:`~prunegap.sweep.trials.PopupTrial`), in a canonical
        order: edge-popup on data, then on the single neuron, then the certified optima
        those are compared with.  Not part of :meth:`trials` nor of the fingerprint."""
        from ..torch.sweep import plan_popup

        return plan_popup(self)

    def study(self, name: str) -> Study:
        for s in self.studies:
            if s.name == name:
                return s
        raise InvalidArgument(f"no study named {name!r}{suggest(name, [s.name for s in self.studies])}")

    def gap_pair(self) -> tuple[str, str] | None:
        """(numerator, denominator) of the gap ratio, or None when undefined."""
        if self.analysis.gap is not None:
            return self.analysis.gap
        num = next((s.name for s in self.studies if s.paradigm == "neuron"), None)
        den = next((s.name for s in self.studies if s.paradigm == "weight"), None)
        return (num, den) if num and den else None

    # identity ----------------------------------------------------------------
    def experiment(self) -> dict[str, Any]:
        """The part of the config that decides the trials, canonical and JSON-ready."""
        return {
            "schema": _SCHEMA,
            "seeds": list(self.seeds),
            "time_limit": self.time_limit,
            "setting": {"init": self.init, "output": self.output, "norm": self.norm},
            "studies": [s.experiment() for s in self.studies],
        }

    def fingerprint(self) -> str:
        """Hash of the experiment and of prunegap's major.minor version.

        Patch releases keep the fingerprint (they must not change results);
        a new minor version may, so its results go to a new folder."""
        major_minor = ".".join(__version__.split(".")[:2])
        text = json.dumps({"experiment": self.experiment(), "prunegap": major_minor}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        a = self.analysis
        return {
            **self.experiment(),
            "analysis": {"confidence": a.confidence, "delta": a.delta, "bootstrap": a.bootstrap,
                         "gap": list(a.gap) if a.gap else None, "fit_eps_max": a.fit_eps_max},
            "fits": {s.name: s.fit for s in self.studies},
            "quick": self.quick,
            "popup": self.popup.to_dict() if self.popup else None,
            "popup_certify": self.certify.to_dict() if self.certify else None,
        }

    def to_toml(self) -> str:
        """The resolved config as a TOML file that loads back to the same sweep."""
        a = self.analysis
        lines = [
            "# prunegap gap -- a resolved sweep (every trial explicit)",
            f"seeds = {_toml(list(self.seeds))}",
            f"time_limit = {_toml(self.time_limit)}",
            "",
            "[setting]",
            f"init = {_toml(self.init)}",
            f"output = {_toml(self.output)}",
            f"norm = {_toml(self.norm)}",
            "",
            "[analysis]",
            f"confidence = {_toml(a.confidence)}",
            f"delta = {_toml(a.delta)}",
            f"bootstrap = {_toml(a.bootstrap)}",
            f"fit_eps_max = {_toml(a.fit_eps_max)}",
        ]
        if a.gap:
            lines.append(f"gap = {_toml(list(a.gap))}")
        done: set[str] = set()
        for s in self.studies:
            if s.family is not None:
                # a K list: written back as the one table it was declared as, so it loads to the same studies
                if s.family in done:
                    continue
                done.add(s.family)
                widths = [t.target_width for t in self.studies if t.family == s.family]
                name, target_lines = s.family, [f"target_width = {_toml(widths)}"]
            else:
                name, target_lines = s.name, [f"target_width = {_toml(s.target_width)}"]
            if s.target != "neuron":
                target_lines = [f"target = {_toml(s.target)}", *target_lines, f"target_depth = {_toml(s.target_depth)}"]
            else:
                target_lines = []
            lines += [
                "",
                "[[studies]]",
                f"name = {_toml(name)}",
                f"paradigm = {_toml(s.paradigm)}",
                f"method = {_toml(s.method)}",
                f"max_width = {_toml(s.max_width)}",
                f"fit = {_toml(s.fit)}",
                "grid = { " + ", ".join(f"d{d} = {_toml(list(e))}" for d, e in s.grid) + " }",
                *target_lines,
            ]
            if s.options:
                lines.append("options = { " + ", ".join(f"{k} = {_toml(v)}" for k, v in s.options) + " }")
        lines += self.popup.to_toml("popup") if self.popup else ["", "[popup]", "enabled = false"]
        lines += self.certify.to_toml("popup.certify") if self.certify else ["", "[popup.certify]", "enabled = false"]
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        """One line: what the sweep runs."""
        parts = [f"{s.name} (d={','.join(map(str, s.dims))}; {sum(len(e) for _, e in s.grid)} (d, eps))" for s in self.studies]
        return f"{len(self.seeds)} seeds x [{'; '.join(parts)}] = {len(self.trials())} trials"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # JSON's ASCII escapes write astral characters as surrogate pairs, which
        # TOML rejects; keep them literal and escape only what TOML requires.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


# loading -------------------------------------------------------------------
def default_toml() -> str:
    """The text of the shipped defaults (with their comments)."""
    return resources.files("prunegap.sweep").joinpath("defaults.toml").read_text(encoding="utf-8")


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgument(f"{source} is not valid TOML: {exc}") from None


def load_config(path: str | Path | None = None, *, quick: bool = False) -> SweepConfig:
    """The defaults, with the TOML file at ``path`` laid over them."""
    user: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        source = str(p)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidArgument(f"config file {source!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"config file {source!r} cannot be read ({exc})") from None
        user = _parse_toml(text, source)
    return parse_config(user, quick=quick, source=source)


def parse_config(user: dict[str, Any], *, quick: bool = False, source: str = "config", stored: bool = False) -> SweepConfig:
    """Validate ``user`` (a parsed TOML document) laid over the defaults.

    ``stored``: the config comes from a results database, whose trials ran
    already: its (paradigm, method) pairs are accepted even when this
    installation lacks them, so that its report can still be built."""
    base = _parse_toml(default_toml(), "defaults.toml")
    v = _Validator(source)
    v.keys(user, "", _TOP_KEYS)
    merged = dict(base)
    for key, value in user.items():
        if key in _MERGED_TABLES:
            v.table(value, key)
            merged[key] = {**base.get(key, {}), **value}
        else:
            merged[key] = value
    if isinstance(user.get("popup"), dict) and isinstance(user["popup"].get("certify"), dict):
        merged["popup"]["certify"] = {**base.get("popup", {}).get("certify", {}), **user["popup"]["certify"]}
    if "studies" in user and "gap" not in user.get("analysis", {}):
        # the default gap pair names the default studies: other studies get the default rule
        merged["analysis"] = {k: x for k, x in merged.get("analysis", {}).items() if k != "gap"}
    if "popup" not in user and (stored or "studies" in user):
        # The default popup study belongs to the default studies (a folder from
        # before the popup study has none, either).
        merged["popup"] = {"enabled": False, "certify": {"enabled": False}}
    return _resolve(merged, v, quick=quick, source=source, stored=stored)


class _Validator:
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


def _resolve(raw: dict[str, Any], v: _Validator, *, quick: bool, source: str, stored: bool = False) -> SweepConfig:
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
        study = _study(v, st, f"studies[{i}]", known, dims, eps_default, quick=quick, quick_eps=quick_eps, stored=stored)
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


def _targets(v: _Validator, st: dict[str, Any], path: str, study: Study, *, norm: str, init: str, output: str,
             stored: bool = False) -> list[Study]:
    """A study's target keys, validated: the study itself for a one-neuron target, one study
    per target width K for a network target (named "<name>-K<K>" when K is given as a list)."""
    import dataclasses

    from ..setting import TARGETS

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
        from ..setting import Setting

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


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _popup(v: _Validator, raw: Any, init: str, output: str, *, stored: bool = False) -> tuple[PopupStudy | None, PopupStudy | None]:
    """The [popup] table and its [popup.certify], validated (None where disabled).

    ``stored``: the runs happened already (maybe on another machine): a CUDA
    device need not be here."""
    from ..torch.data import DATASETS
    from ..torch.patterns import PATTERNS, parse_nm

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
        if not stored and isinstance(device, str) and device.startswith("cuda") and not _cuda_available():
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


def _study(
    v: _Validator,
    raw: Any,
    path: str,
    known: dict[str, list[str]],
    dims_default: tuple[int, ...],
    eps_default: tuple[float, ...] | None,
    *,
    quick: bool,
    quick_eps: tuple[float, ...] | None,
    stored: bool = False,
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
        check = getattr(solver, "check_options", None)
        if check is not None:  # values too, here, rather than as a failed row in every trial
            try:
                check(dict(options))
            except InvalidArgument as exc:
                raise v.fail(f"{path}.options: {exc}") from None
    for key, value in options.items():
        if isinstance(value, (dict, list)) or (isinstance(value, float) and not math.isfinite(value)):
            raise v.fail(f"{path}.options.{key} must be a number, string or boolean, got {_kind(value)} {_show(value)}")
    if paradigm in ("nm", "block") and not stored:
        # a pattern's parameter is checked here, not first in every trial
        from ..solvers.patterns import Pattern

        try:
            Pattern.of(paradigm, nm=options.get("nm"), block=options.get("block"))
        except InvalidArgument as exc:
            raise v.fail(f"{path}.options: {exc}") from None
    opts = tuple(sorted(options.items()))

    if "grid" in st:
        for other in ("dims", "eps", "eps_floor", "quick_eps_floor"):
            if other in st:
                raise v.fail(f"{path} takes either grid or dims/eps/eps_floor, not both (got grid and {other})")
        g = v.table(st["grid"], f"{path}.grid")
        if not g:
            raise v.fail(f"{path}.grid must list at least one dimension, got an empty table")
        grid = {v.dim_key(k, f"{path}.grid"): v.eps(e, f"{path}.grid.{k}") for k, e in g.items()}
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
        max_width=max_width, options=opts, fit=fit,
    )
