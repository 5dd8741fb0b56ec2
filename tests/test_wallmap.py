"""The 攻坚图 of the demo townships, checked the way a user would: with poppler's tools.

Every demo township at A4 and one at A0: page sizes, the text a reader looks for
(title, villages, roster, legend, date), rendering, symbols inside the township at the
households' positions, the embedded CJK font, masking on public sheets, determinism.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from PIL import Image

from layers.wallmap_data import fetch_township_sheet, synthetic_township_codes
from maps.wallmap import symbology as sym
from maps.wallmap.paper import ISO_A
from maps.wallmap.render import MapOptions, build_sheet, close, render_township_map, save

AS_OF = dt.date(2017, 6, 30)
DATE_TEXT = "截至 2017年06月30日"
PT_PER_MM = 72 / 25.4
CHECK_DPI = 100
SMALL_TOWNSHIP = "441882201"  # 三水瑶族乡: 4 villages, the quickest sheet to render


@dataclass
class Rendered:
    code: str
    paper: str
    pdf: Path
    sheet: object
    marks: object
    township_px: shapely.Geometry  # the township on the page-1 image at CHECK_DPI
    legend: list
    labels: list
    page_height_mm: float


def render(code: str, paper: str, folder: Path, engine, **options) -> Rendered:
    sheet = fetch_township_sheet(engine, code, as_of=AS_OF, public=options.pop("public", False))
    opts = MapOptions(paper=paper, **options).check()
    rendered = build_sheet(sheet, opts)
    try:
        path = folder / f"{code}_{paper}.pdf"
        path.write_bytes(save(rendered, opts))
        view = rendered.plan.view
        H = rendered.plan.paper.height_mm
        township = sheet.township.to_crs(view.frame.crs).geometry.iloc[0]

        def to_px(coords):
            x, y = view.to_paper(coords[:, 0], coords[:, 1])
            return np.column_stack([x / 25.4 * CHECK_DPI, (H - y) / 25.4 * CHECK_DPI])

        return Rendered(
            code,
            paper,
            path,
            sheet,
            rendered.household_marks.copy(),
            shapely.transform(township, to_px),
            rendered.legend,
            rendered.frame.labels,
            H,
        )
    finally:
        close(rendered)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("wallmap")


@pytest.fixture(scope="module")
def a4_sheets(demo_world, engine, folder) -> list[Rendered]:
    """Every demo township at A4 (about 3 s each)."""
    return [render(code, "A4", folder, engine) for code in synthetic_township_codes(engine)]


@pytest.fixture(scope="module")
def a0_sheet(demo_world, engine, folder) -> Rendered:
    """The township with the most households, at A0."""
    with engine.connect() as conn:
        code = conn.execute(
            sa.text(
                "SELECT v.township_code FROM household h JOIN village v ON v.code = h.village_code "
                "WHERE h.scattered GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
            )
        ).scalar()
    return render(code, "A0", folder, engine)


def pdftotext(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def page_sizes_mm(path: Path) -> list[tuple[float, float]]:
    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "999", str(path)], check=True, capture_output=True, text=True
    ).stdout
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info)
    return [(float(w) / PT_PER_MM, float(h) / PT_PER_MM) for w, h in sizes]


def page_image(path: Path, dpi: int = CHECK_DPI) -> np.ndarray:
    prefix = path.with_suffix("")
    subprocess.run(
        [
            "pdftoppm",
            "-f",
            "1",
            "-l",
            "1",
            "-r",
            str(dpi),
            "-png",
            "-singlefile",
            str(path),
            str(prefix),
        ],
        check=True,
    )
    return np.asarray(Image.open(f"{prefix}.png").convert("RGB")).astype(int)


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_iso(path: Path, paper: str) -> None:
    short, long = ISO_A[paper]
    sizes = page_sizes_mm(path)
    assert sizes
    for w, h in sizes:
        expected = (long, short) if w > h else (short, long)
        assert abs(w - expected[0]) <= 1.0 and abs(h - expected[1]) <= 1.0, (w, h)


# --- every township at A4 -----------------------------------------------------------------


def test_every_demo_township_has_an_a4_sheet_of_iso_size(a4_sheets):
    assert len(a4_sheets) == 12
    for item in a4_sheets:
        assert_iso(item.pdf, "A4")


def test_sheets_hold_title_villages_roster_legend_and_date(a4_sheets):
    for item in a4_sheets:
        text = pdftotext(item.pdf)
        flat = compact(text)
        sheet = item.sheet
        assert compact(f"{sheet.name}分散贫困户分布图（攻坚图）") in flat
        assert compact(DATE_TEXT) in flat
        assert sheet.county_name in flat
        assert "示例数据（合成）" in flat
        for name in sheet.villages["name"]:
            assert name in flat, f"{sheet.name}: village {name} missing"
        for name in sheet.roster["name"]:
            assert name in flat, f"{sheet.name}: roster member {name} missing"
        for phone in sheet.roster["phone"].dropna():
            assert phone in flat
        for entry in item.legend:
            assert compact(entry.label) in flat, entry.label


def test_legend_lists_what_is_on_the_map_with_live_counts(a4_sheets):
    for item in a4_sheets:
        by_label = {e.label: e for e in item.legend}
        hh = item.sheet.households
        for status, label in sym.STATUS_LABELS.items():
            n = int((hh["status"] == status).sum())
            if n:
                assert by_label[label].count == f"{n:,} 户"
            else:
                assert label not in by_label
        key_villages = item.sheet.villages["key_level"].notna().sum()
        assert any(e.label.startswith("★") for e in item.legend) == bool(key_villages)


def test_household_symbols_sit_inside_the_township_at_their_positions(a4_sheets):
    for item in a4_sheets[:4]:
        image = page_image(item.pdf)
        marks = item.marks
        px = marks["x_mm"].to_numpy() / 25.4 * CHECK_DPI
        py = (item.page_height_mm - marks["y_mm"].to_numpy()) / 25.4 * CHECK_DPI
        inside = shapely.contains_xy(item.township_px.buffer(1.0), px, py)
        assert inside.all(), f"{item.sheet.name}: {(~inside).sum()} symbols outside"
        colours = np.array([_hex(sym.STATUS_COLOURS[s]) for s in marks["status"]])
        rows, cols = np.round(py).astype(int), np.round(px).astype(int)
        close_enough = np.zeros(len(marks), dtype=bool)
        for dr in (-1, 0, 1):  # the symbol's face within a pixel of its centre (anti-aliasing)
            for dc in (-1, 0, 1):
                found = image[rows + dr, cols + dc]
                close_enough |= np.abs(found - colours).max(axis=1) <= 60
        # labels (with a white halo) may cover symbols; nothing else does
        labels = shapely.union_all(
            [shapely.box(b.x0, b.y0, b.x1, b.y1).buffer(1.0) for _, b in item.labels]
        )
        free = ~shapely.contains_xy(labels, marks["x_mm"].to_numpy(), marks["y_mm"].to_numpy())
        assert free.mean() >= 0.7, f"{item.sheet.name}: {free.mean():.0%} not under a label"
        shown = close_enough[free].mean()
        assert shown >= 0.97, f"{item.sheet.name}: {shown:.0%}"


def _hex(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def test_village_labels_do_not_collide(a4_sheets):
    for item in a4_sheets:
        villages = [box for name, box in item.labels if name.startswith("village:")]
        assert len(villages) == len(item.sheet.villages)
        for i, a in enumerate(villages):
            assert not any(a.overlaps(b) for b in villages[i + 1 :])
        everything = [box for _, box in item.labels]
        overlaps = sum(a.overlaps(b) for i, a in enumerate(everything) for b in everything[i + 1 :])
        assert overlaps == 0


def test_cjk_font_is_embedded_as_a_subset(a4_sheets):
    fonts = subprocess.run(
        ["pdffonts", str(a4_sheets[0].pdf)], check=True, capture_output=True, text=True
    ).stdout
    rows = [line for line in fonts.splitlines() if "NotoSansCJKsc" in line]
    assert rows
    for row in rows:
        assert re.search(r"CID TrueType\s+Identity-H\s+yes\s+yes\s+yes", row), row


# --- A0, tiles, public, determinism -------------------------------------------------------------


def test_a0_sheet_is_iso_small_and_complete(a0_sheet):
    assert_iso(a0_sheet.pdf, "A0")
    assert a0_sheet.pdf.stat().st_size < 20_000_000
    flat = compact(pdftotext(a0_sheet.pdf))
    for name in [*a0_sheet.sheet.villages["name"], *a0_sheet.sheet.roster["name"]]:
        assert name in flat
    image = page_image(a0_sheet.pdf, dpi=20)
    assert image.shape[1] == pytest.approx(1189 / 25.4 * 20, abs=2)
    assert image.std() > 10  # not a blank page


def test_a0_type_is_large_enough_to_read_from_two_metres(a0_sheet):
    """Village names on the map are real text, at least 7 mm high on A0."""
    words = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", "-bbox", str(a0_sheet.pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    boxes = re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">(.+?)</word>', words)
    heights = {}
    for y0, y1, word in boxes:
        heights[word] = max(heights.get(word, 0.0), (float(y1) - float(y0)) / PT_PER_MM)
    for name in a0_sheet.sheet.villages["name"]:
        key = "★" + name if "★" + name in heights else name
        assert heights.get(key, 0) >= 7.0, (name, heights.get(key))


def test_tiles_split_a_sheet_into_a3_pages_with_an_index(demo_world, engine, folder):
    pdf = render_township_map(engine, "441882102", paper="A1", tiles="A3", as_of=AS_OF)
    path = folder / "tiles.pdf"
    path.write_bytes(pdf)
    sizes = page_sizes_mm(path)
    assert 1 + 4 <= len(sizes) <= 1 + 12
    assert_iso(path, "A3")
    text = pdftotext(path)
    assert "拼贴索引" in text and "A1" in text and "B2" in text
    assert page_image(path, dpi=30).std() > 10


def test_public_sheets_hold_no_household_name_and_no_id_number(demo_world, engine, folder):
    item = render("441882102", "A3", folder, engine, public=True)
    text = pdftotext(item.pdf)
    with engine.connect() as conn:
        names, ids = zip(
            *conn.execute(
                sa.text(
                    "SELECT h.head_name, coalesce(h.id_number, '') FROM household h "
                    "JOIN village v ON v.code = h.village_code WHERE v.township_code = '441882102'"
                )
            ).all(),
            strict=True,
        )
    words = set(re.split(r"[\s、：；，（）()]+", text))
    officials = set(item.sheet.roster["name"]) | set(item.sheet.cadres["name"])
    leaked = (set(names) & words) - officials
    assert not leaked
    assert any(re.fullmatch(r".\*+.?", w) for w in words)  # the masked names (张*明) are there
    assert not any(i and i in text for i in ids)
    assert not re.search(r"\d{17}[\dX]", text)
    assert "户主姓名已隐去" in text
    assert any(name in text for name in item.sheet.roster["name"])  # officials stay


def test_same_data_gives_the_same_pdf_and_svg(demo_world, engine):
    first = render_township_map(engine, SMALL_TOWNSHIP, paper="A4", as_of=AS_OF)
    second = render_township_map(engine, SMALL_TOWNSHIP, paper="A4", as_of=AS_OF)
    assert first == second
    svg1 = render_township_map(engine, SMALL_TOWNSHIP, paper="A4", fmt="svg", as_of=AS_OF)
    svg2 = render_township_map(engine, SMALL_TOWNSHIP, paper="A4", fmt="svg", as_of=AS_OF)
    assert svg1 == svg2 and b"<svg" in svg1[:1000]
    assert b"<text" in svg1 and b"Gongjian Noto" not in svg1  # text as text, common font names


def test_as_of_shows_the_status_the_archive_held_that_day(demo_world, engine):
    with engine.connect() as conn:
        first_exit = conn.execute(
            sa.text(
                "SELECT min(valid_from) FROM household_history WHERE status = 'exited' "
                "AND 'status' = ANY(changed) AND village_code LIKE '441882102%'"
            )
        ).scalar()
    day_before = first_exit - dt.timedelta(days=1)
    before_exits = fetch_township_sheet(engine, "441882102", as_of=day_before)
    after = fetch_township_sheet(engine, "441882102", as_of=dt.date(2019, 1, 1))
    assert set(before_exits.households["status"]) == {"poor"}
    assert (after.households["status"] == "exited").sum() > 0
    assert len(before_exits.households) == len(after.households)


def test_cause_colouring_lists_causes(demo_world, engine, folder):
    item = render(SMALL_TOWNSHIP, "A4", folder, engine, color_by="cause")
    labels = {e.label for e in item.legend}
    causes = set(item.sheet.households["main_cause"].map(sym.vocab.CAUSE))
    assert causes <= labels


def test_cli_writes_a_png_at_the_asked_dpi(demo_world, database_url, folder, monkeypatch):
    from typer.testing import CliRunner

    from api.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    target = folder / "cli.png"
    result = CliRunner().invoke(
        app,
        [
            "map",
            "township",
            SMALL_TOWNSHIP,
            "--paper",
            "A4",
            "--format",
            "png",
            "--dpi",
            "60",
            "-o",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    width, height = sorted(Image.open(target).size)
    assert abs(width - 210 / 25.4 * 60) <= 1 and abs(height - 297 / 25.4 * 60) <= 1
    bad = CliRunner().invoke(app, ["map", "township", "999999999", "-o", str(folder / "x.pdf")])
    assert bad.exit_code == 2 and "999999999" in bad.output


def test_coverage_results_add_rings_and_a_column(demo_world, engine):
    """Once coverage exists, uncovered households get a ring and the table a 未覆盖 column."""
    from maps.wallmap import content

    sheet = fetch_township_sheet(engine, SMALL_TOWNSHIP, as_of=AS_OF)
    assert "uncovered" in sheet.households  # from the coverage join (NULL until computed)
    flagged = sheet.households["id"] % 3 == 0  # as if the analysis had flagged a third
    sheet.households["uncovered"] = flagged
    rendered = build_sheet(sheet, MapOptions(paper="A4").check())
    try:
        entry = next(e for e in rendered.legend if "未覆盖" in e.label)
        assert entry.count == f"{int(flagged.sum()):,} 户"
        table = content.statistics_table(sheet)
        assert table.columns[-1].title == "未覆盖"
        assert table.rows[-1][-1] == f"{int(flagged.sum()):,}"
    finally:
        close(rendered)


def test_sectors_outline_each_cadres_households(demo_world, engine):
    sheet = fetch_township_sheet(engine, SMALL_TOWNSHIP, as_of=AS_OF)
    rendered = build_sheet(sheet, MapOptions(paper="A4", sectors=True).check())
    try:
        entry = next(e for e in rendered.legend if "包片" in e.label)
        assert entry.count == f"{sheet.households['cadre_id'].nunique()} 人"
        named = [n for n, _ in rendered.frame.labels if n.startswith("point:")]
        assert any(n[6:] in set(sheet.cadres["name"]) for n in named)
    finally:
        close(rendered)


def test_relocation_candidates_are_framed_and_whole_hamlets_outlined(demo_world, engine):
    """After `gongjian relocation`, candidates get an orange frame and whole-hamlet
    relocations a dashed outline, with counts in the legend that match the analysis."""
    from layers import relocation
    from maps.wallmap.overlays import RELOCATION_MARKS

    with engine.connect() as conn:
        assessed = conn.execute(sa.text("SELECT count(*) FROM relocation_household")).scalar()
    if not assessed:
        relocation.refresh(engine, county="441882")
    with engine.connect() as conn:
        code = conn.execute(
            sa.text(
                "SELECT township_code FROM relocation_group WHERE relocation = 'whole' "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
            )
        ).scalar()
        expected = dict(
            conn.execute(
                sa.text(
                    "SELECT r.relocation, count(*) FROM relocation_household r "
                    "JOIN household h ON h.id = r.household_id "
                    "WHERE r.candidate AND h.scattered AND r.township_code = :code GROUP BY 1"
                ),
                {"code": code},
            ).all()
        )
        outlined = conn.execute(
            sa.text(
                "SELECT count(DISTINCT r.group_key) FROM relocation_household r "
                "JOIN household h ON h.id = r.household_id WHERE r.relocation = 'whole' "
                "AND h.scattered AND r.township_code = :code"
            ),
            {"code": code},
        ).scalar()
    sheet = fetch_township_sheet(engine, code, as_of=dt.date.today())
    rendered = build_sheet(sheet, MapOptions(paper="A4").check())
    try:
        counts = {e.label: e.count for e in rendered.legend if "搬迁" in e.label}
    finally:
        close(rendered)
    # outlines only round the households this sheet draws, not the neighbours' groups
    assert counts["整体搬迁自然村范围"] == f"{outlined} 处"
    assert expected.get("whole")
    for kind, n in expected.items():
        assert counts[RELOCATION_MARKS[kind][0]] == f"{n:,} 户"
