"""The data key (stacks/constructs/encryption.py) and what it encrypts."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.support import actions, only, resources


def test_data_is_encrypted_with_one_rotated_retained_customer_managed_key(
    template_json: dict[str, Any],
) -> None:
    # Given the data key
    key_id, key = only(template_json, "AWS::KMS::Key")
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}

    # When / Then it rotates, outlives the stack and is aliased alias/fixloop
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    (alias,) = resources(template_json, "AWS::KMS::Alias").values()
    assert alias["Properties"]["AliasName"] == "alias/fixloop"
    # And every table is encrypted with it and has point-in-time recovery
    tables = resources(template_json, "AWS::DynamoDB::Table")
    assert len(tables) == 7
    for table_id, table in tables.items():
        props = table["Properties"]
        assert props["SSESpecification"] == {
            "KMSMasterKeyId": key_arn,
            "SSEEnabled": True,
            "SSEType": "KMS",
        }, table_id
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, (
            table_id
        )
    # And so is every log group and every secret the stack creates (the GitHub webhook's,
    # Slack's and Linear's)
    for group_id, group in resources(template_json, "AWS::Logs::LogGroup").items():
        assert group["Properties"]["KmsKeyId"] == key_arn, group_id
    secrets = resources(template_json, "AWS::SecretsManager::Secret")
    assert len(secrets) == 5
    for secret_id, secret in secrets.items():
        assert secret["Properties"]["KmsKeyId"] == key_arn, secret_id
    # And CloudWatch Logs may use it for this account's and region's log groups only
    logs_statements = [
        st
        for st in key["Properties"]["KeyPolicy"]["Statement"]
        if "logs." in json.dumps(st.get("Principal", {}))
    ]
    (statement,) = logs_statements
    assert "aws:logs:arn" in json.dumps(statement["Condition"])
    assert not [a for a in actions(statement) if "*" in a]
