"""Speed: moto serializes a DynamoDB item through its generic, model-driven serializer.

``moto.core.responses.BaseResponse.serialized`` hands every result to
``moto.core.serialize.JSONSerializer``, which walks the operation's output shape and, for each
member of each structure (ten per attribute value), builds a context object and tries up to
six aliases of its name through ``XFormedAttributePicker``: about two thirds of a GetItem's
time in moto. For the data-plane actions (items in, items out) moto's results are already
the wire form: dicts keyed by member name, attribute values as ``{"S": ...}``, binary values
as bytes. Their output shapes are walked once into a plan, and a result is encoded along it
with the generic serializer's rules: keys no member is read from and ``None`` members are
left out, strings, integers, doubles and blobs converted as it converts them (``str``,
``int``, ``float``, base64), then ``json.dumps``. Status, Content-Type and the headers moto adds are
the generic path's; moto's CRC32 header and request id are added after, over this body.
Anything the plan does not cover exactly (an error, a key the generic serializer could read
a member from under an alias, a timestamp, a ``None`` inside a list or map, moto's response
transformers) goes the generic way, as does
every other action (the control plane: DescribeTable has timestamps).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from enum import Enum
from typing import Any

from botocore import xform_name

from fixloop.local.patches.internals import Replacement, internal, require, require_class

_RESPONSES = "moto.core.responses"
_SERIALIZE = "moto.core.serialize"
_UTILS = "moto.core.utils"

SERVICE = "dynamodb"
DATA_PLANE = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
"""The actions answered from the plan; every other DynamoDB action is serialized by moto."""


class _Unplanned(Exception):
    """The result holds something the plan does not encode as the generic serializer does."""


class _Renamed(Exception):
    """A member has another name on the wire: the shape is left to the generic serializer."""


Encoder = Callable[[Any], Any]


def replacements() -> list[Replacement]:
    base = require_class(_RESPONSES, "BaseResponse", "serialized", "_get_action")
    action_result = require(internal(_RESPONSES), "ActionResult", _RESPONSES)
    json_serializer = require(internal(_SERIALIZE), "JSONSerializer", _SERIALIZE)
    get_serializer_class = require(internal(_SERIALIZE), "get_serializer_class", _SERIALIZE)
    get_service_model = require(internal(_UTILS), "get_service_model", _UTILS)
    settings = internal("moto.settings")
    require(settings, "PRETTIFY_RESPONSES", "moto.settings")
    original = base.serialized
    plans: dict[str, _Plan] = {}
    lock = threading.Lock()

    def plan_of(action: str) -> _Plan:
        plan = plans.get(action)
        if plan is None:
            with lock:
                plan = plans.get(action) or _Plan(get_service_model(SERVICE), action)
                plans[action] = plan
        return plan

    def serialized(self: Any, result: Any) -> Any:
        if (
            self.service_name != SERVICE
            or not isinstance(result, action_result)
            or isinstance(result.result, Exception)
            or self.RESPONSE_KEY_PATH_TO_TRANSFORMER
        ):
            return original(self, result)
        action = self._get_action()
        if action not in DATA_PLANE:
            return original(self, result)
        plan = plan_of(action)
        if plan.encode is None or not plan.answers(self, get_serializer_class, json_serializer):
            return original(self, result)
        try:
            body = plan.encode(result.result)
        except _Unplanned:
            return original(self, result)
        indent = 4 if settings.PRETTIFY_RESPONSES else None
        headers = {"Content-Type": plan.content_type}
        headers.update(self.response_headers)
        return plan.status, headers, json.dumps(body, indent=indent)

    serialized.__wrapped__ = original  # type: ignore[attr-defined]
    return [Replacement(base, "serialized", serialized)]


class _Plan:
    """How the generic JSON serializer would encode one operation's output."""

    def __init__(self, service_model: Any, action: str) -> None:
        operation = service_model.operation_model(action)
        self.service_model = service_model
        self.status: int = operation.http.get("responseCode", 200)
        version = service_model.metadata.get("jsonVersion", "1.0")
        self.content_type = f"application/x-amz-json-{version}"
        self.encode: Encoder | None = None
        output = operation.output_shape
        if output is not None and not operation.has_event_stream_output:
            try:
                self.encode = _encoder(output, {})
            except _Renamed:
                self.encode = None

    def answers(self, response: Any, get_serializer_class: Any, json_serializer: Any) -> bool:
        """Whether moto would use its plain JSON serializer for this request."""
        protocol = response.determine_response_protocol(self.service_model)
        return protocol == "json" and get_serializer_class(SERVICE, protocol) is json_serializer


def _encoder(shape: Any, made: dict[str, Encoder]) -> Encoder:
    """An encoder for ``shape`` (recursive shapes, such as AttributeValue, share one)."""
    if shape.name in made:
        return made[shape.name]
    kind = shape.type_name
    if kind == "structure" and not shape.is_document_type:
        members: dict[str, Encoder] = {}
        aliases = _aliases(shape)

        def structure(value: Any) -> Any:
            if type(value) is not dict:
                raise _Unplanned
            out = {}
            for key, item in value.items():
                encode = members.get(key)
                if encode is None:
                    if key in aliases:
                        raise _Unplanned  # the generic serializer may take it for a member
                    continue  # and leaves out what no member can be read from
                if item is not None:
                    out[key] = encode(item)
            return out

        made[shape.name] = structure
        for key, member in shape.members.items():
            if member.serialization.get("name", key) != key:
                raise _Renamed(f"{shape.name}.{key}")
            members[key] = _encoder(member, made)
        return structure
    if kind == "list":
        return _listing(shape, made)
    if kind == "map":
        return _mapping(shape, made)
    made[shape.name] = _scalar(shape)
    return made[shape.name]


def _aliases(shape: Any) -> frozenset[str]:
    """The other keys moto's ``XFormedAttributePicker`` reads a member of ``shape`` from, in
    a dict: its shape's name (lists and structures), the name without the structure's name
    as a prefix, the name without ``dict`` as a prefix, and each of these in snake case."""
    names = set()
    for key, member in shape.members.items():
        found = {key}
        if member.type_name in ("list", "structure") and member.name not in shape.members:
            found.add(member.name)
        if key.lower().startswith(shape.name.lower()):
            found.add(key[len(shape.name) :])
        if key.lower().startswith("dict"):
            found.add(key[len("dict") :])
        names |= found | {xform_name(name) for name in found}
    return frozenset(names - set(shape.members))


def _listing(shape: Any, made: dict[str, Encoder]) -> Encoder:
    encoders: list[Encoder] = []

    def listing(value: Any) -> Any:
        if type(value) is not list:
            raise _Unplanned
        encode = encoders[0]
        out = []
        for item in value:
            if item is None:
                raise _Unplanned
            out.append(encode(item))
        return out

    made[shape.name] = listing
    encoders.append(_encoder(shape.member, made))
    return listing


def _mapping(shape: Any, made: dict[str, Encoder]) -> Encoder:
    encoders: list[Encoder] = []

    def mapping(value: Any) -> Any:
        if type(value) is not dict:
            raise _Unplanned
        encode = encoders[0]
        out = {}
        for key, item in value.items():
            if item is None or type(key) is not str:
                raise _Unplanned
            out[key] = encode(item)
        return out

    made[shape.name] = mapping
    encoders.append(_encoder(shape.value, made))
    return mapping


def _scalar(shape: Any) -> Encoder:
    kind = shape.type_name
    if kind == "string":
        return _string
    if kind in ("integer", "long"):
        return int
    if kind in ("float", "double"):
        return float
    if kind == "blob":
        return _blob
    if kind == "boolean" or (kind == "structure" and shape.is_document_type):
        return _as_is
    return _unplanned  # timestamps, and anything newer


def _string(value: Any) -> Any:
    if type(value) is str:
        return value
    if isinstance(value, Enum):
        value = value.value
    return str(value) if value not in [None, {}, []] else value


def _blob(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes | bytearray):
        raise _Unplanned
    return base64.b64encode(value).strip().decode("utf-8")


def _as_is(value: Any) -> Any:
    return value


def _unplanned(value: Any) -> Any:
    raise _Unplanned
