"""The monthly report: its figures equal independent counts from the raw tables, the XLSX
opens with the expected sheets and headers, the PDF's text holds the township and the month.

The demo's history is backfilled inside the ``connection`` fixture's rolled-back transaction;
the independent counts walk the raw ``household_history`` / ``help_record`` rows in Python.
"""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
from collections import Counter, defaultdict

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from geo.flags import FLAG_KINDS, Period, exit_line, monitoring_policy
from geo.policy import load_profile
from layers.history import backfill_demo_history
from layers.reports import monthly_report
from maps.reports import write_report

PROFILE = load_profile()
POLICY = monitoring_policy(PROFILE)
DANGEROUS = ("dangerous_c", "dangerous_d")


@pytest.fixture
def demo(connection: sa.Connection, demo_world: dict) -> sa.Connection:
    backfill_demo_history(connection)
    return connection


def a_township(conn: sa.Connection) -> tuple[str, str]:
    """The demo township with the most households (code, name)."""
    row = conn.execute(
        sa.text("""
        SELECT t.code, t.name FROM township t JOIN household h ON left(h.village_code, 9) = t.code
        WHERE h.synthetic GROUP BY t.code, t.name ORDER BY count(*) DESC LIMIT 1
    """)
    ).one()
    return row.code, row.name


class Archive:
    """The raw history of the demo households, walked version by version in Python."""

    def __init__(self, conn: sa.Connection) -> None:
        rows = conn.execute(
            sa.text("""
            SELECT v.id, v.household_id, v.valid_from, v.village_code, v.status, v.members,
                   v.labour_members, v.housing_status, v.cadre_id, v.incomes
            FROM household_history v JOIN household h ON h.id = v.household_id
            WHERE h.synthetic ORDER BY v.household_id, v.valid_from, v.id
        """)
        ).all()
        self.versions: dict[int, list] = defaultdict(list)
        for row in rows:
            self.versions[row.household_id].append(row)
        self.records = conn.execute(
            sa.text("""
            SELECT r.household_id, r.date, r.measure, r.cadre_id FROM help_record r
            JOIN household h ON h.id = r.household_id WHERE h.synthetic
        """)
        ).all()

    def as_of(self, day: dt.date, area: str) -> dict[int, object]:
        out = {}
        for household, versions in self.versions.items():
            known = [v for v in versions if v.valid_from <= day]
            if known and known[-1].village_code.startswith(area):
                out[household] = known[-1]
        return out

    def exits(self, period: Period, area: str) -> dict[int, object]:
        """Household -> its last change to 'exited' in the year up to the day, in the area."""
        out = {}
        for household, versions in self.versions.items():
            for before, after in itertools.pairwise(versions):
                if (
                    period.year_start <= after.valid_from <= period.as_of
                    and after.status == "exited" != before.status
                    and after.village_code.startswith(area)
                ):
                    out[household] = after
        return out


@pytest.mark.parametrize("month", ["2017-12", "2018-06"])
def test_township_figures_equal_independent_counts(demo, month: str) -> None:
    code, _ = a_township(demo)
    period = Period.of(month)
    report = monthly_report(demo, code, period, PROFILE)
    archive = Archive(demo)
    now = archive.as_of(period.as_of, code)

    by_village = report.status.set_index("unit")
    for status in ("poor", "exited", "returned"):
        expected = Counter(v.village_code for v in now.values() if v.status == status)
        assert by_village[f"{status}_households"].to_dict() == {
            unit: expected.get(unit, 0) for unit in by_village.index
        }, status
        people = sum(v.members for v in now.values() if v.status == status)
        assert by_village[f"{status}_people"].sum() == people
    assert report.summary["households"] == len(now)

    exits = archive.exits(period, code)
    in_month = [v for v in exits.values() if v.valid_from >= period.start]
    assert report.summary["exits_year_households"] == len(exits)
    assert report.summary["exits_year_people"] == sum(v.members for v in exits.values())
    assert report.summary["exits_month_households"] == len(in_month)
    people = sum(v.members for v in now.values())
    share = POLICY.exit_targets[str(period.start.year)] / POLICY.registered_people
    assert report.summary["target_year_people"] == pytest.approx(
        people * share, abs=len(by_village)
    )

    bands = Counter()
    for v in now.values():
        if not v.incomes:
            bands["unknown"] += 1
            continue
        year = max(int(y) for y in v.incomes)
        income = float(v.incomes[str(year)])
        if income < exit_line(POLICY, year, labour=False):
            bands["below_profile"] += 1
        elif income < exit_line(POLICY, year, labour=v.labour_members > 0):
            bands["below_exit"] += 1
        else:
            bands["above_exit"] += 1
    assert report.income.set_index("band")["households"].to_dict() == {
        band: bands.get(band, 0) for band in report.income["band"]
    }

    ever = {
        h
        for h in now
        if any(
            v.housing_status in DANGEROUS and v.valid_from <= period.as_of
            for v in archive.versions[h]
        )
    }
    assert report.summary["dangerous_ever"] == len(ever)
    assert report.summary["still_dangerous"] == sum(
        1 for h in ever if now[h].housing_status in DANGEROUS
    )

    measures = Counter(
        r.measure
        for r in archive.records
        if r.household_id in now and period.year_start <= r.date <= period.as_of
    )
    assert report.measures.set_index("measure")["records_year"].to_dict() == {
        m: measures.get(m, 0) for m in report.measures["measure"]
    }
    loads = Counter(v.cadre_id for v in now.values() if v.cadre_id is not None)
    assert report.cadres.set_index("cadre_id")["households"].to_dict() == dict(loads)


def test_county_report_adds_up_its_townships(demo) -> None:
    period = Period.of("2018-12")
    county = monthly_report(demo, "441882", period, PROFILE, with_flags=False)
    archive = Archive(demo)
    now = archive.as_of(period.as_of, "441882")
    assert set(county.status["unit"]) == {v.village_code[:9] for v in now.values()}
    assert county.summary["exited_households"] == sum(v.status == "exited" for v in now.values())
    assert county.summary["exits_year_households"] == len(archive.exits(period, "441882"))
    progress = county.progress.set_index("month")
    assert progress.loc["2018-12", "exits_households_cumulative"] == len(
        archive.exits(period, "441882")
    )
    june = archive.as_of(dt.date(2018, 6, 30), "441882")
    assert progress.loc["2018-06", "poor_households"] == sum(
        v.status == "poor" for v in june.values()
    )


def test_report_flags_are_counted_per_village(demo) -> None:
    code, _ = a_township(demo)
    report = monthly_report(demo, code, Period.of("2018-12"), PROFILE)
    counted = report.flags.set_index("unit")
    listed = report.flag_list
    for kind in FLAG_KINDS:
        if kind in counted.columns:
            assert counted[kind].sum() == (listed["kind"] == kind).sum(), kind
    assert report.summary["flags"] == len(listed)


EXPECTED_SHEETS = [
    "概况",
    "户数人数",
    "脱贫进度",
    "逐月进度",
    "收入分布",
    "收入分档",
    "危房改造",
    "帮扶措施",
    "干部帮扶",
    "预警汇总",
    "预警明细",
    "口径说明",
    "地图",
]


def test_xlsx_opens_with_the_sheets_and_headers_people_expect(demo, tmp_path) -> None:
    code, name = a_township(demo)
    report = monthly_report(demo, code, Period.of("2018-06"), PROFILE)
    path = write_report(report, tmp_path / "report.xlsx")
    book = load_workbook(path)
    assert [s for s in book.sheetnames if s != "覆盖情况"] == EXPECTED_SHEETS
    summary = book["概况"]
    values = {row[0].value: row[1].value for row in summary.iter_rows(min_row=2)}
    assert name in values["地区"] and values["报告月份"] == "2018年6月"
    assert values["数据说明"] == "示例数据（合成）"
    status = book["户数人数"]
    headers = [c.value for c in status[1]]
    assert headers[:8] == [
        "村代码",
        "行政村",
        "户数",
        "人数",
        "未脱贫户",
        "未脱贫人",
        "已脱贫户",
        "已脱贫人",
    ]
    assert status.freeze_panes == "A2"
    total = next(r for r in status.iter_rows(min_row=2) if r[1].value == "合计")
    assert total[2].value == report.summary["households"]
    assert total[2].number_format == "#,##0"
    assert status.column_dimensions["B"].width >= 8
    assert "示例数据（合成）" in " ".join(str(c.value) for c in status["A"] if c.value is not None)
    exits = [c.value for c in book["脱贫进度"][1]]
    assert "本年完成率" in exits and "本年目标人数" in exits
    assert book["脱贫进度"]["H2"].number_format == "0.0%"
    assert [c.value for c in book["预警明细"][1]][:5] == [
        "乡镇代码",
        "村代码",
        "户编号",
        "帮扶干部",
        "预警类型",
    ]
    assert book["地图"]._images, "the small map is embedded"


def test_pdf_text_holds_the_township_and_the_month(demo, tmp_path) -> None:
    code, name = a_township(demo)
    report = monthly_report(demo, code, Period.of("2018-06"), PROFILE)
    path = write_report(report, tmp_path / "report.pdf")
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert name in text and "2018年6月" in text and "2018-06-30" in text
    assert text.count("示例数据（合成）") >= 3  # on every page
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    assert "NotoSansCJK" in fonts
    png = tmp_path / "page"
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(path), str(png)], check=True
    )
    assert list(tmp_path.glob("page*.png"))
