"""The web map in a real headless browser (Debian's chromium driven by Playwright).

The app runs under uvicorn on a free loopback port against the test database. Every request
the page makes is intercepted: anything not for our server is recorded and refused, and the
test fails if there was any (township offices are offline). The page must draw households,
a layer toggle must change what is drawn, and a click on a household must open its popup.
A screenshot is left in /tmp for a person to look at.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, sync_playwright

from api.app import create_app
from maps.webmap import external_urls
from tests.api_support import Users, demo_townships, household_in, new_users
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, csp_violations, serving

SCREENSHOT = Path("/tmp/gongjian-webmap.png")
HOUSEHOLDS = "path.gj-household"


@pytest.fixture(scope="module")
def server(engine: sa.Engine, demo_world: dict) -> Iterator[str]:
    """The app under uvicorn in a background thread; yields its base URL."""
    with serving(create_app(engine)) as url:
        yield url


@pytest.fixture(scope="module")
def users(engine: sa.Engine, demo_world: dict) -> Iterator[Users]:
    users = new_users(engine)
    users.add("viewer", "viewer", demo_townships(engine)[0])
    yield users
    users.drop()


@pytest.fixture(scope="module")
def browser_page(server: str, users: Users) -> Iterator[tuple[Page, list[str], list[str]]]:
    """A logged-in page (token in localStorage) with every outside request refused."""
    leaving: list[str] = []
    errors: list[str] = []
    ours = urlsplit(server).netloc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})

        def gate(route) -> None:
            url = route.request.url
            if urlsplit(url).netloc == ours or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                leaving.append(url)
                route.abort()

        context.route("**/*", gate)
        token = users.tokens["viewer"]
        context.add_init_script(f"localStorage.setItem('gongjian.token', '{token}');")
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.extend(csp_violations(msg)))
        yield page, leaving, errors
        context.close()
        browser.close()


def drawn(page: Page, selector: str = HOUSEHOLDS) -> int:
    return page.locator(selector).count()


def wait_until(page: Page, condition, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the map"
        page.wait_for_timeout(200)


def test_the_page_itself_names_no_outside_url(server: str) -> None:
    import httpx

    html = httpx.get(f"{server}/", headers={"Accept": "text/html"}).text
    assert external_urls(html) == []
    assert "/static/vendor/leaflet/leaflet.js" in html and "示例数据（合成）" in html


def test_the_web_map_draws_households_offline(browser_page, server: str, engine: sa.Engine) -> None:
    page, leaving, errors = browser_page
    township = demo_townships(engine)[0]
    page.goto(f"{server}/townships/{township}")
    page.wait_for_selector("#gj-user", timeout=20_000)
    wait_until(page, lambda: drawn(page) > 0)
    page.wait_for_load_state("networkidle")
    assert "连" in page.locator("#gj-user").inner_text() or township in page.inner_text("#gj-panel")
    assert page.locator("#gj-township").input_value() == township
    assert drawn(page, "path.gj-village") > 0
    assert page.locator(".leaflet-image-layer").count() == 1  # the DEM hillshade basemap
    page.screenshot(path=str(SCREENSHOT))
    assert leaving == [], f"requests left the machine: {leaving[:5]}"
    assert errors == [], errors


def test_toggling_a_layer_changes_what_is_drawn(browser_page) -> None:
    page, leaving, _ = browser_page
    before = drawn(page)
    toggle = page.locator(".leaflet-control-layers-overlays label", has_text="未脱贫").locator(
        "input"
    )
    toggle.uncheck()
    wait_until(page, lambda: drawn(page) < before)
    fewer = drawn(page)
    toggle.check()
    wait_until(page, lambda: drawn(page) > fewer)
    assert leaving == []


def test_a_click_on_a_household_opens_its_popup(browser_page, engine: sa.Engine) -> None:
    page, leaving, errors = browser_page
    township = demo_townships(engine)[0]
    some = household_in(engine, township, offset=25, status="poor")
    page.evaluate(f"gongjian.state().map.setView([{some.lat}, {some.lon}], 17)")
    single = f"{HOUSEHOLDS}:not(.gj-cluster)"
    wait_until(page, lambda: drawn(page, single) > 0)
    page.wait_for_load_state("networkidle")
    box = page.locator(single).first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=10_000)
    text = popup.inner_text()
    assert "建档立卡户" in text and "户主" in text
    assert "*" in text  # a viewer's popup shows masked personal fields
    page.screenshot(path=str(SCREENSHOT.with_name("gongjian-webmap-popup.png")))
    assert leaving == [] and errors == []


def test_relocation_candidates_can_be_shown(browser_page, engine: sa.Engine) -> None:
    """After `gongjian relocation`, the 搬迁对象 toggle draws the candidates in orange."""
    from layers import relocation

    page, leaving, errors = browser_page
    township = demo_townships(engine)[0]
    relocation.refresh(engine, township=township)
    with engine.connect() as conn:
        lon, lat = conn.execute(
            sa.text(
                "SELECT ST_X(geom), ST_Y(geom) FROM relocation_household "
                "WHERE candidate AND township_code = :t ORDER BY household_id LIMIT 1"
            ),
            {"t": township},
        ).one()
    page.evaluate(f"gongjian.state().map.setView([{lat}, {lon}], 15)")
    toggle = page.locator(".leaflet-control-layers-overlays label", has_text="搬迁对象")
    toggle.locator("input").check()
    wait_until(page, lambda: drawn(page, "path.gj-relocation") > 0)
    assert leaving == [] and errors == []


def test_a_login_link_opens_the_map_logged_in(browser_page, server: str, engine) -> None:
    """``gongjian demo --serve`` prints ``/#token=…``: the page logs in with it, keeps it,
    and takes it out of the address bar (the fragment never reaches the server)."""
    from layers.access import close_demo_logins, open_demo_login
    from layers.demo import LIANZHOU

    _, token = open_demo_login(engine, LIANZHOU)
    errors: list[str] = []
    context = browser_page[0].context.browser.new_context()  # no stored token in this one
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.extend(csp_violations(msg)))
        page.goto(f"{server}/#token={token}")
        page.wait_for_selector("#gj-user", timeout=20_000)
        assert "token" not in page.url
        assert page.evaluate("localStorage.getItem('gongjian.token')") == token
    finally:
        context.close()
        close_demo_logins(engine)
    assert errors == [], errors


def test_siting_draws_the_roads_to_harden(browser_page, engine: sa.Engine) -> None:
    """规划选址 in the township panel: roads to harden within 3 km drawn, with what they bring."""
    page, leaving, errors = browser_page
    page.select_option("#gj-siting-kind", "roads")
    page.fill("#gj-siting-amount", "3")
    page.click("#gj-siting-run")
    result = page.locator("#gj-siting-result")
    wait_until(page, lambda: "户" in result.inner_text() or "失败" in result.inner_text(), 60)
    assert "新覆盖" in result.inner_text() and "公里" in result.inner_text()
    wait_until(page, lambda: drawn(page, "path.gj-siting-road") > 0)
    page.screenshot(path=str(SCREENSHOT.with_name("gongjian-webmap-siting.png")))
    assert leaving == [] and errors == []


def test_a_scenario_is_drawn_as_an_overlay(browser_page, engine: sa.Engine) -> None:
    """A scenario's road to harden shows on the 规划方案 overlay; the roads stay as they are."""
    from geo.policy import load_profile
    from layers import scenarios

    page, leaving, errors = browser_page
    township = demo_townships(engine)[0]
    with engine.connect() as conn:
        road_id, lon, lat = conn.execute(sa.text(
            "SELECT r.id, ST_X(ST_LineInterpolatePoint(r.geom, 0.5)), "
            "ST_Y(ST_LineInterpolatePoint(r.geom, 0.5)) FROM road r, township t "
            "WHERE t.code = :t AND r.surface <> 'hardened' AND ST_Within(r.geom, t.geom) "
            "ORDER BY r.id LIMIT 1"), {"t": township}).one()  # fmt: skip
    scenarios.create(engine, "browser-overlay", township, "test")
    try:
        scenarios.add(engine, "browser-overlay", "test", load_profile(), harden=(road_id,))
        page.evaluate(f"gongjian.state().map.setView([{lat}, {lon}], 15)")
        toggle = page.locator(".leaflet-control-layers-overlays label", has_text="规划方案")
        toggle.first.locator("input").check()
        wait_until(page, lambda: drawn(page, "path.gj-scenario") > 0)
        assert leaving == [] and errors == []
    finally:
        scenarios.drop(engine, "browser-overlay")
