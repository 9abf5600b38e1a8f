"""cdk-nag acknowledgments: every suppression names its rule (or one finding) and a reason.

cdk-nag 3 reads CDK's native ``Validations.of(scope).acknowledge(...)`` metadata; an
acknowledgment covers the construct it is made on and everything below it. IAM5 findings
are acknowledged one by one (``AwsSolutions-IAM5[Resource::...]``) so that a new wildcard
still fails synth until someone writes down why it is needed.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from constructs import IConstruct

__all__ = ["acknowledge", "flatten", "iam4_managed_policy", "iam5_action", "iam5_resource"]


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge cdk-nag ``rule`` on ``scope`` and its children, with a written reason."""
    if not reason.strip():
        raise ValueError(f"an acknowledgment of {rule} needs a reason")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def iam4_managed_policy(name: str) -> str:
    """The id of the AwsSolutions-IAM4 finding about the AWS managed policy ``name``
    (e.g. ``service-role/AmazonAPIGatewayPushToCloudWatchLogs``)."""
    return f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]"


def iam5_resource(resource: str) -> str:
    """The id of one AwsSolutions-IAM5 finding about a wildcard resource."""
    return f"AwsSolutions-IAM5[Resource::{resource}]"


def iam5_action(action: str) -> str:
    """The id of one AwsSolutions-IAM5 finding about a wildcard action."""
    return f"AwsSolutions-IAM5[Action::{action}]"


def acknowledge_key_grants(scope: IConstruct) -> None:
    """CDK's grants on tables and buckets encrypted with a customer-managed key add two KMS
    action families; acknowledged under ``scope`` with the reason."""
    for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
        acknowledge(
            scope,
            iam5_action(action),
            "Added by CDK's grants on the tables and the bucket for their customer-managed "
            "key: the action families of encrypting with that one key (ReEncryptFrom/To, "
            "GenerateDataKey[WithoutPlaintext]); the statement's resource is the key itself.",
        )


def flatten(value: object, stack: cdk.Stack) -> str:
    """``value`` (a string that may hold tokens) as cdk-nag prints it in a finding id:
    ``Fn::GetAtt`` as ``<LogicalId.Attr>``, ``Ref`` as ``<Name>``, ``Fn::Sub``'s ``${Name}``
    as ``<Name>``, joins concatenated."""
    return _flatten(stack.resolve(value))


def _flatten(node: Any) -> str:
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(_flatten(item) for item in items)
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Ref" in node:
            return f"<{_flatten(node['Ref'])}>"
        if isinstance(node.get("Fn::Sub"), str):
            return _flatten(node["Fn::Sub"])
    return json.dumps(node, separators=(",", ":"))
