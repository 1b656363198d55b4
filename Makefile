# Every target bootstraps its own virtual environment, so a fresh clone needs only Python.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/migrate demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check migrate tests bench
	$(BIN)/ruff format --check migrate tests bench

format: $(STAMP)
	$(BIN)/ruff format migrate tests bench
	$(BIN)/ruff check --fix migrate tests bench

# docs/ generated from the code (mapping language, model, project files, CLI); a test keeps it equal
docs: $(STAMP)
	$(BIN)/python -m migrate.docs

# every benchmark in bench/ at its full size (long); make bench BENCH_ARGS=--quick: each at a small size
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .migrate demo
