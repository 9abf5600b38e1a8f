"""Which investigation a problem belongs to (table ``Fingerprints``, pk = fingerprint).

A signal's fingerprint either claims a new record (and its investigation is started) or finds
the record of the investigation already on it, whose occurrence counter it increments. Claims
are conditional writes, so any number of concurrent deliveries of one problem start one
investigation.

The table also keeps the fixes deployed and still in their verification window
(:class:`DeployedFix`, one item each, ``#deployed-fix#<investigation>``, and a string set of
their ids in ``#deployed-fixes``): a new problem whose frames are in the files one changed may
be its regression (fixloop.aftercare.regression). Fingerprints are hex digests, so these keys
never meet one.
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


class DeployedFix(BaseModel):
    """A fix in production and in its verification window: which files it changed."""

    investigation_id: str
    files: list[str]
    deployed_at: datetime
    until: datetime
    pull_request: str = ""
    """How people know it (``#3``, a URL)."""


FIXES_KEY = "#deployed-fixes"
FIX_PREFIX = "#deployed-fix#"


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

    # -- fixes in their verification window ---------------------------------------------------
    def register_fix(self, fix: DeployedFix) -> None:
        """Add ``fix`` to the fixes in production (again: the same, no change)."""
        item = {"pk": FIX_PREFIX + fix.investigation_id, **fix.model_dump(mode="json")}
        self._table.put_item(Item=item)
        self._table.update_item(
            Key={"pk": FIXES_KEY},
            UpdateExpression="ADD ids :id",
            ExpressionAttributeValues={":id": {fix.investigation_id}},
        )

    def unregister_fix(self, investigation_id: str) -> None:
        """The fix's window ended (verified, or the problem recurred)."""
        self._table.update_item(
            Key={"pk": FIXES_KEY},
            UpdateExpression="DELETE ids :id",
            ExpressionAttributeValues={":id": {investigation_id}},
        )
        self._table.delete_item(Key={"pk": FIX_PREFIX + investigation_id})

    def deployed_fixes(self, now: datetime | None = None) -> list[DeployedFix]:
        """The fixes in production whose window has not ended."""
        index = self._table.get_item(Key={"pk": FIXES_KEY}, ConsistentRead=True).get("Item")
        now = now or utcnow()
        fixes = []
        for investigation_id in sorted((index or {}).get("ids") or ()):
            item = self._table.get_item(
                Key={"pk": FIX_PREFIX + investigation_id}, ConsistentRead=True
            ).get("Item")
            if item:
                fix = DeployedFix.model_validate(item)
                if fix.until > now:
                    fixes.append(fix)
        return fixes
