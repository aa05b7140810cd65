# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Both create ./.venv on first use from requirements-dev.txt.
PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test lint demo clean

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --upgrade pip
	$(VENV_PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

test: venv
	$(VENV_PY) -m pytest tests $(PYTEST_ARGS)

lint: venv
	$(VENV_PY) -m ruff check .
	$(VENV_PY) -m ruff format --check .

demo: venv
	$(VENV_PY) demo/run_demo.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
