"""The customer-managed KMS key fixloop's data is encrypted with.

One key (alias ``alias/fixloop``, yearly rotation, retained with the data) for the DynamoDB
tables, the Blobs bucket, the secrets fixloop creates and its CloudWatch log groups, so that
an operator can audit every read of investigation data in CloudTrail and cut access to all of
it by disabling one key. Roles get KMS permissions through CDK's grants on the tables, bucket
and secrets (or explicitly, for the sandbox task role's exact statements); CloudWatch Logs is
allowed by the key policy, limited to this account's and region's log groups.
"""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

__all__ = ["KEY_ALIAS", "DataKey", "EncryptLogGroups"]

KEY_ALIAS = "alias/fixloop"


class DataKey(Construct):
    """``key``: symmetric, rotated yearly, retained when the stack is deleted."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            alias=KEY_ALIAS,
            description="fixloop: tables, blobs, secrets and logs",
            enable_key_rotation=True,
            # Deleting the key would make the retained tables and bucket unreadable.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.{stack.url_suffix}")],
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:DescribeKey",
                ],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )


@jsii.implements(cdk.IAspect)
class EncryptLogGroups:
    """Encrypt every log group of a scope that has no key of its own with ``key``: one place
    instead of a key argument on each construct that makes a log group."""

    def __init__(self, key: kms.IKey) -> None:
        self.key = key

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup) and node.kms_key_id is None:
            node.kms_key_id = self.key.key_arn
