"""The command line's conventions (issue 18, item 4): bare `prunegap`, click's usage errors, -h,
choices in --help, shell completion, `python -m prunegap`, export's format from the suffix, and
solve/width without --out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from prunegap.cli import app, main
from prunegap.torch import torch_available

COMMANDS = sorted(typer.main.get_command(app).commands)
SOLVE = ["solve", "--paradigm", "weight", "--d", "2", "--seed", "0", "--eps", "0.3", "--width", "20"]
WIDTH = ["width", "--paradigm", "weight", "--d", "2", "--seed", "0", "--eps", "0.3"]


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def python_m(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prunegap", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=120)


# bare prunegap, usage errors, bad values ---------------------------------------------------
def test_bare_prunegap_prints_the_usage_and_the_commands(capsys):
    # click's no_args_is_help: the help (usage, options, commands) on stderr, exit 2, as for any usage error
    code, out, err = run([], capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0] == "Usage: prunegap [OPTIONS] COMMAND [ARGS]..." and "Commands:" in lines
    listed = {line.split()[0] for line in lines[lines.index("Commands:") + 1:] if line.strip()}
    assert listed == set(COMMANDS) >= {"solve", "width", "gap", "report", "results", "export", "popup"}
    assert len(lines) < 40  # short: one line per command


@pytest.mark.parametrize("args, error", [
    (["solve", "--paradigm", "weight"], "Error: Missing option '--d'."),
    (["width", "--bogus"], "Error: No such option: --bogus"),
])
def test_usage_errors_keep_clicks_lines(capsys, args, error):
    code, out, err = run(args, capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[:3] == [f"Usage: prunegap {args[0]} [OPTIONS]", f"Try 'prunegap {args[0]} -h' for help.", ""]
    assert len(lines) == 4 and lines[3].startswith(error)


@pytest.mark.parametrize("args, value", [
    (["solve", "--paradigm", "weight", "--d", "x"], "'x'"),
    (["solve", "--paradigm", "weight", "--width=1.5"], "'1.5'"),
])
def test_a_value_click_cannot_convert_is_one_line_naming_it(capsys, args, value):
    # a bad value, not a misuse of the command: one line naming the option and the value (issue 19)
    code, out, err = run(args, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("prunegap: error: Invalid value for '--") and err.rstrip().endswith(f"got {value}")


def test_unknown_command_suggests_one(capsys):
    code, _, err = run(["sovle"], capsys)
    assert code == 2 and err.splitlines() == [
        "Usage: prunegap [OPTIONS] COMMAND [ARGS]...", "Try 'prunegap -h' for help.", "",
        "Error: No such command 'sovle'. Did you mean 'solve'?"]


@pytest.mark.parametrize("args, line", [
    (SOLVE + ["--init", "unifrom"], "init must be one of 'uniform', 'gaussian', got 'unifrom' (did you mean 'uniform'?)"),
    (SOLVE + ["--paradigm", "nueron"], "paradigm must be one of 'block', 'neuron', 'nm', 'weight', got 'nueron' (did you mean 'neuron'?)"),
    (WIDTH + ["--bound", "banana"], "bound must be one of 'both', 'lower', got 'banana'"),
    (["gap", "--progress", "fancy"], "--progress must be one of 'auto', 'bar', 'log', 'none', got 'fancy'"),
])
def test_bad_values_stay_one_line(capsys, tmp_path, args, line):
    code, out, err = run([*args, "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and out == "" and err == f"prunegap: error: {line}\n"
    assert not (tmp_path / "o").exists()


# -h, choices, completion --------------------------------------------------------------------
@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_dash_h_is_help_everywhere(capsys, command):
    head = [command] if command else []
    code, out, err = run([*head, "-h"], capsys)
    assert code == 0 and err == ""
    assert out.startswith(f"Usage: prunegap {command}" if command else "Usage: prunegap [OPTIONS] COMMAND")
    assert "-h, --help" in out
    assert run([*head, "--help"], capsys)[1] == out


@pytest.mark.parametrize("command, shown", [
    ("solve", ["--paradigm [weight|neuron|nm|block]", "--method [construction|mip|exact]",
               "--objective [feasible|min-error]", "--init [uniform|gaussian]", "--output [relu|linear]",
               "--norm [sup|l2-gaussian|l2-sphere]", "--target [neuron|network]"]),
    ("width", ["--paradigm [weight|neuron|nm|block]", "--bound [both|lower]"]),
    ("gap", ["--executor [local|dask]", "--progress [auto|bar|log|none]"]),
    ("results", ["--format [csv|parquet|json]", "--table [trials|popup]"]),
    ("export", ["--format [torch|npz|safetensors]", "--output [relu|linear]"]),
    ("popup", ["--dataset [digits|teacher]", "--paradigm [weight|neuron|nm|block]", "--optimizer [sgd|adam]",
               "--scale [auto|none|kaiming]", "--dtype [float64|float32]"]),
])
def test_help_shows_choices(capsys, command, shown):
    code, out, _ = run([command, "-h"], capsys)
    flat = " ".join(out.split())  # the help wraps long metavars onto their own line
    assert code == 0
    for text in shown:
        assert text in flat, text


def test_shell_completion_installs_and_completes(tmp_path, capsys, monkeypatch):
    code, out, _ = run(["--show-completion", "bash"], capsys)
    assert code == 0 and "_PRUNEGAP_COMPLETE=complete_bash" in out
    monkeypatch.setenv("HOME", str(tmp_path))
    code, out, err = run(["--install-completion", "bash"], capsys)
    assert code == 0, err
    assert "prunegap" in (tmp_path / ".bashrc").read_text()
    # what the installed script asks at a TAB (through main(), as the console script runs):
    # the commands, then the choices of an option
    for words, cword, want in (("prunegap res", "1", ["results"]), ("prunegap solve --paradigm n", "3", ["neuron", "nm"])):
        for name, value in (("_PRUNEGAP_COMPLETE", "complete_bash"), ("COMP_WORDS", words), ("COMP_CWORD", cword)):
            monkeypatch.setenv(name, value)
        assert main([]) == 0 and capsys.readouterr().out.split() == want


# python -m prunegap ---------------------------------------------------------------------------
def test_python_dash_m_prunegap(tmp_path):
    p = python_m()
    assert p.returncode == 2 and p.stderr.startswith("Usage: prunegap [OPTIONS] COMMAND") and "Traceback" not in p.stderr
    p = python_m(*SOLVE, "--json", cwd=tmp_path)
    assert p.returncode == 0 and json.loads(p.stdout)["width"] == 20 and p.stderr == ""
    assert list(tmp_path.iterdir()) == []


# solve and width without --out ----------------------------------------------------------------
@pytest.mark.parametrize("argv", [SOLVE, WIDTH])
def test_without_out_json_prints_and_nothing_is_written(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    code, out, err = run([*argv, "--json"], capsys)
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["format_version"] == "1" and data["paradigm"] == "weight"
    code, out2, err2 = run(argv, capsys)
    assert code == 0 and len(out2.splitlines()) == 1 and "certified=" in out2
    assert err2.splitlines() == ["nothing written (no --out): give --out DIR for ticket.npz and result.json, or "
                                 "--json to print result.json"]
    assert list(tmp_path.iterdir()) == []
    code, out3, _ = run([*argv, "--json", "--out", str(tmp_path / "r")], capsys)  # --out stays
    assert code == 0 and out3 == (tmp_path / "r" / "result.json").read_text()
    assert (tmp_path / "r" / "ticket.npz").is_file()


# export: the format from the suffix ----------------------------------------------------------
needs_torch = pytest.mark.skipif(not torch_available(), reason="the torch extra is not installed")


@pytest.fixture
def ticket_dir(tmp_path, capsys) -> Path:
    assert main([*SOLVE, "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    return tmp_path / "r"


@needs_torch
@pytest.mark.parametrize("suffix, fmt", [(".safetensors", "safetensors"), (".npz", "npz"), (".pt", "torch"),
                                         (".pth", "torch")])
def test_export_takes_its_format_from_the_suffix(ticket_dir, capsys, suffix, fmt):
    from prunegap.torch.export import load_ticket

    dest = ticket_dir.parent / f"t{suffix}"
    code, _, err = run(["export", str(ticket_dir), "--out", str(dest)], capsys)
    assert code == 0 and err.startswith(f"wrote {dest} ({fmt}:"), err
    magic = dest.read_bytes()[:4]
    assert (magic == b"PK\x03\x04") == (fmt in ("npz", "torch"))  # safetensors: a length-prefixed JSON header
    with open(ticket_dir / "result.json") as fh:
        kept = json.load(fh)["kept_weights"]
    assert load_ticket(dest).masks().kept_weights == kept


@needs_torch
@pytest.mark.parametrize("args, needle", [
    (["--format", "npz", "--out", "t.safetensors"], "ends in '.safetensors', a safetensors file, but format is 'npz'"),
    (["--format", "torch", "--out", "t.npz"], "ends in '.npz', a npz file, but format is 'torch'"),
    (["--out", "t.bin"], "cannot tell the format of"),
    (["--format", "onnx", "--out", "t.onnx"], "--format must be one of 'torch', 'npz', 'safetensors', got 'onnx'"),
])
def test_export_refuses_a_format_the_suffix_contradicts(ticket_dir, capsys, args, needle):
    args = [str(ticket_dir.parent / a) if a.startswith("t.") else a for a in args]
    code, out, err = run(["export", str(ticket_dir), *args], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("prunegap: error:") and needle in err, err
    assert sorted(p.name for p in ticket_dir.parent.iterdir()) == ["r"]  # nothing written


@needs_torch
def test_export_explicit_format_for_another_suffix(ticket_dir, capsys):
    dest = ticket_dir.parent / "ticket.bin"
    code, _, err = run(["export", str(ticket_dir), "--format", "npz", "--out", str(dest)], capsys)
    assert code == 0 and "(npz:" in err and dest.read_bytes()[:2] == b"PK"


# set-up: loose requirements in the package, the exact CPU pin in make setup -----------------------
def test_make_setup_pins_torch_through_the_constraints_file():
    root = Path(__file__).resolve().parents[1]
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    torch_reqs = [r for r in project["optional-dependencies"]["torch"] if r.startswith("torch")]
    assert torch_reqs == ["torch>=2.1"]  # any cluster's CUDA build
    assert not any("==" in r for r in project["dependencies"])
    pins = [line.split("#")[0].strip() for line in (root / "constraints.txt").read_text().splitlines()]
    assert "torch==2.13.0" in pins
    setup = [line.strip() for line in (root / "Makefile").read_text().splitlines() if "pip install" in line]
    assert setup and all("-c constraints.txt" in line for line in setup)
