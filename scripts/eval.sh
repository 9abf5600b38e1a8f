#!/usr/bin/env bash
# `make eval`: the scenario suite (evals/) against a real model; see docs/evaluating.md.
#
#   EVAL_MODEL     the model: anthropic[:ID] or bedrock[:ID]. Default: anthropic when
#                  ANTHROPIC_API_KEY (or FIXLOOP_ANTHROPIC_SECRET_ARN) is set, else bedrock
#                  when FIXLOOP_EVAL_BEDROCK=1 (AWS credentials as the AWS CLI finds them).
#   EVAL_DIRS      the scenarios (default: evals)
#   EVAL_REPORT    the Markdown report (default: dist/eval/report.md; the JSON line beside it)
#   EVAL_ARGS      more options of fixloop eval (e.g. "--repeat 3 --parallel 1")
set -euo pipefail
fixloop=${FIXLOOP:-.venv/bin/fixloop}
model=${EVAL_MODEL:-}
if [ -z "$model" ]; then
    if [ -n "${ANTHROPIC_API_KEY:-}" ] || [ -n "${FIXLOOP_ANTHROPIC_SECRET_ARN:-}" ]; then
        model=anthropic
    elif [ "${FIXLOOP_EVAL_BEDROCK:-}" = 1 ]; then
        model=bedrock
    fi
fi
if [ -z "$model" ]; then
    cat >&2 <<'MSG'
make eval needs a real model, and none is configured: nothing was run.
  Anthropic API:  export ANTHROPIC_API_KEY=...        (then: make eval)
  Amazon Bedrock: export FIXLOOP_EVAL_BEDROCK=1       (AWS credentials with Bedrock access)
                  or EVAL_MODEL=bedrock:MODEL_ID
The recorded scenarios need no model: fixloop eval tests/scenarios --model scripted
(make test runs them). See docs/evaluating.md.
MSG
    exit 2
fi
dirs=${EVAL_DIRS:-evals}
for d in $dirs; do
    if [ ! -d "$d" ]; then
        echo "make eval: no scenario folder $d (EVAL_DIRS names the scenarios)" >&2
        exit 2
    fi
done
report=${EVAL_REPORT:-dist/eval/report.md}
mkdir -p "$(dirname "$report")"
json="${report%.md}.json"
# shellcheck disable=SC2086 # EVAL_DIRS and EVAL_ARGS are lists of words
rc=0
"$fixloop" eval $dirs --model "$model" --report "$report" --json ${EVAL_ARGS:-} \
    | tee "$json.out" || rc=$?
tail -n 1 "$json.out" >"$json"
rm -f "$json.out"
[ "$rc" = 2 ] || echo "report: $report; results (the JSON line): $json" >&2
exit "$rc"
