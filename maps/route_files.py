"""Every file of a plan in one folder: for the office, for each inspector's phone, for paper.

============================== ============================================================
``route_sheets.pdf``           the route sheets of every inspector-day, then the households
                               that could not be fitted (``maps.route_sheet``)
``route-i<K>-d<D>.pdf``        one inspector-day's sheets (what one inspector carries)
``route-i<K>-d<D>.gpx/.kml``   one inspector-day for a phone (waypoints in order + track)
``plan.gpx`` ``plan.kml``      all days
``plan.geojson``               routes, stops, households left out, starts
``plan.html``                  the offline web map
``stops.csv``                  the ordered stops and the households left out, with reasons
``results.xlsx``               the results sheet to fill in and import back
                               (``gongjian route results``)
============================== ============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo.masking import neutralise_formula
from geo.routing import export
from geo.routing.plan import SYNTHETIC_NOTE, RoutePlan
from geo.routing.policy import clock
from geo.routing.sheets import results_template
from geo.sensitivity import shown
from maps.route_map import render_route_html
from maps.route_sheet import render_plan_sheets

CSV_COLUMNS = {
    "inspector_name": "督查员", "day": "天", "date": "日期", "seq": "序号",
    "arrival": "预计走访", "household_no": "户编号", "head_name": "户主",
    "village_name": "行政村", "hamlet_name": "自然村", "cadre_name": "帮扶责任人",
    "cadre_phone": "联系电话", "leg_min": "行车分钟", "leg_km": "行车公里", "status": "状态",
    "reason_text": "未安排原因",
}  # fmt: skip


def write_plan_files(
    plan: RoutePlan, layers: Mapping[str, gpd.GeoDataFrame], directory: Path
) -> list[Path]:
    """Write the plan's files into ``directory`` (created); returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, data: str | bytes) -> None:
        path = directory / name
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        written.append(path)

    whole, per_day = render_plan_sheets(plan, layers)
    put("route_sheets.pdf", whole)
    for row in plan.days.itertuples():
        if not row.stops:
            continue
        k, d = int(row.inspector), int(row.day)
        stem = f"route-i{k}-d{d}"
        put(f"{stem}.pdf", per_day[(k, d)])
        put(f"{stem}.gpx", export.to_gpx(plan, k, d))
        put(f"{stem}.kml", export.to_kml(plan, k, d))
    put("plan.gpx", export.to_gpx(plan))
    put("plan.kml", export.to_kml(plan))
    put("plan.geojson", export.to_geojson(plan))
    put("plan.html", render_route_html(plan, layers))
    put("stops.csv", stops_csv(plan))
    title = plan.meta.get("title") or "督查走访路线"
    put("results.xlsx", results_template(plan.planned, f"{title} · 走访结果", plan.meta.get("id")))
    return written


def stops_csv(plan: RoutePlan) -> str:
    """The stops in visiting order, then the households left out (UTF-8 with BOM for Excel)."""
    frame = pd.concat([plan.planned, plan.unassigned.sort_values("household_no")])
    frame = pd.DataFrame(frame.drop(columns="geometry"))
    frame["arrival"] = frame.begin_min.map(lambda m: clock(m) if pd.notna(m) else None)
    frame["leg_km"] = (frame.leg_m / 1000).round(2)
    frame["leg_min"] = frame.leg_min.round(1)
    frame["head_name"] = [
        shown("route_stop", "head_name", v)
        for v in frame.get("head_name", pd.Series(index=frame.index))
    ]
    frame["status"] = frame.status.map({"planned": "已安排", "unassigned": "未安排"})
    for column in CSV_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    out = frame[list(CSV_COLUMNS)].rename(columns=CSV_COLUMNS)
    if plan.meta.get("synthetic"):
        out["说明"] = SYNTHETIC_NOTE
    return "\ufeff" + out.map(neutralise_formula).to_csv(index=False)
