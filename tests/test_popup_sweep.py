"""The popup study of the gap sweep: [popup] config, runs through the sweep's driver, the popup table, the report."""

import json
import sys
from concurrent.futures import Future

import pytest

pytest.importorskip("torch")

from prunegap import InvalidArgument  # noqa: E402
from prunegap.cli import main  # noqa: E402
from prunegap.sweep import PopupTrial, Store, load_config, parse_config, run_popup_sweep, run_trial  # noqa: E402
from prunegap.sweep.executors import InlineExecutor, LocalExecutor  # noqa: E402
from prunegap.sweep.popup import run_popup_trial  # noqa: E402
from prunegap.sweep.schema import POPUP  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# One cheap certified trial, and a popup study of a few seconds.
TINY = {
    "seeds": [0],
    "dims": [2],
    "eps": [0.2],
    "studies": [{"paradigm": "weight", "method": "construction", "max_width": 64}],
    "popup": {
        "paradigms": ["weight", "neuron"], "widths": [8, 16], "densities": [0.5], "seeds": [0, 1], "epochs": 2,
        "certify": {"paradigms": ["weight", "neuron"], "widths": [4], "densities": [0.5], "seeds": [0], "epochs": 5,
                    "options": {"n_train": 64, "n_test": 64}},
    },
}
VOLATILE = ("seconds", "train_seconds", "seconds_per_epoch")


def tiny(**popup):
    raw = json.loads(json.dumps(TINY))
    raw["popup"].update(popup)
    return parse_config(raw, source="tiny")


def stable(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


# config ---------------------------------------------------------------------------
def test_default_sweep_keeps_its_trials_and_fingerprint():
    cfg = load_config()
    assert cfg.popup is not None and cfg.certify is not None  # the default sweep has a small popup study
    off = parse_config({"popup": {"enabled": False, "certify": {"enabled": False}}})
    changed = parse_config({"popup": {"widths": [32], "seeds": 1}})
    for other in (off, changed):
        assert other.trials() == cfg.trials()
        assert other.fingerprint() == cfg.fingerprint()
        assert other.experiment() == cfg.experiment()
    assert off.popup is None and off.certify is None and off.popup_trials() == []


def test_own_studies_without_popup_table_run_no_popup():
    raw = {k: v for k, v in TINY.items() if k != "popup"}
    assert parse_config(raw).popup_trials() == []
    assert tiny().popup is not None


def test_popup_config_round_trips_through_toml():
    cfg = tiny(options={"lr": 0.05}, nm="1:2")
    again = parse_config(tomllib.loads(cfg.to_toml()), stored=True)
    assert again.popup == cfg.popup and again.certify == cfg.certify
    assert [t.key for t in again.popup_trials()] == [t.key for t in cfg.popup_trials()]
    old = {k: v for k, v in tomllib.loads(cfg.to_toml()).items() if k != "popup"}  # a folder from before the study
    assert parse_config(old, stored=True).popup is None


@pytest.mark.parametrize("popup, path, hint", [
    ({"widht": [8]}, "popup.widht", "widths"),
    ({"options": {"lrr": 0.1}}, "popup.options.lrr", "lr"),
    ({"densities": [0.0]}, "popup.densities[0]", "(0, 1]"),
    ({"densities": [1.5]}, "popup.densities[0]", "(0, 1]"),
    ({"paradigms": ["neurons"]}, "popup.paradigms[0]", "neuron"),
    ({"nm": "4:2"}, "popup.nm", "N:M"),
    ({"enabled": "yes"}, "popup.enabled", "true or false"),
    ({"options": {"optimizer": "rmsprop"}}, "popup", "optimizer"),
    ({"certify": {"options": {"init": "gaussian"}}}, "popup.certify.options.init", "allowed keys"),
    ({"certify": {"seedz": 2}}, "popup.certify.seedz", "seeds"),
])
def test_bad_popup_config_names_the_key(popup, path, hint):
    with pytest.raises(InvalidArgument) as err:
        tiny(**popup)
    msg = str(err.value)
    assert path in msg and hint in msg


def test_bad_popup_config_on_the_command_line_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('seeds = 1\n[popup]\nwidht = [8]\n')
    assert main(["gap", "--config", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "popup.widht" in err[0] and "widths" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "o").exists()


def test_plan_is_explicit_and_drops_only_unreachable_nm():
    cfg = tiny(paradigms=["weight", "nm"], densities=[0.5, 0.75], nm="2:4")
    data = [t for t in cfg.popup_trials() if t.kind == "data"]
    # N:M 2:4 keeps at most half of the weights: density 0.75 is left out for nm only
    assert {(t.get("paradigm"), t.get("density")) for t in data} == {("weight", 0.5), ("weight", 0.75), ("nm", 0.5)}
    trials = cfg.popup_trials()
    assert len({t.key for t in trials}) == len(trials)
    certify = [t for t in trials if t.kind == "certify"]
    assert all(t.get("scale") == "none" and t.get("teacher_width") == 1 and t.get("output") == cfg.output
               and t.get("init") == cfg.init and t.get("dataset") == "teacher" for t in certify)
    optima = [t for t in trials if t.kind == "optimum"]
    assert {(t.get("paradigm"), t.get("width"), t.get("seed")) for t in optima} == {("weight", 4, 0), ("neuron", 4, 0)}
    built = [t for t in trials if t.kind == "construction"]
    assert [(t.get("method"), t.get("width"), t.get("seed")) for t in built] == [("construction", 4, 0)]
    # a key hashes every option: other options are other rows
    other = tiny(epochs=3).popup_trials()
    assert {t.key for t in other if t.kind == "data"}.isdisjoint(t.key for t in data)


# running ---------------------------------------------------------------------------
def test_rows_do_not_depend_on_the_executor_and_resume(tmp_path):
    cfg = tiny()
    a, b = tmp_path / "a", tmp_path / "b"
    said = []
    run = run_popup_sweep(cfg, a, executor=InlineExecutor(), say=said.append)
    assert run.total == len(cfg.popup_trials()) == run.ran and run.statuses == {"ok": run.total}
    pool = LocalExecutor(2)
    try:
        run_popup_sweep(cfg, b, executor=pool)
    finally:
        pool.shutdown()
    with Store.open(a) as sa, Store.open(b) as sb:
        rows_a, rows_b = sa.popup_rows(masks=True), sb.popup_rows(masks=True)
    assert stable(rows_a) == stable(rows_b) and len(rows_a) == run.total
    # resume: nothing left to do; a lost row is the only one run again, and comes back the same
    assert run_popup_sweep(cfg, a, executor=InlineExecutor()).ran == 0
    with Store.open(a, read_only=False) as store:
        store.con.execute(f"DELETE FROM {POPUP.name} WHERE key = ?", [rows_a[0]["key"]])
    again = run_popup_sweep(cfg, a, executor=InlineExecutor())
    assert (again.stored_before, again.ran) == (run.total - 1, 1)
    with Store.open(a) as sa:
        assert stable(sa.popup_rows(masks=True)) == stable(rows_a)


def test_popup_runs_are_recorded_in_the_attempts_table(tmp_path):
    # one driver serves both kinds of trial: a popup run is an attempt like a certified trial,
    # run in the worker itself (no process of its own: pid NULL)
    cfg = tiny()
    run = run_popup_sweep(cfg, tmp_path, executor=InlineExecutor(), run=7)
    with Store.open(tmp_path) as store:
        attempts = store.attempts()
        keys = [r["key"] for r in store.popup_rows()]
    assert sorted(a["key"] for a in attempts) == sorted(keys) and len(keys) == run.total == run.ran
    assert all(a["run"] == 7 and a["attempt"] == 1 and a["outcome"] == "ok" and a["pid"] is None for a in attempts)


class LosingExecutor(InlineExecutor):
    """Loses the first ``lose`` attempts of every trial, as an executor whose worker dies does."""

    def __init__(self, lose):
        self.lose = lose

    def submit(self, fn, /, *args, **kwargs):
        if args[1] <= self.lose:  # run_attempt(trial, attempt, ...)
            lost = Future()
            lost.set_exception(RuntimeError("the worker died"))
            return lost
        return super().submit(fn, *args, **kwargs)


def one_run():
    return tiny(paradigms=["neuron"], widths=[8], seeds=[0], certify={"enabled": False})


def test_a_lost_popup_attempt_is_retried_and_recorded(tmp_path):
    cfg = one_run()
    (trial,) = cfg.popup_trials()
    run = run_popup_sweep(cfg, tmp_path, executor=LosingExecutor(1), retries=2)
    assert (run.ran, run.retries, run.lost, run.statuses) == (1, 1, 0, {"ok": 1})
    with Store.open(tmp_path) as store:
        (row,) = store.popup_rows()
        attempts = store.attempts(trial.key)
    assert row["status"] == "ok" and [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "lost"), (2, "ok")]
    assert "the worker died" in attempts[0]["reason"]


def test_a_popup_run_that_loses_every_attempt_is_a_failed_row(tmp_path):
    cfg = one_run()
    run = run_popup_sweep(cfg, tmp_path, executor=LosingExecutor(5), retries=1)
    assert (run.ran, run.retries, run.lost, run.statuses) == (1, 1, 1, {"failed": 1})
    with Store.open(tmp_path) as store:
        (row,) = store.popup_rows()
    assert row["kind"] == "data" and row["paradigm"] == "neuron" and row["width"] == 8
    assert row["reason"].startswith("all 2 attempt(s) were lost; the last: RuntimeError: the worker died")


def test_popup_rows_from_a_worker_of_another_version_are_refused(tmp_path, monkeypatch):
    import prunegap.sweep.sandbox as sandbox

    monkeypatch.setattr(sandbox, "__version__", "99.0.0")  # as a worker with another prunegap would report
    with pytest.raises(InvalidArgument, match=r"worker .* runs prunegap 99\.0\.0, this driver .*install the same prunegap"):
        run_popup_sweep(one_run(), tmp_path, executor=InlineExecutor())
    with Store.open(tmp_path) as store:
        assert store.popup_rows() == []


def test_certify_rows_are_intervals_and_never_beat_the_optimum(tmp_path):
    cfg = tiny()
    run_popup_sweep(cfg, tmp_path, executor=InlineExecutor())
    with Store.open(tmp_path) as store:
        rows = store.popup_rows()
    certify = [r for r in rows if r["kind"] == "certify"]
    optima = {(r["paradigm"], r["width"], r["seed"]): r for r in rows if r["kind"] == "optimum"}
    assert certify and len(optima) == 2
    for r in certify:
        assert r["status"] == "ok" and 0.0 <= r["error_lower"] <= r["error_upper"]
        opt = optima[(r["paradigm"], r["width"], r["seed"])]
        assert opt["bound_lower"] <= opt["error_upper"]
        # the optimum's lower bound holds for every mask of the family, edge-popup's included
        assert r["error_upper"] >= opt["bound_lower"] - 1e-9
    (built,) = [r for r in rows if r["kind"] == "construction"]
    # the construction is a weight mask: the exact weight optimum's lower bound holds for it too
    assert built["status"] == "ok" and built["bound_lower"] is None
    assert built["error_upper"] >= optima[("weight", 4, 0)]["bound_lower"] - 1e-9
    data = [r for r in rows if r["kind"] == "data"]
    assert all(0.0 <= r["test_accuracy"] <= 1.0 and r["dataset"] == "digits" for r in data)
    assert all(abs(r["unit_density"] - 0.5) < 1e-12 for r in data if r["paradigm"] == "neuron")


def test_timeout_is_a_row(tmp_path):
    trial = next(t for t in tiny().popup_trials() if t.kind == "data")
    late = PopupTrial(trial.kind, trial.params, 1e-9)  # past the deadline after the first epoch
    row = run_trial(late, guard=False)
    assert row["status"] == "timeout" and "time limit" in row["reason"] and row["key"] == late.key


def test_failed_run_is_a_row():
    params = dict(tiny().popup_trials()[0].params)
    params["lr"] = -1.0  # refused by the run itself
    row = run_popup_trial(PopupTrial("data", tuple(sorted(params.items()))))
    assert row["status"] == "failed" and "lr" in row["reason"]


def test_without_torch_the_study_is_skipped(tmp_path, monkeypatch):
    import prunegap.sweep.runner as runner

    monkeypatch.setattr(runner, "torch_available", lambda: False)
    said = []
    run = run_popup_sweep(tiny(), tmp_path, executor=InlineExecutor(), say=said.append)
    assert run.ran == 0 and run.skipped and len(said) == 1 and "torch" in said[0]


# the command and the report --------------------------------------------------------
def test_gap_runs_the_popup_study_and_reports_it(tmp_path, capsys):
    cfg_path = tmp_path / "sweep.toml"
    cfg_path.write_text(tiny().to_toml())
    out = tmp_path / "out"
    assert main(["gap", "--config", str(cfg_path), "--out", str(out), "--workers", "1", "--progress", "none"]) == 0
    text = capsys.readouterr().out
    assert "Edge-popup on digits" in text and "Single neuron" in text
    for name in ("popup", "popup_certify"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0 and (out / "figures" / f"{name}.pdf").exists()
    page = (out / "report.html").read_text()
    assert "Edge-popup against the certified optimum" in page and "weight/exact" in page
    summary = json.loads((out / "summary.json").read_text())
    pop = summary["popup"]
    assert pop["counts"]["data"] == {"planned": 8, "stored": 8, "ok": 8, "failed": 0, "timeout": 0}
    assert {s["paradigm"] for s in pop["data"]["summary"]} == {"weight", "neuron"}
    assert all(s["n"] == 2 and s["ci_low"] <= s["mean"] <= s["ci_high"] for s in pop["data"]["summary"])
    for s in pop["certify"]["summary"]:
        assert s["excess"] is not None and s["excess"] >= -1e-9  # a heuristic never beats the certified bound
        assert (s["construction"] is not None) == (s["paradigm"] == "weight")
    # rerun: nothing to do, same report numbers
    assert main(["gap", "--config", str(cfg_path), "--out", str(out), "--workers", "1", "--progress", "none"]) == 0
    assert "nothing to run" in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["popup"]["data"] == pop["data"]
    # the popup rows export like the trials: one CSV line per stored run, masks left out
    assert main(["results", str(out), "--table", "popup", "--out", str(tmp_path / "popup.csv")]) == 0
    import csv

    with open(tmp_path / "popup.csv", newline="") as fh:
        records = list(csv.DictReader(fh))
    assert "test_accuracy" in records[0] and "hidden_mask" not in records[0]
    with Store.open(out) as store:
        stored = store.popup_rows()
    assert [r["key"] for r in records] == [r["key"] for r in stored]
    assert sum(r["kind"] == "data" for r in records) == pop["counts"]["data"]["stored"]


def test_plan_matches_the_store_after_config_change(tmp_path):
    cfg = tiny()
    run_popup_sweep(cfg, tmp_path, executor=InlineExecutor())
    more = tiny(widths=[8, 16, 32])  # one more width: only its runs are new
    run = run_popup_sweep(more, tmp_path, executor=InlineExecutor())
    assert run.ran == 4 and run.stored_before == len(more.popup_trials()) - 4


def test_cuda_device_in_a_sweep_without_one_is_bad_input(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # runs on every machine, CUDA or not
    with pytest.raises(InvalidArgument, match=r"popup.options.device = 'cuda'.*cpu"):
        tiny(options={"device": "cuda"})
    stored = tomllib.loads(tiny().to_toml())  # a folder whose popup study ran on a CUDA machine
    stored["popup"]["options"] = {"device": "cuda"}
    assert parse_config(stored, stored=True).popup.options == (("device", "cuda"),)


def test_cuda_sweep_stores_what_the_cpu_sweep_stores(tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cpu, gpu = tmp_path / "cpu", tmp_path / "gpu"
    run_popup_sweep(tiny(), cpu, executor=InlineExecutor())
    run = run_popup_sweep(tiny(options={"device": "cuda"}), gpu, executor=InlineExecutor())
    assert run.ran == len(tiny().popup_trials())
    with Store.open(cpu) as sa, Store.open(gpu) as sb:
        a, b = sa.popup_rows(), sb.popup_rows()
    assert len(a) == len(b) > 0 and {r["status"] for r in b} == {"ok"}

    def ident(r):
        return (r["kind"], r["paradigm"], r["width"], r["density"], r["seed"])

    by_ident = {ident(r): r for r in a}
    assert set(by_ident) == {ident(r) for r in b}
    for rb in b:  # float64 on both devices: the same scores up to reduction order, so the same metrics
        ra = by_ident[ident(rb)]
        for metric in ("test_accuracy", "test_loss"):
            if ra[metric] is not None:
                assert rb[metric] == pytest.approx(ra[metric], abs=0.02)
