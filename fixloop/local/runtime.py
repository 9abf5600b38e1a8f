"""The embedded runtime: fixloop on one machine, no AWS account, no Docker.

moto's server runs on loopback inside this process and executes the real ASL file with its
interpreter; Lambda tasks are dispatched to the real handlers in-process. Every other call
(DynamoDB, S3, Step Functions) goes through boto3 to the local endpoint, set once with the
standard ``AWS_ENDPOINT_URL``, so the handlers cannot tell it from AWS.

Each function is created with its catalogue timeout and memory (``fixloop/functions.py``),
as the CDK app creates it. When an execution of the investigation machine ends FAILED,
TIMED_OUT or ABORTED, the runtime invokes ``reconcile`` asynchronously with the execution's
"Step Functions Execution Status Change" event, as the CDK app's EventBridge rule does.
``FIXLOOP_CHAOS`` turns on faults AWS produces and moto does not
(:mod:`fixloop.local.patches.chaos`).
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import string
import threading
import zipfile
from typing import Any, Self

from fixloop import aws
from fixloop.config import AFTERCARE_STATE_MACHINE_NAME, STATE_MACHINE_NAME, get_settings
from fixloop.domain.investigation import EXECUTION_END_STATUSES
from fixloop.functions import spec_of
from fixloop.local import patches
from fixloop.local.handlers import (
    AFTERCARE_FUNCTIONS,
    AFTERCARE_STATE_MACHINE_FILE,
    CONTINUE_AS_NEW_PLACEHOLDER,
    EXECUTION_END_FUNCTION,
    FUNCTIONS,
    STATE_MACHINE_FILE,
    Handler,
    LocalLambdaContext,
    load_handlers,
    registered_functions,
)
from fixloop.local.patches import chaos
from fixloop.local.sandboxes import LocalSandboxes
from fixloop.store.factory import stores as _stores_factory

PREFIX = "fixloop"
REGION = "us-east-1"
ROLE_NAME = "fixloop-local"


class EmbeddedRuntime:
    """Start with ``with EmbeddedRuntime() as rt:``; one per process (it sets the env)."""

    def __init__(self, settings: dict[str, str | None] | None = None) -> None:
        self._settings = settings or {}
        self._server: Any = None
        self._handlers: dict[str, Handler] = {}
        self.endpoint_url = ""
        self.access_key_id = "AKIA" + "".join(
            secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)
        )
        """The run's own credential: the only one its AWS answers."""
        self.state_machine_arn = ""
        self.aftercare_state_machine_arn = ""
        self.invocations: dict[str, int] = {}
        self.sandboxes = LocalSandboxes()
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        patches.assert_moto_version()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per local request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # This process's own calls (handlers, interpreter) skip HTTP; sandboxes use it.
        patches.serve_in_process(self.endpoint_url, patches.server_app(self._server))
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_ACCESS_KEY_ID": self.access_key_id,
                "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
                "AWS_SESSION_TOKEN": secrets.token_urlsafe(30),
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_SERVICE_NAME": "fixloop",
                "POWERTOOLS_METRICS_NAMESPACE": "fixloop",
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
                "FIXLOOP_EVENTS_TABLE": f"{PREFIX}-events",
                "FIXLOOP_INVESTIGATIONS_TABLE": f"{PREFIX}-investigations",
                "FIXLOOP_BLOBS_BUCKET": f"{PREFIX}-blobs",
                "FIXLOOP_INBOX_TABLE": f"{PREFIX}-inbox",
                "FIXLOOP_WAITS_TABLE": f"{PREFIX}-waits",
            }
        )
        self.configure(**self._settings)
        patches.install(self._dispatch)
        self.sandboxes.install()
        patches.set_execution_listener(self._execution_ended)
        patches.configure_server(self.endpoint_url)
        # From here on the server answers only this run's key: not whatever else on the
        # machine finds its port (a sandboxed command, another program).
        patches.set_run_credential(self._server, self.access_key_id)
        self._handlers = load_handlers(PREFIX)
        self._provision()

    def stop(self) -> None:
        patches.set_execution_listener(None)
        self.sandboxes.stop_all()
        if self._server is not None:
            patches.set_run_credential(self._server, "")
        if self._server is not None:
            patches.stop_serving(self.endpoint_url)
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
        chaos.current()  # a FIXLOOP_CHAOS it cannot read fails here, not in a request

    # -- resources ---------------------------------------------------------------------
    def _provision(self) -> None:
        settings = get_settings()
        ddb = aws.client("dynamodb")
        tables = (
            settings.events_table,
            settings.investigations_table,
            settings.sandboxes_table,
            settings.fingerprints_table,
            settings.inbox_table,
            settings.waits_table,
        )
        for name in tables:
            keys = (
                [("pk", "HASH"), ("sk", "RANGE")]
                if name in (settings.events_table, settings.inbox_table)
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
        arns: dict[str, str] = {}
        for folder in registered_functions():
            spec = spec_of(folder)
            arns[folder] = lam.create_function(
                FunctionName=f"{PREFIX}-{folder}",
                Runtime="python3.13",
                Role=role_arn,
                Handler="handler.lambda_handler",
                Code={"ZipFile": _placeholder_zip()},
                Timeout=spec.timeout_seconds,
                MemorySize=spec.memory_mb,
            )["FunctionArn"]
        substitutions = {placeholder: arns[folder] for placeholder, folder in FUNCTIONS.items()}
        # The machine's ARN before it exists (moto builds it as AWS does), for Continue As New.
        account = aws.client("sts").get_caller_identity()["Account"]
        own_arn = f"arn:aws:states:{REGION}:{account}:stateMachine:{STATE_MACHINE_NAME}"
        substitutions[CONTINUE_AS_NEW_PLACEHOLDER] = own_arn
        self.configure(repo_token_function=arns["repo_token"])
        definition = STATE_MACHINE_FILE.read_text()
        for key, value in substitutions.items():
            definition = definition.replace("${" + key + "}", value)
        self.state_machine_arn = aws.client("stepfunctions").create_state_machine(
            name=STATE_MACHINE_NAME, definition=definition, roleArn=role_arn, type="STANDARD"
        )["stateMachineArn"]
        if self.state_machine_arn != own_arn:
            raise RuntimeError(f"state machine ARN {self.state_machine_arn} is not {own_arn}")
        self.configure(state_machine_arn=self.state_machine_arn)
        aftercare = AFTERCARE_STATE_MACHINE_FILE.read_text()
        for placeholder, folder in AFTERCARE_FUNCTIONS.items():
            aftercare = aftercare.replace("${" + placeholder + "}", arns[folder])
        self.aftercare_state_machine_arn = aws.client("stepfunctions").create_state_machine(
            name=AFTERCARE_STATE_MACHINE_NAME, definition=aftercare, roleArn=role_arn
        )["stateMachineArn"]
        self.configure(aftercare_state_machine_arn=self.aftercare_state_machine_arn)
        self._provision_sandbox_cluster(role_arn)

    def _provision_sandbox_cluster(self, role_arn: str) -> None:
        """An ECS cluster and Fargate task definition as the CDK app has them; RunTask on it
        starts a local sandbox process (see fixloop.local.sandboxes)."""
        ec2 = aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(
            GroupName="fixloop-sandbox", Description="sandbox", VpcId=vpc
        )["GroupId"]
        ecs = aws.client("ecs")
        cluster = ecs.create_cluster(clusterName=f"{PREFIX}-sandboxes")["cluster"]["clusterArn"]
        task_definition = ecs.register_task_definition(
            family=f"{PREFIX}-sandbox",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="1024",
            memory="2048",
            taskRoleArn=role_arn,
            executionRoleArn=role_arn,
            containerDefinitions=[
                {
                    "name": "sandbox",
                    "image": "fixloop-sandbox:local",
                    "memory": 2048,
                    "essential": True,
                    "command": ["python", "-m", "fixloop.sandbox", "serve", "--port", "8080"],
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        self.configure(
            sandbox_cluster=cluster,
            sandbox_task_definition=task_definition,
            sandbox_subnets=subnet,
            sandbox_security_groups=group,
        )

    def add_function(self, name: str, handler: Handler, *, timeout_seconds: int = 3) -> str:
        """Create Lambda function ``name`` routed to ``handler`` (the same dispatch path as
        fixloop's own functions), with Lambda's default timeout unless told; returns its ARN.
        Benchmarks use it for a bare machine."""
        role_arn = aws.client("iam").get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
        self._handlers[name] = handler
        arn: str = aws.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role_arn,
            Handler="handler.lambda_handler",
            Code={"ZipFile": _placeholder_zip()},
            Timeout=timeout_seconds,
        )["FunctionArn"]
        return arn

    def replace_handler(self, function_name: str, handler: Handler) -> Handler:
        """Route Lambda function ``function_name`` (``fixloop-<folder>``) to ``handler``;
        returns the handler it replaces. Tests put a fault into one function with it."""
        with self._lock:
            previous = self._handlers[function_name]
            self._handlers[function_name] = handler
        return previous

    def _execution_ended(self, event: dict[str, Any]) -> None:
        """Deliver an execution's end as the CDK app's rule does: the investigation machine's
        executions that ended FAILED, TIMED_OUT or ABORTED go to ``reconcile``, invoked
        asynchronously (Lambda retries it twice if it fails)."""
        detail = event.get("detail") or {}
        if detail.get("stateMachineArn") != self.state_machine_arn:
            return
        if detail.get("status") not in EXECUTION_END_STATUSES:
            return
        aws.client("lambda").invoke(
            FunctionName=f"{PREFIX}-{EXECUTION_END_FUNCTION}",
            InvocationType="Event",
            Payload=json.dumps(event).encode(),
        )

    def _dispatch(self, function_name: str, event: dict[str, Any]) -> Any:
        handler = self._handlers.get(function_name)
        if handler is None:
            raise LookupError(f"no local handler for Lambda function {function_name}")
        with self._lock:
            self.invocations[function_name] = self.invocations.get(function_name, 0) + 1
        return handler(event, LocalLambdaContext(function_name))


def _placeholder_zip() -> bytes:
    """moto wants a code bundle; the real handler is dispatched in-process instead."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    return buf.getvalue()


__all__ = ["EmbeddedRuntime"]
