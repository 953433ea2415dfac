# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # prunegap, from one instance to a sweep
#
# One random ReLU network and one target neuron: the best weight-pruned ticket at a
# given width, then the minimal width n* at which a ticket is certified within eps.
# Then a small sweep over seeds and eps, opened as a DataFrame, and a figure.
#
# Every error printed is a certified interval [lower, upper]; every number is a pure
# function of the configuration and the seed, so rerunning this notebook gives the
# same numbers.  It runs in well under a minute on two cores.
#
# Environment: `PRUNEGAP_EXAMPLE_OUT` names the folder for the sweep and the figure
# (default: a new temporary folder); `PRUNEGAP_EXAMPLE_TINY=1` shrinks the sweep to a
# few seconds (the test suite runs it so).

# %%
import os
import tempfile
from pathlib import Path

import prunegap as pg
from prunegap.sweep import load_config, run_sweep

OUT = Path(os.environ.get("PRUNEGAP_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="prunegap-walkthrough-"))
TINY = os.environ.get("PRUNEGAP_EXAMPLE_TINY", "0") not in ("", "0")
OUT.mkdir(parents=True, exist_ok=True)
print(f"prunegap {pg.__version__}; writing to {OUT}{' (tiny)' if TINY else ''}")

# %% [markdown]
# ## One width: `pg.solve`
#
# d = 2 inputs, weights uniform on [-1, 1], a ReLU output, the sup error on the
# circle.  At width 60 the subset-sum construction finds a weight-pruned ticket:
# the verdict, the certified bracket of its error, and what it keeps.

# %%
setting = pg.Setting(d=2)
EPS = 0.1
result = pg.solve(setting, width=60, seed=0, eps=EPS, paradigm="weight")
result

# %%
print(f"verdict {result.certified}: error in [{result.error_lower:.3g}, {result.error_upper:.3g}], "
      f"{result.masks.kept_weights} weights kept (density {result.masks.density:.3f})")

# %% [markdown]
# ## The minimal width: `pg.width`
#
# The search gallops and bisects over widths of one nested network (a narrower
# network is a prefix of a wider one), so n* is the smallest width certified.

# %%
search = pg.width(setting, seed=0, eps=EPS, paradigm="weight")
search

# %%
neuron = pg.width(setting, seed=0, eps=EPS, paradigm="neuron")
print(f"n* at eps={EPS}, seed 0: weight pruning {search.n_star}, neuron pruning {neuron.n_star}")

# %% [markdown]
# ## A small sweep
#
# A sweep is a TOML file laid over the shipped defaults (`prunegap gap --show-config`
# prints them).  This one has two studies, neuron pruning by its MIP and weight pruning
# by the construction, over a few seeds and eps.  `run_sweep` is what `prunegap gap`
# runs: resumable, one row per trial in `results.duckdb`.

# %%
seeds, eps = ([0, 1], [0.2, 0.1]) if TINY else ([0, 1, 2, 3, 4], [0.2, 0.1, 0.05])
config_path = OUT / "sweep.toml"
config_path.write_text(f"""\
seeds = {seeds}
dims = [2]
eps = {eps}
time_limit = 60.0

[[studies]]
paradigm = "neuron"
method = "mip"

[[studies]]
paradigm = "weight"
method = "construction"
""")
folder = OUT / "gap"
run = run_sweep(load_config(config_path), folder, workers=1)  # 1: in this process; more: a process per trial
print(f"{run.ran} trials run, {run.stored_before} already stored: {run.statuses}")

# %% [markdown]
# ## The results as a DataFrame: `pg.open_sweep`
#
# Typed columns; `steps`, `stats`, `target`, ... are Python lists and dicts.  A folder
# a sweep is still writing opens too (a snapshot of the committed trials).

# %%
sweep = pg.open_sweep(folder)
sweep

# %%
trials = sweep.trials
medians = trials.groupby(["study", "eps"])["n_star"].median().unstack("eps")
medians

# %% [markdown]
# The sweep's trial for (weight, d = 2, eps = 0.1, seed 0) is the very search above.

# %%
same = trials[(trials.paradigm == "weight") & (trials.eps == EPS) & (trials.seed == 0)]
print(f"sweep row: n* = {same.n_star.iloc[0]}; pg.width above: n* = {search.n_star}")
gap = sweep.summary["gap"]
gap

# %% [markdown]
# ## A figure
#
# The report's n* figure (one panel per d, the legend below it): in a notebook it shows
# inline; `savefig` writes it for a paper (PDF works the same).  `plot_nstar(ax=ax)`
# draws one panel on an Axes of your own instead.

# %%
ax = sweep.plot_nstar()
figure_path = OUT / "nstar.png"
ax.figure.savefig(figure_path, dpi=150, bbox_inches="tight")
print(f"figure: {figure_path}")
