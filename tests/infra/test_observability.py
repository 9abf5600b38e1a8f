"""fixloop's alarms on itself, its topic and dashboard (stacks/constructs/observability.py), and
the settings that change them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from app import build_app
from stacks.config import (
    CONTEXT_ALARM_EMAIL,
    CONTEXT_DAILY_TOKEN_BUDGET,
    CONTEXT_GITHUB_SECRET_NAME,
    CONTEXT_LAYER_ASSET_DIR,
    CONTEXT_SANDBOX_IMAGE_URI,
)
from tests.infra.support import (
    actions,
    all_function_ids,
    data_key_json,
    function_ids,
    only,
    policy_of_role,
    resources,
    role_of_function,
    state_machine_id,
)

IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fixloop-sandbox:1.2.3"


OWN_ALARMS = {
    "fixloop-executions-failed",
    "fixloop-executions-timed-out",
    "fixloop-lambda-errors-1",
    "fixloop-lambda-errors-2",
    "fixloop-lambda-throttles-1",
    "fixloop-lambda-throttles-2",
    "fixloop-model-errors",
    "fixloop-model-throttles",
    "fixloop-undelivered-alarms",
    "fixloop-failed-signal-trigger",
    "fixloop-failed-slack-events",
    "fixloop-failed-reconcile",
    "fixloop-failed-stream-fanout",
    "fixloop-undelivered-execution-events",
}
QUEUE_ALARMS = {name for name in OWN_ALARMS if "-failed-" in name or "-undelivered-" in name}
ALARM_ARNS = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":cloudwatch:",
            {"Ref": "AWS::Region"},
            ":",
            {"Ref": "AWS::AccountId"},
            ":alarm:fixloop-*",
        ],
    ]
}


def alarms_by_name(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in resources(template_json, "AWS::CloudWatch::Alarm").values()
    }


def test_alarms_on_fixloop_itself_notify_the_encrypted_topic(
    template_json: dict[str, Any],
) -> None:
    # Given the alarms, the topic and the state machine
    alarms = alarms_by_name(template_json)
    topic_id, topic = only(template_json, "AWS::SNS::Topic")
    machine_id = state_machine_id(template_json)

    # When / Then the expected alarms exist (no token budget is configured), each notifying
    # the topic, which is encrypted with the data key
    assert set(alarms) == OWN_ALARMS
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
        assert alarm["TreatMissingData"] == "notBreaching", name
    assert topic["Properties"]["KmsMasterKeyId"] == json.loads(data_key_json(template_json))
    # And failed executions are read from the state machine's own metric
    failed = alarms["fixloop-executions-failed"]
    assert (failed["Namespace"], failed["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert failed["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": machine_id}}]
    # And model errors from fixloop's EMF metric, as the handlers write it
    model = alarms["fixloop-model-errors"]
    assert (model["Namespace"], model["MetricName"]) == ("fixloop", "ModelErrors")
    assert model["Dimensions"] == [{"Name": "service", "Value": "fixloop"}]
    # And Lambda errors are summed over every fixloop function, at most ten per alarm (the
    # most an alarm's metric math may read)
    groups = [
        {
            d["Value"]["Ref"]
            for q in alarms[name]["Metrics"]
            if "MetricStat" in q
            for d in q["MetricStat"]["Metric"]["Dimensions"]
        }
        for name in ("fixloop-lambda-errors-1", "fixloop-lambda-errors-2")
    ]
    assert all(0 < len(group) <= 10 for group in groups)
    every_function = all_function_ids(template_json) | function_ids(template_json, "aftercare step")
    assert "aftercare" in every_function
    assert groups[0] | groups[1] == set(every_function.values())
    assert not groups[0] & groups[1]
    # And the alarm rule leaves these alarms out (fixloop does not investigate itself)
    (rule,) = [
        r
        for r in resources(template_json, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.cloudwatch"]
    ]
    assert rule["Properties"]["EventPattern"]["detail"]["alarmName"] == [
        {"anything-but": {"prefix": "fixloop-"}}
    ]


def test_cloudwatch_alarms_may_publish_to_the_encrypted_topic(
    template_json: dict[str, Any],
) -> None:
    # Given the topic's policy (enforce_ssl gives it one of its own, which replaces SNS's
    # default policy) and the data key's policy
    topic_id, _ = only(template_json, "AWS::SNS::Topic")
    _, topic_policy = only(template_json, "AWS::SNS::TopicPolicy")
    _, key = only(template_json, "AWS::KMS::Key")
    statements = topic_policy["Properties"]["PolicyDocument"]["Statement"]
    from_own_alarms = {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": ALARM_ARNS},
    }

    # When / Then it still refuses publishing without TLS
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # And it allows CloudWatch to publish for this account's fixloop alarms: without an
    # Allow, CloudWatch's publish finds "no resource-based policy allows SNS:Publish"
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert topic_policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": topic_id}
    assert allow["Condition"] == from_own_alarms
    # And the key lets CloudWatch encrypt the message for the topic, for those alarms only
    (kms,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert kms["Effect"] == "Allow"
    assert set(actions(kms)) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert kms["Resource"] == "*"
    assert kms["Condition"] == from_own_alarms


def test_every_queue_of_failed_work_is_alarmed_when_a_message_waits(
    template_json: dict[str, Any],
) -> None:
    # Given every SQS queue of the stack (dead-letter queues and on-failure destinations)
    # and the alarms on queues
    queues = set(resources(template_json, "AWS::SQS::Queue"))
    alarms = alarms_by_name(template_json)
    topic_id, _ = only(template_json, "AWS::SNS::Topic")

    # When the queue each queue alarm watches is read
    watched = {}
    for name in QUEUE_ALARMS:
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"]) == (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
        ), name
        ((dimension,),) = [alarm["Dimensions"]]
        watched[name] = dimension["Value"]["Fn::GetAtt"][0]
        # Then each fires on one message (> 0), notifying the alarm topic
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
            1,
            "GreaterThanOrEqualToThreshold",
        ), name
        assert alarm["Statistic"] == "Maximum", name
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name

    # And every queue has exactly one
    assert sorted(watched.values()) == sorted(queues)


def test_dashboard_shows_investigations_model_tokens_tools_and_alarms(
    template_json: dict[str, Any],
) -> None:
    # Given the dashboard
    _, dashboard = only(template_json, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])

    # When / Then it is named fixloop and graphs fixloop's metrics and its alarms
    assert dashboard["Properties"]["DashboardName"] == "fixloop"
    for metric in (
        "InvestigationsStarted",
        "InvestigationsConcluded",
        "InvestigationsFailed",
        "ModelTurns",
        "ModelThrottles",
        "InputTokens",
        "OutputTokens",
        "ToolFailures",
        "ExecutionsFailed",
    ):
        assert metric in body, metric
    assert "fixloop alarms" in body


def test_secrets_email_token_budget_and_image_from_context(
    tmp_path: Path, prebuilt_layer: Path
) -> None:
    # Given the app with a GitHub App secret, an alarm address, a daily token budget and a
    # sandbox image already in ECR
    app = build_app(
        cdk.App(
            outdir=str(tmp_path / "cdk.out"),
            context={
                CONTEXT_LAYER_ASSET_DIR: str(prebuilt_layer),
                CONTEXT_GITHUB_SECRET_NAME: "fixloop/github-app",
                CONTEXT_ALARM_EMAIL: "oncall@example.com",
                CONTEXT_DAILY_TOKEN_BUDGET: "5000000",
                CONTEXT_SANDBOX_IMAGE_URI: IMAGE_URI,
            },
        )
    )

    # When it is synthesized (cdk-nag included)
    assembly = app.synth()
    template_json = assembly.get_stack_by_name("Fixloop").template

    # Then the sandbox runs the given image: nothing to build with Docker at deploy time
    _, task = only(template_json, "AWS::ECS::TaskDefinition")
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["Image"] == IMAGE_URI
    assets = json.loads((Path(assembly.directory) / "Fixloop.assets.json").read_text())
    assert assets["dockerImages"] == {}
    # And deliver and repo_token (only) know the GitHub secret and may read it
    ids = all_function_ids(template_json)
    for name, fn_id in ids.items():
        env = template_json["Resources"][fn_id]["Properties"]["Environment"]["Variables"]
        assert ("FIXLOOP_GITHUB_SECRET_ARN" in env) == (name in ("deliver", "repo_token")), name
    for reader in ("deliver", "repo_token"):
        reads = [
            s
            for s in policy_of_role(template_json, role_of_function(template_json, reader))
            if "secretsmanager:GetSecretValue" in actions(s)
        ]
        assert "fixloop/github-app" in json.dumps(reads), reader
    # And the address is subscribed to the alarm topic
    _, subscription = only(template_json, "AWS::SNS::Subscription")
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"
    # And the token budget has its alarm, over a day
    budget = alarms_by_name(template_json)["fixloop-token-budget"]
    assert budget["Threshold"] == 5_000_000
    assert {q["MetricStat"]["Period"] for q in budget["Metrics"] if "MetricStat" in q} == {86400}
