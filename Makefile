# The two commands of the README. Each creates .venv, installs, and runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: demo test eval lint typecheck unit bench synth marketplace clean debian-packages sandbox-packages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,cdk,dev]'
	touch $(STAMP)

demo: $(STAMP) sandbox-packages
	$(BIN)/fixloop demo --live

test: $(STAMP) lint typecheck debian-packages
	$(BIN)/pytest -n 2 --dist loadfile -q

# The scenario suite (evals/) against a real model: ANTHROPIC_API_KEY, or Bedrock (see
# scripts/eval.sh); without one it says so and runs nothing. make test runs the recorded
# scenarios (tests/scenarios, --model scripted) in tests/integration/test_eval.py.
eval: $(STAMP) sandbox-packages
	bash scripts/eval.sh

# Debian packages outside Python (installed when root with apt; else the script says what is
# missing and what follows): chromium for tests/browser, bubblewrap for the sandbox, which
# confines the commands it runs with it (the demo runs commands too).
debian-packages:
	bash scripts/install-debian-packages.sh chromium bubblewrap

sandbox-packages:
	bash scripts/install-debian-packages.sh bubblewrap

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
