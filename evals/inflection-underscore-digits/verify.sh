#!/usr/bin/env bash
# Hidden verification: every test of hidden_test.py passes against the checkout in the
# current directory, whose package is under "." (evals/lib/hidden-pytest.sh).
set -euo pipefail
exec bash "${SCENARIO_DIR:?SCENARIO_DIR must name the scenario folder}/../lib/hidden-pytest.sh" "."
