# novaflow: every target builds .venv from nothing with the pinned, tested versions.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: install prometheus demo test lint bench bench-env reliability lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The Prometheus server the tests and the demo start (Debian's package; skipped when
## NOVAFLOW_NO_PROMETHEUS is set).
prometheus:
	@[ -n "$$NOVAFLOW_NO_PROMETHEUS" ] || sh deploy/prometheus.sh

## The main job on the embedded default (simulated cloud + local Prefect).
demo: $(STAMP) prometheus
	$(BIN)/novaflow demo $(DEMO_ARGS)

## Lint, then the whole suite (unit, simulated cloud, flows on a real Prefect server).
test: $(STAMP) prometheus
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python -m bench

## Bench-only environment for OpenStack Watcher's strategies (never a runtime or dev dependency).
$(BENCH_STAMP): bench/watcher-requirements.txt
	$(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -r bench/watcher-requirements.txt
	touch $(BENCH_STAMP)

bench-env: $(BENCH_STAMP)

## The fault matrix (also part of `make test`); rewrites docs/reliability.md from the run.
reliability: $(STAMP)
	$(BIN)/python -m tests.reliability

## A clean resolve of pyproject's ranges in a throwaway venv, frozen into constraints.txt.
LOCK_VENV := .lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PY) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet -e '.[dev]'
	{ echo '# The tested set of versions: `make` installs exactly these (pip -c). Regenerate with `make lock`.'; \
	  $(LOCK_VENV)/bin/pip freeze --exclude-editable | grep -v '^novaflow'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV)

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(LOCK_VENV) .pytest_cache
