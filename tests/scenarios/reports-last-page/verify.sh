#!/usr/bin/env bash
# Hidden verification: the scenario's hidden test beside the repository's own, all must pass.
set -euo pipefail
cp "$SCENARIO_DIR/hidden_test.py" tests/test_hidden_by_eval.py
python -m pytest -q -p no:cacheprovider tests
