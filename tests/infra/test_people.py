"""Who may reach the agent, from CDK context to the functions that check it: GitHub's trusted
associations to github_webhook, the Slack workspaces, app and users to slack_events, the
Linear organization, users and teams to linear_webhook. Unset, a function is told nothing and
keeps the application's default (the workspace, app and organization its channel's
credentials belong to), which it can learn: slack_events reads the bot token, linear_webhook
the API key, and nothing else of the posting credentials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from app import build_app
from stacks.config import (
    CONTEXT_GITHUB_TRUSTED_ASSOCIATIONS,
    CONTEXT_LAYER_ASSET_DIR,
    CONTEXT_LINEAR_ALLOWED_TEAMS,
    CONTEXT_LINEAR_ALLOWED_USERS,
    CONTEXT_LINEAR_ORGANIZATION_ID,
    CONTEXT_SLACK_ALLOWED_USERS,
    CONTEXT_SLACK_APP_ID,
    CONTEXT_SLACK_TEAM_ID,
    FixloopConfig,
    People,
)
from tests.infra.support import (
    actions,
    all_function_ids,
    policy_of_role,
    role_of_function,
    secret_ids,
    statement_resources,
)

ORGANIZATION = "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
TEAM = "0c5b6a7d-8e9f-4a1b-9c2d-3e4f5a6b7c8d"
USER = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
PEOPLE_VARIABLES = {
    "FIXLOOP_GITHUB_TRUSTED_ASSOCIATIONS",
    "FIXLOOP_SLACK_TEAM_ID",
    "FIXLOOP_SLACK_APP_ID",
    "FIXLOOP_SLACK_ALLOWED_USERS",
    "FIXLOOP_LINEAR_ORGANIZATION_ID",
    "FIXLOOP_LINEAR_ALLOWED_USERS",
    "FIXLOOP_LINEAR_ALLOWED_TEAMS",
}
CONTEXT = {
    # lists as `cdk deploy -c` passes them (a string) and as cdk.json has them (JSON)
    CONTEXT_GITHUB_TRUSTED_ASSOCIATIONS: "OWNER,MEMBER",
    CONTEXT_SLACK_TEAM_ID: '["T0ACME", "T0OPS"]',
    CONTEXT_SLACK_APP_ID: "A0FIXLOOP",
    CONTEXT_SLACK_ALLOWED_USERS: ["U0ANA", "W0BO"],
    CONTEXT_LINEAR_ORGANIZATION_ID: ORGANIZATION,
    CONTEXT_LINEAR_ALLOWED_USERS: USER,
    CONTEXT_LINEAR_ALLOWED_TEAMS: [TEAM],
}


def environments(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: template_json["Resources"][fn_id]["Properties"]["Environment"]["Variables"]
        for name, fn_id in all_function_ids(template_json).items()
    }


@pytest.fixture(scope="module")
def configured_template(
    tmp_path_factory: pytest.TempPathFactory, prebuilt_layer: Path
) -> dict[str, Any]:
    app = build_app(
        cdk.App(
            outdir=str(tmp_path_factory.mktemp("cdk.out")),
            context={CONTEXT_LAYER_ASSET_DIR: str(prebuilt_layer), **CONTEXT},
        )
    )
    template: dict[str, Any] = app.synth().get_stack_by_name("Fixloop").template
    return template


def test_people_are_read_from_context() -> None:
    # Given / When the context above is read
    people = FixloopConfig.from_context(cdk.App(context=CONTEXT).node).people
    # Then lists come as JSON or comma-separated strings alike
    assert people == People(
        github_trusted_associations=("OWNER", "MEMBER"),
        slack_team_id=("T0ACME", "T0OPS"),
        slack_app_id="A0FIXLOOP",
        slack_allowed_users=("U0ANA", "W0BO"),
        linear_organization_id=ORGANIZATION,
        linear_allowed_users=(USER,),
        linear_allowed_teams=(TEAM,),
    )
    # And each function is told only its own channel's, only what is set
    assert people.environment("slack") == {
        "FIXLOOP_SLACK_TEAM_ID": "T0ACME,T0OPS",
        "FIXLOOP_SLACK_APP_ID": "A0FIXLOOP",
        "FIXLOOP_SLACK_ALLOWED_USERS": "U0ANA,W0BO",
    }
    assert People(linear_allowed_teams=(TEAM,)).environment("linear") == {
        "FIXLOOP_LINEAR_ALLOWED_TEAMS": TEAM
    }
    assert People().environment("github") == {} and people.environment("") == {}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({CONTEXT_GITHUB_TRUSTED_ASSOCIATIONS: "OWNER,member"}, "github_trusted_associations"),
        ({CONTEXT_GITHUB_TRUSTED_ASSOCIATIONS: "EVERYONE"}, "github_trusted_associations"),
        ({CONTEXT_SLACK_TEAM_ID: "acme.slack.com"}, "slack_team_id must be Slack team ids"),
        ({CONTEXT_SLACK_APP_ID: "A1, A2"}, "slack_app_id"),
        ({CONTEXT_SLACK_ALLOWED_USERS: "@ana"}, "slack_allowed_users"),
        ({CONTEXT_LINEAR_ORGANIZATION_ID: "acme"}, "linear_organization_id"),
        ({CONTEXT_LINEAR_ALLOWED_USERS: "ana@acme.example"}, "linear_allowed_users"),
        ({CONTEXT_LINEAR_ALLOWED_TEAMS: "ENG"}, "linear_allowed_teams"),
        ({CONTEXT_SLACK_TEAM_ID: "T1,,T2"}, "empty entry"),
    ],
)
def test_bad_people_fail_synth_with_the_setting(context: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FixloopConfig.from_context(cdk.App(context=context).node)


def test_people_reach_exactly_the_functions_that_check_them(
    configured_template: dict[str, Any],
) -> None:
    # Given the functions of an app configured with who may reach the agent
    envs = environments(configured_template)
    # Then each inbound channel's function is told its channel's settings
    assert envs["github_webhook"]["FIXLOOP_GITHUB_TRUSTED_ASSOCIATIONS"] == "OWNER,MEMBER"
    slack = {k: v for k, v in envs["slack_events"].items() if k in PEOPLE_VARIABLES}
    assert slack == {
        "FIXLOOP_SLACK_TEAM_ID": "T0ACME,T0OPS",
        "FIXLOOP_SLACK_APP_ID": "A0FIXLOOP",
        "FIXLOOP_SLACK_ALLOWED_USERS": "U0ANA,W0BO",
    }
    linear = {k: v for k, v in envs["linear_webhook"].items() if k in PEOPLE_VARIABLES}
    assert linear == {
        "FIXLOOP_LINEAR_ORGANIZATION_ID": ORGANIZATION,
        "FIXLOOP_LINEAR_ALLOWED_USERS": USER,
        "FIXLOOP_LINEAR_ALLOWED_TEAMS": TEAM,
    }
    # And no other function is
    told = {name for name, env in envs.items() if PEOPLE_VARIABLES & set(env)}
    assert told == {"github_webhook", "slack_events", "linear_webhook"}


def test_by_default_functions_keep_the_application_default_and_can_learn_it(
    template_json: dict[str, Any],
) -> None:
    # Given the app without people configured
    envs = environments(template_json)
    # Then no function is told who may reach the agent (fixloop.config's defaults hold)
    assert not [name for name, env in envs.items() if PEOPLE_VARIABLES & set(env)]
    # And slack_events knows the bot token and linear_webhook the API key, to learn the
    # workspace, app and organization from, and nothing else of the posting settings
    token, key = secret_ids(template_json, "SlackBotToken", "LinearApiKey")
    slack, linear = envs["slack_events"], envs["linear_webhook"]
    assert slack["FIXLOOP_SLACK_BOT_TOKEN_ARN"] == {"Ref": token}
    assert linear["FIXLOOP_LINEAR_API_KEY_ARN"] == {"Ref": key}
    for env in (slack, linear):
        assert not {"FIXLOOP_SLACK_CHANNEL", "FIXLOOP_LINEAR_TEAM_ID"} & set(env)
    assert "FIXLOOP_LINEAR_API_KEY_ARN" not in slack
    assert "FIXLOOP_SLACK_BOT_TOKEN_ARN" not in linear

    # And each may read that one credential (and its signing secret), nothing more
    def reads(name: str) -> list[Any]:
        statements = policy_of_role(template_json, role_of_function(template_json, name))
        return [
            r
            for s in statements
            if any(a.startswith("secretsmanager:") for a in actions(s))
            for r in statement_resources(s)
        ]

    signing_slack, signing_linear = secret_ids(
        template_json, "SlackSigningSecret", "LinearWebhookSecret"
    )
    assert sorted(map(json.dumps, reads("slack_events"))) == sorted(
        json.dumps({"Ref": r}) for r in (token, signing_slack)
    )
    assert sorted(map(json.dumps, reads("linear_webhook"))) == sorted(
        json.dumps({"Ref": r}) for r in (key, signing_linear)
    )
