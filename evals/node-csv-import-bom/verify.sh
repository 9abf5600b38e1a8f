#!/usr/bin/env bash
# Hidden verification: exit 0 only when the bug is fixed (see hidden.test.js).
set -euo pipefail
: "${SCENARIO_DIR:?SCENARIO_DIR must name the scenario folder}"
repo=$(pwd -P)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$SCENARIO_DIR/hidden.test.js" "$work/"
cd "$work"
REPO_ROOT="$repo" node --test hidden.test.js
