"""CloudFormation parameters of the standalone (AWS Marketplace) template.

A CDK deployment reads its settings from context (stacks/config.py) at synth; a template
deployed from the Marketplace or the CloudFormation console has no synth step, so the
settings a user must choose become parameters with constraints, grouped for the console by
``AWS::CloudFormation::Interface``. :func:`add_parameters` makes them and returns the
configuration with their values (tokens) in place of the context's.

What stays fixed at package time: the alarm rule watches every alarm but fixloop's own, no
log group is subscribed by this stack (the onboarding template does it in the user's stacks),
no email is subscribed to the alarm topic (subscribe to output ``AlarmTopicArn``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import aws_cdk as cdk

from stacks.config import (
    GITHUB_ASSOCIATION,
    LINEAR_ID,
    MODEL_PATTERN,
    SLACK_ID,
    FixloopConfig,
    People,
    id_list_pattern,
)
from stacks.nag import acknowledge

__all__ = [
    "ASSETS_BUCKET",
    "ASSETS_PREFIX",
    "DOMAINS_PATTERN",
    "IMAGE_URI_PATTERN",
    "SECRET_NAME_PATTERN",
    "TARGETS_PATTERN",
    "add_parameters",
]

ASSETS_BUCKET = "AssetsBucket"
"""Parameter named by the synthesizer (``${AssetsBucket}``): where the asset zips are."""
ASSETS_PREFIX = "AssetsPrefix"
SECRET_NAME_PATTERN = r"^[A-Za-z0-9/_+=.@-]{1,512}$"
IMAGE_URI_PATTERN = (
    r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9][a-z0-9._/-]*"
    r"(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[a-f0-9]{64})$"
)
"""An image in an ECR registry (the Marketplace's or the account's), by tag or digest."""
_WS = r"[ \t\r\n]*"
_JSON_STRING = r'"([^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
_MEMBER = rf"{_JSON_STRING}{_WS}:{_WS}{_JSON_STRING}"
_TARGET = (
    # an object of strings, with github_repo or repo among its keys
    rf'\{{(?=[^}}]*"(github_repo|repo)"{_WS}:){_WS}{_MEMBER}{_WS}(,{_WS}{_MEMBER}{_WS})*\}}'
)
_TARGET_MEMBER = rf"{_JSON_STRING}{_WS}:{_WS}{_TARGET}"
TARGETS_PATTERN = rf"^{_WS}\{{{_WS}({_TARGET_MEMBER}{_WS}(,{_WS}{_TARGET_MEMBER}{_WS})*)?\}}{_WS}$"
"""The ``Targets`` JSON as CloudFormation can check it (a parameter's ``AllowedPattern``, a
Java regular expression over the whole value; a template's Rules have no JSON function):
an object whose values are objects of strings naming ``github_repo`` or ``repo``, in JSON's
own syntax (strings with their escapes, whitespace). Not checked there, only by the function
at run time: the values' formats (OWNER/REPO, a branch name), duplicate keys, unknown keys
(ignored)."""
_DOMAIN = r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}"
DOMAINS_PATTERN = rf"^({_DOMAIN}(,{_DOMAIN})*)?$"
"""Comma-separated domains (``*.`` allowed first), or nothing."""

_LABELS = {
    "ModelSpec": "Default model",
    "AnthropicSecretName": "Anthropic API key secret",
    "GitHubSecretName": "GitHub App secret",
    "DefaultGitHubRepo": "Default repository",
    "Targets": "Targets (JSON)",
    "SandboxImageUri": "Sandbox image URI",
    "SandboxEgressDomains": "More domains the sandbox may reach",
    "GitHubTrustedAssociations": "GitHub associations heard",
    "SlackTeamIds": "Slack workspaces heard",
    "SlackAppId": "Slack app id",
    "SlackAllowedUsers": "Slack users heard",
    "LinearOrganizationId": "Linear organization heard",
    "LinearAllowedUsers": "Linear users heard",
    "LinearAllowedTeams": "Linear teams heard",
    ASSETS_BUCKET: "Assets bucket",
    ASSETS_PREFIX: "Assets key prefix",
}


def add_parameters(stack: cdk.Stack, config: FixloopConfig) -> FixloopConfig:
    """Add the parameters to ``stack`` and return ``config`` with their values."""

    def parameter(
        name: str,
        *,
        description: str,
        allowed_pattern: str,
        constraint_description: str,
        default: str | None = None,
        max_length: int | None = None,
    ) -> cdk.CfnParameter:
        return cdk.CfnParameter(
            stack,
            name,
            type="String",
            description=description,
            allowed_pattern=allowed_pattern,
            constraint_description=constraint_description,
            default=default,
            max_length=max_length,
        )

    model = parameter(
        "ModelSpec",
        default="bedrock",
        allowed_pattern=MODEL_PATTERN,
        constraint_description="bedrock[:MODEL_ID] or anthropic[:MODEL]",
        description="Default model of new investigations: bedrock (Amazon Bedrock, no key "
        "needed) or anthropic (the Anthropic API), optionally with a model id after a colon.",
    )
    anthropic = parameter(
        "AnthropicSecretName",
        default="fixloop/anthropic",
        allowed_pattern=SECRET_NAME_PATTERN,
        constraint_description="a Secrets Manager secret name",
        description="Secret with the Anthropic API key (only read with an anthropic model).",
    )
    github = parameter(
        "GitHubSecretName",
        default="fixloop/github-app",
        allowed_pattern=SECRET_NAME_PATTERN,
        constraint_description="a Secrets Manager secret name",
        description="Secret with the GitHub App's app_id, private_key and installation_id "
        "(or a token) that pull requests are opened with.",
    )
    repo = parameter(
        "DefaultGitHubRepo",
        default="",
        allowed_pattern=r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?$",
        constraint_description="OWNER/REPO, or empty",
        description="OWNER/REPO investigated for signals no target matches; empty: none.",
    )
    targets = parameter(
        "Targets",
        default="{}",
        allowed_pattern=TARGETS_PATTERN,
        max_length=4000,
        constraint_description='a JSON object: name or glob -> {"github_repo": "OWNER/REPO", '
        '"branch": "..."} (or "repo" for another clone source), strings only',
        description='JSON: alarm names or log group globs -> {"github_repo": "OWNER/REPO", '
        '"branch": "main"}.',
    )
    image = parameter(
        "SandboxImageUri",
        allowed_pattern=IMAGE_URI_PATTERN,
        constraint_description="an ECR image URI, by tag or @sha256 digest",
        description="The sandbox container image (the Marketplace listing's image, or one "
        "built from sandbox/Dockerfile and pushed to your ECR).",
    )
    egress = parameter(
        "SandboxEgressDomains",
        default="",
        allowed_pattern=DOMAINS_PATTERN,
        max_length=4000,
        constraint_description="comma-separated domain names (*.DOMAIN for subdomains), or empty",
        description="Domains the sandbox may resolve besides GitHub, the public package "
        "indexes and the AWS endpoints it needs (e.g. a private package index); empty: none.",
    )
    people = _people_parameters(parameter)
    bucket = parameter(
        ASSETS_BUCKET,
        allowed_pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        constraint_description="an S3 bucket name",
        description="Bucket holding the function and layer zips of this release, in this region.",
    )
    prefix = parameter(
        ASSETS_PREFIX,
        default="",
        allowed_pattern=r"^([A-Za-z0-9!_.*'()/-]+/)?$",
        constraint_description="empty, or a key prefix ending with /",
        description="Key prefix of the zips in the bucket (e.g. fixloop/1.0.0/).",
    )
    acknowledge(
        stack,
        "CloudFormation-Validate::W2509",
        "AnthropicSecretName and GitHubSecretName hold the names of Secrets Manager secrets, "
        "not secret values: nothing to hide with NoEcho.",
    )
    groups = {
        "Model": [model, anthropic],
        "GitHub": [github, repo, targets],
        "Sandbox": [image, egress],
        "Who may reach the agent": list(people.values()),
        "Release assets": [bucket, prefix],
    }
    stack.template_options.metadata = {
        "AWS::CloudFormation::Interface": {
            "ParameterGroups": [
                {"Label": {"default": label}, "Parameters": [p.node.id for p in params]}
                for label, params in groups.items()
            ],
            "ParameterLabels": {
                p.node.id: {"default": _LABELS[p.node.id]}
                for params in groups.values()
                for p in params
            },
        }
    }
    return dataclasses.replace(
        config,
        model=model.value_as_string,
        anthropic_secret_name=anthropic.value_as_string,
        github_secret_name=github.value_as_string,
        default_github_repo=repo.value_as_string,
        targets={},
        targets_parameter=targets.value_as_string,
        sandbox_image_uri=image.value_as_string,
        sandbox_egress_domains=(egress.value_as_string,),
        alarm_prefixes=(),
        watched_log_groups=(),
        alarm_email="",
        daily_token_budget=0,
        people=People(
            github_trusted_associations=(people["GitHubTrustedAssociations"].value_as_string,),
            slack_team_id=(people["SlackTeamIds"].value_as_string,),
            slack_app_id=people["SlackAppId"].value_as_string,
            slack_allowed_users=(people["SlackAllowedUsers"].value_as_string,),
            linear_organization_id=people["LinearOrganizationId"].value_as_string,
            linear_allowed_users=(people["LinearAllowedUsers"].value_as_string,),
            linear_allowed_teams=(people["LinearAllowedTeams"].value_as_string,),
        ),
    )


def _people_parameters(parameter: Callable[..., cdk.CfnParameter]) -> dict[str, cdk.CfnParameter]:
    """Who may reach the agent (stacks.config.People). Empty: the workspace, app and
    organization the Slack bot token and the Linear API key belong to, anyone in them."""
    github = GITHUB_ASSOCIATION
    return {
        "GitHubTrustedAssociations": parameter(
            "GitHubTrustedAssociations",
            default="OWNER,MEMBER,COLLABORATOR",
            allowed_pattern=rf"^{github}(,{github})*$",
            constraint_description="comma-separated author_association values, e.g. OWNER,MEMBER",
            description="Authors whose pull request reviews and comments reach the "
            "investigation, by their author_association.",
        ),
        "SlackTeamIds": parameter(
            "SlackTeamIds",
            default="",
            allowed_pattern=id_list_pattern(SLACK_ID),
            constraint_description="comma-separated Slack team ids (T...), or empty",
            description="Slack workspaces whose people may reach the agent; empty: the "
            "workspace of the bot token.",
        ),
        "SlackAppId": parameter(
            "SlackAppId",
            default="",
            allowed_pattern=rf"^({SLACK_ID})?$",
            constraint_description="a Slack app id (A...), or empty",
            description="The Slack app whose events are heard; empty: the bot token's app "
            "(bots.info: the bot needs the users:read scope).",
        ),
        "SlackAllowedUsers": parameter(
            "SlackAllowedUsers",
            default="",
            allowed_pattern=id_list_pattern(SLACK_ID),
            constraint_description="comma-separated Slack user ids (U... or W...), or empty",
            description="Only these Slack users are heard; empty: anyone of the workspace.",
        ),
        "LinearOrganizationId": parameter(
            "LinearOrganizationId",
            default="",
            allowed_pattern=rf"^({LINEAR_ID})?$",
            constraint_description="a Linear organization id (a UUID), or empty",
            description="The Linear organization whose comments are heard; empty: the API "
            "key's organization.",
        ),
        "LinearAllowedUsers": parameter(
            "LinearAllowedUsers",
            default="",
            allowed_pattern=id_list_pattern(LINEAR_ID),
            constraint_description="comma-separated Linear user ids (UUIDs), or empty",
            description="Only these Linear users are heard; empty: anyone of the organization.",
        ),
        "LinearAllowedTeams": parameter(
            "LinearAllowedTeams",
            default="",
            allowed_pattern=id_list_pattern(LINEAR_ID),
            constraint_description="comma-separated Linear team ids (UUIDs), or empty",
            description="Only comments on issues of these Linear teams are heard; empty: any.",
        ),
    }
