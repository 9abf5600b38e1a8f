"""What the infrastructure tests share: the names the shared app is configured with, and
helpers that read a synthesized template (the app itself is synthesized once per test process
by the fixtures of conftest.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER
from constructs import IConstruct

from stacks import FixloopStack
from stacks.config import CONTEXT_LAYER_ASSET_DIR

__all__ = [
    "GITHUB_SECRET_NAME",
    "SECRET_NAME",
    "STATE_MACHINE_NAME",
    "WEBHOOK_SECRET_NAME",
    "acknowledgments",
    "actions",
    "alarm_dead_letters",
    "alarm_rule",
    "all_function_ids",
    "blobs_bucket_id",
    "data_key_json",
    "function_ids",
    "only",
    "permissions_of",
    "policy_of_role",
    "replaced_on_update",
    "resources",
    "role_of_function",
    "rules_of",
    "sandbox_task_role",
    "secret_ids",
    "security_group_id",
    "shared_layer_id",
    "state_machine",
    "state_machine_arn_json",
    "statement_resources",
    "synth_template",
    "table_ids",
    "walk_json",
    "walk_states",
    "webhook_secret_id",
]

STATE_MACHINE_NAME = "fixloop-investigation"
SECRET_NAME = "fixloop/anthropic"
GITHUB_SECRET_NAME = "fixloop/github"
WEBHOOK_SECRET_NAME = "fixloop/github-webhook"


def resources(template_json: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template_json["Resources"].items() if r["Type"] == type_}


def function_ids(template_json: dict[str, Any], kind: str = "loop step") -> dict[str, str]:
    """Function folder name -> logical id of the loop steps (or, with ``kind="entry point"``,
    of the functions invoked from outside), from each function's description."""
    prefix = f"fixloop {kind}: "
    ids = {}
    for logical_id, fn in resources(template_json, "AWS::Lambda::Function").items():
        description = fn["Properties"].get("Description", "")
        if description.startswith(prefix):
            ids[description.removeprefix(prefix)] = logical_id
    return ids


def all_function_ids(template_json: dict[str, Any]) -> dict[str, str]:
    return function_ids(template_json) | function_ids(template_json, "entry point")


def policy_of_role(template_json: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Every statement of the AWS::IAM::Policy resources attached to ``role_id``."""
    statements: list[dict[str, Any]] = []
    for policy in resources(template_json, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def statement_resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def role_of_function(template_json: dict[str, Any], name: str) -> str:
    fn = template_json["Resources"][all_function_ids(template_json)[name]]
    role_id: str = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    return role_id


def state_machine(template_json: dict[str, Any], name: str = STATE_MACHINE_NAME) -> dict[str, Any]:
    """The state machine called ``name`` (default: the investigation loop)."""
    return resources(template_json, "AWS::StepFunctions::StateMachine")[
        state_machine_id(template_json, name)
    ]


def state_machine_id(template_json: dict[str, Any], name: str = STATE_MACHINE_NAME) -> str:
    (logical_id,) = (
        k
        for k, m in resources(template_json, "AWS::StepFunctions::StateMachine").items()
        if m["Properties"].get("StateMachineName") == name
    )
    return logical_id


def version_and_alias(
    template_json: dict[str, Any], machine_id: str
) -> tuple[tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]:
    """The published version of state machine ``machine_id`` and the alias routing to it."""
    ((version_id, version),) = (
        (k, v)
        for k, v in resources(template_json, "AWS::StepFunctions::StateMachineVersion").items()
        if v["Properties"]["StateMachineArn"] == {"Ref": machine_id}
    )
    ((alias_id, alias),) = (
        (k, a)
        for k, a in resources(template_json, "AWS::StepFunctions::StateMachineAlias").items()
        if any(
            r["StateMachineVersionArn"] == {"Fn::GetAtt": [version_id, "Arn"]}
            for r in a["Properties"]["RoutingConfiguration"]
        )
    )
    return (version_id, version), (alias_id, alias)


def state_machine_arn_json(qualifier: str = "", name: str = STATE_MACHINE_NAME) -> dict[str, Any]:
    """The ARN of the state machine called ``name`` (default: the investigation loop) as the
    template builds it from its name (with ``qualifier``: of its alias)."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":states:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":stateMachine:{name}" + (f":{qualifier}" if qualifier else ""),
            ],
        ]
    }


def data_key_json(template_json: dict[str, Any]) -> str:
    """The ARN of the customer-managed data key, as JSON (a key of ``granted`` maps)."""
    key_id, _ = only(template_json, "AWS::KMS::Key")
    return json.dumps({"Fn::GetAtt": [key_id, "Arn"]})


def table_ids(template_json: dict[str, Any]) -> dict[str, str]:
    """Table name (Events, Investigations, Sandboxes, Fingerprints, Inbox, Waits) -> id."""
    ids: dict[str, str] = {}
    for logical_id in resources(template_json, "AWS::DynamoDB::Table"):
        for name in ("Events", "Investigations", "Sandboxes", "Fingerprints", "Inbox", "Waits"):
            if logical_id.startswith(f"Storage{name}"):
                ids[name] = logical_id
    return ids


def alarm_rule(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The logical id and resource of the rule sending CloudWatch alarms to the signal trigger
    (the stack's other rule is the reconciliation's, on Step Functions events)."""
    ((logical_id, rule),) = [
        (k, r)
        for k, r in resources(template_json, "AWS::Events::Rule").items()
        if r["Properties"]["EventPattern"]["source"] == ["aws.cloudwatch"]
    ]
    return logical_id, rule


def alarm_dead_letters(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The alarm rule's dead-letter queue and that queue's policy."""
    _, rule = alarm_rule(template_json)
    (target,) = rule["Properties"]["Targets"]
    queue_id: str = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    (policy,) = [
        p
        for p in resources(template_json, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    return queue_id, policy


def blobs_bucket_id(template_json: dict[str, Any]) -> str:
    """The logical id of the Blobs bucket (the stack's other bucket holds the live view)."""
    (logical_id,) = (
        k for k in resources(template_json, "AWS::S3::Bucket") if k.startswith("StorageBlobs")
    )
    return logical_id


def shared_layer_id(template_json: dict[str, Any]) -> str:
    """The logical id of fixloop's shared layer (the other layer is the AWS CLI of the live
    view's deployment)."""
    (logical_id,) = (
        k
        for k in resources(template_json, "AWS::Lambda::LayerVersion")
        if k.startswith("SharedLayer")
    )
    return logical_id


def only(template_json: dict[str, Any], type_: str) -> tuple[str, dict[str, Any]]:
    """The logical id and resource of the single resource of ``type_``."""
    ((logical_id, resource),) = resources(template_json, type_).items()
    return logical_id, resource


def security_group_id(template_json: dict[str, Any], description_start: str) -> str:
    (logical_id,) = (
        k
        for k, sg in resources(template_json, "AWS::EC2::SecurityGroup").items()
        if sg["Properties"]["GroupDescription"].startswith(description_start)
    )
    return logical_id


def rules_of(template_json: dict[str, Any], sg_id: str, direction: str) -> list[dict[str, Any]]:
    """Every ingress or egress rule of a security group: inline and standalone."""
    inline_key, rule_type = {
        "ingress": ("SecurityGroupIngress", "AWS::EC2::SecurityGroupIngress"),
        "egress": ("SecurityGroupEgress", "AWS::EC2::SecurityGroupEgress"),
    }[direction]
    sg = template_json["Resources"][sg_id]["Properties"]
    rules: list[dict[str, Any]] = list(sg.get(inline_key, []))
    group = {"Fn::GetAtt": [sg_id, "GroupId"]}
    rules += [
        r["Properties"]
        for r in resources(template_json, rule_type).values()
        if r["Properties"]["GroupId"] == group
    ]
    return rules


def sandbox_task_role(template_json: dict[str, Any]) -> str:
    _, task_definition = only(template_json, "AWS::ECS::TaskDefinition")
    role_id: str = task_definition["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    return role_id


def walk_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Map item processors and Parallel branches."""
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from walk_states(processor["States"])
        for branch in state.get("Branches", []):
            yield from walk_states(branch["States"])


def walk_json(node: Any) -> Iterator[Any]:
    """``node`` and every value inside it (dicts, lists), depth first."""
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from walk_json(child)


def permissions_of(template_json: dict[str, Any], fn_id: str) -> list[dict[str, Any]]:
    """The properties of every AWS::Lambda::Permission on the function ``fn_id``."""
    return [
        p["Properties"]
        for p in resources(template_json, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    ]


def acknowledgments(constructs: list[IConstruct]) -> dict[str, list[tuple[str, str]]]:
    """cdk-nag acknowledgments recorded on ``constructs`` (CDK keeps them as
    "aws:cdk:acknowledged-rules" metadata: {"<prefix>::<rule id>": reason}): rule id ->
    [(construct path, reason)]."""
    by_rule: dict[str, list[tuple[str, str]]] = {}
    for construct in constructs:
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                for key, reason in dict(entry.data).items():
                    rule = str(key).split("::", 1)[-1]
                    by_rule.setdefault(rule, []).append((construct.node.path, str(reason)))
    return by_rule


def secret_ids(template_json: dict[str, Any], *prefixes: str) -> list[str]:
    secrets = resources(template_json, "AWS::SecretsManager::Secret")
    return [next(k for k in secrets if k.startswith(p)) for p in prefixes]


def webhook_secret_id(template_json: dict[str, Any]) -> str:
    (logical_id,) = (
        k
        for k, s in resources(template_json, "AWS::SecretsManager::Secret").items()
        if s["Properties"]["Name"] == WEBHOOK_SECRET_NAME
    )
    return logical_id


def synth_template(outdir: Path, layer_dir: Path, **context: Any) -> dict[str, Any]:
    """The Fixloop stack's template, synthesized in a bare ``App`` (no ``cdk.json`` context, no
    cdk-nag) with the prebuilt layer at ``layer_dir`` and ``context``."""
    app = cdk.App(outdir=str(outdir), context={CONTEXT_LAYER_ASSET_DIR: str(layer_dir), **context})
    FixloopStack(app, "Fixloop")
    template: dict[str, Any] = app.synth().get_stack_by_name("Fixloop").template
    return template


_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)[.}]")


def _references(node: Any) -> set[str]:
    """The logical ids ``node`` refers to (Ref, Fn::GetAtt, names in Fn::Sub strings)."""
    found: set[str] = set()
    for value in walk_json(node):
        if isinstance(value, dict):
            if isinstance(value.get("Ref"), str):
                found.add(value["Ref"])
            if isinstance(value.get("Fn::GetAtt"), list):
                found.add(value["Fn::GetAtt"][0])
            sub = value.get("Fn::Sub")
            text = sub[0] if isinstance(sub, list) else sub
            if isinstance(text, str):
                found.update(_SUB_NAME.findall(text))
    return found


def replaced_on_update(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """The resources (logical ids in both templates) that CloudFormation replaces when it
    updates a stack from ``before`` to ``after``: a create-only property (from the resource
    type's registry schema, as cfn-lint ships it) changes, or refers to a resource that is
    replaced (its new physical id and attributes). Resources whose logical id is new are
    created, not replaced, and are not in the set."""
    create_only: dict[str, set[str]] = {}
    for resource in after["Resources"].values():
        type_ = resource["Type"]
        if type_ not in create_only:
            schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", type_).schema
            create_only[type_] = {
                path.split("/")[2] for path in schema.get("createOnlyProperties", [])
            }
    replaced: set[str] = set()
    changed = True
    while changed:
        changed = False
        for logical_id, resource in after["Resources"].items():
            old = before["Resources"].get(logical_id)
            if logical_id in replaced or old is None or old["Type"] != resource["Type"]:
                continue
            for prop in create_only[resource["Type"]]:
                value = resource.get("Properties", {}).get(prop)
                if value != old.get("Properties", {}).get(prop) or _references(value) & replaced:
                    replaced.add(logical_id)
                    changed = True
                    break
    return replaced
