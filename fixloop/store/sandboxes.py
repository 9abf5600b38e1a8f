"""Which sandbox serves which investigation (table ``Sandboxes``, pk = investigation id).

One record per investigation. A dispatcher claims the right to start a sandbox with a
conditional write, so concurrent tool calls start one sandbox, not one each. Only the
trusted side writes it (the dispatcher, Deliver and Mark Failed): the sandbox itself has no
table access. ``heartbeat_at`` is when a dispatcher last used the sandbox.
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
    secret: str = ""
    """What the dispatcher shows the sandbox with each call (``Authorization: Bearer``), so
    nothing else that reaches its port (a command, in the uid mode) can hand it a call."""


class SandboxStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, investigation_id: str) -> SandboxRecord | None:
        item = self._table.get_item(Key={"pk": investigation_id}, ConsistentRead=True).get("Item")
        return SandboxRecord.model_validate(item) if item else None

    def claim(
        self, investigation_id: str, sandbox_id: str, replacing: str | None, secret: str = ""
    ) -> bool:
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
            ":secret": secret,
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
                    "endpoint = :empty, task_arn = :empty, secret = :secret"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
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
