#!/usr/bin/env python3
"""CDK entry point: ``cdk synth`` / ``cdk deploy`` (or ``.venv/bin/python app.py``).

Makes no AWS call: with CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION set (the CDK CLI sets them
from the current credentials) the stacks are bound to that environment, otherwise they are
environment-agnostic. cdk-nag's AwsSolutions pack validates the whole app at synth; a finding
fails synthesis unless it is acknowledged with a reason (see stacks/nag.py).
"""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks import FixloopStack


def environment() -> cdk.Environment | None:
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = os.environ.get("CDK_DEFAULT_REGION")
    if account and region:
        return cdk.Environment(account=account, region=region)
    return None


def build_app(app: cdk.App | None = None) -> cdk.App:
    """Define every fixloop stack in ``app`` (a new App by default) and register cdk-nag."""
    app = app or cdk.App()
    FixloopStack(
        app,
        "Fixloop",
        env=environment(),
        description="fixloop: durable AI DevOps agent (Step Functions loop over Lambda)",
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app().synth()
