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

# The demo trains scikit-learn models: the `demo` extra, pinned by hash like everything else.
$(VENV)/.stamp-demo: $(VENV)/.stamp-run requirements-demo.lock
	$(BIN)/pip install -q --require-hashes -r requirements-demo.lock
	touch $@

demo: $(VENV)/.stamp-demo
	$(BIN)/mledger demo --keep

# The web UI's browser tests drive Debian's Chromium through Playwright (no browser download).
BROWSER := /usr/bin/chromium
$(BROWSER):
	command -v apt-get >/dev/null && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }; }

# One worker per core; a test file stays on one worker, as its module fixtures expect.
test: $(VENV)/.stamp-dev $(BROWSER)
	$(BIN)/python -m pytest -m "not slow" -n auto --dist loadfile $(PYTEST_ARGS)

# Slow tests (none yet; pytest exits 5 when it collects none) and then every benchmark script.
bench: $(VENV)/.stamp-dev
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS) || [ $$? -eq 5 ]
	@status=0; for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || status=1; done; exit $$status

# Peers the benchmarks compare against, each in its own virtualenv under .peers/ so it cannot
# disturb .venv; benchmarks find .peers/dvc/bin/dvc (or $$MLEDGER_BENCH_DVC) and
# .peers/evidently/bin/python (or $$MLEDGER_BENCH_EVIDENTLY), .peers/mlflow/bin/python (or
# $$MLEDGER_BENCH_MLFLOW) and skip a peer that is absent.
bench-peers:
	@test -x .peers/dvc/bin/dvc || { $(PY) -m venv .peers/dvc \
		&& .peers/dvc/bin/pip install -q --upgrade "pip>=24" && .peers/dvc/bin/pip install -q dvc; }
	.peers/dvc/bin/dvc --version
	@.peers/evidently/bin/python -c "import evidently, pandas, pyarrow" 2>/dev/null \
		|| { $(PY) -m venv .peers/evidently \
		&& .peers/evidently/bin/pip install -q --upgrade "pip>=24" \
		&& .peers/evidently/bin/pip install -q "evidently==0.7.23" "pandas<3" pyarrow; }
	.peers/evidently/bin/python -c "import evidently; print('evidently', evidently.__version__)"
	@.peers/mlflow/bin/python -c "import mlflow" 2>/dev/null || { $(PY) -m venv .peers/mlflow \
		&& .peers/mlflow/bin/pip install -q --upgrade "pip>=24" && .peers/mlflow/bin/pip install -q mlflow; }
	.peers/mlflow/bin/python -c "import mlflow; print('mlflow', mlflow.__version__)"

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy

docs: $(VENV)/.stamp-run
	$(BIN)/python -m modelledger.cli.reference > docs/cli.md

# Regenerate the hash-pinned lock files after changing dependencies in pyproject.toml.
lock: $(BIN)/python
	$(BIN)/pip install -q "uv>=0.4"
	$(BIN)/uv pip compile -q --generate-hashes --python-version 3.11 pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile -q --generate-hashes --python-version 3.11 --extra dev pyproject.toml -o requirements-dev.lock
	$(BIN)/uv pip compile -q --generate-hashes --python-version 3.11 --extra demo pyproject.toml -o requirements-demo.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
