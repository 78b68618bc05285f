"""Text from the third party and from users is shown as text, never run as markup."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import BrowserProblems
from tests.e2e.flows import (
    create_collection_by_api,
    log_in_in_browser,
    open_collections,
    register_by_api,
    screenshot,
)
from tests.processes import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

IMG_ATTACK = "<img src=x onerror=window.__xss=1>"
SCRIPT_ATTACK = "<script>window.__xss=2</script>Night & Day"
DESCRIPTION_ATTACK = '<a href="javascript:window.__xss=3">click</a> <b>bold?</b>'


def test_markup_in_titles_and_descriptions_is_rendered_as_text(
    page: Page, server: ServerProcess, screenshot_dir: Path
) -> None:
    headers = register_by_api(server.url, "mallory")
    movies = [
        {
            "title": IMG_ATTACK,
            "description": DESCRIPTION_ATTACK,
            "genres": "<svg onload=window.__xss=4>,Drama",
            "uuid": "0b3d7d3e-1111-4c1e-9a52-0e5a0f1d2c01",
        }
    ]
    collection_id = create_collection_by_api(server.url, headers, SCRIPT_ATTACK, movies)
    description = httpx.put(
        f"{server.url}/collection/{collection_id}/",
        json={"description": DESCRIPTION_ATTACK},
        headers=headers,
        timeout=10,
    )
    assert description.status_code == 200, description.text

    log_in_in_browser(page, "mallory")
    open_collections(page)
    title_link = page.locator(".collection-title a")
    expect(title_link).to_have_text(SCRIPT_ATTACK)
    expect(page.locator(".collection .description")).to_have_text(DESCRIPTION_ATTACK)
    expect(page.locator(".favourite-genres li").first).to_have_text("<svg onload=window.__xss=4>")

    title_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SCRIPT_ATTACK)
    expect(page.locator(".collection-movies .movie-title")).to_have_text(IMG_ATTACK)
    expect(page.get_by_label("Description")).to_have_value(DESCRIPTION_ATTACK)
    screenshot(page, screenshot_dir, "xss-rendered-as-text")

    # The markup never became elements, and nothing of it ran.
    main = page.locator("main")
    assert main.locator("img, script, svg, b").count() == 0
    assert main.locator("a[href^='javascript:']").count() == 0
    assert page.evaluate("() => typeof window.__xss") == "undefined"


def test_the_client_is_served_with_a_strict_content_security_policy(
    page: Page, server: ServerProcess, problems: BrowserProblems
) -> None:
    response = page.goto("/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    # The policy is enforced by the browser: an injected inline script does not run.
    page.evaluate(
        """() => {
            const script = document.createElement('script');
            script.textContent = 'window.__inline = 1';
            document.body.append(script);
        }"""
    )
    assert page.evaluate("() => typeof window.__inline") == "undefined"
    assert len(problems.csp_violations) == 1
    problems.csp_violations.clear()


def test_the_token_is_never_a_cookie(page: Page, server: ServerProcess) -> None:
    register_by_api(server.url, "cookie_check")
    log_in_in_browser(page, "cookie_check")
    open_collections(page)
    assert page.context.cookies() == []
    assert page.evaluate("() => document.cookie") == ""
