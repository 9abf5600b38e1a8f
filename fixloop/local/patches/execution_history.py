"""Gap: moto's ``GetExecutionHistory`` does not page and copies the whole history per call.

``moto.stepfunctions.responses.StepFunctionResponse.get_execution_history`` ignores
``maxResults``/``nextToken``/``reverseOrder``/``includeExecutionData`` and deep-copies the
whole history on every call, so paging through a long execution is quadratic and a client
that pages (``fixloop.execution_stats``) sees everything on its first page. It is replaced by
a paging implementation with AWS's defaults (100 events a page, at most 1000) and its opaque
``nextToken``; an invalid token answers ``InvalidToken``.

A page is written as moto's JSON serializer writes it, from the same service model, but
without the serializer's search of several spellings for every member of every event (two
thirds of the time the summary of a long investigation took): history events are dicts keyed
exactly as the API names them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from enum import Enum
from typing import Any, Final

from fixloop.local.patches.internals import Replacement, internal, require, require_class

# AWS GetExecutionHistory: maxResults 0 or absent means 100; more than 1000 is rejected.
_DEFAULT_PAGE: Final = 100
_MAX_PAGE: Final = 1000

_RESPONSES = "moto.stepfunctions.responses"
_EXCEPTIONS = "moto.stepfunctions.exceptions"
_EVENT_MANAGER = "moto.stepfunctions.parser.asl.eval.event.event_manager"
_CORE_UTILS = "moto.core.utils"
_SERIALIZE = "moto.core.serialize"
_CONTENT_TYPE = "application/x-amz-json-1.0"


def replacements() -> list[Replacement]:
    response = require_class(
        _RESPONSES, "StepFunctionResponse", "get_execution_history", "stepfunction_backend"
    )
    require_class(_EXCEPTIONS, "InvalidToken")
    require_class(_EXCEPTIONS, "ValidationException")
    manager = require_class(_EVENT_MANAGER, "EventManager")()
    for name in ("_mutex", "_history_event_list"):
        require(manager, name, f"{_EVENT_MANAGER}.EventManager()")
    require(internal(_CORE_UTILS), "get_service_model", _CORE_UTILS)
    timestamps = require_class(_SERIALIZE, "TimestampSerializer", "_convert_timestamp_to_str")
    require(timestamps, "TIMESTAMP_FORMAT_UNIX", f"{_SERIALIZE}.TimestampSerializer")
    return [Replacement(response, "get_execution_history", _get_execution_history)]


def _get_execution_history(self: Any) -> Any:
    """``StepFunctionResponse.get_execution_history`` with AWS's paging."""
    execution_arn: str = self._get_param("executionArn")
    max_results = int(self._get_param("maxResults") or 0) or _DEFAULT_PAGE
    if max_results > _MAX_PAGE:
        raise internal(_EXCEPTIONS).ValidationException(
            f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to "
            f"satisfy constraint: Member must have value less than or equal to {_MAX_PAGE}"
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
    return 200, {"Content-Type": _CONTENT_TYPE}, json.dumps(encode(result, _output_shape()))


def _output_shape() -> Any:
    service = internal(_CORE_UTILS).get_service_model("stepfunctions")
    return service.operation_model("GetExecutionHistory").output_shape


def encode(value: Any, shape: Any) -> Any:
    """``value`` as moto's JSON serializer writes it for ``shape`` (a botocore shape), for
    values keyed exactly as the shape's members."""
    kind = shape.type_name
    if kind == "structure":
        return {
            name: encode(value[name], member)
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        return [encode(item, shape.member) for item in value]
    if kind == "map":
        return {key: encode(item, shape.value) for key, item in value.items()}
    if kind == "timestamp":
        serializer = internal(_SERIALIZE).TimestampSerializer
        unix = serializer.TIMESTAMP_FORMAT_UNIX
        return serializer(unix)._convert_timestamp_to_str(value, unix)
    if kind == "string":
        if isinstance(value, Enum):
            value = value.value
        return str(value) if value not in (None, {}, []) else value
    if kind == "blob":
        raw = value.encode("utf-8") if isinstance(value, str) else value
        return base64.b64encode(raw).strip().decode("utf-8")
    return value


def _history_page(
    backend: Any, execution_arn: str, bounds: Callable[[int], tuple[int, int]]
) -> tuple[list[dict[str, Any]], int, int]:
    """Only ``events[start:stop]`` (``bounds(total) -> (start, stop)``): (page, start, total)."""
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


def _encode_token(execution_arn: str, position: int) -> str:
    raw = json.dumps({"arn": execution_arn, "pos": position}).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_token(execution_arn: str, token: str) -> int:
    invalid = internal(_EXCEPTIONS).InvalidToken
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        position = int(decoded["pos"])
        same_execution = decoded["arn"] == execution_arn
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise invalid(f"Invalid Token: '{token}'") from exc
    if not same_execution or position < 0:
        raise invalid(f"Invalid Token: '{token}'")
    return position
