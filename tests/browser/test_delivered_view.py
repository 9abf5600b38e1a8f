"""The demo's investigation, delivered, as a person reads it: three labelled regions, the
model's Markdown rendered, tool calls as cards, the fix's diff in Changes, nothing of the
log's internals; on a desktop and on a phone, by keyboard, checked with axe-core."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from fixloop.cli.demo import prepare_demo_repo
from fixloop.domain import Investigation, new_investigation_id
from fixloop.domain.signal import load_signal
from fixloop.intake import start_investigation
from fixloop.local.live import WEB_DIR, LiveServer
from fixloop.store import stores
from tests.browser.conftest import (
    INTERNALS,
    PHONE,
    check_accessibility,
    header_covers,
    screenshot,
)
from tests.runtime import LocalRuntime
from tests.support import DEMO, head

if TYPE_CHECKING:
    from playwright.sync_api import Page

FILES = ("orders/app.py", "orders/pricing.py", "tests/test_unknown_coupon.py")


@pytest.fixture(scope="module")
def demo(runtime: LocalRuntime, live: LiveServer) -> Iterator[str]:
    """The demo scenario (scripted model, sample repository) run to its pull request."""
    repo = prepare_demo_repo(DEMO)
    inv = start_investigation(
        load_signal(DEMO / "fixloop" / "signal.json"),
        repo=str(repo),
        commit=head(repo),
        model=f"scripted:{DEMO / 'fixloop' / 'demo.script.jsonl'}",
        state_machine_arn=runtime.state_machine_arn,
    )
    assert runtime.watcher.wait(inv.investigation_id, timeout_s=300).status == "delivered"
    yield inv.investigation_id


def test_the_demo_shows_its_regions_markdown_and_diff(
    page: Page, live: LiveServer, demo: str
) -> None:
    from playwright.sync_api import expect

    # When a person opens the delivered demo investigation
    page.goto(live.view_url(demo))
    summary = page.get_by_role("region", name="Summary")
    conversation = page.get_by_role("region", name="Conversation")
    changes = page.get_by_role("region", name="Changes")
    # Then the summary says what fired, where, how it ended and what it took
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Errors in /aws/lambda/orders-checkout: KeyError: 'SUMMER23'"
    )
    expect(summary).to_contain_text("Pull request open")
    expect(summary).to_contain_text("4 occurrences")
    console = summary.get_by_role("link", name=re.compile("orders-checkout"))
    expect(console).to_have_attribute("href", re.compile(r"console\.aws\.amazon\.com/cloudwatch"))
    # (delivered locally: its pull request is a branch and a file:// URL, which a web page
    # cannot open, so it is named, not linked)
    expect(summary.get_by_text("#1", exact=True)).to_be_visible()
    expect(summary.get_by_role("link", name="#1")).to_have_count(0)
    expect(summary).to_contain_text("Branch fixloop/")
    expect(summary.locator(".numbers")).to_contain_text("Turns8")
    expect(summary.locator(".numbers")).to_contain_text("Tool calls17")
    expect(summary.locator(".timeline .done")).to_have_count(5)
    # ... the conversation renders the model's Markdown (the pull request body's headings)
    expect(conversation.get_by_role("heading", name="Root cause")).to_be_visible()
    expect(conversation.locator(".pr-body code").first).to_have_text("order_total")
    # ... a file read with its path, line numbers and highlighted lines
    read = conversation.locator("article.card.kind-read").filter(has_text="Read orders/pricing.py")
    expect(read.locator(".gutter")).to_contain_text("24")
    expect(read.locator(".hljs-keyword").first).to_be_visible()
    # ... an edit as a small numbered diff, a command with its exit code, duration, output
    edit = conversation.locator("article.card.kind-edit").first
    expect(edit.locator(".row.add").first).to_be_visible()
    runs = conversation.locator("article.card.kind-command")
    expect(runs).to_have_count(2)
    expect(runs.first.locator(".tool-state")).to_contain_text(re.compile(r"exit code 1 in \d"))
    expect(runs.last.locator(".tool-state")).to_contain_text("exit code 0")
    output = runs.last.locator("details.output")
    expect(output).not_to_have_attribute("open", "")
    output.locator("summary").click()
    expect(output).to_contain_text("passed")
    # ... search results by file and line
    search = conversation.locator("article.card.kind-search")
    expect(search.locator(".path")).to_have_text("orders/pricing.py")
    # ... and the changes: the fix's diff, file by file, highlighted, in either layout
    expect(changes.locator(".d2h-file-wrapper")).to_have_count(3)
    for name in FILES:
        expect(changes.locator(".d2h-file-header").filter(has_text=name)).to_have_count(1)
    expect(changes.locator(".d2h-file-wrapper .hljs-keyword").first).to_be_attached()
    changes.get_by_role("button", name="Side by side").click()
    expect(changes.locator(".d2h-file-side-diff").first).to_be_visible()
    expect(changes.get_by_role("button", name="Side by side")).to_have_attribute(
        "aria-pressed", "true"
    )
    changes.get_by_role("button", name="Unified").click()
    expect(changes.locator(".d2h-file-side-diff")).to_have_count(0)
    # ... with the agent's two test runs and fixloop's own verification (the new test on the
    # base commit and with the fix, the suite on both)
    expect(changes.locator("ul.runs:not(.verification-runs) > li")).to_have_count(2)
    verification = changes.get_by_role("list", name="Verification runs")
    expect(verification.locator(":scope > li")).to_have_count(4)
    # ... and no log position, id or raw JSON anywhere in the default view
    assert not re.search(INTERNALS, page.locator("main").inner_text())
    # ... until a card's raw event is asked for
    raw = read.locator("details.raw")
    raw.locator("summary").click()
    expect(raw.locator("pre")).to_contain_text('"tool_use_id"')
    raw.locator("summary").click()
    check_accessibility(page, "delivered")
    screenshot(page, "delivered")


def test_the_page_is_used_by_keyboard_and_the_header_never_covers_a_section(
    page: Page, live: LiveServer, demo: str
) -> None:
    from playwright.sync_api import expect

    page.goto(live.view_url(demo))
    expect(page.get_by_role("region", name="Changes").locator(".d2h-file-wrapper")).to_have_count(3)
    # The first Tab reaches the skip link, which moves focus to the content
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    # Tabbing on goes through the bar in reading order: home, then the sections
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert order == ["fixloop", "Summary", "Conversation", "Changes"]
    sections = page.get_by_role("navigation", name="Sections of this investigation")
    expect(sections.get_by_role("button", name="Changes")).to_be_focused()
    # ... Enter on one moves focus to that section
    page.keyboard.press("Enter")
    expect(page.locator("#changes-h")).to_be_focused()
    # ... whose heading shows below the sticky bar, not under it
    assert page.evaluate("window.scrollY") > 0
    assert not header_covers(page, "#changes-h")
    # ... and the next Tab stays in that section
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.closest('section')?.id")
    assert focused == "changes"


def test_on_a_phone(page: Page, live: LiveServer, demo: str) -> None:
    from playwright.sync_api import expect

    # Given a phone-sized screen, and beside the demo an investigation whose title and
    # service are long words that cannot break (a log group path, an exception without spaces)
    page.set_viewport_size(PHONE)
    long_word = "/aws/lambda/" + "orders-checkout-" * 8 + "KeyError:'" + "X" * 60 + "'"
    stores().investigations.create(
        Investigation(
            investigation_id=new_investigation_id(),
            title=long_word,
            repo="r",
            commit="c",
            model="scripted:x",
            status="finished",
            signal_source=long_word,
        )
    )
    # When a person opens the list, then the delivered investigation
    page.goto(live.view_url())
    table = page.get_by_role("table", name="Investigations, newest first")
    demo_row = table.locator(f'tr[data-id="{demo}"]')
    expect(demo_row).to_be_visible()
    # ... its row says the outcome: a pull request (local: named, not linked)
    expect(demo_row).to_contain_text("Pull request open")
    expect(demo_row.locator("td[data-label=Outcome]")).to_have_text("Pull request")
    expect(demo_row.get_by_role("link")).to_have_count(1)  # the investigation's own
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    check_accessibility(page, "phone-list")
    screenshot(page, "phone-list")
    page.goto(live.view_url(demo))
    changes = page.get_by_role("region", name="Changes")
    expect(changes.locator(".d2h-file-wrapper")).to_have_count(3)
    # Then nothing is wider than the screen (code and diffs scroll inside their own boxes)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # ... the diff is unified by default, the sections are one tap away, below the bar
    expect(changes.locator(".d2h-file-side-diff")).to_have_count(0)
    sections = page.get_by_role("navigation", name="Sections of this investigation")
    sections.get_by_role("button", name="Conversation").click()
    assert not header_covers(page, "#conversation-h")
    sections.get_by_role("button", name="Changes").click()
    assert not header_covers(page, "#changes-h")
    check_accessibility(page, "phone")
    screenshot(page, "phone")


def test_the_accessibility_check_finds_what_it_must(page: Page) -> None:
    # A page with a serious violation (text with too little contrast) fails the check
    page.set_content(
        '<html lang="en"><title>t</title><main><p style="color:#bbb;background:#fff">'
        "faint</p></main></html>"
    )
    with pytest.raises(AssertionError, match="color-contrast"):
        check_accessibility(page, "self-check")


class _Site:
    """web/ served from an origin of its own with the headers CloudFront adds (its policy)
    and a config.js naming the live server's WebSocket API, as a deployment has it."""

    def __init__(self, live: LiveServer) -> None:
        from fixloop.live.page import PageConfig, content_security_policy

        websocket = live.url.replace("http://", "ws://", 1) + "/ws"
        self.policy = content_security_policy([websocket.rsplit("/", 1)[0]])
        config = PageConfig(websocket_url=websocket).script().encode()
        policy = self.policy

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(WEB_DIR), **kwargs)

            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/config.js":
                    self.send_response(200)
                    self.send_header("content-type", "text/javascript")
                    self.send_header("content-length", str(len(config)))
                    self.end_headers()
                    self.wfile.write(config)
                    return
                super().do_GET()

            def end_headers(self) -> None:
                self.send_header("content-security-policy", policy)
                super().end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_page_keeps_to_the_content_security_policy_the_stack_sends(
    page: Page, live: LiveServer, demo: str
) -> None:
    from playwright.sync_api import expect

    # Given the page served from its own origin with the policy CloudFront adds to every
    # response (no inline script or style, nothing evaluated, connections to its own origin
    # and the WebSocket API only)
    site = _Site(live)
    blocked: list[str] = []
    page.on(
        "console",
        lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    try:
        # When a person opens the delivered demo
        page.goto(site.url + live.view_url(demo)[len(live.url) :])
        changes = page.get_by_role("region", name="Changes")
        expect(changes.locator(".d2h-file-wrapper")).to_have_count(3)
        conversation = page.get_by_role("region", name="Conversation")
        expect(conversation.locator(".hljs-keyword").first).to_be_visible()
        expect(conversation.get_by_role("heading", name="Root cause")).to_be_visible()
    finally:
        site.close()
    # Then nothing on it was blocked: its scripts, styles, diff and highlighting keep to it
    assert blocked == []
