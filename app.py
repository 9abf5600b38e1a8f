#!/usr/bin/env python3
"""CDK entry point: ``cdk synth`` / ``cdk deploy`` (or ``make synth``: ``.venv/bin/python app.py``).

Makes no AWS call: with CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION set (the CDK CLI sets them
from the current credentials) the stacks are bound to that environment, otherwise they are
environment-agnostic. cdk-nag's AwsSolutions pack validates the whole app at synth; a finding
fails synthesis unless it is acknowledged with a reason (see stacks/nag.py). The cloud
assembly goes to ``cdk.out/`` next to this file, or where the CDK CLI says (``CDK_OUTDIR``,
``cdk synth -o DIR``).
"""

from __future__ import annotations

import os
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks import FixloopStack


def environment() -> cdk.Environment | None:
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = os.environ.get("CDK_DEFAULT_REGION")
    if account and region:
        return cdk.Environment(account=account, region=region)
    return None


DEFAULT_OUTDIR = Path(__file__).resolve().parent / "cdk.out"


def outdir() -> str:
    """Where the cloud assembly is written: the CDK CLI's ``CDK_OUTDIR`` when it runs the app,
    else ``cdk.out/`` of the project (without one, an ``App`` writes to a temporary
    directory, and ``make synth`` would leave nothing to look at)."""
    return os.environ.get("CDK_OUTDIR") or str(DEFAULT_OUTDIR)


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
    build_app(cdk.App(outdir=outdir())).synth()
