"""Work-group sectors (分组包片) of a township: read the inputs, propose, store, accept.

The division itself is ``geo.sectors`` (no database). Here:

* :func:`load` — the township's scattered households (建档立卡, exited ones included: 不脱贫
  不脱钩, their cadre stays), their hamlets, the seat, the roads around, and the members who
  share the households: the work group's roster members (成员) who are paired with households
  today, or every 成员 when nobody is yet (组长 and 副组长 lead, they take no sector);
* :func:`propose_for` — our division, the current one and the k-means peer, measured alike;
* :func:`store` — the proposal into ``sector`` (status proposed), replacing the township's;
* :func:`accept` — pairs each household with its sector's member (``household.cadre_id``),
  one audit row per household changed and the archive's own record (history triggers), and
  marks the sectors accepted. All in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo.network import metric_crs
from geo.policy import Profile, load_profile
from geo.sectors import (
    DivisionReport,
    SectorError,
    SectorProblem,
    evaluate,
    hamlet_graph,
    kmeans_division,
    propose,
    road_minutes,
)
from layers import audit
from layers.features import Collection, TileSpec, equals, register
from layers.history import set_actor

HOUSEHOLDS_SQL = """
SELECT h.id, h.hamlet_id, h.cadre_id, h.geom
FROM household h JOIN village v ON v.code = h.village_code
WHERE v.township_code = :code AND h.scattered
ORDER BY h.id
"""

HAMLETS_SQL = """
SELECT hm.id, hm.name, hm.village_code, hm.geom
FROM hamlet hm JOIN village v ON v.code = hm.village_code
WHERE v.township_code = :code ORDER BY hm.id
"""

MEMBERS_SQL = """
SELECT m.cadre_id, c.name,
       EXISTS (SELECT 1 FROM household h JOIN village v ON v.code = h.village_code
               WHERE v.township_code = :code AND h.cadre_id = m.cadre_id) AS paired
FROM work_group wg
JOIN work_group_member m ON m.work_group_id = wg.id
JOIN cadre c ON c.id = m.cadre_id
WHERE wg.township_code = :code AND m.role = 'member'
ORDER BY m.cadre_id
"""

TOWNSHIP_SQL = """
SELECT code, name, ST_X(seat) AS seat_lon, ST_Y(seat) AS seat_lat, geom
FROM township WHERE code = :code
"""

ROADS_SQL = """
SELECT id, road_class, surface, geom FROM road
WHERE geom && (SELECT ST_Expand(geom, :margin) FROM township WHERE code = :code)
ORDER BY id
"""

DEM_SQL = """
SELECT path FROM raster WHERE kind = 'dem'
AND ST_Intersects(bounds, (SELECT geom FROM township WHERE code = :code))
ORDER BY resolution_m, id LIMIT 1
"""

METRES_PER_DEGREE = 111_000.0
OUTLINE_M = 80.0  # a sector's outline: this far round each of its homes


@dataclass
class SectorInputs:
    """A township's households, hamlets (with households), members and road minutes."""

    code: str
    name: str
    problem: SectorProblem
    households: gpd.GeoDataFrame  # id, hamlet_id, cadre_id, geometry (EPSG:4326)
    hamlets: gpd.GeoDataFrame  # the hamlets of problem order (index 0..n-1)
    member_names: dict[int, str]
    crs: object  # the metric CRS of the travel model

    def household_xy(self) -> np.ndarray:
        return shapely.get_coordinates(self.households.to_crs(self.crs).geometry.to_numpy())


@dataclass
class SectorComparison:
    inputs: SectorInputs
    proposal: dict[int, int]  # household id → cadre id
    ours: DivisionReport
    current: DivisionReport
    kmeans: DivisionReport | None = None


def load(engine: Engine, code: str, profile: Profile | None = None) -> SectorInputs:
    """Everything the division of township ``code`` needs. Raises SectorError."""
    profile = profile or load_profile()
    with engine.connect() as conn:
        town = gpd.read_postgis(sa.text(TOWNSHIP_SQL), conn, params={"code": code}, crs=4326)
        if town.empty:
            raise SectorError(f"no township with code {code!r}")
        homes = gpd.read_postgis(sa.text(HOUSEHOLDS_SQL), conn, params={"code": code}, crs=4326)
        hamlets = gpd.read_postgis(sa.text(HAMLETS_SQL), conn, params={"code": code}, crs=4326)
        members = pd.read_sql(sa.text(MEMBERS_SQL), conn, params={"code": code})
        margin = profile.network.margin_m / METRES_PER_DEGREE
        roads = gpd.read_postgis(
            sa.text(ROADS_SQL), conn, params={"code": code, "margin": margin}, crs=4326
        )
        dem = conn.execute(sa.text(DEM_SQL), {"code": code}).scalar()
    if members.empty:
        raise SectorError(f"township {code} has no work-group members (成员) to share households")
    if homes.empty:
        raise SectorError(f"township {code} has no scattered households to share")
    sharing = members[members["paired"]] if members["paired"].any() else members
    homes = _with_hamlet(homes, hamlets)
    used = hamlets[hamlets["id"].isin(homes["hamlet_id"])].reset_index(drop=True)
    crs = metric_crs(roads if len(roads) else used)
    xy = shapely.get_coordinates(used.to_crs(crs).geometry.to_numpy())
    row = town.iloc[0]
    if pd.notna(row["seat_lon"]):
        seat_point = shapely.Point(row["seat_lon"], row["seat_lat"])
    else:  # no seat recorded: a point inside the township
        seat_point = row.geometry.representative_point()
    seat = gpd.GeoSeries([seat_point], crs=4326).to_crs(crs).iloc[0]
    minutes = road_minutes(xy, (seat.x, seat.y), roads.to_crs(crs), profile, crs, dem)
    index = {hid: i for i, hid in enumerate(used["id"])}
    frame = pd.DataFrame(
        {"id": homes["id"], "hamlet": homes["hamlet_id"].map(index), "cadre_id": homes["cadre_id"]}
    )
    problem = SectorProblem(frame, minutes, hamlet_graph(xy), [int(c) for c in sharing["cadre_id"]])
    names = dict(zip(members["cadre_id"].astype(int), members["name"], strict=True))
    return SectorInputs(code, str(town["name"].iloc[0]), problem, homes, used, names, crs)


def _with_hamlet(homes: gpd.GeoDataFrame, hamlets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Households without a hamlet go with the nearest hamlet of the township."""
    missing = homes["hamlet_id"].isna()
    if missing.any() and not hamlets.empty:
        crs = metric_crs(hamlets)
        nearest = gpd.sjoin_nearest(
            homes[missing].to_crs(crs), hamlets[["id", "geometry"]].to_crs(crs), how="left"
        )
        homes.loc[missing, "hamlet_id"] = nearest.groupby(level=0)["id_right"].min()
    homes["hamlet_id"] = homes["hamlet_id"].astype(int)
    return homes


def propose_for(inputs: SectorInputs, *, with_kmeans: bool = False) -> SectorComparison:
    problem = inputs.problem
    proposal = propose(problem)
    current = dict(zip(problem.households["id"], problem.households["cadre_id"], strict=True))
    comparison = SectorComparison(
        inputs,
        proposal,
        evaluate(problem, proposal, "proposed"),
        evaluate(problem, current, "current"),
    )
    if with_kmeans:
        division = kmeans_division(problem, inputs.household_xy())
        comparison.kmeans = evaluate(problem, division, "k-means")
    return comparison


def store(engine: Engine, comparison: SectorComparison) -> int:
    """Replace the township's sectors by the proposal (status proposed); rows written."""
    inputs = comparison.inputs
    rows = _sector_rows(comparison)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sector WHERE township_code = :c"), {"c": inputs.code})
        for row in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO sector (township_code, cadre_id, status, households, hamlets, "
                    "contiguous, travel_min, household_ids, hamlet_ids, geom) VALUES (:code, "
                    ":cadre_id, 'proposed', :households, :hamlets, :contiguous, :travel_min, "
                    ":household_ids, :hamlet_ids, ST_Multi(ST_GeomFromText(:wkt, 4326)))"
                ),
                {"code": inputs.code, **row},
            )
    return len(rows)


def _sector_rows(comparison: SectorComparison) -> list[dict]:
    """One row per member: counts, travel, ids, and the outline of their households (patches
    round their homes, not a hull: a hull would paint other members' hamlets between)."""
    inputs, proposal = comparison.inputs, comparison.proposal
    homes = inputs.households.assign(member=inputs.households["id"].map(proposal))
    metric = homes.to_crs(inputs.crs)
    report = comparison.ours.sectors.set_index("member")
    rows = []
    for member in inputs.problem.members:
        mine = metric[metric["member"] == member]
        outline = None
        if not mine.empty:  # the member's homes, 80 m round each: one patch per hamlet part
            area = shapely.union_all(shapely.buffer(mine.geometry.to_numpy(), OUTLINE_M, 8))
            area = area.simplify(OUTLINE_M / 8)
            outline = gpd.GeoSeries([area], crs=inputs.crs).to_crs(4326).iloc[0].wkt
        rows.append(
            {
                "cadre_id": member,
                "households": len(mine),
                "hamlets": int(mine["hamlet_id"].nunique()),
                "contiguous": bool(report.loc[member, "contiguous"]),
                "travel_min": round(float(report.loc[member, "travel_min"]), 2),
                "household_ids": [int(i) for i in mine["id"]],
                "hamlet_ids": sorted(int(i) for i in mine["hamlet_id"].unique()),
                "wkt": outline,
            }
        )
    return rows


def accept(engine: Engine, code: str, actor: str) -> int:
    """Pair every household of the township's stored proposal with its member; returns the
    households whose cadre changed (each audited). Raises SectorError without a proposal."""
    with engine.begin() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT cadre_id, household_ids FROM sector WHERE township_code = :c "
                "ORDER BY cadre_id FOR UPDATE"
            ),
            {"c": code},
        ).all()
        if not rows:
            raise SectorError(f"no proposed sectors for {code}: run `gongjian sectors` first")
        set_actor(conn, actor)
        changed = 0
        for cadre_id, ids in rows:
            before = conn.execute(
                sa.text(
                    "SELECT id, cadre_id FROM household WHERE id = ANY(:ids) "
                    "AND cadre_id IS DISTINCT FROM :cadre ORDER BY id FOR UPDATE"
                ),
                {"ids": list(ids), "cadre": cadre_id},
            ).all()
            for household_id, old in before:
                conn.execute(
                    sa.text("UPDATE household SET cadre_id = :cadre WHERE id = :id"),
                    {"cadre": cadre_id, "id": household_id},
                )
                audit.record(
                    conn,
                    "household",
                    household_id,
                    "update",
                    actor,
                    {"cadre_id": old},
                    {"cadre_id": cadre_id, "reason": f"分组包片 accepted for {code}"},
                )
                changed += 1
        conn.execute(
            sa.text("UPDATE sector SET status = 'accepted' WHERE township_code = :c"), {"c": code}
        )
    return changed


def stored(engine: Engine, code: str) -> gpd.GeoDataFrame:
    """The township's stored sectors with the members' names (for the wall map overlay)."""
    with engine.connect() as conn:
        frame = gpd.read_postgis(
            sa.text(
                "SELECT s.cadre_id, c.name, s.status, s.households, s.hamlets, s.contiguous, "
                "s.travel_min, s.household_ids, s.geom FROM sector s "
                "JOIN cadre c ON c.id = s.cadre_id WHERE s.township_code = :c ORDER BY s.cadre_id"
            ),
            conn,
            params={"c": code},
            crs=4326,
        )
    return frame


register(Collection(
    id="sector", title="分组包片 Work-group sectors (proposed or accepted)", source="sector",
    geometry_type="MultiPolygon", scope_code="t.township_code",
    properties=("township_code", "cadre_id", "status", "households", "hamlets", "contiguous",
                "travel_min", "computed_at"),
    filters={"township": equals("t.township_code"), "status": equals("t.status")},
    tile=TileSpec(min_zoom=9, attributes=((0, ("cadre_id", "status", "households")),)),
    description="Each work-group member's sector from `gongjian sectors`: households (balanced "
                "within ±10 %), hamlets, contiguity, round trip from the seat in minutes.",
))  # fmt: skip
