"""Investigation records in DynamoDB (table ``Investigations``, pk = investigation id)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fixloop.domain.investigation import Investigation, PullRequestRef, Status, plausible_id
from fixloop.domain.signal import utcnow
from fixloop.errors import InvestigationNotFound
from fixloop.store.conditions import applied

MAX_SCANNED = 10_000
"""Records a listing reads at most (a status index replaces the scan when lists grow)."""


class InvestigationStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def create(self, inv: Investigation) -> bool:
        """Store a new investigation; False if one with this id exists already."""
        # DynamoDB numbers are Decimals: floats (a cost budget) go through json as Decimal.
        data = json.loads(inv.model_dump_json(exclude_none=True), parse_float=Decimal)
        item = {"pk": inv.investigation_id, **data}
        return applied(
            lambda: self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        )

    def get(self, investigation_id: str) -> Investigation:
        if not plausible_id(investigation_id):  # not a key the table could hold
            raise InvestigationNotFound(investigation_id[:80])
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

    def count_websocket_messages(self, investigation_id: str, messages: int) -> None:
        """Add ``messages`` WebSocket messages sent for the investigation (its cost)."""
        self._table.update_item(
            Key={"pk": investigation_id},
            UpdateExpression="ADD websocket_messages :n",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":n": messages},
        )

    def record_usage(
        self,
        investigation_id: str,
        *,
        turn: int,
        tokens: dict[str, int],
        compactions: int,
        context_from: str,
    ) -> bool:
        """Add turn ``turn``'s token usage to the counters, once: a retried turn that counts
        again finds ``counted_turn`` at its turn and changes nothing (False)."""
        values: dict[str, Any] = {f":{k}": int(v) for k, v in tokens.items()}
        adds = [*(f"{k} :{k}" for k in tokens), "compactions :c"]
        values[":c"] = compactions
        values[":t"] = turn
        values[":now"] = _now()
        sets = ["counted_turn = :t", "updated_at = :now"]
        if context_from:
            sets.append("context_from = :from")
            values[":from"] = context_from
        return applied(
            lambda: self._table.update_item(
                Key={"pk": investigation_id},
                UpdateExpression=f"SET {', '.join(sets)} ADD {', '.join(adds)}",
                ConditionExpression=(
                    "attribute_exists(pk) AND "
                    "(attribute_not_exists(counted_turn) OR counted_turn < :t)"
                ),
                ExpressionAttributeValues=values,
            )
        )

    def count_failed_verification(self, investigation_id: str, *, turn: int) -> bool:
        """Count turn ``turn``'s failed verification of a fix, once (``verified_turn`` is the
        last turn counted: a retried recording counts nothing twice, False)."""
        return applied(
            lambda: self._table.update_item(
                Key={"pk": investigation_id},
                UpdateExpression=(
                    "SET verified_turn = :t, updated_at = :now ADD failed_verifications :one"
                ),
                ConditionExpression=(
                    "attribute_exists(pk) AND "
                    "(attribute_not_exists(verified_turn) OR verified_turn < :t)"
                ),
                ExpressionAttributeValues={":t": turn, ":one": 1, ":now": _now()},
            )
        )

    def record_pull_request(self, investigation_id: str, pull_request: PullRequestRef) -> None:
        """Record the investigation's pull request (the first one's time is kept)."""
        self._table.update_item(
            Key={"pk": investigation_id},
            UpdateExpression=(
                "SET pull_request = :pr, updated_at = :now, "
                "pull_request_at = if_not_exists(pull_request_at, :now)"
            ),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={
                ":pr": pull_request.model_dump(mode="json"),
                ":now": _now(),
            },
        )

    def set_slack_thread(self, investigation_id: str, channel: str, thread_ts: str) -> str:
        """Record the investigation's Slack thread unless it has one; the thread it has."""
        return self._set_once(
            investigation_id, {"slack_channel": channel, "slack_thread_ts": thread_ts}
        )["slack_thread_ts"]

    def set_linear_issue(self, investigation_id: str, issue_id: str) -> str:
        """Link the investigation to a Linear issue unless it has one; the issue it has."""
        return self._set_once(investigation_id, {"linear_issue_id": issue_id})["linear_issue_id"]

    def _set_once(self, investigation_id: str, values: dict[str, str]) -> dict[str, str]:
        first = next(iter(values))
        if applied(
            lambda: self._table.update_item(
                Key={"pk": investigation_id},
                UpdateExpression="SET "
                + ", ".join(f"{k} = :{k}" for k in values)
                + ", updated_at = :now",
                ConditionExpression=(
                    f"attribute_exists(pk) AND (attribute_not_exists({first}) OR {first} = :empty)"
                ),
                ExpressionAttributeValues={
                    **{f":{k}": v for k, v in values.items()},
                    ":empty": "",
                    ":now": _now(),
                },
            )
        ):
            return values
        inv = self.get(investigation_id).model_dump()
        return {k: str(inv[k]) for k in values}

    def close(self, investigation_id: str, status: Status, outcome: str) -> bool:
        """Move an open investigation to a terminal status; False if it was already closed."""
        return self.transition(investigation_id, ("running",), status, outcome)

    def transition(
        self,
        investigation_id: str,
        from_statuses: tuple[Status, ...],
        to: Status,
        outcome: str,
        *,
        changes: dict[str, Any] | None = None,
        aftercare_round: int | None = None,
    ) -> bool:
        """Move the investigation to ``to`` if its status is one of ``from_statuses``; False
        (and nothing written) otherwise, so concurrent callers cannot both win.

        ``changes`` (top-level attributes: JSON-able values) are written with the status by
        the winner only. ``aftercare_round``: also only while its fix is in that round (or
        was never merged), so a step of an earlier round changes nothing."""
        values: dict[str, Any] = {":s": to, ":o": outcome, ":now": _now()}
        names: dict[str, str] = {"#s": "status"}
        sets = ["#s = :s", "outcome = :o", "updated_at = :now"]
        for i, (key, value) in enumerate((changes or {}).items()):
            names[f"#c{i}"] = key
            values[f":c{i}"] = json.loads(json.dumps(value, default=str), parse_float=Decimal)
            sets.append(f"#c{i} = :c{i}")
        allowed = []
        for i, status in enumerate(from_statuses):
            values[f":f{i}"] = status
            allowed.append(f":f{i}")
        condition = f"attribute_exists(pk) AND #s IN ({', '.join(allowed)})"
        if aftercare_round is not None:
            names |= {"#ac": "aftercare", "#rd": "round"}
            values[":rd"] = aftercare_round
            condition += " AND (attribute_not_exists(#ac) OR #ac.#rd = :rd)"
        return applied(
            lambda: self._table.update_item(
                Key={"pk": investigation_id},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        )

    def set_fields(
        self, investigation_id: str, changes: dict[str, Any], *, status: Status | None = None
    ) -> bool:
        """Write top-level attributes (JSON-able values), only while the investigation has
        ``status`` when one is given; False if it had not."""
        names = {f"#c{i}": key for i, key in enumerate(changes)}
        values: dict[str, Any] = {
            f":c{i}": json.loads(json.dumps(value, default=str), parse_float=Decimal)
            for i, value in enumerate(changes.values())
        }
        values[":now"] = _now()
        condition = "attribute_exists(pk)"
        if status is not None:
            names["#s"] = "status"
            values[":s"] = status
            condition += " AND #s = :s"
        sets = [f"#c{i} = :c{i}" for i in range(len(changes))]
        return applied(
            lambda: self._table.update_item(
                Key={"pk": investigation_id},
                UpdateExpression="SET " + ", ".join([*sets, "updated_at = :now"]),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        )

    def add_regression(self, investigation_id: str, suspect_id: str) -> bool:
        """Note on a merged fix that investigation ``suspect_id`` may be its regression; False
        if it was noted already (or the fix was never merged)."""
        return applied(
            lambda: self._table.update_item(
                Key={"pk": investigation_id},
                UpdateExpression=(
                    "SET #ac.#rg = list_append(if_not_exists(#ac.#rg, :none), :one), "
                    "updated_at = :now"
                ),
                ConditionExpression="attribute_exists(#ac) AND NOT contains(#ac.#rg, :id)",
                ExpressionAttributeNames={"#ac": "aftercare", "#rg": "regressions"},
                ExpressionAttributeValues={
                    ":none": [],
                    ":one": [suspect_id],
                    ":id": suspect_id,
                    ":now": _now(),
                },
            )
        )

    def list(self, limit: int = 50) -> list[Investigation]:
        """The newest ``limit`` investigations, newest first.

        A scan of the whole table (bounded by :data:`MAX_SCANNED`), sorted here: DynamoDB
        returns a scan's items in no useful order, so the first page is not the newest."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while len(items) < MAX_SCANNED:
            resp = self._table.scan(**kwargs)
            items.extend(resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        invs = [Investigation.model_validate(i) for i in items]
        invs.sort(key=lambda inv: inv.created_at, reverse=True)
        return invs[:limit]


def _now() -> str:
    return utcnow().isoformat()
