"""The agent console in a real browser: Debian's Chromium driven by Playwright against a
real server on a loopback port. Draft replies, edit one (checked again), approve, reject."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from service.api.app import create_app
from service.container import Services
from tests.conftest import free_port
from tests.test_drafts_api import services_with_db

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium): no browser to drive")
    playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def server(demo: Services, tmp_path: Path) -> Iterator[tuple[str, Services]]:
    svc = services_with_db(demo, tmp_path)
    port = free_port()
    config = uvicorn.Config(create_app(services=svc), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url, svc
    srv.should_exit = True
    thread.join(10)


def test_console_drafts_edits_and_approves(browser: object, server: tuple[str, Services]) -> None:
    url, svc = server
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(f"{url}/console")
        page.wait_for_function("document.querySelectorAll('#shop option').length > 0")
        assert page.input_value("#shop") == "demo-shop"
        page.fill("#product", "P003")
        page.fill("#message", "能便宜点吗，买两袋")
        page.click("#draft")
        page.wait_for_selector(".card[data-draft]")
        cards = page.query_selector_all(".card[data-draft]")
        assert len(cards) == 3
        assert "bargain" in page.inner_text("#summary")
        first, second = (c.get_attribute("data-draft") for c in cards[:2])

        # Edit the first into something the guardrails block: the verdict shows, approving is refused.
        card = page.locator(f".card[data-draft='{first}']")
        card.locator("[data-action=edit]").click()
        card.locator(".editor textarea").fill("你好，给你打个8折")
        card.locator("[data-action=save]").click()
        card.locator(".badge.block").wait_for()
        assert card.locator(".badge.state").inner_text() == "edited"
        card.locator("[data-action=approve]").click()
        page.wait_for_function("document.querySelector('#status').textContent.includes('override')")
        assert svc.drafts.get(first)["state"] == "edited"

        # Rewrite it politely, approve, mark sent.
        card.locator("[data-action=edit]").click()
        card.locator(".editor textarea").fill("亲，这款59.9元已是页面价，小杞没法改价，还请您理解～")
        card.locator("[data-action=save]").click()
        card.locator(".badge.pass, .badge.warn").first.wait_for()
        card.locator("[data-action=approve]").click()
        page.wait_for_function(f"document.querySelector(\".card[data-draft='{first}'] .badge.state\")"
                               ".textContent === 'approved'")
        card.locator("[data-action=sent]").click()
        page.wait_for_function(f"document.querySelector(\".card[data-draft='{first}'] .badge.state\")"
                               ".textContent === 'sent'")

        # Reject the second with a reason typed into the prompt.
        page.once("dialog", lambda dialog: dialog.accept("答非所问"))
        page.locator(f".card[data-draft='{second}'] [data-action=reject]").click()
        page.wait_for_function(f"document.querySelector(\".card[data-draft='{second}'] .badge.state\")"
                               ".textContent === 'rejected'")
    finally:
        page.close()
    assert svc.drafts.get(first)["state"] == "sent"
    assert [a["action"] for a in svc.drafts.audit(first)] == ["edit", "edit", "approve", "sent"]
    rejected = svc.drafts.get(second)
    assert rejected["state"] == "rejected" and rejected["reject_reason"] == "答非所问"


def test_console_page_is_self_contained(server: tuple[str, Services]) -> None:
    url, _ = server
    html = httpx.get(f"{url}/console").text
    assert "<script>" in html and "src=\"http" not in html and "href=\"http" not in html
    assert shutil.which("chromium") is None or CHROMIUM.exists()
