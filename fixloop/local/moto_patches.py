"""Patches that let moto 5.2.5 run fixloop's real state machine on one machine.

moto's server (``moto.server.ThreadedMotoServer``, in this process) executes the ASL with its
built-in interpreter (``moto.stepfunctions.parser``) when ``execute_state_machine`` is on. What
it lacks, and what :func:`install` patches (see ``/work/shared/notes/local-stepfunctions.md``):

1. Lambda ``Invoke`` (``moto.awslambda_simple.models.LambdaSimpleBackend.invoke``) returns a
   canned string. It is replaced by a call to ``dispatch(function_name, event)`` in-process; an
   exception comes back as a Lambda function error (``X-Amz-Function-Error: Unhandled`` and
   ``{"errorMessage", "errorType", "stackTrace"}``), so ASL Retry/Catch match on the exception
   class name. This serves direct ``lambda.invoke`` calls, ``arn:aws:states:::lambda:invoke``
   and plain function-ARN ``Resource`` tasks alike (the interpreter calls Lambda over HTTP).
2. ``StateTaskService._normalise_parameters`` / ``_normalise_response`` are empty in moto, so
   the PascalCase ``Parameters`` of service integrations never reach boto3
   (``states:startExecution`` fails with ``States.Runtime 'StateMachineArn'``). They are
   restored from botocore's service models (input and output shapes), for every service.
3. The interpreter's own boto3 clients (``moto.stepfunctions.parser.asl.utils.boto_client
   .boto_client_for``) target ``http://localhost:$MOTO_PORT`` (default 5000), not the server
   that runs the execution, and build a new client per task (~10 ms each). They are pointed
   at the endpoint given to :func:`configure_server` and cached per (endpoint, region, service).
4. ``GetExecutionHistory`` ignores ``maxResults``/``nextToken``/``reverseOrder``/
   ``includeExecutionData`` and deep-copies the whole history on every call
   (``moto.stepfunctions.responses.StepFunctionResponse.get_execution_history``). It is
   replaced by a paging implementation with AWS's defaults (100 per page, at most 1000).
5. Retry intervals sleep for real (``time.sleep`` in ``moto.stepfunctions.parser.asl.component
   .common.retry.retrier_decl.RetrierDecl._eval_body``). That one call is routed through a hook
   that tests can replace with :func:`set_retry_sleep`.

Everything else the real ASL uses (context object, ``MaxConcurrencyPath``, ``ItemSelector``
with ``$$.Map.Item.*``, ``JitterStrategy``/``MaxDelaySeconds``, ``Catch`` with ``ResultPath``,
execution history details for Map iterations and Lambda tasks) works on moto 5.2.5 unchanged.

Known differences left alone: a Choice rule whose ``Variable`` path is missing falls through to
``Default`` (AWS fails with ``States.Runtime``); timestamps in integration results (e.g.
``StartDate``) are ISO-8601 strings; every execution re-parses its definition (~80-100 ms for
the investigation ASL).

The patches reach into moto internals: moto is pinned exactly, :func:`assert_moto_version`
checks the pin and :func:`install` raises ``RuntimeError`` naming whatever it cannot find.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import importlib
import json
import logging
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType, TracebackType
from typing import Any, Final, cast

LOG = logging.getLogger(__name__)

MOTO_VERSION: Final = "5.2.5"

# Applied to the server by configure_server(); read by moto on every request.
MOTO_CONFIG: Final[dict[str, dict[str, bool]]] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}

Dispatch = Callable[[str, dict[str, Any]], Any]
RetrySleep = Callable[[float], None]

# AWS GetExecutionHistory: maxResults 0 or absent means 100; more than 1000 is rejected.
_HISTORY_DEFAULT_PAGE: Final = 100
_HISTORY_MAX_PAGE: Final = 1000

_LAMBDA_SIMPLE: Final = "moto.awslambda_simple.models"
_SERVICE_TASK: Final = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service"
)
_RETRIER: Final = "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"
_BOTO_CLIENT: Final = "moto.stepfunctions.parser.asl.utils.boto_client"
_SFN_RESPONSES: Final = "moto.stepfunctions.responses"
_SFN_EXCEPTIONS: Final = "moto.stepfunctions.exceptions"
_PARSER_UTILS: Final = "moto.stepfunctions.parser.utils"
_EVENT_MANAGER: Final = "moto.stepfunctions.parser.asl.eval.event.event_manager"
_PARSER_PACKAGE: Final = "moto.stepfunctions.parser"


class _State:
    """Module-wide patch state, guarded by ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.dispatch: Dispatch | None = None
        self.retry_sleep: RetrySleep = time.sleep
        self.endpoint_url: str | None = None
        self.originals: dict[tuple[object, str], Any] = {}
        self.clients: dict[tuple[str, str, str], Any] = {}
        self.boto_session: Any = None
        self.operations: dict[tuple[str, str], Any] = {}
        self.botocore_session: Any = None


_STATE = _State()


# --------------------------------------------------------------------------- public API


def assert_moto_version() -> None:
    """Raise ``RuntimeError`` unless the installed moto is exactly the pinned version."""
    try:
        import moto
    except ImportError as exc:  # pragma: no cover - moto is a local-only extra
        raise RuntimeError(
            f"fixloop.local needs moto=={MOTO_VERSION} (pip install 'fixloop[local]')"
        ) from exc
    version = getattr(moto, "__version__", None)
    if version != MOTO_VERSION:
        raise RuntimeError(
            f"fixloop.local.moto_patches targets moto=={MOTO_VERSION} internals, found moto "
            f"{version!r}: re-check every patch in this module against the new version, then "
            "update the pin"
        )


def install(dispatch: Dispatch, *, check_version: bool = True) -> None:
    """Patch moto in this process so the real ASL runs with Lambda routed to ``dispatch``.

    Idempotent: a second call only replaces the dispatcher. ``dispatch`` receives the plain
    function name (never an ARN) and the decoded JSON event; its return value is the JSON
    payload, and an exception it raises becomes a Lambda function error named after the
    exception class. Raises ``RuntimeError`` (naming the missing module or attribute) when
    moto's internals are not where these patches expect them.
    """
    if check_version:
        assert_moto_version()
    with _STATE.lock:
        _STATE.dispatch = dispatch
        if _STATE.originals:
            return
        targets = _Targets.resolve()
        patches: list[tuple[object, str, Any]] = [
            (targets.lambda_simple_backend, "invoke", _lambda_invoke),
            (targets.state_task_service, "_normalise_parameters", _normalise_parameters),
            (targets.state_task_service, "_normalise_response", _normalise_response),
            (targets.retrier_module, "time", _RetrierTime()),
            (targets.sfn_response, "get_execution_history", _get_execution_history),
        ]
        dynamo = _require(_import(_DYNAMODB_RESPONSES), "DynamoHandler", _DYNAMODB_RESPONSES)
        patches.append((dynamo, "call_action", _dynamodb_call_action))
        boto_client_for = targets.boto_client_module.boto_client_for
        _STATE.originals[(targets.boto_client_module, "boto_client_for")] = boto_client_for
        for obj, name, replacement in patches:
            _STATE.originals[(obj, name)] = getattr(obj, name)
            setattr(obj, name, replacement)
        _rebind_everywhere(boto_client_for, _boto_client_for)


def uninstall() -> None:
    """Restore every patched moto attribute and forget the dispatcher."""
    with _STATE.lock:
        for (obj, name), original in _STATE.originals.items():
            if name == "boto_client_for":
                _rebind_everywhere(_boto_client_for, original)
            else:
                setattr(obj, name, original)
        _STATE.originals.clear()
        _STATE.clients.clear()
        _STATE.dispatch = None


def set_retry_sleep(fn: RetrySleep | None) -> None:
    """Replace the sleep between ASL Retry attempts (``None`` restores ``time.sleep``).

    Only the retrier's wait goes through this hook: Wait states and everything else in moto
    keep sleeping for real.
    """
    with _STATE.lock:
        _STATE.retry_sleep = fn if fn is not None else time.sleep


def set_internal_endpoint(endpoint_url: str | None) -> None:
    """Point the ASL interpreter's own AWS calls (Lambda, Step Functions, ...) at a server.

    ``None`` restores moto's default, ``http://localhost:$MOTO_PORT``.
    """
    with _STATE.lock:
        _STATE.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        _STATE.clients.clear()


def configure_server(endpoint_url: str, *, timeout: float = 10.0) -> None:
    """Apply :data:`MOTO_CONFIG` to the moto server at ``endpoint_url``, and aim the
    interpreter's internal clients at it.

    moto keeps its configuration in one module-level dict (``moto.core.config
    .default_user_config``) that it reads on every request, and ``POST /moto-api/config``
    assigns into that dict. For a ``ThreadedMotoServer`` in this process the POST and an
    in-process assignment are therefore the same thing; the POST is used because it works for
    an out-of-process server too. Call this before creating any state machine: with
    ``execute_state_machine`` off, state machines live in a different backend.
    """
    base = endpoint_url.rstrip("/")
    request = urllib.request.Request(
        f"{base}/moto-api/config",
        data=json.dumps(MOTO_CONFIG).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    # Loopback: never through an HTTP(S)_PROXY from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=timeout) as response:
        applied = json.loads(response.read() or b"{}")
    # The endpoint echoes only "batch" and "lambda".
    if applied.get("lambda", {}).get("use_docker") is not False:
        raise RuntimeError(f"moto at {base} did not accept {MOTO_CONFIG}: it answered {applied}")
    set_internal_endpoint(base)


@contextmanager
def installed(dispatch: Dispatch, endpoint_url: str) -> Iterator[None]:
    """:func:`install` and :func:`configure_server` for a block, then put everything back.

    moto's backends, its config and these patches are process-wide: every moto server in a
    process serves the same state. This lets a test module borrow them (its own dispatcher,
    endpoint and retry sleep) and return them as they were, patched or not, afterwards.
    """
    from moto.core.config import default_user_config

    live_config = cast("dict[str, Any]", default_user_config)
    with _STATE.lock:
        was_installed = bool(_STATE.originals)
        previous = (_STATE.dispatch, _STATE.endpoint_url, _STATE.retry_sleep)
        config = copy.deepcopy(live_config)
    try:
        install(dispatch)
        configure_server(endpoint_url)
        yield
    finally:
        with _STATE.lock:
            if not was_installed:
                uninstall()
            _STATE.dispatch = previous[0] if was_installed else None
            set_internal_endpoint(previous[1])
            _STATE.retry_sleep = previous[2]
            live_config.clear()
            live_config.update(config)


# --------------------------------------------------------------------------- targets


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise RuntimeError(
            f"moto internals changed: cannot import {name} (patches target moto=={MOTO_VERSION})"
        ) from exc


def _require(owner: Any, attribute: str, where: str) -> Any:
    if not hasattr(owner, attribute):
        raise RuntimeError(
            f"moto internals changed: {where}.{attribute} is missing "
            f"(fixloop.local.moto_patches targets moto=={MOTO_VERSION})"
        )
    return getattr(owner, attribute)


class _Targets:
    """Everything the patches touch, looked up (and checked) once."""

    def __init__(
        self,
        lambda_simple_backend: Any,
        state_task_service: Any,
        retrier_module: ModuleType,
        boto_client_module: ModuleType,
        sfn_response: Any,
    ) -> None:
        self.lambda_simple_backend = lambda_simple_backend
        self.state_task_service = state_task_service
        self.retrier_module = retrier_module
        self.boto_client_module = boto_client_module
        self.sfn_response = sfn_response

    @classmethod
    def resolve(cls) -> _Targets:
        lambda_models = _import(_LAMBDA_SIMPLE)
        backend = _require(lambda_models, "LambdaSimpleBackend", _LAMBDA_SIMPLE)
        _require(backend, "invoke", f"{_LAMBDA_SIMPLE}.LambdaSimpleBackend")
        _require(backend, "get_function", f"{_LAMBDA_SIMPLE}.LambdaSimpleBackend")

        service_module = _import(_SERVICE_TASK)
        service = _require(service_module, "StateTaskService", _SERVICE_TASK)
        for name in (
            "_normalise_parameters",
            "_normalise_response",
            "_to_boto_request",
            "_from_boto_response",
            "_get_boto_service_name",
            "_get_boto_service_action",
        ):
            _require(service, name, f"{_SERVICE_TASK}.StateTaskService")

        retrier = _import(_RETRIER)
        retrier_cls = _require(retrier, "RetrierDecl", _RETRIER)
        body = _require(retrier_cls, "_eval_body", f"{_RETRIER}.RetrierDecl")
        if _require(retrier, "time", _RETRIER) is not time or not {"time", "sleep"} <= set(
            body.__code__.co_names
        ):
            raise RuntimeError(
                f"moto internals changed: {_RETRIER}.RetrierDecl._eval_body no longer waits "
                "with the module's time.sleep"
            )

        boto_client = _import(_BOTO_CLIENT)
        _require(boto_client, "boto_client_for", _BOTO_CLIENT)
        stubber = _require(boto_client, "botocore_stubber", _BOTO_CLIENT)
        _require(stubber, "enabled", f"{_BOTO_CLIENT}.botocore_stubber")
        _require(boto_client, "moto_server_port", _BOTO_CLIENT)
        timeouts = _require(boto_client, "TimeoutSeconds", _BOTO_CLIENT)
        _require(timeouts, "DEFAULT_TIMEOUT_SECONDS", f"{_BOTO_CLIENT}.TimeoutSeconds")
        # Import the modules that bind boto_client_for by name, so they can be rebound.
        for name in (
            "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
            "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"
            ".state_task_service_factory",
        ):
            _import(name)

        responses = _import(_SFN_RESPONSES)
        sfn_response = _require(responses, "StepFunctionResponse", _SFN_RESPONSES)
        _require(sfn_response, "get_execution_history", f"{_SFN_RESPONSES}.StepFunctionResponse")
        _require(sfn_response, "stepfunction_backend", f"{_SFN_RESPONSES}.StepFunctionResponse")
        _require(_import("moto.core.responses"), "ActionResult", "moto.core.responses")
        for name in ("InvalidToken", "ValidationException"):
            _require(_import(_SFN_EXCEPTIONS), name, _SFN_EXCEPTIONS)
        _require(_import(_PARSER_UTILS), "camel_to_snake_case", _PARSER_UTILS)
        manager = _require(_import(_EVENT_MANAGER), "EventManager", _EVENT_MANAGER)()
        for name in ("_mutex", "_history_event_list"):
            _require(manager, name, f"{_EVENT_MANAGER}.EventManager()")
        lambda_exceptions = "moto.awslambda.exceptions"
        _require(_import(lambda_exceptions), "LambdaClientError", lambda_exceptions)
        return cls(backend, service, retrier, boto_client, sfn_response)


def _rebind_everywhere(old: Any, new: Any) -> None:
    """Replace ``old`` by ``new`` in every loaded ``moto.stepfunctions.parser`` module."""
    import sys

    for name, module in list(sys.modules.items()):
        if not name.startswith(_PARSER_PACKAGE) or module is None:
            continue
        if getattr(module, "boto_client_for", None) is old:
            module.boto_client_for = new  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- 1. Lambda


def _plain_event(body: Any) -> Any:
    if body is None or body in (b"", ""):
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        from moto.awslambda.exceptions import LambdaClientError

        raise LambdaClientError(
            "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
        ) from exc


def _stack_trace(tb: TracebackType | None) -> list[str]:
    # Drop this module's own frame, as the Lambda runtime hides its bootstrap.
    if tb is not None and tb.tb_frame.f_code.co_filename == __file__ and tb.tb_next is not None:
        tb = tb.tb_next
    return traceback.format_list(traceback.extract_tb(tb))


def _function_error(error_type: str, message: str, stack: list[str]) -> bytes:
    body = {"errorMessage": message, "errorType": error_type, "stackTrace": stack}
    return json.dumps(body).encode("utf-8")


def _run(function_name: str, event: Any) -> tuple[bytes, bool]:
    """Call the dispatcher as the Lambda runtime would: (payload, is_function_error)."""
    dispatch = _STATE.dispatch
    if dispatch is None:
        return _function_error("Runtime.Unavailable", "no dispatcher installed", []), True
    try:
        result = dispatch(function_name, event)
    except Exception as exc:  # every handler error becomes a function error
        return _function_error(type(exc).__name__, str(exc), _stack_trace(exc.__traceback__)), True
    try:
        return json.dumps(result).encode("utf-8"), False
    except (TypeError, ValueError) as exc:
        message = f"Unable to marshal response: {exc}"
        return _function_error("Runtime.MarshalError", message, []), True


ASYNC_ATTEMPTS = 3
"""Lambda runs an asynchronous invocation whose function fails up to twice more."""
_DYNAMODB_RESPONSES = "moto.dynamodb.responses"
_DYNAMODB_LOCK = threading.Lock()


def _dynamodb_call_action(self: Any) -> Any:
    """``DynamoHandler.call_action``, one request at a time: moto's DynamoDB backend is not
    thread-safe (``transact_write_items`` deep-copies every table for its rollback while other
    requests change them: "dictionary changed size during iteration"). DynamoDB itself
    applies each request atomically."""
    original = next(v for (_, n), v in _STATE.originals.items() if n == "call_action")
    with _DYNAMODB_LOCK:
        return original(self)


def _run_async(function_name: str, event: Any) -> None:
    for attempt in range(1, ASYNC_ATTEMPTS + 1):
        payload, failed = _run(function_name, event)
        if not failed:
            return
        LOG.warning(
            "async invoke of %s failed (attempt %d of %d): %s",
            function_name,
            attempt,
            ASYNC_ATTEMPTS,
            payload.decode("utf-8"),
        )


def _lambda_invoke(  # noqa: PLR0917 - moto's signature
    self: Any,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: dict[str, str],
) -> bytes:
    """``LambdaSimpleBackend.invoke``: route to the in-process dispatcher."""
    fn = self.get_function(function_name, qualifier)  # 404 ResourceNotFoundException if absent
    name: str = fn.function_name
    invocation_type = (headers.get("X-Amz-Invocation-Type") if headers else None) or (
        "RequestResponse"
    )
    response_headers["x-amz-executed-version"] = str(getattr(fn, "version", "$LATEST"))
    if invocation_type == "DryRun":
        return b""
    event = _plain_event(body)
    if invocation_type == "Event":
        threading.Thread(
            target=_run_async, args=(name, event), name=f"lambda-event-{name}", daemon=True
        ).start()
        return b""
    payload, failed = _run(name, event)
    if failed:
        response_headers["x-amz-function-error"] = "Unhandled"
    return payload


# --------------------------------------------------------------------------- 2. integrations


def _operation_model(service_name: str, action: str) -> Any:
    """botocore's OperationModel for ``service_name`` and a snake_case action, or None."""
    key = (service_name, action)
    with _STATE.lock:
        if key in _STATE.operations:
            return _STATE.operations[key]
        import botocore.session
        from botocore.exceptions import UnknownServiceError
        from moto.stepfunctions.parser.utils import camel_to_snake_case

        if _STATE.botocore_session is None:
            _STATE.botocore_session = botocore.session.get_session()
        operation = None
        try:
            model = _STATE.botocore_session.get_service_model(service_name)
        except UnknownServiceError:
            model = None
        if model is not None:
            names = {camel_to_snake_case(name): name for name in model.operation_names}
            if action in names:
                operation = model.operation_model(names[action])
        if operation is None:
            LOG.warning(
                "no botocore model for %s:%s; parameters passed as given", service_name, action
            )
        _STATE.operations[key] = operation
        return operation


def _json_native(value: Any) -> Any:
    """Datetimes in a boto3 response become ISO-8601 strings, as state data must be JSON."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _json_native(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_native(item) for item in value]
    return value


def _task_operation(
    task: Any, boto_service_name: str | None, service_action_name: str | None
) -> Any:
    """botocore's operation model for the service integration a task state calls."""
    return _operation_model(
        task._get_boto_service_name(boto_service_name=boto_service_name),
        task._get_boto_service_action(service_action_name=service_action_name),
    )


def _normalise_parameters(
    self: Any,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    """PascalCase ASL ``Parameters`` -> boto3 request arguments, from the input shape."""
    operation = _task_operation(self, boto_service_name, service_action_name)
    if operation is not None and operation.input_shape is not None:
        self._to_boto_request(parameters, operation.input_shape)


def _normalise_response(
    self: Any,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    """boto3 response -> the PascalCase result Step Functions returns, from the output shape."""
    operation = _task_operation(self, boto_service_name, service_action_name)
    if operation is not None and operation.output_shape is not None:
        self._from_boto_response(response, operation.output_shape)
    if isinstance(response, dict):
        for key, value in list(response.items()):
            response[key] = _json_native(value)


# --------------------------------------------------------------------------- 3. clients


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """``boto_client_for``: the interpreter's clients, aimed at our server and cached."""
    module = importlib.import_module(_BOTO_CLIENT)
    original = _STATE.originals.get((module, "boto_client_for"))
    if module.botocore_stubber.enabled and original is not None:
        # Inside @mock_aws: moto intercepts in-process, keep its own behaviour.
        return original(region=region, service=service, state_credentials=state_credentials)
    endpoint = _STATE.endpoint_url or f"http://localhost:{module.moto_server_port()}"
    key = (endpoint, region, service)
    client = _STATE.clients.get(key)
    if client is not None:
        return client
    with _STATE.lock:
        client = _STATE.clients.get(key)
        if client is None:
            import boto3
            from botocore.config import Config

            if _STATE.boto_session is None:
                # A private session: the default one is not safe to share across threads.
                _STATE.boto_session = boto3.session.Session(
                    aws_access_key_id="ak", aws_secret_access_key="sk"
                )
            timeout = module.TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS
            client = _STATE.boto_session.client(
                service_name=service,
                region_name=region,
                endpoint_url=endpoint,
                config=Config(
                    parameter_validation=False,
                    retries={"max_attempts": 0, "total_max_attempts": 1},
                    connect_timeout=timeout,
                    read_timeout=timeout,
                    max_pool_connections=64,
                    proxies={},
                    account_id_endpoint_mode="disabled",
                ),
            )
            _STATE.clients[key] = client
    return client


# --------------------------------------------------------------------------- 4. history


def _encode_token(execution_arn: str, position: int) -> str:
    raw = json.dumps({"arn": execution_arn, "pos": position}).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_token(execution_arn: str, token: str) -> int:
    from moto.stepfunctions.exceptions import InvalidToken

    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        position = int(decoded["pos"])
        same_execution = decoded["arn"] == execution_arn
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidToken(f"Invalid Token: '{token}'") from exc
    if not same_execution or position < 0:
        raise InvalidToken(f"Invalid Token: '{token}'")
    return position


def _history_page(
    backend: Any, execution_arn: str, bounds: Callable[[int], tuple[int, int]]
) -> tuple[list[dict[str, Any]], int, int]:
    """Only ``events[start:stop]`` (``bounds(total) -> (start, stop)``): (page, start, total).

    moto's own get_execution_history deep-copies the whole history on every call, which makes
    paging through a long execution quadratic.
    """
    execution = backend.describe_execution(execution_arn)  # ExecutionDoesNotExist
    worker = getattr(execution, "exec_worker", None)
    if worker is None:  # moto's non-executing backend: its canned history
        events = backend.get_execution_history(execution_arn)["events"]
        start, stop = bounds(len(events))
        return events[start:stop], start, len(events)
    manager = getattr(getattr(worker, "env", None), "event_manager", None)
    if manager is None:  # the interpreter has not started this execution yet
        return [], 0, 0
    with manager._mutex:
        events = manager._history_event_list
        start, stop = bounds(len(events))
        # Published events are never modified: a copy of the slice is enough.
        return events[start:stop], start, len(events)


def _get_execution_history(self: Any) -> Any:
    """``StepFunctionResponse.get_execution_history`` with AWS's paging."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import ValidationException

    execution_arn: str = self._get_param("executionArn")
    max_results = int(self._get_param("maxResults") or 0) or _HISTORY_DEFAULT_PAGE
    if max_results > _HISTORY_MAX_PAGE:
        raise ValidationException(
            f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to "
            f"satisfy constraint: Member must have value less than or equal to {_HISTORY_MAX_PAGE}"
        )
    reverse = bool(self._get_param("reverseOrder"))
    include_data = self._get_param("includeExecutionData")
    token = self._get_param("nextToken")
    # position: how many events earlier pages returned (counted from the end when reversed).
    position = _decode_token(execution_arn, token) if token else 0

    def bounds(total: int) -> tuple[int, int]:
        if reverse:
            stop = max(total - position, 0)
            return max(stop - max_results, 0), stop
        return min(position, total), min(position + max_results, total)

    page, start, total = _history_page(self.stepfunction_backend, execution_arn, bounds)
    if reverse:
        page.reverse()
        remaining = start > 0
    else:
        remaining = start + len(page) < total

    if include_data is not None and not include_data:
        page = [_without_data(event) for event in page]
    result: dict[str, Any] = {"events": page}
    if remaining:
        result["nextToken"] = _encode_token(execution_arn, position + len(page))
    return ActionResult(result)


def _without_data(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``event`` without the input/output of its details (includeExecutionData)."""
    return {
        key: (
            {k: v for k, v in value.items() if k not in {"input", "output"}}
            if key.endswith("EventDetails") and isinstance(value, dict)
            else value
        )
        for key, value in event.items()
    }


# --------------------------------------------------------------------------- 5. retry sleep


class _RetrierTime:
    """Stands in for the ``time`` module inside moto's retrier_decl only."""

    def sleep(self, seconds: float) -> None:
        _STATE.retry_sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)
