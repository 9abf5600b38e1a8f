"""Channel credentials: from Secrets Manager in AWS, from the environment locally."""

from __future__ import annotations

from functools import lru_cache

from fixloop import aws


@lru_cache(maxsize=16)
def secret_value(arn: str, local_value: str) -> str:
    """The secret ``arn`` (its SecretString, stripped) or, without an ARN, ``local_value``.
    Empty when neither is set: the channel is not configured."""
    if arn:
        value = aws.client("secretsmanager").get_secret_value(SecretId=arn)
        return str(value["SecretString"]).strip()
    return local_value
