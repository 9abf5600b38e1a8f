#!/usr/bin/env bash
# Hidden verification: compile the checkout's main sources with HiddenShardRouterCheck.java
# (outside the checkout) and run it; exit 0 only when it passes.
set -euo pipefail
: "${SCENARIO_DIR:?SCENARIO_DIR must name the scenario folder}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
find src/main/java -name '*.java' >"$work/sources"
echo "$SCENARIO_DIR/HiddenShardRouterCheck.java" >>"$work/sources"
javac -d "$work/classes" @"$work/sources"
java -cp "$work/classes" com.example.sessions.HiddenShardRouterCheck
