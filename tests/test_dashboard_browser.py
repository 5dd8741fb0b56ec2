"""The dashboard in a real headless browser (Debian's chromium driven by Playwright).

The app (with the monitoring router) runs under uvicorn against the test database; every
request that is not for our server is refused and recorded. Logged in with a county token,
the page must draw both charts and the flag bars for the county, list its townships, and
request nothing from anywhere else. A screenshot is left in /tmp for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from playwright.sync_api import sync_playwright

from api.app import create_app
from tests.api_support import Users, demo_townships, new_users
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, csp_violations, serving

SCREENSHOT = Path("/tmp/gongjian-dashboard.png")


@pytest.fixture(scope="module")
def server(engine: sa.Engine, demo_world: dict) -> Iterator[str]:
    with serving(create_app(engine)) as url:
        yield url


@pytest.fixture(scope="module")
def users(engine: sa.Engine, demo_world: dict) -> Iterator[Users]:
    users = new_users(engine)
    users.add("county", "viewer", demo_townships(engine)[0][:6])
    yield users
    users.drop()


def test_dashboard_draws_progress_and_flags_offline(server: str, users: Users, engine) -> None:
    leaving: list[str] = []
    errors: list[str] = []
    ours = urlsplit(server).netloc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1300, "height": 1000})

        def gate(route) -> None:
            url = route.request.url
            if urlsplit(url).netloc == ours or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                leaving.append(url)
                route.abort()

        context.route("**/*", gate)
        token = users.tokens["county"]
        context.add_init_script(f"localStorage.setItem('gongjian.token', '{token}');")
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.extend(csp_violations(msg)))
        page.goto(f"{server}/dashboard")
        page.wait_for_selector("#gj-status svg path", timeout=60_000)
        page.wait_for_selector("#gj-exits svg rect", state="attached", timeout=60_000)
        page.wait_for_selector("table.flags tr", timeout=60_000)
        options = page.locator("#gj-area option").count()
        cards = page.locator("#gj-cards .card").count()
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        context.close()
        browser.close()
    assert options == 1 + len(demo_townships(engine))  # the county, then its townships
    assert cards >= 5
    assert leaving == [], f"requests left the machine: {leaving[:5]}"
    assert errors == [], errors


def test_the_web_maps_link_opens_the_dashboard_on_its_township(server, users, engine) -> None:
    township = demo_townships(engine)[1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        token = users.tokens["county"]
        context.add_init_script(f"localStorage.setItem('gongjian.token', '{token}');")
        page = context.new_page()
        page.goto(f"{server}/townships/{township}")
        link = page.locator("a.gj-dashboard")
        link.wait_for(timeout=30_000)
        link.click()
        page.wait_for_selector("#gj-status svg path", timeout=60_000)
        chosen = page.locator("#gj-area").input_value()
        context.close()
        browser.close()
    assert chosen == township
