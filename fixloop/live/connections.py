"""WebSocket connections and their subscriptions (table ``Connections``).

Items: ``pk`` = connection id, ``sk`` = ``conn`` for the connection itself (who, since when)
or ``sub#{investigation_id}`` for a subscription, which also carries ``investigation_id``:
the GSI ``by_investigation`` (investigation_id, pk) lists the connections to post an event to.
Every item expires (``expires_at``, TTL) two hours after it was written: API Gateway closes a
WebSocket after two hours anyway, and a ``$disconnect`` that never arrived leaves nothing
behind for long.
"""

from __future__ import annotations

import time
from typing import Any

from boto3.dynamodb.conditions import Key

__all__ = ["BY_INVESTIGATION_INDEX", "CONNECTION_TTL_SECONDS", "ConnectionStore"]

BY_INVESTIGATION_INDEX = "by_investigation"
CONNECTION_TTL_SECONDS = 2 * 3600
_CONN = "conn"
_SUB = "sub#"


class ConnectionStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def connect(self, connection_id: str, principal: str) -> None:
        self._table.put_item(
            Item={
                "pk": connection_id,
                "sk": _CONN,
                "principal": principal,
                "connected_at": int(time.time()),
                "expires_at": _expiry(),
            }
        )

    def principal(self, connection_id: str) -> str | None:
        """Who opened the connection; None if it is not (or no longer) known."""
        item = self._table.get_item(Key={"pk": connection_id, "sk": _CONN}).get("Item")
        return str(item["principal"]) if item else None

    def subscribe(self, connection_id: str, investigation_id: str) -> None:
        self._table.put_item(
            Item={
                "pk": connection_id,
                "sk": _SUB + investigation_id,
                "investigation_id": investigation_id,
                "expires_at": _expiry(),
            }
        )

    def subscribers(self, investigation_id: str) -> list[str]:
        """Connection ids subscribed to the investigation (the GSI is eventually consistent:
        a subscription made a moment ago may be missing, which the replay covers)."""
        found: list[str] = []
        kwargs: dict[str, Any] = {
            "IndexName": BY_INVESTIGATION_INDEX,
            "KeyConditionExpression": Key("investigation_id").eq(investigation_id),
        }
        while True:
            resp = self._table.query(**kwargs)
            found.extend(str(item["pk"]) for item in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return found
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def disconnect(self, connection_id: str) -> None:
        """Forget the connection and all its subscriptions."""
        resp = self._table.query(KeyConditionExpression=Key("pk").eq(connection_id))
        with self._table.batch_writer() as batch:
            for item in resp.get("Items", []):
                batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})


def _expiry() -> int:
    return int(time.time()) + CONNECTION_TTL_SECONDS
