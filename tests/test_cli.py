import json
import subprocess
import sys

import numpy as np
import pytest

from prunegap.cli import main
from prunegap.io import read_ticket

BASE = ["--d", "2", "--seed", "3", "--eps", "0.01"]


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_solve_weight_writes_contract(tmp_path, capsys):
    code, out, err = run(["solve", "--paradigm", "weight", *BASE, "--width", "40", "--out", str(tmp_path), "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert data == on_disk
    for key in ("d", "width", "seed", "eps", "init", "output", "norm", "paradigm", "method", "error_lower",
                "error_upper", "certified", "kept_units", "kept_weights", "density", "seconds"):
        assert key in data, key
    assert data["paradigm"] == "weight" and data["method"] == "construction"
    assert data["error_lower"] == 0.0 and data["error_lower"] <= data["error_upper"]
    assert data["certified"] == ("yes" if data["error_upper"] <= 0.01 else "unknown")
    t = read_ticket(tmp_path / "ticket.npz")
    assert t.U.shape == (40, 2) and t.v.shape == (40,) and t.w.shape == (2,)
    assert t.masks.kept_units == data["kept_units"] and t.masks.kept_weights == data["kept_weights"]
    # construction: each kept unit keeps exactly its own coordinate i mod d
    rows = np.nonzero(t.masks.output_mask)[0]
    assert np.all(t.masks.hidden_mask[rows].sum(axis=1) == 1)
    assert np.all(t.masks.hidden_mask[rows, rows % 2] == 1)


def test_width_weight_contract(tmp_path, capsys):
    code, out, err = run(["width", "--paradigm", "weight", *BASE, "--out", str(tmp_path), "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["n_star"] == data["n_lower"] == data["n_upper"] == data["width"]
    assert data["certified"] == "yes" and data["error_upper"] <= 0.01
    assert read_ticket(tmp_path / "ticket.npz").U.shape[0] == data["n_star"]


def test_width_not_reached(tmp_path, capsys):
    code, out, _ = run(["width", "--paradigm", "weight", *BASE[:4], "--eps", "1e-6", "--max-width", "8",
                        "--out", str(tmp_path), "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["n_star"] is None and data["n_upper"] is None and data["n_lower"] == 9


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--eps", "0"], "eps must be a positive finite number, got 0"),
        (["--eps", "nan"], "eps must be a positive finite number"),
        (["--eps", "-1"], "eps must be a positive finite number"),
        (["--d", "0"], "d must be an integer in [1, 64], got 0"),
        (["--width", "0"], "width must be an integer >= 1, got 0"),
        (["--init", "unifrom"], "init must be one of 'uniform', 'gaussian', got 'unifrom' (did you mean 'uniform'?)"),
        (["--output", "tanh"], "output must be one of 'relu', 'linear'"),
        (["--norm", "l1"], "norm must be one of 'sup', 'l2-gaussian', 'l2-sphere'"),
        (["--paradigm", "weights"], "did you mean 'weight'"),
        (["--method", "greedy"], "method must be one of"),
        (["--w", "1,2,3"], "w must be a vector of length 2"),
        (["--memory-budget", "lots"], "--memory-budget must be a size"),
        (["--memory-budget", "1KB", "--width", "400"], "memory budget"),
        (["--time-limit", "0"], "--time-limit must be a positive finite number, got 0"),
        (["--time-limit", "inf"], "--time-limit must be a positive finite number"),
        (["--threads", "0"], "--threads must be an integer in [1, 256], got 0"),
        (["--local-search", "-1"], "--local-search must be an integer >= 0, got -1"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path, capsys, args, needle):
    argv = ["solve", "--paradigm", "weight", *BASE, "--width", "10", "--out", str(tmp_path)]
    for i in range(0, len(args), 2):  # override or append
        if args[i] in argv:
            argv[argv.index(args[i]) + 1] = args[i + 1]
        else:
            argv += args[i : i + 2]
    code, out, err = run(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err


def test_width_neuron_time_limit_and_threads(tmp_path, capsys):
    argv = ["width", "--paradigm", "neuron", "--d", "2", "--seed", "3", "--eps", "0.1", "--json"]
    code, out, err = run([*argv, "--out", str(tmp_path / "plain")], capsys)
    plain = json.loads(out)
    assert code == 0 and plain["n_star"] is not None
    assert not {"workers", "search_time_limit"} & set(plain["solver_options"])
    # two CP-SAT threads search differently, but a certified n* is the same number
    code, out, err = run([*argv, "--threads", "2", "--time-limit", "600", "--out", str(tmp_path / "two")], capsys)
    two = json.loads(out)
    assert code == 0 and two["n_star"] == plain["n_star"]
    assert two["solver_options"]["workers"] == 2 and two["solver_options"]["search_time_limit"] == 600
    # a limit that fires at once leaves a bracket, never a claim
    code, out, err = run([*argv, "--time-limit", "1e-9", "--out", str(tmp_path / "cut")], capsys)
    cut = json.loads(out)
    assert code == 0 and cut["n_star"] is None and cut["certified"] == "unknown"
    assert cut["n_lower"] <= plain["n_star"] and cut["solver_options"]["search_time_limit"] == 1e-9


def test_solve_local_search_is_recorded_and_certified(tmp_path, capsys):
    argv = ["solve", "--paradigm", "neuron", "--d", "3", "--seed", "0", "--width", "486", "--eps", "0.05", "--json"]
    code, out, err = run([*argv, "--local-search", "300", "--out", str(tmp_path / "on")], capsys)
    on = json.loads(out)
    assert code == 0 and on["certified"] == "yes" and on["error_upper"] <= 0.05
    assert on["solver_options"]["local_search"] == 300 and on["stats"]["local_candidates"] >= 1


def test_subprocess_exit_code_and_no_traceback(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "prunegap.cli", "solve", "--paradigm", "weight", "--d", "2", "--width", "5",
         "--seed", "0", "--eps", "-3", "--out", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert not (tmp_path / "result.json").exists()


def test_missing_option_and_unknown_command(capsys):
    # click's usage errors keep its lines: usage, where to find help, the error (tests/test_cli_conventions.py)
    code, _, err = run(["solve", "--paradigm", "weight"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and lines[0].startswith("Usage: prunegap solve") and "Missing option" in lines[-1]
    code, _, err = run(["sovle"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and lines[0].startswith("Usage: prunegap") and "No such command 'sovle'" in lines[-1]


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("prunegap ")


def test_python_dash_m_prunegap_is_the_command():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "prunegap", "width", "--paradigm", "neuron", "--bound", "banana",
                        "--d", "2", "--seed", "0", "--eps", "0.1", "--out", "unused"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "prunegap: error: bound must be one of 'both', 'lower', got 'banana'"]
