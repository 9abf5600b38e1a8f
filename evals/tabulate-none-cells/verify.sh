#!/usr/bin/env bash
# Hidden verification: exit 0 only when the bug is fixed (see hidden_test.py).
exec bash "$SCENARIO_DIR/../lib/hidden-pytest.sh" .
