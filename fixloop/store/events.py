"""The investigation's append-only event log in DynamoDB.

Table layout: ``pk`` = investigation id, ``sk`` = position (see fixloop.domain.events).
Each item holds the event as a JSON string in ``body`` (no Decimal round trips), its
``type`` and time. A body too large for an item (400 KB) is stored in S3 and referenced
by ``blob_key``.

Writes are first-writer-wins (``attribute_not_exists``): a retried step that produces the
same position gets ``False`` back and reads what was stored, so the log never holds a
duplicate and a retry sees exactly what the first attempt decided. Since an event never
changes once written, the bodies this process wrote or read are kept
(:class:`~fixloop.store.event_cache.EventBodyCache`) and reading them again costs no request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from fixloop.domain.events import (
    EVENT_ADAPTER,
    AssistantMessage,
    ContentBlock,
    ContextGathering,
    Event,
    calls_position,
)
from fixloop.errors import EventNotFound, NotFoundError
from fixloop.store.blobs import BlobStore
from fixloop.store.conditions import applied
from fixloop.store.event_cache import EventBodyCache

MAX_INLINE_BODY_BYTES = 350_000


@dataclass(frozen=True)
class StoredEvent:
    investigation_id: str
    position: str
    event: Event


class EventLog:
    def __init__(self, table: Any, blobs: BlobStore, cache: EventBodyCache | None = None) -> None:
        self._table = table
        self._blobs = blobs
        self._cache = cache if cache is not None else EventBodyCache()

    def append(self, investigation_id: str, position: str, event: Event) -> bool:
        """Write ``event`` at ``position`` unless something is there already.

        Returns True if this call wrote it, False if the position was already taken.
        """
        body = EVENT_ADAPTER.dump_json(event).decode()
        item: dict[str, Any] = {
            "pk": investigation_id,
            "sk": position,
            "type": event.type,
            "at": event.at.isoformat(),
        }
        if len(body.encode()) > MAX_INLINE_BODY_BYTES:
            key = f"events/{investigation_id}/{position}.json"
            self._blobs.put(key, body.encode())
            item["blob_key"] = key
        else:
            item["body"] = body
        if not applied(
            lambda: self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(sk)")
        ):
            return False
        self._cache.put(investigation_id, position, body)
        return True

    def get(self, investigation_id: str, position: str) -> Event | None:
        body = self._cache.get(investigation_id, position)
        if body is None:
            resp = self._table.get_item(
                Key={"pk": investigation_id, "sk": position}, ConsistentRead=True
            )
            item = resp.get("Item")
            if not item:
                return None
            body = self._body(item)
            self._cache.put(investigation_id, position, body)
        return EVENT_ADAPTER.validate_json(body)

    def tool_use(self, investigation_id: str, turn: int, tool_use_id: str) -> ContentBlock:
        """The tool_use block ``tool_use_id`` of ``turn`` (turn 0: the context gathering)."""
        pos = calls_position(turn)
        holder = self.get(investigation_id, pos)
        if not isinstance(holder, AssistantMessage | ContextGathering):
            raise EventNotFound(investigation_id, pos)
        use = next((u for u in holder.tool_uses() if u.get("id") == tool_use_id), None)
        if use is None:
            raise NotFoundError(f"turn {turn} has no tool call {tool_use_id}")
        return use

    def read(
        self, investigation_id: str, after: str | None = None, limit: int | None = None
    ) -> Iterator[StoredEvent]:
        """Events in log order, strictly after position ``after``, paging as needed."""
        cond = Key("pk").eq(investigation_id)
        if after is not None:
            cond = cond & Key("sk").gt(after)
        kwargs: dict[str, Any] = {"KeyConditionExpression": cond, "ConsistentRead": True}
        returned = 0
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - returned
            resp = self._table.query(**kwargs)
            for item in resp.get("Items", []):
                yield StoredEvent(investigation_id, str(item["sk"]), self._decode(item))
                returned += 1
            if "LastEvaluatedKey" not in resp or (limit is not None and returned >= limit):
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def last_position(self, investigation_id: str, prefix: str) -> str | None:
        """The greatest position starting with ``prefix``, if any (one key-only query)."""
        resp = self._table.query(
            KeyConditionExpression=Key("pk").eq(investigation_id) & Key("sk").begins_with(prefix),
            ScanIndexForward=False,
            Limit=1,
            ProjectionExpression="sk",
            ConsistentRead=True,
        )
        items = resp.get("Items", [])
        return str(items[0]["sk"]) if items else None

    def count(self, investigation_id: str) -> int:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(investigation_id),
            "Select": "COUNT",
        }
        total = 0
        while True:
            resp = self._table.query(**kwargs)
            total += int(resp["Count"])
            if "LastEvaluatedKey" not in resp:
                return total
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def decode_item(self, item: dict[str, Any]) -> StoredEvent:
        """A stored item (as a query or a stream record's new image has it) as an event."""
        return StoredEvent(str(item["pk"]), str(item["sk"]), self._decode(item))

    def _decode(self, item: dict[str, Any]) -> Event:
        return EVENT_ADAPTER.validate_json(self._body(item))

    def _body(self, item: dict[str, Any]) -> str:
        if "blob_key" in item:
            return self._blobs.get(str(item["blob_key"])).decode()
        return str(item["body"])
