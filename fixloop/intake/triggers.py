"""Triggers: a payload from EventBridge, CloudWatch Logs or the REST API becomes investigations.

Which repository a signal is about comes from configuration (``FIXLOOP_TARGETS``, then
``FIXLOOP_DEFAULT_GITHUB_REPO``). A payload that is not a signal, or a signal nothing is
configured for, is refused with the reason (logged, never raised: a trigger that raised
would be retried by its caller with the same payload forever).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ValidationError, model_validator

from fixloop.config import get_settings, id_list
from fixloop.conversation import Announcer
from fixloop.domain import DeployWatch, Signal, parse_signal
from fixloop.errors import ConfigError, SignalError
from fixloop.intake.admission import Admission, Target, admit

logger = Logger(child=True)


class TargetConfig(BaseModel):
    github_repo: str = ""
    repo: str = ""
    """A clone source (a URL or, on one machine, a path); default: the GitHub repository."""
    branch: str = "main"
    # Where the service's deployments show (fixloop.aftercare.deployment); all optional, the
    # signal gives the Lambda function and log group when these are empty.
    service: str = ""
    """The Powertools ``service`` of its log lines; also how ``fixloop stats`` names it."""
    functions: str = ""
    """Comma-separated Lambda function names."""
    log_group: str = ""
    stack: str = ""
    """The CloudFormation stack that deploys it."""
    codedeploy_application: str = ""
    codedeploy_group: str = ""
    version_key: str = ""

    def deploy_watch(self) -> DeployWatch:
        return DeployWatch(
            functions=sorted(id_list(self.functions)),
            log_group=self.log_group,
            service=self.service,
            version_key=self.version_key,
            stack=self.stack,
            codedeploy_application=self.codedeploy_application,
            codedeploy_group=self.codedeploy_group,
        )

    @model_validator(mode="after")
    def _needs_a_repository(self) -> TargetConfig:
        if not (self.github_repo or self.repo):
            raise ValueError("a target needs github_repo or repo")
        return self


@dataclass(frozen=True)
class TriggerResult:
    admissions: list[Admission] = field(default_factory=list)
    refused: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "refused": self.refused or None,
            "admissions": [
                {
                    "investigation_id": a.investigation_id,
                    "started": a.started,
                    "occurrences": a.occurrences,
                    "title": a.title,
                }
                for a in self.admissions
            ],
        }


def target_for(signal: Signal) -> Target:
    settings = get_settings()
    try:
        raw = json.loads(settings.targets or "{}")
        targets = {str(k): TargetConfig.model_validate(v) for k, v in dict(raw).items()}
    except (ValueError, TypeError, ValidationError) as exc:
        raise ConfigError(f"FIXLOOP_TARGETS is not valid: {exc}") from exc
    chosen = next((t for pattern, t in targets.items() if fnmatch(signal.source, pattern)), None)
    if chosen is None and settings.default_github_repo:
        chosen = TargetConfig(github_repo=settings.default_github_repo)
    if chosen is None:
        raise ConfigError(
            f"no repository is configured for {signal.source}: add it to FIXLOOP_TARGETS "
            "or set FIXLOOP_DEFAULT_GITHUB_REPO"
        )
    source = chosen.repo or f"{settings.github_web_url.rstrip('/')}/{chosen.github_repo}.git"
    return Target(
        repo=source,
        commit=chosen.branch,
        github_repo=chosen.github_repo,
        state_machine_arn=settings.state_machine_arn or None,
        deploy_watch=chosen.deploy_watch(),
        service=chosen.service,
    )


def handle_payload(payload: Any, *, announce: Announcer | None = None) -> TriggerResult:
    """Parse, route and admit one delivery; refusals are results, not exceptions.
    ``announce`` tells people of a fix that did not hold or may have regressed."""
    try:
        signal = parse_signal(payload)
        target = target_for(signal)
    except (SignalError, ConfigError) as exc:
        logger.warning("signal refused", extra={"reason": str(exc)})
        return TriggerResult(refused=str(exc))
    admissions = admit(signal, target, announce=announce)
    for a in admissions:
        logger.info(
            "signal admitted",
            extra={
                "investigation_id": a.investigation_id,
                "started": a.started,
                "occurrences": a.occurrences,
            },
        )
    return TriggerResult(admissions=admissions)
