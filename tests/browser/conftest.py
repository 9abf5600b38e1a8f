"""What the browser tests share: Debian's chromium driven by Playwright, the live server, an
accessibility check with axe-core, and screenshots kept as test artifacts.

chromium is installed by ``scripts/install-debian-packages.sh`` (run by ``make test``).
Without it the tests are skipped with the reason, except under CI (``CI=true``), where they
fail: CI must run them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from fixloop.local.live import LiveServer
from tests.runtime import LocalRuntime
from tests.support import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

ARTIFACTS = Path(os.environ.get("FIXLOOP_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
"""axe-core, vendored from npm by scripts/vendor-web.sh (see web/vendor/README.md)."""
PHONE: ViewportSize = {"width": 400, "height": 800}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
INTERNALS = (
    r"t\d{6}\.\d|toolu_|\"(?:tool_use_id|stop_reason|investigation_id|position)\"|\"type\": ?\""
)
"""What the default view never shows: log positions, tool-use ids, an event's JSON. (The
investigation's id shows only where fixloop wrote it into the pull request: its branch and
body.)"""


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        reason = (
            f"chromium not found at {CHROMIUM}: run scripts/install-debian-packages.sh "
            "chromium (as root, with apt) to run the browser tests"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        print(f"\n*** SKIPPING THE BROWSER TESTS: {reason} ***\n")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def live(runtime: LocalRuntime) -> Iterator[LiveServer]:
    with LiveServer(runtime) as server:
        yield server


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (its own session storage) that fails the test on a script error."""
    context = browser.new_context(viewport=DESKTOP)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == [], f"the page raised: {errors}"


def check_accessibility(page: Page, name: str) -> None:
    """Run axe-core on the page; fail on serious or critical violations (all are kept in
    test-artifacts/{name}.axe.json)."""
    page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.axe.json").write_text(json.dumps(violations, indent=2))
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], "\n".join(serious)


def screenshot(page: Page, name: str) -> Path:
    """The whole page as a person scrolling it sees it: the viewport is made as tall as the
    page for the shot (a full-page capture would draw sticky bars where the scroll left
    them), then put back."""
    size = page.viewport_size or DESKTOP
    page.evaluate("window.scrollTo(0, 0)")
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    assert path.stat().st_size > 10_000
    return path


def header_covers(page: Page, selector: str) -> bool:
    """Whether the sticky top bar lies over the top of the element."""
    bar = page.locator(".topbar").bounding_box()
    target = page.locator(selector).bounding_box()
    assert bar is not None and target is not None
    return target["y"] < bar["y"] + bar["height"] - 1
