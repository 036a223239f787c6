"""The reviewer UI in a real browser: Playwright driving Debian's chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DOCS = Path(__file__).resolve().parent.parent / "docs"
PASSWORD = "pw-12345678"


@pytest.fixture
def browser() -> Iterator[Any]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # around it are ordinary synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def cases(client_for: Any) -> dict[str, str]:
    CaseTypeFactory(slug="refund")
    source = client_for(SourceFactory(name="shop").api_key)
    ids = {}
    for external_id, confidence in [("gen-1", 0.80), ("gen-2", 0.85), ("exp-1", 0.40)]:
        body = source.post(
            "/api/v1/cases/",
            case_payload(external_id=external_id, confidence=confidence),
            format="json",
        ).json()
        ids[external_id] = body["id"]
    return ids


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=My queues")


def test_generalist_edits_with_the_keyboard_and_gets_the_next_case(
    live_server: Any, browser: Any, cases: dict[str, str], generalist: Any
) -> None:
    from cases.models import Case

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    _login(page, live_server.url, "gina")
    row = page.locator("tr", has_text="General review")
    row.get_by_role("button", name="Next case").click()
    page.wait_for_selector("#decision-form")
    first = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert first == cases["gen-1"]  # the lowest confidence of the band comes first

    page.keyboard.press("e")
    editor = page.locator("#id_final_output")
    assert editor.is_visible()
    editor.fill('{"decision": "refund", "amount": 40}')
    page.wait_for_selector("#diff td:has-text('/amount')")
    page.select_option("#id_reason_code", "wrong_amount")
    page.screenshot(path=str(DOCS / "review-page.png"), full_page=True)
    editor.focus()
    page.keyboard.press("Control+Enter")

    page.wait_for_url(f"**/cases/{cases['gen-2']}/")
    assert page.locator(".message.success").inner_text().startswith("Edited case gen-1")
    decided = Case.objects.get(pk=first)
    assert decided.status == "edited"
    assert decided.final_output == {"decision": "refund", "amount": 40}


def test_expert_sees_the_expert_case_and_not_the_generalist_one(
    live_server: Any, browser: Any, cases: dict[str, str], expert: Any
) -> None:
    page = browser.new_page()
    _login(page, live_server.url, "eric")
    page.locator("tr", has_text="Expert review").get_by_role("button", name="Next case").click()
    page.wait_for_url(f"**/cases/{cases['exp-1']}/")
    assert "confidence 0.40 is below the expert threshold 0.70" in page.content()

    page.goto(f"{live_server.url}/cases/{cases['gen-1']}/")
    assert "You do not hold a claim on this case" in page.content()
    page.keyboard.press("a")  # no decision form: nothing happens
    assert page.locator("#decision-form").count() == 0
