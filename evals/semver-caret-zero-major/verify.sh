#!/usr/bin/env bash
# Hidden verification: exit 0 only when every test of hidden.test.js passes against the
# package in the current directory (the checkout). The test runs from a temporary folder,
# so nothing is written into the checkout; REPO_ROOT tells it where the package must come
# from (it checks it is not an installed copy).
set -euo pipefail
: "${SCENARIO_DIR:?SCENARIO_DIR must name the scenario folder}"
repo=$(pwd -P)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$SCENARIO_DIR/hidden.test.js" "$work/"
cd "$work"
REPO_ROOT="$repo" node --test hidden.test.js
