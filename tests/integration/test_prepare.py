"""Prepare's decisions, each on its own, against the embedded runtime's tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixloop.agent import prepare as p
from fixloop.config import get_settings
from fixloop.conversation.inbox import message_position
from fixloop.domain import (
    AssistantMessage,
    Investigation,
    LoopState,
    SignalReceived,
    StatusChanged,
    ToolResult,
    UserMessage,
    new_investigation_id,
    parse_signal,
)
from fixloop.domain.events import (
    ContextGathering,
    Note,
    assistant_position,
    context_position,
    note_position,
    outcome_position,
    signal_position,
    tool_result_position,
)
from fixloop.store import stores
from tests.runtime import LocalRuntime
from tests.support import alarm_event, logs_message, make_repo

TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/var/task/app/handler.py", line 2, in handle\n'
    "KeyError: 'user'"
)


class Recorder:
    """An Announcer that keeps what it was asked to post."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []

    def __call__(self, inv: Investigation, *, key: str, text: str) -> None:
        self.posts.append((key, text))


def _open(repo: str = "", signal: dict[str, object] | None = None, **fields: object) -> str:
    inv = Investigation(
        investigation_id=new_investigation_id(),
        title="t",
        repo=repo,
        model="scripted:none",
        **fields,
    )
    st = stores()
    st.investigations.create(inv)
    st.events.append(
        inv.investigation_id,
        signal_position(),
        SignalReceived(signal=parse_signal(signal or alarm_event())),
    )
    return inv.investigation_id


@pytest.fixture
def settings(runtime: LocalRuntime) -> Iterator[None]:
    runtime.configure(max_turns="5", max_turns_per_generation="3", max_history_events="1000")
    yield
    runtime.configure(max_turns=None, max_turns_per_generation=None, max_history_events=None)


def test_stop_if_closed(settings: None) -> None:
    inv_id = _open()
    base = LoopState(investigation_id=inv_id, turn=2)
    assert p.stop_if_closed(stores().investigations.get(inv_id), base) is None
    stores().investigations.close(inv_id, "finished", "done elsewhere")
    stopped = p.stop_if_closed(stores().investigations.get(inv_id), base)
    assert stopped is not None and stopped.action == "stop"


def test_park_at_the_turn_limit_or_over_a_budget_with_a_notice(settings: None) -> None:
    # Under both: nothing
    inv_id = _open()
    inv = stores().investigations.get(inv_id)
    assert (
        p.park_if_over_limits(inv, LoopState(investigation_id=inv_id, turn=4), get_settings())
        is None
    )
    # At the turn limit: parked, with the reason in the log
    parked = p.park_if_over_limits(inv, LoopState(investigation_id=inv_id, turn=5), get_settings())
    assert parked is not None and parked.action == "stop"
    notice = stores().events.get(inv_id, outcome_position(5, "status"))
    assert isinstance(notice, StatusChanged) and notice.reason == "turn limit reached (5 turns)"
    assert stores().investigations.get(inv_id).status == "parked"
    # Over its own token budget
    spent = _open(budget_tokens=10, tokens_input=11)
    over = stores().investigations.get(spent)
    assert p.over_budget(over).startswith("token budget exceeded (11 tokens used")
    assert p.park_if_over_limits(over, LoopState(investigation_id=spent, turn=1), get_settings())


def test_continue_as_new_after_the_generation_turns_or_near_the_history_limit(
    settings: None,
) -> None:
    inv_id = _open()
    cfg = get_settings()
    fresh = LoopState(investigation_id=inv_id, generation=2, turn=7, generation_start_turn=5)
    assert p.continue_as_new_if_due(fresh, cfg) is None
    due = p.continue_as_new_if_due(fresh.model_copy(update={"turn": 8}), cfg)
    assert due is not None and due.action == "continue"
    assert (due.next_generation, due.next_execution_name) == (3, f"{inv_id}-g3")
    heavy = p.continue_as_new_if_due(fresh.model_copy(update={"history_events": 1000}), cfg)
    assert heavy is not None and heavy.action == "continue"


def test_gather_context_once_before_turn_one_when_frames_name_code(
    settings: None, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "svc", {"app/handler.py": "x = 1\n"})
    # No repository: nothing to gather
    bare = _open()
    assert (
        p.gather_context_if_first(
            LoopState(investigation_id=bare), LoopState(investigation_id=bare)
        )
        is None
    )
    # An alarm (no frames): the repository's overview only
    alarm = _open(repo=str(repo))
    only = p.gather_context_if_first(
        LoopState(investigation_id=alarm), LoopState(investigation_id=alarm)
    )
    assert only is not None
    assert [(c.id, c.runs_in) for c in only.tool_calls] == [
        ("context-repository-overview", "sandbox")
    ]
    # A log line with a frame: the overview and the suspect commits, listed once in the log
    inv_id = _open(repo=str(repo), signal=logs_message([TRACE]))
    state = LoopState(investigation_id=inv_id)
    first = p.gather_context_if_first(state, state)
    assert first is not None and first.action == "gather"
    assert [(c.id, c.runs_in) for c in first.tool_calls] == [
        ("context-repository-overview", "sandbox"),
        ("context-suspect-commits", "sandbox"),
    ]
    listed = stores().events.get(inv_id, context_position())
    assert isinstance(listed, ContextGathering) and len(listed.calls) == 2
    # A retry lists the same calls; after gathering (action "gather") it is not asked again
    assert p.gather_context_if_first(state, state) == first
    back = state.model_copy(update={"action": "gather"})
    assert p.gather_context_if_first(back, back) is None
    # Only before turn 1
    later = LoopState(investigation_id=inv_id, turn=1)
    assert p.gather_context_if_first(later, later) is None


def test_announce_the_start_once_at_turn_one(settings: None) -> None:
    inv = stores().investigations.get(_open())
    said = Recorder()
    p.announce_start(inv, 1, said)
    p.announce_start(inv, 2, said)
    assert said.posts == [("start", "Started investigating: t")]


def test_move_the_inbox_and_answer_the_waiting_call_with_the_first_message(
    settings: None,
) -> None:
    inv_id = _open()
    st = stores()
    st.events.append(
        inv_id,
        assistant_position(1),
        AssistantMessage(
            turn=1,
            content=[
                {"type": "tool_use", "id": "ask-1", "name": "ask_human", "input": {"question": "?"}}
            ],
            stop_reason="tool_use",
            model="m",
        ),
    )
    # Resumed without a message (an operator's doing): the call is answered with an error
    p.move_inbox(inv_id, 1, 2)
    result = st.events.get(inv_id, tool_result_position(1, 0))
    assert isinstance(result, ToolResult) and result.is_error
    assert result.content == "No reply arrived."
    # Messages move into the log at the turn boundary, in arrival order
    other = _open()
    st.events.append(other, assistant_position(1), st.events.get(inv_id, assistant_position(1)))  # type: ignore[arg-type]
    for i, text in enumerate(("retry", "and log it")):
        st.inbox.add(other, channel="api", delivery_id=f"d{i}", author="ana", text=text)
    p.move_inbox(other, 1, 2)
    moved = [e.event for e in st.events.read(other) if isinstance(e.event, UserMessage)]
    assert [(m.text, m.in_reply_to) for m in moved] == [("retry", "ask-1"), ("and log it", "")]
    assert not st.inbox.has_pending(other)
    assert st.events.get(other, tool_result_position(1, 0)) is None


def test_advance_to_the_next_turn(settings: None) -> None:
    inv_id = _open()
    said = Recorder()
    inv = stores().investigations.get(inv_id)
    nxt = p.advance(inv, LoopState(investigation_id=inv_id, generation=1, turn=0), announce=said)
    assert (nxt.turn, nxt.action) == (1, "model")
    record = stores().investigations.get(inv_id)
    assert (record.generation, record.turns) == (1, 1)
    assert [k for k, _ in said.posts] == ["start"]


def test_each_turn_starts_with_the_budget_left_written_once(settings: None) -> None:
    # Given an investigation with a token budget, 400 tokens into it
    inv_id = _open(budget_tokens=1000, tokens_input=300, tokens_output=100)
    inv = stores().investigations.get(inv_id)
    # When Prepare advances to turn 2 (and a retry does it again, later)
    p.advance(inv, LoopState(investigation_id=inv_id, turn=1), announce=Recorder())
    first = stores().events.get(inv_id, note_position(2, "budget"))
    spent = inv.model_copy(update={"tokens_input": 900})
    p.advance(spent, LoopState(investigation_id=inv_id, turn=1), announce=Recorder())
    # Then the turn's last input is one note of the turns, tokens and time left
    note = stores().events.get(inv_id, note_position(2, "budget"))
    assert isinstance(note, Note) and note.kind == "budget" and note == first
    assert note.text.startswith("budget before this turn: turn 2 of at most 5 (3 left")
    assert "400 tokens used of 1,000 (60% left)" in note.text
    assert "minutes elapsed (no time budget)" in note.text
    assert note_position(2, "budget") > message_position(2, 10**9)


def test_prepare_takes_the_first_decision_that_applies(settings: None) -> None:
    inv_id = _open()
    said = Recorder()
    # Open, turn 0, no context to gather: the next turn
    assert p.prepare(LoopState(investigation_id=inv_id), announce=said).action == "model"
    # Past the generation's turns and at the turn limit: parking wins
    at_limit = LoopState(investigation_id=inv_id, turn=5, generation_start_turn=0)
    assert p.prepare(at_limit, announce=said).action == "stop"
    assert stores().investigations.get(inv_id).status == "parked"
