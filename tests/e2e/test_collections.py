"""Managing collections and the request counter in the browser, checked against the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.flows import (
    STRONG_PASSWORD,
    collections_by_api,
    create_collection_by_api,
    log_in_in_browser,
    open_collections,
    register_by_api,
    register_in_browser,
    screenshot,
    toast,
    wait_until_idle,
)
from tests.processes import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def seeded_movies() -> list[dict[str, str]]:
    return [
        {
            "title": "The Long Goodbye",
            "description": "A private eye helps a friend and is drawn into murder.",
            "genres": "Crime,Drama",
            "uuid": "5f0d6a9e-8e43-4c1e-9a52-0e5a0f1d2c01",
        },
        {
            "title": "Paddington 2",
            "description": "A bear is framed for theft.",
            "genres": "Comedy,Family",
            "uuid": "5f0d6a9e-8e43-4c1e-9a52-0e5a0f1d2c02",
        },
        {
            "title": "Heat",
            "description": "A thief and a detective.",
            "genres": "Crime,Thriller,Drama",
            "uuid": "5f0d6a9e-8e43-4c1e-9a52-0e5a0f1d2c03",
        },
    ]


def test_create_rename_describe_and_delete_a_collection(
    page: Page, server: ServerProcess, screenshot_dir: Path
) -> None:
    register_in_browser(page, "maya")
    open_collections(page)
    expect(page.get_by_text("You have no collections yet.")).to_be_visible()

    page.get_by_label("Collection title").fill("Weekend")
    page.get_by_label("Description").fill("Rainy days.")
    page.get_by_role("button", name="Create empty collection").click()
    expect(page.get_by_role("heading", level=1, name="Weekend")).to_be_visible()
    expect(toast(page)).to_contain_text("Collection created.")

    details = page.get_by_role("form", name="Collection details")
    details.get_by_label("Title").fill("Weekend classics")
    details.get_by_label("Description").fill("Films for a rainy weekend.")
    details.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1, name="Weekend classics")).to_be_visible()
    expect(toast(page)).to_contain_text("Changes saved.")

    headers = {"Authorization": f"Bearer {session_token(page)}"}
    (stored,) = collections_by_api(server.url, headers)["collections"]
    assert stored["title"] == "Weekend classics"
    assert stored["description"] == "Films for a rainy weekend."

    page.get_by_role("button", name="Delete collection").click()
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page.get_by_role("heading", level=1, name="My collections")).to_be_visible()
    expect(page.get_by_text("You have no collections yet.")).to_be_visible()
    assert collections_by_api(server.url, headers)["collections"] == []


def test_favourite_genres_and_removing_a_movie(
    page: Page, server: ServerProcess, screenshot_dir: Path
) -> None:
    headers = register_by_api(server.url, "sam")
    create_collection_by_api(server.url, headers, "Crime nights", seeded_movies())
    log_in_in_browser(page, "sam")
    open_collections(page)

    favourites = page.locator(".favourite-genres li")
    expect(favourites).to_have_text(["Crime", "Drama", "Comedy"])
    screenshot(page, screenshot_dir, "collections")
    assert collections_by_api(server.url, headers)["favourite_genres"] == "Crime,Drama,Comedy"

    page.get_by_role("link", name="Crime nights").click()
    expect(page.get_by_role("heading", name="Movies (3)")).to_be_visible()
    page.get_by_role("button", name="Remove Paddington 2").click()
    expect(page.get_by_role("heading", name="Movies (2)")).to_be_visible()
    titles = page.locator(".collection-movies .movie-title")
    expect(titles).to_have_text(["The Long Goodbye", "Heat"])
    # Focus returns to the list after it is redrawn, so keyboard users keep their place.
    expect(page.get_by_role("heading", name="Movies (2)")).to_be_focused()

    open_collections(page)
    expect(favourites).to_have_text(["Crime", "Drama", "Thriller"])


def test_request_count_shown_and_reset(
    page: Page, server: ServerProcess, screenshot_dir: Path
) -> None:
    register_in_browser(page, "counter_user")
    page.get_by_role("link", name="Request count").click()
    count = page.get_by_label("Requests served")
    expect(count).to_have_text(re.compile(r"^[\d,]+$"))
    before = int(count.inner_text().replace(",", ""))
    assert before > 1

    page.get_by_role("button", name="Refresh").click()
    expect(count).not_to_have_text(f"{before:,}")
    assert int(count.inner_text().replace(",", "")) > before

    # Resetting asks first; Cancel leaves the count alone and focus where it was.
    page.get_by_role("button", name="Reset count").click()
    expect(page.get_by_text("Reset the request count to zero for everyone?")).to_be_visible()
    expect(page.get_by_role("button", name="Yes, reset it")).to_be_focused()
    screenshot(page, screenshot_dir, "request-count-confirm")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name="Reset count")).to_be_focused()
    shown = int(count.inner_text().replace(",", ""))
    page.get_by_role("button", name="Refresh").click()
    expect(count).not_to_have_text(f"{shown:,}")
    assert int(count.inner_text().replace(",", "")) > shown

    page.get_by_role("button", name="Reset count").click()
    page.get_by_role("button", name="Yes, reset it").click()
    expect(toast(page)).to_contain_text("Request count reset successfully.")
    # The reset, then the read that includes itself: a count that starts again from zero.
    expect(count).to_have_text(re.compile(r"^[12]$"))
    expect(page.get_by_role("button", name="Reset count")).to_be_focused()
    screenshot(page, screenshot_dir, "request-count", keep_toast=True)


def test_toasts_stay_with_the_view_that_raised_them(
    page: Page, server: ServerProcess, screenshot_dir: Path
) -> None:
    headers = register_by_api(server.url, "toast_tam", STRONG_PASSWORD)
    collection = create_collection_by_api(server.url, headers, "Evenings", seeded_movies())
    log_in_in_browser(page, "toast_tam", STRONG_PASSWORD)
    expect(toast(page)).to_have_text("Logged in as toast_tam.")
    page.goto(f"/#/collections/{collection}")
    expect(page.get_by_role("heading", level=1, name="Evenings")).to_be_visible()
    # The login's toast stayed on the catalogue.
    expect(toast(page)).to_have_text("")

    details = page.get_by_role("form", name="Collection details")
    details.get_by_role("button", name="Save changes").click()
    expect(toast(page)).to_have_text("Changes saved.")
    screenshot(page, screenshot_dir, "toast-on-its-view", keep_toast=True)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Request count").click()
    expect(page.get_by_role("heading", level=1, name="Request count")).to_be_visible()
    expect(toast(page)).to_have_text("")
    expect(toast(page)).not_to_have_class(re.compile("visible"))

    # A save that answers after the user has moved on confirms nothing on the new view.
    held: list[Route] = []
    page.route(
        re.compile(rf"/collection/{collection}/$"),
        lambda route: held.append(route) if route.request.method == "PUT" else route.continue_(),
    )
    page.go_back()
    details.get_by_label("Title").fill("Late evenings")
    details.get_by_role("button", name="Save changes").click()
    wait_for_held(page, held)
    open_collections(page)
    with page.expect_response(lambda response: response.request.method == "PUT"):
        held[0].continue_()
    wait_until_idle(page)
    page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 0))")
    expect(toast(page)).to_have_text("")
    assert collections_by_api(server.url, headers)["collections"][0]["title"] == "Late evenings"


def test_an_error_from_the_api_is_shown_from_its_detail(page: Page, server: ServerProcess) -> None:
    register_by_api(server.url, "taken_name")
    page.goto("/#/register")
    page.get_by_label("Username").fill("taken_name")
    page.get_by_label("Password").fill("another password")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_contain_text("taken")
    page.goto("/#/login")
    page.get_by_label("Username").fill("taken_name")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid username or password.")


def wait_for_held(page: Page, held: list[Route]) -> None:
    """Let the page run until the route handler has caught the request."""
    for _ in range(500):
        if held:
            return
        page.wait_for_timeout(20)
    raise AssertionError("the request was never sent")


def test_a_weak_password_is_refused_with_the_reason(page: Page, server: ServerProcess) -> None:
    page.goto("/#/register")
    page.get_by_label("Username").fill("weak_password_user")
    page.get_by_label("Password").fill("12345678")
    page.get_by_role("button", name="Create account").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("This password is too easy to guess.")
    expect(alert).to_contain_text("common password")


def session_token(page: Page) -> str:
    token = page.evaluate(
        "() => JSON.parse(sessionStorage.getItem('movie-collections.session')).token"
    )
    assert isinstance(token, str)
    return token
