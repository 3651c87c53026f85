# kmirror developer commands. `make demo` and `make test` work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup test unit integration faults lint demo bench clean-local docs

$(BIN)/kmirror: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

setup: $(BIN)/kmirror  ## venv with kmirror and dev tools, Kafka jars fetched
	$(BIN)/kmirror local fetch

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest tests/unit -q

integration: setup
	$(BIN)/python -m pytest tests/integration -q

test: lint  ## ruff, mypy --strict, then the whole pytest suite (unit + real brokers)
	$(BIN)/python -m pytest tests -q

faults: setup  ## the full fault-injection suite (10 kill -9, 5 SIGTERM, 30 s freeze, ...)
	KMIRROR_FAULTS=full $(BIN)/python -m pytest tests/faults -q -s

docs: $(BIN)/kmirror  ## docs/configuration.md from the flag table in src/kmirror/config/spec.py
	$(BIN)/python -m kmirror.config.docs > docs/configuration.md

demo: setup  ## local clusters, sample data, a mirror, and the proof
	$(BIN)/python -m kmirror.demo

clean-local:
	-$(BIN)/kmirror local down --purge

bench: setup  ## kmirror vs MirrorMaker 2, classic MirrorMaker and the limit (~25 min): bench/results, docs/benchmarks.md
	$(BIN)/kmirror bench run
