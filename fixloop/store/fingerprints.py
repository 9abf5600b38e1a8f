"""Which investigation a problem belongs to (table ``Fingerprints``, pk = fingerprint).

A signal's fingerprint either claims a new record (and its investigation is started) or finds
the record of the investigation already on it, whose occurrence counter it increments. Claims
are conditional writes, so any number of concurrent deliveries of one problem start one
investigation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from fixloop.domain.signal import utcnow
from fixloop.store.conditions import applied


class FingerprintRecord(BaseModel):
    fingerprint: str
    investigation_id: str
    occurrences: int = 1
    first_seen: datetime
    last_seen: datetime
    last_notified: datetime | None = None


class FingerprintStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, fingerprint: str) -> FingerprintRecord | None:
        item = self._table.get_item(Key={"pk": fingerprint}, ConsistentRead=True).get("Item")
        return FingerprintRecord.model_validate(item) if item else None

    def claim(
        self, fingerprint: str, investigation_id: str, replacing: str | None, occurrences: int = 1
    ) -> bool:
        """Point the fingerprint at a new investigation: when it has none, or (``replacing``)
        when the one it has ended. False when another delivery claimed it first."""
        now = utcnow().isoformat()
        item = {
            "pk": fingerprint,
            "fingerprint": fingerprint,
            "investigation_id": investigation_id,
            "occurrences": occurrences,
            "first_seen": now,
            "last_seen": now,
        }
        if replacing is None:
            kwargs: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            kwargs = {
                "ConditionExpression": "investigation_id = :old",
                "ExpressionAttributeValues": {":old": replacing},
            }
        return applied(lambda: self._table.put_item(Item=item, **kwargs))

    def count(self, fingerprint: str, occurrences: int = 1) -> FingerprintRecord:
        """Add occurrences to the fingerprint's counter; returns the record after the add."""
        resp = self._table.update_item(
            Key={"pk": fingerprint},
            UpdateExpression="ADD occurrences :n SET last_seen = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":n": occurrences, ":now": utcnow().isoformat()},
            ReturnValues="ALL_NEW",
        )
        return FingerprintRecord.model_validate(resp["Attributes"])

    def mark_notified(self, fingerprint: str, before: datetime | None, now: datetime) -> bool:
        """Take the right to tell the investigation about new occurrences now; False when
        another delivery took it since ``before`` (so a burst sends one message)."""
        if before is None:
            cond = "attribute_not_exists(last_notified)"
            values: dict[str, Any] = {":now": now.isoformat()}
        else:
            cond = "last_notified = :before"
            values = {":now": now.isoformat(), ":before": before.isoformat()}
        return applied(
            lambda: self._table.update_item(
                Key={"pk": fingerprint},
                UpdateExpression="SET last_notified = :now",
                ConditionExpression=cond,
                ExpressionAttributeValues=values,
            )
        )
