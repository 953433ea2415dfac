"""examples/walkthrough.py runs end to end on a tiny sweep (so the example cannot rot), and
stays a jupytext percent script that pairs with a notebook."""

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "walkthrough.py"


def test_the_walkthrough_runs_on_a_tiny_sweep(tmp_path, monkeypatch, capsys):
    import matplotlib.pyplot as plt
    from matplotlib.image import imread

    out = tmp_path / "walk"
    monkeypatch.setenv("PRUNEGAP_EXAMPLE_OUT", str(out))
    monkeypatch.setenv("PRUNEGAP_EXAMPLE_TINY", "1")
    try:
        ns = runpy.run_path(str(EXAMPLE), run_name="__main__")
    finally:
        plt.close("all")
    printed = capsys.readouterr().out
    # the figure, a real PNG with something drawn
    figure = out / "nstar.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(figure)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 300 and pixels[..., :3].std() > 0.05
    # the single solve: a certified ticket within eps
    result, eps = ns["result"], ns["EPS"]
    assert result.certified == "yes" and 0.0 <= result.error_lower <= result.error_upper <= eps
    # the sweep: every trial stored, certified brackets closed, errors within eps
    sweep = ns["sweep"]
    trials = sweep.trials
    assert sweep.complete and not sweep.snapshot and len(trials) == 8
    assert set(trials["study"]) == {"neuron-mip", "weight-construction"}
    certified = trials[trials["status"] == "certified"]
    assert len(certified) >= 6
    assert (certified["n_lower"] == certified["n_star"]).all() and (certified["n_star"] <= certified["n_upper"]).all()
    assert (certified["error_upper"] <= certified["eps"]).all()
    # the sweep's trial is the search the walkthrough ran by hand (a pure function of config and seed)
    row = trials[(trials.paradigm == "weight") & (trials.eps == eps) & (trials.seed == 0)]
    assert int(row["n_star"].iloc[0]) == ns["search"].n_star == 55
    assert f"sweep row: n* = {ns['search'].n_star}; pg.width above: n* = {ns['search'].n_star}" in printed
    assert sweep.summary["trials"]["certified"] == len(certified)
    assert "figure: " in printed and "Traceback" not in printed


def test_the_walkthrough_is_a_jupytext_percent_script():
    text = EXAMPLE.read_text()
    head = text.split("# ---\n")[1]
    assert text.startswith("# ---\n") and "format_name: percent" in head and "formats: ipynb,py:percent" in head
    cells = [line for line in text.splitlines() if line.startswith("# %%")]
    assert len(cells) >= 10 and sum("[markdown]" in c for c in cells) >= 4
    jupytext = pytest.importorskip("jupytext")  # the pairing itself, where jupytext is installed
    notebook = jupytext.reads(text, fmt="py:percent")
    assert len(notebook.cells) == len(cells)
