"""The investigation log, the investigations table, the sandboxes table and the blob bucket."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import acknowledge

__all__ = ["Storage"]


class Storage(Construct):
    """DynamoDB tables ``Events``, ``Investigations``, ``Sandboxes``, ``Fingerprints``,
    ``Inbox`` and ``Waits``, the S3 bucket ``Blobs``.

    Data outlives the stack (``RemovalPolicy.RETAIN``), except the ephemeral ``Sandboxes``;
    tables are on-demand and have point-in-time recovery; tables and bucket are encrypted with
    the customer-managed ``key`` (stacks/constructs/encryption.py).
    """

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.key = key

        self.events = self._table(
            "Events",
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            # The stream fans events out to live-view subscribers (a later issue).
            stream=dynamodb.StreamViewType.NEW_IMAGE,
        )
        """Append-only log per investigation: pk = investigation id, sk = sortable position."""

        self.investigations = self._table("Investigations")
        """One item per investigation: pk = investigation id."""

        self.sandboxes = self._table(
            "Sandboxes",
            time_to_live_attribute="expires_at",
            # Ephemeral state: which Fargate task serves an investigation's tools, its address
            # and its lease. Every item expires (TTL) and a lost item only costs a cold start
            # (the workspace itself is snapshotted to Blobs), so deleting the stack may drop it.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        """The running sandbox of an investigation, if any: pk = investigation id."""

        self.fingerprints = self._table("Fingerprints")
        """Which investigation a problem belongs to: pk = fingerprint (triage)."""

        self.inbox = self._table(
            "Inbox", sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING)
        )
        """Messages from people, ordered per investigation, with their delivery records;
        channel links and outbound post records (fixloop/store/inbox.py)."""

        self.waits = self._table(
            "Waits",
            time_to_live_attribute="expires_at",
            # Open task tokens: each expires (TTL) an hour after its wait times out, and a
            # token is worthless without its execution, so deleting the stack may drop them.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        """The open wait (task token) of an investigation waiting on a person: pk = id."""

        self.blobs = s3.Bucket(
            self,
            "Blobs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            # One data key request per object prefix and hour instead of per object.
            bucket_key_enabled=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        """Large tool output and workspace snapshots, referenced from events."""
        acknowledge(
            self.blobs,
            "AwsSolutions-S1",
            "Blobs is private and only reached by the loop functions' roles; object-level "
            "audit belongs to CloudTrail data events, which the operator enables per account. "
            "Server access logs would need a second bucket with no reader.",
        )

    def _table(
        self,
        construct_id: str,
        *,
        sort_key: dynamodb.Attribute | None = None,
        stream: dynamodb.StreamViewType | None = None,
        time_to_live_attribute: str | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=sort_key,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            stream=stream,
            time_to_live_attribute=time_to_live_attribute,
            removal_policy=removal_policy,
        )

    def grant_key(self, role: iam.IRole, *, write: bool) -> None:
        """What a role with hand-written table or bucket statements needs of the key: decrypt
        what it reads and, with ``write``, data keys for what it writes. (CDK's own grants on
        the tables and bucket add this themselves.)"""
        actions = ["kms:Decrypt", "kms:DescribeKey"]
        if write:
            actions += ["kms:Encrypt", "kms:GenerateDataKey"]
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=[self.key.key_arn])
        )
