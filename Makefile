# The two set-up commands of the README: `make demo` and `make test`. Both create .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint typecheck format bench clean serve fuzz

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/omnibroker demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Schema fuzzing of every API operation (also part of `make test`).
fuzz: $(STAMP)
	$(BIN)/python -m pytest tests/test_api_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/omnibroker bench

serve: $(STAMP)
	$(BIN)/omnibroker serve

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
