"""Tables and the blobs bucket (stacks/constructs/storage.py)."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

from tests.infra.support import resources


def test_events_table_is_keyed_by_investigation_and_position_with_a_stream(
    template: Template,
) -> None:
    # Given / When the app is synthesized
    # Then Events has pk/sk strings, on-demand billing, PITR, SSE and a NEW_IMAGE stream
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_investigations_table_is_keyed_by_investigation(template: Template) -> None:
    # Given / When the app is synthesized
    # Then Investigations has a pk string only, and the same durability settings
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "StreamSpecification": Match.absent(),
            },
            "DeletionPolicy": "Retain",
        },
    )
    template.resource_count_is("AWS::DynamoDB::Table", 7)  # + Connections (live)


def test_sandboxes_table_is_ephemeral_with_a_ttl(template: Template) -> None:
    # Given / When the app is synthesized
    # Then Sandboxes is keyed by investigation, on-demand, PITR, SSE, with TTL on expires_at,
    # and (ephemeral state) deleted with the stack
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            },
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
        },
    )


def test_blobs_bucket_is_private_encrypted_and_ssl_only(template: Template) -> None:
    # Given / When the app is synthesized
    # Then the bucket blocks public access, is encrypted, retained, and denies plain HTTP
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "BucketKeyEnabled": True,
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {
                                    "Fn::GetAtt": [Match.string_like_regexp("^DataKey"), "Arn"]
                                },
                            },
                        }
                    ]
                },
            },
            "DeletionPolicy": "Retain",
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_inbox_is_ordered_per_investigation_and_waits_expire(template: Template) -> None:
    # Given / When the app is synthesized
    # Then Inbox is keyed by investigation and sequence, durable like the log; Waits by
    # investigation with a TTL, deleted with the stack (a token outlives no execution)
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
            },
            "DeletionPolicy": "Retain",
        },
    )
    waits = [
        r
        for k, r in resources(dict(template.to_json()), "AWS::DynamoDB::Table").items()
        if k.startswith("StorageWaits")
    ]
    assert len(waits) == 1
    assert waits[0]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    assert waits[0]["DeletionPolicy"] == "Delete"
    # (both encrypted with the data key: test_data_is_encrypted_with_one_...)
    assert waits[0]["Properties"]["SSESpecification"]["SSEType"] == "KMS"
