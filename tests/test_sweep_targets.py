"""The gap job with network targets and pattern studies (issue 6): config, trials, report."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

import prunegap as pg
from prunegap._version import __version__
from prunegap.cli import main
from prunegap.exceptions import InvalidArgument
from prunegap.network import UnitStream, draw_instance
from prunegap.report.analysis import analyze
from prunegap.report.figures import MARKERS, figure_nstar, figure_targets, study_labels
from prunegap.solvers.base import get_method
from prunegap.sweep import Store, load_config, parse_config
from prunegap.sweep.config import read_toml
from prunegap.sweep.trials import empty_row, run_trial

NET = """
seeds = 2
dims = [2]
eps = [0.3, 0.2]
[analysis]
fit_eps_max = 1.0
bootstrap = 200
[[studies]]
name = "wnet"
paradigm = "weight"
target = "network"
target_width = [1, 2]
max_width = 512
[[studies]]
name = "nnet"
paradigm = "neuron"
target = "network"
target_width = [1, 2]
max_width = 256
options = { conflict_limit = 20000 }
"""


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- the default sweep is untouched


def _key_digest(cfg) -> str:
    return hashlib.sha256("\n".join(t.key for t in cfg.trials()).encode()).hexdigest()[:16]


def test_default_sweep_keeps_its_trial_keys_and_fingerprint():
    # Digests of the shipped defaults of 0.2 (taken when the frontier, eps 0.003 and the construction in
    # d = 4, 5 joined them; 0.1 had 900 and 125 trials): folders of this minor version must resume.
    for quick, n, keys, fingerprint in ((False, 1182, "d7ea18cb1825f99d", "083f7c4f1df64295"),
                                        (True, 177, "7e5274ff5c2307ab", "0f307222661f1753")):
        cfg = load_config(quick=quick)
        assert len(cfg.trials()) == n and _key_digest(cfg) == keys
        assert all(t.target == "neuron" and t.target_width == 1 and t.target_depth == 1 for t in cfg.trials())
        assert all("target" not in s.experiment() for s in cfg.studies)
        if __version__.startswith("0.2."):  # the fingerprint hashes major.minor too
            assert cfg.fingerprint() == fingerprint


# --------------------------------------------------------------------------- the config


def test_a_list_of_target_widths_is_one_study_per_k(tmp_path):
    cfg = load_config(write(tmp_path, NET))
    assert [(s.name, s.family, s.target, s.target_width, s.target_depth) for s in cfg.studies] == [
        ("wnet-K1", "wnet", "network", 1, 1), ("wnet-K2", "wnet", "network", 2, 1),
        ("nnet-K1", "nnet", "network", 1, 1), ("nnet-K2", "nnet", "network", 2, 1),
    ]
    trials = cfg.trials()
    assert len(trials) == 4 * 2 * 2 and len({t.key for t in trials}) == len(trials)
    assert {(t.study, t.target_width) for t in trials} == {(s.name, s.target_width) for s in cfg.studies}
    # the resolved TOML (what a results folder stores) loads back to the same sweep
    for stored in (False, True):
        again = parse_config(read_toml(cfg.to_toml(), "resolved"), stored=stored)
        assert again.studies == cfg.studies and again.fingerprint() == cfg.fingerprint()
    # K and L decide the trials: they are in the fingerprint
    other = load_config(write(tmp_path, NET.replace("target_width = [1, 2]\nmax_width = 512", "target_width = [1, 3]\nmax_width = 512"), "b.toml"))
    assert other.fingerprint() != cfg.fingerprint()


def test_a_single_target_width_keeps_the_name(tmp_path):
    text = "seeds = 1\neps = [0.3]\ndims = [2]\n[[studies]]\nparadigm = 'weight'\ntarget = 'network'\ntarget_width = 3\ntarget_depth = 2\n"
    cfg = load_config(write(tmp_path, text))
    (s,) = cfg.studies
    assert (s.name, s.family, s.target_width, s.target_depth) == ("weight-construction", None, 3, 2)
    assert parse_config(read_toml(cfg.to_toml(), "r"), stored=True).studies == cfg.studies


BASE = "seeds = 1\neps = [0.3]\ndims = [2]\n[[studies]]\nparadigm = 'neuron'\n"


@pytest.mark.parametrize(
    "extra, needles",
    [
        ("target_widht = 2\n", ["unknown key 'studies[0].target_widht'", "did you mean 'target_width'"]),
        ("target = 'netwrok'\n", ["studies[0].target must be one of", "'network'"]),
        ("target_width = 2\n", ["studies[0].target_width applies to target = \"network\" only"]),
        ("target_depth = 2\n", ["studies[0].target_depth applies to target = \"network\" only"]),
        ("target = 'network'\ntarget_width = 0\n", ["studies[0].target_width must be an integer in [1, 4096], got 0"]),
        ("target = 'network'\ntarget_width = '3'\n", ["studies[0].target_width must be an integer in [1, 4096] or a list"]),
        ("target = 'network'\ntarget_width = []\n", ["studies[0].target_width must be a non-empty list"]),
        ("target = 'network'\ntarget_width = [2, 2]\n", ["studies[0].target_width must not repeat values"]),
        ("target = 'network'\ntarget_width = [1, 5000]\n", ["studies[0].target_width[1] must be an integer in [1, 4096]"]),
        ("target = 'network'\ntarget_depth = 0\n", ["studies[0].target_depth must be an integer in [1, 64]"]),
        ("target = 'network'\ntarget_depth = 2\n", ["studies[0].target_depth = 2 needs paradigm \"weight\"", "neuron/mip"]),
    ],
)
def test_target_keys_are_validated(tmp_path, extra, needles):
    with pytest.raises(InvalidArgument) as info:
        load_config(write(tmp_path, BASE + extra))
    msg = str(info.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, msg


def test_pairs_without_a_network_solver_and_other_norms_are_refused(tmp_path):
    text = BASE.replace("'neuron'", "'nm'") + "options = { nm = '1:2' }\ntarget = 'network'\n"
    with pytest.raises(InvalidArgument, match=r"studies\[0\]: target 'network' works with paradigm weight"):
        load_config(write(tmp_path, text))
    text = BASE + "target = 'network'\n[setting]\nnorm = 'l2-gaussian'\n"
    with pytest.raises(InvalidArgument, match=r"needs setting.norm = \"sup\""):
        load_config(write(tmp_path, text, "l2.toml"))


def test_bad_target_config_is_one_line_exit_2(tmp_path, capsys):
    path = write(tmp_path, BASE + "target = 'network'\ntarget_width = -1\n")
    assert main(["gap", "--config", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "target_width" in err and "Traceback" not in err


# --------------------------------------------------------------------------- trials


@pytest.mark.parametrize("study", ["wnet-K2", "nnet-K2"])
def test_a_network_trial_is_the_width_search_of_its_setting(tmp_path, study):
    cfg = load_config(write(tmp_path, NET))
    trial = next(t for t in cfg.trials() if t.study == study and t.eps == 0.3 and t.seed == 1)
    row = run_trial(trial)
    assert row["status"] == "certified" and row["reason"] is None
    setting = pg.Setting(d=2, target="network", target_width=2)
    paradigm = "weight" if study.startswith("w") else "neuron"
    ref = pg.width(setting, seed=1, eps=0.3, paradigm=paradigm, max_width=trial.max_width, **dict(trial.options))
    assert row["n_star"] == ref.n_star and row["error_upper"] == pytest.approx(ref.error_upper, rel=1e-12)
    assert row["error_lower"] <= row["error_upper"] <= 0.3
    target = json.loads(row["target"])  # the network target, not a one-neuron w
    assert np.asarray(target["W"]).shape == (1, 2, 2) and len(target["c"]) == 2
    if paradigm == "weight":  # the deep ticket: counts, no two-layer mask blobs
        assert row["hidden_mask"] is None and 0 < row["kept_weights"] and 0 < row["density"] <= 1
        assert row["kept_weights"] == ref.to_dict()["kept_weights"]
    else:
        assert row["hidden_mask"] is not None and row["kept_units"] == ref.masks.kept_units
    assert run_trial(trial)["n_star"] == row["n_star"]  # a pure function of (config, seed)


def test_one_neuron_trials_are_unchanged_by_the_target_fields():
    cfg = load_config(quick=True)
    trial = next(t for t in cfg.trials() if t.study == "weight-construction" and t.d == 2 and t.eps == 0.2)
    row = run_trial(trial)
    ref = pg.width(pg.Setting(d=2), seed=trial.seed, eps=0.2, paradigm="weight", max_width=trial.max_width)
    assert row["n_star"] == ref.n_star and json.loads(row["target"]) == ref.instance.w.tolist()


# --------------------------------------------------------------------------- solvers taken directly


def test_get_method_on_a_network_setting_does_not_solve_for_one_neuron():
    setting = pg.Setting(d=2, target="network", target_width=3)
    inst = draw_instance(setting, 0, 48)
    direct = get_method("weight", setting=setting).solve(inst, 0.2)
    via_api = pg.solve(setting, width=48, seed=0, eps=0.2, paradigm="weight")
    assert direct.ticket_error.method == "layerwise-propagation+points"
    assert (direct.error_lower, direct.error_upper) == (via_api.error_lower, via_api.error_upper)
    decide = get_method("weight", setting=setting).oracle(UnitStream(setting, 0), 0.2)
    assert decide(48).error_upper == direct.error_upper
    # the one-neuron construction on the same random network answers something else
    assert get_method("weight").solve(draw_instance(pg.Setting(d=2), 0, 48), 0.2).ticket_error.method != "layerwise-propagation+points"
    # a one-neuron solver handed a network instance refuses it instead of pruning for the wrong target
    for call in (lambda: get_method("weight").solve(inst, 0.2),
                 lambda: get_method("nm").solve(inst, 0.2, nm="1:2"),
                 lambda: get_method("nm", setting=setting).oracle(UnitStream(setting, 0), 0.2, nm="1:2")):
        with pytest.raises(InvalidArgument, match="target 'network'"):
            call()


def test_get_method_mip_on_a_network_setting_certifies_against_the_network():
    setting = pg.Setting(d=2, target="network", target_width=2)
    inst = draw_instance(setting, 0, 24)
    out = get_method("neuron").solve(inst, 0.3, conflict_limit=20000)
    assert out.ticket_error is not None and out.ticket_error.method == "exact-circle-network"
    assert out.error_lower <= out.error_upper
    assert out.error_upper == pytest.approx(pg.solve(setting, width=24, seed=0, eps=0.3, paradigm="neuron",
                                                     conflict_limit=20000).error_upper, rel=1e-12)


# --------------------------------------------------------------------------- the report


def test_gap_job_on_network_targets_reports_n_star_against_k(tmp_path, capsys):
    path = write(tmp_path, NET)
    out = tmp_path / "o"
    assert main(["gap", "--config", str(path), "--out", str(out), "--workers", "1", "--progress", "none"]) == 0
    text = capsys.readouterr().out
    assert "Trials: 16 of 16 stored: 16 certified" in text
    assert "- nnet, d = 2, eps = 0.2: K = 1:" in text and "- wnet, d = 2, eps = 0.2: K = 1:" in text
    assert (out / "figures" / "targets.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    pts = summary["targets"]
    assert {(p["family"], p["target_width"], p["eps"]) for p in pts} == {
        (f, k, e) for f in ("wnet", "nnet") for k in (1, 2) for e in (0.3, 0.2)}
    with Store.open(out) as store:
        rows = store.rows()
    for p in pts:  # each point is the median of its own K's rows
        ns = sorted(r["n_star"] for r in rows if r["study"] == f"{p['family']}-K{p['target_width']}" and r["eps"] == p["eps"])
        assert p["median"] == float(np.median(ns))
        assert p["median_ci"][0] <= p["median"] <= p["median_ci"][1]
    assert "Network targets: n* against the target width K" in (out / "report.html").read_text()
    # the report rebuilds from the database alone, to the same numbers
    assert main(["report", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["targets"] == pts


def pattern_config():
    eps = [0.2, 0.1, 0.05, 0.025]
    return parse_config({
        "seeds": 6,
        "analysis": {"fit_eps_max": 1.0, "bootstrap": 200},
        "studies": [
            {"paradigm": "weight", "grid": {"d2": eps}},
            {"paradigm": "nm", "method": "exact", "options": {"nm": "2:4"}, "grid": {"d2": eps}},
            {"paradigm": "nm", "method": "exact", "name": "nm-exact-1", "options": {"nm": "1:4"}, "grid": {"d2": eps}},
            {"paradigm": "block", "options": {"block": 2}, "grid": {"d2": eps}},
            {"paradigm": "neuron", "grid": {"d2": eps}},
        ],
    })


def pattern_rows(cfg):
    """n* growing from weight to neuron: each pattern lands between the two curves."""
    scale = {"weight-construction": 1.0, "nm-exact": 1.5, "nm-exact-1": 2.0, "block-mip": 4.0, "neuron-mip": 3.0}
    rows = []
    for t in cfg.trials():
        r = empty_row(t)
        n = int(round(scale[t.study] * (10 + 5 * math.log(1 / t.eps)) * (1 + 0.05 * t.seed)))
        r.update(status="certified", n_star=n, n_lower=n, n_upper=n, seconds=0.0)
        rows.append(r)
    return rows


def test_every_pattern_on_one_figure_with_distinct_labels_markers_and_fits():
    cfg = pattern_config()
    analysis = analyze(pattern_rows(cfg), cfg)
    labels = study_labels(analysis)
    assert labels == {"weight-construction": "weight-construction", "nm-exact": "nm-exact (2:4)",
                      "nm-exact-1": "nm-exact-1 (1:4)", "block-mip": "block-mip (B = 2)", "neuron-mip": "neuron-mip"}
    assert {f["study"] for f in analysis["fits"]} == set(labels)  # every pattern gets its fit
    fig = figure_nstar(analysis)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    for label in labels.values():
        assert f"{label}: median n* (open: bracket midpoint)" in legend
        assert any(x.startswith(f"{label}: fit n* =") for x in legend)
    ax = fig.axes[0]
    medians = {line.get_label().split(": median")[0]: line for line in ax.get_lines() if ": median n*" in line.get_label()}
    assert set(medians) == set(labels.values())
    markers = [line.get_marker() for line in medians.values()]
    assert len(set(markers)) == len(markers) and set(markers) <= set(MARKERS)
    assert "N:M" in fig._suptitle.get_text()


def test_targets_figure_has_one_curve_per_family_and_eps(tmp_path):
    cfg = load_config(write(tmp_path, NET))
    rows = []
    for t in cfg.trials():  # n* = 10 K (weight) or 20 K (neuron), the same for every seed
        n = (10 if t.paradigm == "weight" else 20) * t.target_width
        r = empty_row(t)
        r.update(status="certified", n_star=n, n_lower=n, n_upper=n, seconds=0.0)
        rows.append(r)
    analysis = analyze(rows, cfg)
    assert [(p["family"], p["target_width"], p["median"]) for p in analysis["targets"] if p["eps"] == 0.2] == [
        ("nnet", 1, 20.0), ("nnet", 2, 40.0), ("wnet", 1, 10.0), ("wnet", 2, 20.0)]
    fig = figure_targets(analysis)
    curves = {line.get_label(): line for line in fig.axes[0].get_lines() if "eps =" in line.get_label()}
    assert set(curves) == {f"{f} ({p}), eps = {e:g}" for f, p in (("wnet", "weight/construction"), ("nnet", "neuron/mip"))
                           for e in (0.3, 0.2)}
    line = curves["wnet (weight/construction), eps = 0.2"]
    assert list(line.get_xdata()) == [1.0, 2.0] and list(line.get_ydata()) == [10.0, 20.0]


def test_a_deeper_network_target_runs_the_layerwise_construction():
    cfg = parse_config({"seeds": 1, "studies": [{"paradigm": "weight", "target": "network", "target_width": 2,
                                                  "target_depth": 2, "grid": {"d2": [0.5]}, "max_width": 256}]})
    (trial,) = cfg.trials()
    row = run_trial(trial)
    assert row["status"] == "certified" and 0.0 <= row["error_lower"] <= row["error_upper"] <= 0.5
    assert len(json.loads(row["target"])["W"]) == 2  # two hidden layers of the target
    setting = pg.Setting(d=2, target="network", target_width=2, target_depth=2)
    assert row["n_star"] == pg.width(setting, seed=0, eps=0.5, paradigm="weight", max_width=256).n_star
