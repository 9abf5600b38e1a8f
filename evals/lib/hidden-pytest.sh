#!/usr/bin/env bash
# Run a scenario's hidden pytest file against the checkout in the current directory.
#
# Usage, from a scenario's verify.sh:  bash "$SCENARIO_DIR/../lib/hidden-pytest.sh" IMPORT_ROOT
#   IMPORT_ROOT  the folder of the checkout that holds the package ("." or "src")
#
# The test file ($SCENARIO_DIR/hidden_test.py) is copied to a temporary folder with an empty
# pytest.ini, so neither the checkout's pytest configuration nor any other one applies, and
# nothing is written into the checkout. REPO_ROOT tells the test where the package must come
# from (each hidden test checks that it was not imported from an installed copy).
# Exit 0 only when every hidden test passes.
set -euo pipefail
: "${SCENARIO_DIR:?SCENARIO_DIR must name the scenario folder}"

import_root="$(pwd -P)/${1:-.}"
python=""
for candidate in "${PYTHON:-}" python3 python; do
    if [ -n "$candidate" ] && "$candidate" -c "import pytest" >/dev/null 2>&1; then
        python=$candidate
        break
    fi
done
if [ -z "$python" ]; then
    echo "verify: no Python with pytest found (set PYTHON)" >&2
    exit 3
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$SCENARIO_DIR/hidden_test.py" "$work/test_hidden.py"
printf '[pytest]\naddopts = -p no:cacheprovider\n' >"$work/pytest.ini"
cd "$work"
PYTHONDONTWRITEBYTECODE=1 REPO_ROOT="$import_root" PYTHONPATH="$import_root" \
    "$python" -m pytest -q test_hidden.py
