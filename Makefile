# The two commands of the README. Each creates .venv, installs, and runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: demo test lint typecheck unit bench synth marketplace clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,cdk,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fixloop demo --live

test: $(STAMP) lint typecheck browser
	$(BIN)/pytest -n 2 --dist loadfile -q

# Debian's chromium for tests/browser (installed when root with apt; else the test says why
# it is skipped).
browser:
	bash scripts/install-chromium.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy fixloop functions stacks layers app.py bench tests

bench: $(STAMP)
	$(BIN)/python bench/orchestration_overhead.py
	$(BIN)/python bench/stream_latency.py

synth: $(STAMP)
	$(BIN)/python app.py

# The AWS Marketplace package: dist/marketplace/ (standalone template + asset zips).
marketplace: $(STAMP)
	$(BIN)/python -m stacks.marketplace

clean:
	rm -rf $(VENV) cdk.out dist .pytest_cache .mypy_cache .ruff_cache
