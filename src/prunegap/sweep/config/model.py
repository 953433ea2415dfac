"""The sweep's model: the resolved config as frozen dataclasses, their trials and their fingerprint.

A :class:`SweepConfig` is what :func:`~prunegap.sweep.config.parse_config`
returns once a TOML file is validated: every study holds an explicit grid
{d: eps values}, :meth:`SweepConfig.trials` expands it into
:class:`~prunegap.sweep.trials.Trial`\\ s and :meth:`SweepConfig.popup_trials`
the popup study into :class:`~prunegap.sweep.popup.PopupTrial`\\ s.
:meth:`SweepConfig.fingerprint` hashes only what decides the certified
trials (not the ``[analysis]`` table, nor the popup study, whose keys hash
their whole configuration), so a results folder can be re-analysed with
other confidence levels, or given another popup study, without rerunning
anything.  :meth:`SweepConfig.document` is the resolved config as a TOML
document (:meth:`SweepConfig.to_toml` its text), which loads back to the
same sweep.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..._version import __version__
from ...exceptions import InvalidArgument, suggest
from ...torch.certify import reference_for
from ...torch.study import popup_grid
from ..popup import CERTIFY_EPS, PopupTrial
from ..trials import Trial
from .files import write_toml

__all__ = ["SweepConfig", "Study", "Analysis", "PopupStudy", "FITS", "DEFAULT_FIT"]

#: Scaling laws the report can fit: n* = C eps^-alpha, n* = a + b log(1/eps).
FITS: tuple[str, ...] = ("power", "log", "none")
#: The fit a study gets when it names none.
DEFAULT_FIT: dict[str, str] = {"weight": "log", "neuron": "power", "nm": "log", "block": "power"}
_SCHEMA = 1  # bump when the meaning of a key changes


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
    #: What each trial's search settles: "both" (n* itself) or "lower" (proofs of "no" only: the
    #: certified frontier n_lower, docs/guide.md "The frontier").
    bound: str = "both"
    seeds: tuple[int, ...] | None = None  # the study's own seeds (None: the sweep's)

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
        if self.bound != "both":
            out["bound"] = self.bound  # like target below: the key only where it is set
        if self.seeds is not None:
            out["seeds"] = list(self.seeds)
        if self.target != "neuron":
            # only network studies carry the key: one-neuron studies (every folder written before
            # network targets) keep their fingerprint, so their results folders still resume
            out["target"] = {"kind": self.target, "width": self.target_width, "depth": self.target_depth}
        return out

    def document(self, name: str | None = None, target_widths: list[int] | None = None) -> dict[str, Any]:
        """The study as a ``[[studies]]`` table that loads back to it; ``name`` and
        ``target_widths``: a K list's family name and widths (one table for all its studies)."""
        out: dict[str, Any] = {
            "name": name or self.name, "paradigm": self.paradigm, "method": self.method, "max_width": self.max_width,
            "fit": self.fit, "grid": {f"d{d}": list(eps) for d, eps in self.grid},
        }
        if self.target != "neuron":
            out.update(target=self.target, target_width=target_widths or self.target_width, target_depth=self.target_depth)
        if self.bound != "both":
            out["bound"] = self.bound
        if self.seeds is not None:
            out["seeds"] = list(self.seeds)
        if self.options:
            out["options"] = dict(self.options)
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
        fields: dict[str, Any] = {**dict(self.options), "epochs": self.epochs}
        if self.kind == "certify":
            fields.update(d=self.d, init=init, output=output, scale="none", teacher_width=1)
        # only N:M's capacity is a grid point to skip; any other refusal is an error of the study
        grid = popup_grid(dataset=self.dataset, paradigms=self.paradigms, widths=self.widths, densities=self.densities,
                          seeds=self.seeds, nm=self.nm, block=self.block, drop=("nm",), clip_block=True, **fields)
        return [c.to_dict() for c in grid]

    def trials(self, init: str = "uniform", output: str = "relu") -> list[PopupTrial]:
        """This study's trials in a canonical order: its edge-popup runs, then for ``certify``
        the certified optima they are compared with (each once) and, with weight or N:M
        tickets, the subset-sum construction at each (width, seed)."""
        out = [PopupTrial(self.kind, tuple(sorted(kw.items())), self.time_limit) for kw in self.configs(init, output)]
        if self.kind != "certify":
            return out
        seen: set[str] = set()
        for paradigm in self.paradigms:
            for width in self.widths:
                for seed in self.seeds:
                    t = self.optimum_trial(paradigm, width, seed, init, output)
                    if t.key not in seen:
                        seen.add(t.key)
                        out.append(t)
        if {"weight", "nm"} & set(self.paradigms):
            out += [self.construction_trial(width, seed, init, output) for width in self.widths for seed in self.seeds]
        return out

    def optimum_trial(self, paradigm: str, width: int, seed: int, init: str, output: str) -> PopupTrial:
        """The certified optimum that this certify study's ``paradigm`` tickets at (width, seed) are compared with."""
        ref, method, options, _ = reference_for(paradigm, nm=self.nm, block=min(self.block, width))
        params = {"paradigm": ref, "method": method, "d": self.d, "width": width, "seed": seed, "init": init,
                  "output": output, "eps": CERTIFY_EPS,
                  "options": dict(sorted({**dict(self.solver_options), **options}.items()))}
        return PopupTrial("optimum", tuple(sorted(params.items())), self.time_limit)

    def construction_trial(self, width: int, seed: int, init: str, output: str) -> PopupTrial:
        """The subset-sum construction's ticket at (width, seed) of this certify study's single neuron."""
        params = {"paradigm": "weight", "method": "construction", "d": self.d, "width": width, "seed": seed,
                  "init": init, "output": output, "eps": CERTIFY_EPS, "options": {}}
        return PopupTrial("construction", tuple(sorted(params.items())), self.time_limit)

    def document(self) -> dict[str, Any]:
        """The study as its ``[popup]`` or ``[popup.certify]`` table, loading back to it."""
        out: dict[str, Any] = {"enabled": True}
        out.update({"dataset": self.dataset} if self.kind == "data" else {"d": self.d})
        out.update(paradigms=list(self.paradigms), widths=list(self.widths), densities=list(self.densities),
                   seeds=list(self.seeds), nm=self.nm, block=self.block, epochs=self.epochs, time_limit=self.time_limit)
        if self.options:
            out["options"] = dict(self.options)
        if self.solver_options:
            out["solver_options"] = dict(self.solver_options)
        return out

    def to_dict(self) -> dict[str, Any]:
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
                    for seed in (s.seeds if s.seeds is not None else self.seeds):
                        out.append(
                            Trial(
                                study=s.name, paradigm=s.paradigm, method=s.method, d=d, eps=eps, seed=seed,
                                init=self.init, output=self.output, norm=self.norm, max_width=s.max_width,
                                options=s.options, time_limit=self.time_limit, target=s.target,
                                target_width=s.target_width, target_depth=s.target_depth, bound=s.bound,
                            )
                        )
        return out

    def popup_trials(self) -> list[PopupTrial]:
        """The popup study's trials (:class:`~prunegap.sweep.popup.PopupTrial`), in a canonical
        order: edge-popup on data, then on the single neuron, then the certified optima
        those are compared with.  Not part of :meth:`trials` nor of the fingerprint."""
        out: list[PopupTrial] = []
        for study in (self.popup, self.certify):
            if study is not None:
                out += study.trials(self.init, self.output)
        return out

    def optimum_trial(self, paradigm: str, width: int, seed: int) -> PopupTrial:
        """The certified optimum that the certify study's ``paradigm`` tickets at (width, seed) are compared with."""
        return self._certify().optimum_trial(paradigm, width, seed, self.init, self.output)

    def construction_trial(self, width: int, seed: int) -> PopupTrial:
        """The subset-sum construction's ticket at (width, seed) of the certify study's single neuron."""
        return self._certify().construction_trial(width, seed, self.init, self.output)

    def _certify(self) -> PopupStudy:
        if self.certify is None:
            raise InvalidArgument("the sweep has no [popup.certify] study")
        return self.certify

    def study(self, name: str) -> Study:
        for s in self.studies:
            if s.name == name:
                return s
        raise InvalidArgument(f"no study named {name!r}{suggest(name, [s.name for s in self.studies])}")

    def gap_pair(self) -> tuple[str, str] | None:
        """(numerator, denominator) of the gap ratio, or None when undefined."""
        if self.analysis.gap is not None:
            return self.analysis.gap
        # a proofs-only study has no n* to divide: its ratio is the frontier's lower bound (report/analysis)
        num = next((s.name for s in self.studies if s.paradigm == "neuron" and s.bound == "both"), None)
        den = next((s.name for s in self.studies if s.paradigm == "weight" and s.bound == "both"), None)
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

    def document(self) -> dict[str, Any]:
        """The resolved config as a TOML document that loads back to the same sweep."""
        a = self.analysis
        analysis: dict[str, Any] = {"confidence": a.confidence, "delta": a.delta, "bootstrap": a.bootstrap,
                                    "fit_eps_max": a.fit_eps_max}
        if a.gap:
            analysis["gap"] = list(a.gap)
        studies, done = [], set()
        for s in self.studies:
            if s.family is None:
                studies.append(s.document())
            elif s.family not in done:
                # a K list: written back as the one table it was declared as, so it loads to the same studies
                done.add(s.family)
                studies.append(s.document(s.family, [t.target_width for t in self.studies if t.family == s.family]))
        popup = self.popup.document() if self.popup else {"enabled": False}
        popup["certify"] = self.certify.document() if self.certify else {"enabled": False}
        return {
            "seeds": list(self.seeds), "time_limit": self.time_limit,
            "setting": {"init": self.init, "output": self.output, "norm": self.norm},
            "analysis": analysis, "studies": studies, "popup": popup,
        }

    def to_toml(self) -> str:
        """The resolved config as a TOML file that loads back to the same sweep."""
        return write_toml(self.document(), header="prunegap gap -- a resolved sweep (every trial explicit)")

    def summary(self) -> str:
        """One line: what the sweep runs."""
        parts = [f"{s.name} (d={','.join(map(str, s.dims))}; {sum(len(e) for _, e in s.grid)} (d, eps)"
                 f"{f'; {len(s.seeds)} seeds' if s.seeds is not None else ''}{'; lower bound' if s.bound == 'lower' else ''})"
                 for s in self.studies]
        return f"{len(self.seeds)} seeds x [{'; '.join(parts)}] = {len(self.trials())} trials"
