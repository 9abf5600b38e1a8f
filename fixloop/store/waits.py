"""Open task tokens of investigations waiting on a person (table ``Waits``, pk = investigation).

One open wait per investigation at a time. Whoever resumes it first claims the record with a
conditional delete, so of many replies arriving together exactly one sends the task success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fixloop.store.conditions import answer_if_applied


@dataclass(frozen=True)
class Wait:
    investigation_id: str
    wait_id: str
    task_token: str
    turn: int
    kind: str
    tool_use_id: str


class WaitStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def open(self, wait: Wait, *, expires_at: int) -> None:
        """Register (or, for a retried task, replace) the investigation's wait."""
        self._table.put_item(
            Item={
                "pk": wait.investigation_id,
                "wait_id": wait.wait_id,
                "task_token": wait.task_token,
                "turn": wait.turn,
                "kind": wait.kind,
                "tool_use_id": wait.tool_use_id,
                "expires_at": expires_at,
            }
        )

    def get(self, investigation_id: str) -> Wait | None:
        item = self._table.get_item(Key={"pk": investigation_id}, ConsistentRead=True).get("Item")
        return _wait(item) if item else None

    def claim(self, investigation_id: str) -> Wait | None:
        """Take the open wait, if any; only one caller gets it."""
        resp = answer_if_applied(
            lambda: self._table.delete_item(
                Key={"pk": investigation_id},
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        )
        item = resp.get("Attributes") if resp is not None else None
        return _wait(item) if item else None


def _wait(item: dict[str, Any]) -> Wait:
    return Wait(
        investigation_id=str(item["pk"]),
        wait_id=str(item["wait_id"]),
        task_token=str(item["task_token"]),
        turn=int(item["turn"]),
        kind=str(item["kind"]),
        tool_use_id=str(item.get("tool_use_id", "")),
    )
