"""Which sandbox serves which investigation (table ``Sandboxes``, pk = investigation id).

One record per investigation. A dispatcher claims the right to start a sandbox with a
conditional write, so concurrent tool calls start one sandbox, not one each; the sandbox
then records its endpoint and keeps ``heartbeat_at`` fresh while it lives.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from fixloop.domain.signal import utcnow
from fixloop.store.conditions import applied

SandboxStatus = Literal["starting", "ready", "stopped", "lost"]
RECORD_TTL = timedelta(days=7)


class SandboxRecord(BaseModel):
    investigation_id: str
    sandbox_id: str
    status: SandboxStatus
    endpoint: str = ""
    task_arn: str = ""
    started_at: datetime
    heartbeat_at: datetime
    has_snapshot: bool = False

    def alive(self, now: datetime, stale_after: timedelta) -> bool:
        return self.status in ("starting", "ready") and now - self.heartbeat_at < stale_after


class SandboxStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, investigation_id: str) -> SandboxRecord | None:
        item = self._table.get_item(Key={"pk": investigation_id}, ConsistentRead=True).get("Item")
        return SandboxRecord.model_validate(item) if item else None

    def claim(self, investigation_id: str, sandbox_id: str, replacing: str | None) -> bool:
        """Record ``sandbox_id`` as starting, if the record still holds ``replacing``.

        False when another dispatcher claimed first: use its sandbox instead.
        """
        now = utcnow()
        values: dict[str, Any] = {
            ":inv": investigation_id,
            ":id": sandbox_id,
            ":starting": "starting",
            ":now": now.isoformat(),
            ":exp": int((now + RECORD_TTL).timestamp()),
            ":empty": "",
        }
        if replacing is None:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "sandbox_id = :old"
            values[":old"] = replacing
        # An update, not a put: has_snapshot outlives the sandboxes that come and go.
        return applied(
            lambda: self._table.update_item(
                Key={"pk": investigation_id},
                UpdateExpression=(
                    "SET investigation_id = :inv, sandbox_id = :id, #s = :starting, "
                    "started_at = :now, heartbeat_at = :now, expires_at = :exp, "
                    "endpoint = :empty, task_arn = :empty"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
        )

    def mark_snapshot(self, investigation_id: str) -> None:
        """Note that the investigation's workspace has a snapshot in S3.

        Readers check this instead of probing S3: without s3:ListBucket (which sandboxes do
        not get) a missing object answers 403, indistinguishable from a denied one.
        """
        self._table.update_item(
            Key={"pk": investigation_id},
            UpdateExpression="SET has_snapshot = :t",
            ExpressionAttributeValues={":t": True},
        )

    def update(self, investigation_id: str, sandbox_id: str, **fields: str) -> bool:
        """Set fields (status, endpoint, task_arn) and refresh the heartbeat, only while the
        record still belongs to ``sandbox_id``. False when it was replaced."""
        now = utcnow()
        values: dict[str, Any] = {
            ":id": sandbox_id,
            ":hb": now.isoformat(),
            ":exp": int((now + RECORD_TTL).timestamp()),
        }
        sets = ["heartbeat_at = :hb", "expires_at = :exp"]
        names: dict[str, str] = {}
        for i, (key, value) in enumerate(fields.items()):
            names[f"#f{i}"] = key
            values[f":v{i}"] = value
            sets.append(f"#f{i} = :v{i}")
        kwargs: dict[str, Any] = {
            "Key": {"pk": investigation_id},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "sandbox_id = :id",
            "ExpressionAttributeValues": values,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        return applied(lambda: self._table.update_item(**kwargs))


def stale_after(heartbeat_interval_s: float) -> timedelta:
    """A sandbox that missed three heartbeats is taken for lost."""
    return timedelta(seconds=3 * heartbeat_interval_s)
