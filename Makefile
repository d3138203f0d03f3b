# certrotate: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

A2C_VENV := .venv-a2c
A2C_STAMP := $(A2C_VENV)/.installed
A2C_VERSION := 0.46.*
LAYER_IN := layers/certrotate/requirements.in
LAYER_LOCK := layers/certrotate/requirements.txt
# The lock is for the functions' runtime and architecture (template.yaml: python3.11, arm64), whatever this
# machine is; `make lock` is the only thing that writes it.
LOCK_FLAGS := --quiet --generate-hashes --python-version 3.11 --python-platform aarch64-manylinux2014 \
	--custom-compile-command "make lock"

.PHONY: help deps venv a2c lock lock-check test unit integration e2e lint typecheck template-lint dist-check \
	tools-lock tools-upgrade demo bench bench-drill bench-drill-ci build clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

deps: ## Install system packages the local stack needs (pebble, from Debian)
	@command -v pebble >/dev/null 2>&1 || { \
	  echo "installing pebble (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq pebble >/dev/null; }

# The layer's packages come from its lock with every file's hash checked. pip checks hashes for a whole call
# or not at all, so the dev tools (no hashes) come in a second call; then the lock again, which puts back
# any layer package a dev tool moved, so that `pip check` names the tool that cannot live with the lock.
$(STAMP): requirements-dev.txt $(LAYER_LOCK)
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (the Lambda runtime's version)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r $(LAYER_LOCK)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r $(LAYER_LOCK)
	@$(BIN)/python -m pip check
	@touch $(STAMP)

venv: $(STAMP) ## Create the development virtual environment

$(A2C_STAMP):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	@test -x $(A2C_VENV)/bin/python || $(PYTHON) -m venv $(A2C_VENV)
	@$(A2C_VENV)/bin/python -m pip install -q --disable-pip-version-check 'acme2certifier==$(A2C_VERSION)'
	@touch $(A2C_STAMP)

a2c: $(A2C_STAMP) ## Install acme2certifier (the local CA with ARI, profiles, EAB) in its own virtualenv

# Keeps every pin that still satisfies requirements.in; UPGRADE=1 takes the newest of everything,
# UPGRADE_PACKAGE=name the newest of one package (a security fix) and nothing else.
lock: venv ## Compile the layer's lock (hashes, python3.11 arm64) from requirements.in
	$(BIN)/uv pip compile $(LOCK_FLAGS) $(if $(UPGRADE),--upgrade) \
	  $(if $(UPGRADE_PACKAGE),--upgrade-package $(UPGRADE_PACKAGE)) $(LAYER_IN) -o $(LAYER_LOCK)

# Recompiles into a copy of the lock: uv keeps the pins that still satisfy requirements.in, so only a change
# of requirements.in (or a package file added to or withdrawn from the index) makes a difference.
lock-check: venv ## Fail when the layer's lock is stale against requirements.in
	@fresh="$$(mktemp)"; trap 'rm -f "$$fresh"' EXIT; cp $(LAYER_LOCK) "$$fresh"; \
	$(BIN)/uv pip compile $(LOCK_FLAGS) $(LAYER_IN) -o "$$fresh" \
	  && diff -u $(LAYER_LOCK) "$$fresh" \
	  || { echo "$(LAYER_LOCK) is stale against $(LAYER_IN): run 'make lock' and commit both" >&2; exit 1; }
	@echo "ok: $(LAYER_LOCK) matches $(LAYER_IN)"

lint: venv lock-check ## Lint and format-check the code (ruff), the direction of imports (import-linter); the lock
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=layers/certrotate:. $(BIN)/lint-imports --no-cache  # the contracts: pyproject.toml

typecheck: venv ## Check types of the layer and handlers (mypy, strict)
	$(BIN)/mypy
	$(BIN)/mypy functions/scan/app.py  # one at a time: both modules are named app
	$(BIN)/mypy functions/rotate/app.py
	$(BIN)/mypy -p devstack

# The template tools (SAM CLI and cfn-lint; checkov apart: each pins its own boto3), locked for Python 3.11 on
# any platform. tools-lock keeps every pin that still satisfies the .in files (run it after editing one);
# tools-upgrade takes the newest release of everything. Then `make template-lint`: cfn-lint's new rules and
# checkov's new checks land here, in a reviewed commit, never on their own in CI.
TOOLS_FLAGS := --quiet --universal --python-version 3.11 --custom-compile-command "make tools-lock"

tools-lock: venv ## Compile requirements-tools.txt and requirements-checkov.txt from their .in files
	$(BIN)/uv pip compile $(TOOLS_FLAGS) $(if $(UPGRADE),--upgrade) requirements-tools.in -o requirements-tools.txt
	$(BIN)/uv pip compile $(TOOLS_FLAGS) $(if $(UPGRADE),--upgrade) requirements-checkov.in -o requirements-checkov.txt

tools-upgrade: ## Move the template tools to their newest releases (review the diff, run make template-lint)
	$(MAKE) --no-print-directory tools-lock UPGRADE=1

template-lint: ## Lint the SAM template (sam validate --lint runs cfn-lint; checkov) and sam build it from the lock
	bash scripts/lint-template.sh

# The sdist and the wheel as PyPI would receive them, built into a temporary directory (nothing is uploaded),
# then their metadata checked the way PyPI renders it. setuptools leaves its egg-info in the tree: removed.
dist-check: venv ## Build the sdist and wheel and check them with twine (README renders, licence, metadata)
	@out="$$(mktemp -d)"; trap 'rm -rf "$$out" certrotate.egg-info' EXIT; \
	$(BIN)/uv build --quiet --out-dir "$$out" && $(BIN)/twine check --strict "$$out"/*

unit: venv ## Every test that needs no local stack (the `stack` marker), in seconds
	$(BIN)/pytest -m "not stack"

integration: venv deps a2c ## Adapter and moto-fix tests against a moto server over HTTP
	$(BIN)/pytest tests/integration

e2e: venv deps a2c ## End-to-end tests: handlers on moto + pebble + DNS from Route 53
	$(BIN)/pytest tests/e2e

test: venv deps a2c ## Install everything needed and run lint, types, the package check and all test tiers
	$(MAKE) --no-print-directory lint typecheck dist-check
	$(BIN)/pytest tests/unit tests/integration tests/e2e

demo: venv deps ## Rotate an expiring certificate on a local stack (real ACME CA, fake AWS), step by step
	$(BIN)/python scripts/demo.py

bench: venv deps ## Benchmarks against certbot on the same local stack; figures for docs/performance.md
	$(BIN)/python -m benchmarks

bench-drill: venv a2c ## Revocation drill at N = 1,000 (acme2certifier, AWS's rates; ~20 minutes): docs/performance.md
	$(BIN)/python -m benchmarks drill --n-drill 1000

bench-drill-ci: venv a2c ## The same drill at N = 100 (CI-sized, ~5 minutes)
	$(BIN)/python -m benchmarks drill --n-drill 100

build: ## sam build (no AWS account needed) into .aws-sam/build
	bash scripts/lint-template.sh --build-only

clean: ## Remove virtual environments and build output
	rm -rf $(VENV) $(A2C_VENV) .venv-tools .venv-checkov .venv-bench .aws-sam .pytest_cache .mypy_cache .ruff_cache
