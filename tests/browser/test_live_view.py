"""The live view in a real browser (Playwright driving Debian's chromium) while investigations
run on the embedded runtime: the list, streamed text, a question answered and a pull request
approved from the page; untrusted text rendered safe, people named with their channel. Each
page is checked with axe-core and kept as a screenshot."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import BaseModel

from fixloop.conversation.inbox import post_message
from fixloop.local.live import LiveServer
from fixloop.store import stores
from fixloop.tools import Tool, ToolContext
from tests.browser.conftest import INTERNALS, check_accessibility, screenshot
from tests.fakes.github import GitHubServer
from tests.fakes.messages import MessagesServer
from tests.integration.scenario import start_replayed, start_scripted
from tests.runtime import LocalRuntime
from tests.support import alarm_event, extra_tools, text, thinking, tool_use, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Page

GATES: dict[str, threading.Event] = {}


class _Gate(BaseModel):
    gate: str


def _gate(ctx: ToolContext, args: _Gate) -> str:
    GATES.setdefault(args.gate, threading.Event()).wait(timeout=60)
    return f"gate {args.gate} opened"


def _open_gate(name: str) -> None:
    GATES.setdefault(name, threading.Event()).set()


@pytest.fixture(scope="module", autouse=True)
def test_tools() -> Iterator[None]:
    with extra_tools(Tool("browser_gate", "Wait for the test.", _Gate, _gate)):
        yield


def _alarm(name: str) -> dict[str, object]:
    return alarm_event(name=name)


def test_the_list_filters_and_updates_live(
    page: Page, live: LiveServer, runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    # Given a finished investigation and one held in a tool call, from two alarms
    tag = secrets.token_hex(3)
    done = start_scripted(
        repo,
        [[text("Nothing to fix."), tool_use("finish", summary="A deploy fixed it already")]],
        tmp_path / "done.jsonl",
        signal=_alarm(f"payments-{tag}"),
    )
    runtime.watcher.wait(done, timeout_s=60)
    held = start_scripted(
        repo,
        [[tool_use("browser_gate", gate=f"list-{tag}")], [tool_use("finish", summary="ok")]],
        tmp_path / "held.jsonl",
        signal=_alarm(f"checkout-{tag}"),
    )
    # When a person opens the list
    page.goto(live.view_url())
    table = page.get_by_role("table", name="Investigations, newest first")
    finished_row = table.get_by_role("row").filter(has_text=f"payments-{tag}")
    running_row = table.get_by_role("row").filter(has_text=f"checkout-{tag}")
    # Then each row says its status, signal, service, turns, cost and outcome
    expect(finished_row).to_contain_text("Finished")
    expect(finished_row).to_contain_text(f"Alarm payments-{tag} is in ALARM")
    expect(finished_row).to_contain_text(f"alarm payments-{tag}")
    expect(finished_row).to_contain_text("A deploy fixed it already")
    expect(finished_row).to_contain_text("$")
    expect(running_row).to_contain_text("Running")
    expect(page.locator("#connection")).to_have_text("Live")
    # When they filter by status and search
    page.get_by_label("Status").select_option("finished")
    expect(finished_row).to_be_visible()
    expect(running_row).to_have_count(0)
    page.get_by_label("Status").select_option("")
    page.get_by_label("Search").fill(f"checkout-{tag}")
    expect(running_row).to_be_visible()
    expect(finished_row).to_have_count(0)
    page.get_by_label("Search").fill(tag)
    expect(table.get_by_role("row").filter(has_text=tag)).to_have_count(2)
    # When an investigation starts and the held one ends while the page is open
    fresh = start_scripted(
        repo,
        [[tool_use("browser_gate", gate=f"new-{tag}")], [tool_use("finish", summary="ok")]],
        tmp_path / "fresh.jsonl",
        signal=_alarm(f"search-{tag}"),
    )
    _open_gate(f"list-{tag}")
    # Then the new row appears and the held one turns finished, without a reload
    fresh_row = table.get_by_role("row").filter(has_text=f"search-{tag}")
    expect(fresh_row).to_contain_text("Running")
    expect(running_row).to_contain_text("Finished", timeout=30_000)
    assert not re.search(INTERNALS, page.locator("main").inner_text())
    check_accessibility(page, "list")
    screenshot(page, "list")
    # And a row opens its investigation
    fresh_row.get_by_role("link", name=f"Alarm search-{tag} is in ALARM").click()
    expect(page.get_by_role("region", name="Summary")).to_be_visible()
    _open_gate(f"new-{tag}")
    for inv in (held, fresh):
        runtime.watcher.wait(inv, timeout_s=60)


def test_streamed_text_arrives_as_it_is_written(
    page: Page,
    live: LiveServer,
    runtime: LocalRuntime,
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import expect

    # Given a model (the real SDK against the local Messages server) that writes a long
    # answer slowly, then calls a tool the test holds
    words = " ".join(f"step{n}" for n in range(120))
    answer = f"Checking the **coupon** path first.\n\n- {words}\n- the handler last"
    with MessagesServer(delta_interval_s=0.03, chunk_size=6) as server:
        server.enqueue(
            [
                thinking("The alarm names checkout; read it first."),
                text(answer),
                tool_use("browser_gate", gate="stream"),
            ]
        )
        server.enqueue([tool_use("finish", summary="Streamed.")])
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)  # put back afterwards
        inv = start_replayed(repo, server.base_url, signal=_alarm("stream-check"))
        # When a person watches it
        page.goto(live.view_url(inv))
        conversation = page.get_by_role("region", name="Conversation")
        draft = conversation.locator(".item.draft .streaming")
        # Then the text shows while it is being written, and grows
        expect(draft).to_contain_text("step1", timeout=30_000)
        first = len(draft.inner_text())
        wait_for(lambda: len(draft.inner_text()) > first + 20, 10, "the draft to grow")
        assert "step119" not in draft.inner_text()
        check_accessibility(page, "streaming")
        screenshot(page, "streaming")
        # ... and when the message is complete it replaces the draft, as Markdown
        expect(conversation.locator(".item.draft")).to_have_count(0, timeout=30_000)
        message = conversation.locator(".item.agent .agent-text")
        expect(message.locator("strong")).to_have_text("coupon")
        expect(message.locator("li")).to_have_count(2)
        card = conversation.locator("article.card").filter(has_text="Browser gate")
        expect(card).to_contain_text("running…")
        _open_gate("stream")
        expect(card).to_contain_text("done")
        # ... and the summary counts the turn's tokens and prices them
        summary = page.get_by_role("region", name="Summary")
        expect(summary).to_contain_text("Finished", timeout=30_000)
        expect(summary.locator(".numbers")).to_contain_text(re.compile(r"\$0\.\d*[1-9]"))
        assert stores().investigations.get(inv).tokens_output > 0
    runtime.watcher.wait(inv, timeout_s=60)


def test_follow_and_answer_in_the_live_view(
    page: Page, live: LiveServer, runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    # Given a running investigation: it reasons, calls a tool (held by the test), then asks a
    # question with suggested answers and waits, then goes on with what it was told
    turns = [
        [
            thinking("The 5xx started with the coupon release; look at checkout first."),
            text("Reading the checkout handler."),
            tool_use("browser_gate", gate="b1"),
        ],
        [
            text("Which coupon code fails for you?"),
            tool_use(
                "ask_human",
                question="Which coupon code **fails** for you?",
                options=["SPRING25", "SUMMER23"],
            ),
        ],
        [text("Thanks: checking the coupon path you named."), tool_use("finish", summary="ok")],
    ]
    inv = start_scripted(repo, turns, tmp_path / "s.jsonl")
    # record every conversation item the page ever shows (streamed drafts are replaced)
    page.add_init_script(
        """window.__types = [];
        new MutationObserver(ms => ms.forEach(m => m.addedNodes.forEach(n => {
          if (n.dataset && n.dataset.type) window.__types.push(n.dataset.type);
        }))).observe(document, {subtree: true, childList: true});"""
    )
    # When a person opens the live view of it while it runs
    page.goto(live.view_url(inv))
    conversation = page.get_by_role("region", name="Conversation")
    # Then the reasoning (folded) and the tool call arrive
    thinking_block = conversation.locator("details.thinking").first
    expect(thinking_block).to_contain_text("coupon release")
    expect(thinking_block).not_to_have_attribute("open", "")
    card = conversation.locator("article.card").filter(has_text="Browser gate")
    expect(card).to_contain_text("running…")
    expect(page.locator("#connection")).to_have_text("Live")
    _open_gate("b1")
    # ... the tool's result is folded into its card, and the question comes
    expect(card.locator(".card-result")).to_contain_text("gate b1 opened")
    question = conversation.locator(".item.question")
    expect(question).to_contain_text("Which coupon code fails for you?")
    expect(question.locator("strong")).to_have_text("fails")  # Markdown
    expect(question.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("region", name="Summary")).to_contain_text("Waiting for an answer")
    check_accessibility(page, "question")
    screenshot(page, "question")
    # When they answer with a suggested answer
    question.get_by_role("button", name="SPRING25").click()
    # Then their message shows in the thread, the agent receives it and continues
    expect(conversation.locator(".item.human")).to_contain_text("SPRING25")
    expect(question.locator(".answered")).to_contain_text("Answered")
    expect(conversation).to_contain_text("checking the coupon path you named")
    expect(conversation.locator(".item.delivered")).to_contain_text("Concluded")
    # ... and a message from the reply box is refused once it has ended, the box says why
    expect(page.locator("#reply-text")).to_be_disabled()
    seen_types = page.evaluate("window.__types")
    assert "stream" in seen_types  # drafts streamed before the final messages
    # ... and, once the investigation has ended and its last event reached the page, the
    # page holds each event once, in log order (the alert that opened it first)
    wait_for(lambda: not stores().investigations.get(inv).is_open, what="the end")
    log = [e.position for e in stores().events.read(inv) if e.event.type != "stream_chunk"]
    expected = [p for p in log if p.endswith(".signal")] + [
        p for p in log if not p.endswith(".signal")
    ]
    shown_items = "#thread > li:not([data-type=stream])"
    expect(page.locator(shown_items).last).to_have_attribute("data-position", log[-1])
    shown = page.eval_on_selector_all(
        "#thread [data-position]:not([data-type=stream])", "els => els.map(e => e.dataset.position)"
    )
    assert shown == expected
    shown_text = page.locator("main").inner_text()
    assert not re.search(INTERNALS, shown_text)
    assert inv not in shown_text
    runtime.watcher.wait(inv, timeout_s=60)


@pytest.fixture
def approval(runtime: LocalRuntime) -> Iterator[None]:
    runtime.configure(require_approval="true")
    yield
    runtime.configure(require_approval=None)


@pytest.fixture
def github(
    runtime: LocalRuntime, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GitHubServer]:
    with GitHubServer(repo) as server:
        monkeypatch.setenv("GITHUB_TOKEN", next(iter(server.tokens)))
        runtime.configure(github_api_url=server.base_url, github_seconds_between_writes="0")
        yield server
        runtime.configure(github_api_url=None, github_seconds_between_writes=None)


def test_a_pull_request_is_approved_from_the_page(
    page: Page,
    live: LiveServer,
    runtime: LocalRuntime,
    repo: Path,
    tmp_path: Path,
    approval: None,
    github: GitHubServer,
) -> None:
    from playwright.sync_api import expect

    # Given a deployment that asks before opening pull requests on GitHub, and a model with
    # a fix
    turns = [
        [tool_use("edit_file", path="app/util.py", old_text="return x", new_text="return x or 0")],
        [tool_use("open_pull_request", title="Default to 0", body="## Why\nNone broke it.")],
    ]
    inv = start_scripted(repo, turns, tmp_path / "s.jsonl", github_repo=github.full_name)
    page.goto(live.view_url(inv))
    conversation = page.get_by_role("region", name="Conversation")
    # Then the page asks for the approval, with an Approve button and a box for changes
    approval_item = conversation.locator(".item.approval")
    expect(approval_item).to_contain_text("Approval needed", timeout=30_000)
    expect(approval_item).to_contain_text("Default to 0")
    expect(approval_item.get_by_role("button", name="approve", exact=True)).to_have_count(0)
    expect(approval_item.get_by_label("Or ask for changes")).to_be_visible()
    # ... the edit shows as a small numbered diff
    edit = conversation.locator("article.card.kind-edit")
    expect(edit.locator(".row.del")).to_contain_text("return x")
    expect(edit.locator(".row.add")).to_contain_text("return x or 0")
    expect(edit.locator(".row.add .ln").nth(1)).to_have_text("2")
    # When they approve
    approval_item.get_by_role("button", name="Approve").click()
    # Then the pull request is opened and shows in the summary and the changes
    expect(conversation.locator(".item.delivered")).to_contain_text("Pull request opened")
    summary = page.get_by_role("region", name="Summary")
    expect(summary).to_contain_text("Pull request open", timeout=30_000)
    pull_url = re.compile(re.escape(github.full_name) + r"/pull/1$")
    expect(summary.get_by_role("link", name="#1")).to_have_attribute("href", pull_url)
    expect(conversation.get_by_role("link", name=re.compile("^#1 Default to 0"))).to_have_attribute(
        "href", pull_url
    )
    changes = page.get_by_role("region", name="Changes")
    expect(changes.locator(".d2h-file-wrapper")).to_have_count(1)
    expect(changes).to_contain_text("app/util.py")
    final = runtime.watcher.wait(inv, timeout_s=60)
    assert final.status == "delivered" and final.pull_request is not None


UNSAFE = (
    "Found it: <img src=x onerror=\"window.__pwned='img'\">"
    "<script>window.__pwned='script'</script> "
    "[a trap](javascript:window.__pwned='link') and [the docs](https://example.com/docs) "
    '<a href="https://example.com" onclick="window.__pwned=\'click\'">here</a>'
)


def test_untrusted_text_is_rendered_safe_and_people_are_named_with_their_channel(
    page: Page, live: LiveServer, runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    # Given a model whose text carries HTML (quoted from a log, say), held in a tool call
    turns = [
        [text(UNSAFE), tool_use("browser_gate", gate="unsafe")],
        [text("Thanks, ana."), tool_use("finish", summary="ok")],
    ]
    inv = start_scripted(repo, turns, tmp_path / "s.jsonl")
    page.goto(live.view_url(inv))
    conversation = page.get_by_role("region", name="Conversation")
    message = conversation.locator(".item.agent .agent-text").filter(has_text="Found it")
    # Then its Markdown is rendered and its HTML is not: nothing runs, no image loads, the
    # script link leads nowhere, a web link opens apart from the page
    expect(message.get_by_role("link", name="the docs")).to_have_attribute(
        "rel", re.compile("noopener")
    )
    assert message.locator("a", has_text="a trap").get_attribute("href") is None
    assert message.locator("img, script, [onerror], [onclick]").count() == 0
    # When someone writes from Slack while it runs (their text may hold HTML too)
    posted = post_message(
        inv,
        text="Try **SUMMER23** <img src=x onerror=\"window.__pwned='slack'\">",
        author="ana",
        channel="slack",
        delivery_id=f"slack-{secrets.token_hex(3)}",
    )
    assert posted.outcome == "accepted"
    _open_gate("unsafe")
    # Then their message shows under their name, with the channel it came by, as Markdown
    human = conversation.locator(".item.human").filter(has_text="SUMMER23")
    expect(human).to_contain_text("ana", timeout=30_000)
    expect(human.locator(".via")).to_have_text("via Slack")
    expect(human.locator("strong")).to_have_text("SUMMER23")
    assert human.locator("img, [onerror]").count() == 0
    expect(conversation).to_contain_text("Thanks, ana.")
    assert page.evaluate("window.__pwned") is None
    runtime.watcher.wait(inv, timeout_s=60)
