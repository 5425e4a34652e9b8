# Two commands on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.9

.PHONY: demo test lint-imports bench bench-serving bench-drift bench-automl bench-budget bench-startup bench-profile bench-features bench-batch lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# the lock files pin every package, so a fresh install is the install that was tested
$(VENV)/.runtime-installed: requirements.lock pyproject.toml | $(BIN)/python
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -e .
	@# the editable install leaves tabloop's own modules uncompiled; where PYTHONDONTWRITEBYTECODE is set
	@# every command would compile them again
	$(BIN)/python -m compileall -q src
	touch $@

$(VENV)/.dev-installed: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements-dev.lock
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -e .
	@# the editable install leaves tabloop's own modules uncompiled; where PYTHONDONTWRITEBYTECODE is set
	@# every command would compile them again
	$(BIN)/python -m compileall -q src
	touch $@

demo: $(VENV)/.runtime-installed
	$(BIN)/tabloop quickstart demo-project --force

test: $(VENV)/.dev-installed lint-imports
	$(BIN)/python -m pytest

lint-imports: $(VENV)/.dev-installed
	$(BIN)/lint-imports

# each writes its figures to benchmarks/results/; run them on a quiet machine (see each README)
bench: bench-serving bench-drift bench-automl bench-budget bench-startup bench-profile bench-batch bench-features

# needs Redis on 127.0.0.1:6379; one-row requests with online lookups (Redis, SQLite) vs all features sent
bench-features: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/features/run.py

# needs wrk (apt-get install -y wrk); tabloop vs mlflow models serve vs BentoML vs a do-nothing FastAPI app
bench-serving: $(VENV)/.dev-installed benchmarks/serving/.venv-bentoml/bin/bentoml
	$(BIN)/python benchmarks/serving/run.py

benchmarks/serving/.venv-bentoml/bin/bentoml: benchmarks/serving/requirements-bentoml.txt requirements.lock | $(VENV)/.dev-installed
	$(BIN)/python benchmarks/serving/run.py --setup-bentoml

bench-drift: $(VENV)/.dev-installed
	bash benchmarks/drift/run.sh

bench-automl: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/automl/run.py all

# tabloop train --budget B as a process, fresh project each run: wall time within 10% of B (15, 30, 60 s)
bench-budget: $(VENV)/.runtime-installed
	$(BIN)/python benchmarks/budget/run.py

# whole-process time of --help, of monitor on 10,000 rows and of predict of 1,000 rows
bench-startup: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/startup/run.py

# tabloop predict vs mlflow.pyfunc predict on the same registered model, 1,000,000 rows; peak RSS at 1M and 10M
# (the 10M-row CSV, about 1 GB, is written to /tmp and deleted after)
bench-batch: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/batch/run.py

# tabloop profile vs ydata-profiling (minimal mode) on 1,000,000 rows x 20 columns, whole processes
bench-profile: $(VENV)/.dev-installed benchmarks/profile/.venv-ydata/bin/python
	$(BIN)/python benchmarks/profile/run.py

benchmarks/profile/.venv-ydata/bin/python: benchmarks/profile/requirements-ydata.txt | $(VENV)/.dev-installed
	$(BIN)/python benchmarks/profile/run.py --setup

lock: | $(BIN)/python
	$(UV) pip compile pyproject.toml --python-version 3.11 -q -o requirements.lock
	$(UV) pip compile pyproject.toml --extra test --python-version 3.11 -q -o requirements-dev.lock

clean:
	rm -rf $(VENV) demo-project .pytest_cache
