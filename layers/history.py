"""The dynamic archive (动态档案, seed 000): households as of any date, and the demo's history.

Every change to a household (status, category, housing, members, cadre, village, location)
and to its card's incomes is kept in ``household_history`` by the triggers of migration 0005,
whoever writes (imports, API edits, the demo loader, psql). A version holds the full state,
valid from its effective date until the next version. To date a change other than today::

    with conn.begin():
        set_effective_date(conn, dt.date(2017, 11, 20))   # SET LOCAL gongjian.effective_date
        conn.execute(sa.text("UPDATE household SET status = 'exited', exit_year = 2017 ..."))

:func:`as_of_sql` is the household table as of ``:as_of`` (same column names), for maps,
exports, reports and flags; :func:`households_as_of` and :func:`timeline` read it.

:func:`backfill_demo_history` rebuilds a plausible history of the synthetic households from
what the generator knows (registration year, exit year, 返贫, incomes 2015–2018, the
危房改造 help record), with a few deliberate anomalies for the flags to find.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa

from layers.features import Collection, TileSpec, equals, integer, register, township_of

# --- writing: the effective date and the writer -------------------------------------------


def set_effective_date(conn: sa.Connection, day: dt.date | None) -> None:
    """Date the household changes of the current transaction (None: the day of the change)."""
    value = "" if day is None else day.isoformat()
    conn.execute(sa.text("SELECT set_config('gongjian.effective_date', :d, true)"), {"d": value})


def set_actor(conn: sa.Connection, actor: str) -> None:
    """Name the writer of the current transaction's changes in ``household_history.source``."""
    conn.execute(sa.text("SELECT set_config('gongjian.actor', :a, true)"), {"a": actor})


# --- writing in bulk: new households' first versions, set-based -------------------------------

# The archive triggers (migration 0005) that a bulk load of new households stands in for.
FIRST_VERSION_TRIGGERS = {
    "household": "trg_household_history_insert",
    "household_income": "trg_household_income_history_insert",
}


@contextlib.contextmanager
def first_versions_written_by_caller(conn: sa.Connection) -> Iterator[None]:
    """Inside, inserting households and incomes adds no version: the caller inserts only NEW
    households (and their incomes) and then writes their first versions with
    :func:`write_first_versions`.

    The insert trigger gathers the new households' incomes from ``household_income`` by one
    GROUP BY over every income row (2.8 million for the province), the slowest part of a
    bulk load; the caller knows each household's incomes already. The triggers are disabled
    inside the caller's transaction (DDL is transactional: a failure re-enables them), which
    needs the table owner and locks the tables as a bulk load does anyway.
    """
    for table, trigger in FIRST_VERSION_TRIGGERS.items():
        conn.execute(sa.text(f'ALTER TABLE "{table}" DISABLE TRIGGER "{trigger}"'))
    yield
    for table, trigger in FIRST_VERSION_TRIGGERS.items():
        conn.execute(sa.text(f'ALTER TABLE "{table}" ENABLE TRIGGER "{trigger}"'))


def write_first_versions(conn: sa.Connection, new_ids: str, incomes: str) -> int:
    """One 'insert' version per household of ``new_ids`` (SQL with an ``id`` column), as the
    insert trigger would write it: dated by :func:`set_effective_date`, signed by
    :func:`set_actor`, the household's fields as stored, and its incomes from ``incomes``
    (SQL with ``household_id``; ``incomes``, a jsonb {year: per-capita income} whose amounts
    are numeric(14, 2) like the income table's; ``income`` and ``income_year``, the latest
    year's). Returns the versions written.
    """
    fields = ", ".join(f"h.{f}" for f in ALL_FIELDS if f != "incomes")
    columns = ", ".join(f for f in ALL_FIELDS if f != "incomes")
    changed = "ARRAY[" + ", ".join(f"'{f}'" for f in ALL_FIELDS) + "]::text[]"
    return conn.execute(
        sa.text(f"""
        INSERT INTO household_history (household_id, valid_from, action, changed, source,
                                       {columns}, incomes, income, income_year)
        SELECT h.id, gongjian_meta.history_date(), 'insert', {changed},
               gongjian_meta.history_source(), {fields}, coalesce(i.incomes, '{{}}'),
               i.income, i.income_year
        FROM household h JOIN ({new_ids}) n ON n.id = h.id
        LEFT JOIN ({incomes}) i ON i.household_id = h.id""")
    ).rowcount


# --- reading: households as of a date --------------------------------------------------------

# Columns of the as-of rows: every column of the household table (the kept fields from the
# version in force, the others as they are now), then the card's incomes and the version.
AS_OF_COLUMNS = (
    "id", "household_no", "village_code", "hamlet_id", "geom", "head_name", "id_number",
    "phone", "members", "labour_members", "category", "main_cause", "secondary_cause",
    "housing_status", "status", "exit_year", "cadre_id", "scattered", "registered_year",
    "created_at", "updated_at", "version", "synthetic", "listed_road_km",
    "listed_road_surface", "listed_safe_water",
    "township_code", "incomes", "income", "income_year", "version_id", "version_from", "since",
)  # fmt: skip


def scope_range(scope: str | None) -> tuple[str, str]:
    """The village codes under a 6/9/12-digit code as a range (an index range scan).

    >>> scope_range("441882100")
    ('441882100000', '441882100999')
    """
    scope = scope or ""
    return scope.ljust(12, "0"), scope.ljust(12, "9")


# The households that were ever in an area (index range scan on household_history).
CANDIDATES_SQL = """(
    SELECT DISTINCT s.household_id FROM household_history s
    WHERE s.village_code BETWEEN CAST({lo} AS char(12)) AND CAST({hi} AS char(12))) c"""


def as_of_sql(
    scope_param: str | None = "scope", day_param: str = "as_of", candidates: str | None = None
) -> str:
    """SELECT of the households in ``:scope_lo..:scope_hi`` as of ``:as_of``, one row each.

    A drop-in for the household table (:data:`AS_OF_COLUMNS`: the same columns first), e.g.
    ``FROM ({as_of_sql()}) h`` in a map or export query. A household counts where its version
    in force on the day puts it (it may have moved villages since); households registered
    later, or deleted, are absent. Bind with :func:`as_of_params`. ``scope_param=None``:
    every household. ``candidates``: a table (column household_id) already holding the
    households ever in the area (see :data:`CANDIDATES_SQL`).
    """
    area = ""
    if scope_param is not None:
        lo, hi = f":{scope_param}_lo", f":{scope_param}_hi"
        between = f"BETWEEN CAST({lo} AS char(12)) AND CAST({hi} AS char(12))"
        ever = candidates or CANDIDATES_SQL.format(lo=lo, hi=hi)
        area = f"WHERE h.id IN (SELECT household_id FROM {ever}) AND v.village_code {between}"
    return f"""
        SELECT h.id, h.household_no, v.village_code, v.hamlet_id, v.geom, h.head_name,
               h.id_number, h.phone, v.members, v.labour_members, v.category, h.main_cause,
               h.secondary_cause, v.housing_status, v.status, v.exit_year, v.cadre_id,
               h.scattered, h.registered_year, h.created_at, h.updated_at, h.version,
               h.synthetic, h.listed_road_km, h.listed_road_surface, h.listed_safe_water,
               left(v.village_code, 9) AS township_code, v.incomes, v.income,
               v.income_year, v.id AS version_id, v.valid_from AS version_from,
               (SELECT min(f.valid_from) FROM household_history f
                WHERE f.household_id = h.id) AS since
        FROM household h
        JOIN LATERAL (
            SELECT * FROM household_history x
            WHERE x.household_id = h.id AND x.valid_from <= :{day_param}
            ORDER BY x.valid_from DESC, x.id DESC LIMIT 1
        ) v ON true
        {area}
    """


def as_of_params(scope: str | None, day: dt.date, scope_param: str = "scope") -> dict:
    lo, hi = scope_range(scope)
    return {f"{scope_param}_lo": lo, f"{scope_param}_hi": hi, "as_of": day}


def households_as_of(conn: sa.Connection, day: dt.date, scope: str | None = None):
    """The households of ``scope`` (county/township/village code) as they were on ``day``.

    A GeoDataFrame with :data:`AS_OF_COLUMNS` (incomes as a {year: yuan} dict).
    """
    sql = as_of_sql("scope" if scope else None) + " ORDER BY id"
    return gpd.read_postgis(
        sa.text(sql), conn, geom_col="geom", params=as_of_params(scope, day), crs="EPSG:4326"
    )


def timeline(conn: sa.Connection, household_id: int) -> pd.DataFrame:
    """Every version of one household, oldest first (the card's 动态档案)."""
    return pd.read_sql(
        sa.text(
            "SELECT id, valid_from, recorded_at, action, changed, source, village_code, "
            "hamlet_id, ST_X(geom) AS lon, ST_Y(geom) AS lat, members, labour_members, "
            "category, housing_status, status, exit_year, cadre_id, incomes, income, "
            "income_year FROM household_history WHERE household_id = :id "
            "ORDER BY valid_from, id"
        ),
        conn,
        params={"id": household_id},
    )


def data_date(conn: sa.Connection, scope: str | None = None) -> dt.date:
    """The default "as of" date: the latest effective date in the area's data, not today.

    The latest version of a household or help record: reports, flags and the dashboard then
    describe the data as it stands, and importing a list (or the frozen synthetic demo,
    whose records end in 2018) does not move the date to the wall clock, which would call
    every household neglected since its last record. Today only for an empty area.
    """
    lo, hi = scope_range(scope)
    last_day = conn.execute(
        sa.text(
            """
            SELECT greatest(
                (SELECT max(v.valid_from) FROM household_history v
                 WHERE v.village_code BETWEEN CAST(:lo AS char(12)) AND CAST(:hi AS char(12))),
                (SELECT max(r.date) FROM help_record r
                 JOIN household x ON x.id = r.household_id
                 WHERE x.village_code BETWEEN CAST(:lo AS char(12)) AND CAST(:hi AS char(12))))
            """
        ),
        {"lo": lo, "hi": hi},
    ).scalar()
    return last_day or dt.date.today()


def latest_effective_date(conn: sa.Connection, scope: str | None = None) -> dt.date:
    """The last effective date (生效日期) in the archive of an area: the default 截至 date of
    the wall map, so a sheet of data that ends in 2018 says 2018, not the day it was printed.

    Changes dated in the future do not count; an area without any record gives today.
    """
    lo, hi = scope_range(scope)
    day = conn.execute(
        sa.text(
            "SELECT max(valid_from) FROM household_history "
            "WHERE village_code BETWEEN CAST(:lo AS char(12)) AND CAST(:hi AS char(12)) "
            "AND valid_from <= current_date"
        ),
        {"lo": lo, "hi": hi},
    ).scalar()
    return day or dt.date.today()


# --- the demo's history --------------------------------------------------------------------

# Exits are assessed through the year but mostly in its last quarter (annual 验收, seed 003):
# cumulative share (per cent) of a year's exits by the end of months 1..11.
EXIT_MONTH_CUMULATIVE = (2, 4, 6, 8, 10, 12, 18, 24, 30, 45, 70)
MOVED_PER_MILLE = 3  # registration points off by 0.6–2 km, corrected later (flag: moved)
FLIP_FLOP_PER_MILLE = 3  # exits reverted and made again (flag: status_flip_flop)
# No exit before the 建档立卡 visits of March–April 2016 (and the 健康扶贫 records they bring)
FIRST_EXIT_DAY = dt.date(2016, 5, 1)

BACKFILL_SQL = """
WITH hh AS (
    SELECT h.*, make_date(coalesce(h.registered_year, 2016), 1, 1) AS reg, x.r, x.s,
           x.r % 1000 < :moved AS moved,
           h.status = 'exited' AND x.r % 1000 >= :moved AND x.r % 1000 < :moved + :flip AS flip
    FROM household h
    CROSS JOIN LATERAL (SELECT abs(hashtext(h.household_no)) AS r,
                               abs(hashtext(h.household_no || '#b')) AS s) x
    WHERE h.synthetic
), ret AS (  -- 返贫: the first year after the exit whose income fell by a fifth
    SELECT hh.id, coalesce(
        min(i.year) FILTER (WHERE i.year > hh.exit_year
                            AND i.per_capita_income < 0.8 * p.per_capita_income),
        least(hh.exit_year + 1, max(i.year))) AS return_year
    FROM hh JOIN household_income i ON i.household_id = hh.id
    LEFT JOIN household_income p ON p.household_id = hh.id AND p.year = i.year - 1
    WHERE hh.status = 'returned'
    GROUP BY hh.id, hh.exit_year
), built AS (  -- the 危房改造 help record with an amount: the house was rebuilt then
    SELECT r.household_id AS id, min(r.date) AS day FROM help_record r
    JOIN hh ON hh.id = r.household_id
    WHERE r.measure = 'housing' AND r.amount IS NOT NULL
    GROUP BY r.household_id
), plan AS (
    SELECT hh.id, hh.reg, hh.status, hh.exit_year, hh.housing_status, hh.geom,
           hh.r, hh.s, ret.return_year,
           CASE WHEN hh.exit_year IS NOT NULL THEN greatest(  -- after the 建档立卡 visits
               CAST(:first_exit AS date),
               CASE WHEN hh.flip THEN  -- first exit in spring, reverted, made again by autumn
                   make_date(hh.exit_year, 3 + hh.s % 3, 1 + hh.r % 28)
               ELSE make_date(hh.exit_year, m.month, 1)
                   + ((hh.r / 100) % extract(day FROM make_date(hh.exit_year, m.month, 1)
                                              + interval '1 month - 1 day')::int)
               END)
           END AS exit_day,
           CASE WHEN ret.return_year IS NOT NULL THEN make_date(ret.return_year, 12, 31)
           END AS return_day,
           hh.housing_status IN ('renovated', 'relocated') AS rebuilt,
           CASE WHEN hh.s % 10 < 6 THEN 'dangerous_c' ELSE 'dangerous_d' END AS first_housing,
           built.day AS built_day, hh.moved, hh.flip
    FROM hh
    LEFT JOIN ret ON ret.id = hh.id
    LEFT JOIN built ON built.id = hh.id
    CROSS JOIN LATERAL (
        SELECT 1 + count(*)::int AS month
        FROM unnest(CAST(:months AS int[])) c WHERE c <= hh.r % 100) m
), dates AS (
    SELECT p.*,
           -- rebuilt before the exit (safe housing is an exit condition, seed 003)
           greatest(p.reg + 30, CASE WHEN p.exit_day IS NOT NULL AND p.rebuilt THEN
               least(coalesce(p.built_day, p.exit_day), p.exit_day - 15 - p.s % 45)
               ELSE coalesce(p.built_day, make_date(2017, 1 + p.s % 12, 1 + p.r % 28)) END)
               AS rebuilt_day,
           p.reg + 200 + p.s % 300 AS moved_day,
           p.exit_day + 30 + p.s % 45 AS unexit_day,
           p.exit_day + 120 + p.s % 80 AS reexit_day,
           ST_Translate(p.geom,
               (600 + p.s % 1400) * cos(radians(p.r % 360)) / (111320 * cos(radians(ST_Y(p.geom)))),
               (600 + p.s % 1400) * sin(radians(p.r % 360)) / 110540) AS first_geom
    FROM plan p
), events AS (
    SELECT id, reg AS day, 'register' AS kind, NULL::text AS year, NULL::jsonb AS amount
    FROM dates
    UNION ALL
    SELECT d.id, greatest(d.reg, CASE WHEN i.year = d.exit_year THEN d.exit_day
                                     ELSE make_date(i.year, 12, 31) END),
           'income', i.year::text, to_jsonb(i.per_capita_income)
    FROM dates d JOIN household_income i ON i.household_id = d.id
    UNION ALL
    SELECT id, exit_day, 'exit', NULL, NULL FROM dates WHERE exit_day IS NOT NULL
    UNION ALL
    SELECT id, return_day, 'return', NULL, NULL FROM dates WHERE return_day IS NOT NULL
    UNION ALL
    SELECT id, rebuilt_day, 'rebuilt', NULL, NULL FROM dates WHERE rebuilt
    UNION ALL
    SELECT id, moved_day, 'moved', NULL, NULL FROM dates WHERE moved
    UNION ALL
    SELECT id, unexit_day, 'unexit', NULL, NULL FROM dates WHERE flip
    UNION ALL
    SELECT id, reexit_day, 'reexit', NULL, NULL FROM dates WHERE flip
), running AS (
    SELECT e.id, e.day,
           array_agg(e.kind) OVER same_day AS kinds,
           coalesce(jsonb_object_agg(e.year, e.amount) FILTER (WHERE e.kind = 'income')
                    OVER up_to_day, '{}'::jsonb) AS incomes,
           max(e.year) FILTER (WHERE e.kind = 'income') OVER up_to_day AS income_year
    FROM events e
    WINDOW same_day AS (PARTITION BY e.id, e.day),
           up_to_day AS (PARTITION BY e.id ORDER BY e.day RANGE UNBOUNDED PRECEDING)
), versions AS (
    SELECT DISTINCT ON (id, day) * FROM running ORDER BY id, day
), states AS (
    SELECT v.day, v.kinds, v.incomes, v.income_year, d.*,
           CASE WHEN d.return_day <= v.day THEN 'returned'
                WHEN d.flip AND v.day >= d.unexit_day AND v.day < d.reexit_day THEN 'poor'
                WHEN d.exit_day <= v.day THEN 'exited'
                ELSE 'poor' END AS status_then
    FROM versions v JOIN dates d ON d.id = v.id
)
INSERT INTO household_history (household_id, valid_from, action, changed, source,
    village_code, hamlet_id, geom, members, labour_members, category, housing_status, status,
    exit_year, cadre_id, incomes, income, income_year)
SELECT s.id, s.day, 'backfill',
       CASE WHEN 'register' = ANY(s.kinds) THEN CAST(:all_fields AS text[])
            ELSE array_remove(ARRAY[
                CASE WHEN 'moved' = ANY(s.kinds) THEN 'geom' END,
                CASE WHEN 'rebuilt' = ANY(s.kinds) THEN 'housing_status' END,
                CASE WHEN s.kinds && ARRAY['exit', 'return', 'unexit', 'reexit']
                     THEN 'status' END,
                CASE WHEN s.kinds && ARRAY['exit', 'unexit', 'reexit'] THEN 'exit_year' END,
                CASE WHEN 'income' = ANY(s.kinds) THEN 'incomes' END], NULL) END,
       'demo backfill',
       h.village_code, h.hamlet_id,
       CASE WHEN s.moved AND s.day < s.moved_day THEN s.first_geom ELSE h.geom END,
       h.members, h.labour_members, h.category,
       CASE WHEN s.rebuilt AND s.day < s.rebuilt_day THEN s.first_housing
            ELSE h.housing_status END,
       s.status_then,
       CASE WHEN s.status_then <> 'poor' THEN h.exit_year END,
       h.cadre_id, s.incomes, (s.incomes ->> s.income_year)::numeric, s.income_year::int
FROM states s JOIN household h ON h.id = s.id
"""

ALL_FIELDS = [
    "village_code", "hamlet_id", "geom", "members", "labour_members", "category",
    "housing_status", "status", "exit_year", "cadre_id", "incomes",
]  # fmt: skip


def backfill_demo_history(conn: sa.Connection) -> int:
    """Replace the history of the synthetic households with a plausible one; rows written.

    From what the generator knows, per household:

    * registered (建档立卡) on 1 January of ``registered_year``, poor, with the 2015 income;
    * each year's income recorded on 31 December — in the exit year at the exit date, since
      the exit assessment measures it;
    * exited on a day of its exit year, most in the last quarter (``EXIT_MONTH_CUMULATIVE``),
      none before ``FIRST_EXIT_DAY`` (the 建档立卡 visits come first);
    * 返贫 on 31 December of the first later year whose income fell by a fifth;
    * a renovated house was C/D-grade dangerous until the 危房改造 help record (paid), and
      rebuilt before the exit (safe housing is an exit condition);
    * deliberate anomalies: 3 ‰ registered 0.6–2 km off and corrected later, 3 ‰ of the
      exits made in spring, reverted a month or two later and made again by autumn.

    Deterministic (hashes of the household number). The last version equals the household
    row. Call it after loading the demo (idempotent).
    """
    conn.execute(sa.text("SET LOCAL jit = off"))  # compiling this plan costs seconds
    conn.execute(
        sa.text(
            "DELETE FROM household_history WHERE household_id IN "
            "(SELECT id FROM household WHERE synthetic)"
        )
    )
    written = conn.execute(
        sa.text(BACKFILL_SQL),
        {
            "moved": MOVED_PER_MILLE,
            "flip": FLIP_FLOP_PER_MILLE,
            "months": list(EXIT_MONTH_CUMULATIVE),
            "first_exit": FIRST_EXIT_DAY,
            "all_fields": ALL_FIELDS,
        },
    ).rowcount
    conn.execute(sa.text("ANALYZE household_history"))  # the planner must see the new rows
    return written


def planted_history_anomalies(conn: sa.Connection) -> pd.DataFrame:
    """The demo households whose history :data:`BACKFILL_SQL` bends on purpose:
    (household_id, kind) for the ``moved`` and ``status_flip_flop`` flags to find."""
    return pd.read_sql(
        sa.text(
            """
            SELECT h.id AS household_id,
                   CASE WHEN x.r % 1000 < :moved THEN 'moved' ELSE 'status_flip_flop' END AS kind
            FROM household h
            CROSS JOIN LATERAL (SELECT abs(hashtext(h.household_no)) AS r) x
            WHERE h.synthetic AND (x.r % 1000 < :moved OR (h.status = 'exited'
                  AND x.r % 1000 >= :moved AND x.r % 1000 < :moved + :flip))
            """
        ),
        conn,
        params={"moved": MOVED_PER_MILLE, "flip": FLIP_FLOP_PER_MILLE},
    )


# --- the archive as a layer -----------------------------------------------------------------

register(Collection(
    id="household_history", title="户档案历史 Household history (动态档案)",
    source="household_history", geometry_type="Point", scope_code="t.village_code",
    properties=("household_id", "valid_from", "recorded_at", "action", "changed", "source",
                "village_code", "hamlet_id", "members", "labour_members", "category",
                "housing_status", "status", "exit_year", "cadre_id", "income_year", "income"),
    filters={
        "township": township_of("t.village_code"),
        "household": integer("t.household_id", "household id"),
        "status": equals("t.status"),
        "action": equals("t.action"),
    },
    datetime="valid_from",
    tile=TileSpec(min_zoom=13, attributes=((0, ("household_id", "status", "valid_from")),)),
    description="Every version of every household, valid from its effective date. "
                "Incomes are hidden from viewers.",
))  # fmt: skip
