"""``recent_deployments``: changes to the signal's Lambda function (versions, last
modification, the commit it carries) shortly before the errors started."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed
from fixloop.tools.registry import Tool, ToolContext, cap_output
from fixloop.tools.telemetry.common import (
    LAMBDA_LOG_GROUP,
    MAX_PAGES,
    alarm_functions,
    call_aws,
    duration,
    iso,
    one_line,
    relative,
    utc,
)

__all__ = [
    "COMMIT_ENV_VARS",
    "COMMIT_TAGS",
    "MAX_VERSIONS",
    "RECENT_DEPLOYMENTS",
    "RecentDeploymentsInput",
    "lambda_time",
    "recent_deployments",
]

MAX_VERSIONS = 500
COMMIT_ENV_VARS = ("FIXLOOP_COMMIT", "GIT_COMMIT", "COMMIT_SHA")
COMMIT_TAGS = ("git_commit", "commit")


class RecentDeploymentsInput(BaseModel):
    minutes_before: int = Field(
        default=240, ge=1, le=30 * 24 * 60, description="How far before the signal to look."
    )
    function_name: str | None = Field(
        default=None,
        description="A Lambda function name or ARN to check. Default: the function of the "
        "signal (its /aws/lambda/<name> log group, or the alarm's FunctionName dimension).",
    )


def recent_deployments(ctx: ToolContext, args: RecentDeploymentsInput) -> str:
    signal = ctx.signal
    at = utc(signal.occurred_at)
    since = at - timedelta(minutes=args.minutes_before)
    if args.function_name and args.function_name.strip():
        functions, why = [args.function_name.strip()], "given"
    elif signal.kind == "log_errors" and signal.source.startswith(LAMBDA_LOG_GROUP):
        functions, why = [signal.source[len(LAMBDA_LOG_GROUP) :]], f"from {signal.source}"
    else:
        functions, why = alarm_functions(signal), "the alarm's FunctionName dimension"
    if not functions:
        return (
            f"Nothing checked: the signal's source {signal.source!r} is not a Lambda log group "
            f"({LAMBDA_LOG_GROUP}<function>) and has no FunctionName dimension, and only Lambda "
            "functions are checked (CloudFormation, CodeDeploy and other deploy systems are "
            "not). Give function_name to check a Lambda function; the repository history "
            "(git log in the sandbox, suspect_commits) covers the code."
        )
    blocks = []
    missing = []
    for fn in functions[:5]:
        try:
            blocks.append(_function_deployments(fn, why, since, at))
        except ToolFailed as exc:
            missing.append(str(exc))
    if not blocks:
        raise ToolFailed("; ".join(missing))
    blocks += missing
    blocks.append(
        "Checked: Lambda GetFunction and ListVersionsByFunction (LastModified of $LATEST and "
        f"of each version; commits from the {'/'.join(COMMIT_ENV_VARS)} environment variables "
        f"and the {'/'.join(COMMIT_TAGS)} tags). Not checked: CloudFormation, CodeDeploy and "
        "other deploy systems."
    )
    return cap_output("\n\n".join(blocks), ctx.max_output_chars)


def _function_deployments(fn: str, why: str, since: datetime, at: datetime) -> str:
    on_error = {
        "ResourceNotFoundException": f"Lambda function {fn} ({why}) was not found ({{message}})"
    }
    got = call_aws("lambda", "get_function", on_error=on_error, FunctionName=fn)
    config = got.get("Configuration") or {}
    tags = got.get("Tags") or {}
    versions: list[dict[str, Any]] = []
    params: dict[str, Any] = {"FunctionName": fn, "MaxItems": 50}
    for _ in range(MAX_PAGES):
        page = call_aws("lambda", "list_versions_by_function", on_error=on_error, **params)
        versions += page.get("Versions", [])
        if not page.get("NextMarker") or len(versions) >= MAX_VERSIONS:
            break
        params["Marker"] = page["NextMarker"]
    if not any(v.get("Version") == "$LATEST" for v in versions):
        versions.append(config)
    tag_commit = next((f"{k}={tags[k]}" for k in COMMIT_TAGS if tags.get(k)), "")
    changes: list[tuple[datetime, str]] = []
    for v in versions:
        when = lambda_time(str(v.get("LastModified") or ""))
        if when is None:
            continue
        version = str(v.get("Version") or "$LATEST")
        what = (
            "$LATEST code or configuration updated"
            if version == "$LATEST"
            else f"version {version} published"
        )
        notes = [_env_commit(v)]
        if version == "$LATEST" and tag_commit:
            notes.append(f"tag {tag_commit}")
        if v.get("Description"):
            notes.append(f"description {one_line(str(v['Description']))[:200]!r}")
        if v.get("CodeSha256"):
            notes.append(f"code sha256 {str(v['CodeSha256'])[:12]}")
        detail = "; ".join(n for n in notes if n)
        changes.append((when, f"{iso(when)}  {what}" + (f" ({detail})" if detail else "")))
    changes.sort(reverse=True)
    head = (
        f"Lambda function {config.get('FunctionName') or fn} ({why}), from {iso(since)} to "
        f"the signal at {iso(at)}:"
    )
    inside = [f"  {text} - {relative(t, at)}" for t, text in changes if since <= t <= at]
    after = [f"  {text} - {relative(t, at)}" for t, text in changes if t > at]
    earlier = [(t, text) for t, text in changes if t < since]
    lines = [head]
    if inside:
        lines.append(f"  {len(inside)} changes in the window, newest first:")
        lines += inside
    else:
        lines.append(f"  no deployment in the {duration(at - since)} before the signal")
    if after:
        lines.append("  after the signal (cannot have caused it):")
        lines += after
    if earlier:
        t, text = earlier[0]
        lines.append(f"  latest change before the window: {text} - {relative(t, at)}")
    current = _env_commit(config) or (f"tag {tag_commit}" if tag_commit else "")
    lines.append(f"  current commit: {current or 'not recorded on the function'}")
    return "\n".join(lines)


def _env_commit(config: dict[str, Any]) -> str:
    env = (config.get("Environment") or {}).get("Variables") or {}
    return next((f"{k}={env[k]}" for k in COMMIT_ENV_VARS if env.get(k)), "")


_LAMBDA_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")


def lambda_time(text: str) -> datetime | None:
    """Lambda's LastModified: ``2024-01-31T12:00:00.000+0000`` (moto: nanoseconds and Z)."""
    found = _LAMBDA_TIME.match(text.strip())
    if not found:
        return None
    base, fraction, zone = found.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    offset = "+0000" if zone in (None, "Z") else zone.replace(":", "")
    return datetime.strptime(f"{base}.{micros}{offset}", "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


RECENT_DEPLOYMENTS = Tool(
    "recent_deployments",
    "List changes to the signal's Lambda function (new versions, code or configuration "
    "updates, with the commit recorded on the function) in the hours before the signal: "
    "whether a deployment coincides with the errors. For the code history itself use "
    "suspect_commits or git log with run_command.",
    RecentDeploymentsInput,
    recent_deployments,
)
