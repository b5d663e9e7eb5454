"""The web console in a real browser: Debian's Chromium driven by Playwright, pages at 1366×768, every console
error and uncaught page error collected, screenshots written as test artifacts.

Playwright never downloads a browser here: it launches /usr/bin/chromium (tools/bootstrap.sh --test installs
it, with a CJK font so Chinese renders) with the flags a closed network needs.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, expect, sync_playwright

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "ConsolePage",
    "build_console",
    "chromium",
]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Screenshots land here (CONVOY_TEST_ARTIFACTS overrides); the folder is ignored by git.
ARTIFACTS = Path(os.environ.get("CONVOY_TEST_ARTIFACTS", REPO / "test-artifacts")) / "console"
VIEWPORT = {"width": 1366, "height": 768}
# Without the background-networking flags Chromium keeps dialing Google's hosts, which a closed network
# refuses; --no-sandbox because the tests run as root in CI.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
BUILD_TIMEOUT = 600


def build_console() -> Path:
    """frontend/dist, built now when it is older than its sources (tools/console.sh decides)."""
    subprocess.run([str(REPO / "tools" / "console.sh"), "build"], check=True, timeout=BUILD_TIMEOUT)
    dist = REPO / "frontend" / "dist"
    assert (dist / "index.html").is_file(), "tools/console.sh build left no frontend/dist/index.html"
    return dist


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: run tools/bootstrap.sh --test"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class ConsolePage:
    """One browser context (its own storage: a user, a language) and its page on the console at `url`."""

    context: BrowserContext
    page: Page
    url: str
    errors: list[str] = field(default_factory=list)
    # Responses the test provokes on purpose ("409 /api/v1/packages/…"): their console lines are expected.
    expected_statuses: set[int] = field(default_factory=set)

    @classmethod
    @contextlib.contextmanager
    def open(cls, browser: Browser, url: str, *, locale: str = "zh-CN") -> Iterator[ConsolePage]:
        context = browser.new_context(viewport=VIEWPORT, locale=locale, timezone_id="Asia/Shanghai")
        context.set_default_timeout(20_000)
        page = context.new_page()
        console = cls(context, page, url)
        page.on("console", console._console)
        page.on("pageerror", console._page_error)
        if locale != "zh-CN":
            page.add_init_script(f"localStorage.setItem('convoy.locale', {locale!r})")
        try:
            yield console
        finally:
            context.close()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        status = re.search(r"status of (\d{3})", message.text)
        if status and int(status.group(1)) in self.expected_statuses:
            return
        self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def _page_error(self, error: Error) -> None:
        self.errors.append(f"page error: {error.message}")

    def goto(self, path: str) -> None:
        self.page.goto(self.url + path)

    def login(self, username: str, password: str) -> None:
        self.goto("/login")
        for name, value in (("login-username", username), ("login-password", password)):
            field = f"input[data-test={name}], [data-test={name}] input"
            self.page.locator(field).first.fill(value)
        self.page.locator("[data-test=login-submit]").click()
        self.page.wait_for_url(re.compile(r".*/overview$"))

    def screenshot(self, name: str) -> Path:
        """A full-page screenshot, once nothing on the page is loading any more, as <name>.png in ARTIFACTS.
        (Not "network idle": a page following a deployment keeps its event stream open.)"""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.settle()
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def settle(self) -> None:
        """Waits until the page shows no loading mask."""
        self.page.wait_for_load_state("load")
        expect(self.page.locator(".el-loading-mask:visible")).to_have_count(0)

    def assert_no_errors(self) -> None:
        assert not self.errors, "the console logged errors:\n" + "\n".join(self.errors)
