"""Siting in the database: read a township's layers and baseline coverage, pose the problem
(``geo.siting_problems``), solve it (``geo.siting``), check the answer by assessing coverage
with the chosen sites built (``geo.scenario``), and lay the answer out as tables.

Nothing is written: a siting run is a question, its answer a report (the CLI prints it and
writes XLSX; the API returns it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo.coverage import SYNTHETIC_NOTE, CoverageInputs, CoverageResult, assess
from geo.masking import neutralise_formula
from geo.policy import Profile
from geo.scenario import Changes, apply, newly_covered
from geo.siting import Siting, SitingError, siting_policy, solve
from geo.siting_problems import (
    FACILITY_KINDS,
    PosedProblem,
    candidate_sites,
    facility_problem,
    road_problem,
)
from layers.analysis_store import write_tables
from layers.coverage import load_inputs
from layers.proposal_files import ProposalError, read_proposals, refuse_if_gcj02, refuse_outside

CRITERION_OF = {"clinic": "clinic", "water": "water", "school": "school", "roads": "road"}


@dataclass
class Township:
    code: str
    name: str
    area: shapely.Geometry  # EPSG:4326
    synthetic: bool


@dataclass
class SitingReport:
    """The answer: the posed problem, the solver's result, and tables for people."""

    kind: str
    township: Township
    posed: PosedProblem
    result: Siting
    sites: pd.DataFrame  # the best choice, one row per site in order of what it adds
    alternatives: pd.DataFrame  # one row per alternative choice
    verified: pd.DataFrame  # households coverage itself finds newly covered, per criterion
    notes: list[str] = field(default_factory=list)

    @property
    def households_covered(self) -> int:
        return int(self.sites.households.sum()) if len(self.sites) else 0

    @property
    def demand_households(self) -> int:
        return int(self.posed.demand.household_id.notna().sum())


def township(conn: sa.Connection, code: str) -> Township:
    row = conn.execute(
        sa.text("SELECT code, name, ST_AsBinary(geom), synthetic FROM township WHERE code = :c"),
        {"c": code},
    ).first()
    if row is None:
        raise SitingError(f"no township with code {code!r}")
    return Township(row[0], row[1], shapely.from_wkb(bytes(row[2])), bool(row[3]))


def baseline(conn: sa.Connection, code: str, profile: Profile):
    """(inputs, coverage as it is) of one township."""
    inputs = load_inputs(conn, [code], profile)
    if not len(inputs.households):
        raise SitingError(f"township {code} has no households to bring within reach")
    return inputs, assess(inputs, profile, with_isochrones=False)


# --- facilities and roads ---------------------------------------------------------------


def plan_facilities(
    engine: Engine,
    kind: str,
    code: str,
    count: int,
    profile: Profile,
    *,
    candidates: str | Path = "hamlets",
    crs: str | None = None,
) -> SitingReport:
    """Where ``count`` new ``kind`` facilities bring the most households within reach."""
    if kind not in FACILITY_KINDS:
        raise SitingError(f"unknown facility kind {kind!r}; one of {', '.join(FACILITY_KINDS)}")
    with engine.connect() as conn:
        town = township(conn, code)
        inputs, base = baseline(conn, code, profile)
    notes: list[str] = []
    if isinstance(candidates, Path) or str(candidates) not in ("hamlets", "villages"):
        sites = read_candidates(Path(candidates), crs, town, inputs, notes)
    else:
        sites = candidate_sites(inputs, code, str(candidates))
    if count > len(sites):
        raise SitingError(
            f"{count} sites asked for but {town.name} has only {len(sites)} candidate site(s)"
        )
    posed = facility_problem(kind, code, inputs, base, sites, profile)
    loose = int(posed.demand.hamlet_id.isna().sum()) if kind == "water" else 0
    if loose:
        notes.append(f"{loose} household(s) without piped water belong to no natural village: "
                     "a water point pipes whole villages, so they are not counted")  # fmt: skip
    result = _solve(posed, profile, count=count)
    built = Changes(facilities=_as_facilities(kind, posed.candidates, result.best.sites))
    verified = _verify(inputs, base, built, profile, code)
    return _report(kind, town, posed, result, verified, notes)


def plan_roads(engine: Engine, code: str, budget_km: float, profile: Profile) -> SitingReport:
    """Which unhardened segments to harden within ``budget_km`` to bring the most households
    (and hamlets of 200+ people) within the policy's distance of a hardened road."""
    if not budget_km > 0:
        raise SitingError(f"--budget-km must be more than 0 km, got {budget_km:g}")
    with engine.connect() as conn:
        town = township(conn, code)
        inputs, base = baseline(conn, code, profile)
    posed = road_problem(code, town.area, inputs, base, profile)
    if not len(posed.candidates):
        raise SitingError(f"{town.name} has no unhardened road to harden")
    result = _solve(posed, profile, budget=budget_km)
    ids = tuple(int(posed.candidates["id"].iloc[i]) for i in result.best.sites)
    verified = _verify(inputs, base, Changes(harden=ids), profile, code)
    return _report("roads", town, posed, result, verified, [])


def _solve(posed: PosedProblem, profile: Profile, **limit) -> Siting:
    policy = siting_policy(profile)
    return solve(
        posed.problem,
        alternatives=policy.alternatives,
        time_limit_s=policy.time_limit_s,
        **limit,
    )


def _as_facilities(kind: str, candidates: gpd.GeoDataFrame, sites) -> gpd.GeoDataFrame:
    chosen = candidates.iloc[list(sites)]
    return gpd.GeoDataFrame(
        {"kind": kind, "name": chosen["name"].to_numpy()},
        geometry=chosen.geometry.to_numpy(),
        crs=4326,
    )


def _verify(inputs: CoverageInputs, base: CoverageResult, changes: Changes, profile, code):
    """Households of the township that coverage itself finds newly covered once built."""
    after = assess(apply(inputs, changes, profile), profile, with_isochrones=False)
    flipped = newly_covered(base, after)
    return flipped[flipped.township_code == code].reset_index(drop=True)


# --- candidate files --------------------------------------------------------------------


def read_candidates(
    path: Path, crs: str | None, town: Township, inputs: CoverageInputs, notes: list[str]
) -> gpd.GeoDataFrame:
    """Candidate sites from a file of points (see ``layers.proposal_files``), in WGS84."""
    try:
        proposals = read_proposals(path, crs, "point")
        notes += refuse_if_gcj02(proposals, inputs.roads)
        refuse_outside(proposals, town.area, f"{town.name} ({town.code})")
    except ProposalError as exc:
        raise SitingError(str(exc)) from None
    points = proposals.frame
    return gpd.GeoDataFrame(
        {"name": points["name"], "village_code": _village_codes(points.geometry, inputs),
         "hamlet_id": pd.NA},
        geometry=points.geometry.to_numpy(),
        crs=4326,
    )  # fmt: skip


def _village_codes(points: gpd.GeoSeries, inputs: CoverageInputs) -> np.ndarray:
    villages = inputs.villages[["code", inputs.villages.geometry.name]].to_crs(4326)
    frame = gpd.GeoDataFrame(geometry=points.to_numpy(), crs=4326)
    joined = gpd.sjoin(frame, villages, how="left", predicate="within")
    return joined[~joined.index.duplicated()]["code"].reindex(frame.index).to_numpy()


# --- the report -------------------------------------------------------------------------


def _report(kind, town, posed: PosedProblem, result: Siting, verified, notes) -> SitingReport:
    sites = _site_table(kind, posed, result.best.sites, result.equivalents)
    alternatives = pd.DataFrame(
        [_choice_row(kind, posed, choice, rank) for rank, choice in
         enumerate((result.best, *result.alternatives), start=1)]
    )  # fmt: skip
    return SitingReport(kind, town, posed, result, sites, alternatives, verified, notes)


def _newly(posed: PosedProblem, sites) -> list[np.ndarray]:
    """Demand points each site adds, in order (a point counts for the first site only)."""
    seen = np.zeros(len(posed.demand), dtype=bool)
    out = []
    for site in sites:
        hit = posed.problem.covers[site].toarray().ravel() & ~seen
        out.append(np.flatnonzero(hit))
        seen |= hit
    return out


def _site_table(kind, posed: PosedProblem, sites, equivalents) -> pd.DataFrame:
    demand, candidates = posed.demand, posed.candidates
    rows = []
    for order, (site, points) in enumerate(zip(sites, _newly(posed, sites), strict=True), 1):
        part = demand.iloc[points]
        homes = part[part.household_id.notna()]
        cand = candidates.iloc[site]
        row = {
            "order": order,
            "site": _site_name(kind, cand),
            "village_code": cand.get("village_code"),
            "households": len(homes),
            "poor_households": int(homes.poor.sum()),
            "weight": float(part.weight.sum()),
            "lon": round(cand.geometry.centroid.x, 6),
            "lat": round(cand.geometry.centroid.y, 6),
        }
        if kind == "roads":
            hamlets = part[part.household_id.isna()]
            row.update(
                road_id=int(cand["id"]),
                road_class=cand["road_class"],
                surface=cand["surface"],
                km=round(float(cand["cost_km"]), 3),
                hamlets_200=len(hamlets),
            )
            row.pop("village_code")
        else:
            others = equivalents.get(int(site), ())
            row["equivalent_sites"] = "、".join(candidates.iloc[list(others)]["name"]) or None
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table["cumulative_households"] = table.households.cumsum()
        if kind == "roads":
            table["cumulative_km"] = table.km.cumsum().round(3)
    return table


def _site_name(kind: str, cand) -> str:
    if kind == "roads":
        from geo import vocab

        name = cand.get("name")
        label = vocab.ROAD_CLASS.get(cand["road_class"], "道路")
        surface = vocab.SURFACE.get(cand["surface"], cand["surface"])
        return f"{name if isinstance(name, str) and name else label}#{int(cand['id'])}({surface})"
    return str(cand["name"])


def _choice_row(kind, posed: PosedProblem, choice, rank: int) -> dict:
    covered = posed.problem.covered_points(choice.sites)
    part = posed.demand.iloc[covered]
    homes = part[part.household_id.notna()]
    row = {
        "rank": rank,
        "sites": "、".join(_site_name(kind, posed.candidates.iloc[s]) for s in choice.sites),
        "households": len(homes),
        "poor_households": int(homes.poor.sum()),
        "weight": choice.covered_weight,
    }
    if kind == "roads":
        row["km"] = round(choice.cost, 3)
        row["hamlets_200"] = int(part.household_id.isna().sum())
    return row


# --- export -----------------------------------------------------------------------------

HEADERS = {
    "order": "序号", "site": "选址", "village_code": "行政村代码", "households": "新覆盖户数",
    "poor_households": "其中未脱贫户", "weight": "加权户数", "lon": "经度", "lat": "纬度",
    "equivalent_sites": "同等效果的备选点", "cumulative_households": "累计新覆盖户数",
    "road_id": "道路编号", "road_class": "道路等级", "surface": "路面", "km": "里程(公里)",
    "hamlets_200": "200人以上自然村", "cumulative_km": "累计里程(公里)", "rank": "方案",
    "sites": "选址组合", "household_id": "农户ID", "township_code": "乡镇代码",
    "hamlet_id": "自然村编号", "criterion": "指标", "now_covered": "全部达标",
    "item": "项目", "value": "数值",
}  # fmt: skip
KIND_LABELS = {**FACILITY_KINDS, "roads": "道路硬化"}


def summary_rows(report: SitingReport) -> pd.DataFrame:
    r = report.result
    rows = [
        ("乡镇", f"{report.township.name} ({report.township.code})"),
        ("选址类型", KIND_LABELS[report.kind]),
        ("待覆盖农户", report.demand_households),
        ("方案新覆盖农户", report.households_covered),
        ("覆盖分析核验新覆盖农户", int(report.verified.household_id.nunique())
         if len(report.verified) else 0),
        ("加权覆盖", round(r.best.covered_weight, 3)),
        ("上界", round(r.bound, 3)),
        ("最优性差距", f"{r.gap:.2%}"),
        ("已证明最优", "是" if r.optimal else "否"),
        ("贪心+交换", round(r.greedy_weight, 3)),
        ("求解方法", "整数规划 (PuLP + HiGHS)" if r.method == "ip" else "贪心+交换"),
        ("用时(秒)", round(r.seconds, 3)),
    ]  # fmt: skip
    if report.kind == "roads":
        rows.append(("硬化里程(公里)", round(r.best.cost, 3)))
    return pd.DataFrame(rows, columns=["item", "value"])


def write_report(report: SitingReport, path: Path) -> Path:
    """XLSX (Chinese headers): 说明, 汇总, 选址, 备选方案, 核验; or CSV of the sites."""
    tables = {
        "summary": summary_rows(report),
        "sites": report.sites,
        "alternatives": report.alternatives,
        "verified": report.verified.assign(
            criterion=report.verified.criterion.map(_criterion_label)
        ),
    }
    notes = [
        f"选址分析 Siting ({KIND_LABELS[report.kind]}, gongjian siting)",
        SYNTHETIC_NOTE if report.township.synthetic else "",
        "加权: 未脱贫/返贫户权重见政策参数 [siting] status_weights",
        *report.notes,
    ]
    sheets = {"summary": "汇总", "sites": "选址", "alternatives": "备选方案", "verified": "核验"}
    return write_tables(
        tables, path, csv_table="sites", sheet_names=sheets, notes=notes, neutralise=_chinese
    )


def _criterion_label(code: str) -> str:
    from geo.coverage import CRITERIA

    return CRITERIA.get(code, code)


def _chinese(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(neutralise_formula)
    for column in ("now_covered",):
        if column in frame:
            frame[column] = frame[column].map({True: "是", False: "否"})
    return frame.rename(columns=HEADERS)
