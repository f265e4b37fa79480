# Every target creates or reuses .venv itself; nothing is installed by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test bench bench-peers lint lock docs clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"

# Installs are pinned by hash from the lock files; the project itself goes in editable, without deps.
$(VENV)/.stamp-run: $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-run requirements-dev.lock
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	touch $@

demo: $(VENV)/.stamp-run
	$(BIN)/mledger demo

test: $(VENV)/.stamp-dev
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# Slow tests (none yet; pytest exits 5 when it collects none) and then every benchmark script.
bench: $(VENV)/.stamp-dev
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS) || [ $$? -eq 5 ]
	@status=0; for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || status=1; done; exit $$status

# Peers the benchmarks compare against, each in its own virtualenv under .peers/ so it cannot
# disturb .venv; benchmarks find .peers/dvc/bin/dvc (or $$MLEDGER_BENCH_DVC) and skip it if absent.
bench-peers:
	@test -x .peers/dvc/bin/dvc || { $(PY) -m venv .peers/dvc \
		&& .peers/dvc/bin/pip install -q --upgrade "pip>=24" && .peers/dvc/bin/pip install -q dvc; }
	.peers/dvc/bin/dvc --version

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

docs: $(VENV)/.stamp-run
	$(BIN)/python -m modelledger.cli.reference > docs/cli.md

# Regenerate the hash-pinned lock files after changing dependencies in pyproject.toml.
lock: $(BIN)/python
	$(BIN)/pip install -q "uv>=0.4"
	$(BIN)/uv pip compile -q --generate-hashes --python-version 3.11 pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile -q --generate-hashes --python-version 3.11 --extra dev pyproject.toml -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
