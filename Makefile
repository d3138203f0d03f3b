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

.PHONY: help deps venv a2c test unit integration e2e lint typecheck template-lint demo bench build clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

deps: ## Install system packages the local stack needs (pebble, from Debian)
	@command -v pebble >/dev/null 2>&1 || { \
	  echo "installing pebble (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq pebble >/dev/null; }

$(STAMP): requirements-dev.txt layers/certrotate/requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (the Lambda runtime's version)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP) ## Create the development virtual environment

$(A2C_STAMP):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	@test -x $(A2C_VENV)/bin/python || $(PYTHON) -m venv $(A2C_VENV)
	@$(A2C_VENV)/bin/python -m pip install -q --disable-pip-version-check 'acme2certifier==$(A2C_VERSION)'
	@touch $(A2C_STAMP)

a2c: $(A2C_STAMP) ## Install acme2certifier (the local CA with ARI, profiles, EAB) in its own virtualenv

lint: venv ## Lint and format-check the code (ruff)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv ## Check types of the layer and handlers (mypy, strict)
	$(BIN)/mypy
	$(BIN)/mypy functions/scan/app.py  # one at a time: both modules are named app
	$(BIN)/mypy functions/rotate/app.py
	$(BIN)/mypy -p devstack

template-lint: ## Lint the SAM template (sam validate --lint, cfn-lint, checkov) and sam build it
	bash scripts/lint-template.sh

unit: venv ## Unit tests: pure logic, no AWS
	$(BIN)/pytest tests/unit

integration: venv deps a2c ## Adapter and moto-fix tests against a moto server over HTTP
	$(BIN)/pytest tests/integration

e2e: venv deps a2c ## End-to-end tests: handlers on moto + pebble + DNS from Route 53
	$(BIN)/pytest tests/e2e

test: venv deps a2c ## Install everything needed and run lint, types and all test tiers
	$(MAKE) --no-print-directory lint typecheck
	$(BIN)/pytest tests/unit tests/integration tests/e2e

demo: venv deps ## Rotate an expiring certificate on a local stack (real ACME CA, fake AWS), step by step
	$(BIN)/python scripts/demo.py

bench: venv deps ## Benchmarks against certbot on the same local stack; figures for docs/performance.md
	$(BIN)/python -m benchmarks

build: ## sam build (offline) into .aws-sam/
	bash scripts/lint-template.sh --build-only

clean: ## Remove virtual environments and build output
	rm -rf $(VENV) $(A2C_VENV) .venv-tools .venv-bench .aws-sam .pytest_cache .mypy_cache .ruff_cache
