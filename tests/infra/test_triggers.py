"""Triggers (stacks/constructs/triggers.py): alarms and error logs reach the signal trigger,
authenticated signals the api trigger; both triage signals into investigations."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from app import build_app
from fixloop.config import AFTERCARE_STATE_MACHINE_NAME
from stacks import FixloopStack
from stacks.config import (
    CONTEXT_ALARM_PREFIXES,
    CONTEXT_DEFAULT_GITHUB_REPO,
    CONTEXT_LAYER_ASSET_DIR,
    CONTEXT_TARGETS,
    CONTEXT_WATCHED_LOG_GROUPS,
)
from stacks.nag import flatten, iam5_resource
from tests.infra.support import (
    acknowledgments,
    actions,
    alarm_dead_letters,
    alarm_rule,
    all_function_ids,
    blobs_bucket_id,
    data_key_json,
    function_ids,
    permissions_of,
    policy_of_role,
    resources,
    role_of_function,
    shared_layer_id,
    state_machine_arn_json,
    statement_resources,
    table_ids,
)

TRIGGERS = ("signal_trigger", "api_trigger")

WATCHED_LOG_GROUP = "/aws/lambda/orders"


def test_alarm_rule_sends_alarms_going_into_alarm_to_the_signal_trigger(
    template_json: dict[str, Any],
) -> None:
    # Given the alarm rule, the signal trigger and the alarms' dead-letter queue
    rule_id, rule = alarm_rule(template_json)
    props = rule["Properties"]
    fn_id = function_ids(template_json, "entry point")["signal_trigger"]
    queue_id = stack_id(template_json, "TriggersAlarmDeadLetters", "AWS::SQS::Queue")

    # When its pattern and its one target are read
    (target,) = props["Targets"]

    # Then it is enabled on the default bus and matches every alarm going into ALARM (no
    # prefix is configured) but fixloop's own
    assert "EventBusName" not in props
    assert props["State"] == "ENABLED"
    assert props["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {
            "state": {"value": ["ALARM"]},
            "alarmName": [{"anything-but": {"prefix": "fixloop-"}}],
        },
    }
    # And it invokes signal_trigger, retrying for an hour at most (3 retries), then puts the
    # event in the dead-letter queue
    assert target["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert "Input" not in target and "InputTransformer" not in target
    # And only this rule may invoke the function through EventBridge (CloudWatch Logs is its
    # other caller: test_signal_trigger_may_be_invoked_by_cloudwatch_logs_of_this_account)
    permissions = permissions_of(template_json, fn_id)
    assert sorted(p["Principal"] for p in permissions) == [
        "events.amazonaws.com",
        "logs.amazonaws.com",
    ]
    (permission,) = (p for p in permissions if p["Principal"] == "events.amazonaws.com")
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_alarm_dead_letter_queue_is_encrypted_ssl_only_and_written_by_the_rule_only(
    template_json: dict[str, Any],
) -> None:
    # Given the dead-letter queue, its policy and the alarm rule
    queue_id, policy = alarm_dead_letters(template_json)
    queue = template_json["Resources"][queue_id]
    rule_id, _ = alarm_rule(template_json)

    # When the policy's statements are split by effect
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = (s for s in statements if s["Effect"] == "Deny")
    (allow,) = (s for s in statements if s["Effect"] == "Allow")

    # Then the queue is encrypted (SQS-managed keys) and keeps messages 14 days
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert policy["Properties"]["Queues"] == [{"Ref": queue_id}]
    # And it refuses every request without TLS
    assert deny["Action"] == "sqs:*"
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # And EventBridge may send it messages on behalf of the alarm rule only
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    # And its URL is an output, to read and replay what could not be delivered
    assert template_json["Outputs"]["AlarmDeadLetterQueueUrl"]["Value"] == {"Ref": queue_id}


def test_signal_trigger_may_be_invoked_by_cloudwatch_logs_of_this_account(
    template_json: dict[str, Any],
) -> None:
    # Given the signal trigger
    fn_id = function_ids(template_json, "entry point")["signal_trigger"]

    # When its resource-based permissions for CloudWatch Logs are read (the other one is the
    # alarm rule's: test_alarm_rule_sends_alarms_going_into_alarm_to_the_signal_trigger)
    (permission,) = (
        p for p in permissions_of(template_json, fn_id) if p["Principal"] != "events.amazonaws.com"
    )

    # Then CloudWatch Logs may invoke it for any log group of this account and region
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "logs.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["SourceArn"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":logs:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":log-group:*",
            ],
        ]
    }
    # And no log group is subscribed by default (the onboarding template subscribes the
    # user's), which is why the function's ARN is an output
    assert not resources(template_json, "AWS::Logs::SubscriptionFilter")
    assert template_json["Outputs"]["LogsTriggerArn"]["Value"] == {"Fn::GetAtt": [fn_id, "Arn"]}


def test_trigger_functions_outside_the_vpc_know_targets_and_the_state_machine(
    template_json: dict[str, Any],
) -> None:
    # Given the trigger functions, the tables and the layer
    entry = function_ids(template_json, "entry point")
    tables = table_ids(template_json)
    layer_id = shared_layer_id(template_json)
    blobs_id = blobs_bucket_id(template_json)

    for name in TRIGGERS:
        # When each one's properties are read
        props = template_json["Resources"][entry[name]]["Properties"]
        env = props["Environment"]["Variables"]

        # Then it runs on python3.13/arm64 with the layer, traced, 60 s, outside the VPC
        assert (props["Runtime"], props["Architectures"]) == ("python3.13", ["arm64"]), name
        assert props["Handler"] == "handler.lambda_handler", name
        assert props["Layers"] == [{"Ref": layer_id}], name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert (props["Timeout"], props["MemorySize"]) == (60, 512), name
        assert "VpcConfig" not in props, name
        # And it knows the state machine it starts, where signals go and the default model
        assert env["FIXLOOP_STATE_MACHINE_ARN"] == state_machine_arn_json("live"), name
        assert env["FIXLOOP_TARGETS"] == "{}", name
        assert env["FIXLOOP_DEFAULT_GITHUB_REPO"] == "", name
        assert env["FIXLOOP_MODEL"] == "bedrock", name
        # And the records triage reads and writes
        assert env["FIXLOOP_FINGERPRINTS_TABLE"] == {"Ref": tables["Fingerprints"]}, name
        assert env["FIXLOOP_EVENTS_TABLE"] == {"Ref": tables["Events"]}, name
        assert env["FIXLOOP_INVESTIGATIONS_TABLE"] == {"Ref": tables["Investigations"]}, name
        assert env["FIXLOOP_BLOBS_BUCKET"] == {"Ref": blobs_id}, name
        assert not {
            "FIXLOOP_GITHUB_WEBHOOK_SECRET_ARN",
            "FIXLOOP_ANTHROPIC_SECRET_ARN",
            "FIXLOOP_SANDBOX_CLUSTER",
        } & set(env), name
    # And no other function is told where signals go
    assert sorted(
        name
        for name, fn_id in all_function_ids(template_json).items()
        if "FIXLOOP_TARGETS"
        in template_json["Resources"][fn_id]["Properties"]["Environment"]["Variables"]
    ) == sorted(TRIGGERS)


def test_trigger_roles_reach_only_triage_records_event_bodies_and_the_state_machine(
    template_json: dict[str, Any],
) -> None:
    # Given the resources a trigger may reach
    tables = table_ids(template_json)
    blobs_id = blobs_bucket_id(template_json)
    records = {
        json.dumps({"Fn::GetAtt": [tables[t], "Arn"]})
        for t in ("Fingerprints", "Investigations", "Events", "Inbox")
    }
    objects = json.dumps({"Fn::Join": ["", [{"Fn::GetAtt": [blobs_id, "Arn"]}, "/events/*"]]})
    machine = json.dumps(state_machine_arn_json())
    aftercare = json.dumps(state_machine_arn_json(name=AFTERCARE_STATE_MACHINE_NAME))

    for name in TRIGGERS:
        # When its role's allowed actions are grouped by resource
        role_id = role_of_function(template_json, name)
        fn = template_json["Resources"][all_function_ids(template_json)[name]]["Properties"]
        own_logs = json.dumps({"Fn::GetAtt": [fn["LoggingConfig"]["LogGroup"]["Ref"], "Arn"]})
        granted: dict[str, set[str]] = {}
        for statement in policy_of_role(template_json, role_id):
            assert statement["Effect"] == "Allow", name
            assert "Condition" not in statement and "NotAction" not in statement, name
            for resource in statement_resources(statement):
                granted.setdefault(json.dumps(resource), set()).update(actions(statement))

        # Then it reaches Fingerprints, Investigations, Events and Inbox (a recurrence notice),
        # the event bodies of the blobs (events/) and the state machine, besides its own log
        # group and X-Ray (and, invoked asynchronously, its failure queue): no other table, no
        # other object, no bucket listing, no secret, no sandbox
        failures = {
            json.dumps(c["Properties"]["DestinationConfig"]["OnFailure"]["Destination"])
            for c in resources(template_json, "AWS::Lambda::EventInvokeConfig").values()
            if c["Properties"]["FunctionName"] == {"Ref": all_function_ids(template_json)[name]}
        }
        assert set(granted) == records | failures | {
            objects,
            machine,
            aftercare,
            own_logs,
            data_key_json(template_json),
            json.dumps("*"),
        }, name
        assert len(failures) == (1 if name == "signal_trigger" else 0), name
        for queue in failures:
            assert granted[queue] == {
                "sqs:SendMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
            }, name
        for table in records:
            assert {
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
            } <= granted[table], name
            assert all(a.startswith("dynamodb:") for a in granted[table]), name
        assert granted[objects] == {"s3:GetObject", "s3:PutObject"}, name
        assert granted[machine] == {"states:StartExecution"}, name
        # (the aftercare of a fix a signal finds merged, or that a recurrence reopens: the
        # aftercare state machine announces it, so the triggers hold no channel credential)
        assert granted[aftercare] == {"states:StartExecution"}, name
        assert granted[own_logs] == {"logs:CreateLogStream", "logs:PutLogEvents"}, name
        assert granted[json.dumps("*")] == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
        # And nothing is attached to the role any other way
        role = template_json["Resources"][role_id]["Properties"]
        assert "ManagedPolicyArns" not in role and "Policies" not in role, name


def test_trigger_acknowledgments_are_scoped_and_have_reasons(stack: FixloopStack) -> None:
    # Given the acknowledgments on the triggers' constructs and on the trigger roles
    by_rule = acknowledgments(stack.triggers.node.find_all())
    blob_objects = iam5_resource(flatten(stack.storage.blobs.arn_for_objects("events/*"), stack))

    # When / Then the only one of the triggers' constructs is the dead-letter queue's
    # (a DLQ without a DLQ of its own)
    assert set(by_rule) == {"AwsSolutions-SQS3"}
    ((path, reason),) = by_rule["AwsSolutions-SQS3"]
    assert path == stack.triggers.alarm_dead_letters.node.path
    assert "dead-letter queue" in reason
    # And each trigger role has only the X-Ray wildcard and the event bodies acknowledged
    for name in TRIGGERS:
        role_rules = acknowledgments([stack.functions.roles[name]])
        assert set(role_rules) == {iam5_resource("*"), blob_objects}, name
        assert all(reason.strip() for places in role_rules.values() for _, reason in places)


def test_context_subscribes_watched_log_groups_and_narrows_the_alarm_rule(
    tmp_path: Path, prebuilt_layer: Path
) -> None:
    # Given the app with watched log groups, alarm prefixes, targets (a JSON string, as
    # `cdk synth -c` passes it) and a default repository
    targets = {"orders-*": {"github_repo": "acme/orders", "branch": "main"}}
    app = build_app(
        cdk.App(
            outdir=str(tmp_path / "cdk.out"),
            context={
                CONTEXT_LAYER_ASSET_DIR: str(prebuilt_layer),
                CONTEXT_WATCHED_LOG_GROUPS: [WATCHED_LOG_GROUP],
                CONTEXT_ALARM_PREFIXES: ["orders-", "billing-"],
                CONTEXT_TARGETS: json.dumps(targets),
                CONTEXT_DEFAULT_GITHUB_REPO: "acme/app",
            },
        )
    )

    # When it is synthesized (cdk-nag included)
    started = time.perf_counter()
    template_json = app.synth().get_stack_by_name("Fixloop").template
    print(f"\nsynth with trigger context: {time.perf_counter() - started:.1f} s")
    entry = function_ids(template_json, "entry point")

    # Then the watched log group sends its error lines and stack traces to signal_trigger
    (subscription,) = resources(template_json, "AWS::Logs::SubscriptionFilter").values()
    assert subscription["Properties"] == {
        "LogGroupName": WATCHED_LOG_GROUP,
        "FilterPattern": "?ERROR ?Error ?Exception ?Traceback",
        "DestinationArn": {"Fn::GetAtt": [entry["signal_trigger"], "Arn"]},
    }
    # And it is created after the account-wide invoke permission, which is the only one
    # CloudWatch Logs has (no permission per log group)
    (permission_id,) = (
        k
        for k, p in resources(template_json, "AWS::Lambda::Permission").items()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [entry["signal_trigger"], "Arn"]}
        and p["Properties"]["Principal"] == "logs.amazonaws.com"
    )
    assert subscription["DependsOn"] == [permission_id]
    # And the alarm rule only matches alarms named with one of the prefixes
    _, rule = alarm_rule(template_json)
    assert rule["Properties"]["EventPattern"]["detail"] == {
        "state": {"value": ["ALARM"]},
        "alarmName": [{"prefix": "orders-"}, {"prefix": "billing-"}],
    }
    # And the triggers know the targets and the default repository
    for name in TRIGGERS:
        env = template_json["Resources"][entry[name]]["Properties"]["Environment"]["Variables"]
        assert json.loads(env["FIXLOOP_TARGETS"]) == targets, name
        assert env["FIXLOOP_DEFAULT_GITHUB_REPO"] == "acme/app", name


def stack_id(template_json: dict[str, Any], prefix: str, type_: str) -> str:
    """The logical id of the one resource of ``type_`` whose id starts with ``prefix``."""
    (logical_id,) = [k for k in resources(template_json, type_) if k.startswith(prefix)]
    return logical_id
