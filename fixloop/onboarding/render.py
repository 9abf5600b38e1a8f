"""Rendering the instrumentation pull request: the files it adds and its description.

The long texts are package data in ``templates/``, filled with :class:`string.Template`
(``${name}`` is a value, ``$$`` a literal ``$``). A placeholder alone on its line that stands
for a list (``${rows}``, ``${files}``, ``${handlers}``, ``${functions}``) becomes whole
lines, each ending with a newline, or nothing for an empty list.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from string import Template

from fixloop.onboarding.models import (
    DOCS_PATH,
    PACKAGE,
    POWERTOOLS,
    TEMPLATE_PATH,
    OnboardingPlan,
    WatchedFunction,
    sanitise,
)

__all__ = [
    "METRIC_NAMESPACE",
    "README_MARKER",
    "RUNTIME_ERRORS",
    "STRUCTURED_ERRORS",
    "SUBSCRIPTION_FILTER",
    "render_body",
    "render_cdk",
    "render_cloudformation",
    "render_docs",
    "render_logging_module",
    "render_package_init",
    "render_readme_section",
    "with_readme_section",
]

METRIC_NAMESPACE = "fixloop/Errors"
STRUCTURED_ERRORS = '{ $.level = "ERROR" }'
"""Powertools lines, and every line of the Lambda runtime's JSON log format, at level ERROR."""
RUNTIME_ERRORS = '?"[ERROR]" ?"Task timed out"'
"""The Lambda runtime's text log format: an unhandled exception (``[ERROR] Type: message``
followed by its traceback), ``logging.error`` through the runtime's handler, and timeouts.
A Powertools line never contains these, so no line is counted by both filters."""
SUBSCRIPTION_FILTER = "fixloop-errors"
README_MARKER = "<!-- fixloop:onboarding -->"


@functools.cache
def _template(name: str) -> Template:
    """``templates/<name>``, a package data file."""
    text = (resources.files("fixloop.onboarding") / "templates" / name).read_text("utf-8")
    return Template(text)


def _lines(items: list[str]) -> str:
    """``items`` as whole lines, for a list placeholder."""
    return "".join(f"{item}\n" for item in items)


def _q(value: str) -> str:
    """A YAML scalar in double quotes (JSON strings are valid YAML)."""
    return json.dumps(value)


def render_package_init() -> str:
    return (
        '"""Error reporting for fixloop: structured logs with stack traces (see logging.py)."""\n'
        "\n"
        f"from {PACKAGE}.logging import log_unhandled_errors, logger\n"
        "\n"
        '__all__ = ["log_unhandled_errors", "logger"]\n'
    )


def render_logging_module(service: str) -> str:
    return _template("logging.py.tmpl").substitute(
        package=PACKAGE, service=service, service_json=json.dumps(service)
    )


def _logical_ids(functions: list[WatchedFunction]) -> list[str]:
    ids: list[str] = []
    for fn in functions:
        base = "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]+", fn.name))
        base = re.sub(r"[^A-Za-z0-9]", "", base) or "Function"
        if not base[0].isalpha():
            base = f"Fn{base}"
        candidate, n = base, 2
        while candidate in ids:
            candidate, n = f"{base}{n}", n + 1
        ids.append(candidate)
    return ids


def _alarm_constants() -> dict[str, str]:
    """The filter patterns and metric of the alarms, as the templates show them."""
    return {
        "metric_namespace": METRIC_NAMESPACE,
        "metric_namespace_q": _q(METRIC_NAMESPACE),
        "runtime_errors": RUNTIME_ERRORS,
        "runtime_errors_q": _q(RUNTIME_ERRORS),
        "structured_errors": STRUCTURED_ERRORS,
        "structured_errors_q": _q(STRUCTURED_ERRORS),
        "subscription_filter": SUBSCRIPTION_FILTER,
    }


def render_cloudformation(service: str, functions: list[WatchedFunction]) -> str:
    names = ", ".join(fn.name for fn in functions)
    constants = _alarm_constants()
    head = _template("error-alarms.yaml.tmpl").substitute(
        constants,
        service=service,
        description_q=_q(f"fixloop error alarms for {service} ({names})"[:1024]),
    )
    resources_, outputs = [], []
    for fn, lid in zip(functions, _logical_ids(functions), strict=True):
        source = f" ({fn.handler})" if fn.handler else ""
        description = (
            f"Errors logged by Lambda function {fn.name}{source}, log group {fn.log_group}. "
            "fixloop investigates when this alarm goes to ALARM: CloudWatch publishes its state "
            "changes to the default EventBridge bus, where fixloop's rule picks them up "
            "(no alarm action needed)."
        )
        values = {
            **constants,
            "lid": lid,
            "name": fn.name,
            "name_q": _q(fn.name),
            "log_group": fn.log_group,
            "log_group_q": _q(fn.log_group),
            "alarm_name_q": _q("${AWS::StackName}-" + fn.name + "-errors"),
            "alarm_description_q": _q(description[:1024]),
            "output_description_q": _q(f"The alarm on errors of {fn.name}"),
        }
        resources_.append(_template("error-alarms-function.yaml.tmpl").substitute(values))
        outputs.append(_template("error-alarms-output.yaml.tmpl").substitute(values))
    return head + "".join(resources_) + "\nOutputs:\n" + "".join(outputs)


def render_cdk(service: str, functions: list[WatchedFunction]) -> str:
    return _template("error_alarms.py.tmpl").substitute(
        service=service,
        names="".join(f"    {_q(fn.name)},\n" for fn in functions),
        metric_namespace=METRIC_NAMESPACE,
        metric_namespace_q=_q(METRIC_NAMESPACE),
        structured_errors_repr=repr(STRUCTURED_ERRORS),
        runtime_errors_repr=repr(RUNTIME_ERRORS),
        subscription_filter_q=_q(SUBSCRIPTION_FILTER),
    )


def _wrap_snippet() -> list[str]:
    return [
        "```python",
        f"from {PACKAGE} import log_unhandled_errors, logger",
        "",
        "",
        "@logger.inject_lambda_context",
        "@log_unhandled_errors",
        "def lambda_handler(event, context):",
        "    ...",
        "```",
    ]


def _deploy_command(service: str) -> list[str]:
    stack = sanitise(f"{service}-fixloop-errors")
    return [
        "```sh",
        "aws cloudformation deploy \\",
        f"  --template-file {TEMPLATE_PATH} \\",
        f"  --stack-name {stack} \\",
        "  --parameter-overrides \\",
        "    FixloopLogsDestinationArn=arn:aws:lambda:REGION:ACCOUNT:function:FIXLOOP_RECEIVER",
        "    # FixloopLogsRoleArn=arn:aws:iam::ACCOUNT:role/ROLE  (Kinesis or Firehose only)",
        "```",
    ]


def _permission_command() -> list[str]:
    return [
        "```sh",
        "aws lambda add-permission \\",
        "  --function-name arn:aws:lambda:REGION:ACCOUNT:function:FIXLOOP_RECEIVER \\",
        "  --statement-id cloudwatch-logs-errors \\",
        "  --action lambda:InvokeFunction \\",
        "  --principal logs.amazonaws.com \\",
        "  --source-account ACCOUNT \\",
        '  --source-arn "arn:aws:logs:REGION:ACCOUNT:log-group:/aws/lambda/*:*"',
        "```",
    ]


def render_docs(service: str, functions: list[WatchedFunction]) -> str:
    rows = [f"| `{fn.name}` | `{fn.log_group}` | {fn.source} |" for fn in functions]
    return _template("README.md.tmpl").substitute(
        service=service,
        wrap_snippet="\n".join(_wrap_snippet()),
        powertools=POWERTOOLS,
        metric_namespace=METRIC_NAMESPACE,
        rows=_lines(rows),
        deploy_command="\n".join(_deploy_command(service)),
        permission_command="\n".join(_permission_command()),
    )


def render_readme_section() -> str:
    lines = [
        README_MARKER,
        "## Error reporting (fixloop)",
        "",
        "Errors are logged as JSON with their stack trace (`fixloop_instrumentation`), counted",
        "and alarmed on per function, and sent to fixloop, which investigates them and proposes",
        f"fixes as pull requests. Wrap each Lambda handler; see [{DOCS_PATH}]({DOCS_PATH}):",
        "",
        *_wrap_snippet(),
    ]
    return "\n".join(lines) + "\n"


def with_readme_section(readme: str) -> str:
    if readme and not readme.endswith("\n"):
        readme += "\n"
    return readme + "\n" + render_readme_section()


def render_body(plan: OnboardingPlan) -> str:
    files = [
        f"- `{f.path}` ({'new' if f.action == 'add' else 'changed'}): {f.reason}"
        for f in plan.files
    ]
    if plan.handlers:
        handlers = [
            f"- `{h.path}` line {h.line}: `{h.function}`"
            + (" (already wrapped)" if h.wrapped else "")
            for h in plan.handlers
        ]
    else:
        handlers = ["- none found at this commit: wrap the handler of each function below"]
    functions = [
        f"- `{fn.name}`: log group `{fn.log_group}` (name from {fn.source}"
        + (f", code `{fn.handler}`" if fn.handler else "")
        + ")"
        for fn in plan.functions
    ]
    dependency = (
        f"- `{POWERTOOLS}` is already a dependency in "
        + ", ".join(f"`{p}`" for p in plan.powertools_in)
        if plan.powertools_in
        else ""
    )
    check = ""
    if plan.warnings:
        check = _lines(["", "## Check before merging", "", *[f"- {w}" for w in plan.warnings]])
    return _template("pull-request.md.tmpl").substitute(
        _alarm_constants(),
        service=plan.repo_name,
        files=_lines([*files, *([dependency] if dependency else [])]),
        handlers=_lines(handlers),
        wrap_snippet="\n".join(_wrap_snippet()),
        functions=_lines(functions),
        deploy_command="\n".join(_deploy_command(plan.repo_name)),
        permission_command="\n".join(_permission_command()),
        check_before_merging=check,
    )
