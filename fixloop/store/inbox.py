"""The inbox: messages from people, ordered per investigation, each delivery stored once.

Table ``Inbox`` (pk, sk), three kinds of item under one investigation's pk:

- ``#seq``: the arrival counter (``n``), advanced with an atomic ``ADD``;
- ``m#{seq:012d}``: a message not yet moved into the log (deleted once it is);
- ``d#{channel}:{delivery_id}``: the delivery record, written with ``attribute_not_exists``
  in the same transaction as the message, so a redelivered webhook (or a concurrent
  duplicate) is stored once: the first writer wins, the others are told "duplicate".

Channel links live in the same table under their own pk: ``link#slack#{channel}#{ts}`` and
``link#linear#{issue id}`` point a thread or an issue at its investigation; outbound posts
are remembered under ``out#{channel}#{key}``.

The sequence number is taken before the transaction: a crash in between, or a duplicate,
leaves a gap, never a reordering or a loss. Arrival order is sequence order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from fixloop.domain.signal import utcnow
from fixloop.store.conditions import applied, transacted

COUNTER_SK = "#seq"
MESSAGE_PREFIX = "m#"


@dataclass(frozen=True)
class InboxMessage:
    investigation_id: str
    sequence: int
    channel: str
    delivery_id: str
    author: str
    text: str
    received_at: str


def _message_sk(sequence: int) -> str:
    return f"{MESSAGE_PREFIX}{sequence:012d}"


def _delivery_sk(channel: str, delivery_id: str) -> str:
    return f"d#{channel}:{delivery_id}"


class InboxStore:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._client = table.meta.client

    def delivered(self, investigation_id: str, channel: str, delivery_id: str) -> bool:
        """Whether this channel's delivery id was stored for the investigation."""
        return bool(
            self._table.get_item(
                Key={"pk": investigation_id, "sk": _delivery_sk(channel, delivery_id)},
                ConsistentRead=True,
            ).get("Item")
        )

    def add(
        self, investigation_id: str, *, channel: str, delivery_id: str, author: str, text: str
    ) -> InboxMessage | None:
        """Store one message; None if this channel's delivery id was stored before."""
        if self.delivered(investigation_id, channel, delivery_id):
            return None  # a redelivery: not even a sequence number spent
        counter = self._table.update_item(
            Key={"pk": investigation_id, "sk": COUNTER_SK},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        sequence = int(counter["Attributes"]["n"])
        message = InboxMessage(
            investigation_id=investigation_id,
            sequence=sequence,
            channel=channel,
            delivery_id=delivery_id,
            author=author,
            text=text,
            received_at=utcnow().isoformat(),
        )
        common = {
            "channel": channel,
            "delivery_id": delivery_id,
            "sequence": sequence,
            "received_at": message.received_at,
        }
        stored = transacted(
            lambda: self._table.meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": {
                                "pk": investigation_id,
                                "sk": _delivery_sk(channel, delivery_id),
                                **common,
                            },
                            "ConditionExpression": "attribute_not_exists(sk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": {
                                "pk": investigation_id,
                                "sk": _message_sk(sequence),
                                "author": author,
                                "text": text,
                                **common,
                            },
                            "ConditionExpression": "attribute_not_exists(sk)",
                        }
                    },
                ]
            )
        )
        return message if stored else None  # not stored: a concurrent duplicate won

    def pending(self, investigation_id: str) -> list[InboxMessage]:
        """Messages not yet moved into the log, in arrival order."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(investigation_id)
            & Key("sk").begins_with(MESSAGE_PREFIX),
            "ConsistentRead": True,
        }
        out: list[InboxMessage] = []
        while True:
            resp = self._table.query(**kwargs)
            out.extend(_message(investigation_id, item) for item in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def has_pending(self, investigation_id: str) -> bool:
        resp = self._table.query(
            KeyConditionExpression=Key("pk").eq(investigation_id)
            & Key("sk").begins_with(MESSAGE_PREFIX),
            ConsistentRead=True,
            Limit=1,
            ProjectionExpression="sk",
        )
        return bool(resp.get("Items"))

    def remove(self, investigation_id: str, sequence: int) -> bool:
        """Drop a message once it is in the log; False if it was gone already."""
        return applied(
            lambda: self._table.delete_item(
                Key={"pk": investigation_id, "sk": _message_sk(sequence)},
                ConditionExpression="attribute_exists(sk)",
            )
        )

    def retract(self, message: InboxMessage) -> bool:
        """Take back a message that was never moved (its investigation closed meanwhile), and
        its delivery record, so a later redelivery is judged afresh. False if the loop had
        already moved it into the log (then it was delivered after all)."""
        return transacted(
            lambda: self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table.name,
                            "Key": {
                                "pk": message.investigation_id,
                                "sk": _message_sk(message.sequence),
                            },
                            "ConditionExpression": "attribute_exists(sk)",
                        }
                    },
                    {
                        "Delete": {
                            "TableName": self._table.name,
                            "Key": {
                                "pk": message.investigation_id,
                                "sk": _delivery_sk(message.channel, message.delivery_id),
                            },
                        }
                    },
                ]
            )
        )

    # -- channel links and outbound posts ------------------------------------------------
    def link(self, key: str, investigation_id: str) -> None:
        """Point a thread or issue (``slack#C1#1712.0001``, ``linear#<id>``) at an
        investigation; the first link wins."""
        applied(
            lambda: self._table.put_item(
                Item={"pk": f"link#{key}", "sk": "link", "investigation_id": investigation_id},
                ConditionExpression="attribute_not_exists(pk)",
            )
        )

    def linked(self, key: str) -> str | None:
        item = self._table.get_item(Key={"pk": f"link#{key}", "sk": "link"}).get("Item")
        return str(item["investigation_id"]) if item else None

    def post_record(self, channel: str, key: str) -> dict[str, Any] | None:
        return self._table.get_item(  # type: ignore[no-any-return]
            Key={"pk": f"out#{channel}#{key}", "sk": "post"}, ConsistentRead=True
        ).get("Item")

    def record_post(self, channel: str, key: str, **attributes: str) -> None:
        self._table.put_item(Item={"pk": f"out#{channel}#{key}", "sk": "post", **attributes})


def _message(investigation_id: str, item: dict[str, Any]) -> InboxMessage:
    return InboxMessage(
        investigation_id=investigation_id,
        sequence=int(item["sequence"]),
        channel=str(item["channel"]),
        delivery_id=str(item["delivery_id"]),
        author=str(item["author"]),
        text=str(item["text"]),
        received_at=str(item["received_at"]),
    )
