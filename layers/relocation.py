"""Relocation analysis in the database: read a county's layers, assess, store, query, export.

:func:`refresh` reads the inputs of each county's townships from PostGIS (households,
hamlets and villages of the townships; roads, facilities, water, hazard and karst zones and
rivers up to ``network.margin_m`` beyond them; the DEM registered in ``raster``), runs the
pure computation ``geo.relocation.assess_relocation`` and replaces those townships' rows in
the result tables of migration 0007 — in one transaction per county, so a failed run leaves
the old results. The queries below serve the CLI, the API and the maps, always filtered by
an administrative scope code in SQL.

Tables: ``relocation_household`` (every assessed household; ``candidate`` marks the list),
``relocation_hamlet`` (每个自然村 as a place), ``relocation_group`` (relocating groups with
outlines), ``relocation_site`` (ranked resettlement sites) and ``relocation_run``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.engine import Engine

from geo.masking import neutralise_formula
from geo.network import zone_crs
from geo.policy import Profile, load_profile
from geo.relocation import (
    CRITERIA,
    GROUP_BASES,
    RELOCATION_KINDS,
    SYNTHETIC_NOTE,
    RelocationInputs,
    RelocationResult,
    assess_relocation,
    relocation_policy,
)
from geo.sensitivity import public_frame
from layers import coverage, features
from layers.analysis_store import analysis_scope, copy_results, township_groups, write_tables

RESULT_TABLES = ("relocation_household", "relocation_hamlet", "relocation_group",
                 "relocation_site")  # fmt: skip
METRES_PER_DEGREE = coverage.METRES_PER_DEGREE


class RelocationError(LookupError):
    """Nothing to assess: an unknown township or county, or no households."""


@dataclass
class RefreshSummary:
    """What a refresh did: the results per county, the run ids, the townships."""

    results: list[RelocationResult]
    run_ids: list[int]
    townships: list[str]
    profile: Profile

    @property
    def households(self) -> int:
        return sum(len(r.households) for r in self.results)

    @property
    def candidates(self) -> int:
        return sum(int(r.households.candidate.sum()) for r in self.results)

    @property
    def timings(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for result in self.results:
            for key, value in result.timings.items():
                total[key] = round(total.get(key, 0.0) + value, 3)
        return total


# --- refresh ------------------------------------------------------------------------------


def refresh(
    engine: Engine,
    *,
    township: str | None = None,
    county: str | None = None,
    profile: Profile | None = None,
    on_county: Callable[[str, list[str]], None] | None = None,
) -> RefreshSummary:
    """Assess the townships asked for (default: every township with households) and replace
    their result rows. ``on_county(county, townships)`` is called before each county."""
    profile = profile or load_profile()
    relocation_policy(profile)  # a bad [relocation] section fails before any work
    groups = township_groups(engine, township, county, RelocationError)
    results, run_ids, done = [], [], []
    for county_code, codes in groups.items():
        if on_county:
            on_county(county_code, codes)
        with engine.begin() as conn:
            result, run_id = refresh_townships(conn, codes, profile)
        results.append(result)
        run_ids.append(run_id)
        done += codes
    return RefreshSummary(results, run_ids, done, profile)


def refresh_townships(
    conn: sa.Connection, codes: Sequence[str], profile: Profile
) -> tuple[RelocationResult, int]:
    """Assess ``codes`` (townships of one county) and replace their rows in ``conn``'s
    transaction; returns the result and the relocation_run id."""
    inputs = load_inputs(conn, codes, profile)
    result = assess_relocation(inputs, profile, crs=county_crs(conn, codes))
    store(conn, result, inputs, codes, profile)
    return result, _record_run(conn, result, codes, profile)


def county_crs(conn: sa.Connection, codes: Sequence[str]):
    """The metric CRS of the townships' county: its Gauss-Krüger zone, the same whichever
    of its townships a run loads (the site grid lies on that CRS's lattice)."""
    lon = conn.execute(
        sa.text(
            "SELECT coalesce((SELECT ST_X(ST_Centroid(geom)) FROM county WHERE code = :county), "
            "(SELECT ST_X(ST_Centroid(ST_Collect(geom))) FROM township "
            "WHERE left(code, 6) = :county))"
        ),
        {"county": codes[0][:6]},
    ).scalar()
    return zone_crs(lon) if lon is not None else None


def load_inputs(conn: sa.Connection, townships: Sequence[str], profile: Profile):
    """The layers :func:`geo.relocation.assess_relocation` needs for ``townships``."""
    base = coverage.load_inputs(conn, townships, profile)
    params = {"codes": list(townships), "margin": profile.network.margin_m / METRES_PER_DEGREE}
    nearby = (
        "geom && (SELECT ST_Expand(ST_Extent(geom)::geometry, :margin) FROM township "
        "WHERE code = ANY(:codes))"
    )

    def frame(sql: str) -> gpd.GeoDataFrame:
        return gpd.read_postgis(sa.text(sql), conn, geom_col="geom", params=params)

    return RelocationInputs(
        households=frame(
            "SELECT id, village_code, hamlet_id, cadre_id, scattered, status, housing_status, "
            "members, synthetic, geom FROM household WHERE left(village_code, 9) = ANY(:codes) "
            "ORDER BY id"
        ),
        hamlets=base.hamlets,
        villages=base.villages,
        townships=base.townships,
        roads=base.roads,
        clinics=base.clinics,
        schools=base.schools,
        water=base.water,
        hazard_zones=frame(f"SELECT id, kind, level, geom FROM hazard_zone WHERE {nearby}"),
        karst_zones=frame(f"SELECT id, name, geom FROM karst_zone WHERE {nearby}"),
        rivers=frame(f'SELECT id, "order", geom FROM river WHERE {nearby} ORDER BY id'),
        dem_path=base.dem_path,
    )


def store(
    conn: sa.Connection,
    result: RelocationResult,
    inputs: RelocationInputs,
    townships: Sequence[str],
    profile: Profile,
) -> None:
    """Replace the result rows of ``townships`` with ``result`` (inside the transaction)."""
    for table in RESULT_TABLES:
        conn.execute(
            sa.text(f"DELETE FROM {table} WHERE township_code = ANY(:codes)"),
            {"codes": list(townships)},
        )
    tag = {"profile": profile.fingerprint}
    synthetic_village = dict(zip(inputs.villages.code, inputs.villages.synthetic, strict=True))
    synthetic_town = dict(zip(inputs.townships.code, inputs.townships.synthetic, strict=True))

    households = result.households.rename_geometry("geom").assign(**tag)
    households["reasons"] = households.reasons.map(Jsonb)
    households["synthetic"] = households.village_code.map(synthetic_village).fillna(False)
    copy_results(conn, "relocation_household", households)

    hamlets = result.hamlets.rename_geometry("geom").assign(**tag)
    hamlets["reasons"] = hamlets.reasons.map(Jsonb)
    hamlets["synthetic"] = hamlets.village_code.map(synthetic_village).fillna(False)
    copy_results(conn, "relocation_hamlet", hamlets)

    groups = result.groups.rename_geometry("geom").assign(**tag)
    groups["criteria_counts"] = groups.criteria_counts.map(Jsonb)
    groups["synthetic"] = groups.village_code.map(synthetic_village).fillna(False)
    copy_results(conn, "relocation_group", groups)

    if len(result.sites):
        sites = result.sites.rename_geometry("geom").assign(**tag)
        sites["synthetic"] = sites.township_code.map(synthetic_town).fillna(False)
        sites["point"] = gpd.GeoSeries(shapely.points(sites.site_lon, sites.site_lat), crs=4326)
        for column in ("health_centre_id", "school_id"):
            sites[column] = pd.array(sites[column].where(sites[column] >= 0), dtype="Int64")
        copy_results(conn, "relocation_site", sites)


def _record_run(conn, result: RelocationResult, codes, profile: Profile) -> int:
    return conn.execute(
        sa.text(
            "INSERT INTO relocation_run (scope, profile_name, profile, profile_values, "
            "households, candidates, groups, sites, timings) "
            "VALUES (:scope, :name, :fp, :values, :n, :c, :g, :s, :t) RETURNING id"
        ),
        {
            "scope": ",".join(codes),
            "name": profile.name,
            "fp": profile.fingerprint,
            "values": Jsonb(profile.as_dict()),
            "n": len(result.households),
            "c": int(result.households.candidate.sum()),
            "g": len(result.groups),
            "s": len(result.sites),
            "t": Jsonb(result.timings),
        },
    ).scalar_one()


# --- queries (CLI, API, maps) ---------------------------------------------------------------

HOUSEHOLD_COLUMNS = (
    "household_id", "township_code", "village_code", "hamlet_id", "members", "relocation",
    "basis", "group_key", "site_key", "site_minutes", "criteria", "reasons", "hard", "score",
    "reason_text", "elevation_m", "slope_deg", "slope_mean_deg", "relief_m", "terrain_note",
    "hazard_kind", "hazard_level", "flood_level", "karst", "piped_water", "hardened_road_m",
    "clinic_min", "health_centre_min", "school_min", "synthetic",
)  # fmt: skip
GROUP_COLUMNS = (
    "group_key", "township_code", "village_code", "hamlet_id", "name", "basis", "relocation",
    "whole_by", "households", "eligible", "candidates", "people", "share", "criteria_counts",
    "reason_text", "site_key", "site_minutes", "synthetic",
)  # fmt: skip
SITE_COLUMNS = (
    "site_key", "township_code", "rank", "area_ha", "capacity_households", "slope_mean_deg",
    "elevation_m", "hardened_road_m", "health_centre_min", "health_centre_id", "school_min",
    "school_id", "water_nearby", "from_candidates_mean_min", "from_candidates_max_min",
    "reachable_candidates", "score_min", "assigned_households", "assigned_people",
    "within_capacity", "reason_text", "synthetic",
)  # fmt: skip


def township_summary(conn: sa.Connection, scope: str | None = None) -> pd.DataFrame:
    """Per assessed township inside ``scope``: households, candidates (whole/scattered,
    people), groups, candidates per criterion, sites and their capacity."""
    params: dict = {}
    where = analysis_scope(scope, "r.village_code", params)
    group_where = analysis_scope(scope, "g.village_code", params)
    site_where = analysis_scope(scope, "s.township_code", params)
    per_criterion = ", ".join(
        f"count(*) FILTER (WHERE r.candidate AND '{c}' = ANY(r.criteria)) AS criterion_{c}"
        for c in CRITERIA
    )
    sql = f"""
        WITH h AS (
            SELECT r.township_code, count(*) AS households,
                   count(*) FILTER (WHERE r.candidate) AS candidates,
                   count(*) FILTER (WHERE r.relocation = 'whole') AS whole,
                   count(*) FILTER (WHERE r.relocation = 'scattered') AS scattered,
                   coalesce(sum(r.members) FILTER (WHERE r.candidate), 0) AS people,
                   count(*) FILTER (WHERE r.hard) AS hard, {per_criterion},
                   bool_or(r.synthetic) AS synthetic, max(r.computed_at) AS computed_at,
                   max(r.profile) AS profile
            FROM relocation_household r WHERE {where} GROUP BY 1
        ), g AS (
            SELECT township_code, count(*) FILTER (WHERE relocation = 'whole') AS whole_groups,
                   count(*) FILTER (WHERE relocation = 'scattered') AS scattered_groups
            FROM relocation_group g WHERE {group_where} GROUP BY 1
        ), s AS (
            SELECT township_code, count(*) AS sites, sum(capacity_households) AS capacity
            FROM relocation_site s WHERE {site_where} GROUP BY 1
        )
        SELECT h.township_code, t.name, h.households, h.candidates, h.whole, h.scattered,
               h.people, coalesce(g.whole_groups, 0) AS whole_groups,
               coalesce(g.scattered_groups, 0) AS scattered_groups, h.hard,
               {", ".join(f"h.criterion_{c}" for c in CRITERIA)},
               coalesce(s.sites, 0) AS sites, coalesce(s.capacity, 0) AS capacity,
               h.profile, h.computed_at, h.synthetic
        FROM h JOIN township t ON t.code = h.township_code
        LEFT JOIN g ON g.township_code = h.township_code
        LEFT JOIN s ON s.township_code = h.township_code
        ORDER BY 1
    """
    return pd.read_sql(sa.text(sql), conn, params=params)


def candidates(
    conn: sa.Connection,
    scope: str | None = None,
    *,
    township: str | None = None,
    village: str | None = None,
    relocation: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    with_names: bool = False,
) -> pd.DataFrame:
    """Candidate households with their reasons, in household-id order. ``with_names`` adds
    the household number and the head's name (sensitive: callers mask them as needed)."""
    if relocation is not None and relocation not in RELOCATION_KINDS:
        raise ValueError(f"unknown relocation {relocation!r}; one of whole, scattered")
    params: dict = {"township": township, "village": village, "relocation": relocation,
                    "limit": limit, "offset": offset}  # fmt: skip
    where = analysis_scope(scope, "r.village_code", params)
    columns = ", ".join(f"r.{c}" for c in HOUSEHOLD_COLUMNS)
    names = ", h.household_no, h.head_name" if with_names else ""
    sql = (
        f"SELECT {columns}{names}, v.name AS village_name, m.name AS hamlet_name, "
        "ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat "
        "FROM relocation_household r JOIN household h ON h.id = r.household_id "
        "JOIN village v ON v.code = r.village_code LEFT JOIN hamlet m ON m.id = r.hamlet_id "
        f"WHERE r.candidate AND {where} {_filters('r')} "
        "ORDER BY r.household_id LIMIT :limit OFFSET :offset"
    )
    return pd.read_sql(sa.text(sql), conn, params=params)


def count_candidates(
    conn: sa.Connection,
    scope: str | None = None,
    *,
    township: str | None = None,
    village: str | None = None,
    relocation: str | None = None,
) -> int:
    params: dict = {"township": township, "village": village, "relocation": relocation}
    where = analysis_scope(scope, "r.village_code", params)
    sql = f"SELECT count(*) FROM relocation_household r WHERE r.candidate AND {where} " + (
        _filters("r")
    )
    return conn.execute(sa.text(sql), params).scalar_one()


def _filters(alias: str) -> str:
    return (
        f"AND (CAST(:township AS text) IS NULL OR {alias}.township_code = :township) "
        f"AND (CAST(:village AS text) IS NULL OR {alias}.village_code = :village) "
        f"AND (CAST(:relocation AS text) IS NULL OR {alias}.relocation = :relocation)"
    )


def groups(
    conn: sa.Connection, scope: str | None = None, *, township: str | None = None
) -> pd.DataFrame:
    """Relocating groups (whole-hamlet or scattered) inside ``scope``."""
    params: dict = {"township": township, "village": None, "relocation": None}
    where = analysis_scope(scope, "g.village_code", params)
    sql = (
        f"SELECT {', '.join(f'g.{c}' for c in GROUP_COLUMNS)} FROM relocation_group g "
        f"WHERE {where} {_filters('g')} ORDER BY g.township_code, g.relocation, g.group_key"
    )
    return pd.read_sql(sa.text(sql), conn, params=params)


def sites(
    conn: sa.Connection, scope: str | None = None, *, township: str | None = None
) -> pd.DataFrame:
    """Ranked resettlement sites of the townships inside ``scope`` (a village scope sees
    none: sites are the township's)."""
    params: dict = {"township": township}
    where = analysis_scope(scope, "s.township_code", params)
    sql = (
        f"SELECT {', '.join(f's.{c}' for c in SITE_COLUMNS)}, t.name AS township_name, "
        "ST_X(s.point) AS lon, ST_Y(s.point) AS lat "
        "FROM relocation_site s JOIN township t ON t.code = s.township_code "
        f"WHERE {where} AND (CAST(:township AS text) IS NULL OR s.township_code = :township) "
        "ORDER BY s.township_code, s.rank"
    )
    return pd.read_sql(sa.text(sql), conn, params=params)


# --- export ---------------------------------------------------------------------------------

SHEET_NAMES = {
    "townships": "乡镇汇总",
    "candidates": "搬迁对象",
    "groups": "搬迁组",
    "sites": "安置点",
    "profile": "政策参数",
}
# Chinese headers of the candidate sheet (planners read it), in this order
CANDIDATE_HEADERS = {
    "household_no": "户编号",
    "head_name": "户主",
    "township_code": "乡镇代码",
    "village_name": "行政村",
    "hamlet_name": "自然村",
    "members": "人口",
    "relocation": "搬迁方式",
    "criteria": "符合条件",
    "reason_text": "原因",
    "score": "得分",
    "elevation_m": "海拔(米)",
    "slope_deg": "坡度(°)",
    "relief_m": "起伏(米)",
    "hazard_kind": "灾害类型",
    "hazard_level": "灾害等级",
    "hardened_road_m": "距硬化路(米)",
    "clinic_min": "到卫生机构(分钟)",
    "piped_water": "通自来水",
    "site_key": "安置点",
    "site_minutes": "到安置点(分钟)",
    "lon": "经度",
    "lat": "纬度",
    "note": "说明",
}


def export_tables(
    conn: sa.Connection, profile: Profile, scope: str | None = None, *, public: bool = False
) -> dict[str, pd.DataFrame]:
    """The tables of an export (CSV: candidates; XLSX: all), names masked if ``public``."""
    found = candidates(conn, scope, with_names=True)
    if public:
        found = public_frame(found, "relocation_household")
    found["relocation"] = found.relocation.map(RELOCATION_KINDS)
    found["criteria"] = found.criteria.map(lambda cs: "、".join(CRITERIA[c] for c in cs))
    found["hazard_kind"] = found.hazard_kind.map(_label("hazard_kind"))
    found["hazard_level"] = found.hazard_level.map(_label("hazard_level"))
    found["piped_water"] = found.piped_water.map({True: "是", False: "否"})
    found["note"] = SYNTHETIC_NOTE if found.synthetic.any() else None
    table = found[list(CANDIDATE_HEADERS)].rename(columns=CANDIDATE_HEADERS)
    found_groups = groups(conn, scope)
    found_groups["relocation"] = found_groups.relocation.map(RELOCATION_KINDS)
    found_groups["basis"] = found_groups.basis.map(GROUP_BASES)
    found_groups["criteria_counts"] = found_groups.criteria_counts.map(
        lambda counts: "、".join(f"{CRITERIA[c]}{n}" for c, n in (counts or {}).items())
    )
    rows = [("relocation", *row) for row in relocation_policy(profile).rows()]
    return {
        "townships": township_summary(conn, scope),
        "candidates": table,
        "groups": found_groups,
        "sites": sites(conn, scope),
        "profile": pd.DataFrame(rows, columns=["section", "key", "value", "source"]).assign(
            value=lambda f: f.value.map(_plain_value)
        ),
    }


def write_export(tables: dict[str, pd.DataFrame], path: Path, *, synthetic: bool) -> Path:
    """``.csv``: the candidates; ``.xlsx``: one sheet per table plus a note."""
    notes = [
        "搬迁对象分析 Relocation candidates (gongjian relocation)",
        SYNTHETIC_NOTE if synthetic else "",
        "不具备生产生活条件的农户与自然村（seeds 001, 002 §12）：整体搬迁或插花搬迁；"
        "原因列出每户符合的条件及数值；安置点按乡镇排序。",
    ]
    return write_tables(
        tables, path, csv_table="candidates", sheet_names=SHEET_NAMES, notes=notes,
        neutralise=_neutralised,
    )  # fmt: skip


def _label(kind: str):
    from geo import vocab

    labels = {"hazard_kind": vocab.HAZARD_KIND, "hazard_level": vocab.HAZARD_LEVEL}[kind]
    return lambda v: labels.get(v, v) if isinstance(v, str) else None


def _neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """Readable and safe cells: ids as integers, values to 0.1, no formula-like text."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype.kind == "f" and column not in ("lon", "lat", "经度", "纬度"):
            frame[column] = frame[column].round(1)
        if frame[column].dtype == object:
            frame[column] = frame[column].map(
                lambda v: neutralise_formula(_cell(v)) if v is not None else v
            )
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_localize(None)
    return frame


def _cell(value):
    """Lists and mappings (criteria, reasons) as text a spreadsheet can hold."""
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}={v}" for k, v in value.items())
    return value


def _plain_value(value):
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if hasattr(value, "items"):
        return ", ".join(f"{k}={v:g}" for k, v in value.items())
    if value is None:
        return "不评估 (off)"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


# --- the relocation layers (OGC API collections, tiles, web map, 攻坚图) ----------------------

_RESULT = ("profile", "computed_at", "synthetic")
_CANDIDATES = "(SELECT * FROM relocation_household WHERE candidate)"

features.register(features.Collection(
    id="relocation_candidate", title="搬迁对象 Relocation candidates", source=_CANDIDATES,
    tables=("relocation_household",), geometry_type="Point", id_column="household_id",
    scope_code="t.village_code",
    properties=("township_code", "village_code", "hamlet_id", "members", "relocation", "basis",
                "group_key", "site_key", "site_minutes", "criteria", "reasons", "hard",
                "score", "reason_text", "elevation_m", "slope_deg", "relief_m",
                "terrain_note", "hazard_kind", "hazard_level", "flood_level", "karst",
                "piped_water", "hardened_road_m", "clinic_min", *_RESULT),
    filters={
        "township": features.township_of("t.village_code"),
        "village": features.village_of("t.village_code"),
        "relocation": features.equals("t.relocation", RELOCATION_KINDS,
                                      "whole (整体搬迁) or scattered (插花搬迁)"),
        "criterion": features.Filter("t.criteria && CAST(:{p} AS text[])",
                                     "criterion met (any of)", values=CRITERIA),
    },
    datetime="computed_at",
    tile=features.TileSpec(min_zoom=9, cluster_below=12,
                           attributes=((0, ("relocation", "reason_text", "score")),)),
    description="Households in places lacking living conditions (不具备生产生活条件, seeds "
                "001, 002 §12): the criteria met with their values, whole-hamlet or scattered "
                "relocation, the site assigned. Refreshed by `gongjian relocation`.",
))  # fmt: skip

features.register(features.Collection(
    id="relocation_household", title="搬迁评估·农户 Relocation assessment (all households)",
    source="relocation_household", geometry_type="Point", id_column="household_id",
    scope_code="t.village_code",
    properties=("township_code", "village_code", "hamlet_id", "candidate", "eligible",
                "relocated", "relocation", "criteria", "hard", "score", "reason_text",
                "elevation_m", "slope_deg", "slope_mean_deg", "relief_m", "terrain_note",
                "hazard_kind", "hazard_level", "flood_level", "karst", "piped_water",
                "hardened_road_m", "clinic_min", "health_centre_min", "school_min", *_RESULT),
    filters={
        "township": features.township_of("t.village_code"),
        "village": features.village_of("t.village_code"),
        "candidate": features.boolean("t.candidate", "on the relocation list"),
        "terrain_note": features.equals("t.terrain_note", {"no terrain data": "无地形数据"}),
    },
    tile=features.TileSpec(min_zoom=11, attributes=((0, ("candidate", "slope_deg",
                                                          "elevation_m")),)),
    description="Terrain (elevation, Horn slope, relief), hazards and access of every "
                "assessed household, and the relocation verdict.",
))  # fmt: skip

features.register(features.Collection(
    id="relocation_hamlet", title="搬迁评估·自然村 Hamlets as places", source="relocation_hamlet",
    geometry_type="Point", id_column="hamlet_id", scope_code="t.village_code",
    properties=("township_code", "village_code", "name", "population", "households",
                "elevation_m", "slope_deg", "relief_m", "hazard_kind", "hazard_level",
                "hazard_share", "flood_level", "karst", "piped_water", "road_hardened",
                "hardened_road_m", "clinic_min", "criteria", "hard", "score", "candidate",
                "eligible_households", "share", "relocation", "reason_text", *_RESULT),
    filters={
        "township": features.township_of("t.village_code"),
        "village": features.village_of("t.village_code"),
        "candidate": features.boolean("t.candidate", "the place lacks living conditions"),
        "relocation": features.equals("t.relocation", RELOCATION_KINDS),
    },
    tile=features.TileSpec(min_zoom=10, attributes=((0, ("name", "relocation", "score")),)),
))  # fmt: skip

features.register(features.Collection(
    id="relocation_group", title="搬迁组 Relocation groups (outlines)", source="relocation_group",
    geometry_type="MultiPolygon", id_column="group_key", id_type=str,
    scope_code="t.village_code",
    properties=("township_code", "village_code", "hamlet_id", "name", "basis", "relocation",
                "whole_by", "households", "eligible", "candidates", "people", "share",
                "criteria_counts", "reason_text", "site_key", "site_minutes", *_RESULT),
    filters={
        "township": features.township_of("t.village_code"),
        "village": features.village_of("t.village_code"),
        "relocation": features.equals("t.relocation", RELOCATION_KINDS),
        "basis": features.equals("t.basis", GROUP_BASES),
    },
    tile=features.TileSpec(min_zoom=9, attributes=((0, ("name", "relocation", "candidates")),)),
    description="Whole-hamlet (整体搬迁) and scattered (插花搬迁) relocations: the outline of the "
                "relocating homes, counts, reasons and the resettlement site given.",
))  # fmt: skip

features.register(features.Collection(
    id="relocation_site", title="安置点 Resettlement sites (ranked)", source="relocation_site",
    geometry_type="MultiPolygon", id_column="site_key", id_type=str,
    scope_code="t.township_code",
    properties=SITE_COLUMNS[1:-1] + _RESULT,
    filters={"township": features.equals("t.township_code", description="township code")},
    tile=features.TileSpec(min_zoom=8, attributes=((0, ("rank", "capacity_households",
                                                         "township_code")),)),
    description="Per township, ranked sites: gentle, clear of hazard zones, near a hardened "
                "road, within reach of the 乡镇卫生院 and a school; capacity and travel time "
                "from the candidates. The site's point is in the table's `point` column.",
))  # fmt: skip
