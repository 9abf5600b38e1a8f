"""``fixloop eval DIR... --model MODEL``: every input checked before anything runs (exit 2
with one line), then the runs, the table, the report and the ``--json`` line."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import boto3

from fixloop.agent.toolset import default_registry
from fixloop.cli.eval.report import markdown, print_table, totals
from fixloop.cli.eval.runner import run_suite
from fixloop.cli.eval.scenario import Scenario, find_scenarios
from fixloop.cli.output import printer
from fixloop.errors import BadInputError
from fixloop.llm.factory import API_KEY_ENV, SECRET_ARN_ENV, model_from_spec

__all__ = ["default_parallel", "evaluate"]

QUESTION_TIMEOUT_S = "1"
"""No one answers an eval's questions: an investigation that asks one is parked at once
(unless ``FIXLOOP_HUMAN_TIMEOUT_SECONDS`` says otherwise)."""


def default_parallel() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def evaluate(args: argparse.Namespace) -> int:
    model = check_model(args.model)
    if args.parallel < 1:
        raise BadInputError(f"--parallel {args.parallel}: at least 1")
    if args.repeat < 1:
        raise BadInputError(f"--repeat {args.repeat}: at least 1")
    if args.timeout <= 0:
        raise BadInputError(f"--timeout {args.timeout}: a number of seconds above 0")
    report: Path | None = args.report
    if report is not None and not report.resolve().parent.is_dir():
        raise BadInputError(f"--report {report}: its folder does not exist")
    scenarios = find_scenarios(args.dirs)
    if model == "scripted":
        check_scripts(scenarios)
    say = printer(args.quiet)
    if model == "scripted":
        say("model      scripted (each scenario replays its own script: no model is called)")
    else:
        say(f"model      {model}")
    runs = len(scenarios) * args.repeat
    say(f"scenarios  {len(scenarios)} x {args.repeat} = {runs} runs, {args.parallel} at once")
    settings: dict[str, str | None] = {}
    if not os.environ.get("FIXLOOP_HUMAN_TIMEOUT_SECONDS"):
        settings["human_timeout_seconds"] = QUESTION_TIMEOUT_S
    results = run_suite(
        scenarios,
        model=model,
        repeat=args.repeat,
        parallel=args.parallel,
        timeout_s=args.timeout,
        say=say,
        runtime_settings=settings,
    )
    data = totals(results, len(scenarios), args.repeat)
    print_table(data)
    if report is not None:
        tmp = report.with_name(f".{report.name}.tmp")
        tmp.write_text(markdown(data, model))
        tmp.replace(report)
        say(f"report     {report}")
    if args.json:
        print(json.dumps(data, sort_keys=True))
    return 1 if data["errors"] else 0


def check_model(spec: str) -> str:
    """``scripted``, or an API model whose credentials are there (exit 2 before anything
    starts when they are not)."""
    spec = spec.strip()
    if spec == "scripted":
        return spec
    if spec.startswith("scripted:"):
        raise BadInputError(
            "--model scripted replays each scenario's own script (its scenario.json's "
            '"script"); scripted:FILE is for fixloop investigate'
        )
    provider = spec.partition(":")[0]
    if provider == "anthropic" and not (
        os.environ.get(API_KEY_ENV, "").strip() or os.environ.get(SECRET_ARN_ENV, "").strip()
    ):
        raise BadInputError(
            f"--model {spec} needs an Anthropic API key: set {API_KEY_ENV} (or "
            f"{SECRET_ARN_ENV} to a Secrets Manager secret holding it); nothing was run"
        )
    if provider == "bedrock" and boto3.session.Session().get_credentials() is None:
        raise BadInputError(
            f"--model {spec} needs AWS credentials with access to Bedrock (environment, "
            "profile or role, as the AWS CLI finds them); nothing was run"
        )
    model_from_spec(spec, known_tools=default_registry().names)  # an unknown spec: exit 2
    return spec


def check_scripts(scenarios: list[Scenario]) -> None:
    """Every scenario has a script, and every script parses (its file and line if not)."""
    known = default_registry().names
    for s in scenarios:
        if s.script is None:
            raise BadInputError(
                f'{s.folder / "scenario.json"}: no "script": --model scripted replays each '
                "scenario's own script"
            )
        model_from_spec(f"scripted:{s.script}", known_tools=known)
