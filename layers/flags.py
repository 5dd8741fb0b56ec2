"""Monitoring flags in SQL: exits on paper (数字脱贫, seed 003), neglect, suspicious records.

One statement computes every flag of an area as of a date from the dynamic archive
(``household_history``, so a past date sees the households as they were then), the help
records, members, villages and rivers. Rules and thresholds: ``geo.flags`` and the
``[monitoring]`` section of the policy profile. Each flag row carries its evidence (JSON) and
a Chinese description with the values that broke the rule; ID numbers appear masked.

* :func:`flag_rows` — the flags as a GeoDataFrame (nothing written);
* :func:`flag_counts` — counts per kind and area unit, aggregated in SQL (reports);
* :func:`refresh_flags` — replace the area's rows of the ``flag`` table (the map layer).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa

from geo.flags import CADRE_KINDS, FLAG_KINDS, MonitoringPolicy, exit_line, rule_text
from layers.features import Collection, TileSpec, equals, integer, register, township_of
from layers.history import as_of_params, as_of_sql, scope_range
from layers.sensitivity import field_sql, register_sql_mask

LINE_YEARS = range(2000, 2051)
DEGREES_PER_METRE = 1 / 80_000  # generous: 1 m is at most 1/91,000 degree below 35° N

# Each rule: SELECT kind, household_id, cadre_id, village_code, township_code, evidence,
# description, geom, synthetic — over the CTEs ``a`` (households as of the day), ``v``
# (their versions up to the day) and ``help`` (last help record per household).
RULES: dict[str, str] = {
    "exited_low_income": """
        SELECT 'exited_low_income', a.id, a.cadre_id, a.village_code, a.township_code,
               jsonb_build_object('income', a.income, 'year', a.income_year, 'line', l.line,
                                  'labour', a.labour_members > 0),
               format('已脱贫，%s年人均可支配收入%s元，低于%s脱贫线%s元', a.income_year,
                      to_char(a.income, 'FM999,999,990'),
                      CASE WHEN a.labour_members > 0 THEN '有劳动力户'
                           WHEN a.labour_members = 0 THEN '无劳动力户'
                           ELSE '劳动力人数不详（按较低的无劳动力户）' END,
                      to_char(l.line, 'FM999,999,990')),
               a.geom, a.synthetic
        FROM a
        CROSS JOIN LATERAL (SELECT (CAST(:lines AS jsonb) -> a.income_year::text
            ->> CASE WHEN a.labour_members > 0 THEN 'labour' ELSE 'other' END)::numeric
            AS line) l
        WHERE a.status = 'exited' AND a.income < l.line
    """,
    "exited_sanbaozhang": """
        SELECT 'exited_sanbaozhang', a.id, a.cadre_id, a.village_code, a.township_code,
               jsonb_build_object('out_of_school_ages', e.ages, 'serious_ill', m.n),
               concat_ws('；',
                   CASE WHEN e.ages IS NOT NULL THEN format('已脱贫，%s岁成员失学（义务教育）',
                        array_to_string(e.ages, '、')) END,
                   CASE WHEN m.n > 0 THEN format('已脱贫，%s名大病成员无医保救助记录', m.n)
                   END),
               a.geom, a.synthetic
        FROM a
        CROSS JOIN LATERAL (
            SELECT array_agg(:year - p.birth_year ORDER BY p.birth_year) AS ages
            FROM household_member p
            WHERE p.household_id = a.id AND p.schooling IN ('none', 'preschool')
              AND :year - p.birth_year BETWEEN :school_age_min AND :school_age_max) e
        CROSS JOIN LATERAL (
            SELECT count(*) AS n FROM household_member p
            WHERE p.household_id = a.id AND p.health = 'serious'
              AND NOT EXISTS (SELECT 1 FROM help_record r WHERE r.household_id = a.id
                              AND r.measure = 'medical' AND r.date <= :as_of)) m
        WHERE a.status = 'exited' AND (e.ages IS NOT NULL OR m.n > 0)
    """,
    "exited_dangerous_house": """
        SELECT 'exited_dangerous_house', a.id, a.cadre_id, a.village_code, a.township_code,
               jsonb_build_object('housing_status', a.housing_status, 'exit_year', a.exit_year),
               format('已脱贫（%s年），住房仍为%s', a.exit_year,
                      CASE a.housing_status WHEN 'dangerous_c' THEN 'C级危房' ELSE 'D级危房' END),
               a.geom, a.synthetic
        FROM a WHERE a.status = 'exited' AND a.housing_status IN ('dangerous_c', 'dangerous_d')
    """,
    "no_help_record": """
        SELECT 'no_help_record', a.id, a.cadre_id, a.village_code, a.township_code,
               jsonb_build_object('last_record', help.last, 'days',
                                  :as_of - coalesce(help.last, a.since)),
               CASE WHEN help.last IS NULL
                    THEN format('建档%s天以来无帮扶记录', :as_of - a.since)
                    ELSE format('%s天无帮扶记录（最近一次%s）', :as_of - help.last, help.last)
               END,
               a.geom, a.synthetic
        FROM a LEFT JOIN help ON help.household_id = a.id
        WHERE a.status = ANY(:help_statuses)
          AND coalesce(help.last, a.since) < :as_of - :no_help_days
    """,
    "cadre_overloaded": """
        SELECT 'cadre_overloaded', NULL::bigint, c.id, NULL::char(12), c.township_code,
               jsonb_build_object('households', n.households, 'max', :cadre_max_households),
               format('%s（%s）联系帮扶%s户，超过%s户', c.name, c.unit, n.households,
                      :cadre_max_households),
               n.centre, c.synthetic
        FROM (SELECT cadre_id, count(*) AS households, ST_Centroid(ST_Collect(geom)) AS centre
              FROM a WHERE cadre_id IS NOT NULL GROUP BY cadre_id) n
        JOIN cadre c ON c.id = n.cadre_id
        WHERE n.households > :cadre_max_households
    """,
    "cadre_idle": """
        SELECT 'cadre_idle', NULL::bigint, c.id, NULL::char(12), c.township_code,
               jsonb_build_object('households', n.households, 'last_record', r.last,
                                  'days', :as_of - coalesce(r.last, n.since)),
               CASE WHEN r.last IS NULL
                    THEN format('%s（%s）联系%s户，无本人帮扶记录', c.name, c.unit, n.households)
                    ELSE format('%s（%s）联系%s户，%s天无本人帮扶记录（最近一次%s）', c.name,
                                c.unit, n.households, :as_of - r.last, r.last) END,
               n.centre, c.synthetic
        FROM (SELECT cadre_id, count(*) AS households, min(since) AS since,
                     ST_Centroid(ST_Collect(geom)) AS centre
              FROM a WHERE cadre_id IS NOT NULL AND status = ANY(:help_statuses)
              GROUP BY cadre_id) n
        JOIN cadre c ON c.id = n.cadre_id
        LEFT JOIN LATERAL (SELECT max(date) AS last FROM help_record
                           WHERE cadre_id = c.id AND date <= :as_of) r ON true
        WHERE coalesce(r.last, n.since) < :as_of - :cadre_idle_days
    """,
    "outside_village": """
        SELECT 'outside_village', a.id, a.cadre_id, a.village_code, a.township_code,
               jsonb_build_object('distance_m', round(d.m)),
               format('户点位在%s（%s）界外%s米', g.name, g.code, round(d.m)),
               a.geom, a.synthetic
        FROM a JOIN village g ON g.code = a.village_code
        CROSS JOIN LATERAL (SELECT ST_Distance(g.geom::geography, a.geom::geography) AS m) d
        WHERE NOT ST_Covers(g.geom, a.geom) AND d.m > :outside_village_m
    """,
    "in_river": """
        SELECT 'in_river', a.id, a.cadre_id, a.village_code, a.township_code,
               jsonb_build_object('river_id', w.id, 'distance_m', round(w.m::numeric, 1)),
               format('户点位距%s中心线%s米', coalesce(w.name, '河流'), round(w.m::numeric, 1)),
               a.geom, a.synthetic
        FROM a
        JOIN LATERAL (
            SELECT r.id, r.name, ST_Distance(r.geom::geography, a.geom::geography) AS m
            FROM river r
            WHERE ST_DWithin(r.geom, a.geom, :river_deg) AND r."order" >= :river_min_order
            ORDER BY 3 LIMIT 1) w ON true
        WHERE w.m < :river_m
    """,
    "shared_point": """
        SELECT 'shared_point', p.id, p.cadre_id, p.village_code, p.township_code,
               jsonb_build_object('others', p.others, 'distance_m', p.m),
               format('与%s坐标重合（相距%s米）', array_to_string(p.others, '、'), p.m),
               p.geom, p.synthetic
        FROM (
            SELECT x.id, x.cadre_id, x.village_code, x.township_code, x.geom, x.synthetic,
                   array_agg(y.household_no ORDER BY y.household_no) AS others,
                   round(min(ST_Distance(x.geom::geography, y.geom::geography))::numeric, 2)
                       AS m
            FROM cells x
            CROSS JOIN (VALUES (-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0), (0, 1), (1, -1),
                               (1, 0), (1, 1)) o(dx, dy)
            JOIN cells y ON y.ix = x.ix + o.dx AND y.iy = x.iy + o.dy AND y.id <> x.id
            WHERE ST_Distance(x.geom::geography, y.geom::geography) <= :shared_point_m
            GROUP BY x.id, x.cadre_id, x.village_code, x.township_code, x.geom, x.synthetic
        ) p
    """,
    "moved": """
        SELECT DISTINCT ON (m.household_id) 'moved', a.id, a.cadre_id, a.village_code,
               a.township_code,
               jsonb_build_object('distance_m', round(m.d), 'from', m.before, 'on', m.valid_from),
               format('户点位于%s移动%s米', m.valid_from, round(m.d)),
               a.geom, a.synthetic
        FROM (SELECT household_id, valid_from, before,
                     ST_Distance(geom::geography, prev::geography) AS d,
                     housing_status = 'relocated' AND 'housing_status' = ANY(changed) AS relocated
              FROM (SELECT household_id, valid_from, geom, housing_status, changed,
                           lag(geom) OVER w AS prev, lag(valid_from) OVER w AS before
                    FROM v WINDOW w AS (PARTITION BY household_id ORDER BY valid_from, id)) s
              WHERE prev IS NOT NULL AND NOT ST_OrderingEquals(geom, prev)) m
        JOIN a ON a.id = m.household_id
        WHERE m.d > :moved_m AND NOT m.relocated
        ORDER BY m.household_id, m.d DESC
    """,
    "duplicate_id_number": """
        SELECT 'duplicate_id_number', a.id, a.cadre_id, a.village_code, a.township_code,
               jsonb_build_object('id_number', d.masked, 'others', d.others),
               format('身份证号%s同时登记在%s', d.masked, array_to_string(d.others, '、')),
               a.geom, a.synthetic
        FROM a JOIN (
            SELECT s.household_id,
                   left(s.id_number, 6) || '********' || right(s.id_number, 4) AS masked,
                   array_agg(DISTINCT h.household_no) AS others
            FROM shared_ids s
            JOIN shared_ids t ON t.id_number = s.id_number AND t.household_id <> s.household_id
            JOIN household h ON h.id = t.household_id
            GROUP BY s.household_id, s.id_number
        ) d ON d.household_id = a.id
    """,
    "income_jump": """
        SELECT DISTINCT ON (a.id) 'income_jump', a.id, a.cadre_id, a.village_code,
               a.township_code,
               jsonb_build_object('from_year', j.year - 1, 'to_year', j.year,
                                  'from', j.prev, 'to', j.value,
                                  'ratio', round(j.value / j.prev, 1)),
               format('人均收入%s年%s元→%s年%s元（%s倍）', j.year - 1,
                      to_char(j.prev, 'FM999,999,990'), j.year,
                      to_char(j.value, 'FM999,999,990'), round(j.value / j.prev, 1)),
               a.geom, a.synthetic
        FROM a
        CROSS JOIN LATERAL (
            SELECT k::int AS year, x::numeric AS value,
                   lag(x::numeric) OVER (ORDER BY k::int) AS prev,
                   lag(k::int) OVER (ORDER BY k::int) AS prev_year
            FROM jsonb_each_text(a.incomes) e(k, x)) j
        WHERE j.prev_year = j.year - 1 AND j.prev > 0 AND j.value > :income_jump_factor * j.prev
        ORDER BY a.id, j.value / j.prev DESC
    """,
    "status_flip_flop": """
        SELECT DISTINCT ON (f.household_id) 'status_flip_flop', a.id, a.cadre_id,
               a.village_code, a.township_code,
               jsonb_build_object('statuses', ARRAY[f.first_from, f.first_to, f.status],
                                  'dates', ARRAY[f.first_day, f.valid_from]),
               format('%s：%s→%s，%s：→%s', f.first_day, s1.label, s2.label, f.valid_from,
                      s3.label),
               a.geom, a.synthetic
        FROM (SELECT c.*, lag(c.prev) OVER w AS first_from, lag(c.status) OVER w AS first_to,
                     lag(c.valid_from) OVER w AS first_day
              FROM (SELECT household_id, valid_from, id, status, prev
                    FROM (SELECT household_id, valid_from, id, status,
                                 lag(status) OVER (PARTITION BY household_id
                                                   ORDER BY valid_from, id) AS prev
                          FROM v) s
                    WHERE prev IS NOT NULL AND prev <> status) c
              WINDOW w AS (PARTITION BY household_id ORDER BY valid_from, id)) f
        JOIN a ON a.id = f.household_id
        JOIN status_label s1 ON s1.code = f.first_from
        JOIN status_label s2 ON s2.code = f.first_to
        JOIN status_label s3 ON s3.code = f.status
        WHERE f.status = f.first_from AND f.valid_from - f.first_day <= :flip_flop_days
        ORDER BY f.household_id, f.valid_from DESC
    """,
    "list_vs_map": """
        SELECT 'list_vs_map', a.id, a.cadre_id, a.village_code, a.township_code,
               jsonb_build_object('listed_road_surface', h.listed_road_surface,
                                  'listed_road_km', h.listed_road_km,
                                  'listed_safe_water', h.listed_safe_water,
                                  'hardened_road_m', round(c.hardened_road_m),
                                  'road_m', round(c.road_m), 'piped_water', c.piped_water),
               concat_ws('；',
                   CASE WHEN d.hardened THEN format(
                        '名单称入户路已硬化，地图上最近的硬化路在%s米外',
                        round(c.hardened_road_m)) END,
                   CASE WHEN d.distance THEN format(
                        '名单称距村主干路%s公里，地图上距最近道路%s公里',
                        h.listed_road_km, round(c.road_m::numeric / 1000, 1)) END,
                   CASE WHEN d.water THEN '名单称无安全饮水，地图上该户在自来水供水范围内' END),
               a.geom, a.synthetic
        FROM a JOIN household h ON h.id = a.id
        JOIN coverage_household c ON c.household_id = a.id
        CROSS JOIN LATERAL (SELECT
            coalesce(h.listed_road_surface = 'hardened'
                     AND c.hardened_road_m > :list_road_tolerance_m, false) AS hardened,
            coalesce(abs(h.listed_road_km * 1000 - c.road_m) > :list_distance_tolerance_m,
                     false) AS distance,
            coalesce(NOT h.listed_safe_water AND c.piped_water, false) AS water) d
        WHERE d.hardened OR d.distance OR d.water
    """,
}
assert tuple(RULES) == tuple(FLAG_KINDS)

# Only what a rule needs is computed: the CTEs each rule reads.
NEEDS = {
    "no_help_record": ("help",),
    "shared_point": ("cells",),
    "moved": ("v",),
    "status_flip_flop": ("v", "status_label"),
    "duplicate_id_number": ("shared_ids",),
}

# Per-household LATERAL subqueries with OFFSET 0 (not flattened into joins): the planner
# then goes through the household indexes instead of scanning the whole archive.
CTES = {
    "v": """v AS MATERIALIZED (
        SELECT x.* FROM a CROSS JOIN LATERAL (
            SELECT * FROM household_history y
            WHERE y.household_id = a.id AND y.valid_from <= :as_of OFFSET 0) x)""",
    "help": """help AS (
        SELECT a.id AS household_id, r.last FROM a CROSS JOIN LATERAL (
            SELECT max(x.date) AS last FROM help_record x
            WHERE x.household_id = a.id AND x.date <= :as_of) r)""",
    "cells": """cells AS MATERIALIZED (
        SELECT a.*, floor(ST_X(a.geom) / :cell)::bigint AS ix,
               floor(ST_Y(a.geom) / :cell)::bigint AS iy FROM a)""",
    # the area's ID numbers (heads and members), then every household holding one of them
    "shared_ids": """shared_ids AS MATERIALIZED (
        WITH mine AS (
            SELECT id_number FROM a WHERE id_number IS NOT NULL
            UNION
            SELECT p.id_number FROM a JOIN household_member p ON p.household_id = a.id
            WHERE p.id_number IS NOT NULL
        ), holders AS (
            SELECT h.id_number, h.id AS household_id FROM household h
            WHERE h.id_number IN (SELECT id_number FROM mine)
            UNION
            SELECT p.id_number, p.household_id FROM household_member p
            WHERE p.id_number IN (SELECT id_number FROM mine)
        )
        SELECT id_number, household_id FROM holders
        WHERE id_number IN (SELECT id_number FROM holders GROUP BY id_number
                            HAVING count(DISTINCT household_id) > 1))""",
    "status_label": """status_label(code, label) AS (
        VALUES ('poor', '未脱贫'), ('exited', '已脱贫'), ('returned', '返贫'))""",
}

# What viewers and public outputs read instead of a description that quotes incomes (the
# sensitivity register classifies flag.description as masked with this mask): the same text
# built from the evidence's public keys. Other kinds quote no personal value.
register_sql_mask(
    "flag_description",
    """CASE {t}.kind
        WHEN 'exited_low_income' THEN format('已脱贫，%s年人均可支配收入低于%s脱贫线%s元',
            {t}.evidence ->> 'year',
            CASE WHEN ({t}.evidence ->> 'labour')::boolean THEN '有劳动力户' ELSE '无劳动力户' END,
            to_char(({t}.evidence ->> 'line')::numeric, 'FM999,999,990'))
        WHEN 'income_jump' THEN format('人均收入%s年至%s年增长%s倍',
            {t}.evidence ->> 'from_year', {t}.evidence ->> 'to_year', {t}.evidence ->> 'ratio')
        ELSE {c} END""",
)

FLAG_COLUMNS = (
    "kind", "household_id", "cadre_id", "village_code", "township_code", "evidence",
    "description", "geom", "synthetic",
)  # fmt: skip


class FlagError(ValueError):
    """Flags cannot be computed as asked (unknown kind, bad area code)."""


@dataclass(frozen=True)
class FlagQuery:
    """Which flags of which area as of which day."""

    scope: str | None  # county, township or village code; None: everywhere
    as_of: dt.date
    kinds: tuple[str, ...] = tuple(FLAG_KINDS)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(FLAG_KINDS))
        if unknown:
            raise FlagError(f"unknown flag kind(s) {unknown}; known: {', '.join(FLAG_KINDS)}")
        if self.scope is not None and len(self.scope) not in (6, 9, 12):
            raise FlagError(f"area must be a 6, 9 or 12 digit code, got {self.scope!r}")


def flags_sql(kinds: tuple[str, ...], households: str | None = None) -> str:
    """The SELECT of the flags of ``kinds`` (columns :data:`FLAG_COLUMNS`); ``households``:
    a temporary table already holding the households as of the day (else computed)."""
    needed = ["a"]
    for kind in kinds:
        for cte in NEEDS.get(kind, ()):
            if cte not in needed:
                needed.append(cte)
    if households:  # an analysed table: the planner sees its statistics when inlined
        first = f"a AS NOT MATERIALIZED (SELECT * FROM pg_temp.{households})"
    else:
        first = f"a AS MATERIALIZED ({as_of_sql()})"
    ctes = [first] + [CTES[name] for name in needed[1:]]
    body = "\nUNION ALL\n".join(f"({RULES[kind]})" for kind in kinds)
    columns = ", ".join(FLAG_COLUMNS)
    return f"WITH {', '.join(ctes)}\nSELECT * FROM ({body}) AS f({columns})"


def flag_params(query: FlagQuery, policy: MonitoringPolicy) -> dict:
    lines = {
        str(year): {
            "labour": exit_line(policy, year, labour=True),
            "other": exit_line(policy, year, labour=False),
        }
        for year in LINE_YEARS
    }
    return as_of_params(query.scope, query.as_of) | {
        "year": query.as_of.year,
        "lines": json.dumps(lines),
        "help_statuses": list(policy.help_statuses),
        "no_help_days": policy.no_help_days,
        "cadre_max_households": policy.cadre_max_households,
        "cadre_idle_days": policy.cadre_idle_days,
        "outside_village_m": policy.outside_village_m,
        "river_m": policy.river_m,
        "river_min_order": policy.river_min_order,
        "river_deg": policy.river_m * DEGREES_PER_METRE * 1.5,
        "shared_point_m": policy.shared_point_m,
        "cell": max(policy.shared_point_m, 0.01) * DEGREES_PER_METRE * 1.5,
        "moved_m": policy.moved_m,
        "income_jump_factor": policy.income_jump_factor,
        "flip_flop_days": policy.flip_flop_days,
        "school_age_min": policy.school_age_min,
        "school_age_max": policy.school_age_max,
        "list_road_tolerance_m": policy.list_road_tolerance_m,
        "list_distance_tolerance_m": policy.list_distance_tolerance_m,
    }


def _no_jit(conn: sa.Connection) -> None:
    """These plans are big and their estimates rough: JIT compiling them costs seconds."""
    conn.execute(sa.text("SET LOCAL jit = off"))


def compute_flags(
    conn: sa.Connection,
    query: FlagQuery,
    policy: MonitoringPolicy,
    table: str = "flags_now",
    households: str | None = None,
) -> str:
    """Compute the flags once into a temporary table (dropped at commit); returns its name.

    :func:`list_flags` and :func:`count_flags` then read it: a report lists and counts the
    same flags without computing them twice.
    """
    _no_jit(conn)
    if households is None:
        households = f"{table}_households"
        _households_table(conn, households, query)
    conn.execute(sa.text(f"DROP TABLE IF EXISTS pg_temp.{table}"))
    conn.execute(
        sa.text(
            f"CREATE TEMP TABLE {table} ON COMMIT DROP AS "
            f"SELECT * FROM ({flags_sql(query.kinds, households)}) f "
            f"{_cadre_scope_filter(query)}"
        ),
        _with_scope_code(flag_params(query, policy), query),
    )
    return table


def _households_table(conn: sa.Connection, name: str, query: FlagQuery) -> None:
    """The area's households as of the day in an analysed temporary table."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS pg_temp.{name}"))
    conn.execute(
        sa.text(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {as_of_sql()}"),
        as_of_params(query.scope, query.as_of),
    )
    conn.execute(sa.text(f"ANALYZE {name} (id, village_code, status, cadre_id)"))


def list_flags(conn: sa.Connection, table: str, policy: MonitoringPolicy, *, public: bool = False):
    """The flags of a :func:`compute_flags` table with household numbers and cadre names;
    ``public``: as viewers see them (the sensitivity register)."""
    sql = f"""
        SELECT {_columns_sql(FLAG_COLUMNS, public)}, h.household_no, c.name AS cadre_name
        FROM pg_temp.{table} f
        LEFT JOIN household h ON h.id = f.household_id
        LEFT JOIN cadre c ON c.id = f.cadre_id
        ORDER BY f.township_code, f.village_code NULLS LAST, h.household_no, f.cadre_id, f.kind
    """
    frame = gpd.read_postgis(sa.text(sql), conn, geom_col="geom", crs="EPSG:4326")
    frame["label"] = frame["kind"].map(FLAG_KINDS)
    frame["rule"] = frame["kind"].map(lambda k: rule_text(policy, k))
    return frame


def count_flags(conn: sa.Connection, table: str, unit_digits: int = 9) -> pd.DataFrame:
    """Flags per area unit (the first ``unit_digits`` of the code: 9 township, 12 village;
    cadre flags count at their township) and kind, in SQL: columns unit, kind, flags."""
    return pd.read_sql(
        sa.text(
            f"SELECT left(coalesce(village_code, township_code), :digits) AS unit, kind, "
            f"count(*) AS flags FROM pg_temp.{table} GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        conn,
        params={"digits": unit_digits},
    )


def flag_rows(
    conn: sa.Connection, query: FlagQuery, policy: MonitoringPolicy, *, public: bool = False
):
    """Every flag of the area as of the day: a GeoDataFrame, ordered by township, village,
    household number (nothing written to the ``flag`` table)."""
    return list_flags(conn, compute_flags(conn, query, policy), policy, public=public)


def flag_counts(
    conn: sa.Connection, query: FlagQuery, policy: MonitoringPolicy, unit_digits: int = 9
) -> pd.DataFrame:
    """Flags per area unit and kind (see :func:`count_flags`)."""
    return count_flags(conn, compute_flags(conn, query, policy), unit_digits)


def _cadre_scope_filter(query: FlagQuery) -> str:
    """Cadre flags belong to the cadre's township: keep those inside the area."""
    if query.scope is None:
        return ""
    return "WHERE f.village_code IS NOT NULL OR starts_with(f.township_code, left(:scope_code, 9))"


def _with_scope_code(params: dict, query: FlagQuery) -> dict:
    return params | {"scope_code": query.scope or ""}


def refresh_flags(
    conn: sa.Connection, query: FlagQuery, policy: MonitoringPolicy, profile: str
) -> int:
    """Replace the flags of the area's townships in the ``flag`` table; rows written."""
    return store_flags(conn, compute_flags(conn, query, policy), query, policy, profile)


def store_flags(
    conn: sa.Connection, table: str, query: FlagQuery, policy: MonitoringPolicy, profile: str
) -> int:
    """Replace the area's rows of the ``flag`` table (the map layer) by the flags of a
    :func:`compute_flags` table; rows written."""
    lo, hi = scope_range(query.scope)
    conn.execute(
        sa.text(
            "DELETE FROM flag WHERE township_code BETWEEN CAST(:lo AS char(9)) "
            "AND CAST(:hi AS char(9)) AND kind = ANY(:kinds)"
        ),
        {"lo": lo[:9], "hi": hi[:9], "kinds": list(query.kinds)},
    )
    rules = {kind: rule_text(policy, kind) for kind in query.kinds}
    columns = ", ".join(FLAG_COLUMNS)
    result = conn.execute(
        sa.text(
            f"""
            INSERT INTO flag ({columns}, as_of, rule, profile)
            SELECT {columns}, :as_of, CAST(:rules AS jsonb) ->> kind, :profile
            FROM pg_temp.{table}
            """
        ),
        {
            "as_of": query.as_of,
            "rules": json.dumps(rules, ensure_ascii=False),
            "profile": profile,
        },
    )
    return result.rowcount


def stored_flags(
    conn: sa.Connection,
    scope: str,
    *,
    kinds: tuple[str, ...] | None = None,
    limit: int = 100,
    offset: int = 0,
    public: bool = False,
) -> tuple[pd.DataFrame, int]:
    """A page of the ``flag`` table in ``scope`` (as last refreshed) and the total count;
    ``public``: as viewers see them (the sensitivity register)."""
    where = "starts_with(coalesce(f.village_code, f.township_code), :scope)"
    params: dict = {"scope": scope, "limit": limit, "offset": offset}
    if kinds:
        where += " AND f.kind = ANY(:kinds)"
        params["kinds"] = list(kinds)
    total = conn.execute(sa.text(f"SELECT count(*) FROM flag f WHERE {where}"), params).scalar()
    frame = pd.read_sql(
        sa.text(
            f"""
            SELECT f.id, f.kind, f.household_id, h.household_no, f.cadre_id,
                   c.name AS cadre_name, f.village_code, f.township_code, f.as_of,
                   {_columns_sql(("description", "evidence"), public)},
                   f.rule, f.profile, f.computed_at,
                   ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat, f.synthetic
            FROM flag f
            LEFT JOIN household h ON h.id = f.household_id
            LEFT JOIN cadre c ON c.id = f.cadre_id
            WHERE {where}
            ORDER BY f.township_code, f.village_code NULLS LAST, h.household_no, f.kind
            LIMIT :limit OFFSET :offset
            """
        ),
        conn,
        params=params,
    )
    frame["label"] = frame["kind"].map(FLAG_KINDS)
    return frame, int(total or 0)


def _columns_sql(columns: tuple[str, ...], public: bool) -> str:
    """Flag columns of the row ``f``, masked as the register says when ``public``."""
    return ", ".join(
        f"{field_sql('flag', c, f'f.{c}', public=public, alias='f')} AS {c}" for c in columns
    )


def stored_counts(conn: sa.Connection, scope: str) -> pd.DataFrame:
    """Stored flags per township and kind in ``scope``: township_code, kind, flags, as_of."""
    return pd.read_sql(
        sa.text(
            "SELECT township_code, kind, count(*) AS flags, max(as_of) AS as_of FROM flag "
            "WHERE starts_with(coalesce(village_code, township_code), :scope) "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        conn,
        params={"scope": scope},
    )


def is_cadre_kind(kind: str) -> bool:
    return kind in CADRE_KINDS


# --- the flags layer (web map, OGC API – Features) ------------------------------------------

register(Collection(
    id="flag", title="预警 Flags (数字脱贫与帮扶缺位)", source="flag", geometry_type="Point",
    scope_code="coalesce(t.village_code, t.township_code)",
    properties=("kind", "household_id", "cadre_id", "village_code", "township_code", "as_of",
                "description", "evidence", "rule", "profile", "computed_at", "synthetic"),
    filters={
        "township": township_of("t.township_code"),
        "kind": equals("t.kind", FLAG_KINDS),
        "household": integer("t.household_id", "household id"),
        "cadre": integer("t.cadre_id", "cadre id"),
    },
    datetime="as_of",
    tile=TileSpec(min_zoom=8, attributes=((0, ("kind", "household_id", "cadre_id")),
                                          (13, ("kind", "household_id", "cadre_id",
                                                "description")))),
    description="Refreshed by `gongjian flags`: each flag with its rule and evidence. "
                "Descriptions name no person but cadres (officials); ID numbers are masked; "
                "viewers get no incomes (evidence and text, geo/sensitivity.py).",
))  # fmt: skip
