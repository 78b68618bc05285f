"""Steps a person takes in the web client, shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

PASSWORD = "correct horse battery"
# Strong enough for any password policy.
STRONG_PASSWORD = "Correct-horse-7f3c9a"


def register_in_browser(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/#/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1, name="Catalogue")).to_be_visible()


def log_in_in_browser(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/#/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1, name="Catalogue")).to_be_visible()


def register_by_api(base_url: str, username: str, password: str = PASSWORD) -> dict[str, str]:
    answer = httpx.post(
        f"{base_url}/register/", json={"username": username, "password": password}, timeout=10
    )
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def create_collection_by_api(
    base_url: str, headers: dict[str, str], title: str, movies: list[dict[str, Any]]
) -> str:
    answer = httpx.post(
        f"{base_url}/collection/",
        json={"title": title, "description": "", "movies": movies},
        headers=headers,
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["collection_uuid"])


def collections_by_api(base_url: str, headers: dict[str, str]) -> dict[str, Any]:
    answer = httpx.get(f"{base_url}/collection/", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def open_collections(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My collections").click()
    expect(page.get_by_role("heading", level=1, name="My collections")).to_be_visible()


def wait_until_idle(page: Page) -> None:
    """No request under way: the progress bar is hidden again."""
    expect(page.locator("#progress")).to_be_hidden()


def screenshot(
    page: Page, directory: Path, name: str, *, full_page: bool = False, keep_toast: bool = False
) -> Path:
    wait_until_idle(page)
    page.evaluate("() => window.scrollTo(0, 0)")
    if not keep_toast:
        page.evaluate("() => document.getElementById('toast').classList.remove('visible')")
    # Let transitions settle so the picture shows the resting state.
    page.wait_for_timeout(250)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def toast(page: Page) -> Locator:
    """The polite status message that confirms an action."""
    return page.locator("#toast")


def revoke_refresh_token(page: Page, base_url: str) -> None:
    """Where the service issues refresh tokens, revoke this tab's one (POST /logout/), so that
    the session cannot be renewed and really ends when the access token expires."""
    refresh_token = page.evaluate(
        "() => JSON.parse(sessionStorage.getItem('movie-collections.session')).refreshToken"
    )
    if refresh_token:
        answer = httpx.post(
            f"{base_url}/logout/", json={"refresh_token": refresh_token}, timeout=10
        )
        assert answer.is_success, answer.text


def session_headers(page: Page) -> dict[str, str]:
    """The bearer header of the session signed in in this tab."""
    token = page.evaluate(
        "() => JSON.parse(sessionStorage.getItem('movie-collections.session')).token"
    )
    return {"Authorization": f"Bearer {token}"}
