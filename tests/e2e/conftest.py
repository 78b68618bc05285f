"""Headless Chromium (Debian's, through Playwright) against a real server process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import CHROMIUM_ARGUMENTS, DESKTOP, chromium_path
from tests.processes import TEST_SECRET, ServerProcess
from tests.services import skip_or_fail

try:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None


# Module scope, not session: while Playwright's sync API runs, its event loop counts as the
# thread's running loop, which would break the async tests and asyncio.run() in the modules
# collected after these.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if sync_playwright is None:
        skip_or_fail("Playwright for Python is not installed (pip install -e '.[dev]')")
    if chromium_path() is None:
        skip_or_fail("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=chromium_path(), args=CHROMIUM_ARGUMENTS, headless=True
    )
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/screenshots when E2E_SCREENSHOT_DIR says so (make screenshots), else a temp dir."""
    configured = os.environ.get("E2E_SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def server_environment(data_dir: Path, **overrides: str) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{data_dir / 'e2e.db'}",
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": TEST_SECRET,
        **overrides,
    }


# One server for every module that needs no special settings: starting one costs seconds on
# a loaded machine. Tests register users of their own names, so they do not meet.
@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("e2e-server")
    with ServerProcess(server_environment(data_dir), cwd=data_dir) as process:
        yield process


class BrowserProblems:
    """Uncaught page errors and CSP violations seen while a test ran: each one is a bug."""

    def __init__(self) -> None:
        self.page_errors: list[str] = []
        self.csp_violations: list[str] = []

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)


def open_context(browser: Browser, base_url: str, **options: Any) -> BrowserContext:
    context = browser.new_context(
        base_url=base_url,
        viewport=options.pop("viewport", DESKTOP),
        reduced_motion="reduce",
        **options,
    )
    context.set_default_timeout(15_000)
    return context


@contextmanager
def watched_page(
    browser: Browser, base_url: str, problems: BrowserProblems | None = None, **options: Any
) -> Iterator[Page]:
    """A page in a context of its own (another person, another device), failing on any
    uncaught page error or CSP violation it saw."""
    context = open_context(browser, base_url, **options)
    problems = problems or BrowserProblems()
    opened = context.new_page()
    problems.watch(opened)
    yield opened
    context.close()
    assert problems.page_errors == [], problems.page_errors
    assert problems.csp_violations == [], problems.csp_violations


@pytest.fixture
def problems() -> BrowserProblems:
    return BrowserProblems()


@pytest.fixture
def page(browser: Browser, server: ServerProcess, problems: BrowserProblems) -> Iterator[Page]:
    with watched_page(browser, server.url, problems) as opened:
        yield opened
