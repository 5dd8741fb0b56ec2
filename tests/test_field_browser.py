"""The field app on a phone-sized headless chromium (Debian's, driven by Playwright).

One inspector's day, in order: log in, the service worker installs, "下载离线包" stores a plan,
the network goes off, the app reloads from the service worker, visits are recorded with a
fake GPS position and a camera photo (compressed on the phone), the page is closed and
opened again (drafts survive in IndexedDB), the network comes back, the sync stores the
visits once (a replay stores nothing more), and a household changed on the server since the
download comes back as a conflict that is not stored until the inspector confirms it.
Every request is checked: none may leave 127.0.0.1. Screenshots are left in /tmp.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image
from playwright.sync_api import BrowserContext, Page, sync_playwright

from api.app import create_app
from tests.api_support import Users, demo_townships, household_changed, new_users
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, serving, wait_for_js

PHONE = {"width": 360, "height": 740}
SCREENSHOTS = Path("/tmp")


@pytest.fixture(scope="module")
def server(engine: sa.Engine, demo_world: dict) -> Iterator[str]:
    with serving(create_app(engine)) as url:
        yield url


@pytest.fixture(scope="module")
def inspector(engine: sa.Engine, demo_world: dict) -> Iterator[tuple[Users, str]]:
    users = new_users(engine)
    township = demo_townships(engine)[2]
    users.add("field", "inspector", township)
    yield users, township
    users.drop()


@pytest.fixture(scope="module")
def plan(server: str, inspector, engine: sa.Engine) -> Iterator[int]:
    import httpx

    users, township = inspector
    body = {"area": township, "sample": 6, "inspectors": 1, "days": 1, "seed": 11,
            "as_of": "2018-12-20"}  # fmt: skip
    made = httpx.post(f"{server}/routes", json=body, headers=users.headers("field"), timeout=120)
    assert made.status_code == 201, made.text
    plan_id = made.json()["id"]
    yield plan_id
    with engine.begin() as conn:
        ids = conn.execute(
            sa.text("DELETE FROM visit WHERE plan_id = :p RETURNING id"), {"p": plan_id}
        ).scalars()
        conn.execute(
            sa.text("DELETE FROM audit_log WHERE table_name = 'visit' AND row_id = ANY(:v)"),
            {"v": [str(i) for i in ids]},
        )
        conn.execute(sa.text("DELETE FROM route_plan WHERE id = :p"), {"p": plan_id})


def stops(engine: sa.Engine, plan_id: int) -> list[sa.Row]:
    """The plan's households in route order: id, household_no, lon, lat."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT h.id, h.household_no, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat "
                "FROM route_stop s JOIN household h ON h.id = s.household_id "
                "LEFT JOIN route_day d ON d.id = s.day_id WHERE s.plan_id = :p "
                "ORDER BY d.inspector NULLS LAST, d.day, s.seq, h.household_no"
            ),
            {"p": plan_id},
        ).all()


def camera_photo(path: Path) -> Path:
    """A noisy 4000×3000 JPEG, as big as a phone camera's (several MB)."""
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def phone(server: str, plan: int, engine: sa.Engine) -> Iterator[tuple[BrowserContext, dict]]:
    """A phone-sized browser context at the first household, with every request checked."""
    first = stops(engine, plan)[0]
    seen: dict = {"leaving": [], "errors": [], "urls": []}
    ours = urlsplit(server).netloc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            geolocation={"latitude": first.lat + 0.0002, "longitude": first.lon, "accuracy": 15},
            permissions=["geolocation"],
            service_workers="allow",
        )

        def gate(route) -> None:
            url = route.request.url
            if urlsplit(url).netloc == ours or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                seen["leaving"].append(url)
                route.abort()

        context.route("**/*", gate)
        context.on("request", lambda r: seen["urls"].append(r.url))
        yield context, seen
        context.close()
        browser.close()


def open_app(context: BrowserContext, server: str, seen: dict) -> Page:
    page = context.new_page()
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    page.goto(f"{server}/field/")
    return page


def record_visit(page: Page, household_no: str, *, housing_ok: bool, photo: Path | None) -> None:
    page.locator("#stops li", has_text=household_no).click()
    page.wait_for_selector("#household:not([hidden])")
    wait_for_js(page, "document.querySelector('#fix').textContent.includes('±')")
    for check in ("food", "clothing", "education", "medical"):
        page.locator(f"[data-check={check}] input[value=yes]").check()
    answer = "yes" if housing_ok else "no"
    page.locator(f"[data-check=housing] input[value={answer}]").check()
    page.select_option("#result", "confirmed" if housing_ok else "issues")
    page.fill("#notes", "住房安全" if housing_ok else "屋顶漏雨，需危房改造")
    if photo is not None:
        page.set_input_files("#photo", str(photo))
        wait_for_js(
            page,
            "document.querySelector('#photo-msg').textContent.includes('照片已压缩')",
            timeout=30_000,
        )
    page.click("#save")
    wait_for_js(page, "document.querySelector('#save-msg').textContent.includes('草稿已保存')")
    page.click("#back")
    page.wait_for_selector("#plan:not([hidden])")


def test_an_inspectors_day_offline_and_back(
    phone, server: str, plan: int, inspector, engine: sa.Engine, tmp_path: Path
) -> None:
    context, seen = phone
    users, _ = inspector
    households = stops(engine, plan)
    photo = camera_photo(tmp_path / "door.jpg")
    assert photo.stat().st_size > 3_000_000

    # online: log in, the service worker installs, the plan is downloaded
    page = open_app(context, server, seen)
    page.fill("#token", users.tokens["field"])
    page.click("#login-go")
    page.locator(f"[data-download='{plan}']").click()
    wait_for_js(page, "document.querySelector('#home-msg').textContent.includes('已存入手机')")
    assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # offline: the app reloads from the service worker, the plan from IndexedDB
    context.set_offline(True)
    page.reload()
    page.wait_for_selector("#home:not([hidden])")
    assert page.inner_text("#net") == "离线"
    page.locator(f"#offline-plans [data-plan='{plan}']").click()
    page.wait_for_selector("#plan:not([hidden])")
    assert page.locator("#stops li").count() >= 3
    wait_for_js(page, "document.querySelector('#gps').textContent.includes('±15 m')")
    assert page.locator(".me-dot").count() == 1  # the phone's position on the map
    assert page.locator("#map path").count() > 10  # roads and the route, offline
    assert page.locator("#map .leaflet-image-layer").count() == 1  # the terrain
    page.screenshot(path=str(SCREENSHOTS / "gongjian-field-plan.png"))
    record_visit(page, households[0].household_no, housing_ok=False, photo=photo)
    page.locator("#stops li", has_text=households[1].household_no).click()
    page.wait_for_selector("#household:not([hidden])")
    page.screenshot(path=str(SCREENSHOTS / "gongjian-field-household.png"), full_page=True)
    assert "子女" in page.inner_text("#card") or "户主" in page.inner_text("#card")
    page.click("#back")
    record_visit(page, households[1].household_no, housing_ok=True, photo=None)
    record_visit(page, households[2].household_no, housing_ok=True, photo=None)
    page.close()

    # the browser was closed: the drafts are still there, still offline
    page = open_app(context, server, seen)
    page.wait_for_selector("#home:not([hidden])")
    assert page.inner_text("#pending") == "3"

    # a household changed on the server since the download
    with household_changed(engine, households[2].id):
        sync_back_online(page, context, engine, plan, households)
    visit_popup_in_the_web_map(page, server, users, inspector[1], engine, plan, households)
    assert seen["leaving"] == [], f"requests left the machine: {seen['leaving'][:5]}"
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in seen["urls"] if u.startswith("http"))
    assert seen["errors"] == [], seen["errors"]


def sync_back_online(page: Page, context, engine, plan: int, households) -> None:
    """Back in signal: sync with progress, replay, and the changed household's conflict."""
    context.set_offline(False)
    wait_for_js(page, "document.querySelector('#net').textContent === '在线'")
    page.click("#sync")
    wait_for_js(
        page, "document.querySelector('#sync-msg').textContent.includes('同步完成')", timeout=30_000
    )
    message = page.inner_text("#sync-msg")
    assert "新保存 2" in message and "冲突 1" in message, message
    assert page.evaluate("document.querySelector('#sync-progress').value") == 3
    visits = field_visits(engine, plan)
    assert sorted(v.household_id for v in visits) == sorted((households[0].id, households[1].id))
    door = next(v for v in visits if v.household_id == households[0].id)
    assert door.result == "issues" and "屋顶漏雨" in door.findings and door.distance_m < 60
    assert door.accuracy_m == 15 and door.photo_sha256
    with engine.connect() as conn:
        data = conn.execute(
            sa.text("SELECT data FROM visit_photo WHERE sha256 = :s"), {"s": door.photo_sha256}
        ).scalar_one()
    assert hashlib.sha256(data).hexdigest() == door.photo_sha256
    assert len(data) < 1_000_000 and Image.open(io.BytesIO(data)).size[0] <= 1600  # compressed

    # sync again, every draft sent once more: nothing is stored twice
    page.evaluate(
        """async () => { const db = gongjianField.app.db;
           for (const d of await db.getAll('drafts')) {
             if (d.state === 'synced') { d.state = 'draft'; await db.put('drafts', d); } } }"""
    )
    page.click("#sync")
    wait_for_js(
        page, "document.querySelector('#sync-msg').textContent.includes('已存在 2')", timeout=30_000
    )
    assert len(field_visits(engine, plan)) == 2

    # the conflict: shown with what changed, stored only once the inspector confirms
    page.locator(f"#offline-plans [data-plan='{plan}']").click()
    page.locator("#stops li", has_text=households[2].household_no).click()
    page.wait_for_selector("#conflict:not([hidden])")
    assert "已被修改" in page.inner_text("#conflict") and "人口" in page.inner_text("#conflict")
    page.click("#accept")
    page.click("#back")
    page.click("#back")
    page.click("#sync")
    wait_for_js(
        page, "document.querySelector('#sync-msg').textContent.includes('新保存 1')", timeout=30_000
    )
    assert len(field_visits(engine, plan)) == 3
    page.screenshot(path=str(SCREENSHOTS / "gongjian-field-synced.png"))


def visit_popup_in_the_web_map(page, server, users, township, engine, plan, households) -> None:
    """The web map's popup of the visit shows the photo from the phone."""
    door = next(v for v in field_visits(engine, plan) if v.household_id == households[0].id)
    page.evaluate(f"localStorage.setItem('gongjian.token', '{users.tokens['field']}')")
    page.set_viewport_size({"width": 1200, "height": 800})  # the office's screen
    page.goto(f"{server}/townships/{township}")
    page.wait_for_selector("#gj-user", timeout=20_000)
    page.evaluate(f"gongjian.openVisit({door.id}, [{households[0].lat}, {households[0].lon}])")
    wait_for_js(
        page,
        "(() => { const i = document.querySelector('.gj-visit-photo');"
        " return i && i.complete && i.naturalWidth > 0; })()",
        timeout=20_000,
    )
    assert "屋顶漏雨" in page.inner_text(".gj-visit-popup")
    page.screenshot(path=str(SCREENSHOTS / "gongjian-field-webmap-popup.png"))


def field_visits(engine: sa.Engine, plan_id: int) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM visit WHERE plan_id = :p AND source = 'field' ORDER BY id"),
            {"p": plan_id},
        ).all()
