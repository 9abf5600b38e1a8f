"""The live view's summary of an investigation: counters, cost by part, and the news of an
event the record does not hold yet."""

from __future__ import annotations

import pytest

from fixloop.domain import Investigation
from fixloop.domain.events import AssistantMessage, Delivered, StatusChanged
from fixloop.domain.investigation import PullRequestRef
from fixloop.live.views import investigation_row, investigation_view


def _inv(**kw: object) -> Investigation:
    base: dict[str, object] = {
        "investigation_id": "inv-20261122092000-0123abcd",
        "title": "Alarm orders-5xx is in ALARM",
        "signal_kind": "alarm",
        "signal_source": "orders-5xx",
        "repo": "acme/orders",
        "model": "anthropic:claude-sonnet-5",
    }
    return Investigation.model_validate(base | kw)


def test_the_row_and_the_summary_say_what_where_and_what_it_cost() -> None:
    # Given an investigation two turns in, with counted tokens and live messages
    inv = _inv(
        turns=2,
        counted_turn=2,
        tokens_input=1_000_000,
        tokens_output=100_000,
        tokens_cache_read=2_000_000,
        websocket_messages=1_000,
    )
    row = investigation_row(inv)
    view = investigation_view(inv)
    # Then the row names the service, and the cost is the model's tokens plus the messages
    assert row["signal"] == {"kind": "alarm", "source": "orders-5xx"}
    parts = view["cost"]["parts"]
    assert parts["model_input"] == pytest.approx(2.0)
    assert parts["model_output"] == pytest.approx(1.0)
    assert parts["model_cache_read"] == pytest.approx(0.4)
    assert parts["websocket"] == pytest.approx(0.001)
    assert row["cost_usd"] == view["cost"]["total"] == pytest.approx(3.401)
    assert view["tokens"]["total"] == 3_100_000
    assert view["cost"]["priced"] is True and view["merged"] is False


def test_a_scripted_model_is_not_priced() -> None:
    view = investigation_view(_inv(model="scripted:/somewhere/s.jsonl", tokens_output=10))
    assert view["cost"]["priced"] is False
    assert view["cost"]["total"] == 0
    assert view["model_label"] == "a scripted replay"


def test_the_news_of_the_event_is_laid_over_the_record() -> None:
    inv = _inv(turns=1, counted_turn=1, tokens_output=10)
    # A turn whose usage the record does not count yet is added once
    message = AssistantMessage(
        turn=2, content=[], stop_reason="end_turn", model="m", usage={"output_tokens": 5}
    )
    assert investigation_view(inv, message)["tokens"]["output"] == 15
    assert investigation_view(inv, message)["turns"] == 2
    counted = inv.model_copy(update={"counted_turn": 2, "tokens_output": 15})
    assert investigation_view(counted, message)["tokens"]["output"] == 15
    # A status written to the log before the record is closed
    closed = investigation_view(inv, StatusChanged(status="delivered", reason="PR #7"))
    assert (closed["status"], closed["outcome"], closed["closed"]) == ("delivered", "PR #7", True)
    # A pull request in the delivered event
    pr = PullRequestRef(
        number=7, url="https://x/pr/7", branch="fixloop/x", head_sha="a", base="main"
    )
    delivered = Delivered(kind="pull_request", title="Fix", body="b", pull_request=pr)
    view = investigation_view(inv, delivered)
    assert view["pull_request"] == "https://x/pr/7"
    assert view["pull_request_ref"]["branch"] == "fixloop/x"
