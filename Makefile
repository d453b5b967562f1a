# One-command set-up on a fresh machine: only python3.11 and the package registries are assumed.
# uv is bootstrapped into .tools/, the environment is built from uv.lock into .venv/.

PYTHON ?= python3.11
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test lint bench browser clean

demo: $(VENV)/.synced
	$(VENV)/bin/fengqiao demo

test: $(VENV)/.synced browser
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# Benchmarks are long (minutes to tens of minutes); they print tables and write bench/results/*.json.
bench: $(VENV)/.synced browser
	$(VENV)/bin/python bench/features.py
	$(VENV)/bin/python bench/merge.py
	$(VENV)/bin/python bench/grader.py
	$(VENV)/bin/python bench/reasons.py
	$(VENV)/bin/python bench/hotspots.py
	$(VENV)/bin/python bench/nightly.py
	$(VENV)/bin/python bench/training.py
	$(VENV)/bin/python bench/openmp.py
	$(VENV)/bin/python bench/map_screenshot.py

# Headless Chromium for the map's browser test and screenshot (Debian's package).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set (as on many servers and in
# containers), every command would otherwise compile ~4,000 source files, about 12 s a start.
$(VENV)/.synced: uv.lock pyproject.toml Makefile | $(UV)
	$(UV) sync --frozen --python $(PYTHON) --compile-bytecode
	$(VENV)/bin/python -m compileall -q features models pipelines >/dev/null
	touch $@

clean:
	rm -rf .venv .tools data/outputs data/mlflow data/store data/demo
