"""Keyboard use, visible focus, labels, contrast and a phone-sized screen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import (
    CONTRAST_FAILURES_JS,
    FOCUS_STYLE_JS,
    PHONE,
    UNLABELLED_CONTROLS_JS,
)
from tests.e2e.conftest import BrowserProblems, open_context
from tests.e2e.flows import (
    create_collection_by_api,
    log_in_in_browser,
    open_collections,
    register_by_api,
    screenshot,
    wait_until_idle,
)
from tests.processes import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

MOVIES = [
    {
        "title": f"Film number {index}",
        "description": "A long description of a film, " * 12,
        "genres": "Drama,Comedy" if index % 2 else "Documentary",
        "uuid": f"7c1e2a90-0000-4000-8000-00000000000{index}",
    }
    for index in range(1, 5)
]


def assert_accessible_basics(page: Page, where: str) -> None:
    wait_until_idle(page)
    unlabelled = page.evaluate(UNLABELLED_CONTROLS_JS)
    assert unlabelled == [], f"{where}: controls without a label: {unlabelled}"
    low_contrast = page.evaluate(CONTRAST_FAILURES_JS)
    assert low_contrast == [], f"{where}: text under WCAG AA contrast: {low_contrast}"


def focused(page: Page) -> dict[str, Any]:
    style: dict[str, Any] = page.evaluate(FOCUS_STYLE_JS)
    return style


def assert_focus_visible(page: Page) -> None:
    style = focused(page)
    assert style["outlineStyle"] != "none", style
    assert style["outlineWidth"] >= 2, style


def test_register_and_create_a_collection_with_the_keyboard_only(
    page: Page, server: ServerProcess, screenshot_dir: Path
) -> None:
    page.goto("/#/register")
    expect(page.get_by_role("heading", level=1, name="Create your account")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Username")).to_be_focused()
    assert_focus_visible(page)
    page.keyboard.type("keyboard_kim")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Create account")).to_be_focused()
    assert_focus_visible(page)
    screenshot(page, screenshot_dir, "register-keyboard-focus")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Catalogue")).to_be_focused()

    # The skip link is the first stop and jumps over the navigation.
    page.keyboard.press("Shift+Tab")
    for _ in range(10):
        if focused(page)["text"] == "Skip to content":
            break
        page.keyboard.press("Shift+Tab")
    assert focused(page)["text"] == "Skip to content"
    assert_focus_visible(page)

    page.goto("/#/collections")
    expect(page.get_by_role("heading", level=1, name="My collections")).to_be_focused()
    # The form is tabbed to once the view has rendered it (the list loads meanwhile).
    expect(page.get_by_label("Collection title")).to_be_visible()
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.name") == "title":
            break
    expect(page.get_by_label("Collection title")).to_be_focused()
    page.keyboard.type("Typed, not clicked")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Create empty collection")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Typed, not clicked")).to_be_focused()


def test_labels_and_contrast_on_every_view(
    page: Page, server: ServerProcess, screenshot_dir: Path
) -> None:
    page.goto("/#/login")
    assert_accessible_basics(page, "login")
    screenshot(page, screenshot_dir, "login")
    page.goto("/#/register")
    assert_accessible_basics(page, "register")

    headers = register_by_api(server.url, "contrast_carla")
    create_collection_by_api(server.url, headers, "Sunday documentaries", MOVIES)
    log_in_in_browser(page, "contrast_carla")
    open_collections(page)
    assert_accessible_basics(page, "collections")
    page.get_by_role("link", name="Sunday documentaries").click()
    expect(page.get_by_role("heading", level=1, name="Sunday documentaries")).to_be_visible()
    assert_accessible_basics(page, "collection")
    page.get_by_role("button", name="Delete collection").click()
    assert_accessible_basics(page, "delete confirmation")
    page.get_by_role("link", name="Request count").click()
    expect(page.get_by_label("Requests served")).not_to_have_text("…")
    assert_accessible_basics(page, "request count")

    # The checks themselves can fail: pale text and a bare input are both reported.
    page.evaluate(
        """() => document.querySelector('main').append(
            Object.assign(document.createElement('p'), {textContent: 'pale', style: 'color:#aaa'}),
            document.createElement('input'))"""
    )
    assert [item["text"] for item in page.evaluate(CONTRAST_FAILURES_JS)] == ["pale"]
    assert len(page.evaluate(UNLABELLED_CONTROLS_JS)) == 1


@pytest.fixture
def phone_page(browser: Browser, server: ServerProcess) -> Iterator[Page]:
    context = open_context(
        browser, server.url, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=1
    )
    problems = BrowserProblems()
    page = context.new_page()
    problems.watch(page)
    yield page
    context.close()
    assert problems.page_errors == []
    assert problems.csp_violations == []


def assert_fits_the_screen(page: Page, where: str) -> None:
    wait_until_idle(page)
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"{where}: page scrolls sideways ({widths[0]} > {widths[1]})"


def test_works_on_a_phone_sized_screen(
    phone_page: Page, server: ServerProcess, screenshot_dir: Path
) -> None:
    page = phone_page
    headers = register_by_api(server.url, "phone_pat")
    create_collection_by_api(server.url, headers, "On the train", MOVIES)
    page.goto("/#/login")
    assert_fits_the_screen(page, "login")
    log_in_in_browser(page, "phone_pat")
    open_collections(page)
    assert_fits_the_screen(page, "collections")
    page.get_by_role("link", name="On the train").click()
    expect(page.get_by_role("heading", name="Movies (4)")).to_be_visible()
    assert_fits_the_screen(page, "collection")
    screenshot(page, screenshot_dir, "phone-collection")
    page.get_by_role("link", name="Request count").click()
    expect(page.get_by_label("Requests served")).not_to_have_text("…")
    assert_fits_the_screen(page, "request count")
    # Controls stay big enough to tap.
    box = page.get_by_role("button", name="Reset count").bounding_box()
    assert box is not None
    assert box["height"] >= 40
