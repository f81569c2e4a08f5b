# The two commands of the README: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-archive

.PHONY: demo test lint setup clean-demo

# `make demo` needs custody and its runtime dependencies only; `make test` and `make lint` add the test
# and lint tool chain (the `test` extra).
$(BIN)/.runtime: pyproject.toml setup.py
	@echo "make: creating $(VENV) and installing custody with its runtime dependencies (a minute or two, once)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.installed: $(BIN)/.runtime
	@echo "make: installing the test and lint tools into $(VENV) (pytest, ruff, mypy, ...)"
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Bytecode as a regular install has it: where PYTHONDONTWRITEBYTECODE is set (as on this kind of
# machine), the editable install would otherwise recompile the project's modules on every command.
setup: $(BIN)/.installed
	@$(BIN)/python -m compileall -q custody cli >/dev/null

demo: $(BIN)/.runtime
	@$(BIN)/python -m compileall -q custody cli >/dev/null
	@echo "make: running demo.sh on $(DEMO_DIR)/ (afterwards: 'source $(VENV)/bin/activate' puts custody on PATH)"
	PATH="$(CURDIR)/$(BIN):$$PATH" DEMO_DIR="$(DEMO_DIR)" bash demo.sh

test: setup
	$(BIN)/python -m pytest -n 2 -q

lint: setup
	$(BIN)/ruff check custody cli tests benchmarks
	$(BIN)/mypy --strict custody cli
	$(BIN)/mypy tests
	$(BIN)/lint-imports

clean-demo:
	rm -rf --one-file-system "$(DEMO_DIR)"
