# eventline: `make help` lists the targets. Everything installs itself into .venv/ and .eventline/.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: help install kafka demo up test test-unit fuzz lint bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# setuptools' notice on flat-layout editable installs (packages resolved through a finder,
	@# not the working folder) is ten lines of banner on a first run that went well.
	PYTHONWARNINGS='ignore:Editable installation' $(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install eventline with its dev tools

kafka: $(STAMP)  ## fetch the pinned Apache Kafka jars with Maven (once)
	$(VENV)/bin/eventline kafka fetch

demo: kafka  ## start the local pipeline, send demo events, print what came out, stop
	$(VENV)/bin/eventline demo

up: kafka  ## run the local pipeline in the foreground (Ctrl-C stops it)
	$(VENV)/bin/eventline up

test: kafka  ## unit tests, then integration and end-to-end tests on real Kafka and ClickHouse
	$(PY) -m pytest

test-unit: $(STAMP)  ## unit tests only (no broker)
	$(PY) -m pytest tests/unit

fuzz: $(STAMP)  ## fuzz every HTTP operation and dialect parser, 1,000 examples each (no broker)
	EVENTLINE_FUZZ_EXAMPLES=1000 $(PY) -m pytest tests/fuzz

lint: $(STAMP)  ## ruff, mypy, and the layers contract (import-linter: imports only run downward)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: kafka  ## throughput and latency figures on this machine (see bench/README.md)
	$(PY) -m bench

clean:  ## remove local state (Kafka data, embedded ClickHouse), keep the jar cache
	$(VENV)/bin/eventline kafka stop || true
	rm -rf .eventline/kafka/data .eventline/clickhouse .eventline/worker
