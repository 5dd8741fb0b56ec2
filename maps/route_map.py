"""The plan as one offline HTML map (folium/Leaflet inlined, no CDN): a layer per
inspector-day with its path along the roads and numbered stops, the households left out with
their reasons, and — once recorded — each visit's result as the colour of its stop.

Names are masked (the file travels); every map of synthetic data says 示例数据（合成）.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import folium
import geopandas as gpd
from branca.element import Element

from geo import vocab
from geo.routing.export import COLOURS, day_title, select
from geo.routing.plan import SYNTHETIC_NOTE, RoutePlan
from geo.routing.policy import clock
from geo.sensitivity import shown
from maps.webmap import ROAD_COLOURS, VENDOR_DIR, StandaloneMap

RESULT_COLOURS = {"confirmed": "#1a9850", "issues": "#f46d43", "absent": "#878787"}


def render_route_html(plan: RoutePlan, layers: Mapping[str, gpd.GeoDataFrame] | None = None) -> str:
    """The whole plan as a self-contained HTML page; ``layers`` (roads, rivers, villages in
    EPSG:4326, ``layers.routes.map_layers``) are drawn underneath."""
    days, stops = select(plan)
    bounds = _bounds(plan)
    fmap = StandaloneMap(location=((bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2),
                         tiles=None, control_scale=True, zoom_start=12)  # fmt: skip
    fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    root = fmap.get_root()
    title = plan.meta.get("title") or "督查走访路线"
    note = SYNTHETIC_NOTE if plan.meta.get("synthetic") else ""
    root.title = f"{title} · {note}" if note else title
    css = (VENDOR_DIR / "leaflet" / "leaflet.css").read_text()
    js = (VENDOR_DIR / "leaflet" / "leaflet.js").read_text()
    root.header.add_child(Element(f"<style>{css}{STYLE}</style>"), name="leaflet_css", index=0)
    root.header.add_child(Element(f"<script>{js}{JQUERY_SHIM}</script>"), name="leaflet_js",
                          index=1)  # fmt: skip
    _context(fmap, layers or {})
    for index, row in enumerate(days.itertuples()):
        colour = COLOURS[index % len(COLOURS)]
        group = folium.FeatureGroup(name=f"{day_title(row)}（{int(row.stops)}户）")
        if row.geometry is not None and not row.geometry.is_empty:
            folium.GeoJson(
                row.geometry.__geo_interface__,
                style_function=lambda _f, c=colour: {"color": c, "weight": 4, "opacity": 0.85},
                tooltip=_esc(day_title(row)),
            ).add_to(group)
        mine = stops[(stops.inspector == row.inspector) & (stops.day == row.day)]
        for s in mine.sort_values("seq").itertuples():
            _stop_marker(s, colour).add_to(group)
        group.add_to(fmap)
    _left_out(plan).add_to(fmap)
    for depot in plan.depots.itertuples():
        folium.Marker(
            (depot.geometry.y, depot.geometry.x),
            icon=folium.DivIcon(
                html='<div class="gj-depot">起</div>', icon_size=(22, 22), icon_anchor=(11, 11)
            ),
            tooltip=_esc(depot.name),
        ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    summary = plan.summary()
    root.html.add_child(Element(
        f'<div class="gj-title">{_esc(title)} <b class="gj-note">{note}</b><br>'
        f'<small>{summary["planned"]}户已安排，{summary["unassigned"]}户未能安排；'
        f'行车{summary["travel_min"]:.0f}分钟，{summary["distance_km"]:.1f}公里 · '
        f'户主姓名已脱敏</small>{_legend()}</div>'
    ))  # fmt: skip
    return root.render()


def _context(fmap: folium.Map, layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    """Roads (by class), rivers and village borders as a quiet base layer."""
    group = folium.FeatureGroup(name="道路、河流、村界", control=True)
    styles = {
        "villages": {"color": "#8a7fa8", "weight": 1, "dashArray": "4 3", "fill": False},
        "rivers": {"color": "#3f8fc7", "weight": 1.5, "opacity": 0.7},
    }
    for name in ("villages", "rivers"):
        frame = layers.get(name)
        if frame is not None and len(frame):
            folium.GeoJson(frame[["geometry"]].to_json(),
                           style_function=lambda _f, st=styles[name]: st).add_to(group)  # fmt: skip
    roads = layers.get("roads")
    if roads is not None and len(roads):
        folium.GeoJson(
            roads[["road_class", "surface", "geometry"]].to_json(),
            style_function=lambda f: {
                "color": ROAD_COLOURS.get(f["properties"]["road_class"], "#999"),
                "weight": 1 if f["properties"]["road_class"] == "village" else 2.5,
                "dashArray": None if f["properties"]["surface"] == "hardened" else "5 4",
            },
        ).add_to(group)
    group.add_to(fmap)


def _stop_marker(s, colour: str) -> folium.Marker:
    result = getattr(s, "result", None)
    ring = RESULT_COLOURS.get(result, colour) if isinstance(result, str) else colour
    filled = "gj-done" if isinstance(result, str) else ""
    where = " ".join(
        _esc(v or "")
        for v in (
            shown("route_stop", "head_name", getattr(s, "head_name", None)),
            getattr(s, "village_name", None),
            getattr(s, "hamlet_name", None),
        )
    )
    popup = (
        f"<b>{int(s.seq)}. {_esc(s.household_no)}</b><br>{where}"
        f"<br>预计走访 {clock(s.begin_min)}，约 {s.service_min:.0f} 分钟"
    )
    cadre = getattr(s, "cadre_name", None)
    if isinstance(cadre, str):
        popup += f"<br>帮扶责任人 {_esc(cadre)} {_esc(getattr(s, 'cadre_phone', None) or '')}"
    if isinstance(result, str):
        popup += f"<br>走访结果：<b>{vocab.VISIT_RESULT.get(result, result)}</b>"
    return folium.Marker(
        (s.geometry.y, s.geometry.x),
        icon=folium.DivIcon(
            html=f'<div class="gj-stop {filled}" style="border-color:{ring};'
            f'{"background:" + ring if filled else ""}">{int(s.seq)}</div>',
            icon_size=(24, 24),
            icon_anchor=(12, 12),
        ),
        popup=folium.Popup(popup, max_width=300),
        tooltip=f"{int(s.seq)} {_esc(s.household_no)}",
    )


def _left_out(plan: RoutePlan) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=f"未能安排（{len(plan.unassigned)}户）")
    for s in plan.unassigned.itertuples():
        folium.CircleMarker(
            (s.geometry.y, s.geometry.x), radius=6, color="#444", weight=2, fill=True,
            fill_color="#bdbdbd", fill_opacity=0.9,
            popup=folium.Popup(f"<b>{_esc(s.household_no)}</b><br>{_esc(s.reason_text or '')}",
                               max_width=300),
        ).add_to(group)  # fmt: skip
    return group


def _legend() -> str:
    items = "".join(
        f'<span class="gj-key" style="background:{c}"></span>{vocab.VISIT_RESULT[k]} '
        for k, c in RESULT_COLOURS.items()
    )
    return f"<div><small>走访结果：{items}</small></div>"


def _bounds(plan: RoutePlan) -> tuple[float, float, float, float]:
    frames = [plan.stops.geometry, plan.depots.geometry]
    xs = [g.x for f in frames for g in f]
    ys = [g.y for f in frames for g in f]
    return min(xs), min(ys), max(xs), max(ys)


def _esc(value) -> str:
    return html.escape(str(value)) if value is not None else ""


# folium writes popups as $(`<div>…</div>`)[0]; this stands in for jQuery (not shipped)
JQUERY_SHIM = """
window.$ = window.$ || function (markup) {
  var t = document.createElement("template"); t.innerHTML = markup.trim();
  return [t.content.firstChild];
};
"""
STYLE = """
.gj-stop{width:20px;height:20px;border:2.5px solid;border-radius:50%;background:#fff;
 font:bold 11px/20px sans-serif;text-align:center;color:#222}
.gj-stop.gj-done{color:#fff}
.gj-depot{width:20px;height:20px;background:#222;color:#fff;font:bold 11px/20px sans-serif;
 text-align:center;border:2px solid #fff}
.gj-title{position:fixed;top:10px;left:60px;z-index:1000;background:#fff;padding:6px 10px;
 border-radius:4px;font:14px sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3)}
.gj-note{color:#a50f15}
.gj-key{display:inline-block;width:10px;height:10px;border-radius:50%;margin:0 3px 0 6px}
"""
