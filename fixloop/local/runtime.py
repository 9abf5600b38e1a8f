"""The embedded runtime: fixloop on one machine, no AWS account, no Docker.

moto's server runs on loopback inside this process and executes the real ASL file with its
interpreter; Lambda tasks are dispatched to the real handlers in-process. Every other call
(DynamoDB, S3, Step Functions) goes through boto3 to the local endpoint, set once with the
standard ``AWS_ENDPOINT_URL``, so the handlers cannot tell it from AWS.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fixloop import aws
from fixloop.config import get_settings
from fixloop.domain import Investigation, execution_name
from fixloop.domain.investigation import TERMINAL_STATUSES
from fixloop.errors import FixloopError
from fixloop.local import moto_patches
from fixloop.local.execution_stats import execution_stats
from fixloop.local.handlers import (
    FUNCTIONS,
    STATE_MACHINE_FILE,
    Handler,
    LocalLambdaContext,
    load_handlers,
)
from fixloop.store import StoredEvent, stores
from fixloop.store.factory import stores as _stores_factory

PREFIX = "fixloop"
REGION = "us-east-1"
ACCOUNT = "123456789012"
STATE_MACHINE_NAME = "fixloop-investigation"
ROLE_NAME = "fixloop-local"


class RuntimeTimeout(FixloopError):
    """An investigation did not finish within the time allowed."""


@dataclass(frozen=True)
class RunSummary:
    investigation: Investigation
    events: int
    tool_calls: int
    executions: int
    state_transitions: int
    history_events: int
    max_state_payload_bytes: int
    duration_s: float

    def as_json(self) -> dict[str, Any]:
        inv = self.investigation
        return {
            "investigation_id": inv.investigation_id,
            "status": inv.status,
            "outcome": inv.outcome,
            "turns": inv.turns,
            "tool_calls": self.tool_calls,
            "events": self.events,
            "executions": self.executions,
            "state_transitions": self.state_transitions,
            "history_events": self.history_events,
            "max_state_payload_bytes": self.max_state_payload_bytes,
            "duration_s": round(self.duration_s, 3),
            "model": inv.model,
        }


class EmbeddedRuntime:
    """Start with ``with EmbeddedRuntime() as rt:``; one per process (it sets the env)."""

    def __init__(self, settings: dict[str, str | None] | None = None) -> None:
        self._settings = settings or {}
        self._server: Any = None
        self._handlers: dict[str, Handler] = {}
        self.endpoint_url = ""
        self.state_machine_arn = ""
        self.invocations: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> EmbeddedRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        moto_patches.assert_moto_version()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per local request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_SERVICE_NAME": "fixloop",
                "POWERTOOLS_METRICS_NAMESPACE": "fixloop",
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
                "FIXLOOP_EVENTS_TABLE": f"{PREFIX}-events",
                "FIXLOOP_INVESTIGATIONS_TABLE": f"{PREFIX}-investigations",
                "FIXLOOP_BLOBS_BUCKET": f"{PREFIX}-blobs",
            }
        )
        self.configure(**self._settings)
        moto_patches.install(self._dispatch)
        moto_patches.configure_server(self.endpoint_url)
        self._handlers = load_handlers(PREFIX)
        self._provision()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def configure(self, **settings: str | None) -> None:
        """Set ``FIXLOOP_*`` settings (``max_turns_per_generation="10"``; None unsets one)."""
        for key, value in settings.items():
            if value is None:
                os.environ.pop(f"FIXLOOP_{key.upper()}", None)
            else:
                os.environ[f"FIXLOOP_{key.upper()}"] = value
        get_settings.cache_clear()
        _stores_factory.cache_clear()
        aws.reset_clients()

    # -- resources ---------------------------------------------------------------------
    def _provision(self) -> None:
        settings = get_settings()
        ddb = aws.client("dynamodb")
        for name in (settings.events_table, settings.investigations_table):
            keys = (
                [("pk", "HASH"), ("sk", "RANGE")]
                if name == settings.events_table
                else [("pk", "HASH")]
            )
            ddb.create_table(
                TableName=name,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
            )
        aws.client("s3").create_bucket(Bucket=settings.blobs_bucket)
        role_arn = aws.client("iam").create_role(
            RoleName=ROLE_NAME,
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        lam = aws.client("lambda")
        substitutions: dict[str, str] = {}
        for placeholder, folder in FUNCTIONS.items():
            name = f"{PREFIX}-{folder}"
            arn = lam.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role_arn,
                Handler="handler.lambda_handler",
                Code={"ZipFile": _placeholder_zip()},
            )["FunctionArn"]
            substitutions[placeholder] = arn
        definition = STATE_MACHINE_FILE.read_text()
        for key, value in substitutions.items():
            definition = definition.replace("${" + key + "}", value)
        self.state_machine_arn = aws.client("stepfunctions").create_state_machine(
            name=STATE_MACHINE_NAME, definition=definition, roleArn=role_arn, type="STANDARD"
        )["stateMachineArn"]
        self.configure(state_machine_arn=self.state_machine_arn)

    def _dispatch(self, function_name: str, event: dict[str, Any]) -> Any:
        handler = self._handlers.get(function_name)
        if handler is None:
            raise LookupError(f"no local handler for Lambda function {function_name}")
        with self._lock:
            self.invocations[function_name] = self.invocations.get(function_name, 0) + 1
        return handler(event, LocalLambdaContext(function_name))

    # -- investigations ---------------------------------------------------------------
    def wait(
        self,
        investigation_id: str,
        *,
        timeout_s: float = 600,
        on_event: Callable[[StoredEvent], None] | None = None,
        poll_s: float = 0.1,
    ) -> Investigation:
        """Follow the log until the investigation is closed and its executions ended.

        Tool results of one turn are written in parallel, so they can land out of position
        order; the follower re-reads from the last turn boundary and skips what it has seen.
        """
        st = stores()
        deadline = time.monotonic() + timeout_s
        seen: set[str] = set()
        settled: str | None = None  # everything up to here is final

        def drain() -> None:
            nonlocal settled
            previous = settled
            for stored in st.events.read(investigation_id, after=settled):
                if stored.event.type == "assistant_message" and previous is not None:
                    settled = previous
                previous = stored.position
                if stored.position in seen:
                    continue
                seen.add(stored.position)
                if on_event is not None:
                    on_event(stored)

        while True:
            drain()
            inv = st.investigations.get(investigation_id)
            if inv.status in TERMINAL_STATUSES and not self._running(inv):
                drain()
                return inv
            if time.monotonic() > deadline:
                raise RuntimeTimeout(
                    f"investigation {investigation_id} still {inv.status} after {timeout_s:.0f}s"
                )
            time.sleep(poll_s)

    def executions(self, investigation_id: str) -> list[dict[str, Any]]:
        sfn = aws.client("stepfunctions")
        found: list[dict[str, Any]] = []
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn
        ):
            found.extend(
                e for e in page["executions"] if e["name"].startswith(f"{investigation_id}-g")
            )
        return sorted(found, key=lambda e: e["name"])

    def _running(self, inv: Investigation) -> bool:
        """Whether an execution of the investigation is still running (its latest two
        generations: the one recorded and one it may have just started)."""
        sfn = aws.client("stepfunctions")
        prefix = self.state_machine_arn.replace(":stateMachine:", ":execution:")
        for generation in (inv.generation, inv.generation + 1):
            arn = f"{prefix}:{execution_name(inv.investigation_id, generation)}"
            try:
                if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                    return True
            except sfn.exceptions.ExecutionDoesNotExist:
                continue
        return False

    def summary(self, investigation_id: str, duration_s: float = 0.0) -> RunSummary:
        st = stores()
        inv = st.investigations.get(investigation_id)
        events = list(st.events.read(investigation_id))
        sfn = aws.client("stepfunctions")
        stats = [execution_stats(sfn, e["executionArn"]) for e in self.executions(investigation_id)]
        return RunSummary(
            investigation=inv,
            events=len(events),
            tool_calls=sum(1 for e in events if e.event.type == "tool_result"),
            executions=len(stats),
            state_transitions=sum(s.state_transitions for s in stats),
            history_events=sum(s.history_events for s in stats),
            max_state_payload_bytes=max((s.max_payload_bytes for s in stats), default=0),
            duration_s=duration_s,
        )


@contextmanager
def embedded_runtime(**settings: str | None) -> Iterator[EmbeddedRuntime]:
    with EmbeddedRuntime(settings) as rt:
        yield rt


def _placeholder_zip() -> bytes:
    """moto wants a code bundle; the real handler is dispatched in-process instead."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    return buf.getvalue()


__all__ = ["EmbeddedRuntime", "RunSummary", "RuntimeTimeout", "embedded_runtime"]
