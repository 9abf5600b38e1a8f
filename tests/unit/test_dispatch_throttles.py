"""The dispatcher under DynamoDB throttles past the SDK's retries: a starting sandbox's task is
recorded even when its first writes are throttled, a throttled poll is polled again, and a
task that cannot be recorded is stopped, not left running unknown."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from fixloop.errors import StorageThrottled
from fixloop.sandbox import dispatch
from fixloop.store.sandboxes import SandboxRecord


class _Sandboxes:
    """The Sandboxes store, whose next ``throttles[op]`` calls of ``op`` are throttled."""

    def __init__(self, record: SandboxRecord | None = None) -> None:
        self.record = record
        self.throttles: dict[str, int] = {"get": 0, "update": 0}
        self.calls: dict[str, int] = {"get": 0, "update": 0}

    def _call(self, op: str) -> None:
        self.calls[op] += 1
        if self.throttles[op] > 0:
            self.throttles[op] -= 1
            raise StorageThrottled(f"DynamoDB throttled {op} after the SDK's retries")

    def get(self, investigation_id: str) -> SandboxRecord | None:
        self._call("get")
        return self.record

    def update(self, investigation_id: str, sandbox_id: str, **fields: str) -> bool:
        self._call("update")
        assert self.record is not None
        self.record = self.record.model_copy(update=fields)
        return True


class _Stores:
    def __init__(self, sandboxes: _Sandboxes) -> None:
        self.sandboxes = sandboxes


def _record(**fields: Any) -> SandboxRecord:
    now = datetime.now(UTC)
    return SandboxRecord(
        investigation_id="inv-1",
        sandbox_id="sb-1",
        status="starting",
        started_at=now,
        heartbeat_at=now,
        **fields,
    )


@pytest.fixture
def sandboxes(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Sandboxes]:
    store = _Sandboxes(_record())
    monkeypatch.setattr(dispatch, "stores", lambda: _Stores(store))
    monkeypatch.setattr(dispatch, "POLL_S", 0.0)
    yield store


def test_a_throttled_write_of_the_started_task_is_written_again(
    sandboxes: _Sandboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped: list[str] = []
    monkeypatch.setattr(dispatch, "stop_task", lambda arn, reason: stopped.append(arn))
    sandboxes.throttles["update"] = 2
    dispatch._record_task("inv-1", "sb-1", "arn:task/1", time.monotonic() + 60, None)
    assert sandboxes.record is not None and sandboxes.record.task_arn == "arn:task/1"
    assert sandboxes.calls["update"] == 3
    assert stopped == []


def test_a_task_that_cannot_be_recorded_in_time_is_stopped(
    sandboxes: _Sandboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped: list[str] = []
    monkeypatch.setattr(dispatch, "stop_task", lambda arn, reason: stopped.append(arn))
    sandboxes.throttles["update"] = 1_000
    with pytest.raises(StorageThrottled):
        dispatch._record_task("inv-1", "sb-1", "arn:task/1", time.monotonic(), None)
    assert stopped == ["arn:task/1"]


def test_a_throttled_poll_keeps_the_record_in_hand_but_a_first_read_raises(
    sandboxes: _Sandboxes,
) -> None:
    known = _record(task_arn="arn:task/1")
    sandboxes.throttles["get"] = 1
    assert dispatch._poll("inv-1", known) is known
    assert dispatch._poll("inv-1", known) == sandboxes.record
    sandboxes.throttles["get"] = 1
    with pytest.raises(StorageThrottled):
        dispatch._poll("inv-1", None)


def test_a_throttled_last_use_does_not_fail_a_handed_over_call(sandboxes: _Sandboxes) -> None:
    sandboxes.throttles["update"] = 1
    dispatch._mark_used("inv-1", "sb-1")
    assert sandboxes.calls["update"] == 1
