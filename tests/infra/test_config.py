"""The app's configuration from CDK context (stacks/config.py)."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest

from stacks import FixloopConfig
from stacks.config import (
    CONTEXT_ALARM_EMAIL,
    CONTEXT_ALARM_PREFIXES,
    CONTEXT_ANTHROPIC_SECRET_NAME,
    CONTEXT_DAILY_TOKEN_BUDGET,
    CONTEXT_DEFAULT_GITHUB_REPO,
    CONTEXT_MODEL,
    CONTEXT_SANDBOX_EGRESS_DOMAINS,
    CONTEXT_TARGETS,
    CONTEXT_UNVERIFIED_PULL_REQUESTS,
    CONTEXT_VERIFY_ATTEMPTS,
    CONTEXT_WATCHED_LOG_GROUPS,
)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({CONTEXT_MODEL: "openai:gpt"}, "model must be"),
        ({CONTEXT_ALARM_EMAIL: "not-an-address"}, "alarm_email"),
        ({CONTEXT_DAILY_TOKEN_BUDGET: "lots"}, "whole number"),
        ({CONTEXT_SANDBOX_EGRESS_DOMAINS: '["https://pypi.acme.example"]'}, "egress_domains"),
        ({CONTEXT_SANDBOX_EGRESS_DOMAINS: "*"}, "egress_domains"),
        ({CONTEXT_SANDBOX_EGRESS_DOMAINS: "PyPI.acme.example"}, "egress_domains"),
        ({CONTEXT_UNVERIFIED_PULL_REQUESTS: "open"}, "unverified_pull_requests"),
        ({CONTEXT_VERIFY_ATTEMPTS: "99"}, "verify_attempts"),
    ],
)
def test_bad_configuration_fails_synth_with_the_reason(
    context: dict[str, str], message: str
) -> None:
    # Given / When an app's configuration is read / Then a clear error names the setting
    with pytest.raises((ValueError, TypeError), match=message):
        FixloopConfig.from_context(cdk.App(context=context).node)


def test_config_defaults_and_context() -> None:
    # Given apps with and without fixloop context
    bare = cdk.App()
    configured = cdk.App(
        context={CONTEXT_MODEL: "anthropic:claude-x", CONTEXT_ANTHROPIC_SECRET_NAME: ""}
    )

    # When the configuration is read
    # Then defaults apply, and empty strings mean "not set"
    assert FixloopConfig.from_context(bare.node) == FixloopConfig()
    assert FixloopConfig.from_context(bare.node).model == "bedrock"
    assert FixloopConfig.from_context(configured.node) == FixloopConfig(model="anthropic:claude-x")
    people = cdk.App(
        context={
            "fixloop:slack_channel": "C1",
            "fixloop:linear_team_id": "team",
            "fixloop:human_timeout_seconds": "3600",
            "fixloop:require_approval": "true",
        }
    )
    assert FixloopConfig.from_context(people.node) == FixloopConfig(
        slack_channel="C1", linear_team_id="team", human_timeout_seconds=3600, require_approval=True
    )
    verifying = cdk.App(
        context={CONTEXT_UNVERIFIED_PULL_REQUESTS: "refuse", CONTEXT_VERIFY_ATTEMPTS: "5"}
    )
    assert FixloopConfig.from_context(verifying.node) == FixloopConfig(
        unverified_pull_requests="refuse", verify_attempts=5
    )
    assert (FixloopConfig().unverified_pull_requests, FixloopConfig().verify_attempts) == (
        "draft",
        3,
    )


def test_trigger_context_from_cdk_json_or_the_command_line() -> None:
    # Given the same trigger settings as JSON values (cdk.json, App(context=...)) and as the
    # strings `cdk synth -c key=value` passes
    targets = {"orders-*": {"github_repo": "acme/orders", "branch": "main"}}
    as_json = cdk.App(
        context={
            CONTEXT_WATCHED_LOG_GROUPS: ["/aws/lambda/orders", "/ecs/api"],
            CONTEXT_ALARM_PREFIXES: ["orders-"],
            CONTEXT_TARGETS: targets,
            CONTEXT_DEFAULT_GITHUB_REPO: "acme/app",
        }
    )
    as_strings = cdk.App(
        context={
            CONTEXT_WATCHED_LOG_GROUPS: '["/aws/lambda/orders", "/ecs/api"]',
            CONTEXT_ALARM_PREFIXES: "orders-",
            CONTEXT_TARGETS: json.dumps(targets),
            CONTEXT_DEFAULT_GITHUB_REPO: "acme/app",
        }
    )

    # When the configuration is read / Then both give the same settings
    config = FixloopConfig.from_context(as_json.node)
    assert FixloopConfig.from_context(as_strings.node) == config
    assert config.watched_log_groups == ("/aws/lambda/orders", "/ecs/api")
    assert config.alarm_prefixes == ("orders-",)
    assert json.loads(config.targets_json) == targets
    assert config.default_github_repo == "acme/app"
    # And the empty values of cdk.json are the defaults
    cdk_json = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]
    assert FixloopConfig.from_context(cdk.App(context=cdk_json).node) == FixloopConfig()
    # And targets the triggers would refuse fail synth, naming the entry
    for bad, error in (
        ({"x": {"branch": "main"}}, ValueError),
        ({"x": {"github_repo": "not-a-repo"}}, ValueError),
        ({"x": "acme/orders"}, TypeError),
        (["acme/orders"], TypeError),
    ):
        app = cdk.App(context={CONTEXT_TARGETS: json.dumps(bad)})
        with pytest.raises(error, match="fixloop:targets"):
            FixloopConfig.from_context(app.node)
    with pytest.raises(TypeError, match="fixloop:watched_log_groups"):
        FixloopConfig.from_context(cdk.App(context={CONTEXT_WATCHED_LOG_GROUPS: [1]}).node)


def test_sandbox_egress_domains_from_cdk_json_or_the_command_line() -> None:
    # Given added domains as a JSON list (cdk.json) and as the strings `-c` passes
    as_json = cdk.App(context={CONTEXT_SANDBOX_EGRESS_DOMAINS: ["pypi.acme.example", "*.acme.io"]})
    as_string = cdk.App(context={CONTEXT_SANDBOX_EGRESS_DOMAINS: "pypi.acme.example,*.acme.io"})

    # When / Then both give the same list, subdomain wildcards included
    config = FixloopConfig.from_context(as_json.node)
    assert config.sandbox_egress_domains == ("pypi.acme.example", "*.acme.io")
    assert FixloopConfig.from_context(as_string.node) == config
