"""Repo Token: a read-only GitHub token for the sandbox to clone its investigation's repository.

Invoked by the sandbox task (the only principal allowed to), never by the state machine. The
sandbox never holds the GitHub credentials themselves: it gets an installation token that can
only read contents and expires within the hour.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.credentials.repo_token import RepoTokenRequest, clone_token

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"token": clone_token(RepoTokenRequest.model_validate(event).investigation_id)}
