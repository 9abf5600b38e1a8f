"""Deployment settings read from CDK context (``cdk.json`` or ``cdk synth -c key=value``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from constructs import Node

__all__ = [
    "CONTEXT_ALARM_PREFIXES",
    "CONTEXT_ANTHROPIC_SECRET_NAME",
    "CONTEXT_COGNITO_CLIENT_ID",
    "CONTEXT_COGNITO_USER_POOL_ID",
    "CONTEXT_DEFAULT_GITHUB_REPO",
    "CONTEXT_LAYER_ASSET_DIR",
    "CONTEXT_MODEL",
    "CONTEXT_STATE_MACHINE_NAME",
    "CONTEXT_TARGETS",
    "CONTEXT_WATCHED_LOG_GROUPS",
    "FixloopConfig",
]

CONTEXT_MODEL = "fixloop:model"
"""Default model spec of new investigations (``FIXLOOP_MODEL``): bedrock[:ID], anthropic[:ID]."""
CONTEXT_ANTHROPIC_SECRET_NAME = "fixloop:anthropic_secret_name"
"""Name of a Secrets Manager secret holding an Anthropic API key; empty: none."""
CONTEXT_LAYER_ASSET_DIR = "fixloop:layer_asset_dir"
"""A prebuilt layer directory (with ``python/`` inside) used instead of bundling with pip."""
CONTEXT_STATE_MACHINE_NAME = "fixloop:state_machine_name"
"""Physical name of the investigation state machine (one per account and region)."""
CONTEXT_ALARM_PREFIXES = "fixloop:alarm_prefixes"
"""Alarm name prefixes (a list) the alarm rule is limited to; empty or unset: every alarm of
the account and region that goes into ALARM."""
CONTEXT_WATCHED_LOG_GROUPS = "fixloop:watched_log_groups"
"""Names of log groups of this account and region (a list) to subscribe to ``logs_trigger``
from this stack; others are subscribed by the onboarding template in their own stack."""
CONTEXT_TARGETS = "fixloop:targets"
"""A JSON object: alarm names or log group globs -> ``{"github_repo": "OWNER/REPO",
"branch": "main"}`` (or ``{"repo": a clone source, ...}``), the triggers' ``FIXLOOP_TARGETS``."""
CONTEXT_DEFAULT_GITHUB_REPO = "fixloop:default_github_repo"
"""OWNER/REPO for signals no target matches (``FIXLOOP_DEFAULT_GITHUB_REPO``); empty: none."""

CONTEXT_COGNITO_USER_POOL_ID = "fixloop:cognito_user_pool_id"
"""The Cognito user pool whose JWTs the live WebSocket API and MCP accept; empty: none (every
connection is refused until the auth construct provides one)."""
CONTEXT_COGNITO_CLIENT_ID = "fixloop:cognito_client_id"
"""The app client of that user pool the tokens must be issued to."""

_GITHUB_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class FixloopConfig:
    model: str = "bedrock"
    anthropic_secret_name: str | None = None
    layer_asset_dir: str | None = None
    state_machine_name: str = "fixloop-investigation"
    alarm_prefixes: tuple[str, ...] = ()
    watched_log_groups: tuple[str, ...] = ()
    targets: dict[str, dict[str, str]] = field(default_factory=dict, hash=False)
    default_github_repo: str = ""
    cognito_user_pool_id: str = ""
    cognito_client_id: str = ""

    def __post_init__(self) -> None:
        _check_targets(self.targets, source="targets")
        if self.default_github_repo and not _GITHUB_REPO.match(self.default_github_repo):
            raise ValueError(
                f"default_github_repo must be OWNER/REPO, got {self.default_github_repo!r}"
            )

    @property
    def targets_json(self) -> str:
        """:attr:`targets` as the triggers' ``FIXLOOP_TARGETS`` (compact JSON, keys sorted)."""
        return json.dumps(self.targets, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_context(cls, node: Node) -> FixloopConfig:
        defaults = cls()
        return cls(
            model=_string(node, CONTEXT_MODEL) or defaults.model,
            anthropic_secret_name=_string(node, CONTEXT_ANTHROPIC_SECRET_NAME),
            layer_asset_dir=_string(node, CONTEXT_LAYER_ASSET_DIR),
            state_machine_name=(
                _string(node, CONTEXT_STATE_MACHINE_NAME) or defaults.state_machine_name
            ),
            alarm_prefixes=_strings(node, CONTEXT_ALARM_PREFIXES),
            watched_log_groups=_strings(node, CONTEXT_WATCHED_LOG_GROUPS),
            targets=_targets(node, CONTEXT_TARGETS),
            default_github_repo=_string(node, CONTEXT_DEFAULT_GITHUB_REPO) or "",
            cognito_user_pool_id=_string(node, CONTEXT_COGNITO_USER_POOL_ID) or "",
            cognito_client_id=_string(node, CONTEXT_COGNITO_CLIENT_ID) or "",
        )


def _string(node: Node, key: str) -> str | None:
    """A context value as a non-empty string, or None when unset or empty."""
    value = node.try_get_context(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"context {key!r} must be a string, got {value!r}")
    return value


def _json_or_value(node: Node, key: str) -> Any:
    """The context value, decoded when it is a JSON string: ``cdk synth -c key=value`` passes
    every value as a string, ``cdk.json`` and ``App(context=...)`` pass JSON values as they are."""
    value = node.try_get_context(key)
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"context {key!r} is not valid JSON: {exc}") from exc
    return value


def _strings(node: Node, key: str) -> tuple[str, ...]:
    """A list of non-empty strings (duplicates dropped): a JSON list, or one comma-separated
    string."""
    value = _json_or_value(node, key)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"context {key!r} must be a list of strings, got {value!r}")
    items = tuple(v.strip() for v in value)
    if not all(items):
        raise ValueError(f"context {key!r} has an empty entry: {value!r}")
    return tuple(dict.fromkeys(items))


def _targets(node: Node, key: str) -> dict[str, dict[str, str]]:
    value = _json_or_value(node, key)
    if value is None or value == "":
        return {}
    _check_targets(value, source=f"context {key!r}")
    return {str(k): dict(v) for k, v in value.items()}


def _check_targets(value: object, *, source: str) -> None:
    """Fail synth on a target the triggers would refuse at run time (fixloop.agent.triggers)."""
    if not isinstance(value, dict):
        raise TypeError(f"{source} must be a JSON object, got {value!r}")
    for pattern, target in value.items():
        where = f"{source}[{pattern!r}]"
        if not isinstance(target, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in target.items()
        ):
            raise TypeError(f"{where} must be an object of strings, got {target!r}")
        if not (target.get("github_repo") or target.get("repo")):
            raise ValueError(f"{where} needs github_repo (OWNER/REPO) or repo")
        github_repo = target.get("github_repo", "")
        if github_repo and not _GITHUB_REPO.match(github_repo):
            raise ValueError(f"{where}: github_repo must be OWNER/REPO, got {github_repo!r}")
