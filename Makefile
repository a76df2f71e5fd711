# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create a virtual environment, install torch (pinned, CPU wheel on these machines) BEFORE the
# package so that pip never resolves an unpinned torch, then install the package itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
DEMO_OUTPUT ?= demo_output
BENCH_VENV ?= .venv-bench
BENCH_OUTPUT ?= bench_output
BENCH_ARGS ?=

.PHONY: install demo test test-all lint clean bench-env bench-registration docs

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/monai-lipinr demo --output $(DEMO_OUTPUT) --overwrite

test: install
	$(BIN)/python -m pytest -q

test-all: install
	$(BIN)/python -m pytest -q -m ""

# API reference + guide (mkdocs + mkdocstrings) into build/docs; strict: any warning (e.g. a docstring that
# names a parameter the signature does not have) fails the build.
$(VENV)/.docs-installed: $(VENV)/.installed setup.cfg
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION) -e ".[docs]"
	touch $@

docs: $(VENV)/.docs-installed
	$(BIN)/mkdocs build --strict

lint: install
	$(BIN)/ruff check monai_lipinr tests benchmarks

# Benchmark environment: pinned torch FIRST, then our package, then the reference libraries
# (deel-torchlip, orthogonium) whose unpinned `torch` requirement the pinned torch already satisfies.
$(BENCH_VENV)/.installed: setup.cfg pyproject.toml benchmarks/requirements-reference.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(BENCH_VENV)/bin/python -m pip install --quiet -e .
	$(BENCH_VENV)/bin/python -m pip install --quiet torch==$(TORCH_VERSION) -r benchmarks/requirements-reference.txt
	$(BENCH_VENV)/bin/python -m pip install --quiet torch==$(TORCH_VERSION) itk-elastix==0.25.4
	touch $@

bench-env: $(BENCH_VENV)/.installed

# Lung registration benchmark (issue 4): identity, elastix, IDIR-equivalent, ours (uniform / exponential).
# Its itk-elastix (bench-env) requires only itk~=5.4.7, no torch.
# Full size takes long (elastix ~13 min single-threaded + 3 x 2500 INR iterations); e.g.
# BENCH_ARGS="--iterations 100 --elastix-quick" for a quick check.
bench-registration: bench-env
	$(BENCH_VENV)/bin/python benchmarks/registration_lung.py --output $(BENCH_OUTPUT)/registration_lung.json $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache $(DEMO_OUTPUT)
