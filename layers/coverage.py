"""Coverage analysis in the database: read a township's layers, assess, store, query.

:func:`refresh` reads the inputs of each county's townships from PostGIS (households and
villages of the townships assessed; roads, clinics, schools and water up to
``network.margin_m`` beyond them, so the nearest clinic may lie across a boundary), runs the
pure computation ``geo.coverage.assess`` and replaces that township's rows in the result
tables of migration 0004 — in one transaction per county, so a failed run leaves the old
results. The query functions below serve the CLI, the API and the wall map, always filtered
by an administrative scope code in SQL.

Tables: ``coverage_household`` (one row per assessed household: values, ``flag_*``,
``flags``, ``reasons``, ``reason_text``), ``coverage_hamlet``, ``coverage_village``,
``coverage_township``, ``isochrone`` and ``coverage_run`` (profile and timings of each run).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.engine import Engine

from geo.coverage import CRITERIA, SYNTHETIC_NOTE, CoverageInputs, CoverageResult, assess
from geo.masking import neutralise_formula
from geo.policy import Profile, load_profile
from geo.sensitivity import public_frame
from layers import features
from layers.analysis_store import analysis_scope, copy_results, township_groups, write_tables

RESULT_TABLES = (
    "coverage_household",
    "coverage_hamlet",
    "coverage_village",
    "coverage_township",
    "isochrone",
)
METRES_PER_DEGREE = 100_000.0  # conservative (a degree of longitude at 25°N is ~101 km)


class CoverageError(LookupError):
    """Nothing to assess: an unknown township or county, or no households."""


@dataclass
class RefreshSummary:
    """What a refresh did: townships per county, the results, and the run ids."""

    results: list[CoverageResult]
    run_ids: list[int]
    townships: list[str]
    profile: Profile

    @property
    def township_table(self) -> pd.DataFrame:
        frames = [r.townships for r in self.results]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def households(self) -> int:
        return sum(len(r.households) for r in self.results)

    @property
    def uncovered(self) -> int:
        return sum(int(r.households.uncovered.sum()) for r in self.results)


# --- refresh ----------------------------------------------------------------------------


def refresh(
    engine: Engine,
    *,
    township: str | None = None,
    county: str | None = None,
    profile: Profile | None = None,
    with_isochrones: bool = True,
    on_county: Callable[[str, list[str]], None] | None = None,
) -> RefreshSummary:
    """Assess the townships asked for (default: every township with households) and replace
    their result rows. ``on_county(county, townships)`` is called before each county."""
    profile = profile or load_profile()
    groups = township_groups(engine, township, county, CoverageError)
    results, run_ids, done = [], [], []
    for county_code, codes in groups.items():
        if on_county:
            on_county(county_code, codes)
        with engine.begin() as conn:
            result, run_id = refresh_townships(conn, codes, profile, with_isochrones)
        results.append(result)
        run_ids.append(run_id)
        done += codes
    return RefreshSummary(results, run_ids, done, profile)


def refresh_townships(
    conn: sa.Connection, codes: Sequence[str], profile: Profile, with_isochrones: bool = True
) -> tuple[CoverageResult, int]:
    """Assess ``codes`` (townships of one county) and replace their rows, in ``conn``'s
    transaction; returns the result and the coverage_run id."""
    inputs = load_inputs(conn, codes, profile)
    result = assess(inputs, profile, with_isochrones=with_isochrones)
    store(conn, result, inputs, codes, profile)
    return result, _record_run(conn, result, codes, profile)


def load_inputs(conn: sa.Connection, townships: Sequence[str], profile: Profile) -> CoverageInputs:
    """The layers :func:`geo.coverage.assess` needs for ``townships`` (one county)."""
    codes = {"codes": list(townships)}

    def frame(sql: str, **params) -> gpd.GeoDataFrame:
        return gpd.read_postgis(sa.text(sql), conn, geom_col="geom", params={**codes, **params})

    area = (
        "(SELECT ST_Expand(ST_Extent(geom)::geometry, :margin) FROM township "
        "WHERE code = ANY(:codes))"
    )
    margin = {"margin": profile.network.margin_m / METRES_PER_DEGREE}
    nearby = f"geom && {area}"
    dem = conn.execute(
        sa.text(
            f"SELECT path FROM raster WHERE kind = 'dem' AND bounds && {area} ORDER BY id LIMIT 1"
        ),
        {**codes, **margin},
    ).scalar()
    loads = conn.execute(
        sa.text(
            "SELECT cadre_id, count(*) FROM household WHERE cadre_id IS NOT NULL GROUP BY cadre_id"
        )
    ).all()
    return CoverageInputs(
        households=frame(
            "SELECT id, village_code, hamlet_id, cadre_id, scattered, status, synthetic, geom "
            "FROM household WHERE left(village_code, 9) = ANY(:codes) ORDER BY id"
        ),
        hamlets=frame(
            "SELECT id, village_code, name, population, road_hardened, piped_water, synthetic, "
            "geom FROM hamlet WHERE left(village_code, 9) = ANY(:codes) ORDER BY id"
        ),
        villages=frame(
            "SELECT code, township_code, name, is_poor_village, has_standard_clinic, "
            "piped_water, synthetic, geom FROM village WHERE township_code = ANY(:codes) "
            "ORDER BY code"
        ),
        townships=frame(
            "SELECT code, name, synthetic, geom FROM township WHERE code = ANY(:codes) "
            "ORDER BY code"
        ),
        roads=frame(
            f"SELECT id, road_class, surface, geom FROM road WHERE {nearby} ORDER BY id", **margin
        ),
        clinics=frame(
            "SELECT id, name, level, standard, village_code, geom FROM clinic "
            f"WHERE {nearby} ORDER BY id",
            **margin,
        ),
        schools=frame(
            f"SELECT id, name, level, geom FROM school WHERE {nearby} ORDER BY id", **margin
        ),
        water=frame(f"SELECT id, kind, geom FROM water WHERE {nearby} ORDER BY id", **margin),
        dem_path=Path(dem) if dem and Path(dem).exists() else None,
        cadre_loads=pd.Series(dict(loads), dtype="int64"),
    )


def store(
    conn: sa.Connection,
    result: CoverageResult,
    inputs: CoverageInputs,
    townships: Sequence[str],
    profile: Profile,
) -> None:
    """Replace the result rows of ``townships`` with ``result`` (inside ``conn``'s transaction)."""
    for table in RESULT_TABLES:
        conn.execute(
            sa.text(f"DELETE FROM {table} WHERE township_code = ANY(:codes)"),
            {"codes": list(townships)},
        )
    tag = {"profile": profile.fingerprint}
    synthetic_villages = dict(zip(inputs.villages.code, inputs.villages.synthetic, strict=True))
    synthetic_townships = dict(zip(inputs.townships.code, inputs.townships.synthetic, strict=True))

    households = result.households.rename_geometry("geom").assign(**tag)
    households["unreachable"] = households.unreachable.map(Jsonb)
    households["reasons"] = households.reasons.map(Jsonb)
    copy_results(conn, "coverage_household", households)

    hamlets = gpd.GeoDataFrame(result.hamlets, geometry="geometry", crs=4326)
    hamlets = hamlets.rename_geometry("geom").assign(**tag)
    hamlets["synthetic"] = hamlets.village_code.map(synthetic_villages).fillna(False)
    copy_results(conn, "coverage_hamlet", hamlets)

    villages = gpd.GeoDataFrame(result.villages, geometry="geometry", crs=4326)
    villages = villages.rename_geometry("geom").assign(**tag)
    villages["synthetic"] = villages.village_code.map(synthetic_villages).fillna(False)
    villages["geom"] = _multipolygons(villages.geom)
    copy_results(conn, "coverage_village", villages)

    geoms = dict(zip(inputs.townships.code, inputs.townships.geometry, strict=True))
    towns = result.townships[result.townships.township_code.isin(geoms)].copy()
    towns = gpd.GeoDataFrame(
        towns.assign(**tag), geometry=_multipolygons(towns.township_code.map(geoms)), crs=4326
    ).rename_geometry("geom")
    towns["synthetic"] = towns.township_code.map(synthetic_townships).fillna(False)
    copy_results(conn, "coverage_township", towns)

    iso = result.isochrones.rename_geometry("geom").assign(**tag)
    iso["synthetic"] = iso.township_code.map(synthetic_townships).fillna(False)
    iso["geom"] = _multipolygons(iso.geom)
    copy_results(conn, "isochrone", iso)


def _multipolygons(geoms) -> gpd.GeoSeries:
    """Valid MultiPolygons (the columns are typed MULTIPOLYGON)."""
    values = []
    for g in np.asarray(geoms, dtype=object):
        g = shapely.make_valid(g)
        parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and not p.is_empty]
        if not parts:  # pragma: no cover - a polygon layer always has polygons
            parts = [p for q in shapely.get_parts(g) for p in shapely.get_parts(q.buffer(0))]
        values.append(shapely.MultiPolygon(parts))
    return gpd.GeoSeries(values, index=getattr(geoms, "index", None), crs=4326)


def _record_run(conn, result: CoverageResult, codes, profile: Profile) -> int:
    return conn.execute(
        sa.text(
            "INSERT INTO coverage_run (scope, profile_name, profile, profile_values, households, "
            "uncovered, network, timings) VALUES (:scope, :name, :fp, :values, :n, :u, :net, :t) "
            "RETURNING id"
        ),
        {
            "scope": ",".join(codes),
            "name": profile.name,
            "fp": profile.fingerprint,
            "values": Jsonb(profile.as_dict()),
            "n": len(result.households),
            "u": int(result.households.uncovered.sum()),
            "net": Jsonb(result.network),
            "t": Jsonb(result.timings),
        },
    ).scalar_one()


# --- queries (CLI, API, wall map) -------------------------------------------------------

TOWNSHIP_COLUMNS = (
    "township_code", "name", "households", "uncovered",
    *(f"flag_{c}" for c in CRITERIA),
    "villages", "poor_villages", "poor_villages_without_standard_clinic",
    "hamlets_needing_road", "cadres", "cadres_over_limit", "piped_household_share",
    "profile", "computed_at", "synthetic",
)  # fmt: skip
VILLAGE_COLUMNS = (
    "village_code", "township_code", "name", "is_poor_village", "households", "uncovered",
    *(f"flag_{c}" for c in CRITERIA),
    "hamlets", "hamlets_needing_road", "has_standard_clinic", "lacks_standard_clinic",
    "clinic_record_mismatch", "piped_share", "piped_household_share", "low_piped_share",
    "cadres", "households_per_cadre", "max_cadre_load", "cadres_over_limit", "synthetic",
)  # fmt: skip
HAMLET_COLUMNS = (
    "hamlet_id", "village_code", "township_code", "name", "population", "households",
    "uncovered", "road_hardened", "hardened_road_m", "hardened_connected", "needs_hardening",
    "hardening_reason", "piped_water", "synthetic",
)  # fmt: skip
HOUSEHOLD_COLUMNS = (
    "household_id", "township_code", "village_code", "hamlet_id", "cadre_id", "road_m",
    "hardened_road_m", "clinic_min", "clinic_id", "village_clinic_min", "village_clinic_id",
    "health_centre_min", "health_centre_id", "school_min", "school_id", "unreachable",
    "piped_water", "water_source", "flags", "reasons", "reason_text", "synthetic",
)  # fmt: skip


def township_summary(conn: sa.Connection, scope: str | None = None) -> pd.DataFrame:
    """One row per assessed township inside ``scope`` (None: all)."""
    params: dict = {}
    where = analysis_scope(scope, "t.township_code", params)
    sql = f"SELECT {', '.join(TOWNSHIP_COLUMNS)} FROM coverage_township t WHERE {where} ORDER BY 1"
    return pd.read_sql(sa.text(sql), conn, params=params)


def village_summary(
    conn: sa.Connection, scope: str | None = None, township: str | None = None
) -> pd.DataFrame:
    params: dict = {"township": township}
    where = analysis_scope(scope, "t.village_code", params)
    sql = (
        f"SELECT {', '.join(VILLAGE_COLUMNS)} FROM coverage_village t WHERE {where} "
        "AND (CAST(:township AS text) IS NULL OR t.township_code = :township) ORDER BY 1"
    )
    return pd.read_sql(sa.text(sql), conn, params=params)


def hamlet_summary(
    conn: sa.Connection, scope: str | None = None, township: str | None = None
) -> pd.DataFrame:
    params: dict = {"township": township}
    where = analysis_scope(scope, "t.village_code", params)
    sql = (
        f"SELECT {', '.join(HAMLET_COLUMNS)} FROM coverage_hamlet t WHERE {where} "
        "AND (CAST(:township AS text) IS NULL OR t.township_code = :township) ORDER BY 1"
    )
    return pd.read_sql(sa.text(sql), conn, params=params)


def uncovered_households(
    conn: sa.Connection,
    scope: str | None = None,
    *,
    township: str | None = None,
    village: str | None = None,
    criterion: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    with_names: bool = False,
) -> pd.DataFrame:
    """Uncovered households with their reasons, in household-id order.

    ``with_names`` adds the household number and the head's name (sensitive: callers mask it
    for public output or for roles that may not see it).
    """
    if criterion is not None and criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; one of {', '.join(CRITERIA)}")
    params: dict = {"township": township, "village": village, "offset": offset, "limit": limit}
    where = analysis_scope(scope, "c.village_code", params)
    columns = ", ".join(f"c.{c}" for c in HOUSEHOLD_COLUMNS)
    names = ", h.household_no, h.head_name" if with_names else ""
    flag = f"AND c.flag_{criterion}" if criterion else ""
    sql = (
        f"SELECT {columns}{names}, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat "
        "FROM coverage_household c JOIN household h ON h.id = c.household_id "
        f"WHERE c.uncovered AND {where} {flag} "
        "AND (CAST(:township AS text) IS NULL OR c.township_code = :township) "
        "AND (CAST(:village AS text) IS NULL OR c.village_code = :village) "
        "ORDER BY c.household_id LIMIT :limit OFFSET :offset"
    )
    return pd.read_sql(sa.text(sql), conn, params=params)


def count_uncovered(
    conn: sa.Connection,
    scope: str | None = None,
    *,
    township: str | None = None,
    village: str | None = None,
    criterion: str | None = None,
) -> int:
    if criterion is not None and criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; one of {', '.join(CRITERIA)}")
    params: dict = {"township": township, "village": village}
    where = analysis_scope(scope, "c.village_code", params)
    flag = f"AND c.flag_{criterion}" if criterion else ""
    sql = (
        f"SELECT count(*) FROM coverage_household c WHERE c.uncovered AND {where} {flag} "
        "AND (CAST(:township AS text) IS NULL OR c.township_code = :township) "
        "AND (CAST(:village AS text) IS NULL OR c.village_code = :village)"
    )
    return conn.execute(sa.text(sql), params).scalar_one()


# --- export -----------------------------------------------------------------------------

SHEET_NAMES = {
    "townships": "乡镇汇总",
    "villages": "行政村汇总",
    "hamlets": "自然村",
    "uncovered": "未覆盖农户",
    "profile": "政策参数",
}


def export_tables(
    conn: sa.Connection, profile: Profile, scope: str | None = None, *, public: bool = False
) -> dict[str, pd.DataFrame]:
    """The tables of an export (CSV: ``uncovered``; XLSX: all), names masked if ``public``."""
    uncovered = uncovered_households(conn, scope, with_names=True)
    if public:
        uncovered = public_frame(uncovered, "coverage_household")
    uncovered["flags"] = uncovered["flags"].map(lambda f: "、".join(CRITERIA[c] for c in f))
    uncovered["unreachable"] = uncovered["unreachable"].map(lambda u: ",".join(sorted(u)) or None)
    uncovered = uncovered.drop(columns=["reasons"])
    front = ["household_no", "head_name", "township_code", "village_code", "flags", "reason_text"]
    uncovered = uncovered[front + [c for c in uncovered.columns if c not in front]]
    uncovered["note"] = SYNTHETIC_NOTE if uncovered.synthetic.any() else None
    rows = list(profile.rows())
    return {
        "townships": township_summary(conn, scope),
        "villages": village_summary(conn, scope),
        "hamlets": hamlet_summary(conn, scope),
        "uncovered": uncovered,
        "profile": pd.DataFrame(rows, columns=["section", "key", "value", "source"]).assign(
            value=lambda f: f.value.map(_plain_value)
        ),
    }


def write_export(tables: dict[str, pd.DataFrame], path: Path, *, synthetic: bool) -> Path:
    """``.csv``: the uncovered households; ``.xlsx``: one sheet per table plus a note."""
    notes = [
        "覆盖分析 Coverage analysis (gongjian coverage)",
        SYNTHETIC_NOTE if synthetic else "",
        "flag_* = 未达标农户数; 分钟为空 = 无法到达 (见 unreachable)",
    ]
    return write_tables(
        tables, path, csv_table="uncovered", sheet_names=SHEET_NAMES, notes=notes,
        neutralise=_neutralised,
    )  # fmt: skip


def _neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """Readable and safe cells: ids as integers, values to 0.1, no formula-like text."""
    frame = frame.copy()
    for column in frame.columns:
        if column.endswith("_id") and frame[column].dtype.kind == "f":
            frame[column] = frame[column].astype("Int64")
        elif frame[column].dtype.kind == "f" and column not in ("lon", "lat"):
            frame[column] = frame[column].round(3 if "share" in column else 1)
        if frame[column].dtype == object:
            frame[column] = frame[column].map(neutralise_formula)
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_localize(None)
    return frame


def _plain_value(value):
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict) or hasattr(value, "items"):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if value is None:
        return "不评估 (off)"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


# --- the coverage layers (OGC API collections, tiles, web map) --------------------------

_FLAGS = tuple(f"flag_{c}" for c in CRITERIA)
_RESULT = ("profile", "computed_at", "synthetic")

features.register(features.Collection(
    id="coverage_household", title="覆盖分析·农户 Household coverage",
    source="coverage_household", geometry_type="Point", id_column="household_id",
    scope_code="t.village_code",
    properties=("township_code", "village_code", "hamlet_id", "cadre_id", "road_m",
                "hardened_road_m", "clinic_min", "clinic_id", "village_clinic_min",
                "village_clinic_id", "health_centre_min", "health_centre_id", "school_min",
                "school_id", "unreachable", "piped_water", "water_source", *_FLAGS, "flags",
                "reasons", "uncovered", "reason_text", *_RESULT),
    filters={
        "township": features.township_of("t.village_code"),
        "village": features.village_of("t.village_code"),
        "uncovered": features.boolean("t.uncovered", "fails at least one criterion"),
        "criterion": features.Filter("t.flags && CAST(:{p} AS text[])",
                                     "failed criterion (any of)", values=CRITERIA),
    },
    datetime="computed_at",
    tile=features.TileSpec(min_zoom=9, cluster_below=12,
                           attributes=((0, ("uncovered", "reason_text", "clinic_min",
                                            "hardened_road_m")),),
                           cluster_counts=(("uncovered", "t.uncovered"),)),
    description="Per household: minutes to the nearest clinic/village clinic/health centre/"
                "school (null = unreachable, see unreachable), hardened-road distance, piped "
                "water, cadre; flags with the values that failed. Refreshed by "
                "`gongjian coverage`.",
))  # fmt: skip

features.register(features.Collection(
    id="coverage_hamlet", title="覆盖分析·自然村 Hamlet coverage", source="coverage_hamlet",
    geometry_type="Point", id_column="hamlet_id", scope_code="t.village_code",
    properties=("township_code", "village_code", "name", "population", "households",
                "uncovered", "road_hardened", "hardened_road_m", "hardened_connected",
                "needs_hardening", "hardening_reason", "piped_water", *_RESULT),
    filters={
        "township": features.township_of("t.village_code"),
        "village": features.village_of("t.village_code"),
        "needs_hardening": features.boolean("t.needs_hardening", "200+ people, no hardened road"),
    },
    tile=features.TileSpec(min_zoom=10, attributes=((0, ("name", "needs_hardening",
                                                          "population")),)),
    description="Hamlets of 200+ people in poor villages without a hardened road connection "
                "(seed 002 §11): needs_hardening, with the reason (recorded/computed).",
))  # fmt: skip

features.register(features.Collection(
    id="coverage_village", title="覆盖分析·行政村 Village coverage", source="coverage_village",
    geometry_type="MultiPolygon", id_column="village_code", id_type=str,
    scope_code="t.village_code",
    properties=("township_code", "name", "is_poor_village", "households", "uncovered",
                *_FLAGS, "hamlets", "hamlets_needing_road", "has_standard_clinic",
                "lacks_standard_clinic", "clinic_record_mismatch", "piped_share",
                "piped_household_share", "low_piped_share", "cadres", "households_per_cadre",
                "max_cadre_load", "cadres_over_limit", *_RESULT),
    filters={
        "township": features.township_of("t.village_code"),
        "lacks_standard_clinic": features.boolean("t.lacks_standard_clinic",
                                                  "poor village without 标准化卫生站"),
        "is_poor_village": features.boolean("t.is_poor_village"),
    },
    tile=features.TileSpec(min_zoom=8, attributes=((0, ("name", "uncovered", "households",
                                                         "lacks_standard_clinic")),)),
    description="Per village: uncovered households by criterion, standard clinic (seed 002 "
                "§9), piped-water shares, cadre workload (seeds 003/004).",
))  # fmt: skip

features.register(features.Collection(
    id="coverage_township", title="覆盖分析·乡镇 Township coverage",
    source="coverage_township", geometry_type="MultiPolygon", id_column="township_code",
    id_type=str, scope_code="t.township_code",
    properties=("name", "households", "uncovered", *_FLAGS, "villages", "poor_villages",
                "poor_villages_without_standard_clinic", "hamlets_needing_road", "cadres",
                "cadres_over_limit", "piped_household_share", *_RESULT),
    filters={"county": features.county_of("t.township_code")},
    tile=features.TileSpec(min_zoom=6, attributes=((0, ("name", "uncovered", "households")),)),
))  # fmt: skip

features.register(features.Collection(
    id="isochrone", title="就医等时圈 Clinic isochrones (15/30/60 min)", source="isochrone",
    geometry_type="MultiPolygon", scope_code="t.township_code",
    properties=("township_code", "kind", "facility_id", "minutes", *_RESULT),
    filters={
        "township": features.equals("t.township_code"),
        "minutes": features.Filter("t.minutes = ANY(:{p})", "limit in minutes (15, 30, 60)",
                                   pattern=r"\d{1,4}", cast=float),
        "facility": features.integer("t.facility_id", "clinic id"),
    },
    tile=features.TileSpec(min_zoom=8, attributes=((0, ("minutes", "facility_id")),)),
    description="Area whose nearest clinic is facility_id and reaches it within minutes.",
))  # fmt: skip
