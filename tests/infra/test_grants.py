"""What each function may touch (stacks/constructs/grants.py, from the catalogue's capabilities):
models, secrets, blobs, the inbox, sandboxes, itself and the functions it invokes."""

from __future__ import annotations

import json
from typing import Any

from fixloop.functions import LOOP_STEPS
from fixloop.sandbox.protocol import result_key, snapshot_key
from tests.infra.support import (
    GITHUB_SECRET_NAME,
    SECRET_NAME,
    actions,
    all_function_ids,
    blobs_bucket_id,
    only,
    permissions_of,
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


def test_blobs_only_the_keys_each_function_reads_or_writes(
    template_json: dict[str, Any],
) -> None:
    # Given each loop function's policy statements and the bucket
    blobs_id = blobs_bucket_id(template_json)
    bucket = json.dumps({"Fn::GetAtt": [blobs_id, "Arn"]})

    def key_of(resource: Any) -> str:
        if json.dumps(resource) == bucket:
            return "(bucket)"
        (arn, key) = resource["Fn::Join"][1]
        assert json.dumps(arn) == bucket, resource
        return str(key).removeprefix("/")

    # When the S3 actions are collected with the keys they apply to (a listing with the
    # prefixes its condition allows)
    s3: dict[str, set[tuple[str, str]]] = {}
    for name in (spec.folder for spec in LOOP_STEPS):
        s3[name] = set()
        for statement in policy_of_role(template_json, role_of_function(template_json, name)):
            for action in (a for a in actions(statement) if a.startswith("s3:")):
                for resource in statement_resources(statement):
                    if action == "s3:ListBucket":
                        assert key_of(resource) == "(bucket)", name
                        (prefixes,) = statement["Condition"]["StringLike"].values()
                        s3[name] |= {(action, p) for p in prefixes}
                    else:
                        s3[name].add((action, key_of(resource)))

    # Then the steps that log read and write event bodies (events/), nothing else of the
    # bucket; run_tool reads what sandboxes put (their results), deliver and model_turn
    # (Route: a proposed pull request's change) their workspace snapshots, and each may
    # list only those keys (a missing one reads as none, not as
    # denied); dispatch_tool reads event bodies and signs what a sandbox restores and puts;
    # mark_failed and wait_for_human have none. No function lists the bucket freely, writes
    # what another reads from a sandbox, or reaches the whole bucket.
    events = {("s3:GetObject", "events/*"), ("s3:PutObject", "events/*")}
    snapshot, result = "sandboxes/*/workspace.json", "sandboxes/*/results/*.json"
    assert s3 == {
        "prepare": events,
        "model_turn": events | {("s3:GetObject", snapshot), ("s3:ListBucket", snapshot)},
        "run_tool": events | {("s3:GetObject", result), ("s3:ListBucket", result)},
        "deliver": events | {("s3:GetObject", snapshot), ("s3:ListBucket", snapshot)},
        "mark_failed": set(),
        "dispatch_tool": {
            ("s3:GetObject", "events/*"),
            ("s3:GetObject", snapshot),
            ("s3:PutObject", snapshot),
            ("s3:PutObject", result),
            ("s3:ListBucket", snapshot),
        },
        "wait_for_human": set(),
    }
    # And those keys are the runtime's own (fixloop.sandbox.protocol)
    assert (snapshot_key("*"), result_key("*", "*")) == (snapshot, result)


def test_only_the_dispatcher_invokes_repo_token(template_json: dict[str, Any]) -> None:
    # Given every IAM statement of the template and the Repo Token function
    fn_id = all_function_ids(template_json)["repo_token"]
    invokers = [
        (p["Properties"]["Roles"], s)
        for p in resources(template_json, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if any(a in ("lambda:InvokeFunction", "lambda:*", "*") for a in actions(s))
        and any(
            fn_id in json.dumps(r) or r == "*" or ":function:*" in json.dumps(r)
            for r in statement_resources(s)
        )
    ]

    # When / Then the one statement that may invoke it is the dispatcher's, on the function
    # itself (its unqualified ARN: no version or alias, no wildcard)
    assert len(invokers) == 1, invokers
    roles, statement = invokers[0]
    assert roles == [{"Ref": role_of_function(template_json, "dispatch_tool")}]
    assert statement_resources(statement) == [{"Fn::GetAtt": [fn_id, "Arn"]}]
    # And no service or account is given a resource policy on it
    assert not permissions_of(template_json, fn_id)
    # And only the dispatcher is told its name
    assert [
        name
        for name, fn in all_function_ids(template_json).items()
        if "FIXLOOP_REPO_TOKEN_FUNCTION"
        in template_json["Resources"][fn]["Properties"]["Environment"]["Variables"]
    ] == ["dispatch_tool"]


def test_deliver_and_mark_failed_stop_only_tasks_of_the_sandbox_cluster(
    template_json: dict[str, Any],
) -> None:
    # Given every function's ECS statements, the sandbox cluster and the Sandboxes table
    cluster_id, _ = only(template_json, "AWS::ECS::Cluster")
    tasks = f'":task/", {{"Ref": "{cluster_id}"}}, "/*"'
    sandboxes = table_ids(template_json)["Sandboxes"]

    def statements(name: str) -> list[dict[str, Any]]:
        return policy_of_role(template_json, role_of_function(template_json, name))

    ecs = {
        name: [s for s in statements(name) if any(a.startswith("ecs:") for a in actions(s))]
        for name in all_function_ids(template_json)
    }

    # When / Then only the dispatcher and the three functions that close an investigation
    # (the two steps, and Reconcile for an execution that ended without them) touch ECS at all
    assert sorted(n for n, found in ecs.items() if found) == [
        "deliver",
        "dispatch_tool",
        "mark_failed",
        "reconcile",
    ]
    for name in ("deliver", "mark_failed", "reconcile"):
        # And those three may stop tasks of the sandbox cluster, nothing else of ECS
        (stop,) = ecs[name]
        assert actions(stop) == ["ecs:StopTask"], name
        assert tasks in json.dumps(stop["Resource"]), name
        # And read and update the Sandboxes record (no put, no delete, no scan)
        on_sandboxes = {
            a
            for s in statements(name)
            if any(r == {"Fn::GetAtt": [sandboxes, "Arn"]} for r in statement_resources(s))
            for a in actions(s)
        }
        assert on_sandboxes == {"dynamodb:GetItem", "dynamodb:UpdateItem"}, name
        # And they know the cluster, not where or how to run a task
        fn = template_json["Resources"][all_function_ids(template_json)[name]]["Properties"]
        env = fn["Environment"]["Variables"]
        assert env["FIXLOOP_SANDBOX_CLUSTER"] == {"Fn::GetAtt": [cluster_id, "Arn"]}, name
        assert "FIXLOOP_SANDBOX_TASK_DEFINITION" not in env and "VpcConfig" not in fn, name


def test_channel_functions_reach_inbox_waits_their_secret_and_task_tokens(
    template_json: dict[str, Any],
) -> None:
    tables = table_ids(template_json)
    slack_signing, linear_signing, bot_token, api_key = secret_ids(
        template_json, "SlackSigningSecret", "LinearWebhookSecret", "SlackBotToken", "LinearApiKey"
    )
    secrets = {
        "slack_events": [{"Ref": slack_signing}, {"Ref": bot_token}],
        "linear_webhook": [{"Ref": linear_signing}, {"Ref": api_key}],
    }
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
        # And it reads its own signing secret and the credential its channel's workspace or
        # organization is learned from, only (the REST API none: IAM authorizes it)
        reads = [r for s in granted("secretsmanager:") for r in statement_resources(s)]
        assert sorted(map(str, reads)) == sorted(map(str, secrets.get(name, []))), name
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
