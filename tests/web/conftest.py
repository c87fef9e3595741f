"""Browser tests: Debian's Chromium driven by Playwright (never `playwright install`), against
a real `darkroom serve`. A failing test leaves a screenshot of each page it had open in
test-artifacts/ (or $DARKROOM_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server import Server

CHROMIUM = os.environ.get("DARKROOM_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("DARKROOM_TEST_ARTIFACTS", "test-artifacts"))


def serving_the_cast(server: Server) -> Iterator[Server]:
    """The UI tests' people on `server` (an admin, alice and bob), served with one worker until
    the fixture that yields from this ends."""
    server.create_key("admin", "ops", admin=True)
    server.create_key("alice", "alice")
    server.create_key("bob", "bob")
    server.start(workers=1)
    yield server
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[FAILED] = report.failed


FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Pages:
    """Browser pages of one test, each recording its console errors and failed requests."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.opened: list[Any] = []
        self.errors: list[str] = []

    def new(self) -> Any:
        """A page in a context of its own: its own cookies, so each is its own person."""
        context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"console {m.type}: {m.text} ({page.url})")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e} ({page.url})"))
        self.opened.append(page)
        return page

    def screenshots(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for index, page in enumerate(self.opened):
            if not page.is_closed():
                page.screenshot(path=str(ARTIFACTS / f"{name}-{index}.png"), full_page=True)


@pytest.fixture
def pages(browser: Any, request: pytest.FixtureRequest) -> Iterator[Pages]:
    opened = Pages(browser)
    yield opened
    if request.node.stash.get(FAILED, False):
        opened.screenshots(re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name))
    for page in opened.opened:
        page.context.close()
