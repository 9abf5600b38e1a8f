"""Investigation records in DynamoDB (table ``Investigations``, pk = investigation id)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from fixloop.domain.investigation import Investigation, PullRequestRef, Status
from fixloop.domain.signal import utcnow
from fixloop.store.exceptions import InvestigationNotFound


class InvestigationStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def create(self, inv: Investigation) -> bool:
        """Store a new investigation; False if one with this id exists already."""
        item = {"pk": inv.investigation_id, **inv.model_dump(mode="json")}
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, investigation_id: str) -> Investigation:
        resp = self._table.get_item(Key={"pk": investigation_id}, ConsistentRead=True)
        item = resp.get("Item")
        if not item:
            raise InvestigationNotFound(investigation_id)
        return Investigation.model_validate(item)

    def record_progress(self, investigation_id: str, *, generation: int, turn: int) -> None:
        """Set (never add) the counters, so a retried step leaves the same values."""
        self._table.update_item(
            Key={"pk": investigation_id},
            UpdateExpression="SET generation = :g, turns = :t, updated_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":g": generation, ":t": turn, ":now": _now()},
        )

    def record_pull_request(self, investigation_id: str, pull_request: PullRequestRef) -> None:
        self._table.update_item(
            Key={"pk": investigation_id},
            UpdateExpression="SET pull_request = :pr, updated_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={
                ":pr": pull_request.model_dump(mode="json"),
                ":now": _now(),
            },
        )

    def close(self, investigation_id: str, status: Status, outcome: str) -> bool:
        """Move an open investigation to a terminal status; False if it was already closed."""
        try:
            self._table.update_item(
                Key={"pk": investigation_id},
                UpdateExpression="SET #s = :s, outcome = :o, updated_at = :now",
                ConditionExpression="attribute_exists(pk) AND #s = :running",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":s": status,
                    ":o": outcome,
                    ":now": _now(),
                    ":running": "running",
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def list(self, limit: int = 50) -> list[Investigation]:
        # A status GSI replaces this scan when listing matters (issue: surfaces).
        resp = self._table.scan(Limit=limit)
        return [Investigation.model_validate(i) for i in resp.get("Items", [])]


def _now() -> str:
    return utcnow().isoformat()
