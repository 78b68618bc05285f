"""Sessions end cleanly: on the token's expiry time, and when the API answers 401."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import BrowserProblems, open_context, server_environment
from tests.e2e.flows import register_in_browser, revoke_refresh_token
from tests.processes import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TOKEN_TTL_SECONDS = 3
SESSION_KEY = "movie-collections.session"


@pytest.fixture(scope="module")
def short_lived_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("e2e-short-tokens")
    environment = server_environment(data_dir, ACCESS_TOKEN_TTL=f"PT{TOKEN_TTL_SECONDS}S")
    with ServerProcess(environment, cwd=data_dir) as process:
        yield process


@pytest.fixture
def short_page(browser: Browser, short_lived_server: ServerProcess) -> Iterator[Page]:
    context = open_context(browser, short_lived_server.url)
    problems = BrowserProblems()
    page = context.new_page()
    problems.watch(page)
    yield page
    context.close()
    assert problems.page_errors == []
    assert problems.csp_violations == []


def test_logged_out_when_the_token_expires(
    short_page: Page, short_lived_server: ServerProcess
) -> None:
    register_in_browser(short_page, "brief_visitor")
    expect(short_page.get_by_role("button", name="Log out")).to_be_visible()
    revoke_refresh_token(short_page, short_lived_server.url)

    # Nothing is clicked: the client knows expires_in and ends the session on time.
    expect(short_page.get_by_role("heading", level=1, name="Log in")).to_be_visible(
        timeout=(TOKEN_TTL_SECONDS + 5) * 1000
    )
    expect(short_page.get_by_text("Your session has expired. Please log in again.")).to_be_visible()
    expect(short_page.get_by_role("button", name="Log out")).to_be_hidden()
    assert short_page.evaluate(f"() => sessionStorage.getItem('{SESSION_KEY}')") is None


def test_a_401_from_the_api_drops_the_token_and_shows_login(
    short_page: Page, short_lived_server: ServerProcess
) -> None:
    register_in_browser(short_page, "clock_skewed")
    revoke_refresh_token(short_page, short_lived_server.url)
    # Pretend the client's clock thinks the token is still good, so only the API can tell.
    short_page.evaluate(
        f"""() => {{
            const stored = JSON.parse(sessionStorage.getItem('{SESSION_KEY}'));
            stored.expiresAt = Date.now() + 3600 * 1000;
            sessionStorage.setItem('{SESSION_KEY}', JSON.stringify(stored));
        }}"""
    )
    short_page.reload()
    expect(short_page.get_by_role("heading", level=1, name="Catalogue")).to_be_visible()
    wait_until_the_api_refuses(short_page, short_lived_server.url)

    short_page.get_by_role("link", name="Request count").click()
    expect(short_page.get_by_role("heading", level=1, name="Log in")).to_be_visible()
    expect(short_page.get_by_text("Your session has expired. Please log in again.")).to_be_visible()
    assert short_page.evaluate(f"() => sessionStorage.getItem('{SESSION_KEY}')") is None


def test_log_out_button(page: Page, screenshot_dir: Path) -> None:
    register_in_browser(page, "leaves_soon")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1, name="Log in")).to_be_visible()
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    assert page.evaluate(f"() => sessionStorage.getItem('{SESSION_KEY}')") is None
    # The protected views are out of reach without a token.
    page.goto("/#/collections")
    expect(page.get_by_role("heading", level=1, name="Log in")).to_be_visible()


def wait_until_the_api_refuses(page: Page, base_url: str, timeout: float = 20) -> None:
    """Until the tab's access token gets 401 (expiry plus whatever leeway the server allows)."""
    wait_until_the_api_refuses_token(base_url, stored_token(page), timeout)


def stored_token(page: Page) -> str:
    token: str = page.evaluate(f"() => JSON.parse(sessionStorage.getItem('{SESSION_KEY}')).token")
    return token


def test_the_session_is_renewed_silently_when_the_token_runs_out(
    short_page: Page, short_lived_server: ServerProcess
) -> None:
    """With a refresh token the client renews on the expiry time: nothing to click, no login."""
    register_in_browser(short_page, "stays_a_while")
    first = stored_token(short_page)
    wait_for_a_new_token(short_page, first, TOKEN_TTL_SECONDS + 10)
    wait_until_the_api_refuses_token(short_lived_server.url, first)
    short_page.get_by_role("link", name="Request count").click()
    expect(short_page.get_by_role("heading", level=1, name="Request count")).to_be_visible()
    expect(short_page.get_by_role("button", name="Log out")).to_be_visible()


def test_a_401_is_answered_by_renewing_and_retrying_once(
    short_page: Page, short_lived_server: ServerProcess
) -> None:
    """When only the API can tell the token ran out, the request is renewed and sent again."""
    register_in_browser(short_page, "skewed_but_renewed")
    # The client's clock thinks the token is good for an hour, so no timer renews it.
    short_page.evaluate(
        f"""() => {{
            const stored = JSON.parse(sessionStorage.getItem('{SESSION_KEY}'));
            stored.expiresAt = Date.now() + 3600 * 1000;
            sessionStorage.setItem('{SESSION_KEY}', JSON.stringify(stored));
        }}"""
    )
    short_page.reload()
    expect(short_page.get_by_role("heading", level=1, name="Catalogue")).to_be_visible()
    first = stored_token(short_page)
    wait_until_the_api_refuses_token(short_lived_server.url, first)

    short_page.get_by_role("link", name="Request count").click()
    # The view's request got 401, renewed the token and was sent again: the session goes on.
    wait_for_a_new_token(short_page, first, TOKEN_TTL_SECONDS + 10)
    expect(short_page.get_by_role("heading", level=1, name="Request count")).to_be_visible()
    expect(short_page.get_by_role("button", name="Log out")).to_be_visible()


def wait_for_a_new_token(page: Page, old: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while stored_token(page) == old:
        assert time.monotonic() < deadline, "the access token was never renewed"
        time.sleep(0.25)


def wait_until_the_api_refuses_token(base_url: str, token: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = httpx.get(
            f"{base_url}/collection/", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        if answer.status_code == 401:
            return
        time.sleep(0.5)
    raise AssertionError(f"the access token was still accepted after {timeout} s")
