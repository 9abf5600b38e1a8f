"""What each function may touch (stacks/constructs/grants.py, from the catalogue's capabilities):
models, secrets, blobs, the inbox, itself."""

from __future__ import annotations

import json
from typing import Any

from fixloop.functions import LOOP_STEPS
from tests.infra.support import (
    GITHUB_SECRET_NAME,
    SECRET_NAME,
    actions,
    all_function_ids,
    policy_of_role,
    resources,
    role_of_function,
    secret_ids,
    state_machine_arn_json,
    statement_resources,
    table_ids,
)

CHANNEL_FUNCTIONS = ("slack_events", "linear_webhook", "investigations_api")


def test_only_model_turn_invokes_bedrock_and_only_named_functions_read_secrets(
    template_json: dict[str, Any],
) -> None:
    # Given each function's policy statements
    by_function = {
        name: policy_of_role(template_json, role_of_function(template_json, name))
        for name in [*(spec.folder for spec in LOOP_STEPS), "repo_token"]
    }

    # When the Bedrock and Secrets Manager statements are picked out
    def granted(name: str, prefix: str) -> list[dict[str, Any]]:
        return [s for s in by_function[name] if any(a.startswith(prefix) for a in actions(s))]

    # Then only model_turn invokes models and reads the Anthropic key; only deliver and
    # repo_token read the GitHub credentials; the steps that post to Slack and Linear read
    # those two credentials; each on scoped (not "*") resources
    channel_credentials = [
        {"Ref": k} for k in secret_ids(template_json, "SlackBotToken", "LinearApiKey")
    ]
    posts = {"prepare", "deliver", "mark_failed", "wait_for_human"}
    github_readers = {"deliver", "repo_token"}

    def github(name: str) -> list[dict[str, Any]]:
        return [
            s
            for s in granted(name, "secretsmanager:")
            if GITHUB_SECRET_NAME in json.dumps(s["Resource"])
        ]

    for name in by_function:
        if name == "model_turn":
            continue
        assert not granted(name, "bedrock:"), name
        others = [
            r
            for s in granted(name, "secretsmanager:")
            if s not in github(name)
            for r in statement_resources(s)
        ]
        assert others == (channel_credentials if name in posts else []), name
        assert bool(github(name)) == (name in github_readers), name
    for name in github_readers:
        (statement,) = github(name)
        assert set(actions(statement)) == {
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
        }
        assert f":secret:{GITHUB_SECRET_NAME}-??????" in json.dumps(statement["Resource"])
    (bedrock,) = granted("model_turn", "bedrock:")
    assert set(actions(bedrock)) == {
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
    }
    arns = json.dumps(statement_resources(bedrock))
    assert "*" not in statement_resources(bedrock)
    assert "foundation-model/anthropic." in arns and "inference-profile/" in arns
    (secret,) = granted("model_turn", "secretsmanager:")
    assert f":secret:{SECRET_NAME}-??????" in json.dumps(secret["Resource"])


def test_blobs_only_for_the_functions_that_store_blobs(template_json: dict[str, Any]) -> None:
    # Given each loop function's policy statements
    # When the S3 actions are collected
    s3_actions = {
        name: sorted(
            a
            for s in policy_of_role(template_json, role_of_function(template_json, name))
            for a in actions(s)
            if a.startswith("s3:")
        )
        for name in (spec.folder for spec in LOOP_STEPS)
    }

    # Then prepare, model_turn, run_tool and deliver (the workspace snapshot) read and write
    # objects, dispatch_tool reads (offloaded event bodies); mark_failed has none
    rw = ["s3:GetObject", "s3:ListBucket", "s3:PutObject"]
    assert s3_actions == {
        "prepare": rw,
        "model_turn": rw,
        "run_tool": rw,
        "deliver": rw,
        "mark_failed": [],
        "dispatch_tool": ["s3:GetObject"],
        "wait_for_human": [],
    }


def test_channel_functions_reach_inbox_waits_their_secret_and_task_tokens(
    template_json: dict[str, Any],
) -> None:
    tables = table_ids(template_json)
    signing = dict(
        zip(
            ("slack_events", "linear_webhook"),
            secret_ids(template_json, "SlackSigningSecret", "LinearWebhookSecret"),
            strict=True,
        )
    )
    for name in CHANNEL_FUNCTIONS:
        # Given the function's role
        statements = policy_of_role(template_json, role_of_function(template_json, name))

        def granted(prefix: str, statements: list[dict[str, Any]] = statements) -> list[Any]:
            return [s for s in statements if any(a.startswith(prefix) for a in actions(s))]

        # Then it writes the inbox and the waits, answers task tokens and starts executions
        touched = {r["Fn::GetAtt"][0] for s in granted("dynamodb:") for r in statement_resources(s)}
        assert {tables["Inbox"], tables["Waits"]} <= touched, name
        assert tables["Sandboxes"] not in touched and tables["Fingerprints"] not in touched
        assert sorted(a for s in granted("states:") for a in actions(s)) == [
            "states:SendTaskSuccess",
            "states:StartExecution",
        ], name
        assert all(statement_resources(s) == [state_machine_arn_json()] for s in granted("states:"))
        # And it reads its own signing secret only (the REST API none: IAM authorizes it)
        reads = [r for s in granted("secretsmanager:") for r in statement_resources(s)]
        assert reads == ([{"Ref": signing[name]}] if name in signing else []), name
        assert all(actions(s) == ["secretsmanager:GetSecretValue"] for s in granted("secrets"))


def test_slack_function_invokes_only_itself(template_json: dict[str, Any]) -> None:
    fn_id = all_function_ids(template_json)["slack_events"]
    role_id = role_of_function(template_json, "slack_events")
    invokers = [
        (p["Properties"]["Roles"], s)
        for p in resources(template_json, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "lambda:InvokeFunction" in actions(s)
        and any(
            isinstance(r, dict) and r.get("Fn::GetAtt", [None])[0] == fn_id
            for r in statement_resources(s)
        )
    ]
    assert len(invokers) == 1
    roles, statement = invokers[0]
    assert roles == [{"Ref": role_id}]
    assert statement_resources(statement) == [{"Fn::GetAtt": [fn_id, "Arn"]}]
