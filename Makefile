# prunegap — `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out

.PHONY: setup run test test-slow test-all bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# The main job.  Until the sweep exists: a small solve/width demonstration.
run: setup
	$(VENV)/bin/prunegap solve --paradigm weight --d 2 --width 40 --seed 0 --eps 0.01 --out $(OUT)/solve
	$(VENV)/bin/prunegap width --paradigm weight --d 2 --eps 1e-4 --seed 0 --out $(OUT)/width
	$(VENV)/bin/prunegap width --paradigm weight --d 4 --eps 1e-3 --seed 0 --out $(OUT)/width-d4

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
