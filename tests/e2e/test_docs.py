"""/docs and /redoc render the operations from this service alone: no request leaves it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, Request, expect

from tests.e2e.conftest import BrowserProblems
from tests.processes import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# ReDoc's bundle always adds the Redocly logo from its CDN; the page's policy blocks it (the
# image then hides itself), so it is never fetched.
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def record_requests(page: Page) -> tuple[list[str], set[str]]:
    """Every URL the page asks for, and those the browser blocked by the CSP (never sent)."""
    urls: list[str] = []
    blocked: set[str] = set()

    def failed(request: Request) -> None:
        if "csp" in (request.failure or "").lower():  # Chromium: "csp"
            blocked.add(request.url)

    page.on("request", lambda request: urls.append(request.url))
    page.on("requestfailed", failed)
    return urls, blocked


def schema(server: ServerProcess) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    return answer


def operation_count(server: ServerProcess) -> int:
    return sum(len(methods) for methods in schema(server)["paths"].values())


def reset_summary(server: ServerProcess) -> str:
    return str(schema(server)["paths"]["/request-count/reset/"]["post"]["summary"])


def open_docs(
    page: Page, server: ServerProcess, path: str, operation: Locator
) -> tuple[list[str], set[str]]:
    """Opens `path`, waits for `operation` to render; the URLs requested that are not the
    server's own, and those of them the CSP blocked."""
    requests, blocked = record_requests(page)
    response = page.goto(path)
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    expect(operation).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert f"{server.url}/openapi.json" in requests
    own = (f"{server.url}/", "data:", "blob:")
    return [url for url in requests if not url.startswith(own)], blocked


def test_swagger_ui_renders_the_operations_with_no_outside_request(
    page: Page, server: ServerProcess
) -> None:
    reset = page.locator(".opblock-summary-description", has_text=reset_summary(server))
    outside, _blocked = open_docs(page, server, "/docs", reset)
    assert outside == []
    expect(page.locator(".opblock")).to_have_count(operation_count(server))
    # An operation opens, and its "Try it out" talks to this origin.
    reset.click()
    expect(page.get_by_role("button", name="Try it out")).to_be_visible()


def test_redoc_renders_the_operations_with_no_outside_request(
    page: Page, server: ServerProcess, problems: BrowserProblems
) -> None:
    reset = page.get_by_role("heading", name=reset_summary(server))
    outside, blocked = open_docs(page, server, "/redoc", reset)
    expect(page.locator("div[id^='operation/']")).to_have_count(operation_count(server))
    assert set(outside) <= {REDOCLY_LOGO}
    assert set(outside) <= blocked
    assert all(REDOCLY_LOGO in violation for violation in problems.csp_violations)
    problems.csp_violations.clear()
