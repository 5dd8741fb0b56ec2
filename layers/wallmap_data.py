"""Everything the township 攻坚图 (wall map) shows, fetched in one read-only transaction.

:func:`fetch_township_sheet` returns a :class:`SheetData`: GeoDataFrames in EPSG:4326 for
the map layers and plain DataFrames for the tables (work-group roster, cadres). The renderer
in ``maps/wallmap`` does no SQL; this module does no drawing.

Status "as of" a date comes from the household archive (动态档案, seed 000; see
``layers.history``): each household as its version in force on that day had it — registered
or not yet, poor, exited on its exit date, returned to poverty (返贫), in the village it lived
in then.

Personal data: with ``public=True`` household head names come back masked in SQL (张*明:
the sensitivity register's rule, as the API applies it), so unmasked names never
reach the renderer. ID numbers and household phones are never fetched. Officials' names and
work phones (roster, cadres) stay: seed 004 "六有" wants them on the office wall.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from layers.history import as_of_params, as_of_sql, latest_effective_date
from layers.sensitivity import field_sql

#: Default share of the township's size added around it when fetching context layers.
CONTEXT_MARGIN = 0.35
#: Simplification tolerance (degrees) of boundaries that only appear in the locator insets.
INSET_TOLERANCE = 0.002


class TownshipNotFound(LookupError):
    """No township with that code."""


class NoBoundaryYet(TownshipNotFound):
    """The township has neither an imported nor a derived polygon (no points yet)."""


class ChangesSinceError(ValueError):
    """A change map's earlier day is not before the map's date."""


@dataclass
class SheetData:
    """The township, its layers and its people, for one wall map.

    Every GeoDataFrame is in EPSG:4326 with its geometry in a column named ``geometry``.
    """

    code: str
    name: str
    county_code: str
    county_name: str
    city: str
    as_of: dt.date
    public: bool
    synthetic: bool
    township: gpd.GeoDataFrame  # one row
    villages: gpd.GeoDataFrame
    hamlets: gpd.GeoDataFrame
    households: gpd.GeoDataFrame
    neighbours: gpd.GeoDataFrame  # other townships around (context, names in grey)
    county_townships: gpd.GeoDataFrame  # every township of the county (inset)
    county: gpd.GeoDataFrame  # the county (one row)
    province: gpd.GeoDataFrame  # every county of the province (inset), simplified
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)  # roads, rivers, …
    roster: pd.DataFrame = field(default_factory=pd.DataFrame)  # work-group members
    cadres: pd.DataFrame = field(default_factory=pd.DataFrame)  # every cadre of a household
    work_group_name: str | None = None
    dem_path: str | None = None
    scattered_only: bool = True
    plan: str | None = None  # a scenario drawn over the map (layers["scenario"]): a 规划图
    # the change map (--changes-since): the earlier day and one row per changed household
    # (geo.changes: kinds, status and village before and now, lon/lat before; geometry now, or
    # before for households that left); households get a ``change`` column (the kind the map shows)
    changes_since: dt.date | None = None
    changes: gpd.GeoDataFrame | None = None

    @property
    def boundaries_derived(self) -> bool:
        """True when the township or a village outline is derived from points (示意界线)."""
        return bool(self.township["boundary_derived"].any()) or bool(
            self.villages["boundary_derived"].any()
        )

    @property
    def title(self) -> str:
        if self.plan:
            return f"{self.name}分散贫困户规划图（方案：{self.plan}）"
        if self.changes_since:
            return f"{self.name}分散贫困户分布及变化图（攻坚图）"
        return f"{self.name}分散贫困户分布图（攻坚图）"


# --- the queries -------------------------------------------------------------------------

TOWNSHIP_SQL = """
SELECT t.code, t.name, t.county_code, c.name AS county_name, c.city, t.synthetic,
       ST_X(t.seat) AS seat_lon, ST_Y(t.seat) AS seat_lat, t.boundary_derived, t.geom
FROM township t JOIN county c ON c.code = t.county_code
WHERE t.code = :code
"""

VILLAGES_SQL = """
SELECT code, name, is_poor_village, key_level, helping_unit, first_secretary,
       population, has_standard_clinic, piped_water, synthetic, boundary_derived, geom
FROM village WHERE township_code = :code AND geom IS NOT NULL ORDER BY code
"""

HAMLETS_SQL = """
SELECT h.id, h.village_code, h.name, h.population, h.road_hardened, h.piped_water, h.geom
FROM hamlet h JOIN village v ON v.code = h.village_code
WHERE v.township_code = :code ORDER BY h.id
"""

# Households as of :as_of (the archive's version in force that day) in :scope_lo..:scope_hi.
# ``uncovered`` comes from the coverage analysis (NULL until `gongjian coverage` has run),
# ``relocation`` (whole / scattered) from the relocation analysis (`gongjian relocation`).
HOUSEHOLDS_SQL = """
SELECT h.id, h.household_no, h.village_code, h.hamlet_id, {head_name} AS head_name,
       h.members, h.category, h.main_cause, h.housing_status, h.cadre_id, h.scattered,
       h.exit_year, h.synthetic, h.status,
       c.uncovered, c.reason_text AS uncovered_reason,
       r.relocation, r.reason_text AS relocation_reason,
       h.geom
FROM ({as_of}) h JOIN village v ON v.code = h.village_code
LEFT JOIN coverage_household c ON c.household_id = h.id
LEFT JOIN relocation_household r ON r.household_id = h.id AND r.candidate
WHERE v.township_code = :code
  AND (NOT :scattered_only OR h.scattered)
ORDER BY h.id
"""

NEIGHBOURS_SQL = """
SELECT t.code, t.name, t.geom
FROM township t, (SELECT ST_Expand(geom, :margin) AS box FROM township WHERE code = :code) b
WHERE t.code <> :code AND t.geom && b.box AND t.geom IS NOT NULL
ORDER BY t.code
"""

COUNTY_TOWNSHIPS_SQL = """
SELECT code, name, ST_SimplifyPreserveTopology(geom, :tolerance / 4) AS geom
FROM township WHERE county_code = :county AND geom IS NOT NULL ORDER BY code
"""

COUNTY_SQL = "SELECT code, name, city, geom FROM county WHERE code = :county"

PROVINCE_SQL = """
SELECT code, name, city, ST_SimplifyPreserveTopology(geom, :tolerance) AS geom
FROM county WHERE left(code, 2) = left(:county, 2) ORDER BY code
"""

# Context layers inside the map's surroundings: name -> SELECT ... WHERE geom && :box
CONTEXT_SQL: dict[str, str] = {
    "rivers": 'SELECT id, name, "order", geom FROM river',
    "roads": "SELECT id, name, road_class, surface, geom FROM road",
    "clinics": "SELECT id, name, level, standard, village_code, geom FROM clinic",
    "water": "SELECT id, name, kind, geom FROM water",
    "schools": "SELECT id, name, level, geom FROM school",
    # whole-hamlet relocations (整体搬迁) of `gongjian relocation`: the outline of the homes
    "relocation_groups": (
        "SELECT group_key AS id, name, candidates, geom FROM relocation_group "
        "WHERE relocation = 'whole'"
    ),
}

ROSTER_SQL = """
SELECT c.id AS cadre_id, c.name, c.unit, c.unit_level, c.phone, m.role, m.duty,
       wg.name AS group_name
FROM work_group wg
JOIN work_group_member m ON m.work_group_id = wg.id
JOIN cadre c ON c.id = m.cadre_id
WHERE wg.township_code = :code
ORDER BY CASE m.role WHEN 'leader' THEN 0 WHEN 'deputy' THEN 1 ELSE 2 END, c.id
"""

CADRES_SQL = """
SELECT id AS cadre_id, name, unit, unit_level, phone FROM cadre
WHERE id = ANY(:ids) ORDER BY id
"""

# Households in the township on :since or on :as_of (the archive's versions in force), side
# by side; geo.changes classifies them.
CHANGES_SQL = """
SELECT coalesce(n.id, w.id) AS id, h.household_no, {head_name} AS head_name,
       w.status AS status_before, n.status AS status_now,
       w.village_code AS village_before, n.village_code AS village_now,
       ST_Distance(w.geom::geography, n.geom::geography) AS moved_m,
       coalesce(n.since, w.since) AS first_day,
       ST_X(w.geom) AS lon_before, ST_Y(w.geom) AS lat_before,
       coalesce(n.geom, w.geom) AS geom
FROM ({now}) n FULL JOIN ({was}) w ON w.id = n.id
JOIN household h ON h.id = coalesce(n.id, w.id)
WHERE NOT :scattered_only OR h.scattered
ORDER BY coalesce(n.village_code, w.village_code), h.household_no
"""

# The township's stored 分组包片 sectors (``gongjian sectors``), for the wall map's overlay.
SECTOR_PLAN_SQL = """
SELECT s.cadre_id AS id, c.name, s.status, s.households, s.hamlets, s.contiguous,
       s.household_ids, s.geom
FROM sector s JOIN cadre c ON c.id = s.cadre_id
WHERE s.township_code = :code AND s.geom IS NOT NULL
ORDER BY s.cadre_id
"""

DEM_SQL = """
SELECT path FROM raster
WHERE kind = 'dem' AND ST_Intersects(bounds, (SELECT geom FROM township WHERE code = :code))
ORDER BY resolution_m, id LIMIT 1
"""


def fetch_township_sheet(
    engine: Engine,
    code: str,
    *,
    as_of: dt.date | None = None,
    public: bool = False,
    scattered_only: bool = True,
    scope: str | None = None,
    margin: float = CONTEXT_MARGIN,
    changes_since: dt.date | None = None,
    sector_plan: bool = False,
) -> SheetData:
    """Read everything the 攻坚图 of township ``code`` shows.

    ``scattered_only`` keeps the households outside the provincial key villages (分散贫困户,
    the work group's charge under seed 004); False adds the key villages' households.
    ``scope`` (a county, township or village code) limits households to that area.
    ``as_of`` defaults to the township's latest effective date in the archive.
    ``changes_since`` (a day before ``as_of``) makes a change map: what the archive records
    changed since then (exits, 返贫, new registrations, moves; see ``geo.changes``).
    ``sector_plan`` adds the township's stored sectors (``gongjian sectors``) as the layer
    ``sector_plan``. Raises TownshipNotFound for an unknown code; ChangesSinceError when
    ``changes_since`` is not before ``as_of``.
    """
    with engine.connect() as conn, conn.begin():
        conn.execute(sa.text("SET TRANSACTION READ ONLY"))
        town = _frame(conn, TOWNSHIP_SQL, code=code)
        if town.empty:
            raise TownshipNotFound(f"no township with code {code!r}")
        if town.geometry.iloc[0] is None:
            raise NoBoundaryYet(
                f"township {code} {town['name'].iloc[0]} has no boundary yet: import its "
                "households (approximate boundaries are derived from their points) or its "
                "polygons (gongjian import townships FILE)"
            )
        as_of = as_of or latest_effective_date(conn, code)
        if changes_since is not None and changes_since >= as_of:
            raise ChangesSinceError(
                f"--changes-since {changes_since} must be before the map's date {as_of}"
            )
        row = town.iloc[0]
        county = row["county_code"]
        box_margin = _box_margin(town, margin)
        households = _frame(
            conn,
            HOUSEHOLDS_SQL.format(head_name=_head_name_sql(public), as_of=as_of_sql()),
            code=code,
            scattered_only=scattered_only,
            **as_of_params(scope or code, as_of),
        )
        roster = pd.read_sql(sa.text(ROSTER_SQL), conn, params={"code": code})
        cadre_ids = sorted(set(households["cadre_id"].dropna().astype(int)))
        cadres = pd.read_sql(sa.text(CADRES_SQL), conn, params={"ids": cadre_ids})
        villages = _frame(conn, VILLAGES_SQL, code=code)
        sheet = SheetData(
            code=code,
            name=row["name"],
            county_code=county,
            county_name=row["county_name"],
            city=row["city"],
            as_of=as_of,
            public=public,
            synthetic=bool(row["synthetic"])
            or bool(households["synthetic"].any())
            or bool(villages["synthetic"].any()),
            township=town,
            villages=villages,
            hamlets=_frame(conn, HAMLETS_SQL, code=code),
            households=households,
            neighbours=_frame(conn, NEIGHBOURS_SQL, code=code, margin=box_margin),
            county_townships=_frame(
                conn, COUNTY_TOWNSHIPS_SQL, county=county, tolerance=INSET_TOLERANCE
            ),
            county=_frame(conn, COUNTY_SQL, county=county),
            province=_frame(conn, PROVINCE_SQL, county=county, tolerance=INSET_TOLERANCE),
            layers=fetch_context_layers(conn, code, box_margin),
            roster=roster,
            cadres=cadres,
            work_group_name=roster["group_name"].iloc[0] if not roster.empty else None,
            dem_path=conn.execute(sa.text(DEM_SQL), {"code": code}).scalar(),
            scattered_only=scattered_only,
        )
        if changes_since is not None:
            _add_changes(conn, sheet, changes_since, scope, public)
        if sector_plan:  # the overlay of `gongjian sectors`' proposal (or accepted sectors)
            sheet.layers["sector_plan"] = _frame(conn, SECTOR_PLAN_SQL, code=code)
    return sheet


def _add_changes(
    conn: sa.Connection, sheet: SheetData, since: dt.date, scope: str | None, public: bool
) -> None:
    """Fill ``sheet.changes`` and the households' ``change`` column (see :data:`CHANGES_SQL`)."""
    from geo.changes import household_changes

    sql = CHANGES_SQL.format(
        head_name=_head_name_sql(public),
        now=as_of_sql("scope", "as_of"),
        was=as_of_sql("scope", "since"),
    )
    params = {**as_of_params(scope or sheet.code, sheet.as_of), "since": since}
    rows = _frame(conn, sql, scattered_only=sheet.scattered_only, **params)
    rows["kinds"] = household_changes(rows, since)
    changes = rows[rows["kinds"].map(bool)].reset_index(drop=True)
    sheet.changes_since, sheet.changes = since, changes
    first_kind = dict(zip(changes["id"], changes["kinds"].map(lambda k: k[0]), strict=True))
    sheet.households["change"] = sheet.households["id"].map(first_kind)


def fetch_context_layers(
    conn: sa.Connection, code: str, margin: float, names: tuple[str, ...] | None = None
) -> dict[str, gpd.GeoDataFrame]:
    """Roads, rivers, clinics, water and schools around township ``code``.

    Adding a layer to the wall map is one entry in :data:`CONTEXT_SQL` plus its style.
    """
    box = "(SELECT ST_Expand(geom, :margin) FROM township WHERE code = :code)"
    layers = {}
    for name in names or tuple(CONTEXT_SQL):
        sql = f"SELECT * FROM ({CONTEXT_SQL[name]}) AS layer WHERE geom && {box} ORDER BY id"
        layers[name] = _frame(conn, sql, code=code, margin=margin)
    return layers


def county_township_codes(engine: Engine, county: str) -> list[str]:
    """Codes of the townships of ``county`` in code order (for the atlas)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT code FROM township WHERE county_code = :c ORDER BY code"),
            {"c": county},
        )
        return [r[0] for r in rows]


def county_name(engine: Engine, county: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT name FROM county WHERE code = :c"), {"c": county}
        ).scalar()


def _head_name_sql(public: bool) -> str:
    return field_sql("household", "head_name", "h.head_name", public=public)


def _box_margin(town: gpd.GeoDataFrame, share: float) -> float:
    minx, miny, maxx, maxy = town.total_bounds
    return share * max(maxx - minx, maxy - miny)


def _frame(conn: sa.Connection, sql: str, **params) -> gpd.GeoDataFrame:
    frame = gpd.read_postgis(sa.text(sql), conn, geom_col="geom", params=params, crs=4326)
    return frame.rename_geometry("geometry")


def synthetic_township_codes(engine: Engine) -> list[str]:
    """Codes of the demo (synthetic) townships, in code order."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT code FROM township WHERE synthetic ORDER BY code"))
        return [r[0] for r in rows]


def county_overview(engine: Engine, county: str, as_of: dt.date) -> gpd.GeoDataFrame:
    """Townships of a county with their scattered households by status (the atlas cover):
    ``households``, ``poor`` (未脱贫), ``returned`` (返贫) and ``exited``, as the sheets
    count them."""
    sql = f"""
    SELECT t.code, t.name, t.geom,
           count(h.id) AS households,
           count(h.id) FILTER (WHERE h.status = 'poor') AS poor,
           count(h.id) FILTER (WHERE h.status = 'returned') AS returned,
           count(h.id) FILTER (WHERE h.status = 'exited') AS exited
    FROM township t
    LEFT JOIN ({as_of_sql()}) h ON h.township_code = t.code AND h.scattered
    WHERE t.county_code = :county
    GROUP BY t.code, t.name, t.geom ORDER BY t.code
    """
    with engine.connect() as conn:
        return _frame(conn, sql, county=county, **as_of_params(county, as_of))


# --- caching a rendered sheet --------------------------------------------------------------

# The tables a township sheet reads besides its households; each has a change counter
# (migrations 0003, 0004, 0007, 0011). Households (and their archive, written with them) are
# fingerprinted per township instead (:func:`township_households_fingerprint`), so an edit
# in one township does not throw away the sheets of the others.
SHEET_TABLES = (
    "county", "township", "village", "hamlet", "cadre", "work_group", "work_group_member",
    "road", "river", "clinic", "school", "water", "raster", "hazard_zone", "karst_zone",
    "coverage_household", "relocation_household", "relocation_group",
)  # fmt: skip
HOUSEHOLDS_FINGERPRINT_SQL = """
SELECT count(*), coalesce(sum(version), 0), max(updated_at)
FROM household WHERE starts_with(village_code, :code)
"""


def township_households_fingerprint(conn: sa.Connection, code: str) -> str:
    """Changes whenever a household of the township is added, removed or edited (every
    edit raises its version; an import that moves one away lowers the count)."""
    row = conn.execute(sa.text(HOUSEHOLDS_FINGERPRINT_SQL), {"code": code}).one()
    count, versions, latest = row
    return f"{count}/{versions}/{latest.isoformat() if latest else '-'}"


def sheet_cache_key(versions: tuple[int, ...] | None, **request: object) -> str | None:
    """A cache key for a rendered sheet: what was asked (township, format, paper, public,
    scope …), today's date (the sheet shows status as of today) and the tables' change
    counters. None when the counters are unknown: then render, never cache.

    >>> sheet_cache_key((1, 2), code="441882101") == sheet_cache_key((1, 2), code="441882101")
    True
    >>> sheet_cache_key((1, 3), code="441882101") == sheet_cache_key((1, 2), code="441882101")
    False
    """
    import hashlib

    if versions is None:
        return None
    parts = [repr(sorted(request.items())), dt.date.today().isoformat(), repr(versions)]
    return "sheet:" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def data_as_of(engine: Engine, code: str) -> dt.date:
    """The default 截至 date of a county's or township's maps: the archive's latest
    effective date there (``layers.history.latest_effective_date``)."""
    with engine.connect() as conn:
        return latest_effective_date(conn, code)
