"""Open an investigation: its record, its first event, and its first execution."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from fixloop import aws
from fixloop.config import get_settings
from fixloop.domain import (
    DeployWatch,
    Investigation,
    LoopState,
    Signal,
    SignalReceived,
    clean_title,
    execution_name,
    new_investigation_id,
)
from fixloop.domain.events import signal_position
from fixloop.errors import ConfigError
from fixloop.metrics import INVESTIGATIONS_STARTED, count
from fixloop.store import stores

LAMBDA_LOG_GROUP = "/aws/lambda/"


def start_investigation(
    signal: Signal,
    *,
    repo: str,
    commit: str,
    model: str | None = None,
    investigation_id: str | None = None,
    state_machine_arn: str | None = None,
    github_repo: str = "",
    budget_tokens: int | None = None,
    budget_cost_usd: float | None = None,
    budget_wall_seconds: int | None = None,
    fingerprint: str = "",
    service: str = "",
    deploy_watch: DeployWatch | None = None,
) -> Investigation:
    """Create the investigation and start generation 0 of its state machine.

    Safe to repeat with the same ``investigation_id``: the record and the signal event are
    first-writer-wins and the execution name is derived, so a duplicate starts nothing.
    The budgets, when given, replace the configured ones (``FIXLOOP_BUDGET_*``) for this one.
    ``fingerprint`` (triage's), ``service`` (default: from the signal) and ``deploy_watch``
    (the target's) are what the aftercare follows its fix with.
    """
    settings = get_settings()
    state_machine_arn = state_machine_arn or settings.state_machine_arn
    if not state_machine_arn:
        raise ConfigError("FIXLOOP_STATE_MACHINE_ARN is not set")
    inv = Investigation(
        investigation_id=investigation_id or new_investigation_id(),
        title=clean_title(signal.title),
        signal_kind=signal.kind,
        signal_source=signal.source,
        repo=repo,
        commit=commit,
        github_repo=github_repo,
        model=model or settings.model,
        budget_tokens=budget_tokens,
        budget_cost_usd=budget_cost_usd,
        budget_wall_seconds=budget_wall_seconds,
        fingerprint=fingerprint,
        service=service or service_of_signal(signal),
        deploy_watch=deploy_watch,
    )
    st = stores()
    if st.investigations.create(inv):
        count(INVESTIGATIONS_STARTED)
    else:
        inv = st.investigations.get(inv.investigation_id)
    st.events.append(inv.investigation_id, signal_position(), SignalReceived(signal=signal))
    try:
        aws.client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn,
            name=execution_name(inv.investigation_id, 0),
            input=json.dumps(LoopState(investigation_id=inv.investigation_id).payload()),
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
    return inv


def service_of_signal(signal: Signal) -> str:
    """The service a signal is from: a Lambda function (its ``/aws/lambda/<name>`` log group,
    an alarm's ``FunctionName`` dimension), else the log group or alarm itself."""
    if signal.kind == "log_errors" and signal.source.startswith(LAMBDA_LOG_GROUP):
        return signal.source[len(LAMBDA_LOG_GROUP) :]
    if signal.kind == "alarm":
        for metric in _metrics(signal):
            dims = ((metric.get("metricStat") or {}).get("metric") or {}).get("dimensions")
            if isinstance(dims, dict) and dims.get("FunctionName"):
                return str(dims["FunctionName"])
    return signal.source


def _metrics(signal: Signal) -> list[dict[str, Any]]:
    try:
        metrics = json.loads(str(signal.details.get("metrics") or "[]"))
    except ValueError:
        return []
    return [m for m in metrics if isinstance(m, dict)] if isinstance(metrics, list) else []
