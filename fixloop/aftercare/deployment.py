"""Deployment detection: has the merged fix reached production? Asked of AWS, read-only.

Four sources, each read where the investigation's :class:`~fixloop.domain.DeployWatch` (its
target's configuration, completed from the signal) names something to read:

- ``lambda``: the function's versions (``GetFunction``, ``ListVersionsByFunction``). A
  version published, or ``$LATEST`` updated, after the merge with code (``CodeSha256``) that
  no earlier version had. A commit recorded on it (the ``FIXLOOP_COMMIT``/``GIT_COMMIT``/
  ``COMMIT_SHA`` variables, the ``git_commit``/``commit`` tags, the description) that is the
  merge commit or the fix's head makes it certain; another commit is noted.
- ``cloudformation``: the stack's own ``UPDATE_COMPLETE`` (or ``CREATE_COMPLETE``) after the
  merge (``DescribeStackEvents``); the stack is configured, or read from the function's
  ``aws:cloudformation:stack-name`` tag.
- ``codedeploy``: a ``Succeeded`` deployment of the application's deployment group created
  after the merge (``ListDeployments``, ``GetDeployment``).
- ``logs``: a line of the service's own logs after the merge whose version key (Powertools
  JSON, ``FIXLOOP_VERSION_KEY``, ``version`` by default; its ``service`` when one is
  configured) names the merge commit or the fix's head (``FilterLogEvents``).

The earliest deployment any source shows wins, and which source it was is recorded. A
source that cannot be read (nothing configured, not found, not allowed) is said so; when no
source can be read the deployment is ``unknown`` and the caller assumes it (the merge time
plus ``FIXLOOP_DEPLOY_ASSUMED_DELAY_SECONDS``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fixloop.config import get_settings
from fixloop.domain import DeployWatch, Signal
from fixloop.domain.aftercare import DeploySource
from fixloop.errors import ToolFailed
from fixloop.tools.telemetry import COMMIT_ENV_VARS, COMMIT_TAGS, LAMBDA_LOG_GROUP
from fixloop.tools.telemetry.common import alarm_functions, call_aws, iso, utc
from fixloop.tools.telemetry.deployments import lambda_time

__all__ = ["Deployment", "DeploymentCheck", "find_deployment", "watch_of"]

MAX_PAGES = 5
STACK_NAME_TAG = "aws:cloudformation:stack-name"
_SHORT = 7
"""The shortest commit prefix that counts as naming a commit."""


@dataclass(frozen=True)
class Deployment:
    source: DeploySource
    at: datetime
    detail: str


@dataclass
class DeploymentCheck:
    """What the sources said: the deployment found, and what was or was not readable."""

    deployment: Deployment | None = None
    read: list[str] = field(default_factory=list)
    """The sources that answered (``lambda orders``, ``logs /aws/lambda/orders``...)."""
    unreadable: list[str] = field(default_factory=list)
    """Why the others could not be read."""

    @property
    def state(self) -> Literal["deployed", "pending", "unknown"]:
        if self.deployment is not None:
            return "deployed"
        return "pending" if self.read else "unknown"

    def found(self, deployment: Deployment) -> None:
        if self.deployment is None or deployment.at < self.deployment.at:
            self.deployment = deployment

    def describe(self) -> str:
        parts = []
        if self.read:
            parts.append("read " + ", ".join(self.read))
        if self.unreadable:
            parts.append("not readable: " + "; ".join(self.unreadable))
        return "; ".join(parts) or "no source to read"


def watch_of(configured: DeployWatch | None, signal: Signal) -> DeployWatch:
    """The configured watch, completed from the signal: its Lambda function (a
    ``/aws/lambda/<name>`` log group, or an alarm's ``FunctionName`` dimension) and log
    group, and the version key setting."""
    watch = configured.model_copy() if configured is not None else DeployWatch()
    if not watch.functions:
        if signal.kind == "log_errors" and signal.source.startswith(LAMBDA_LOG_GROUP):
            watch.functions = [signal.source[len(LAMBDA_LOG_GROUP) :]]
        else:
            watch.functions = alarm_functions(signal)
    if not watch.log_group:
        if signal.kind == "log_errors":
            watch.log_group = signal.source
        elif watch.functions:
            watch.log_group = LAMBDA_LOG_GROUP + watch.functions[0]
    if not watch.version_key:
        watch.version_key = get_settings().version_key
    return watch


def find_deployment(
    watch: DeployWatch, *, merged_at: datetime, commits: tuple[str, ...]
) -> DeploymentCheck:
    """Ask every source whether the fix (``commits``: the merge commit, the fix's head) was
    deployed after ``merged_at``."""
    check = DeploymentCheck()
    merged_at = utc(merged_at)
    commits = tuple(c for c in commits if len(c) >= _SHORT)
    stacks = [watch.stack] if watch.stack else []
    for fn in watch.functions[:5]:
        tag_stack = _read(
            check, f"lambda {fn}", lambda fn=fn: _lambda(check, fn, merged_at, commits)
        )
        if tag_stack and tag_stack not in stacks:
            stacks.append(tag_stack)
    for stack in stacks[:3]:
        _read(check, f"cloudformation {stack}", lambda s=stack: _stack(check, s, merged_at))
    if watch.codedeploy_application and watch.codedeploy_group:
        name = f"codedeploy {watch.codedeploy_application}/{watch.codedeploy_group}"
        _read(check, name, lambda: _codedeploy(check, watch, merged_at))
    if watch.log_group and commits:
        _read(check, f"logs {watch.log_group}", lambda: _logs(check, watch, merged_at, commits))
    return check


def _read(check: DeploymentCheck, name: str, read: Any) -> Any:
    try:
        result = read()
    except ToolFailed as exc:
        check.unreadable.append(f"{name}: {exc}")
        return None
    check.read.append(name)
    return result


def _lambda(
    check: DeploymentCheck, fn: str, merged_at: datetime, commits: tuple[str, ...]
) -> str | None:
    """Find a new version of ``fn``; return the stack that made it, from its tags."""
    got = call_aws("lambda", "get_function", FunctionName=fn)
    tags = got.get("Tags") or {}
    versions: list[dict[str, Any]] = []
    params: dict[str, Any] = {"FunctionName": fn, "MaxItems": 50}
    for _ in range(MAX_PAGES * 4):
        page = call_aws("lambda", "list_versions_by_function", **params)
        versions += page.get("Versions", [])
        if not page.get("NextMarker"):
            break
        params["Marker"] = page["NextMarker"]
    if not any(v.get("Version") == "$LATEST" for v in versions):
        versions.append(got.get("Configuration") or {})
    timed = [(t, v) for v in versions if (t := lambda_time(str(v.get("LastModified") or "")))]
    # The code of versions published before the merge (not $LATEST's: moto does not move its
    # LastModified when its code changes, so its code could look older than it is).
    before = {
        v.get("CodeSha256") for t, v in timed if t <= merged_at and v.get("Version") != "$LATEST"
    }
    new = sorted(
        ((t, v) for t, v in timed if t > merged_at and v.get("CodeSha256") not in before),
        key=lambda tv: tv[0],
    )
    named = [(t, v) for t, v in new if _names(_recorded(v, tags), commits)]
    chosen = (named or new)[:1]
    for at, version in chosen:
        recorded = _recorded(version, tags)
        label = version.get("Version") or "$LATEST"
        what = "$LATEST updated" if label == "$LATEST" else f"version {label} published"
        sha = str(version.get("CodeSha256") or "")[:12]
        commit = (
            f", commit {recorded} (the fix)"
            if named
            else (
                f", commit {recorded} recorded (not the merge: assumed to contain it)"
                if recorded
                else ""
            )
        )
        check.found(
            Deployment(
                "lambda", at, f"Lambda function {fn}: {what} at {iso(at)} (code {sha}{commit})"
            )
        )
    stack = tags.get(STACK_NAME_TAG)
    return str(stack) if stack else None


def _recorded(version: dict[str, Any], tags: dict[str, Any]) -> str:
    env = (version.get("Environment") or {}).get("Variables") or {}
    for key in COMMIT_ENV_VARS:
        if env.get(key):
            return str(env[key])
    if version.get("Version") == "$LATEST":
        for key in COMMIT_TAGS:
            if tags.get(key):
                return str(tags[key])
    return str(version.get("Description") or "")


def _names(text: str, commits: tuple[str, ...]) -> bool:
    """Whether ``text`` (a recorded commit, a description) names one of ``commits``."""
    words = [w.strip(" ,;:()[]").lower() for w in text.split()]
    return any(
        len(w) >= _SHORT and any(c.startswith(w) or w.startswith(c) for c in commits) for w in words
    )


def _stack(check: DeploymentCheck, stack: str, merged_at: datetime) -> None:
    params: dict[str, Any] = {"StackName": stack}
    for _ in range(MAX_PAGES):
        page = call_aws("cloudformation", "describe_stack_events", **params)
        for event in page.get("StackEvents", []):
            at = utc(event["Timestamp"])
            if (
                event.get("ResourceType") == "AWS::CloudFormation::Stack"
                and event.get("ResourceStatus") in ("UPDATE_COMPLETE", "CREATE_COMPLETE")
                and at > merged_at
            ):
                status = event["ResourceStatus"]
                check.found(
                    Deployment(
                        "cloudformation", at, f"CloudFormation stack {stack}: {status} at {iso(at)}"
                    )
                )
        if not page.get("NextToken") or any(
            utc(e["Timestamp"]) <= merged_at for e in page.get("StackEvents", [])
        ):
            break  # newest first: the rest is older than the merge
        params["NextToken"] = page["NextToken"]


def _codedeploy(check: DeploymentCheck, watch: DeployWatch, merged_at: datetime) -> None:
    ids = call_aws(
        "codedeploy",
        "list_deployments",
        applicationName=watch.codedeploy_application,
        deploymentGroupName=watch.codedeploy_group,
        includeOnlyStatuses=["Succeeded"],
        createTimeRange={"start": merged_at},
    ).get("deployments", [])
    for deployment_id in ids[:20]:
        info = call_aws("codedeploy", "get_deployment", deploymentId=deployment_id)
        info = info.get("deploymentInfo") or {}
        if info.get("status") != "Succeeded":
            continue
        at = utc(info.get("completeTime") or info.get("createTime") or merged_at)
        if at <= merged_at:
            continue
        commit = ((info.get("revision") or {}).get("gitHubLocation") or {}).get("commitId", "")
        detail = f"CodeDeploy deployment {deployment_id} of {watch.codedeploy_application}/"
        detail += f"{watch.codedeploy_group} succeeded at {iso(at)}"
        if commit:
            detail += f" (commit {commit})"
        check.found(Deployment("codedeploy", at, detail))


def _logs(
    check: DeploymentCheck, watch: DeployWatch, merged_at: datetime, commits: tuple[str, ...]
) -> None:
    key = watch.version_key
    pattern = " || ".join(f'($.{key} = "{c[:_SHORT]}*")' for c in commits)
    params: dict[str, Any] = {
        "logGroupName": watch.log_group,
        "startTime": int(merged_at.timestamp() * 1000) + 1,
        "filterPattern": "{ " + pattern + " }",
        "limit": 100,
    }
    for _ in range(MAX_PAGES):
        page = call_aws("logs", "filter_log_events", **params)
        for event in page.get("events", []):
            line = _json(str(event.get("message") or ""))
            version = str(line.get(key) or "")
            if not _names(version, commits):
                continue
            if watch.service and line.get("service") != watch.service:
                continue
            at = datetime.fromtimestamp(int(event["timestamp"]) / 1000, UTC)
            service = f" of service {line['service']}" if line.get("service") else ""
            check.found(
                Deployment(
                    "logs",
                    at,
                    f"log line{service} in {watch.log_group} with {key}={version} at {iso(at)}",
                )
            )
            return  # events come in time order: the first is the earliest
        if not page.get("nextToken"):
            return
        params["nextToken"] = page["nextToken"]


def _json(message: str) -> dict[str, Any]:
    start = message.find("{")
    if start < 0:
        return {}
    try:
        value = json.loads(message[start:])
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
