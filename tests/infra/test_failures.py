"""Where asynchronous work that failed goes (stacks/constructs/failures.py): every function
invoked asynchronously has an on-failure destination, and so has the stream fan-out's event
source mapping; the queues' alarms are in test_observability.py."""

from __future__ import annotations

import json
from typing import Any

from fixloop.functions import CATALOGUE, spec_of
from stacks.constructs.failures import ASYNC_MAX_EVENT_AGE, ASYNC_RETRY_ATTEMPTS
from stacks.constructs.functions import FUNCTIONS_DIR
from tests.infra.support import (
    actions,
    all_function_ids,
    data_key_json,
    function_ids,
    permissions_of,
    policy_of_role,
    resources,
    role_of_function,
    statement_resources,
)
from tests.support import ROOT

ASYNC_INVOCATION = 'InvocationType="Event"'
ASYNC_PRINCIPALS = {"events.amazonaws.com", "logs.amazonaws.com", "s3.amazonaws.com"}
"""AWS services that invoke a Lambda function asynchronously (those fixloop could use)."""


def invoked_asynchronously(template_json: dict[str, Any]) -> set[str]:
    """The functions the template lets an asynchronous source invoke: a service of
    :data:`ASYNC_PRINCIPALS` (a rule target, a subscription filter) or the function itself."""
    found = set()
    for name, fn_id in all_function_ids(template_json).items():
        if any(p["Principal"] in ASYNC_PRINCIPALS for p in permissions_of(template_json, fn_id)):
            found.add(name)
        own_arn = {"Fn::GetAtt": [fn_id, "Arn"]}
        for statement in policy_of_role(template_json, role_of_function(template_json, name)):
            if "lambda:InvokeFunction" in actions(statement) and own_arn in (
                statement_resources(statement)
            ):
                found.add(name)
    return found


def queue_of(template_json: dict[str, Any], destination: dict[str, Any]) -> dict[str, Any]:
    queue_id = destination["Destination"]["Fn::GetAtt"][0]
    queue: dict[str, Any] = template_json["Resources"][queue_id]
    assert queue["Type"] == "AWS::SQS::Queue"
    return queue


def test_every_asynchronously_invoked_function_sends_its_failures_to_an_encrypted_queue(
    template_json: dict[str, Any],
) -> None:
    # Given the functions an asynchronous source may invoke, their asynchronous invocation
    # configurations, and the data key
    asynchronous = invoked_asynchronously(template_json)
    ids = all_function_ids(template_json)
    configs = {
        next(n for n, i in ids.items() if c["Properties"]["FunctionName"] == {"Ref": i}): c[
            "Properties"
        ]
        for c in resources(template_json, "AWS::Lambda::EventInvokeConfig").values()
    }
    key = json.loads(data_key_json(template_json))

    # When / Then they are the EventBridge and CloudWatch Logs targets and Slack Events (which
    # invokes itself), as the catalogue says, and each has a configuration
    assert asynchronous == {"signal_trigger", "slack_events", "reconcile"}
    assert asynchronous == {spec.folder for spec in CATALOGUE if spec.invoked_asynchronously}
    assert set(configs) == asynchronous
    for name in asynchronous:
        config = configs[name]
        # with the retries and the age stated, not left to the defaults
        assert config["MaximumRetryAttempts"] == ASYNC_RETRY_ATTEMPTS, name
        assert config["MaximumEventAgeInSeconds"] == ASYNC_MAX_EVENT_AGE.to_seconds(), name
        assert config["Qualifier"] == "$LATEST", name
        # and an on-failure destination: an SSL-only queue of its own, encrypted with the
        # data key (Lambda sends to it with the function's role, which may use the key)
        destination = config["DestinationConfig"]["OnFailure"]
        queue = queue_of(template_json, destination)
        assert queue["Properties"]["KmsMasterKeyId"] == key, name
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600, name
        statements = policy_of_role(template_json, role_of_function(template_json, name))
        (send,) = [s for s in statements if "sqs:SendMessage" in actions(s)]
        assert statement_resources(send) == [destination["Destination"]], name
        assert any(
            "kms:GenerateDataKey*" in actions(s) and statement_resources(s) == [key]
            for s in statements
        ), name
    destinations = [c["DestinationConfig"]["OnFailure"]["Destination"] for c in configs.values()]
    assert len({json.dumps(d) for d in destinations}) == len(destinations)


def test_every_asynchronous_invocation_in_the_code_is_of_a_catalogued_function() -> None:
    # Given every module of the functions and of the fixloop package that AWS runs (the
    # embedded runtime's are not deployed)
    sources = [
        path
        for path in [*FUNCTIONS_DIR.rglob("*.py"), *(ROOT / "fixloop").rglob("*.py")]
        if "local" not in path.relative_to(ROOT).parts
    ]

    # When those that invoke a function asynchronously are picked out
    invoking = [p for p in sources if ASYNC_INVOCATION in p.read_text()]

    # Then each is a handler that invokes itself, catalogued as invoked asynchronously (so
    # it has an on-failure destination): no other asynchronous invocation can drop events
    assert invoking, "no asynchronous invocation found: update this test's pattern"
    for path in invoking:
        rel = path.relative_to(FUNCTIONS_DIR) if path.is_relative_to(FUNCTIONS_DIR) else None
        assert rel is not None, f"{path}: an asynchronous invocation outside a handler"
        spec = spec_of(rel.parts[0])
        assert spec.invokes_itself and spec.invoked_asynchronously, spec.folder
    assert all(s.invoked_asynchronously for s in CATALOGUE if s.invokes_itself)


def test_the_stream_fanout_records_the_batches_it_gives_up_on(
    template_json: dict[str, Any],
) -> None:
    # Given the stream fan-out's event source mapping
    fanout_id = function_ids(template_json, "live")["stream_fanout"]
    (mapping,) = [
        m["Properties"]
        for m in resources(template_json, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": fanout_id}
    ]

    # When / Then after its retries a failing batch goes to an encrypted queue (not skipped)
    assert mapping["MaximumRetryAttempts"] == 5
    destination = mapping["DestinationConfig"]["OnFailure"]
    queue = queue_of(template_json, destination)
    assert queue["Properties"]["KmsMasterKeyId"] == json.loads(data_key_json(template_json))
    # And the fan-out's role may send to it (Lambda uses the function's role)
    statements = policy_of_role(template_json, role_of_function_id(template_json, fanout_id))
    (send,) = [s for s in statements if "sqs:SendMessage" in actions(s)]
    assert statement_resources(send) == [destination["Destination"]]
    # And the queue refuses requests without TLS
    policies = [
        p["Properties"]
        for p in resources(template_json, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": destination["Destination"]["Fn::GetAtt"][0]}]
    ]
    ((deny,),) = [p["PolicyDocument"]["Statement"] for p in policies]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def role_of_function_id(template_json: dict[str, Any], fn_id: str) -> str:
    role_id: str = template_json["Resources"][fn_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    return role_id


def test_no_queue_is_left_unencrypted_or_without_tls(template_json: dict[str, Any]) -> None:
    # Given every queue and queue policy
    queues = resources(template_json, "AWS::SQS::Queue")
    policies = resources(template_json, "AWS::SQS::QueuePolicy").values()

    # When / Then each is encrypted (the data key, or SQS-managed where a service sends to it
    # with its own principal) and denies requests without TLS
    for queue_id, queue in queues.items():
        props = queue["Properties"]
        assert "KmsMasterKeyId" in props or props.get("SqsManagedSseEnabled") is True, queue_id
        (policy,) = [p for p in policies if p["Properties"]["Queues"] == [{"Ref": queue_id}]]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        ), queue_id
