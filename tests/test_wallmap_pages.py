"""A sheet is complete in every format: every page in PDF, PNG, SVG and the tiled print; the
web twin and the county atlas show the asked date and count by status as the sheets do.

Expected figures come straight from household_history (the version in force on a day, by
DISTINCT ON), independently of ``layers.history.as_of_sql``; townships are chosen from the
database, not hard-coded.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image
from typer.testing import CliRunner

from layers.wallmap_data import county_overview, fetch_township_sheet
from maps.wallmap.render import MapOptions, build_sheet, close, render_html, save, save_pages

STATUS_ON_DAY = """
SELECT DISTINCT ON (v.household_id) v.household_id, v.status, v.village_code
FROM household_history v JOIN household h ON h.id = v.household_id
WHERE v.valid_from <= :day AND h.scattered
ORDER BY v.household_id, v.valid_from DESC, v.id DESC
"""


def statuses_on(engine, day: dt.date, area: str) -> list[tuple[str, str]]:
    """(status, village code) of each scattered household in ``area`` on ``day``."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(STATUS_ON_DAY), {"day": day}).all()
    return [(r.status, r.village_code) for r in rows if r.village_code.startswith(area)]


def pdf_pages(data: bytes, folder: Path, name: str) -> list[str]:
    """The text of every page of a PDF (pdftotext, form feed between pages)."""
    path = folder / name
    path.write_bytes(data)
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return text.split("\f")[:-1]


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def busiest(demo_world, engine) -> str:
    """The demo township with the most scattered households (its sheet needs 附表 pages)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT v.township_code FROM household h JOIN village v ON v.code = h.village_code "
                "WHERE h.scattered AND h.synthetic GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
            )
        ).scalar()


@pytest.fixture(scope="module")
def a2_sheet(busiest, engine):
    sheet = fetch_township_sheet(engine, busiest)
    return sheet


def test_every_page_is_in_the_pdf_png_and_svg(a2_sheet, tmp_path):
    options = MapOptions(paper="A2").check()
    rendered = build_sheet(a2_sheet, options)
    try:
        pages = pdf_pages(save(rendered, options), tmp_path, "sheet.pdf")
        svgs = save_pages(rendered, MapOptions(paper="A2", fmt="svg").check())
        pngs = save_pages(rendered, MapOptions(paper="A2", fmt="png", dpi=30).check())
    finally:
        close(rendered)
    assert len(pages) >= 2, "the busiest township's A2 sheet has 附表 pages"
    assert "附表" not in pages[0].split("\n")[0] and all("附表" in p for p in pages[1:])
    assert f"共 {len(pages)} 页" in pages[0]
    assert len(svgs) == len(pngs) == len(pages)
    for number, svg in enumerate(svgs, start=1):
        text = svg.decode()
        assert text.lstrip().startswith("<?xml") and "<svg" in text[:2000]
        assert f"第 {number} 页 / 共 {len(pages)} 页" in text
    # every roster member's name is somewhere on the pages, in PDF and SVG alike
    names = set(a2_sheet.roster["name"])
    svg_text = "".join(s.decode() for s in svgs)
    assert names and all(n in "".join(pages) and n in svg_text for n in names)
    for png in pngs:
        width, height = sorted(Image.open(io.BytesIO(png)).size)
        assert abs(width - 420 / 25.4 * 30) <= 1 and abs(height - 594 / 25.4 * 30) <= 1


def test_cli_writes_one_svg_per_page(busiest, database_url, tmp_path, monkeypatch):
    from api.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    target = tmp_path / "sheet.svg"
    args = ["map", "township", busiest, "--paper", "A2", "--format", "svg", "-o", str(target)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    files = sorted(tmp_path.glob("sheet*.svg"))
    assert len(files) >= 2 and target in files
    total = len(files)
    for number in range(2, total + 1):
        page = (tmp_path / f"sheet-{number}.svg").read_text()
        assert "附表" in page and f"第 {number} 页 / 共 {total} 页" in page


def test_tiled_print_ends_with_the_appendix_on_tile_paper(a2_sheet, tmp_path):
    options = MapOptions(paper="A2", tiles="A3").check()
    rendered = build_sheet(a2_sheet, options)
    try:
        appendix = len(rendered.pages) - 1
        pages = pdf_pages(save(rendered, options), tmp_path, "tiles.pdf")
    finally:
        close(rendered)
    assert appendix >= 1
    sizes = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "999", str(tmp_path / "tiles.pdf")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert set(re.findall(r"\((A\d)\)", sizes)) == {"A3"}
    tiles = len(pages) - 1 - appendix
    assert tiles >= 2 and "拼贴索引" in pages[0]
    assert f"共 {1 + appendix} 页" in "".join(pages[1 : 1 + tiles])  # the label on the sheet
    for page in pages[-appendix:]:
        assert "附表" in page
    assert "附表" in compact(pages[0])  # the index says where the 附表 are
    names = set(a2_sheet.roster["name"])
    assert all(n in "".join(pages[-appendix:]) for n in names)


def test_default_date_is_the_archive_latest_effective_date(a2_sheet, busiest, engine):
    with engine.connect() as conn:
        latest = conn.execute(
            sa.text(
                "SELECT max(valid_from) FROM household_history "
                "WHERE left(village_code, 9) = :t AND valid_from <= current_date"
            ),
            {"t": busiest},
        ).scalar()
    assert latest < dt.date.today()  # the demo's records end years ago
    assert a2_sheet.as_of == latest


def _first_exit(engine, township: str) -> dt.date:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT min(valid_from) FROM household_history WHERE status = 'exited' "
                "AND 'status' = ANY(changed) AND left(village_code, 9) = :t"
            ),
            {"t": township},
        ).scalar()


def _html_statuses(html: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for match in re.finditer(r'"status": "(\w+)", "status_label"', html):
        counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts


def test_html_twin_honours_as_of(busiest, engine):
    first_exit = _first_exit(engine, busiest)
    for day in (first_exit - dt.timedelta(days=1), first_exit + dt.timedelta(days=400)):
        html = render_html(engine, busiest, public=True, as_of=day).decode()
        assert f"截至 {day:%Y-%m-%d}" in html
        expected: dict[str, int] = {}
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT DISTINCT ON (v.household_id) v.status, v.village_code "
                    "FROM household_history v WHERE v.valid_from <= :day "
                    "ORDER BY v.household_id, v.valid_from DESC, v.id DESC"
                ),
                {"day": day},
            ).all()
        for status, village in rows:
            if village.startswith(busiest):
                expected[status] = expected.get(status, 0) + 1
        assert _html_statuses(html) == expected
    assert "exited" not in _html_statuses(
        render_html(engine, busiest, public=True, as_of=first_exit - dt.timedelta(days=1)).decode()
    )


def test_atlas_cover_counts_by_status_as_the_sheets_do(demo_world, busiest, engine, tmp_path):
    from maps.wallmap.atlas import contents_page
    from maps.wallmap.paper import Paper

    county = busiest[:6]
    with engine.connect() as conn:
        day = conn.execute(
            sa.text(
                "SELECT max(valid_from) FROM household_history "
                "WHERE left(village_code, 6) = :c AND valid_from <= current_date"
            ),
            {"c": county},
        ).scalar()
    overview = county_overview(engine, county, day)
    figure = contents_page("连州市", overview, {}, Paper.named("A3", "portrait"), day, True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="pdf")
    text = compact(pdf_pages(buffer.getvalue(), tmp_path, "cover.pdf")[0])
    statuses = statuses_on(engine, day, county)
    with engine.connect() as conn:
        names = dict(
            conn.execute(
                sa.text("SELECT code, name FROM township WHERE county_code = :c"), {"c": county}
            ).all()
        )
    returned_somewhere = False
    for code, name in names.items():
        mine = [status for status, village in statuses if village.startswith(code)]
        poor, returned = mine.count("poor"), mine.count("returned")
        returned_somewhere |= returned > 0
        expected = (
            f"{name}分散贫困户{len(mine):,}户，其中未脱贫{poor:,}户、返贫{returned:,}户、"
            f"已脱贫{mine.count('exited'):,}户"
        )
        assert expected in text, (expected, text[:400])
    assert returned_somewhere  # the demo has 返贫 households, so the split is tested


def test_http_route_serves_each_page_and_the_asked_date(busiest, engine):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from layers.access import add_user

    name = "test-wallmap-pages"
    token = add_user(engine, name, "viewer", busiest, actor="test")
    first_exit = _first_exit(engine, busiest)
    day = first_exit - dt.timedelta(days=1)
    try:
        with TestClient(create_app(engine)) as client:
            headers = {"Authorization": f"Bearer {token}"}
            url = f"/maps/townships/{busiest}/gongjian"
            second = client.get(f"{url}.svg", params={"paper": "A2", "page": 2}, headers=headers)
            assert second.status_code == 200 and "附表" in second.text
            html = client.get(f"{url}.html", params={"as_of": day.isoformat()}, headers=headers)
            assert html.status_code == 200 and f"截至 {day:%Y-%m-%d}" in html.text
            assert "exited" not in _html_statuses(html.text)
            missing = client.get(f"{url}.png", params={"paper": "A2", "page": 99}, headers=headers)
            assert missing.status_code == 404
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM api_user WHERE name = :n"), {"n": name})
