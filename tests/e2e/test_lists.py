"""My collections as lists: paging, sorting and search; notes and order; sharing; export and
import. Each journey in the browser, checked against the API."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import watched_page
from tests.e2e.flows import (
    STRONG_PASSWORD,
    collections_by_api,
    create_collection_by_api,
    log_in_in_browser,
    open_collections,
    register_by_api,
    screenshot,
    toast,
    wait_until_idle,
)
from tests.e2e.test_accessibility import assert_accessible_basics
from tests.e2e.test_collections import seeded_movies
from tests.processes import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# Created in this order; thirteen make two pages of ten.
TITLES = [
    "Westerns",
    "film noir, early",
    "Musicals",
    "Animated",
    "Film noir, late",
    "Documentaries",
    "Horror",
    "Comedies",
    "Silent era",
    "Science fiction",
    "Thrillers",
    "Bollywood",
    "Kurosawa",
]


def showing(first: int, last: int, total: int) -> str:
    """The result line of My collections when they take more than one page."""
    return f"Showing {first}\N{EN DASH}{last} of {total} collections."


def list_titles(page: Page) -> list[str]:
    return page.locator(".collection-list .collection-title").all_inner_texts()


def summary(page: Page) -> Any:
    return expect(page.locator(".collections-summary"))


def detail_by_api(base_url: str, headers: dict[str, str], collection: str) -> dict[str, Any]:
    answer = httpx.get(f"{base_url}/collection/{collection}/", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    detail: dict[str, Any] = answer.json()
    return detail


def test_paging_sorting_and_searching_my_collections(
    page: Page, server: ServerProcess, screenshot_dir: Path
) -> None:
    headers = register_by_api(server.url, "paging_pat", STRONG_PASSWORD)
    for title in TITLES:
        create_collection_by_api(server.url, headers, title, [])
    log_in_in_browser(page, "paging_pat", STRONG_PASSWORD)
    open_collections(page)

    # Newest first, ten a page; Next and Previous follow the cursors.
    newest = TITLES[::-1]
    summary(page).to_have_text(showing(1, 10, 13))
    assert list_titles(page) == newest[:10]
    pages = page.get_by_role("navigation", name="Collection pages")
    expect(pages.locator("[rel=prev]")).to_have_count(0)
    pages.get_by_role("link", name="Next →").click()
    summary(page).to_have_text(showing(11, 13, 13))
    assert list_titles(page) == newest[10:]
    expect(pages.locator("[rel=next]")).to_have_count(0)
    pages.get_by_role("link", name="← Previous").click()
    summary(page).to_have_text(showing(1, 10, 13))
    assert list_titles(page) == newest[:10]

    # Sorting by title starts again on page one and keeps focus on the choice.
    page.get_by_label("Sort by").select_option(label="Title, A to Z")
    by_title = sorted(TITLES, key=str.casefold)
    summary(page).to_have_text(showing(1, 10, 13))
    expect(page.locator(".collection-list .collection-title").first).to_have_text(by_title[0])
    assert list_titles(page) == by_title[:10]
    expect(page.get_by_label("Sort by")).to_be_focused()
    pages.get_by_role("link", name="Next →").click()
    summary(page).to_have_text(showing(11, 13, 13))
    assert list_titles(page) == by_title[10:]
    expect(page.get_by_label("Sort by")).to_have_value("title")

    # Searching is case-insensitive, in the chosen order; Enter submits.
    page.get_by_label("Search titles").fill("NOIR")
    page.get_by_label("Search titles").press("Enter")
    summary(page).to_have_text("2 collections matching “NOIR”.")
    assert list_titles(page) == ["film noir, early", "Film noir, late"]
    expect(page.locator(".collections-summary")).to_be_focused()
    screenshot(page, screenshot_dir, "collections-search")
    assert_accessible_basics(page, "collections, searched")
    page.get_by_label("Search titles").fill("zzz")
    page.get_by_role("button", name="Search").click()
    summary(page).to_have_text("No collections match “zzz”.")
    expect(page.locator(".collection-list")).to_have_count(0)
    # The favourite genres still cover every collection (none have movies here).
    expect(page.get_by_text("Add movies to your collections to see")).to_be_visible()

    # An edited cursor is refused by the service; the way out is page one.
    page.goto("/#/collections?sort=title&page=2&cursor=forged")
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_role("alert").get_by_role("link", name="Go to the first page").click()
    summary(page).to_have_text(showing(1, 10, 13))
    assert list_titles(page) == by_title[:10]


def test_notes_and_moving_movies_up_and_down_with_the_keyboard(
    page: Page, server: ServerProcess, screenshot_dir: Path
) -> None:
    headers = register_by_api(server.url, "noting_nia", STRONG_PASSWORD)
    collection = create_collection_by_api(server.url, headers, "Crime nights", seeded_movies())
    log_in_in_browser(page, "noting_nia", STRONG_PASSWORD)
    page.goto(f"/#/collections/{collection}")
    titles = page.locator(".collection-movies .movie-title")
    expect(titles).to_have_text(["The Long Goodbye", "Paddington 2", "Heat"])

    def order_by_api() -> list[str]:
        return [m["title"] for m in detail_by_api(server.url, headers, collection)["movies"]]

    # Move Heat to the top with the keyboard: focus stays on its button as it climbs.
    up = page.get_by_role("button", name="Move Heat up")
    up.focus()
    page.keyboard.press("Enter")
    expect(titles).to_have_text(["The Long Goodbye", "Heat", "Paddington 2"])
    expect(toast(page)).to_have_text("Heat moved to position 2 of 3.")
    expect(up).to_be_focused()
    page.keyboard.press("Enter")
    expect(titles).to_have_text(["Heat", "The Long Goodbye", "Paddington 2"])
    expect(up).to_be_focused()
    expect(up).to_have_attribute("aria-disabled", "true")
    assert order_by_api() == ["Heat", "The Long Goodbye", "Paddington 2"]
    page.keyboard.press("Enter")  # already first: nothing is sent, nothing moves
    wait_until_idle(page)
    assert order_by_api() == ["Heat", "The Long Goodbye", "Paddington 2"]
    page.get_by_role("button", name="Move The Long Goodbye down").click()
    expect(titles).to_have_text(["Heat", "Paddington 2", "The Long Goodbye"])

    # A note: typed, saved, shown, in the API's answer; focus back on its button.
    page.get_by_role("button", name="Add a note to Paddington 2").click()
    note = page.get_by_label("Note on Paddington 2", exact=True)
    expect(note).to_be_focused()
    page.keyboard.type("Watch this one first.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Save note")).to_be_focused()
    page.keyboard.press("Enter")
    expect(toast(page)).to_have_text("Note saved.")
    row = page.locator(".collection-movies li").nth(1)
    expect(row.locator(".movie-note")).to_have_text("Watch this one first.")
    edit = page.get_by_role("button", name="Edit the note on Paddington 2")
    expect(edit).to_be_focused()
    movies = detail_by_api(server.url, headers, collection)["movies"]
    assert [m.get("note") for m in movies] == [None, "Watch this one first.", None]
    screenshot(page, screenshot_dir, "collection-notes")
    assert_accessible_basics(page, "collection with a note")

    # Escape closes the editor unchanged; an empty note removes it.
    edit.click()
    page.keyboard.press("Escape")
    expect(page.get_by_label("Note on Paddington 2", exact=True)).to_have_count(0)
    expect(edit).to_be_focused()
    edit.click()
    page.get_by_label("Note on Paddington 2", exact=True).fill("")
    page.get_by_role("button", name="Save note").click()
    expect(toast(page)).to_have_text("Note removed.")
    expect(page.locator(".movie-note")).to_have_count(0)
    assert all("note" not in m for m in detail_by_api(server.url, headers, collection)["movies"])


def test_sharing_a_collection_and_saving_a_copy(
    page: Page, browser: Browser, server: ServerProcess, screenshot_dir: Path
) -> None:
    owner = register_by_api(server.url, "sharing_sol", STRONG_PASSWORD)
    collection = create_collection_by_api(server.url, owner, "Noir essentials", seeded_movies())
    noted = seeded_movies()[2]["uuid"]
    answer = httpx.patch(
        f"{server.url}/collection/{collection}/movies/{noted}/",
        json={"note": "The director's cut."},
        headers=owner,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    reader = register_by_api(server.url, "reading_rui", STRONG_PASSWORD)

    log_in_in_browser(page, "sharing_sol", STRONG_PASSWORD)
    page.goto(f"/#/collections/{collection}")
    share = page.get_by_role("region", name="Share")
    expect(share).to_contain_text("Only you can see this collection.")
    share.get_by_role("button", name="Create share link").click()
    link_field = share.get_by_label("Share link")
    expect(link_field).to_be_focused()
    expect(link_field).to_have_value(re.compile(r"/#/shared/[A-Za-z0-9_-]{20,}$"))
    link = link_field.input_value()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    share.get_by_role("button", name="Copy link").click()
    expect(toast(page)).to_have_text("Link copied.")
    assert page.evaluate("() => navigator.clipboard.readText()") == link
    screenshot(page, screenshot_dir, "share-link", full_page=True)

    # The reader opens the link signed out, logs in, and lands on the shared collection.
    with watched_page(browser, server.url) as other:
        other.goto(link)
        expect(other.get_by_role("heading", level=1, name="Log in")).to_be_visible()
        other.get_by_label("Username").fill("reading_rui")
        other.get_by_label("Password").fill(STRONG_PASSWORD)
        other.get_by_role("button", name="Log in").click()
        expect(other.get_by_role("heading", level=1, name="Noir essentials")).to_be_visible()
        expect(other.get_by_text("Shared by sharing_sol · read-only")).to_be_visible()
        shared_titles = other.locator(".collection-movies .movie-title")
        expect(shared_titles).to_have_text([movie["title"] for movie in seeded_movies()])
        expect(other.locator(".movie-note")).to_have_text(["The director's cut."])
        # Read-only: nothing to change, remove or share here.
        expect(
            other.get_by_role("button", name=re.compile("Remove|Move|note|Delete|Share"))
        ).to_have_count(0)
        screenshot(other, screenshot_dir, "shared-view")
        assert_accessible_basics(other, "shared view")

        other.get_by_role("button", name="Save a copy").click()
        expect(other.get_by_role("heading", level=1, name="Noir essentials")).to_be_visible()
        expect(toast(other)).to_have_text("Saved a copy of Noir essentials to your collections.")
        expect(other.get_by_role("form", name="Collection details")).to_be_visible()
        (copy,) = collections_by_api(server.url, reader)["collections"]
        assert copy["uuid"] != collection
        copied = detail_by_api(server.url, reader, copy["uuid"])["movies"]
        assert [movie["uuid"] for movie in copied] == [movie["uuid"] for movie in seeded_movies()]
        assert copied[2]["note"] == "The director's cut."

        # The owner stops sharing: the link stops working at once.
        share.get_by_role("button", name="Stop sharing").click()
        expect(share.get_by_role("button", name="Create share link")).to_be_focused()
        expect(toast(page)).to_have_text("Sharing stopped: the link no longer works.")
        other.goto(link)
        other.reload()
        expect(other.get_by_role("alert")).to_contain_text("This share link does not work")


def test_export_and_import(
    page: Page, server: ServerProcess, screenshot_dir: Path, tmp_path: Path
) -> None:
    first = register_by_api(server.url, "export_eve", STRONG_PASSWORD)
    create_collection_by_api(server.url, first, "Crime nights", seeded_movies())
    create_collection_by_api(server.url, first, "Empty for now", [])
    log_in_in_browser(page, "export_eve", STRONG_PASSWORD)
    open_collections(page)
    transfer = page.get_by_role("region", name="Export and import")

    with page.expect_download() as json_download:
        transfer.get_by_role("button", name="Download JSON").click()
    assert json_download.value.suggested_filename == "movie-collections.json"
    exported = json.loads(Path(json_download.value.path()).read_text())
    by_api = httpx.get(f"{server.url}/collection/export/?format=json", headers=first, timeout=10)
    assert {**exported, "exported_at": None} == {**by_api.json(), "exported_at": None}
    assert [c["title"] for c in exported["collections"]] == ["Crime nights", "Empty for now"]
    with page.expect_download() as csv_download:
        transfer.get_by_role("button", name="Download CSV").click()
    assert csv_download.value.suggested_filename == "movie-collections.csv"
    csv_by_api = httpx.get(f"{server.url}/collection/export/?format=csv", headers=first, timeout=10)
    assert Path(csv_download.value.path()).read_bytes() == csv_by_api.content

    # Another account imports the file; a file that is not an export changes nothing.
    page.get_by_role("button", name="Log out").click()
    second = register_by_api(server.url, "import_ian", STRONG_PASSWORD)
    log_in_in_browser(page, "import_ian", STRONG_PASSWORD)
    open_collections(page)
    not_json = tmp_path / "notes.json"
    not_json.write_text("not json")
    transfer.get_by_label("Collections file").set_input_files(not_json)
    transfer.get_by_role("button", name="Import").click()
    expect(transfer.get_by_role("alert")).to_have_text(
        "notes.json is not a JSON export: it does not parse as JSON."
    )
    bad = tmp_path / "bad.json"
    broken = json.loads(json.dumps(exported))
    broken["collections"][1]["title"] = ""
    bad.write_text(json.dumps(broken))
    transfer.get_by_label("Collections file").set_input_files(bad)
    transfer.get_by_role("button", name="Import").click()
    expect(transfer.get_by_role("alert")).to_contain_text("collections[1]")
    assert collections_by_api(server.url, second)["collections"] == []

    transfer.get_by_label("Collections file").set_input_files(json_download.value.path())
    screenshot(page, screenshot_dir, "export-import", full_page=True)
    transfer.get_by_role("button", name="Import").click()
    expect(toast(page)).to_have_text("2 collections imported.")
    expect(page.locator(".collection-list .collection-title")).to_have_text(
        ["Empty for now", "Crime nights"]
    )
    again = httpx.get(f"{server.url}/collection/export/?format=json", headers=second, timeout=10)
    ignored = ("uuid", "created_at", "updated_at")

    def without_ids(document: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {key: value for key, value in c.items() if key not in ignored}
            for c in document["collections"]
        ]

    assert without_ids(again.json()) == without_ids(exported)
