"""The monthly progress report (每月一报, seed 001) of a township or county, as of a day.

Every figure is one SQL aggregate over the dynamic archive (``household_history``), the help
records and the coverage tables — no Python loop over households. The units of a township
report are its villages, those of a county report its townships.

>>> from geo.flags import Period
>>> # report = monthly_report(conn, "441882101", Period.of("2018-06"), profile)  # doctest: +SKIP

Figures (each a DataFrame of :class:`MonthlyReport`):

* ``status``: households and people by status per unit (未脱贫/已脱贫/返贫);
* ``exits``: exits and returns this month and this year per unit, against the year's target
  (seed 002 §3's yearly numbers scaled to the unit's registered people) and the cumulative one;
* ``progress``: month by month in the report's year: households by status at each month's
  end, exits in the month and cumulated, the year's target;
* ``income``: households by income band against the lines of their income year, by status;
  ``income_histogram``: 500-yuan buckets for the chart;
* ``housing``: dangerous-house rebuilding (危房改造) per unit;
* ``measures``: help records per 九到户 measure this month and this year;
* ``cadres``: per responsible cadre: households, records this month/year, last record;
* ``coverage``: the coverage tables' summary per unit (when ``gongjian coverage`` has run);
* ``flags``: flags per unit and kind as of the day.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa

from geo import vocab
from geo.flags import (
    FLAG_KINDS,
    MonitoringPolicy,
    Period,
    cumulative_target_share,
    exit_line,
    exit_target_share,
    monitoring_policy,
)
from geo.policy import Profile
from layers.flags import FlagQuery, compute_flags, count_flags, list_flags
from layers.history import CANDIDATES_SQL, as_of_params, as_of_sql, scope_range

STATUSES = tuple(vocab.STATUS)  # poor, exited, returned
HISTOGRAM_STEP = 500  # yuan per bucket of the income chart
HISTOGRAM_MAX = 15_000  # the last bucket holds everything above
INCOME_BANDS = {
    "below_profile": "低于4,000元线（按年折算）",
    "below_exit": "4,000元线至脱贫线之间",
    "above_exit": "达到脱贫线（45%，2018年7,365元）",
    "unknown": "无收入记录",
}


class ReportError(LookupError):
    """No such township or county, or nothing to report."""


@dataclass(frozen=True)
class Area:
    """The reported township or county and the level of its units."""

    code: str
    level: str  # township or county
    name: str
    county_name: str
    city: str
    synthetic: bool

    @property
    def unit_digits(self) -> int:
        """Units: villages (12 digits) of a township, townships (9) of a county."""
        return 12 if self.level == "township" else 9

    @property
    def unit_level(self) -> str:
        return "village" if self.level == "township" else "township"

    @property
    def title(self) -> str:
        if self.level == "county":
            return f"{self.city}{self.name}"
        return f"{self.county_name}{self.name}"


def find_area(conn: sa.Connection, code: str) -> Area:
    """The township (9 digits) or county (6 digits) ``code``; ReportError if unknown."""
    if len(code) == 9 and code.isdigit():
        row = conn.execute(
            sa.text(
                # LEFT JOIN: a township-scoped caller does not see the county row (RLS)
                "SELECT t.code, t.name, coalesce(c.name, '') AS county_name, c.city, "
                "t.synthetic FROM township t LEFT JOIN county c ON c.code = t.county_code "
                "WHERE t.code = :c"
            ),
            {"c": code},
        ).first()
        level = "township"
    elif len(code) == 6 and code.isdigit():
        row = conn.execute(
            sa.text(
                "SELECT code, name, name AS county_name, city, synthetic FROM county "
                "WHERE code = :c"
            ),
            {"c": code},
        ).first()
        level = "county"
    else:
        raise ReportError(f"give a 9-digit township or 6-digit county code, got {code!r}")
    if row is None:
        raise ReportError(f"no {level} with code {code}")
    return Area(row.code, level, row.name, row.county_name, row.city or "", bool(row.synthetic))


@dataclass
class MonthlyReport:
    """Everything the monthly report shows; rendered by ``maps.reports``."""

    area: Area
    period: Period
    policy: MonitoringPolicy
    profile_name: str
    profile_fingerprint: str
    synthetic: bool
    generated_at: dt.datetime
    summary: dict
    status: pd.DataFrame
    exits: pd.DataFrame
    progress: pd.DataFrame
    income: pd.DataFrame
    income_histogram: pd.DataFrame
    housing: pd.DataFrame
    measures: pd.DataFrame
    cadres: pd.DataFrame
    coverage: pd.DataFrame | None
    flags: pd.DataFrame
    flag_list: pd.DataFrame
    units: gpd.GeoDataFrame
    households: gpd.GeoDataFrame = field(default_factory=gpd.GeoDataFrame)


# --- SQL --------------------------------------------------------------------------------------

# The two temporary tables every figure reads (see prepare): the area's households as of
# :as_of, and the versions up to :as_of of every household ever in the area, with their unit
# and the previous status and housing.
HOUSEHOLDS_TABLE, VERSIONS_TABLE = "report_households", "report_versions"
# NOT MATERIALIZED: the planner then sees the tables' statistics (ANALYZE in PREPARE).
A = f"a AS NOT MATERIALIZED (SELECT * FROM pg_temp.{HOUSEHOLDS_TABLE})"
VERSIONS = f"ver AS NOT MATERIALIZED (SELECT * FROM pg_temp.{VERSIONS_TABLE})"

CANDIDATES_TABLE, RECORDS_TABLE = "report_candidates", "report_records"
TEMP_TABLES = (CANDIDATES_TABLE, HOUSEHOLDS_TABLE, VERSIONS_TABLE, RECORDS_TABLE)

# Each step reads the previous ones through the small, analysed temporary tables, so the
# planner goes by household through the indexes instead of scanning whole tables.
PREPARE = (
    f"""CREATE TEMP TABLE {CANDIDATES_TABLE} ON COMMIT DROP AS
    SELECT household_id FROM {CANDIDATES_SQL.format(lo=":scope_lo", hi=":scope_hi")}""",
    f"ANALYZE {CANDIDATES_TABLE}",
    f"""CREATE TEMP TABLE {HOUSEHOLDS_TABLE} ON COMMIT DROP AS
    {as_of_sql(candidates=f"pg_temp.{CANDIDATES_TABLE}")}""",
    f"ANALYZE {HOUSEHOLDS_TABLE} (id, village_code, status, cadre_id, housing_status)",
    f"""
    CREATE TEMP TABLE {VERSIONS_TABLE} ON COMMIT DROP AS
    SELECT v.id, v.household_id, v.valid_from, v.village_code, v.members, v.status,
           v.housing_status, left(v.village_code, :digits) AS unit,
           lag(v.status) OVER w AS prev_status, lag(v.housing_status) OVER w AS prev_housing,
           lead(v.valid_from) OVER w AS valid_to,
           v.village_code BETWEEN CAST(:scope_lo AS char(12)) AND CAST(:scope_hi AS char(12))
               AS in_area
    FROM pg_temp.{CANDIDATES_TABLE} c
    CROSS JOIN LATERAL (  -- by household through the index, not a scan of the whole archive
        SELECT * FROM household_history x
        WHERE x.household_id = c.household_id AND x.valid_from <= :as_of
        OFFSET 0) v  -- OFFSET 0: kept as a per-household subquery, not flattened into a join
    WINDOW w AS (PARTITION BY v.household_id ORDER BY v.valid_from, v.id)
    """,
    f"ANALYZE {VERSIONS_TABLE}",
    # the help records of the area's households up to the day
    f"""
    CREATE TEMP TABLE {RECORDS_TABLE} ON COMMIT DROP AS
    SELECT r.household_id, r.date, r.cadre_id, r.measure, r.amount, r.signed_household,
           r.signed_village, r.signed_cadre
    FROM pg_temp.{HOUSEHOLDS_TABLE} a
    CROSS JOIN LATERAL (SELECT * FROM help_record x
                        WHERE x.household_id = a.id AND x.date <= :as_of OFFSET 0) r
    """,
    f"ANALYZE {RECORDS_TABLE}",
)


def prepare(conn: sa.Connection, params: dict) -> None:
    """Build the report's temporary tables (dropped at commit) once for all its figures."""
    conn.execute(sa.text("SET LOCAL jit = off"))  # big plans, rough estimates: JIT costs seconds
    for table in TEMP_TABLES:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS pg_temp.{table}"))
    for statement in PREPARE:
        conn.execute(sa.text(statement), params)


IN_AREA = "village_code BETWEEN CAST(:scope_lo AS char(12)) AND CAST(:scope_hi AS char(12))"

STATUS_SQL = f"""
WITH {A}
SELECT left(village_code, :digits) AS unit,
       count(*) AS households, sum(members) AS people,
       count(*) FILTER (WHERE status = 'poor') AS poor_households,
       coalesce(sum(members) FILTER (WHERE status = 'poor'), 0) AS poor_people,
       count(*) FILTER (WHERE status = 'exited') AS exited_households,
       coalesce(sum(members) FILTER (WHERE status = 'exited'), 0) AS exited_people,
       count(*) FILTER (WHERE status = 'returned') AS returned_households,
       coalesce(sum(members) FILTER (WHERE status = 'returned'), 0) AS returned_people,
       count(*) FILTER (WHERE scattered) AS scattered_households
FROM a GROUP BY 1 ORDER BY 1
"""

# Exits and returns: versions whose status became 'exited' ('returned') during the year, in
# the area; a household counts once (its last such change), with its members at that time.
EVENTS = """
    events AS MATERIALIZED (
        SELECT household_id, id, valid_from, unit, members, status AS became FROM ver
        WHERE status <> prev_status AND status IN ('exited', 'returned')
          AND valid_from >= :year_start AND in_area)
"""

EXITS_SQL = f"""
WITH {VERSIONS}, {EVENTS},
last AS (
    SELECT DISTINCT ON (household_id, became) * FROM events
    ORDER BY household_id, became, valid_from DESC, id DESC)
SELECT unit,
       count(*) FILTER (WHERE became = 'exited' AND valid_from >= :month_start)
           AS exits_month_households,
       coalesce(sum(members) FILTER (WHERE became = 'exited' AND valid_from >= :month_start), 0)
           AS exits_month_people,
       count(*) FILTER (WHERE became = 'exited') AS exits_year_households,
       coalesce(sum(members) FILTER (WHERE became = 'exited'), 0) AS exits_year_people,
       count(*) FILTER (WHERE became = 'returned' AND valid_from >= :month_start)
           AS returns_month_households,
       count(*) FILTER (WHERE became = 'returned') AS returns_year_households
FROM last GROUP BY unit ORDER BY unit
"""

# Month by month in the year: households by status at the month's end; exits in the month
# and in the year up to its end (each household once, as in EXITS_SQL).
PROGRESS_SQL = f"""
WITH {VERSIONS}, {EVENTS},
months AS MATERIALIZED (
    SELECT m::date AS month_start,
           least((m + interval '1 month - 1 day')::date, CAST(:as_of AS date)) AS month_end
    FROM generate_series(CAST(:year_start AS date), CAST(:as_of AS date), interval '1 month') m)
SELECT to_char(m.month_start, 'YYYY-MM') AS month, m.month_end,
       s.poor_households, s.exited_households, s.returned_households,
       e.exits_households, e.exits_people, y.exits_households_cumulative,
       y.exits_people_cumulative
FROM months m
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE status = 'poor') AS poor_households,
           count(*) FILTER (WHERE status = 'exited') AS exited_households,
           count(*) FILTER (WHERE status = 'returned') AS returned_households
    FROM ver
    WHERE in_area AND valid_from <= m.month_end
      AND (valid_to IS NULL OR valid_to > m.month_end)) s
CROSS JOIN LATERAL (
    SELECT count(*) AS exits_households, coalesce(sum(members), 0) AS exits_people
    FROM (SELECT DISTINCT ON (household_id) members FROM events
          WHERE became = 'exited' AND valid_from BETWEEN m.month_start AND m.month_end
          ORDER BY household_id, valid_from DESC, id DESC) x) e
CROSS JOIN LATERAL (
    SELECT count(*) AS exits_households_cumulative,
           coalesce(sum(members), 0) AS exits_people_cumulative
    FROM (SELECT DISTINCT ON (household_id) members FROM events
          WHERE became = 'exited' AND valid_from <= m.month_end
          ORDER BY household_id, valid_from DESC, id DESC) x) y
ORDER BY m.month_start
"""

INCOME_SQL = f"""
WITH {A},
banded AS (
    SELECT a.status, a.income,
           CASE WHEN a.income IS NULL THEN 'unknown'
                WHEN a.income < (CAST(:lines AS jsonb) -> a.income_year::text ->> 'other')::numeric
                    THEN 'below_profile'
                WHEN a.income < (CAST(:lines AS jsonb) -> a.income_year::text
                    ->> CASE WHEN a.labour_members > 0 THEN 'labour' ELSE 'other' END)::numeric
                    THEN 'below_exit'
                ELSE 'above_exit' END AS band
    FROM a)
SELECT band, count(*) FILTER (WHERE status = 'poor') AS poor,
       count(*) FILTER (WHERE status = 'exited') AS exited,
       count(*) FILTER (WHERE status = 'returned') AS returned,
       count(*) AS households
FROM banded GROUP BY band
"""

INCOME_HISTOGRAM_SQL = f"""
WITH {A}
SELECT least(floor(income / :step)::int, :buckets) * :step AS bucket,
       count(*) FILTER (WHERE status = 'poor') AS poor,
       count(*) FILTER (WHERE status = 'exited') AS exited,
       count(*) FILTER (WHERE status = 'returned') AS returned
FROM a WHERE income IS NOT NULL GROUP BY 1 ORDER BY 1
"""

INCOME_YEAR_SQL = f"""
WITH {A}
SELECT mode() WITHIN GROUP (ORDER BY income_year) AS income_year,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY income) AS median_income
FROM a
"""

HOUSING_SQL = f"""
WITH {VERSIONS},
a AS NOT MATERIALIZED (
    SELECT id AS household_id, village_code, left(village_code, :digits) AS unit,
           housing_status, status
    FROM pg_temp.{HOUSEHOLDS_TABLE}),
ever AS (SELECT household_id FROM ver
         WHERE housing_status IN ('dangerous_c', 'dangerous_d') GROUP BY household_id),
rebuilt AS (  -- the last change from a dangerous house to a rebuilt or relocated one
    SELECT household_id, max(valid_from) AS day FROM ver
    WHERE housing_status IN ('renovated', 'relocated')
      AND prev_housing IN ('dangerous_c', 'dangerous_d')
    GROUP BY household_id)
SELECT a.unit,
       count(*) AS dangerous_ever,
       count(*) FILTER (WHERE a.housing_status IN ('dangerous_c', 'dangerous_d'))
           AS still_dangerous,
       count(*) FILTER (WHERE a.housing_status = 'dangerous_c') AS still_c,
       count(*) FILTER (WHERE a.housing_status = 'dangerous_d') AS still_d,
       count(*) FILTER (WHERE a.housing_status IN ('renovated', 'relocated')) AS rebuilt,
       count(*) FILTER (WHERE a.housing_status IN ('dangerous_c', 'dangerous_d')
                        AND a.status = 'exited') AS exited_in_danger,
       count(*) FILTER (WHERE a.housing_status IN ('renovated', 'relocated')
                        AND r.day >= :month_start) AS rebuilt_month,
       count(*) FILTER (WHERE a.housing_status IN ('renovated', 'relocated')
                        AND r.day >= :year_start) AS rebuilt_year
FROM a JOIN ever USING (household_id)
LEFT JOIN rebuilt r USING (household_id)
GROUP BY a.unit ORDER BY a.unit
"""

MEASURES_SQL = f"""
SELECT r.measure,
       count(*) FILTER (WHERE r.date >= :month_start) AS records_month,
       count(DISTINCT r.household_id) FILTER (WHERE r.date >= :month_start)
           AS households_month,
       count(*) AS records_year,
       count(DISTINCT r.household_id) AS households_year,
       coalesce(sum(r.amount), 0) AS amount_year,
       count(*) FILTER (WHERE r.signed_household AND r.signed_village AND r.signed_cadre)
           AS fully_signed_year
FROM pg_temp.{RECORDS_TABLE} r
WHERE r.date >= :year_start
GROUP BY r.measure
"""

CADRES_SQL = f"""
WITH {A},
records AS NOT MATERIALIZED (
    SELECT cadre_id, household_id, date FROM pg_temp.{RECORDS_TABLE}
    WHERE cadre_id IS NOT NULL),
by_cadre AS (
    SELECT cadre_id, count(*) FILTER (WHERE date >= :month_start) AS records_month,
           count(*) FILTER (WHERE date >= :year_start) AS records_year, max(date) AS last_record
    FROM records GROUP BY cadre_id),
last_seen AS (  -- each household's last record by its own cadre
    SELECT a.id, a.cadre_id, max(r.date) AS last FROM a
    LEFT JOIN records r ON r.household_id = a.id AND r.cadre_id = a.cadre_id
    WHERE a.cadre_id IS NOT NULL GROUP BY a.id, a.cadre_id),
assigned AS (
    SELECT a.cadre_id, count(*) AS households,
           count(*) FILTER (WHERE a.status <> 'exited') AS poor_households,
           count(*) FILTER (WHERE s.last IS NULL OR s.last < :as_of - :no_help_days)
               AS households_unvisited
    FROM a JOIN last_seen s ON s.id = a.id GROUP BY a.cadre_id)
SELECT c.id AS cadre_id, c.name, c.unit, c.unit_level, c.township_code,
       n.households, n.poor_households, coalesce(b.records_month, 0) AS records_month,
       coalesce(b.records_year, 0) AS records_year, b.last_record, n.households_unvisited
FROM assigned n
JOIN cadre c ON c.id = n.cadre_id
LEFT JOIN by_cadre b ON b.cadre_id = c.id
ORDER BY c.township_code, n.households DESC, c.id
"""

NO_CADRE_SQL = f"WITH {A} SELECT count(*) FROM a WHERE cadre_id IS NULL"

COVERAGE_SQL = {
    "township": """
        SELECT village_code AS unit, households, uncovered, flag_road, flag_hamlet_road,
               flag_clinic, flag_water, flag_school, flag_cadre, computed_at
        FROM coverage_village WHERE township_code = :code ORDER BY village_code
    """,
    "county": """
        SELECT township_code AS unit, households, uncovered, flag_road, flag_hamlet_road,
               flag_clinic, flag_water, flag_school, flag_cadre, computed_at
        FROM coverage_township WHERE starts_with(township_code, :code) ORDER BY township_code
    """,
}

UNITS_SQL = {
    "township": """
        SELECT code AS unit, name, is_poor_village, key_level, geom FROM village
        WHERE township_code = :code ORDER BY code
    """,
    "county": """
        SELECT code AS unit, name, NULL::boolean AS is_poor_village, NULL::text AS key_level,
               geom FROM township WHERE county_code = :code ORDER BY code
    """,
}

MAP_HOUSEHOLDS_SQL = f"WITH {A} SELECT id, status, geom FROM a ORDER BY id"


# --- building the report ------------------------------------------------------------------


def _params(area: Area, period: Period, policy: MonitoringPolicy) -> dict:
    lines = {
        str(y): {
            "labour": exit_line(policy, y, labour=True),
            "other": exit_line(policy, y, labour=False),
        }
        for y in range(2000, 2051)
    }
    lo, hi = scope_range(area.code)
    return as_of_params(area.code, period.as_of) | {
        "scope_lo": lo,
        "scope_hi": hi,
        "digits": area.unit_digits,
        "code": area.code,
        "month_start": period.start,
        "year_start": period.year_start,
        "lines": json.dumps(lines),
        "step": HISTOGRAM_STEP,
        "buckets": HISTOGRAM_MAX // HISTOGRAM_STEP,
        "no_help_days": policy.no_help_days,
    }


def _frame(conn: sa.Connection, sql: str, params: dict) -> pd.DataFrame:
    return pd.read_sql(sa.text(sql), conn, params=params)


def monthly_report(
    conn: sa.Connection,
    code: str,
    period: Period,
    profile: Profile,
    *,
    with_flags: bool = True,
    with_map: bool = True,
    public: bool = False,
) -> MonthlyReport:
    """Compute the monthly report of township/county ``code`` for ``period``; ``public``:
    its flag list as viewers see it (the sensitivity register: no incomes)."""
    area = find_area(conn, code)
    policy = monitoring_policy(profile)
    params = _params(area, period, policy)
    prepare(conn, params)
    units = gpd.read_postgis(
        sa.text(UNITS_SQL[area.level]), conn, geom_col="geom", params=params, crs="EPSG:4326"
    )
    figures = report_figures(conn, area, period, policy, params)
    status = _with_units(figures["status"], units)
    if status.empty:
        raise ReportError(f"{area.title} has no registered households on {period.as_of}")
    exits = _with_units(figures["exits"], units, status["unit"])
    exits = _exit_targets(exits, status, period, policy)
    flags, flag_list = _flags(conn, area, period, policy, with_flags, public)
    report = MonthlyReport(
        area=area,
        period=period,
        policy=policy,
        profile_name=profile.name,
        profile_fingerprint=profile.fingerprint,
        synthetic=area.synthetic or bool(figures["synthetic"]),
        generated_at=dt.datetime.now().astimezone(),
        summary={},
        status=status,
        exits=exits,
        progress=_progress_targets(figures["progress"], status, period, policy),
        income=figures["income"],
        income_histogram=figures["income_histogram"],
        housing=_with_units(figures["housing"], units),
        measures=figures["measures"],
        cadres=figures["cadres"],
        coverage=_with_units(figures["coverage"], units) if len(figures["coverage"]) else None,
        flags=flags,
        flag_list=flag_list,
        units=units,
    )
    report.summary = _summary(report, figures)
    if with_map and area.level == "township":
        report.households = gpd.read_postgis(
            sa.text(MAP_HOUSEHOLDS_SQL), conn, geom_col="geom", params=params, crs="EPSG:4326"
        )
    return report


def report_figures(
    conn: sa.Connection, area: Area, period: Period, policy: MonitoringPolicy, params: dict
) -> dict:
    """The report's figures straight from SQL (no names, targets or flags): for benchmarks
    and the tests' independent checks. Needs :func:`prepare` first."""
    income_year = conn.execute(sa.text(INCOME_YEAR_SQL), params).one()
    measures = _frame(conn, MEASURES_SQL, params)
    measures = _all_rows(measures, "measure", list(vocab.MEASURE))
    measures.insert(1, "label", measures["measure"].map(vocab.MEASURE))
    income = _frame(conn, INCOME_SQL, params)
    income = _all_rows(income, "band", list(INCOME_BANDS))
    income.insert(1, "label", income["band"].map(INCOME_BANDS))
    synthetic = conn.execute(
        sa.text(f"WITH {A} SELECT coalesce(bool_or(synthetic), false) FROM a"), params
    ).scalar()
    return {
        "status": _frame(conn, STATUS_SQL, params),
        "exits": _frame(conn, EXITS_SQL, params),
        "progress": _frame(conn, PROGRESS_SQL, params),
        "income": income,
        "income_histogram": _frame(conn, INCOME_HISTOGRAM_SQL, params),
        "income_year": income_year.income_year,
        "median_income": income_year.median_income,
        "housing": _frame(conn, HOUSING_SQL, params),
        "measures": measures,
        "cadres": _frame(conn, CADRES_SQL, params),
        "without_cadre": conn.execute(sa.text(NO_CADRE_SQL), params).scalar(),
        "coverage": _frame(conn, COVERAGE_SQL[area.level], params),
        "synthetic": synthetic,
    }


def _all_rows(frame: pd.DataFrame, key: str, keys: list) -> pd.DataFrame:
    """One row per value of ``keys`` in that order; counts of missing ones are 0."""
    out = pd.DataFrame({key: keys}).merge(frame, on=key, how="left")
    for column in out.columns:
        if column != key:
            out[column] = pd.to_numeric(out[column], errors="coerce").fillna(0)
    return out


def _with_units(frame: pd.DataFrame, units: pd.DataFrame, keep=None) -> pd.DataFrame:
    """Unit names next to the codes; ``keep`` adds rows (zeros) for units without any."""
    names = units[["unit", "name"]]
    if keep is not None:
        frame = _all_rows(frame, "unit", list(keep))
    out = frame.merge(names, on="unit", how="left")
    out["name"] = out["name"].fillna(out["unit"])
    columns = ["unit", "name", *[c for c in frame.columns if c not in ("unit", "name")]]
    return out[columns].reset_index(drop=True)


def _exit_targets(
    exits: pd.DataFrame, status: pd.DataFrame, period: Period, policy: MonitoringPolicy
) -> pd.DataFrame:
    """The year's target per unit: seed 002's yearly share of the unit's registered people."""
    year = period.start.year
    people = exits[["unit"]].merge(status[["unit", "people", "exited_people"]], on="unit")
    exits = exits.copy()
    exits["target_year_people"] = (people["people"] * exit_target_share(policy, year)).round()
    exits["progress_year"] = exits["exits_year_people"] / exits["target_year_people"].where(
        exits["target_year_people"] > 0
    )
    exits["exited_people"] = people["exited_people"]
    exits["target_cumulative_people"] = (
        people["people"] * cumulative_target_share(policy, year)
    ).round()
    return exits


def _progress_targets(
    progress: pd.DataFrame, status: pd.DataFrame, period: Period, policy: MonitoringPolicy
) -> pd.DataFrame:
    progress = progress.copy()
    target = round(status["people"].sum() * exit_target_share(policy, period.start.year))
    progress["target_year_people"] = target
    return progress


def _flags(conn, area: Area, period: Period, policy: MonitoringPolicy, wanted: bool, public: bool):
    if not wanted:
        return pd.DataFrame(columns=["unit", "kind", "flags"]), pd.DataFrame()
    query = FlagQuery(area.code, period.as_of)
    computed = compute_flags(conn, query, policy, "report_flags", households=HOUSEHOLDS_TABLE)
    counts = count_flags(conn, computed, unit_digits=area.unit_digits)
    table = counts.pivot_table(index="unit", columns="kind", values="flags", fill_value=0)
    table = table.reindex(columns=[k for k in FLAG_KINDS if k in table.columns]).reset_index()
    listing = list_flags(conn, computed, policy, public=public)
    return table, pd.DataFrame(listing.drop(columns="geom"))


def _total(frame: pd.DataFrame | None, column: str) -> int:
    return int(frame[column].sum()) if frame is not None and len(frame) else 0


def _summary(report: MonthlyReport, figures: dict) -> dict:
    """The key figures of the report's first page."""
    status, exits = report.status, report.exits
    people, year = _total(status, "people"), report.period.start.year
    # the area's own targets (per-unit targets are rounded each, so they may add up to ±1)
    year_target = round(people * exit_target_share(report.policy, year))
    exits_year_people = _total(exits, "exits_year_people")
    income_year = int(figures["income_year"] or report.period.start.year)
    totals = {
        column: _total(status, column)
        for column in (
            "households", "people", "poor_households", "poor_people", "exited_households",
            "exited_people", "returned_households",
        )
    }  # fmt: skip
    return totals | {
        "exits_month_households": _total(exits, "exits_month_households"),
        "exits_month_people": _total(exits, "exits_month_people"),
        "exits_year_households": _total(exits, "exits_year_households"),
        "exits_year_people": exits_year_people,
        "target_year_people": year_target,
        "progress_year": exits_year_people / year_target if year_target else None,
        "target_cumulative_people": round(people * cumulative_target_share(report.policy, year)),
        "income_year": income_year,
        "median_income": figures["median_income"],
        "exit_line": exit_line(report.policy, income_year, labour=True),
        "dangerous_ever": _total(report.housing, "dangerous_ever"),
        "still_dangerous": _total(report.housing, "still_dangerous"),
        "records_month": _total(report.measures, "records_month"),
        "records_year": _total(report.measures, "records_year"),
        "cadres": len(report.cadres),
        "without_cadre": int(figures["without_cadre"]),
        "flags": len(report.flag_list),
    }


def progress_series(
    conn: sa.Connection, code: str, months: list[Period], profile: Profile
) -> pd.DataFrame:
    """Status counts at each month's end and exits per month over several years (dashboard)."""
    area = find_area(conn, code)
    policy = monitoring_policy(profile)
    frames = []
    for year in sorted({p.start.year for p in months}):
        in_year = [p for p in months if p.start.year == year]
        last = max(in_year, key=lambda p: p.as_of)
        params = _params(area, last, policy)
        prepare(conn, params)
        frame = _frame(conn, PROGRESS_SQL, params)
        people = conn.execute(sa.text(f"WITH {A} SELECT sum(members) FROM a"), params).scalar()
        frame["target_year_people"] = round((people or 0) * exit_target_share(policy, year))
        wanted = {p.month for p in in_year}
        frames.append(frame[frame["month"].isin(wanted)])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
