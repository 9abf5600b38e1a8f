"""Reconcile (fixloop.agent.reconcile) against the embedded runtime's tables: an execution that
ended without Mark Failed closes its investigation; one that did, or an older generation's,
changes nothing."""

from __future__ import annotations

import json
from typing import Any

from fixloop.agent.reconcile import reconcile
from fixloop.domain import Investigation, LoopState, new_investigation_id
from fixloop.domain.events import Failed, StatusChanged, outcome_position
from fixloop.domain.investigation import execution_name
from fixloop.store import stores
from tests.runtime import LocalRuntime

ARN = "arn:aws:states:us-east-1:123456789012"


class Recorder:
    """An Announcer that keeps what it was asked to post."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []

    def __call__(self, inv: Investigation, *, key: str, text: str) -> None:
        self.posts.append((key, text))


def _running(*, generation: int = 0, turns: int = 0) -> str:
    inv = Investigation(
        investigation_id=new_investigation_id(), title="t", repo="", model="scripted:none"
    )
    st = stores()
    st.investigations.create(inv)
    st.investigations.record_progress(inv.investigation_id, generation=generation, turn=turns)
    return inv.investigation_id


def _ended(
    inv_id: str,
    status: str,
    *,
    generation: int = 0,
    turn: int = 0,
    with_input: bool = True,
    error: str | None = None,
    cause: str | None = None,
) -> dict[str, Any]:
    """A "Step Functions Execution Status Change" event, as EventBridge delivers it."""
    name = execution_name(inv_id, generation)
    started = LoopState(investigation_id=inv_id, generation=generation, turn=turn)
    return {
        "version": "0",
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": f"{ARN}:execution:fixloop-investigation:{name}",
            "stateMachineArn": f"{ARN}:stateMachine:fixloop-investigation",
            "name": name,
            "status": status,
            "startDate": 1_700_000_000_000,
            "stopDate": 1_700_000_060_000,
            "input": json.dumps(started.payload()) if with_input else None,
            "output": None,
            "error": error,
            "cause": cause,
        },
    }


def test_an_execution_that_failed_without_mark_failed_closes_its_investigation(
    runtime: LocalRuntime,
) -> None:
    # Given a running investigation at turn 4 whose execution (started at turn 2) failed
    # with States.Runtime, which no Catch sees
    inv_id = _running(turns=4)
    announce = Recorder()
    event = _ended(inv_id, "FAILED", turn=2, error="States.Runtime", cause="bad path $.x")

    # When it is reconciled
    result = reconcile(event, announce=announce)

    # Then the investigation is failed, with the error after the last turn, and announced
    st = stores()
    assert result["reconciled"] is True
    assert st.investigations.get(inv_id).status == "failed"
    failed = st.events.get(inv_id, outcome_position(4, "failed"))
    assert isinstance(failed, Failed)
    assert (failed.error, failed.cause) == ("States.Runtime", "bad path $.x")
    status = st.events.get(inv_id, outcome_position(4, "status"))
    assert isinstance(status, StatusChanged) and status.status == "failed"
    assert [text for _, text in announce.posts] == ["Failed: States.Runtime: bad path $.x"]


def test_a_timed_out_execution_without_input_is_found_by_its_name(runtime: LocalRuntime) -> None:
    # Given a running investigation in generation 1 whose execution timed out, the event
    # without the execution's input
    inv_id = _running(generation=1, turns=7)
    event = _ended(inv_id, "TIMED_OUT", generation=1, with_input=False)

    # When it is reconciled / Then the investigation is failed as a timeout
    result = reconcile(event, announce=Recorder())
    assert result["reconciled"] is True and result["error"] == "States.Timeout"
    assert stores().investigations.get(inv_id).status == "failed"


def test_what_mark_failed_closed_or_a_later_generation_runs_is_left_alone(
    runtime: LocalRuntime,
) -> None:
    # Given an investigation Mark Failed closed, and one that moved to generation 2
    closed = _running(turns=3)
    stores().investigations.close(closed, "failed", "States.TaskFailed: boom")
    moved = _running(generation=2, turns=9)
    announce = Recorder()

    # When their executions' ends are reconciled (and a success, and a foreign execution)
    results = [
        reconcile(_ended(closed, "FAILED"), announce=announce),
        reconcile(_ended(moved, "ABORTED", generation=1), announce=announce),
        reconcile(_ended(moved, "SUCCEEDED", generation=2), announce=announce),
        reconcile(_ended("someone-else", "FAILED", with_input=False), announce=announce),
        reconcile({"detail": {"status": "FAILED"}}, announce=announce),
    ]

    # Then nothing is reconciled, each says why, and nothing is written or posted
    assert [r["reconciled"] for r in results] == [False] * 5
    assert all(r["reason"] for r in results)
    st = stores()
    assert st.investigations.get(closed).outcome == "States.TaskFailed: boom"
    assert st.investigations.get(moved).status == "running"
    assert st.events.get(closed, outcome_position(3, "failed")) is None
    assert not announce.posts


def test_an_end_delivered_twice_closes_and_announces_once(runtime: LocalRuntime) -> None:
    # Given a running investigation whose execution failed without Mark Failed
    inv_id = _running(turns=2)
    announce = Recorder()
    event = _ended(inv_id, "FAILED", turn=2, error="States.Runtime", cause="bad path $.y")

    # When the event is delivered twice (EventBridge delivers at least once)
    first = reconcile(event, announce=announce)
    second = reconcile(event, announce=announce)

    # Then the first closed it and the second changed nothing: one announcement
    assert first["reconciled"] is True
    assert second["reconciled"] is True  # it finished what an earlier attempt began
    assert [text for _, text in announce.posts] == ["Failed: States.Runtime: bad path $.y"] * 2
    # (the announcement's record makes the second post a no-op on every channel: the
    # outbound post key is the same)
    assert len({key for key, _ in announce.posts}) == 1
    st = stores()
    failed = [e for e in st.events.read(inv_id) if isinstance(e.event, Failed)]
    assert len(failed) == 1


def test_an_attempt_that_closed_it_and_failed_is_finished_by_the_retry(
    runtime: LocalRuntime,
) -> None:
    # Given an earlier reconcile attempt that closed the investigation, then failed before
    # writing the log or announcing
    inv_id = _running(turns=5)
    event = _ended(inv_id, "TIMED_OUT", turn=5)
    outcome = f"States.Timeout: the execution {execution_name(inv_id, 0)} ended TIMED_OUT"
    assert stores().investigations.close(inv_id, "failed", outcome + " without Mark Failed")
    announce = Recorder()

    # When the retry runs
    result = reconcile(event, announce=announce)

    # Then it writes what the first attempt did not, and announces
    assert result["reconciled"] is True
    st = stores()
    failed = st.events.get(inv_id, outcome_position(5, "failed"))
    assert isinstance(failed, Failed) and failed.error == "States.Timeout"
    assert isinstance(st.events.get(inv_id, outcome_position(5, "status")), StatusChanged)
    assert len(announce.posts) == 1


def test_a_stopped_or_closed_investigation_is_never_overridden(runtime: LocalRuntime) -> None:
    # Given investigations parked, delivered, and failed by Mark Failed with another error
    announce = Recorder()
    for status in ("parked", "delivered", "failed"):
        inv_id = _running(turns=3)
        stores().investigations.close(inv_id, status, f"{status} by the loop")

        # When their execution's end arrives
        result = reconcile(_ended(inv_id, "FAILED", error="States.Runtime"), announce=announce)

        # Then nothing changes
        assert result["reconciled"] is False, status
        assert stores().investigations.get(inv_id).status == status
        assert stores().events.get(inv_id, outcome_position(3, "failed")) is None
    assert not announce.posts
