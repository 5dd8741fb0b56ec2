"""What-if scenarios in the database: named sets of proposed changes for one township (tables
of migration 0013), checked when added, and coverage assessed under them without touching the
real layers or the coverage tables.

Every change is checked before anything is written (one transaction per command): a road to
harden must exist, be unhardened and lie in the scenario's township; a new road must touch
the township and connect to a road (``geo.scenario.connect_roads``); a new facility must lie
in the township. Files go through ``layers.proposal_files`` (CRS, GCJ-02 suspicion, rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from geoalchemy2.shape import from_shape
from sqlalchemy.engine import Engine

from geo.coverage import CRITERIA, CoverageInputs, CoverageResult, assess
from geo.policy import Profile
from geo.scenario import Changes, ScenarioError, apply, connect_roads, newly_covered
from geo.siting import siting_policy
from layers import features
from layers.coverage import load_inputs
from layers.proposal_files import ProposalError, read_proposals, refuse_if_gcj02, refuse_outside
from layers.scenario_models import FACILITY_CHANGES, ScenarioChange

DEFAULT_ROAD = {"road_class": "village", "surface": "hardened"}  # a proposed 村道, hardened


class ScenarioNotFound(LookupError):
    pass


@dataclass
class ScenarioInfo:
    id: int
    name: str
    township_code: str
    township_name: str
    area: shapely.Geometry  # the township, EPSG:4326
    synthetic: bool
    note: str | None


@dataclass
class Outcome:
    """Coverage of a scenario's township as it is (``base``) and under the scenario."""

    info: ScenarioInfo
    changes: Changes
    base: CoverageResult
    after: CoverageResult
    flipped: pd.DataFrame  # geo.scenario.newly_covered, the township's households only


def create(engine: Engine, name: str, township: str, actor: str, note: str | None = None) -> int:
    if not name.strip():
        raise ScenarioError("a scenario needs a name")
    with engine.begin() as conn:
        if not conn.execute(
            sa.text("SELECT 1 FROM township WHERE code = :c"), {"c": township}
        ).first():
            raise ScenarioError(f"no township with code {township!r}")
        if conn.execute(sa.text("SELECT 1 FROM scenario WHERE name = :n"), {"n": name}).first():
            raise ScenarioError(f"a scenario named {name!r} exists already (drop it or pick "
                                "another name)")  # fmt: skip
        return conn.execute(
            sa.text("INSERT INTO scenario (name, township_code, note, created_by) "
                    "VALUES (:n, :t, :note, :by) RETURNING id"),
            {"n": name, "t": township, "note": note, "by": actor},
        ).scalar_one()  # fmt: skip


def info(conn: sa.Connection, name: str) -> ScenarioInfo:
    row = conn.execute(
        sa.text(
            "SELECT s.id, s.name, s.township_code, t.name, ST_AsBinary(t.geom), t.synthetic, "
            "s.note FROM scenario s JOIN township t ON t.code = s.township_code WHERE s.name = :n"
        ),
        {"n": name},
    ).first()
    if row is None:
        raise ScenarioNotFound(f"no scenario named {name!r} (gongjian scenario list)")
    return ScenarioInfo(row[0], row[1], row[2], row[3], shapely.from_wkb(bytes(row[4])),
                        bool(row[5]), row[6])  # fmt: skip


def add(
    engine: Engine,
    name: str,
    actor: str,
    profile: Profile,
    *,
    roads: Path | None = None,
    harden: tuple[int, ...] = (),
    harden_along: Path | None = None,
    facilities: dict[str, Path] | None = None,
    crs: str | None = None,
) -> dict[str, int]:
    """Check and store proposed changes; returns how many of each kind were added.
    ``harden_along``: lines drawn along the roads to harden (instead of their ids)."""
    facilities = facilities or {}
    with engine.begin() as conn:
        scenario = info(conn, name)
        existing = changes(conn, scenario)
        label = f"{scenario.township_name} ({scenario.township_code})"
        if harden_along is not None:
            harden = (*harden, *_roads_along(conn, scenario, harden_along, crs, profile, label))
        rows: list[dict] = []
        rows += _harden_rows(conn, scenario, harden, existing)
        if roads is not None:
            rows += _road_rows(conn, scenario, roads, crs, existing, profile, label)
        for kind, path in facilities.items():
            rows += _facility_rows(scenario, kind, path, crs, label)
        for row in rows:
            conn.execute(sa.insert(ScenarioChange.__table__).values(**row, scenario_id=scenario.id,
                                                                    created_by=actor))  # fmt: skip
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    return counts


def save_siting(engine: Engine, name: str, report, actor: str) -> dict[str, int]:
    """A new scenario holding a siting answer: its sites as new facilities, or its roads to
    harden (checked like any other change)."""
    create(engine, name, report.township.code, actor, note=f"gongjian siting {report.kind}")
    chosen = report.posed.candidates.iloc[list(report.result.best.sites)]
    try:
        with engine.begin() as conn:
            scenario = info(conn, name)
            if report.kind == "roads":
                ids = tuple(int(i) for i in chosen["id"])
                rows = _harden_rows(conn, scenario, ids, Changes())
            else:
                rows = [{"kind": report.kind, "name": str(n), "geom": from_shape(g, srid=4326)}
                        for n, g in zip(chosen["name"], chosen.geometry, strict=True)]  # fmt: skip
            for row in rows:
                conn.execute(sa.insert(ScenarioChange.__table__).values(
                    **row, scenario_id=scenario.id, created_by=actor))  # fmt: skip
    except Exception:
        drop(engine, name)
        raise
    return {report.kind: len(rows)}


def _harden_rows(conn, scenario: ScenarioInfo, ids, existing: Changes) -> list[dict]:
    rows = []
    for road_id in dict.fromkeys(ids):
        road = conn.execute(
            sa.text(
                "SELECT r.surface, ST_Intersects(r.geom, t.geom), "
                "(SELECT t2.name || ' (' || t2.code || ')' FROM township t2 "
                " WHERE ST_Intersects(t2.geom, r.geom) ORDER BY t2.code LIMIT 1) "
                "FROM road r, township t WHERE r.id = :id AND t.code = :t"
            ),
            {"id": road_id, "t": scenario.township_code},
        ).first()
        if road is None:
            raise ScenarioError(f"--harden: no road with id {road_id}")
        surface, inside, elsewhere = road
        if not inside:
            where = f"lies in {elsewhere}" if elsewhere else "lies in no township"
            raise ScenarioError(
                f"--harden: road {road_id} {where}, not in {scenario.township_name} "
                f"({scenario.township_code}): a scenario changes its own township's layers"
            )
        if surface == "hardened":
            raise ScenarioError(f"--harden: road {road_id} is hardened already")
        if road_id in existing.harden:
            raise ScenarioError(f"--harden: road {road_id} is in the scenario already")
        rows.append({"kind": "harden", "road_id": road_id})
    return rows


ALONG_SHARE = 0.8  # a road counts as drawn along when this share of it lies by the drawing


def _roads_along(conn, scenario, path: Path, crs, profile, label) -> tuple[int, ...]:
    """Unhardened roads of the township that a drawing follows: at least ``ALONG_SHARE`` of
    the road within ``[siting] connect_m`` of the drawn lines."""
    from geo.network import metric_crs

    try:
        proposals = read_proposals(path, crs, "line")
        refuse_if_gcj02(proposals, _roads_near(conn, scenario))
        refuse_outside(proposals, scenario.area, label)
    except ProposalError as exc:
        raise ScenarioError(str(exc)) from None
    roads = gpd.read_postgis(
        sa.text("SELECT r.id, r.geom FROM road r, township t WHERE t.code = :t "
                "AND r.surface <> 'hardened' AND ST_Intersects(r.geom, t.geom) ORDER BY r.id"),
        conn, geom_col="geom", params={"t": scenario.township_code},
    )  # fmt: skip
    if roads.empty:
        raise ScenarioError(f"{path.name}: {label} has no unhardened road to harden")
    crs_m = metric_crs(roads)
    drawn = proposals.frame.to_crs(crs_m).geometry.union_all()
    near = drawn.buffer(siting_policy(profile).connect_m)
    metric = roads.to_crs(crs_m).geometry
    share = metric.intersection(near).length / metric.length
    ids = tuple(int(i) for i in roads.loc[(share >= ALONG_SHARE).to_numpy(), "id"])
    if not ids:
        raise ScenarioError(
            f"{path.name}: the drawing follows no unhardened road of {label} (a road counts "
            f"when {ALONG_SHARE:.0%} of it lies within {siting_policy(profile).connect_m:.0f} m "
            "of the lines)"
        )
    return ids


def _road_rows(conn, scenario, path: Path, crs, existing: Changes, profile, label) -> list[dict]:
    try:
        proposals = read_proposals(path, crs, "line")
        roads = _roads_near(conn, scenario)
        refuse_if_gcj02(proposals, roads)
        refuse_outside(proposals, scenario.area, label)
    except ProposalError as exc:
        raise ScenarioError(str(exc)) from None
    frame = proposals.frame.copy()
    for column, default in DEFAULT_ROAD.items():
        if column not in frame.columns:
            frame[column] = default
    frame[list(DEFAULT_ROAD)] = frame[list(DEFAULT_ROAD)].fillna(pd.Series(DEFAULT_ROAD))
    _check_values(path, frame)
    known = pd.concat([roads[["geometry"]], existing.roads[["geometry"]]], ignore_index=True)
    try:
        connect_roads(frame, gpd.GeoDataFrame(known, crs=4326), siting_policy(profile).connect_m)
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None
    return [
        {"kind": "road", "name": r.name, "road_class": r.road_class, "surface": r.surface,
         "geom": from_shape(r.geometry, srid=4326)}
        for r in frame.itertuples()
    ]  # fmt: skip


def _check_values(path: Path, frame: pd.DataFrame) -> None:
    from geo import vocab

    for column, values in (("road_class", vocab.ROAD_CLASS), ("surface", vocab.SURFACE)):
        bad = ~frame[column].isin(list(values))
        if bad.any():
            row = frame[bad].iloc[0]
            raise ScenarioError(f"{path.name}: row {row['row']}: field {column}: "
                                f"{row[column]!r} is not one of {', '.join(values)}")  # fmt: skip


def _facility_rows(scenario, kind: str, path: Path, crs, label: str) -> list[dict]:
    if kind not in FACILITY_CHANGES:
        raise ScenarioError(f"unknown facility kind {kind!r}")
    try:
        proposals = read_proposals(path, crs, "point")
        refuse_outside(proposals, scenario.area, label)
    except ProposalError as exc:
        raise ScenarioError(str(exc)) from None
    return [{"kind": kind, "name": r.name, "geom": from_shape(r.geometry, srid=4326)}
            for r in proposals.frame.itertuples()]  # fmt: skip


def _roads_near(conn, scenario: ScenarioInfo) -> gpd.GeoDataFrame:
    return gpd.read_postgis(
        sa.text("SELECT id, geom FROM road r WHERE r.geom && "
                "(SELECT ST_Expand(geom, 0.05) FROM township WHERE code = :t)"),
        conn, geom_col="geom", params={"t": scenario.township_code},
    ).rename_geometry("geometry")  # fmt: skip


def changes(conn: sa.Connection, scenario: ScenarioInfo) -> Changes:
    frame = gpd.read_postgis(
        sa.text("SELECT kind, road_id, name, road_class, surface, geom "
                "FROM scenario_change WHERE scenario_id = :s ORDER BY id"),
        conn, geom_col="geom", params={"s": scenario.id},
    ).rename_geometry("geometry")  # fmt: skip
    roads = frame[frame.kind == "road"][["name", "road_class", "surface", "geometry"]]
    facilities = frame[frame.kind.isin(FACILITY_CHANGES)][["kind", "name", "geometry"]]
    harden = tuple(int(i) for i in frame[frame.kind == "harden"].road_id)
    return Changes(roads=roads.reset_index(drop=True), harden=harden,
                   facilities=facilities.reset_index(drop=True))  # fmt: skip


def plan_layer(conn: sa.Connection, name: str, township: str) -> gpd.GeoDataFrame:
    """The scenario's changes as one layer for the wall map (kind, name, geometry; a road to
    harden with its line); the scenario must be the township's."""
    scenario = info(conn, name)
    if scenario.township_code != township:
        raise ScenarioError(f"scenario {name} is for {scenario.township_name} "
                            f"({scenario.township_code}), not {township}")  # fmt: skip
    return gpd.read_postgis(
        sa.text("SELECT c.id, c.kind, coalesce(c.name, r.name) AS name, "
                "coalesce(c.geom, r.geom) AS geom FROM scenario_change c "
                "LEFT JOIN road r ON r.id = c.road_id WHERE c.scenario_id = :s ORDER BY c.id"),
        conn, geom_col="geom", params={"s": scenario.id},
    ).rename_geometry("geometry")  # fmt: skip


def list_scenarios(conn: sa.Connection) -> pd.DataFrame:
    sql = (
        "SELECT s.name, s.township_code, t.name AS township, s.note, s.created_by, s.created_at, "
        "count(c.id) FILTER (WHERE c.kind = 'road') AS roads, "
        "count(c.id) FILTER (WHERE c.kind = 'harden') AS hardened, "
        "count(c.id) FILTER (WHERE c.kind IN ('clinic', 'water', 'school')) AS facilities "
        "FROM scenario s JOIN township t ON t.code = s.township_code "
        "LEFT JOIN scenario_change c ON c.scenario_id = s.id GROUP BY s.id, t.name ORDER BY s.name"
    )
    return pd.read_sql(sa.text(sql), conn)


def drop(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        gone = conn.execute(sa.text("DELETE FROM scenario WHERE name = :n"), {"n": name}).rowcount
    if not gone:
        raise ScenarioNotFound(f"no scenario named {name!r}")


def assess_under(engine: Engine, name: str, profile: Profile) -> Outcome:
    """Coverage of the scenario's township as it is and under the scenario (nothing stored)."""
    with engine.connect() as conn:
        scenario = info(conn, name)
        proposed = changes(conn, scenario)
        inputs: CoverageInputs = load_inputs(conn, [scenario.township_code], profile)
    base = assess(inputs, profile, with_isochrones=False)
    after = assess(apply(inputs, proposed, profile), profile, with_isochrones=False)
    flipped = newly_covered(base, after)
    flipped = flipped[flipped.township_code == scenario.township_code].reset_index(drop=True)
    return Outcome(scenario, proposed, base, after, flipped)


# --- the diff: newly covered households per kind, village and township, poor first -------


def diff_tables(conn: sa.Connection, outcome: Outcome) -> dict[str, pd.DataFrame]:
    """``kinds`` (per criterion), ``villages`` (per village and criterion), ``households``
    (one row per household and criterion, the poor first). No personal names."""
    flipped = outcome.flipped
    ids = [int(i) for i in flipped.household_id.unique()]
    people = pd.read_sql(
        sa.text("SELECT h.id AS household_id, h.household_no, h.status, v.name AS village, "
                "m.name AS hamlet FROM household h JOIN village v ON v.code = h.village_code "
                "LEFT JOIN hamlet m ON m.id = h.hamlet_id WHERE h.id = ANY(:ids)"),
        conn, params={"ids": ids},
    )  # fmt: skip
    rows = flipped.merge(people, on="household_id", how="left")
    rows["poor"] = rows.status.isin(("poor", "returned"))
    rows["criterion_label"] = rows.criterion.map(CRITERIA)
    rows = rows.sort_values(["poor", "criterion", "village_code", "household_no"],
                            ascending=[False, True, True, True])  # fmt: skip
    kinds = (
        rows.groupby("criterion", sort=False)
        .agg(households=("household_id", "nunique"), poor_households=("poor", "sum"))
        .reindex([c for c in CRITERIA if c in set(rows.criterion)])
        .reset_index()
    )
    kinds.insert(1, "criterion_label", kinds.criterion.map(CRITERIA))
    kinds.insert(0, "township", outcome.info.township_name)
    villages = (
        rows.groupby(["village_code", "village", "criterion"])
        .agg(households=("household_id", "nunique"), poor_households=("poor", "sum"))
        .reset_index()
        .sort_values(["poor_households", "households"], ascending=False)
    )
    villages.insert(3, "criterion_label", villages.criterion.map(CRITERIA))
    columns = ["household_no", "status", "poor", "village_code", "village", "hamlet",
               "criterion", "criterion_label", "now_covered"]  # fmt: skip
    return {"kinds": kinds, "villages": villages, "households": rows[columns]}


DIFF_HEADERS = {
    "township": "乡镇", "criterion": "指标代码", "criterion_label": "指标",
    "households": "新达标户数",
    "poor_households": "其中未脱贫户", "village_code": "行政村代码", "village": "行政村",
    "household_no": "户编号", "status": "状态", "poor": "未脱贫或返贫", "hamlet": "自然村",
    "now_covered": "全部达标",
}  # fmt: skip


def write_diff(tables: dict[str, pd.DataFrame], path: Path, *, synthetic: bool, name: str):
    """XLSX (Chinese headers): 说明, 按指标, 按行政村, 农户; CSV: the households."""
    from geo.coverage import SYNTHETIC_NOTE
    from geo.masking import neutralise_formula
    from layers.analysis_store import write_tables

    def chinese(frame: pd.DataFrame) -> pd.DataFrame:
        from geo import vocab

        frame = frame.copy()
        if "status" in frame:
            frame["status"] = frame["status"].map(vocab.STATUS).fillna(frame["status"])
        for column in ("poor", "now_covered"):
            if column in frame:
                frame[column] = frame[column].map({True: "是", False: "否"})
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].map(neutralise_formula)
        return frame.rename(columns=DIFF_HEADERS)

    notes = [f"方案对比 Scenario diff ({name}, gongjian scenario diff)",
             SYNTHETIC_NOTE if synthetic else "", "现状图层未改动; 未脱贫户在前"]  # fmt: skip
    sheets = {"kinds": "按指标", "villages": "按行政村", "households": "农户"}
    return write_tables(tables, path, csv_table="households", sheet_names=sheets, notes=notes,
                        neutralise=chinese)  # fmt: skip


# --- the proposed changes as a layer (OGC API collection, tiles, web map overlay) --------

features.register(features.Collection(
    id="scenario_change", title="规划方案 Proposed changes (scenarios)",
    source="""(SELECT c.id, s.name AS scenario, s.township_code, c.kind, c.road_id, c.name,
                      c.road_class, c.surface, coalesce(c.geom, r.geom) AS geom, c.created_at
               FROM scenario_change c JOIN scenario s ON s.id = c.scenario_id
               LEFT JOIN road r ON r.id = c.road_id)""",
    geometry_type="Geometry", scope_code="t.township_code", tables=("scenario_change",),
    properties=("scenario", "township_code", "kind", "road_id", "name", "road_class", "surface",
                "created_at"),
    filters={
        "scenario": features.equals("t.scenario"),
        "kind": features.Filter("t.kind = ANY(:{p})", "road, harden, clinic, water, school",
                                values={k: k for k in ("road", "harden", "clinic", "water",
                                                       "school")}),
        "township": features.Filter("t.township_code = ANY(:{p})", "township code",
                                    pattern=r"\d{9}"),
    },
    datetime="created_at",
    tile=features.TileSpec(min_zoom=8, attributes=((0, ("scenario", "kind", "name")),)),
    description="What-if scenarios (gongjian scenario): new roads, roads to harden (their "
                "current line), new clinics, water points and schools. The real layers are "
                "not changed by them.",
))  # fmt: skip
