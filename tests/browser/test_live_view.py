"""The web live view in a real browser (Playwright driving Debian's chromium) during a running
investigation on the embedded runtime.

chromium is installed by ``scripts/install-debian-packages.sh`` (run by ``make test``).
Without it the test is skipped with the reason, except under CI (``CI=true``), where it
fails: CI must run it.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from fixloop.local.live import LiveServer
from fixloop.store import stores
from fixloop.tools import Tool, ToolContext
from tests.integration.scenario import start_scripted
from tests.runtime import LocalRuntime
from tests.support import ROOT, extra_tools, text, thinking, tool_use, wait_for

ARTIFACTS = Path(os.environ.get("FIXLOOP_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
GATES: dict[str, threading.Event] = {}


class _Gate(BaseModel):
    gate: str


def _gate(ctx: ToolContext, args: _Gate) -> str:
    GATES.setdefault(args.gate, threading.Event()).wait(timeout=60)
    return f"gate {args.gate} opened"


@pytest.fixture(scope="module", autouse=True)
def test_tools() -> Iterator[None]:
    with extra_tools(Tool("browser_gate", "Wait for the test.", _Gate, _gate)):
        yield


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        reason = (
            f"chromium not found at {CHROMIUM}: run scripts/install-debian-packages.sh "
            "chromium (as root, with apt) to run the browser test"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        print(f"\n*** SKIPPING THE BROWSER TEST: {reason} ***\n")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def live(runtime: LocalRuntime) -> Iterator[LiveServer]:
    with LiveServer(runtime) as server:
        yield server


def test_follow_and_answer_in_the_live_view(
    chromium: str, live: LiveServer, repo: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    # Given a running investigation: it reasons, calls a tool (held by the test), then asks a
    # question and waits for the answer, then goes on with what it was told
    turns = [
        [
            thinking("The 5xx started with the coupon release; look at checkout first."),
            text("Reading the checkout handler."),
            tool_use("browser_gate", gate="b1"),
        ],
        [
            text("Which coupon code fails for you?"),
            tool_use("ask_human", question="Which coupon code fails for you?"),
        ],
        [text("Thanks: checking the coupon path you named."), tool_use("finish", summary="ok")],
    ]
    inv = start_scripted(repo, turns, tmp_path / "s.jsonl")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        # record every thread item the page ever shows (streamed drafts are replaced)
        page.add_init_script(
            """window.__types = [];
            new MutationObserver(ms => ms.forEach(m => m.addedNodes.forEach(n => {
              if (n.dataset && n.dataset.type) window.__types.push(n.dataset.type);
            }))).observe(document, {subtree: true, childList: true});"""
        )
        try:
            # When a person opens the live view of it while it runs
            page.goto(live.view_url(inv))
            # Then the reasoning and the tool call arrive
            expect(page.locator(".reasoning").first).to_contain_text("coupon release")
            expect(page.locator(".tool-call summary").first).to_contain_text("browser_gate")
            expect(page.locator("#connection")).to_have_text("live")
            GATES.setdefault("b1", threading.Event()).set()
            # ... the tool's result is folded into its call, and the question comes
            expect(page.locator(".tool-result").first).to_have_text("gate b1 opened")
            expect(page.locator(".event.question")).to_contain_text(
                "Which coupon code fails for you?"
            )
            expect(page.locator(".event.question .approve")).to_have_count(0)
            # When they answer with the reply box
            page.fill("#reply-text", "SPRING25 fails at checkout")
            page.click("#reply-send")
            # Then their message shows in the thread, the agent receives it and continues
            expect(page.locator(".event.user")).to_contain_text("SPRING25 fails at checkout")
            expect(page.locator("#thread")).to_contain_text("checking the coupon path you named")
            expect(page.locator(".event.delivered")).to_contain_text("Summary")
            expect(page.locator("#reply-text")).to_have_value("")
            seen_types = page.evaluate("window.__types")
            assert "stream" in seen_types  # drafts streamed before the final messages
            # ... and, once the investigation has ended and its last event reached the page,
            # the page holds each event once, in log order
            wait_for(lambda: not stores().investigations.get(inv).is_open, what="the end")
            log = [e.position for e in stores().events.read(inv) if e.event.type != "stream_chunk"]
            expect(page.locator("#thread > li:not([data-type=stream])").last).to_have_attribute(
                "data-position", log[-1]
            )
            shown = page.eval_on_selector_all(
                "#thread > li:not([data-type=stream])", "els => els.map(e => e.dataset.position)"
            )
            assert shown == log
        finally:
            page.screenshot(path=str(ARTIFACTS / "live-view.png"), full_page=True)
            browser.close()
    assert (ARTIFACTS / "live-view.png").stat().st_size > 10_000
