# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Both create ./.venv on first use from requirements-dev.txt.
PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The IAM contract tests' policy evaluator (Node.js; test-time only).
IAM_SIMULATOR := tests/iam_contract/simulator
IAM_SIMULATOR_STAMP := $(IAM_SIMULATOR)/node_modules/.installed

.PHONY: venv iam-simulator test lint demo clean clean-template-tree

venv: $(STAMP)

iam-simulator: $(IAM_SIMULATOR_STAMP)

$(IAM_SIMULATOR_STAMP): $(IAM_SIMULATOR)/package-lock.json
	npm ci --prefix $(IAM_SIMULATOR) --no-audit --no-fund --loglevel=error
	touch $(IAM_SIMULATOR_STAMP)

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --upgrade pip
	$(VENV_PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Caches left in the template tree by running tools there would be rendered as templates.
TEMPLATE_TREE := {{cookiecutter.project_slug}}

clean-template-tree:
	find '$(TEMPLATE_TREE)' \( -name __pycache__ -o -name .ruff_cache -o -name .pytest_cache \) -prune -exec rm -rf {} +

test: venv iam-simulator clean-template-tree
	$(VENV_PY) -m pytest tests $(PYTEST_ARGS)

lint: venv
	$(VENV_PY) -m ruff check .
	$(VENV_PY) -m ruff format --check .

# `make demo FRAMEWORK=pytorch` (or sklearn) demonstrates another training framework.
FRAMEWORK ?= xgboost

demo: venv clean-template-tree
	$(VENV_PY) demo/run_demo.py --framework $(FRAMEWORK)

clean:
	rm -rf $(VENV) demo-output .pytest_cache $(IAM_SIMULATOR)/node_modules
