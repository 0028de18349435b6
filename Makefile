# One venv for everything; every target sets it up itself, so a fresh clone needs only `make demo` / `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Pinned to the torch build this project is developed and tested with; override for another platform,
# e.g. `make install TORCH_SPEC="torch torchvision"`.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.i2i-installed
PYTEST_ARGS ?=
# `make bench` runs the GPU cases where CUDA is present; DEVICE=cpu or DEVICE=cuda to choose
DEVICE ?= auto

.PHONY: install test test-all demo lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[dev,sr,video,export,metrics,tensorboard,wandb,web]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/i2i demo --out demo-out

lint: install
	$(BIN)/ruff check i2i tests benchmarks
	$(BIN)/ruff format --check i2i tests benchmarks
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/bench.py --json benchmarks/results.json --markdown BENCHMARKS.md --readme README.md --device $(DEVICE)

clean:
	rm -rf $(VENV) demo-out build *.egg-info .pytest_cache
