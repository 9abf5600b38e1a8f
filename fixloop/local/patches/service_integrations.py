"""Gap 2: service integration ``Parameters`` never reach boto3 in moto.

``StateTaskService._normalise_parameters`` / ``_normalise_response`` are empty in moto, so
the PascalCase ``Parameters`` of ``arn:aws:states:::states:startExecution``,
``ecs:runTask``, ... are silently dropped (``States.Runtime ... 'StateMachineArn'``). They
are restored from botocore's service models, for every service: the operation's input shape
turns ASL parameters into boto3 arguments, its output shape turns the boto3 response back into
the PascalCase result Step Functions returns (timestamps as ISO-8601 strings, since state data
is JSON).
"""

from __future__ import annotations

import datetime
import functools
import logging
import threading
from typing import Any

import botocore.session
from botocore.exceptions import UnknownServiceError

from fixloop.local.patches.internals import Replacement, internal, require, require_class

LOG = logging.getLogger(__name__)

_SERVICE_TASK = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service"
)
_PARSER_UTILS = "moto.stepfunctions.parser.utils"

_lock = threading.Lock()
_operations: dict[tuple[str, str], Any] = {}


def replacements() -> list[Replacement]:
    service = require_class(
        _SERVICE_TASK,
        "StateTaskService",
        "_normalise_parameters",
        "_normalise_response",
        "_to_boto_request",
        "_from_boto_response",
        "_get_boto_service_name",
        "_get_boto_service_action",
    )
    require(internal(_PARSER_UTILS), "camel_to_snake_case", _PARSER_UTILS)
    return [
        Replacement(service, "_normalise_parameters", _normalise_parameters),
        Replacement(service, "_normalise_response", _normalise_response),
    ]


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


def _task_operation(
    task: Any, boto_service_name: str | None, service_action_name: str | None
) -> Any:
    """botocore's operation model for the service integration a task state calls."""
    return _operation_model(
        task._get_boto_service_name(boto_service_name=boto_service_name),
        task._get_boto_service_action(service_action_name=service_action_name),
    )


def _operation_model(service_name: str, action: str) -> Any:
    """botocore's OperationModel for ``service_name`` and a snake_case action, or None."""
    key = (service_name, action)
    with _lock:
        if key in _operations:
            return _operations[key]
        camel_to_snake_case = internal(_PARSER_UTILS).camel_to_snake_case
        operation = None
        try:
            model = _botocore_session().get_service_model(service_name)
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
        _operations[key] = operation
        return operation


@functools.cache
def _botocore_session() -> botocore.session.Session:
    return botocore.session.get_session()


def _json_native(value: Any) -> Any:
    """Datetimes in a boto3 response become ISO-8601 strings, as state data must be JSON."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _json_native(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_native(item) for item in value]
    return value
