#!/usr/bin/env bash
# The hidden verification of a Python scenario: exit 0 only when every test of the
# scenario's hidden_test.py passes against the checkout in the current directory.
#
# Usage (from a scenario's verify.sh): hidden-pytest.sh IMPORT_DIR, the folder of the
# checkout that holds the package ("src" or "."). The test file is copied to a temporary
# folder with its own pytest.ini, so no pytest configuration of the checkout applies and
# nothing is written into it. REPO_ROOT tells the test where the package must come from
# (each one checks it is not an installed copy).
set -euo pipefail
: "${SCENARIO_DIR:?SCENARIO_DIR must name the scenario folder}"
import_root="$(pwd -P)/${1:?the folder that holds the package}"
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
