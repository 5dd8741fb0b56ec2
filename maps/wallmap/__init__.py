"""The township 攻坚图: a print-ready wall map of scattered poor households by village.

Public entry points::

    render_township_map(engine, code, *, paper, fmt, public, as_of, ...) -> bytes
    render_county_atlas(engine, county, *, paper, public, as_of, ...) -> bytes
    render_demo_maps(engine, out_dir) -> list[Path]

Data come from ``layers.wallmap_data`` (all SQL lives there); this package only draws.
"""

from maps.wallmap.atlas import render_county_atlas, render_demo_maps
from maps.wallmap.render import MapOptions, WallmapError, build_sheet, render_township_map

__all__ = [
    "MapOptions",
    "WallmapError",
    "build_sheet",
    "render_county_atlas",
    "render_demo_maps",
    "render_township_map",
]
