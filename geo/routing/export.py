"""A plan for phones and GIS: GPX 1.1 (gpxpy), KML (simplekml) and GeoJSON.

Every writer takes a :class:`geo.routing.plan.RoutePlan` (fresh from the solver or read back
from the database) and optionally one inspector and day. Stops are waypoints/placemarks named
``"03 4418821052030070"`` (order and household number) in visiting order, each day's path
along the roads is a track/LineString. Household heads' names are always masked here
(the sensitivity register, ``geo.sensitivity``): these files go onto phones.

>>> from geo.routing.export import stop_label
>>> stop_label(3, "4418821052030070")
'03 4418821052030070'
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import gpxpy
import gpxpy.gpx
import pandas as pd
import shapely
import simplekml

from geo.routing.plan import SYNTHETIC_NOTE, RoutePlan
from geo.routing.policy import clock
from geo.sensitivity import shown

CREATOR = "gongjian (攻坚图)"
# Stop fields written to GeoJSON (plus the derived ones below); never unmasked personal data.
STOP_FIELDS = (
    "household_id", "household_no", "status", "inspector", "inspector_name", "day", "date",
    "seq", "leg_min", "leg_m", "wait_min", "service_min", "must_visit", "reason", "reason_text",
    "village_name", "hamlet_name", "cadre_name", "cadre_phone", "risk_score", "risk_reasons",
    "result", "visit_date",
)  # fmt: skip
DAY_FIELDS = (
    "inspector", "inspector_name", "day", "date", "stops", "travel_min", "service_min",
    "wait_min", "distance_m", "start_name", "end_name",
)  # fmt: skip
COLOURS = ("#d7301f", "#2b8cbe", "#31a354", "#756bb1", "#e6550d", "#636363", "#c51b8a")


def stop_label(seq: int, household_no: str) -> str:
    return f"{int(seq):02d} {household_no}"


def day_title(row: Any) -> str:
    date = f" {row.date}" if _present(getattr(row, "date", None)) else ""
    return f"{row.inspector_name} 第{int(row.day)}天{date}"


def select(plan: RoutePlan, inspector: int | None = None, day: int | None = None):
    """(days, planned stops) of the plan, of one inspector and/or day when given."""
    days, stops = plan.days, plan.planned
    if inspector is not None:
        days, stops = days[days.inspector == inspector], stops[stops.inspector == inspector]
    if day is not None:
        days, stops = days[days.day == day], stops[stops.day == day]
    return days.sort_values(["inspector", "day"]), stops


# --- GPX ----------------------------------------------------------------------------------


def to_gpx(plan: RoutePlan, inspector: int | None = None, day: int | None = None) -> str:
    """GPX 1.1: a waypoint per stop in visiting order, a track per inspector-day."""
    days, stops = select(plan, inspector, day)
    gpx = gpxpy.gpx.GPX()
    gpx.version = "1.1"
    gpx.creator = CREATOR
    gpx.name = _title(plan, days)
    gpx.description = _note(plan)
    for row in days.itertuples():
        for stop in _day_stops(stops, row).itertuples():
            point = stop.geometry
            waypoint = gpxpy.gpx.GPXWaypoint(
                latitude=round(point.y, 7),
                longitude=round(point.x, 7),
                name=stop_label(stop.seq, stop.household_no),
                description=_stop_text(stop),
                symbol="Flag, Blue",
                type=day_title(row),
            )
            gpx.waypoints.append(waypoint)
        track = gpxpy.gpx.GPXTrack(name=day_title(row), description=_day_text(row))
        for line in _lines(row.geometry):
            segment = gpxpy.gpx.GPXTrackSegment()
            for x, y in shapely.get_coordinates(line):
                segment.points.append(
                    gpxpy.gpx.GPXTrackPoint(latitude=round(y, 7), longitude=round(x, 7))
                )
            track.segments.append(segment)
        if track.segments:
            gpx.tracks.append(track)
    return gpx.to_xml(version="1.1")


# --- KML ----------------------------------------------------------------------------------


def to_kml(plan: RoutePlan, inspector: int | None = None, day: int | None = None) -> str:
    """KML: a folder per inspector-day with its path and numbered stops."""
    days, stops = select(plan, inspector, day)
    kml = simplekml.Kml(name=_title(plan, days))
    kml.document.description = _note(plan)
    for index, row in enumerate(days.itertuples()):
        folder = kml.newfolder(name=day_title(row), description=_day_text(row))
        colour = COLOURS[index % len(COLOURS)]
        lines = _lines(row.geometry)
        if lines:
            path = folder.newmultigeometry(name=f"{day_title(row)} 路线")
            for line in lines:
                path.newlinestring(coords=[tuple(c) for c in shapely.get_coordinates(line)])
            path.style.linestyle.color = _kml_colour(colour)
            path.style.linestyle.width = 4
        for stop in _day_stops(stops, row).itertuples():
            placemark = folder.newpoint(
                name=stop_label(stop.seq, stop.household_no),
                coords=[(round(stop.geometry.x, 7), round(stop.geometry.y, 7))],
                description=_stop_text(stop),
            )
            placemark.style.iconstyle.color = _kml_colour(colour)
            placemark.style.labelstyle.scale = 0.8
    return kml.kml()


def _kml_colour(hex_rgb: str) -> str:
    """'#rrggbb' → KML's aabbggrr."""
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"ff{b}{g}{r}"


# --- GeoJSON ------------------------------------------------------------------------------


def to_geojson(plan: RoutePlan, inspector: int | None = None, day: int | None = None) -> str:
    """A FeatureCollection: routes (kind "route"), stops in order (kind "stop"), households
    left out with their reason (kind "unassigned") and the starts (kind "depot")."""
    days, stops = select(plan, inspector, day)
    features = []
    for row in days.itertuples():
        props = {k: _plain(getattr(row, k, None)) for k in DAY_FIELDS}
        props.update(kind="route", title=day_title(row), start=clock(row.start_min),
                     finish=clock(row.finish_min))  # fmt: skip
        features.append(_feature(row.geometry, props))
    for stop in stops.itertuples():
        features.append(_feature(stop.geometry, _stop_properties(stop, "stop")))
    if inspector is None and day is None:
        for stop in plan.unassigned.itertuples():
            features.append(_feature(stop.geometry, _stop_properties(stop, "unassigned")))
        for depot in plan.depots.itertuples():
            features.append(_feature(depot.geometry, {"kind": "depot", "name": depot.name}))
    collection = {
        "type": "FeatureCollection",
        "name": _title(plan, days),
        "note": _note(plan) or None,
        "plan": {k: _plain(v) for k, v in plan.meta.items() if k in ("id", "summary", "seed")},
        "features": features,
    }
    return json.dumps(collection, ensure_ascii=False, allow_nan=False)


def _stop_properties(stop: Any, kind: str) -> dict[str, Any]:
    props = {k: _plain(getattr(stop, k, None)) for k in STOP_FIELDS if hasattr(stop, k)}
    props["kind"] = kind
    props["head_name"] = shown("route_stop", "head_name", getattr(stop, "head_name", None))
    if kind == "stop":
        props["label"] = stop_label(stop.seq, stop.household_no)
        props["arrival"] = clock(stop.arrival_min)
        props["begin"] = clock(stop.begin_min)
    return props


def _feature(geometry, properties: dict[str, Any]) -> dict[str, Any]:
    geom = None if geometry is None or geometry.is_empty else shapely.geometry.mapping(geometry)
    return {"type": "Feature", "geometry": _rounded(geom), "properties": properties}


def _rounded(geom):
    if geom is None:
        return None
    text = json.dumps(geom)
    data = json.loads(text, parse_float=lambda v: round(float(v), 7))
    return data


# --- shared -------------------------------------------------------------------------------


def _day_stops(stops: pd.DataFrame, row: Any) -> pd.DataFrame:
    mine = stops[(stops.inspector == row.inspector) & (stops.day == row.day)]
    return mine.sort_values("seq")


def _lines(geometry) -> list:
    if geometry is None or geometry.is_empty:
        return []
    return [g for g in shapely.get_parts(geometry) if g.length > 0]


def _stop_text(stop: Any) -> str:
    parts = [
        f"预计走访 {clock(stop.begin_min)}",
        shown("route_stop", "head_name", getattr(stop, "head_name", None)) or "",
        getattr(stop, "village_name", None) or "",
        getattr(stop, "hamlet_name", None) or "",
    ]
    cadre = getattr(stop, "cadre_name", None)
    if _present(cadre):
        phone = getattr(stop, "cadre_phone", None)
        parts.append(f"帮扶责任人 {cadre} {phone if _present(phone) else ''}".strip())
    return " · ".join(p for p in parts if _present(p) and p)


def _day_text(row: Any) -> str:
    return (
        f"{row.stops}户，{clock(row.start_min)}出发，{clock(row.finish_min)}返回，"
        f"行车{row.travel_min:.0f}分钟，{row.distance_m / 1000:.1f}公里"
    )


def _title(plan: RoutePlan, days: pd.DataFrame) -> str:
    base = plan.meta.get("title") or "督查走访路线"
    if len(days) == 1:
        return f"{base} {day_title(days.iloc[0])}"
    return base


def _note(plan: RoutePlan) -> str:
    return SYNTHETIC_NOTE if plan.meta.get("synthetic") else ""


def _present(value) -> bool:
    if value is None:
        return False
    try:
        return not pd.isna(value)
    except (TypeError, ValueError):
        return True


def _plain(value):
    """JSON-ready value: numpy scalars as Python, NaN/NA as None, dates as ISO text."""
    if not _present(value) if not isinstance(value, list | tuple | dict) else False:
        return None
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
        return value.isoformat()[:10]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 3)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
