# prunegap — `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out

.PHONY: setup run test test-slow test-all bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# The exact pins live in constraints.txt, not in the package (which takes any torch >= 2.1):
	# torch 2.13.0 is the CPU build on this machine's disk, another version pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,torch,dask]"
	touch $(STAMP)

# The main job: the gap experiment with its default sweep (resumable: rerun
# after an interruption), report in $(OUT)/gap/report.html.
run: setup
	$(VENV)/bin/prunegap gap --out $(OUT)/gap

test: setup
	$(PY) -m pytest -q -n 2

test-slow: setup
	$(PY) -m pytest -q -n 2 -m slow

test-all: setup
	$(PY) -m pytest -q -n 2 -m "slow or not slow"

bench: setup
	$(PY) benchmarks/bench_subsetsum.py
	$(PY) benchmarks/bench_width.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis
