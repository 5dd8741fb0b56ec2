"""The web map: a Leaflet page whose every asset the app serves itself (no CDN).

The page is a shell with no inline script (the server's Content-Security-Policy allows
scripts from this server only): its configuration travels in a JSON data block, and
``api/static/gongjian/webmap.js`` builds the map from it (scale, the hillshade basemap,
optional online tile layers) and adds what needs the caller's token: login, the township
selector, vector-tile layers (Leaflet.VectorGrid) with toggles, popups per role, the legend
and the download links. The basemap is drawn from our own data — a hillshade of the DEM
(:func:`hillshade_image`) under rivers and roads from the vector tiles — so the map works
with no internet; online tiles appear only when configured.

The self-contained HTML twin of the wall map (:func:`render_township_html`, one file for a
USB stick) is built with folium and keeps its scripts inline; the server allows exactly
those scripts by their hashes.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import folium
import numpy as np
from branca.element import Element, MacroElement
from jinja2 import Template

from geo import vocab
from geo.synthetic import SYNTHETIC_NOTE as SYNTHETIC_NOTE  # re-exported
from maps.palette import STATUS_COLOURS

STATIC = "/static"
VENDOR_JS = (
    f"{STATIC}/vendor/leaflet/leaflet.js",
    f"{STATIC}/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    f"{STATIC}/gongjian/webmap.js",
)
VENDOR_CSS = (f"{STATIC}/vendor/leaflet/leaflet.css", f"{STATIC}/gongjian/webmap.css")
HILLSHADE_URL = "/basemap/hillshade.webp"
LIANZHOU_CENTRE = (24.78, 112.38)  # before login and without a DEM
PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
{css}
{js}
</head>
<body class="gj-page">
<div id="gj-map" class="gj-map"></div>
<script type="application/json" id="gj-config">{config}</script>
</body>
</html>
"""


@dataclass(frozen=True)
class LayerInfo:
    """What the page needs to know of a layer (from layers.features.REGISTRY)."""

    id: str
    title: str
    geometry_type: str
    min_zoom: int
    cluster_below: int | None = None


@dataclass(frozen=True)
class WebMapConfig:
    title: str
    layers: Sequence[LayerInfo]
    township: str | None = None
    hillshade_bounds: tuple[tuple[float, float], tuple[float, float]] | None = None
    online_tiles: Sequence[Mapping[str, str]] = ()
    wallmap_formats: Sequence[str] = ()  # formats of /maps/townships/{code}/gongjian.{fmt}
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    note: str = ""  # 示例数据（合成） while synthetic data is loaded


def labels() -> dict[str, dict[str, str]]:
    """Chinese labels of the value sets the popups and legend show."""
    names = ("status", "category", "cause", "housing_status", "road_class", "surface",
             "clinic_level", "water_kind", "school_level", "hazard_kind", "hazard_level",
             "measure", "visit_result", "visit_flag", "key_level", "role")  # fmt: skip
    return {name: dict(vocab.VOCABS[name]) for name in names if name in vocab.VOCABS}


def webmap_html(config: WebMapConfig) -> str:
    """The complete HTML page for ``config``: markup, links to our scripts, a JSON block.

    >>> page = webmap_html(WebMapConfig(title="t", layers=[]))
    >>> "<script>" in page, 'type="application/json"' in page
    (False, True)
    """
    south_west, north_east = config.hillshade_bounds or (None, None)
    centre = (
        ((south_west[0] + north_east[0]) / 2, (south_west[1] + north_east[1]) / 2)
        if south_west
        else LIANZHOU_CENTRE
    )
    payload = {
        "title": config.title,
        "township": config.township,
        "centre": list(centre),
        "layers": [layer.__dict__ for layer in config.layers],
        "hillshade": bool(config.hillshade_bounds),
        "hillshadeUrl": HILLSHADE_URL,
        "hillshadeBounds": [list(south_west), list(north_east)] if south_west else None,
        # optional online layers (off until switched on in the layer control)
        "online": [dict(t) for t in config.online_tiles],
        "wallmapFormats": list(config.wallmap_formats),
        "labels": dict(config.labels),
        "colors": {"status": STATUS_COLOURS},  # the wall map's, so both read the same
        "note": config.note,
    }
    return PAGE.format(
        title=html.escape(config.title),
        css="\n".join(f'<link rel="stylesheet" href="{href}">' for href in VENDOR_CSS),
        js="\n".join(f'<script src="{src}"></script>' for src in VENDOR_JS),
        config=json_for_script(payload),
    )


def json_for_script(value) -> str:
    """JSON safe inside a <script> data block: "</" and "<!--" cannot end or alter it.

    >>> json_for_script({"a": "</script>"})
    '{"a": "<\\\\/script>"}'
    """
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


class _ImageOverlay(MacroElement):
    """An image overlay from a URL or data URI (folium's own reads local files instead)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.imageOverlay(
                {{ this.url | tojson }}, {{ this.bounds | tojson }},
                {opacity: 1.0, interactive: false, pane: 'tilePane'}
            ).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, url: str, bounds: Sequence[Sequence[float]]) -> None:
        super().__init__()
        self._name = "HillshadeOverlay"
        self.url = url
        self.bounds = [list(corner) for corner in bounds]


def external_urls(html: str, allowed: Sequence[str] = ()) -> list[str]:
    """URLs that tags loading resources (script, link, img, …) would fetch from elsewhere.

    Plain links (``<a href>``, e.g. Leaflet's own credit) load nothing and are not counted.

    >>> external_urls('<script src="https://cdn.example/x.js"></script><a href="https://x">')
    ['https://cdn.example/x.js']
    """
    loading = r"<(?:script|link|img|iframe|source|embed|object|video|audio)\b[^>]*?"
    found = re.findall(loading + r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)""", html)
    return [u for u in found if not any(u.startswith(a) for a in allowed)]


# --- the basemap: a hillshade of our DEM --------------------------------------------------


@dataclass(frozen=True)
class Hillshade:
    image: bytes  # WebP with transparency (a tenth of the PNG's size, as fast to decode)
    bounds: tuple[tuple[float, float], tuple[float, float]]  # ((south, west), (north, east))
    media_type: str = "image/webp"


def hillshade_bounds(dem_path: str | Path, max_pixels: int = 2048):
    """Where the hillshade image goes on the map (cheap: no pixels are read)."""
    path = Path(dem_path)
    return _grid(str(path), path.stat().st_mtime_ns, max_pixels)[3]


def hillshade_image(dem_path: str | Path, max_pixels: int = 2048) -> Hillshade:
    """A tinted hillshade of the DEM in Web Mercator, with its bounds.

    Cached per file and modification time (the DEM does not change while we run).
    """
    path = Path(dem_path)
    return _hillshade_cached(str(path), path.stat().st_mtime_ns, max_pixels)


@lru_cache(maxsize=4)
def _grid(path: str, _mtime: int, max_pixels: int):
    """The Web Mercator grid of the image: (transform, width, height, bounds)."""
    import rasterio
    from rasterio.warp import calculate_default_transform, transform_bounds

    with rasterio.open(path) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:3857", src.width, src.height, *src.bounds
        )
    scale = max(width, height) / max_pixels
    if scale > 1:
        width, height = int(width / scale), int(height / scale)
        transform = transform @ transform.scale(scale, scale)
    left, top = transform @ (0, 0)
    right, bottom = transform @ (width, height)
    west, south, east, north = transform_bounds("EPSG:3857", "EPSG:4326", left, bottom, right, top)
    return transform, width, height, ((south, west), (north, east))


@lru_cache(maxsize=4)
def _hillshade_cached(path: str, mtime: int, max_pixels: int) -> Hillshade:
    import rasterio
    from rasterio.warp import Resampling, reproject

    transform, width, height, bounds = _grid(path, mtime, max_pixels)
    dem = np.full((height, width), np.nan, dtype="float32")
    with rasterio.open(path) as src:
        reproject(
            rasterio.band(src, 1), dem, dst_transform=transform, dst_crs="EPSG:3857",
            dst_nodata=np.nan, resampling=Resampling.bilinear,
        )  # fmt: skip
    rgba = shade(dem, cell_size=abs(transform.a))
    return Hillshade(_webp(rgba), bounds)


def hillshade_of_area(
    dem_path: str | Path, bounds: tuple[float, float, float, float], max_pixels: int = 768
) -> Hillshade | None:
    """The hillshade of one area (west, south, east, north in degrees), e.g. a route's for
    the field app's offline map: at 768 pixels a 15 km area gets 20 m pixels. None when the
    DEM does not cover the area."""
    import rasterio
    from rasterio.transform import from_bounds
    from rasterio.warp import Resampling, reproject, transform_bounds

    left, bottom, right, top = transform_bounds("EPSG:4326", "EPSG:3857", *bounds)
    scale = max(right - left, top - bottom) / max_pixels
    width, height = max(1, round((right - left) / scale)), max(1, round((top - bottom) / scale))
    transform = from_bounds(left, bottom, right, top, width, height)
    dem = np.full((height, width), np.nan, dtype="float32")
    with rasterio.open(str(dem_path)) as src:
        reproject(
            rasterio.band(src, 1), dem, dst_transform=transform, dst_crs="EPSG:3857",
            dst_nodata=np.nan, resampling=Resampling.bilinear,
        )  # fmt: skip
    if not np.isfinite(dem).any():
        return None
    west, south, east, north = bounds
    return Hillshade(_webp(shade(dem, cell_size=scale)), ((south, west), (north, east)))


def shade(
    dem: np.ndarray, cell_size: float, azimuth: float = 315, altitude: float = 45
) -> np.ndarray:
    """RGBA: hypsometric tint (green valleys to tan ridges) times a hillshade; NaN transparent.

    >>> shade(np.array([[0.0, 1.0], [2.0, np.nan]]), 30.0).shape
    (2, 2, 4)
    """
    dem = dem.astype("float32", copy=False)
    valid = np.isfinite(dem)
    sample = dem[::4, ::4][valid[::4, ::4]]
    if sample.size == 0:
        sample = dem[valid] if valid.any() else np.zeros(1, dtype="float32")
    low, high = np.percentile(sample, [2, 98])
    filled = np.where(valid, dem, np.float32(np.median(sample)))
    dy, dx = np.gradient(filled, np.float32(cell_size))
    slope = np.arctan(np.hypot(dx, dy))
    aspect = np.arctan2(-dx, dy)
    az, alt = np.radians(360 - azimuth + 90), np.radians(altitude)
    light = np.sin(alt) * np.cos(slope) + np.cos(alt) * np.sin(slope) * np.cos(az - aspect)
    light = np.clip(np.float32(0.35) + np.float32(0.75) * light, 0, 1.1)
    t = np.clip((filled - low) / max(float(high - low), 1e-6), 0, 1)[..., None]
    valley = np.array([214, 230, 196], dtype="float32")
    ridge = np.array([232, 214, 180], dtype="float32")
    rgb = np.clip((valley + (ridge - valley) * t) * light[..., None], 0, 255).astype("uint8")
    alpha = np.where(valid, 255, 0).astype("uint8")[..., None]
    return np.concatenate([rgb, alpha], axis=-1)


def _webp(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="WEBP", quality=82, method=2)
    return buffer.getvalue()


# --- the self-contained HTML twin of the wall map -----------------------------------------

VENDOR_DIR = Path(__file__).resolve().parents[1] / "api" / "static" / "vendor"
ROAD_COLOURS = {"national": "#c51b1b", "provincial": "#e6550d", "county": "#f59f00",
                "township": "#8c6d31", "village": "#7f7f7f"}  # fmt: skip


class StandaloneMap(folium.Map):
    """A folium map whose Leaflet is inlined: one HTML file that works from a USB stick."""

    default_js: ClassVar[list] = []
    default_css: ClassVar[list] = []


def render_township_html(
    engine, code: str, *, public: bool = True, scope: str | None = None, as_of=None
) -> str:
    """The township's map as one offline HTML file (the 攻坚图's web twin), households as the
    archive had them on ``as_of`` (a date; default the latest effective date in the data).

    Leaflet, the data (township, villages, roads, rivers, households) and the hillshade are
    all inside the file; with ``public`` household heads are masked (as on the public wall
    map). ``scope`` limits households to a county, township or village code.
    Raises ``layers.wallmap_data.TownshipNotFound``.
    """
    from layers.wallmap_data import fetch_township_sheet

    sheet = fetch_township_sheet(
        engine, code, public=public, scope=scope, scattered_only=False, as_of=as_of
    )
    west, south, east, north = sheet.township.total_bounds
    fmap = StandaloneMap(location=((south + north) / 2, (west + east) / 2), tiles=None,
                         control_scale=True, zoom_start=12)  # fmt: skip
    fmap.fit_bounds([[south, west], [north, east]])
    root = fmap.get_root()
    title = f"{sheet.name}贫困户分布图（攻坚图网页版）"
    root.title = f"{title} · {SYNTHETIC_NOTE}" if sheet.synthetic else title
    css = (VENDOR_DIR / "leaflet" / "leaflet.css").read_text()
    js = (VENDOR_DIR / "leaflet" / "leaflet.js").read_text()
    root.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css", index=0)
    root.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js", index=1)
    _add_hillshade_inline(fmap, sheet.dem_path)
    _add_sheet_layers(fmap, sheet)
    folium.LayerControl(collapsed=False).add_to(fmap)
    note = SYNTHETIC_NOTE if sheet.synthetic else ""
    fmap.get_root().html.add_child(Element(
        f'<div style="position:fixed;top:10px;left:60px;z-index:1000;background:#fff;'
        f'padding:4px 8px;border-radius:4px;font:14px sans-serif">{title} '
        f'<span class="as-of">截至 {sheet.as_of:%Y-%m-%d}</span> '
        f'<b style="color:#a50f15">{note}</b></div>'
    ))  # fmt: skip
    return root.render()


def _add_hillshade_inline(fmap: folium.Map, dem_path: str | None) -> None:
    if not dem_path:
        return
    try:
        shade = hillshade_image(dem_path, max_pixels=1024)
    except OSError:
        return
    import base64

    url = "data:image/webp;base64," + base64.b64encode(shade.image).decode()
    fmap.add_child(_ImageOverlay(url, shade.bounds))


def _add_sheet_layers(fmap: folium.Map, sheet) -> None:
    def lines(frame, name, style):
        if frame is not None and not frame.empty:
            folium.GeoJson(_geojson(frame), name=name, style_function=style).add_to(fmap)

    layers = sheet.layers
    lines(layers.get("rivers"), "河流", lambda f: {"color": "#4a90d9", "weight": 2})
    lines(layers.get("roads"), "道路", lambda f: {
        "color": ROAD_COLOURS.get(f["properties"].get("road_class"), "#999"), "weight": 2,
        "dashArray": None if f["properties"].get("surface") == "hardened" else "5 4"})  # fmt: skip
    # derived outlines (示意界线, from household points) dashed, and said so in the layer name
    derived = "（示意界线）" if sheet.boundaries_derived else ""
    dashes = "6 4" if sheet.boundaries_derived else None
    lines(sheet.villages[["code", "name", "key_level", "boundary_derived", "geometry"]],
          "行政村" + derived, lambda f: {
        "color": "#54278f", "weight": 1, "fillColor": "#ffeda0", "dashArray": dashes,
        "fillOpacity": 0.25 if f["properties"].get("key_level") else 0})  # fmt: skip
    lines(sheet.township[["code", "name", "boundary_derived", "geometry"]], "乡镇界" + derived,
          lambda f: {"color": "#3f007d", "weight": 3, "fill": False,
                     "dashArray": dashes})  # fmt: skip
    homes = sheet.households
    if homes.empty:
        return
    columns = ["household_no", "head_name", "members", "category", "main_cause", "status"]
    shown = homes[[*columns, "geometry"]].copy()
    for column, values in (("category", vocab.CATEGORY), ("main_cause", vocab.CAUSE),
                           ("status", vocab.STATUS)):  # fmt: skip
        shown[column + "_label"] = shown[column].map(values)
    folium.GeoJson(
        _geojson(shown),
        name="贫困户",
        marker=folium.CircleMarker(radius=5, weight=1, color="#ffffff", fill_opacity=0.9),
        style_function=lambda f: {
            "fill": True,
            "fillOpacity": 0.9,
            "color": "#ffffff",
            "weight": 1,
            "fillColor": STATUS_COLOURS.get(f["properties"]["status"], "#999999"),
        },
        popup=folium.GeoJsonPopup(
            fields=[
                "household_no",
                "head_name",
                "members",
                "category_label",
                "main_cause_label",
                "status_label",
            ],
            aliases=["户编号", "户主", "人口", "类别", "主要致贫原因", "状态"],
        ),
    ).add_to(fmap)


def _geojson(frame) -> str:
    """GeoJSON of a GeoDataFrame with plain JSON values (dates as text)."""
    plain = frame.copy()
    for column in plain.columns:
        if column != "geometry" and plain[column].dtype == object:
            plain[column] = plain[column].astype(str).where(plain[column].notna(), None)
    return plain.to_json(na="null", drop_id=True)
