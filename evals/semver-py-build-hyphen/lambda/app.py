"""deploy-gate: refuses a release whose version is not newer than what runs in production."""

import json
import logging
import os

import boto3
from semver import Version

logger = logging.getLogger()
logger.setLevel(logging.INFO)
ssm = boto3.client("ssm") if os.environ.get("AWS_EXECUTION_ENV") else None


def current_version(service: str) -> str:
    if ssm is None:
        return "2.7.3+git-9b1d04e"
    return ssm.get_parameter(Name=f"/releases/{service}/current")["Parameter"]["Value"]


def check(service: str, candidate: str) -> dict[str, object]:
    current = Version.parse(current_version(service))
    proposed = Version.parse(candidate)
    return {"service": service, "allowed": proposed > current, "current": str(current)}


def lambda_handler(event: dict[str, object], context: object) -> dict[str, object]:
    release = json.loads(str(event["body"]))
    try:
        return check(release["service"], release["version"])
    except ValueError:
        logger.exception("cannot compare release %s of %s", release["version"], release["service"])
        raise
