"""Deployment settings read from CDK context (``cdk.json`` or ``cdk synth -c key=value``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk

if TYPE_CHECKING:
    from constructs import Node

__all__ = [
    "COGNITO_DOMAIN_PREFIX_PATTERN",
    "CONTEXT_ALARM_EMAIL",
    "CONTEXT_ALARM_PREFIXES",
    "CONTEXT_ANTHROPIC_SECRET_NAME",
    "CONTEXT_COGNITO_DOMAIN_PREFIX",
    "CONTEXT_DAILY_TOKEN_BUDGET",
    "CONTEXT_DEFAULT_GITHUB_REPO",
    "CONTEXT_GITHUB_SECRET_NAME",
    "CONTEXT_GITHUB_TRUSTED_ASSOCIATIONS",
    "CONTEXT_LAYER_ASSET_DIR",
    "CONTEXT_LINEAR_ALLOWED_TEAMS",
    "CONTEXT_LINEAR_ALLOWED_USERS",
    "CONTEXT_LINEAR_ORGANIZATION_ID",
    "CONTEXT_MODEL",
    "CONTEXT_SANDBOX_EGRESS_DOMAINS",
    "CONTEXT_SANDBOX_IMAGE_URI",
    "CONTEXT_SLACK_ALLOWED_USERS",
    "CONTEXT_SLACK_APP_ID",
    "CONTEXT_SLACK_TEAM_ID",
    "CONTEXT_STATE_MACHINE_NAME",
    "CONTEXT_TARGETS",
    "CONTEXT_WATCHED_LOG_GROUPS",
    "DOMAIN_PATTERN",
    "GITHUB_ASSOCIATION",
    "GITHUB_ASSOCIATIONS",
    "LINEAR_ID",
    "MODEL_PATTERN",
    "SLACK_ID",
    "FixloopConfig",
    "People",
    "id_list_pattern",
]

CONTEXT_MODEL = "fixloop:model"
"""Default model spec of new investigations (``FIXLOOP_MODEL``): bedrock[:ID], anthropic[:ID]."""
CONTEXT_ANTHROPIC_SECRET_NAME = "fixloop:anthropic_secret_name"
"""Name of a Secrets Manager secret holding an Anthropic API key; empty: none."""
CONTEXT_GITHUB_SECRET_NAME = "fixloop:github_secret_name"
"""Name of a Secrets Manager secret the deliver function opens pull requests with: JSON
``{"app_id", "private_key", "installation_id"}`` of a GitHub App (or ``{"token"}``); empty:
none (investigations end with a summary, delivery is blocked). Repo Token narrows it to a
read-only token with which the sandbox clones private repositories."""
CONTEXT_ALARM_EMAIL = "fixloop:alarm_email"
"""An address subscribed to fixloop's own alarms (topic ``fixloop-alarms``); empty: none."""
CONTEXT_DAILY_TOKEN_BUDGET = "fixloop:daily_token_budget"
"""Model tokens per day (input + output) above which the ``fixloop-token-budget`` alarm
fires; 0 or unset: no such alarm."""
CONTEXT_SANDBOX_IMAGE_URI = "fixloop:sandbox_image_uri"
"""A sandbox image already in ECR (URI by tag or digest) instead of building
sandbox/Dockerfile at deploy time (which needs Docker where ``cdk deploy`` runs)."""
CONTEXT_SANDBOX_EGRESS_DOMAINS = "fixloop:sandbox_egress_domains"
"""Domains (a list) the sandbox VPC may resolve besides the defaults
(stacks/constructs/egress.py): a private package index, another code host. ``*.example.com``
allows the subdomains of example.com."""
CONTEXT_COGNITO_DOMAIN_PREFIX = "fixloop:cognito_domain_prefix"
"""The prefix of the user pool's hosted UI, ``https://{prefix}.auth.{region}.amazoncognito.com``
(the live view signs in there); empty: ``fixloop-`` and 12 hex digits of the stack's id."""
CONTEXT_LAYER_ASSET_DIR = "fixloop:layer_asset_dir"
"""A prebuilt layer directory (with ``python/`` inside) used instead of bundling with pip."""
CONTEXT_STATE_MACHINE_NAME = "fixloop:state_machine_name"
"""Physical name of the investigation state machine (one per account and region)."""
CONTEXT_ALARM_PREFIXES = "fixloop:alarm_prefixes"
"""Alarm name prefixes (a list) the alarm rule is limited to; empty or unset: every alarm of
the account and region that goes into ALARM."""
CONTEXT_WATCHED_LOG_GROUPS = "fixloop:watched_log_groups"
"""Names of log groups of this account and region (a list) to subscribe to ``signal_trigger``
from this stack; others are subscribed by the onboarding template in their own stack."""
CONTEXT_TARGETS = "fixloop:targets"
"""A JSON object: alarm names or log group globs -> ``{"github_repo": "OWNER/REPO",
"branch": "main"}`` (or ``{"repo": a clone source, ...}``), the triggers' ``FIXLOOP_TARGETS``."""
CONTEXT_DEFAULT_GITHUB_REPO = "fixloop:default_github_repo"
"""OWNER/REPO for signals no target matches (``FIXLOOP_DEFAULT_GITHUB_REPO``); empty: none."""

CONTEXT_SLACK_CHANNEL = "fixloop:slack_channel"
"""Slack channel id where each investigation gets a thread (``FIXLOOP_SLACK_CHANNEL``)."""
CONTEXT_LINEAR_TEAM_ID = "fixloop:linear_team_id"
"""Linear team to open an issue in for each investigation (``FIXLOOP_LINEAR_TEAM_ID``)."""
CONTEXT_HUMAN_TIMEOUT_SECONDS = "fixloop:human_timeout_seconds"
"""How long a question waits for a reply before the investigation is parked."""
CONTEXT_REQUIRE_APPROVAL = "fixloop:require_approval"
"""``true``: a pull request waits for a person's approval (``FIXLOOP_REQUIRE_APPROVAL``)."""
CONTEXT_UNVERIFIED_PULL_REQUESTS = "fixloop:unverified_pull_requests"
"""``draft`` (default) or ``refuse``: what becomes of a fix fixloop could not verify
(``FIXLOOP_UNVERIFIED_PULL_REQUESTS``)."""
CONTEXT_VERIFY_ATTEMPTS = "fixloop:verify_attempts"
"""Tries at a verified fix per investigation (``FIXLOOP_VERIFY_ATTEMPTS``, default 3)."""

# Who may reach the agent (fixloop.config's settings of the same names; empty: its default,
# the workspace, app and organization the channel's credentials belong to, and GitHub's
# OWNER, MEMBER and COLLABORATOR). Lists as JSON or one comma-separated string.
CONTEXT_GITHUB_TRUSTED_ASSOCIATIONS = "fixloop:github_trusted_associations"
"""``author_association`` values whose reviews and comments reach the investigation."""
CONTEXT_SLACK_TEAM_ID = "fixloop:slack_team_id"
"""Slack workspaces (team ids) whose people may reach the agent."""
CONTEXT_SLACK_APP_ID = "fixloop:slack_app_id"
"""The Slack app whose events are heard (``api_app_id``)."""
CONTEXT_SLACK_ALLOWED_USERS = "fixloop:slack_allowed_users"
"""Slack user ids allowed to reach the agent; empty: anyone of the workspace."""
CONTEXT_LINEAR_ORGANIZATION_ID = "fixloop:linear_organization_id"
"""The Linear organization whose comments are heard."""
CONTEXT_LINEAR_ALLOWED_USERS = "fixloop:linear_allowed_users"
"""Linear user ids allowed to reach the agent; empty: anyone of the organization."""
CONTEXT_LINEAR_ALLOWED_TEAMS = "fixloop:linear_allowed_teams"
"""Linear team ids whose issues' comments are heard; empty: any team's."""

GITHUB_ASSOCIATIONS = (
    "COLLABORATOR",
    "CONTRIBUTOR",
    "FIRST_TIMER",
    "FIRST_TIME_CONTRIBUTOR",
    "MANNEQUIN",
    "MEMBER",
    "NONE",
    "OWNER",
)
"""GitHub's ``author_association`` values (its REST API's AuthorAssociation)."""
GITHUB_ASSOCIATION = "(" + "|".join(GITHUB_ASSOCIATIONS) + ")"
SLACK_ID = "[A-Z0-9]{2,32}"
"""A Slack id (team, app, user): upper-case letters and digits."""
LINEAR_ID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
"""A Linear id (organization, user, team): a UUID."""


def id_list_pattern(item: str) -> str:
    """A comma-separated list of ``item``, or nothing (as the settings take them)."""
    return rf"^({item}(,{item})*)?$"


_GITHUB_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
MODEL_PATTERN = r"^(anthropic|bedrock)(:[A-Za-z0-9._:@/-]+)?$"
"""A model spec the stack accepts: provider, then optionally ``:`` and a model id (Bedrock:
a model or inference profile id; Anthropic: a model name)."""
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DOMAIN_PATTERN = r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$"
"""A domain a DNS Firewall domain list takes: lower-case labels, optionally ``*.`` first
(the subdomains of what follows)."""
COGNITO_DOMAIN_PREFIX_PATTERN = r"^(?!.*(aws|amazon|cognito))[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
"""A Cognito domain prefix: lower-case letters, digits and inner hyphens, at most 63, and
none of the words Cognito reserves."""


@dataclass(frozen=True)
class People:
    """Who may reach the agent through each inbound channel, as the functions that receive
    that channel's requests are told (:meth:`environment`). Empty: the application's default
    (fixloop.config). Values that are CloudFormation parameters (tokens) are checked by their
    own constraints."""

    github_trusted_associations: tuple[str, ...] = ()
    slack_team_id: tuple[str, ...] = ()
    slack_app_id: str = ""
    slack_allowed_users: tuple[str, ...] = ()
    linear_organization_id: str = ""
    linear_allowed_users: tuple[str, ...] = ()
    linear_allowed_teams: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, item, what in _PEOPLE_RULES:
            value = getattr(self, name)
            values = (value,) if isinstance(value, str) else value
            bad = [
                v
                for v in values
                if v and not cdk.Token.is_unresolved(v) and not re.fullmatch(item, v)
            ]
            if bad:
                raise ValueError(f"{name} must be {what}, got {bad!r}")

    def environment(self, channel: str) -> dict[str, str]:
        """The settings of the function that receives ``channel``'s requests (``github``,
        ``slack``, ``linear``): only those configured, so the others keep their default."""
        settings: dict[str, dict[str, tuple[str, ...] | str]] = {
            "github": {"GITHUB_TRUSTED_ASSOCIATIONS": self.github_trusted_associations},
            "slack": {
                "SLACK_TEAM_ID": self.slack_team_id,
                "SLACK_APP_ID": self.slack_app_id,
                "SLACK_ALLOWED_USERS": self.slack_allowed_users,
            },
            "linear": {
                "LINEAR_ORGANIZATION_ID": self.linear_organization_id,
                "LINEAR_ALLOWED_USERS": self.linear_allowed_users,
                "LINEAR_ALLOWED_TEAMS": self.linear_allowed_teams,
            },
        }
        return {
            f"FIXLOOP_{name}": value if isinstance(value, str) else ",".join(value)
            for name, value in settings.get(channel, {}).items()
            if value
        }

    @classmethod
    def from_context(cls, node: Node) -> People:
        return cls(
            github_trusted_associations=_strings(node, CONTEXT_GITHUB_TRUSTED_ASSOCIATIONS),
            slack_team_id=_strings(node, CONTEXT_SLACK_TEAM_ID),
            slack_app_id=_string(node, CONTEXT_SLACK_APP_ID) or "",
            slack_allowed_users=_strings(node, CONTEXT_SLACK_ALLOWED_USERS),
            linear_organization_id=_string(node, CONTEXT_LINEAR_ORGANIZATION_ID) or "",
            linear_allowed_users=_strings(node, CONTEXT_LINEAR_ALLOWED_USERS),
            linear_allowed_teams=_strings(node, CONTEXT_LINEAR_ALLOWED_TEAMS),
        )


_PEOPLE_RULES = (
    ("github_trusted_associations", GITHUB_ASSOCIATION, f"among {', '.join(GITHUB_ASSOCIATIONS)}"),
    ("slack_team_id", SLACK_ID, "Slack team ids (T...)"),
    ("slack_app_id", SLACK_ID, "a Slack app id (A...)"),
    ("slack_allowed_users", SLACK_ID, "Slack user ids (U... or W...)"),
    ("linear_organization_id", LINEAR_ID, "a Linear organization id (a UUID)"),
    ("linear_allowed_users", LINEAR_ID, "Linear user ids (UUIDs)"),
    ("linear_allowed_teams", LINEAR_ID, "Linear team ids (UUIDs)"),
)
"""Each setting of :class:`People`, what each of its values must match, and what that is."""


@dataclass(frozen=True)
class FixloopConfig:
    model: str = "bedrock"
    anthropic_secret_name: str | None = None
    github_secret_name: str | None = None
    layer_asset_dir: str | None = None
    state_machine_name: str = "fixloop-investigation"
    alarm_prefixes: tuple[str, ...] = ()
    watched_log_groups: tuple[str, ...] = ()
    targets: dict[str, dict[str, str]] = field(default_factory=dict, hash=False)
    default_github_repo: str = ""
    alarm_email: str = ""
    daily_token_budget: int = 0
    sandbox_image_uri: str = ""
    sandbox_egress_domains: tuple[str, ...] = ()
    """Added to the sandbox VPC's DNS allow-list (stacks/constructs/egress.py)."""
    targets_parameter: str = ""
    """A CloudFormation parameter's value (a token) used as ``FIXLOOP_TARGETS`` instead of
    :attr:`targets` (the standalone template, stacks/parameters.py)."""
    slack_channel: str = ""
    linear_team_id: str = ""
    human_timeout_seconds: int = 86_400
    require_approval: bool = False
    unverified_pull_requests: str = "draft"
    verify_attempts: int = 3
    people: People = field(default_factory=People)
    cognito_domain_prefix: str = ""
    """The hosted UI's domain prefix; empty: derived from the stack's id (stacks/constructs/
    auth.py)."""

    def __post_init__(self) -> None:
        if not 1 <= self.human_timeout_seconds <= 31_536_000:
            raise ValueError(
                f"human_timeout_seconds must be 1..31536000 (a year, the longest a task "
                f"token lives), got {self.human_timeout_seconds}"
            )
        _check_targets(self.targets, source="targets")
        # Values that are CloudFormation parameters are checked by their own constraints.
        if not cdk.Token.is_unresolved(self.model) and not re.match(MODEL_PATTERN, self.model):
            raise ValueError(
                f"model must be anthropic[:MODEL] or bedrock[:MODEL_ID], got {self.model!r}"
            )
        if self.alarm_email and not _EMAIL.match(self.alarm_email):
            raise ValueError(f"alarm_email is not an email address: {self.alarm_email!r}")
        bad_domains = [
            d
            for d in self.sandbox_egress_domains
            if not cdk.Token.is_unresolved(d) and not re.match(DOMAIN_PATTERN, d)
        ]
        if bad_domains:
            raise ValueError(
                f"sandbox_egress_domains must be domain names in lower case (optionally "
                f"*.DOMAIN), got {bad_domains!r}"
            )
        if self.cognito_domain_prefix and not re.match(
            COGNITO_DOMAIN_PREFIX_PATTERN, self.cognito_domain_prefix
        ):
            raise ValueError(
                "cognito_domain_prefix must be lower-case letters, digits and hyphens (at most "
                "63, not first or last) without aws, amazon or cognito, got "
                f"{self.cognito_domain_prefix!r}"
            )
        if self.unverified_pull_requests not in ("draft", "refuse"):
            raise ValueError(
                "unverified_pull_requests must be draft or refuse, got "
                f"{self.unverified_pull_requests!r}"
            )
        if not 1 <= self.verify_attempts <= 20:
            raise ValueError(f"verify_attempts must be 1..20, got {self.verify_attempts}")
        if self.daily_token_budget < 0:
            raise ValueError(f"daily_token_budget must be >= 0, got {self.daily_token_budget}")
        if (
            self.default_github_repo
            and not cdk.Token.is_unresolved(self.default_github_repo)
            and not _GITHUB_REPO.match(self.default_github_repo)
        ):
            raise ValueError(
                f"default_github_repo must be OWNER/REPO, got {self.default_github_repo!r}"
            )

    @property
    def targets_json(self) -> str:
        """:attr:`targets` as the triggers' ``FIXLOOP_TARGETS`` (compact JSON, keys sorted)."""
        if self.targets_parameter:
            return self.targets_parameter
        return json.dumps(self.targets, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_context(cls, node: Node) -> FixloopConfig:
        defaults = cls()
        return cls(
            model=_string(node, CONTEXT_MODEL) or defaults.model,
            anthropic_secret_name=_string(node, CONTEXT_ANTHROPIC_SECRET_NAME),
            github_secret_name=_string(node, CONTEXT_GITHUB_SECRET_NAME),
            layer_asset_dir=_string(node, CONTEXT_LAYER_ASSET_DIR),
            state_machine_name=(
                _string(node, CONTEXT_STATE_MACHINE_NAME) or defaults.state_machine_name
            ),
            alarm_prefixes=_strings(node, CONTEXT_ALARM_PREFIXES),
            watched_log_groups=_strings(node, CONTEXT_WATCHED_LOG_GROUPS),
            targets=_targets(node, CONTEXT_TARGETS),
            default_github_repo=_string(node, CONTEXT_DEFAULT_GITHUB_REPO) or "",
            alarm_email=_string(node, CONTEXT_ALARM_EMAIL) or "",
            daily_token_budget=_integer(node, CONTEXT_DAILY_TOKEN_BUDGET),
            sandbox_image_uri=_string(node, CONTEXT_SANDBOX_IMAGE_URI) or "",
            sandbox_egress_domains=_strings(node, CONTEXT_SANDBOX_EGRESS_DOMAINS),
            slack_channel=_string(node, CONTEXT_SLACK_CHANNEL) or "",
            linear_team_id=_string(node, CONTEXT_LINEAR_TEAM_ID) or "",
            human_timeout_seconds=int(
                _string(node, CONTEXT_HUMAN_TIMEOUT_SECONDS) or defaults.human_timeout_seconds
            ),
            require_approval=str(node.try_get_context(CONTEXT_REQUIRE_APPROVAL)).lower() == "true",
            unverified_pull_requests=(
                _string(node, CONTEXT_UNVERIFIED_PULL_REQUESTS) or defaults.unverified_pull_requests
            ),
            verify_attempts=_integer(node, CONTEXT_VERIFY_ATTEMPTS) or defaults.verify_attempts,
            people=People.from_context(node),
            cognito_domain_prefix=_string(node, CONTEXT_COGNITO_DOMAIN_PREFIX) or "",
        )


def _string(node: Node, key: str) -> str | None:
    """A context value as a non-empty string, or None when unset or empty."""
    value = node.try_get_context(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"context {key!r} must be a string, got {value!r}")
    return value


def _integer(node: Node, key: str) -> int:
    """A whole number (``-c key=5`` passes the string "5"); 0 when unset or empty."""
    value = node.try_get_context(key)
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"context {key!r} must be a whole number, got {value!r}")
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"context {key!r} must be a whole number, got {value!r}") from exc


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
    """Fail synth on a target the triggers would refuse at run time (fixloop.intake.triggers)."""
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
