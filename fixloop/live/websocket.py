"""The WebSocket API's routes: ``$connect``, ``$disconnect``, ``subscribe``, ``send``,
``list``, ``subscribe_list``.

API Gateway invokes one Lambda with the route in ``requestContext.routeKey``; answers go back
to the caller with ``post_to_connection`` (a route's return value reaches nobody). A message
whose action has no route of its own arrives on ``$default``: its ``action`` says what it is,
so an action added here works before (or without) a route in the API.

``subscribe`` registers the subscription *first*, then replays the log after ``after``: an
event written meanwhile is both replayed and fanned out, never neither. The client drops
positions it has seen (and shows events in position order), so it sees each event once. Then
it sends the investigation's summary, then ``subscribed``. ``subscribe_list`` likewise
registers first, then sends the list; the fan-out sends each row that changes afterwards.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from fixloop import aws
from fixloop.config import get_settings
from fixloop.domain.payloads import first_problem, parse_json
from fixloop.errors import BadInputError
from fixloop.live.connections import ConnectionStore
from fixloop.live.gateway import Gateway, gateway
from fixloop.live.inbox import send_to_investigation
from fixloop.live.messages import (
    SendRequest,
    SubscribeListRequest,
    SubscribeRequest,
    event_messages,
    investigation_message,
)
from fixloop.live.views import investigation_summaries, investigation_view
from fixloop.store import InvestigationNotFound, stores

__all__ = ["connections", "handle"]

logger = Logger(child=True)
_OK = {"statusCode": 200}


@cache
def connections() -> ConnectionStore:
    return ConnectionStore(aws.resource("dynamodb").Table(get_settings().connections_table))


def handle(event: dict[str, Any]) -> dict[str, Any]:
    ctx = event["requestContext"]
    route = ctx["routeKey"]
    connection_id = ctx["connectionId"]
    if route == "$connect":
        principal = (ctx.get("authorizer") or {}).get("principal")
        if not principal:
            return {"statusCode": 401}
        connections().connect(connection_id, str(principal))
        return _OK
    if route == "$disconnect":
        connections().disconnect(connection_id)
        return _OK
    gw = gateway(ctx)
    try:
        body = parse_json(str(event.get("body") or "{}"), what="message")
        action = body.get("action") if route == "$default" and isinstance(body, dict) else route
        if action == "subscribe":
            _subscribe(gw, connection_id, SubscribeRequest.model_validate(body))
        elif action == "send":
            _send(gw, connection_id, SendRequest.model_validate(body))
        elif action == "list":
            _list(gw, connection_id)
        elif action == "subscribe_list":
            SubscribeListRequest.model_validate(body)
            connections().subscribe_list(connection_id)
            _list(gw, connection_id)
        else:
            _error(gw, connection_id, "unknown action: use subscribe, send, list or subscribe_list")
    except BadInputError as exc:
        _error(gw, connection_id, f"bad request: {exc}")
    except ValidationError as exc:
        _error(gw, connection_id, f"bad request: {first_problem(exc)}")
    except InvestigationNotFound as exc:
        _error(gw, connection_id, f"no investigation {exc}")
    return _OK


def _subscribe(gw: Gateway, connection_id: str, req: SubscribeRequest) -> None:
    st = stores()
    st.investigations.get(req.investigation_id)  # unknown id: an error, not silence
    connections().subscribe(connection_id, req.investigation_id)
    replayed = sent = 0
    try:
        for stored in st.events.read(req.investigation_id, after=req.after):
            messages = event_messages(stored, replay=True)
            if not gw.post_all(connection_id, messages):
                connections().disconnect(connection_id)
                return
            replayed += 1
            sent += len(messages)
        summary = investigation_view(st.investigations.get(req.investigation_id))
        gw.post(connection_id, investigation_message(summary))
        sent += 1
    finally:
        if sent:  # counted for the investigation's cost (fixloop.cost)
            st.investigations.count_websocket_messages(req.investigation_id, sent)
    gw.post(
        connection_id,
        json.dumps(
            {
                "kind": "subscribed",
                "investigation_id": req.investigation_id,
                "after": req.after,
                "replayed": replayed,
            }
        ),
    )


def _list(gw: Gateway, connection_id: str) -> None:
    gw.post(
        connection_id, json.dumps({"kind": "investigations", "items": investigation_summaries()})
    )


def _send(gw: Gateway, connection_id: str, req: SendRequest) -> None:
    author = connections().principal(connection_id) or "web"
    posted = send_to_investigation(req.investigation_id, req.text, author=author, channel="web")
    if posted.outcome == "closed":
        _error(gw, connection_id, f"investigation {req.investigation_id} is {posted.status}")
        return
    gw.post(
        connection_id,
        json.dumps(
            {
                "kind": "sent",
                "investigation_id": req.investigation_id,
                "resumed": posted.resumed,
            }
        ),
    )


def _error(gw: Gateway, connection_id: str, message: str) -> None:
    gw.post(connection_id, json.dumps({"kind": "error", "message": message}))
