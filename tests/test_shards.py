"""Shards of a sweep (`prunegap gap --shard I/N`) and their merge (`prunegap merge`): the merged rows
are an unsharded run's."""

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from prunegap.cli import main
from prunegap.exceptions import InvalidArgument
from prunegap.sweep import Store, load_config, parse_config, run_popup_sweep, run_sweep
from prunegap.sweep.merge import MergeRun, Shard, merge_shards, parse_shard, shard_popup_trials, shard_trials
from prunegap.sweep.schema import POPUP_VOLATILE

from _sweeps import SMALL, rows_of, stable, write

def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The unsharded run of SMALL and its three shards (read only: copy a folder to change it)."""
    root = tmp_path_factory.mktemp("swept")
    cfg = load_config(write(root, SMALL))
    run_sweep(cfg, root / "whole", workers=1)
    shards = []
    for i in (1, 2, 3):
        run = run_sweep(cfg, root / f"s{i}", workers=1, shard=f"{i}/3")
        assert run.total == run.ran == 4
        shards.append(root / f"s{i}")
    return cfg, root / "whole", shards


@pytest.fixture
def no_report(monkeypatch):
    """`prunegap gap` without the report it writes at the end (figures take seconds; the slow
    test below builds real reports of shard and merged folders)."""
    made = []
    monkeypatch.setattr("prunegap.cli.build_report",
                        lambda folder: made.append(Path(folder)) or SimpleNamespace(markdown=""))
    return made


# the split ---------------------------------------------------------------------------------
def test_shards_are_disjoint_cover_the_sweep_and_balance_every_cell(tmp_path):
    cfg = load_config(write(tmp_path, SMALL.replace("seeds = [0, 1, 3]", "seeds = 7")))
    keys = [t.key for t in cfg.trials()]
    again = load_config(write(tmp_path, cfg.to_toml(), "resolved.toml"))  # the split is the config's, not the file's
    for n in (1, 2, 3, 5, 28, 40):
        parts = [[t.key for t in shard_trials(cfg, Shard(i, n))] for i in range(1, n + 1)]
        assert sorted(k for p in parts for k in p) == sorted(keys)  # every trial once
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        assert parts == [[t.key for t in shard_trials(again, Shard(i, n))] for i in range(1, n + 1)]
        # round-robin over (study, d, eps, seed): each shard gets floor or ceil of every cell's seeds
        for part in parts:
            for cell in {k.rsplit("/", 1)[0] for k in keys}:
                mine = sum(k.rsplit("/", 1)[0] == cell for k in part)
                assert mine in (7 // n, -(-7 // n))
    assert shard_trials(cfg, None) == cfg.trials()


def test_the_popup_runs_continue_the_rotation():
    raw = {"seeds": [0], "dims": [2], "eps": [0.2],
           "studies": [{"paradigm": "weight", "method": "construction", "max_width": 64}],
           "popup": {"paradigms": ["weight", "neuron"], "widths": [8, 16], "densities": [0.5], "seeds": [0, 1],
                     "epochs": 1, "certify": {"enabled": False}}}
    cfg = parse_config(raw, source="tiny")
    assert len(cfg.trials()) == 1 and len(cfg.popup_trials()) == 8
    parts = [shard_popup_trials(cfg, Shard(i, 3)) for i in (1, 2, 3)]
    assert sorted(t.key for p in parts for t in p) == sorted(t.key for t in cfg.popup_trials())
    # the one certified trial is item 0 of the rotation (shard 1's), so the popup runs start at
    # shard 2: shards 2 and 3 get 3 of them, shard 1 two, and every shard 3 tasks in all
    assert [len(p) for p in parts] == [2, 3, 3]
    assert [len(shard_trials(cfg, Shard(i, 3))) + len(parts[i - 1]) for i in (1, 2, 3)] == [3, 3, 3]


@pytest.mark.parametrize("value", ["0/3", "4/3", "1/0", "a/b", "1/3/2", "-1/2", "", "3", "1/", "/3", "+1/3",
                                   "1.0/3", "١/٣", "1/1000001", "99999999/99999999"])
def test_bad_shard_values_exit_2_with_one_line(tmp_path, capsys, value):
    path = write(tmp_path, SMALL)
    out = tmp_path / "out"
    assert main(["gap", "--config", str(path), "--shard", value, "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "--shard must be I/N with integers 1 <= I <= N" in err and repr(value) in err
    assert not out.exists()  # refused before anything is written
    with pytest.raises(InvalidArgument, match="shard must be I/N"):
        parse_shard(value, "shard")


def test_good_shard_values_parse():
    assert parse_shard("2/8") == Shard(2, 8) and str(parse_shard(" 1/1 ")) == "1/1"
    # what is missing, as an `sbatch --array=` spec to resubmit it with
    run = MergeRun(Path("o"), 9, (1, 3, 4, 8), 4, total=9, stored=4, missing_shards=(2, 5, 6, 7, 9))
    assert run.missing_spec == "2,5-7,9" and run.missing == 5
    with pytest.raises(InvalidArgument, match=r"shard must be I/N .* got \(0, 3\)"):
        run_sweep(load_config(), "/nonexistent/never-made", shard=(0, 3))


# shards and the merge --------------------------------------------------------------------
def test_three_shards_merge_to_the_rows_of_the_unsharded_run(swept, tmp_path):
    cfg, whole, shards = swept
    for i, folder in enumerate(shards, 1):
        with Store.open(folder) as s:
            assert s.shard() == (i, 3) and len(s.meta()["shard_id"]) == 32
            assert s.keys() == {t.key for t in shard_trials(cfg, Shard(i, 3))}
        assert run_sweep(cfg, folder, workers=1, shard=Shard(i, 3)).ran == 0  # a shard folder resumes
    out = tmp_path / "merged"
    run = merge_shards(out, shards)
    assert (run.added, run.duplicates, run.replaced, run.missing, run.missing_shards) == (12, 0, 0, 0, ())
    assert (run.count, run.shards, run.runs, run.attempts) == (3, (1, 2, 3), 3, 12)
    reference = rows_of(whole)
    merged = rows_of(out)
    assert [r["key"] for r in merged] == [r["key"] for r in reference]
    assert stable(merged) == stable(reference)  # masks included
    with Store.open(out) as s:
        assert s.shard() is None and s.meta()["merged_shards"] == "3"
        assert s.meta()["fingerprint"] == cfg.fingerprint()
        # every attempt is there once, under the shard that ran it
        by_shard = dict(s.con.execute(
            "SELECT a.key, r.shard FROM attempts a JOIN shard_runs r USING (run)").fetchall())
        assert len(by_shard) == 12 and s.con.execute("SELECT count(*) FROM attempts").fetchone()[0] == 12
        for i in (1, 2, 3):
            assert {k for k, v in by_shard.items() if v == f"{i}/3"} == {t.key for t in shard_trials(cfg, Shard(i, 3))}
        assert s.next_run() == 4
    # the merged folder is a whole sweep: nothing left to run, and a merge again changes nothing
    assert run_sweep(cfg, out, workers=1).ran == 0
    again = merge_shards(out, shards)
    assert (again.added, again.duplicates, again.runs) == (0, 12, 0)
    assert stable(rows_of(out)) == stable(reference)


def test_the_command_line_shards_and_merges(swept, tmp_path, capsys, no_report):
    cfg, whole, shards = swept
    path = write(tmp_path, SMALL)
    mine = tmp_path / "s2"
    assert main(["gap", "--config", str(path), "--shard", "2/3", "--out", str(mine), "--workers", "1",
                 "--progress", "none"]) == 0
    assert "shard 2/3: 4 of its trials" in capsys.readouterr().err
    assert stable(rows_of(mine)) == stable(rows_of(shards[1]))
    # a shard folder holds its shard: not the whole sweep, not another shard
    for args in ([], ["--shard", "1/3"], ["--shard", "2/4"]):
        assert main(["gap", "--config", str(path), "--out", str(mine), "--workers", "1", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "holds shard 2/3 of the sweep" in err
    assert main(["gap", "--config", str(path), "--out", str(whole), "--shard", "1/3"]) == 2
    assert "holds the whole sweep (written without --shard), not shard 1/3" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main(["merge", str(out), str(shards[0]), str(mine)]) == 0
    err = capsys.readouterr().err
    assert "8 of 12 trials stored" in err and "4 trial(s) still missing (of shard(s) 3 of 3)" in err
    assert main(["merge", str(out), str(shards[2])]) == 0
    assert "every trial of the sweep is in" in capsys.readouterr().err
    assert main(["gap", "--config", str(path), "--out", str(out), "--workers", "1", "--progress", "none"]) == 0
    assert "nothing to run: the 12 stored trials are all there is" in capsys.readouterr().err
    assert stable(rows_of(out)) == stable(rows_of(whole))


def test_missing_shards_are_counted_and_a_later_gap_runs_them(swept, tmp_path):
    cfg, whole, shards = swept
    out = tmp_path / "out"
    run = merge_shards(out, [shards[2], shards[0]])
    assert (run.stored, run.missing, run.missing_shards, run.shards, run.missing_spec) == (8, 4, (2,), (1, 3), "2")
    done = run_sweep(cfg, out, workers=1)
    assert (done.stored_before, done.ran) == (8, 4)
    assert stable(rows_of(out)) == stable(rows_of(whole))
    # shard 2 arriving late is a duplicate of what the folder computed itself
    late = merge_shards(out, [shards[1]])
    assert (late.added, late.duplicates, late.missing, late.runs) == (0, 4, 0, 1)


def test_a_shard_given_twice_or_run_twice_is_kept_once(swept, tmp_path):
    cfg, whole, shards = swept
    rerun = tmp_path / "s1-again"  # shard 1 run again elsewhere: the same rows, its own attempts
    run_sweep(cfg, rerun, workers=1, shard="1/3")
    out = tmp_path / "out"
    run = merge_shards(out, [shards[0], shards[0], rerun, *shards])
    assert (run.added, run.duplicates, run.inputs, run.shards) == (12, 12, 6, (1, 2, 3))
    assert (run.runs, run.attempts) == (4, 16)  # each folder's attempts once: the same folder twice is one
    assert stable(rows_of(out)) == stable(rows_of(whole))


def test_a_conflicting_duplicate_is_refused_and_a_failed_one_gives_way(swept, tmp_path, capsys):
    cfg, whole, shards = swept
    forged = tmp_path / "forged"
    shutil.copytree(shards[0], forged)
    key = sorted(t.key for t in shard_trials(cfg, Shard(1, 3)))[0]
    with Store.open(forged, read_only=False) as s:
        s.con.execute("UPDATE trials SET n_star = n_star + 1, seconds = 0 WHERE key = ?", [key])
    out = tmp_path / "out"
    assert main(["merge", str(out), *map(str, shards), str(forged)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and key in err and "n_star" in err and "different results" in err
    assert not out.exists()  # refused before anything was written
    # against a folder's own rows too: the folder is left as it was
    merge_shards(out, shards)
    before = digest(out)
    with pytest.raises(InvalidArgument, match=f"{key}.*n_star"):
        merge_shards(out, [forged])
    assert digest(out) == before
    # a failed row (every attempt lost: the environment, not the trial) gives way to the trial's row
    failed = tmp_path / "failed"
    shutil.copytree(shards[0], failed)
    with Store.open(failed, read_only=False) as s:
        s.con.execute("UPDATE trials SET status = 'failed', n_star = NULL, reason = 'lost' WHERE key = ?", [key])
    both = tmp_path / "both"
    assert merge_shards(both, [failed, *shards]).replaced == 0
    assert stable(rows_of(both)) == stable(rows_of(whole))
    alone = tmp_path / "alone"
    merge_shards(alone, [failed, shards[1], shards[2]])
    assert merge_shards(alone, [shards[0]]).replaced == 1
    assert stable(rows_of(alone)) == stable(rows_of(whole))
    # so does a row that the run's wall-clock guard stopped (not a limit of the trial's own)
    stopped = tmp_path / "stopped"
    shutil.copytree(shards[0], stopped)
    with Store.open(stopped, read_only=False) as s:
        s.con.execute("UPDATE trials SET status = 'unknown', n_star = NULL, \"limit\" = 'time_limit (0.02 s)' "
                      "WHERE key = ?", [key])
    late = tmp_path / "late"
    merge_shards(late, [stopped, shards[1], shards[2]])
    assert merge_shards(late, [shards[0]]).replaced == 1
    assert stable(rows_of(late)) == stable(rows_of(whole))
    # but a limit of the trial's own is its result: a row that differs there is a conflict
    with Store.open(stopped, read_only=False) as s:
        s.con.execute("UPDATE trials SET \"limit\" = 'max_width (512)' WHERE key = ?", [key])
    with pytest.raises(InvalidArgument, match=f"both hold trial {key} with different results"):
        merge_shards(tmp_path / "never", [*shards, stopped])


def test_merge_refuses_shards_of_another_sweep_naming_the_keys(swept, tmp_path, capsys):
    cfg, whole, shards = swept
    other = load_config(write(tmp_path, SMALL.replace("seeds = [0, 1, 3]", "seeds = [0, 1]"), "other.toml"))
    foreign = tmp_path / "foreign"
    run_sweep(other, foreign, workers=1, shard="2/3")
    out = tmp_path / "out"
    assert main(["merge", str(out), str(shards[0]), str(foreign)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different sweep" in err and "the config differs in: seeds" in err
    assert not out.exists()
    # the same sweep split another way
    halves = tmp_path / "half"
    run_sweep(cfg, halves, workers=1, shard="1/2")
    with pytest.raises(InvalidArgument, match=r"shard 1/2 and .* shard 1/3: .*the same N"):
        merge_shards(out, [shards[0], halves])
    # a merged folder of another sweep, a folder that is no shard
    merge_shards(out, [foreign])
    with pytest.raises(InvalidArgument, match="holds the results of a different sweep .* differs in: seeds"):
        merge_shards(out, shards)
    with pytest.raises(InvalidArgument, match="is not a shard folder \\(written without --shard\\)"):
        merge_shards(tmp_path / "o2", [whole])
    with pytest.raises(InvalidArgument, match="does not exist"):
        merge_shards(tmp_path / "o3", [tmp_path / "nowhere"])


def test_merge_into_one_of_its_inputs_is_refused(swept, tmp_path, capsys):
    cfg, whole, shards = swept
    target = tmp_path / "s1"
    shutil.copytree(shards[0], target)
    before = digest(target)
    link = tmp_path / "link"
    link.symlink_to(target)
    for out in (target, link):
        assert main(["merge", str(out), str(target), str(shards[1])]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is also one of the shards given" in err
    assert digest(target) == before
    # a shard folder is no merge target either, even when not given as an input
    assert main(["merge", str(target), str(shards[1])]) == 2
    assert "is itself shard 1/3" in capsys.readouterr().err
    assert digest(target) == before


def test_a_shard_with_nothing_to_run_is_a_valid_folder(swept, tmp_path, capsys, no_report):
    cfg, whole, shards = swept
    path = write(tmp_path, SMALL)
    empty = tmp_path / "s13"
    assert main(["gap", "--config", str(path), "--shard", "13/13", "--out", str(empty), "--workers", "1",
                 "--progress", "none"]) == 0
    assert "shard 13/13 holds none of the sweep's 12 trials" in capsys.readouterr().err
    with Store.open(empty) as s:
        assert s.shard() == (13, 13) and s.count() == 0
    assert no_report == [empty]
    run = merge_shards(tmp_path / "out", [empty])
    assert (run.stored, run.missing, run.missing_shards, run.missing_spec) == (0, 12, tuple(range(1, 13)), "1-12")


def test_the_popup_study_is_split_and_merged(tmp_path):
    pytest.importorskip("torch")
    raw = {"seeds": [0], "dims": [2], "eps": [0.2],
           "studies": [{"paradigm": "weight", "method": "construction", "max_width": 64}],
           "popup": {"dataset": "teacher", "paradigms": ["weight"], "widths": [8], "densities": [0.5],
                     "seeds": [0, 1], "epochs": 1, "certify": {"enabled": False}}}  # a teacher: 0.1 s of training
    cfg = parse_config(raw, source="tiny")
    run_sweep(cfg, tmp_path / "whole", workers=1)
    run_popup_sweep(cfg, tmp_path / "whole", workers=1, say=lambda _: None)
    for i in (1, 2):
        run_sweep(cfg, tmp_path / f"s{i}", workers=1, shard=(i, 2))
        ran = run_popup_sweep(cfg, tmp_path / f"s{i}", workers=1, shard=(i, 2), say=lambda _: None)
        assert ran.total == len(shard_popup_trials(cfg, Shard(i, 2))) == 1
    run = merge_shards(tmp_path / "out", [tmp_path / "s1", tmp_path / "s2"])
    assert (run.missing, run.popup_total, run.popup_stored, run.popup_added) == (0, 2, 2, 2)
    with Store.open(tmp_path / "whole") as a, Store.open(tmp_path / "out") as b:
        assert stable(a.popup_rows(masks=True), POPUP_VOLATILE) == stable(b.popup_rows(masks=True), POPUP_VOLATILE)
        assert json.loads(b.meta()["config_json"])["popup"] == json.loads(a.meta()["config_json"])["popup"]
    # a shard of the same sweep with another popup study is another split: refused, by name
    other = parse_config({**raw, "popup": {**raw["popup"], "seeds": [0, 1, 2]}}, source="tiny")
    run_sweep(other, tmp_path / "o2", workers=1, shard=(2, 2))
    with pytest.raises(InvalidArgument, match=r"the config differs in: popup\)"):
        merge_shards(tmp_path / "out2", [tmp_path / "s1", tmp_path / "o2"])


@pytest.mark.slow
def test_report_reads_shard_and_merged_folders(swept, tmp_path, capsys):
    cfg, whole, shards = swept
    empty = tmp_path / "s13"
    run_sweep(cfg, empty, workers=1, shard="13/13")
    for folder in (shards[0], empty):
        copy = tmp_path / f"copy-{folder.name}"
        shutil.copytree(folder, copy)
        assert main(["report", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "Trials: 4 of 12 stored: 4 certified" in out and "Trials: 0 of 12 stored" in out
    merged = tmp_path / "merged"
    merge_shards(merged, shards)
    assert main(["report", str(merged)]) == 0
    assert "Trials: 12 of 12 stored: 12 certified" in capsys.readouterr().out
    assert (merged / "report.html").is_file() and json.loads((merged / "summary.json").read_text())
