"""The change map (``--changes-since``) against counts taken straight from the archive.

The expected counts are written here in SQL from household_history alone (the version in
force on each day by DISTINCT ON), independently of ``layers.history.as_of_sql`` and of
``geo.changes``; the township and the dates come from the data.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from layers.wallmap_data import ChangesSinceError, fetch_township_sheet
from maps.wallmap.drawing import SECTION_CHANGES
from maps.wallmap.render import MapOptions, build_sheet, close, save

LABELS = {  # in the order of the table's columns
    "returned": "返贫",
    "new": "新识别",
    "exited": "脱贫",
    "moved": "位置变更或迁入",
    "moved_out": "迁出本镇",
}

EXPECTED_SQL = """
WITH was AS (
    SELECT DISTINCT ON (household_id) household_id, status, village_code, geom
    FROM household_history WHERE valid_from <= :since
    ORDER BY household_id, valid_from DESC, id DESC
), now AS (
    SELECT DISTINCT ON (household_id) household_id, status, village_code, geom
    FROM household_history WHERE valid_from <= :as_of
    ORDER BY household_id, valid_from DESC, id DESC
), pairs AS (
    SELECT h.id,
           w.status AS s0, n.status AS s1, w.village_code AS v0, n.village_code AS v1,
           left(w.village_code, 9) = :t AS here0, left(n.village_code, 9) = :t AS here1,
           ST_DistanceSphere(w.geom, n.geom) AS metres,
           (SELECT min(valid_from) FROM household_history f WHERE f.household_id = h.id)
               > :since AS registered_after
    FROM household h
    LEFT JOIN was w ON w.household_id = h.id
    LEFT JOIN now n ON n.household_id = h.id
    WHERE h.scattered
)
SELECT
  count(*) FILTER (WHERE here1 AND s1 = 'exited'
                   AND ((here0 AND s0 <> 'exited') OR (NOT coalesce(here0, false)
                                                        AND registered_after))) AS exited,
  count(*) FILTER (WHERE here1 AND s1 = 'returned'
                   AND ((here0 AND s0 <> 'returned') OR (NOT coalesce(here0, false)
                                                          AND registered_after))) AS returned,
  count(*) FILTER (WHERE here1 AND NOT coalesce(here0, false) AND registered_after) AS new,
  count(*) FILTER (WHERE here1 AND ((NOT coalesce(here0, false) AND NOT registered_after)
                   OR (here0 AND (v0 <> v1 OR metres > 100)))) AS moved,
  count(*) FILTER (WHERE here0 AND NOT coalesce(here1, false)) AS moved_out
FROM pairs
"""


def expected_counts(engine, township: str, since: dt.date, as_of: dt.date) -> dict[str, int]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(EXPECTED_SQL), {"t": township, "since": since, "as_of": as_of}
        ).one()
    return dict(row._mapping)


@pytest.fixture(scope="module")
def window(demo_world, engine) -> tuple[str, dt.date, dt.date]:
    """The township with the most 返贫 in the archive's last year, and that year."""
    with engine.connect() as conn:
        as_of = conn.execute(
            sa.text("SELECT max(valid_from) FROM household_history WHERE valid_from <= now()")
        ).scalar()
        since = as_of - dt.timedelta(days=365)
        township = conn.execute(
            sa.text(
                "SELECT left(village_code, 9) FROM household_history "
                "WHERE status = 'returned' AND 'status' = ANY(changed) "
                "AND valid_from > :since AND valid_from <= :as_of "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
            ),
            {"since": since, "as_of": as_of},
        ).scalar()
    return township, since, as_of


def test_change_counts_match_the_archive(window, engine, tmp_path):
    township, since, as_of = window
    expected = expected_counts(engine, township, since, as_of)
    assert expected["returned"] > 0 and expected["exited"] > 0
    sheet = fetch_township_sheet(engine, township, as_of=as_of, changes_since=since)
    options = MapOptions(paper="A3").check()
    rendered = build_sheet(sheet, options)
    try:
        legend = {e.label: e.count for e in rendered.legend if e.section == SECTION_CHANGES}
        path = tmp_path / "changes.pdf"
        path.write_bytes(save(rendered, options))
    finally:
        close(rendered)
    for kind, n in expected.items():
        if n:
            assert legend[LABELS[kind]] == f"{n:,} 户", kind
        else:
            assert LABELS[kind] not in legend
    text = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert f"变化自 {since:%Y-%m-%d} 起" in text and "分布及变化图" in text
    # the total row of the per-village table holds the same counts, in the table's order
    total = re.search(r"合计((?:\s+[\d,]+){5})", text.split(f"自 {since:%Y-%m-%d} 以来的变化")[1])
    in_table_order = [expected[kind] for kind in LABELS]
    assert [int(v.replace(",", "")) for v in total.group(1).split()] == in_table_order
    # one row per changed household in the list (returned ones all listed)
    assert len(sheet.changes) >= max(expected.values())
    assert sum(1 for k in sheet.changes["kinds"] if "returned" in k) == expected["returned"]


def test_before_registration_every_household_is_new(window, engine):
    township, _, as_of = window
    with engine.connect() as conn:
        first = conn.execute(sa.text("SELECT min(valid_from) FROM household_history")).scalar()
    since = first - dt.timedelta(days=1)
    expected = expected_counts(engine, township, since, as_of)
    sheet = fetch_township_sheet(engine, township, as_of=as_of, changes_since=since)
    assert expected["new"] == len(sheet.households) > 0
    assert (sheet.households["change"] == "new").sum() + (
        sheet.households["change"] == "returned"
    ).sum() == len(sheet.households)


def test_cli_prints_counts_and_rejects_a_later_date(
    window, engine, database_url, tmp_path, monkeypatch
):
    from api.cli import app

    township, since, as_of = window
    monkeypatch.setenv("DATABASE_URL", database_url)
    target = tmp_path / "cli.pdf"
    args = ["map", "township", township, "--paper", "A4", "-o", str(target)]
    result = CliRunner().invoke(app, [*args, "--changes-since", since.isoformat()])
    assert result.exit_code == 0, result.output
    assert f"changes since {since}" in result.output and target.stat().st_size > 10_000
    bad = CliRunner().invoke(app, [*args, "--changes-since", (as_of + dt.timedelta(1)).isoformat()])
    assert bad.exit_code == 2 and "--changes-since" in bad.output
    with pytest.raises(ChangesSinceError):
        fetch_township_sheet(engine, township, changes_since=as_of)


def test_moves_are_counted_as_the_archive_has_them(demo_world, engine):
    """A window holding position corrections of the demo (points moved 0.6–2 km)."""
    from geo.changes import count_changes

    with engine.connect() as conn:
        day, township = conn.execute(
            sa.text(
                "SELECT valid_from, left(village_code, 9) FROM household_history "
                "WHERE 'geom' = ANY(changed) AND NOT 'status' = ANY(changed) "
                "AND cardinality(changed) < 5 ORDER BY valid_from, id LIMIT 1"
            )
        ).one()
    since, as_of = day - dt.timedelta(days=1), day + dt.timedelta(days=200)
    expected = expected_counts(engine, township, since, as_of)
    sheet = fetch_township_sheet(engine, township, as_of=as_of, changes_since=since)
    assert expected["moved"] > 0
    assert count_changes(sheet.changes["kinds"]) == expected
