"""The whole journey through the catalogue and collections, and upstream failures recovered.

Real processes only: the service, and the stand-in upstream it calls for /movies/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import CONTRAST_FAILURES_JS, PHONE, UNLABELLED_CONTROLS_JS
from tests.e2e.conftest import server_environment, watched_page
from tests.e2e.flows import (
    STRONG_PASSWORD,
    collections_by_api,
    create_collection_by_api,
    log_in_in_browser,
    open_collections,
    register_by_api,
    register_in_browser,
    screenshot,
    session_headers,
    toast,
    wait_until_idle,
)
from tests.movies.upstream import (
    UPSTREAM_PASSWORD,
    UPSTREAM_USERNAME,
    MockUpstreamProcess,
)
from tests.processes import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

MOVIES = 95  # ten pages, the last one short
PAGES = 10
TALL_PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockUpstreamProcess]:
    process = MockUpstreamProcess(movies=MOVIES).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(autouse=True)
def healthy_upstream(upstream: MockUpstreamProcess) -> None:
    upstream.reset()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, upstream: MockUpstreamProcess
) -> Iterator[ServerProcess]:
    """Overrides the package's server: this one's /movies/ calls the stand-in upstream, and
    gives up quickly when told to fail, so that the failure is seen in seconds."""
    data_dir = tmp_path_factory.mktemp("e2e-catalogue")
    environment = server_environment(
        data_dir,
        MOVIES_API_URL=upstream.api_url,
        MOVIES_API_USERNAME=UPSTREAM_USERNAME,
        MOVIES_API_PASSWORD=UPSTREAM_PASSWORD,
        MOVIES_API_ATTEMPTS="2",
        MOVIES_API_BACKOFF_BASE="0.01",
        MOVIES_API_DEADLINE="5",
    )
    with ServerProcess(environment, cwd=data_dir) as process:
        yield process


def upstream_page(upstream: MockUpstreamProcess, page: int) -> list[dict[str, Any]]:
    answer = httpx.get(
        upstream.api_url,
        params={"page": page},
        auth=(UPSTREAM_USERNAME, UPSTREAM_PASSWORD),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    movies: list[dict[str, Any]] = answer.json()["data"]
    return movies


def card_titles(page: Page) -> list[str]:
    return page.locator(".movie-grid .movie-title").all_inner_texts()


def pick(page: Page, title: str) -> None:
    card = page.locator(".movie-grid .movie").filter(has=page.get_by_role("heading", name=title))
    button = card.get_by_role("button", name=f"Pick {title}")
    button.click()
    expect(card.get_by_role("button", name=f"Unpick {title}")).to_have_attribute(
        "aria-pressed", "true"
    )


def go_to_page(page: Page, label: str, number: int) -> None:
    page.get_by_role("navigation", name="Pages").first.get_by_role("link", name=label).click()
    expect(page.get_by_role("list", name=f"Movies, page {number}")).to_be_visible()


def movie_list_titles(page: Page) -> list[str]:
    return page.locator(".collection-movies .movie-title").all_inner_texts()


def test_the_whole_journey(
    page: Page, server: ServerProcess, upstream: MockUpstreamProcess, screenshot_dir: Path
) -> None:
    first_page, second_page, third_page = (upstream_page(upstream, n) for n in (1, 2, 3))

    # Register, land on the catalogue: page 1 of the upstream, with its count.
    register_in_browser(page, "maya")
    expect(page.get_by_role("list", name="Movies, page 1")).to_be_visible()
    assert card_titles(page) == [movie["title"] for movie in first_page]
    expect(page.locator(".page-info").first).to_have_text(f"Page 1 of {PAGES} · {MOVIES} movies")
    expect(page.get_by_role("navigation", name="Pages").first.locator("[rel=prev]")).to_have_count(
        0
    )

    # Pick two movies, page on, pick a third; picks survive paging.
    pick(page, first_page[0]["title"])
    pick(page, first_page[3]["title"])
    screenshot(page, screenshot_dir, "catalogue")
    go_to_page(page, "Next →", 2)
    assert card_titles(page) == [movie["title"] for movie in second_page]
    pick(page, second_page[1]["title"])
    expect(page.get_by_role("heading", name="Picked movies (3)")).to_be_visible()
    go_to_page(page, "← Previous", 1)
    grid = page.locator(".movie-grid")
    expect(grid.get_by_role("button", name=f"Unpick {first_page[0]['title']}")).to_be_visible()

    # Create a collection from the picks.
    picked_panel = page.get_by_role("complementary")
    picked_panel.get_by_label("Collection title").fill("Weekend picks")
    picked_panel.get_by_label("Description").fill("Chosen while browsing.")
    picked_panel.get_by_role("button", name="Create collection with 3 movies").click()
    expect(page.get_by_role("heading", level=1, name="Weekend picks")).to_be_visible()
    expect(toast(page)).to_have_text("Collection created.")
    chosen = [first_page[0], first_page[3], second_page[1]]
    assert movie_list_titles(page) == [movie["title"] for movie in chosen]

    # Rename it and edit its description.
    details = page.get_by_role("form", name="Collection details")
    details.get_by_label("Title").fill("Weekend favourites")
    details.get_by_label("Description").fill("Chosen while browsing, kept for Sunday.")
    details.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1, name="Weekend favourites")).to_be_visible()

    # Remove a movie.
    page.get_by_role("button", name=f"Remove {first_page[3]['title']}").click()
    expect(page.get_by_role("heading", name="Movies (2)")).to_be_visible()

    # Pick another on page 3 and add it from the collection.
    page.goto("/#/catalogue?page=3")
    expect(page.get_by_role("list", name="Movies, page 3")).to_be_visible()
    pick(page, third_page[0]["title"])
    open_collections(page)
    page.get_by_role("link", name="Weekend favourites").click()
    page.get_by_role("button", name="Add 1 picked movie").click()
    expect(page.get_by_role("heading", name="Movies (3)")).to_be_visible()
    expected = [first_page[0], second_page[1], third_page[0]]
    assert movie_list_titles(page) == [movie["title"] for movie in expected]
    screenshot(page, screenshot_dir, "collection")

    # The list shows the collection and the favourite genres the API computes.
    token = page.evaluate(
        "() => JSON.parse(sessionStorage.getItem('movie-collections.session')).token"
    )
    overview = collections_by_api(server.url, {"Authorization": f"Bearer {token}"})
    (stored,) = overview["collections"]
    assert stored["title"] == "Weekend favourites"
    assert stored["description"] == "Chosen while browsing, kept for Sunday."
    open_collections(page)
    genres = [genre for genre in overview["favourite_genres"].split(",") if genre]
    if genres:
        expect(page.locator(".favourite-genres li")).to_have_text(genres)
    else:
        expect(page.get_by_text("Add movies to your collections to see")).to_be_visible()

    # The request count, and its reset.
    page.get_by_role("link", name="Request count").click()
    count = page.get_by_label("Requests served")
    expect(count).to_have_text(re.compile(r"^[\d,]+$"))
    assert int(count.inner_text().replace(",", "")) > 10
    page.get_by_role("button", name="Reset count").click()
    page.get_by_role("button", name="Yes, reset it").click()
    expect(count).to_have_text(re.compile(r"^[12]$"))

    # Delete the collection.
    open_collections(page)
    page.get_by_role("link", name="Weekend favourites").click()
    page.get_by_role("button", name="Delete collection").click()
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page.get_by_text("You have no collections yet.")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1, name="Log in")).to_be_visible()


def test_upstream_failure_is_shown_and_recovered_with_retry(
    page: Page, server: ServerProcess, upstream: MockUpstreamProcess, screenshot_dir: Path
) -> None:
    register_in_browser(page, "patient_pat")
    expect(page.get_by_role("list", name="Movies, page 1")).to_be_visible()

    upstream.control(failure_rate=1.0, failure_kinds=["5xx"])
    page.goto("/#/catalogue?page=2")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The movie catalogue is not answering right now.")
    problem = httpx.get(
        f"{server.url}/movies/?page=2",
        headers={
            "Authorization": "Bearer "
            + page.evaluate(
                "() => JSON.parse(sessionStorage.getItem('movie-collections.session')).token"
            )
        },
        timeout=10,
    )
    assert problem.status_code in (502, 504)
    # The message is the problem's `detail` (the failing status drawn may differ per call).
    shown = alert.locator(".alert-message").inner_text()
    assert re.sub(r"\d+", "N", shown) == re.sub(r"\d+", "N", problem.json()["detail"])
    retry = alert.get_by_role("button", name="Retry")
    screenshot(page, screenshot_dir, "upstream-failure")

    # Still failing: the retry fails too, and focus stays on the new Retry button.
    retry.click()
    expect(page.get_by_role("alert").get_by_role("button", name="Retry")).to_be_focused()

    upstream.control(failure_rate=0.0)
    page.get_by_role("alert").get_by_role("button", name="Retry").click()
    expect(page.get_by_role("list", name="Movies, page 2")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    assert card_titles(page) == [movie["title"] for movie in upstream_page(upstream, 2)]


def test_progress_is_shown_while_the_catalogue_loads(
    page: Page, server: ServerProcess, upstream: MockUpstreamProcess
) -> None:
    register_in_browser(page, "watching_wes")
    expect(page.get_by_role("list", name="Movies, page 1")).to_be_visible()
    upstream.control(latency=1.5)
    page.get_by_role("navigation", name="Pages").first.get_by_role("link", name="Next →").click()
    expect(page.get_by_role("progressbar")).to_be_visible()
    expect(page.get_by_text("Loading page 2…")).to_be_visible()
    expect(page.locator("main")).to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("list", name="Movies, page 2")).to_be_visible(timeout=10_000)
    wait_until_idle(page)
    expect(page.locator("main")).to_have_attribute("aria-busy", "false")


def test_last_page_and_accessibility_of_the_catalogue(
    page: Page, server: ServerProcess, upstream: MockUpstreamProcess
) -> None:
    register_in_browser(page, "last_lou")
    expect(page.get_by_role("list", name="Movies, page 1")).to_be_visible()
    # Jump straight there; a number past the end goes to the last page.
    page.get_by_label("Go to page").fill(str(PAGES + 5))
    page.get_by_label("Go to page").press("Enter")
    expect(page.get_by_role("list", name=f"Movies, page {PAGES}")).to_be_visible()
    expect(page.get_by_label("Go to page")).to_have_value(str(PAGES))
    assert len(card_titles(page)) == MOVIES - (PAGES - 1) * 10
    pages_nav = page.get_by_role("navigation", name="Pages").first
    expect(pages_nav.locator("[rel=next]")).to_have_count(0)
    expect(pages_nav.get_by_text("Next →")).to_have_attribute("aria-disabled", "true")
    wait_until_idle(page)
    assert page.evaluate(UNLABELLED_CONTROLS_JS) == []
    assert page.evaluate(CONTRAST_FAILURES_JS) == []
    # A long description is clamped, and can be expanded from the keyboard.
    more = page.get_by_role("button", name="Show more").first
    more.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Show less").first).to_have_attribute(
        "aria-expanded", "true"
    )


def test_movies_with_missing_fields_are_shown_and_the_ones_without_id_cannot_be_picked(
    page: Page, server: ServerProcess, upstream: MockUpstreamProcess
) -> None:
    register_in_browser(page, "sparse_sue")
    upstream.control(sparse=True)
    page.get_by_label("Go to page").fill("2")
    page.get_by_label("Go to page").press("Enter")
    expect(page.get_by_role("list", name="Movies, page 2")).to_be_visible()
    token = page.evaluate(
        "() => JSON.parse(sessionStorage.getItem('movie-collections.session')).token"
    )
    answer = httpx.get(
        f"{server.url}/movies/?page=2", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()["data"]
    without_id = [movie for movie in answer if not movie["uuid"]]
    without_genres = [movie for movie in answer if not movie["genres"]]
    assert without_id, "the sparse stand-in should leave some ids out"
    expect(page.locator(".movie-grid .movie")).to_have_count(len(answer))
    expect(page.get_by_role("button", name=re.compile("has no id"))).to_have_count(len(without_id))
    for button in page.get_by_role("button", name=re.compile("has no id")).all():
        expect(button).to_be_disabled()
    expect(page.get_by_text("No genres listed")).to_have_count(len(without_genres))


@pytest.fixture
def phone_page(
    browser: Browser, server: ServerProcess, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A phone's page: PHONE, or the viewport given by indirect parametrization."""
    viewport = getattr(request, "param", PHONE)
    with watched_page(
        browser, server.url, viewport=viewport, is_mobile=True, has_touch=True
    ) as page:
        yield page


def test_catalogue_on_a_phone(
    phone_page: Page, server: ServerProcess, upstream: MockUpstreamProcess, screenshot_dir: Path
) -> None:
    page = phone_page
    register_in_browser(page, "phone_phil")
    expect(page.get_by_role("list", name="Movies, page 1")).to_be_visible()
    pick(page, upstream_page(upstream, 1)[0]["title"])
    wait_until_idle(page)
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], widths
    screenshot(page, screenshot_dir, "phone-catalogue")


@pytest.mark.parametrize("phone_page", [TALL_PHONE], indirect=True)
def test_picking_on_a_phone_keeps_a_bar_with_the_count_and_the_action(
    phone_page: Page, server: ServerProcess, upstream: MockUpstreamProcess, screenshot_dir: Path
) -> None:
    page = phone_page
    movies = upstream_page(upstream, 1)
    register_in_browser(page, "phone_pia", STRONG_PASSWORD)
    expect(page.get_by_role("list", name="Movies, page 1")).to_be_visible()
    bar_toggle = page.get_by_role("button", name=re.compile(r"^\d+ picked"))
    expect(bar_toggle).to_be_hidden()

    pick(page, movies[0]["title"])
    expect(bar_toggle).to_have_text("1 picked ▴")
    expect(bar_toggle).to_have_attribute("aria-expanded", "false")
    # Far down the page the bar is still on screen, and covers none of the catalogue.
    pick(page, movies[-1]["title"])
    expect(bar_toggle).to_have_text("2 picked ▴")
    page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    bar = page.locator(".picked").bounding_box()
    assert bar is not None
    assert bar["y"] + bar["height"] == pytest.approx(TALL_PHONE["height"], abs=1)
    assert bar["height"] < 90, bar
    last = page.get_by_role("navigation", name="Pages").last.bounding_box()
    assert last is not None
    assert last["y"] + last["height"] <= bar["y"], (last, bar)
    screenshot(page, screenshot_dir, "phone-picked-bar", full_page=False)

    # The action opens the list and the form, focus in the title.
    page.get_by_role("button", name="Create collection", exact=True).click()
    expect(page.get_by_label("Collection title")).to_be_focused()
    expect(bar_toggle).to_have_attribute("aria-expanded", "true")
    # Open, the form's own button is the action.
    expect(page.get_by_role("button", name="Create collection", exact=True)).to_be_hidden()
    expect(page.locator(".picked-list li")).to_have_count(2)
    page.keyboard.type("Commute")
    assert page.evaluate(CONTRAST_FAILURES_JS) == []
    screenshot(page, screenshot_dir, "phone-picked-sheet")
    # Escape folds it back into the bar; what was typed stays.
    page.keyboard.press("Escape")
    expect(bar_toggle).to_be_focused()
    expect(bar_toggle).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_label("Collection title")).to_be_hidden()
    bar_toggle.click()
    expect(page.get_by_label("Collection title")).to_have_value("Commute")
    page.get_by_role("button", name="Create collection with 2 movies").click()
    expect(page.get_by_role("heading", level=1, name="Commute")).to_be_visible()
    assert movie_list_titles(page) == [movies[0]["title"], movies[-1]["title"]]
    (stored,) = collections_by_api(server.url, session_headers(page))["collections"]
    assert stored["title"] == "Commute"
    # With no picks there is no bar.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalogue").click()
    expect(page.get_by_role("list", name="Movies, page 1")).to_be_visible()
    expect(page.locator(".picked")).to_be_hidden()


def test_picking_for_an_existing_collection_ends_in_add_to_its_title(
    page: Page, server: ServerProcess, upstream: MockUpstreamProcess, screenshot_dir: Path
) -> None:
    first_page, second_page = upstream_page(upstream, 1), upstream_page(upstream, 2)
    headers = register_by_api(server.url, "adding_ada", STRONG_PASSWORD)
    collection = create_collection_by_api(server.url, headers, "Weekend", first_page[:1])
    log_in_in_browser(page, "adding_ada", STRONG_PASSWORD)
    page.goto(f"/#/collections/{collection}")
    page.get_by_role("link", name="Pick movies for this collection").click()
    expect(page.get_by_role("list", name="Movies, page 1")).to_be_visible()
    picker = page.get_by_role("complementary")
    expect(picker).to_contain_text("Picking movies for Weekend.")
    add = picker.get_by_role("button", name="Add to Weekend")
    expect(add).to_be_disabled()
    expect(picker.get_by_role("button", name=re.compile("Create"))).to_have_count(0)

    # One already in the collection, one new here, one on the next page.
    pick(page, first_page[0]["title"])
    pick(page, first_page[1]["title"])
    go_to_page(page, "Next →", 2)
    pick(page, second_page[2]["title"])
    expect(add).to_be_enabled()
    screenshot(page, screenshot_dir, "picking-for-a-collection")
    add.click()
    expect(page.get_by_role("heading", level=1, name="Weekend")).to_be_visible()
    expect(toast(page)).to_have_text("2 movies added to Weekend.")
    expected = [first_page[0], first_page[1], second_page[2]]
    assert movie_list_titles(page) == [movie["title"] for movie in expected]
    (stored,) = collections_by_api(server.url, headers)["collections"]
    assert stored["uuid"] == collection

    # Done: the picker is back to making a new collection, with no picks.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalogue").click()
    expect(picker.get_by_role("heading", name="Picked movies (0)")).to_be_visible()
    expect(picker.get_by_role("button", name="Create empty collection")).to_be_visible()

    # "Make a new collection instead" leaves the collection alone.
    page.goto(f"/#/collections/{collection}")
    page.get_by_role("link", name="Pick movies for this collection").click()
    pick(page, first_page[4]["title"])
    picker.get_by_role("button", name="Make a new collection instead").click()
    expect(picker.get_by_role("button", name="Create collection with 1 movie")).to_be_visible()
    expect(picker.get_by_role("button", name="Add to Weekend")).to_have_count(0)
