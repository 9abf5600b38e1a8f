"""WebSocket connections and their subscriptions (table ``Connections``, pk + sk strings).

Items:

- ``c#{connection}`` / ``conn``: the connection (who opened it, when);
- ``c#{connection}`` / ``sub#{investigation}``: a subscription, listed to clean up on
  ``$disconnect``;
- ``i#{investigation}`` / ``c#{connection}``: the same subscription, listed by the fan-out with
  a strongly consistent query;
- ``c#{connection}`` / ``list`` and ``l#investigations`` / ``c#{connection}``: a subscription
  to the list of investigations (``subscribe_list``), the same way.

The second copy replaces a GSI by investigation on purpose: a GSI is only eventually
consistent, so an event written just after a subscriber's replay could be fanned out before
the index shows the subscription, and be lost to it. A consistent read of the base table sees
every subscription written before the event. Every item expires (``expires_at``, TTL) two hours
after it was written: API Gateway closes a WebSocket after two hours anyway, so a
``$disconnect`` that never arrived leaves nothing behind for long.
"""

from __future__ import annotations

import time
from typing import Any

from boto3.dynamodb.conditions import Key

__all__ = ["CONNECTION_TTL_SECONDS", "ConnectionStore"]

CONNECTION_TTL_SECONDS = 2 * 3600
_CONN = "conn"
_LIST_SUB = "list"
_LIST = "l#investigations"


def _c(connection_id: str) -> str:
    return f"c#{connection_id}"


def _i(investigation_id: str) -> str:
    return f"i#{investigation_id}"


class ConnectionStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def connect(self, connection_id: str, principal: str) -> None:
        self._table.put_item(
            Item={
                "pk": _c(connection_id),
                "sk": _CONN,
                "principal": principal,
                "connected_at": int(time.time()),
                "expires_at": _expiry(),
            }
        )

    def principal(self, connection_id: str) -> str | None:
        """Who opened the connection; None if it is not (or no longer) known."""
        item = self._table.get_item(Key={"pk": _c(connection_id), "sk": _CONN}).get("Item")
        return str(item["principal"]) if item else None

    def subscribe(self, connection_id: str, investigation_id: str) -> None:
        expires = _expiry()
        with self._table.batch_writer() as batch:
            batch.put_item(
                Item={
                    "pk": _c(connection_id),
                    "sk": f"sub#{investigation_id}",
                    "investigation_id": investigation_id,
                    "expires_at": expires,
                }
            )
            batch.put_item(
                Item={
                    "pk": _i(investigation_id),
                    "sk": _c(connection_id),
                    "connection_id": connection_id,
                    "expires_at": expires,
                }
            )

    def subscribe_list(self, connection_id: str) -> None:
        """Subscribe the connection to the list of investigations (rows as they change)."""
        expires = _expiry()
        with self._table.batch_writer() as batch:
            batch.put_item(Item={"pk": _c(connection_id), "sk": _LIST_SUB, "expires_at": expires})
            batch.put_item(
                Item={
                    "pk": _LIST,
                    "sk": _c(connection_id),
                    "connection_id": connection_id,
                    "expires_at": expires,
                }
            )

    def subscribers(self, investigation_id: str) -> list[str]:
        """Connection ids subscribed to the investigation (strongly consistent)."""
        return self._connections(_i(investigation_id))

    def list_subscribers(self) -> list[str]:
        """Connection ids subscribed to the list of investigations (strongly consistent)."""
        return self._connections(_LIST)

    def _connections(self, pk: str) -> list[str]:
        found: list[str] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(pk),
            "ConsistentRead": True,
        }
        while True:
            resp = self._table.query(**kwargs)
            found.extend(str(item["connection_id"]) for item in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return found
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def disconnect(self, connection_id: str) -> None:
        """Forget the connection and all its subscriptions."""
        resp = self._table.query(KeyConditionExpression=Key("pk").eq(_c(connection_id)))
        with self._table.batch_writer() as batch:
            for item in resp.get("Items", []):
                batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
                if "investigation_id" in item:
                    batch.delete_item(
                        Key={"pk": _i(str(item["investigation_id"])), "sk": _c(connection_id)}
                    )
                elif item["sk"] == _LIST_SUB:
                    batch.delete_item(Key={"pk": _LIST, "sk": _c(connection_id)})


def _expiry() -> int:
    return int(time.time()) + CONNECTION_TTL_SECONDS
